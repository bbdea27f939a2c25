//! A short-lived cache in front of MongoDB for what every token issuance and bearer check
//! reads: clients and users (status, roles). [`Cached`] wraps the stores as a decorator, so
//! every caller sees the same rule and no backend knows about it.
//!
//! Freshness: an entry is trusted for `ttl` (`SIGIL_CACHE_TTL`, 500 ms by default) after it
//! was read, so a change made on another replica (a suspension, a client deleted, a secret
//! rotated) takes effect everywhere within that time; on this replica it takes effect at
//! once, because every write through this decorator drops the entry first. A read that raced
//! a write never stores what it read (the generation check below). Sessions and blocked
//! token ids are never cached: those checks always ask Redis.
//!
//! Memory: at most `capacity` entries per cache; when full, expired entries go, and if
//! none has expired the cache starts over (it only holds copies).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    ClientStore, GuardedUpdate, LockoutPolicy, StoreResult, UserChange, UserQuery, UserStore,
};
use crate::domain::{ClientRecord, Login, ProfileUpdate, UserRecord};

/// Entries per cache by default (a user record is ~1 KiB).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Copies of records, each trusted for `ttl` after it was read.
struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    /// Bumped by every write, so that a read started before it never stores its answer.
    generation: AtomicU64,
    ttl: Duration,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
            capacity: capacity.max(1),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (read_at, value) = entries.get(key)?;
        (read_at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Reads through: a fresh copy, or the store's answer (kept when it is a record).
    async fn read<F>(&self, key: &K, fetch: F) -> StoreResult<Option<V>>
    where
        F: Future<Output = StoreResult<Option<V>>>,
    {
        if let Some(hit) = self.get(key) {
            return Ok(Some(hit));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let read_at = Instant::now();
        let fetched = fetch.await?;
        if let Some(value) = &fetched {
            self.store(key.clone(), read_at, value.clone(), generation);
        }
        Ok(fetched)
    }

    fn store(&self, key: K, read_at: Instant, value: V, generation: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        // Checked under the lock that `forget` takes too: no write slipped in after the read.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (read_at, value));
    }

    fn forget(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(key);
        }
    }
}

/// A user or client store with the cache in front.
pub struct Cached<S: ?Sized, K, V> {
    inner: Arc<S>,
    cache: TtlCache<K, V>,
}

impl<S: ?Sized, K: Hash + Eq + Clone, V: Clone> Cached<S, K, V> {
    pub fn new(inner: Arc<S>, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            cache: TtlCache::new(ttl, capacity),
        }
    }

    /// Writes, then drops the entry (whether the write succeeded or not: a failed write may
    /// still have been applied): a read after this call's answer sees the write, and a read
    /// in flight across it cannot store what it read.
    async fn write<T>(&self, key: &K, write: impl Future<Output = T>) -> T {
        let out = write.await;
        self.cache.forget(key);
        out
    }
}

#[async_trait]
impl<S: UserStore + ?Sized> UserStore for Cached<S, Uuid, UserRecord> {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.write(&user.id, self.inner.insert_user(user)).await
    }
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        self.cache.read(&id, self.inner.get_user(id)).await
    }
    /// Sign-ins always read the store: they decide on the password hash and the lockout.
    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>> {
        self.inner.find_user(login).await
    }
    async fn update_profile(
        &self,
        id: Uuid,
        update: &ProfileUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.update_profile(id, update, now))
            .await
    }
    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        changed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.write(&id, self.inner.set_password_hash(id, hash, changed, now))
            .await
    }
    async fn record_login_failure(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.record_login_failure(id, now, policy))
            .await
    }
    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.record_login_success(id, now, device))
            .await
    }
    async fn set_status(
        &self,
        id: Uuid,
        status: crate::domain::UserStatus,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.set_status(id, status, email_verified, now))
            .await
    }
    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.unlock(id, now)).await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.inner.count_users().await
    }
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<UserRecord>, u64)> {
        self.inner.list_users(query).await
    }
    async fn update_user(&self, id: Uuid, change: UserChange) -> StoreResult<Option<UserRecord>> {
        self.write(&id, self.inner.update_user(id, change)).await
    }
    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: UserChange,
    ) -> StoreResult<GuardedUpdate> {
        self.write(&id, self.inner.update_user_keeping_an_admin(id, change))
            .await
    }
}

#[async_trait]
impl<S: ClientStore + ?Sized> ClientStore for Cached<S, String, ClientRecord> {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        self.write(&client.client_id, self.inner.insert_client(client))
            .await
    }
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        self.cache
            .read(&client_id.to_owned(), self.inner.get_client(client_id))
            .await
    }
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.inner.list_clients().await
    }
    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        self.write(&client.client_id, self.inner.replace_client(client))
            .await
    }
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        self.write(&client_id.to_owned(), self.inner.delete_client(client_id))
            .await
    }
    async fn get_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        self.inner.get_consent(user_id, client_id).await
    }
    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner
            .put_consent(user_id, client_id, scopes, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A read that began before a write never stores its (older) answer.
    #[tokio::test]
    async fn a_read_racing_a_write_is_not_kept() {
        let cache: TtlCache<u8, &str> = TtlCache::new(Duration::from_secs(60), 8);
        let read = cache.read(&1, async {
            cache.forget(&1); // the write commits while the read is in flight
            Ok(Some("old"))
        });
        assert_eq!(read.await.unwrap(), Some("old"));
        assert_eq!(cache.get(&1), None);
        cache.read(&1, async { Ok(Some("new")) }).await.unwrap();
        assert_eq!(cache.get(&1), Some("new"));
    }

    /// Entries expire after the ttl, and a full cache never grows past its capacity.
    #[tokio::test]
    async fn entries_expire_and_capacity_holds() {
        let cache: TtlCache<u32, u32> = TtlCache::new(Duration::ZERO, 4);
        cache.read(&1, async { Ok(Some(1)) }).await.unwrap();
        assert_eq!(cache.get(&1), None);
        let cache: TtlCache<u32, u32> = TtlCache::new(Duration::from_secs(60), 4);
        for n in 0..100 {
            cache.read(&n, async move { Ok(Some(n)) }).await.unwrap();
            assert!(cache.entries.lock().unwrap().len() <= 4);
        }
        assert_eq!(cache.get(&99), Some(99));
    }
}
