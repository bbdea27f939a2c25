//! The zero-setup backend: one redb file holds users, keys, sessions and token state.
//!
//! Every write is a redb transaction committed with immediate durability (fsync) before the
//! caller hears back, so an acknowledged write survives `kill -9`. redb allows one writer at a
//! time, which makes every read-modify-write below atomic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rules::{self, Rotation};
use super::{
    AuditEvent, AuditFilter, AuditStore, Conflict, ConsumeOutcome, KeyStore, LockoutPolicy,
    OneTimeTokenRecord, OneTimeTokenStore, RateDecision, RateLimitStore, RefreshOutcome,
    SessionRecord, SessionStore, SigningKeyRecord, StoreError, StoreResult, TokenPurpose,
    UserStore,
};
use crate::clock::unix;
use crate::domain::{ClientRecord, Login, ProfileUpdate, UserRecord, UserStatus};

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const USERS_BY_EMAIL: TableDefinition<&str, &str> = TableDefinition::new("users_by_email");
const USERS_BY_USERNAME: TableDefinition<&str, &str> = TableDefinition::new("users_by_username");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("signing_keys");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const USER_SESSIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_sessions");
/// Refresh token digest -> the session it was issued for, current or rotated out.
const REFRESH: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_tokens");
/// Blocked access-token id -> Unix time it expires.
const BLOCKED_JTI: TableDefinition<&str, u64> = TableDefinition::new("blocked_jti");
/// One-time token digest -> token record.
const ONE_TIME_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("one_time_tokens");
/// Time-ordered event id -> audit event.
const AUDIT: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_events");
/// Client id -> client record.
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("oauth_clients");
/// `user id/client id` -> granted scopes (JSON list).
const CONSENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("consents");
const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("api_resources");
/// Resource identifier -> id: makes identifiers unique.
const RESOURCE_IDENTIFIERS: TableDefinition<&str, &str> =
    TableDefinition::new("api_resource_identifiers");
/// Single-use code key -> (value, Unix time it expires).
const CODES: TableDefinition<&str, (&str, i64)> = TableDefinition::new("codes");
/// Rate-limit counter key -> (hits, Unix time the window ends).
const RATE_LIMITS: TableDefinition<&str, (u64, i64)> = TableDefinition::new("rate_limits");

#[derive(Debug, Serialize, Deserialize)]
struct RefreshEntry {
    session_id: String,
    /// Unix seconds after which the entry is forgotten.
    expires_at: u64,
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    latency: Option<prometheus::Histogram>,
    path: PathBuf,
    audit_retention: std::time::Duration,
}

mod resources;

fn db_err<E: Into<redb::Error>>(err: E) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {}", err.into()))
}

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl EmbeddedStore {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(USERS).map_err(db_err)?;
            txn.open_table(USERS_BY_EMAIL).map_err(db_err)?;
            txn.open_table(USERS_BY_USERNAME).map_err(db_err)?;
            txn.open_table(KEYS).map_err(db_err)?;
            txn.open_table(SESSIONS).map_err(db_err)?;
            txn.open_multimap_table(USER_SESSIONS).map_err(db_err)?;
            txn.open_table(REFRESH).map_err(db_err)?;
            txn.open_table(BLOCKED_JTI).map_err(db_err)?;
            txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
            txn.open_table(AUDIT).map_err(db_err)?;
            txn.open_table(RATE_LIMITS).map_err(db_err)?;
            txn.open_table(CODES).map_err(db_err)?;
            txn.open_table(CLIENTS).map_err(db_err)?;
            txn.open_table(CONSENTS).map_err(db_err)?;
            txn.open_table(RESOURCES).map_err(db_err)?;
            txn.open_table(RESOURCE_IDENTIFIERS).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Self {
            db: Arc::new(db),
            latency: None,
            path: path.to_owned(),
            audit_retention: std::time::Duration::from_secs(90 * 86_400),
        })
    }

    /// Reports every operation's latency to this histogram.
    pub fn with_latency(mut self, latency: prometheus::Histogram) -> Self {
        self.latency = Some(latency);
        self
    }

    /// How long audit events are kept before the sweep removes them.
    pub fn with_audit_retention(mut self, retention: std::time::Duration) -> Self {
        self.audit_retention = retention;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// redb is synchronous: run each operation on the blocking pool.
    async fn run<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        let timer = self
            .latency
            .as_ref()
            .map(prometheus::Histogram::start_timer);
        let result = tokio::task::spawn_blocking(move || op(&db)).await;
        if let Some(timer) = timer {
            timer.observe_duration();
        }
        result.map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    /// Reads a user, changes it with `change`, writes it back in one transaction.
    async fn modify_user<F>(&self, id: Uuid, change: F) -> StoreResult<Option<UserRecord>>
    where
        F: FnOnce(&mut UserRecord) + Send + 'static,
    {
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let updated = {
                let mut users = txn.open_table(USERS).map_err(db_err)?;
                let key = id.to_string();
                let current = match users.get(key.as_str()).map_err(db_err)? {
                    Some(bytes) => Some(decode::<UserRecord>(bytes.value())?),
                    None => None,
                };
                match current {
                    Some(mut user) => {
                        change(&mut user);
                        users
                            .insert(key.as_str(), encode(&user)?.as_slice())
                            .map_err(db_err)?;
                        Some(user)
                    }
                    None => None,
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(updated)
        })
        .await
    }
}

fn read_user(db: &Database, id: &str) -> StoreResult<Option<UserRecord>> {
    let txn = db.begin_read().map_err(db_err)?;
    let users = txn.open_table(USERS).map_err(db_err)?;
    match users.get(id).map_err(db_err)? {
        Some(bytes) => Ok(Some(decode(bytes.value())?)),
        None => Ok(None),
    }
}

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|db| db.begin_read().map(|_| ()).map_err(db_err))
            .await
    }

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let id = user.id.to_string();
                let mut by_email = txn.open_table(USERS_BY_EMAIL).map_err(db_err)?;
                if by_email
                    .get(user.email_normalized.as_str())
                    .map_err(db_err)?
                    .is_some()
                {
                    return Err(StoreError::Conflict(Conflict::Email));
                }
                let mut by_username = txn.open_table(USERS_BY_USERNAME).map_err(db_err)?;
                if by_username
                    .get(user.username_normalized.as_str())
                    .map_err(db_err)?
                    .is_some()
                {
                    return Err(StoreError::Conflict(Conflict::Username));
                }
                by_email
                    .insert(user.email_normalized.as_str(), id.as_str())
                    .map_err(db_err)?;
                by_username
                    .insert(user.username_normalized.as_str(), id.as_str())
                    .map_err(db_err)?;
                let mut users = txn.open_table(USERS).map_err(db_err)?;
                users
                    .insert(id.as_str(), encode(&user)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        self.run(move |db| read_user(db, &id.to_string())).await
    }

    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>> {
        let login = login.clone();
        self.run(move |db| {
            let id = {
                let txn = db.begin_read().map_err(db_err)?;
                let (index, key) = match &login {
                    Login::Email(email) => (USERS_BY_EMAIL, email.as_str()),
                    Login::Username(name) => (USERS_BY_USERNAME, name.as_str()),
                };
                let table = txn.open_table(index).map_err(db_err)?;
                let found = table.get(key).map_err(db_err)?;
                found.map(|id| id.value().to_owned())
            };
            match id {
                Some(id) => read_user(db, &id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn update_profile(
        &self,
        id: Uuid,
        update: &ProfileUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        let update = update.clone();
        self.modify_user(id, move |user| {
            update.apply(user);
            user.updated_at = now;
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        changed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let hash = hash.to_owned();
        let updated = self
            .modify_user(id, move |user| {
                user.password_hash = hash;
                if changed {
                    user.password_changed_at = now;
                    user.updated_at = now;
                }
            })
            .await?;
        Ok(updated.is_some())
    }

    async fn record_login_failure(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| rules::login_failed(user, now, policy))
            .await
    }

    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>> {
        let device = device.map(str::to_owned);
        self.modify_user(id, move |user| {
            rules::login_succeeded(user, now, device.as_deref())
        })
        .await
    }

    async fn set_status(
        &self,
        id: Uuid,
        status: UserStatus,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| {
            user.status = status;
            user.email_verified = email_verified;
            user.updated_at = now;
        })
        .await
    }

    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| rules::unlock(user, now))
            .await
    }

    async fn update_user(
        &self,
        id: Uuid,
        change: super::UserChange,
    ) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| change(user)).await
    }

    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: super::UserChange,
    ) -> StoreResult<super::GuardedUpdate> {
        use super::GuardedUpdate;
        // redb has one writer at a time: counting inside the write transaction is atomic.
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let outcome = {
                let mut users = txn.open_table(USERS).map_err(db_err)?;
                let key = id.to_string();
                let before = match users.get(key.as_str()).map_err(db_err)? {
                    Some(bytes) => decode::<UserRecord>(bytes.value())?,
                    None => return Ok(GuardedUpdate::NotFound),
                };
                let mut after = before.clone();
                change(&mut after);
                let mut others = 0u64;
                if rules::demotes_an_admin(&before, &after) {
                    for row in users.iter().map_err(db_err)? {
                        let (other_key, bytes) = row.map_err(db_err)?;
                        if other_key.value() != key
                            && rules::is_active_admin(&decode::<UserRecord>(bytes.value())?)
                        {
                            others += 1;
                        }
                    }
                    if others == 0 {
                        return Ok(GuardedUpdate::LastAdmin);
                    }
                }
                users
                    .insert(key.as_str(), encode(&after)?.as_slice())
                    .map_err(db_err)?;
                GuardedUpdate::Updated(after)
            };
            txn.commit().map_err(db_err)?;
            Ok(outcome)
        })
        .await
    }

    async fn list_users(&self, query: &super::UserQuery) -> StoreResult<(Vec<UserRecord>, u64)> {
        let query = query.clone();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let users = txn.open_table(USERS).map_err(db_err)?;
            let mut matching = Vec::new();
            for row in users.iter().map_err(db_err)? {
                let (_, bytes) = row.map_err(db_err)?;
                let user: UserRecord = decode(bytes.value())?;
                if rules::user_matches(&query, &user) {
                    matching.push(user);
                }
            }
            rules::sort_users(&mut matching, &query);
            let total = matching.len() as u64;
            let page = matching
                .into_iter()
                .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
                .collect();
            Ok((page, total))
        })
        .await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.run(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let users = txn.open_table(USERS).map_err(db_err)?;
            users.len().map_err(db_err)
        })
        .await
    }
}

fn read_session(
    sessions: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> StoreResult<Option<SessionRecord>> {
    match sessions.get(id).map_err(db_err)? {
        Some(bytes) => Ok(Some(decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Removes a session and its place in the user index, inside the caller's transaction.
/// Its refresh entries stay until they expire, so a late replay reads as "revoked".
fn delete_session(txn: &redb::WriteTransaction, id: &str) -> StoreResult<Option<SessionRecord>> {
    let mut sessions = txn.open_table(SESSIONS).map_err(db_err)?;
    let removed = match sessions.remove(id).map_err(db_err)? {
        Some(bytes) => Some(decode::<SessionRecord>(bytes.value())?),
        None => None,
    };
    if let Some(session) = &removed {
        let mut by_user = txn.open_multimap_table(USER_SESSIONS).map_err(db_err)?;
        by_user
            .remove(session.user_id.to_string().as_str(), id)
            .map_err(db_err)?;
    }
    Ok(removed)
}

fn user_session_ids(txn: &redb::WriteTransaction, user_id: &str) -> StoreResult<Vec<String>> {
    let by_user = txn.open_multimap_table(USER_SESSIONS).map_err(db_err)?;
    let mut ids = Vec::new();
    for id in by_user.get(user_id).map_err(db_err)? {
        ids.push(id.map_err(db_err)?.value().to_owned());
    }
    Ok(ids)
}

fn put_refresh(
    txn: &redb::WriteTransaction,
    digest: &str,
    session: &SessionRecord,
) -> StoreResult<()> {
    let entry = RefreshEntry {
        session_id: session.id.clone(),
        expires_at: unix(session.expires_at),
    };
    let mut refresh = txn.open_table(REFRESH).map_err(db_err)?;
    refresh
        .insert(digest, encode(&entry)?.as_slice())
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|db| db.begin_read().map(|_| ()).map_err(db_err))
            .await
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        max_per_user: usize,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<String>> {
        let session = session.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let evicted = {
                let user_key = session.user_id.to_string();
                {
                    let mut sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                    sessions
                        .insert(session.id.as_str(), encode(&session)?.as_slice())
                        .map_err(db_err)?;
                    let mut by_user = txn.open_multimap_table(USER_SESSIONS).map_err(db_err)?;
                    by_user
                        .insert(user_key.as_str(), session.id.as_str())
                        .map_err(db_err)?;
                }
                put_refresh(&txn, &session.refresh_digest, &session)?;

                let mut sessions = Vec::new();
                for id in user_session_ids(&txn, &user_key)? {
                    let table = txn.open_table(SESSIONS).map_err(db_err)?;
                    if let Some(s) = read_session(&table, &id)? {
                        sessions.push(s);
                    }
                }
                let (expired, evicted) = rules::session_cleanup(sessions, max_per_user, now);
                for id in expired.iter().chain(&evicted) {
                    delete_session(&txn, id)?;
                }
                evicted
            };
            txn.commit().map_err(db_err)?;
            Ok(evicted)
        })
        .await
    }

    async fn get_session(
        &self,
        user_id: Uuid,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
            Ok(read_session(&sessions, &id)?.filter(|s| s.user_id == user_id && s.is_live(now)))
        })
        .await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let by_user = txn.open_multimap_table(USER_SESSIONS).map_err(db_err)?;
            let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
            let mut out = Vec::new();
            for id in by_user.get(user_id.to_string().as_str()).map_err(db_err)? {
                let id = id.map_err(db_err)?;
                if let Some(s) = read_session(&sessions, id.value())?.filter(|s| s.is_live(now)) {
                    out.push(s);
                }
            }
            rules::sort_sessions(&mut out);
            Ok(out)
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented: &str,
        replacement: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RefreshOutcome> {
        let presented = presented.to_owned();
        let replacement = replacement.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let outcome = {
                let entry: Option<RefreshEntry> = {
                    let refresh = txn.open_table(REFRESH).map_err(db_err)?;
                    let found = refresh.get(presented.as_str()).map_err(db_err)?;
                    match found {
                        Some(bytes) => Some(decode(bytes.value())?),
                        None => None,
                    }
                };
                match entry {
                    None => RefreshOutcome::Unknown,
                    Some(entry) if entry.expires_at <= unix(now) => RefreshOutcome::Unknown,
                    Some(entry) => {
                        let session = {
                            let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                            read_session(&sessions, &entry.session_id)?
                        };
                        match rules::rotation(session, &presented, &replacement, now) {
                            Rotation::Refuse(outcome) => outcome,
                            Rotation::RevokeForReuse(outcome) => {
                                delete_session(&txn, &entry.session_id)?;
                                outcome
                            }
                            Rotation::Rotate(s) => {
                                {
                                    let mut sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                                    sessions
                                        .insert(s.id.as_str(), encode(&s)?.as_slice())
                                        .map_err(db_err)?;
                                }
                                put_refresh(&txn, &replacement, &s)?;
                                // The old digest stays, pointing at the session, so that a
                                // replay of it is recognised as reuse.
                                put_refresh(&txn, &presented, &s)?;
                                RefreshOutcome::Rotated(s)
                            }
                        }
                    }
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(outcome)
        })
        .await
    }

    async fn find_by_refresh(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let digest = digest.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let refresh = txn.open_table(REFRESH).map_err(db_err)?;
            let entry: RefreshEntry = match refresh.get(digest.as_str()).map_err(db_err)? {
                Some(bytes) => decode(bytes.value())?,
                None => return Ok(None),
            };
            let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
            Ok(read_session(&sessions, &entry.session_id)?
                .filter(|s| s.is_live(now) && s.refresh_digest == digest))
        })
        .await
    }

    async fn revoke_session(&self, user_id: Uuid, id: &str) -> StoreResult<Option<SessionRecord>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let owned = {
                let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                read_session(&sessions, &id)?.is_some_and(|s| s.user_id == user_id)
            };
            let removed = if owned {
                delete_session(&txn, &id)?
            } else {
                None
            };
            txn.commit().map_err(db_err)?;
            Ok(removed)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let keep = keep.map(str::to_owned);
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut revoked = Vec::new();
            for id in user_session_ids(&txn, &user_id.to_string())? {
                if keep.as_deref() == Some(id.as_str()) {
                    continue;
                }
                delete_session(&txn, &id)?;
                revoked.push(id);
            }
            txn.commit().map_err(db_err)?;
            Ok(revoked)
        })
        .await
    }

    async fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64> {
        let client_id = client_id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut doomed = Vec::new();
            {
                let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                for row in sessions.iter().map_err(db_err)? {
                    let (id, bytes) = row.map_err(db_err)?;
                    if decode::<SessionRecord>(bytes.value())?.client_id == client_id {
                        doomed.push(id.value().to_owned());
                    }
                }
            }
            for id in &doomed {
                delete_session(&txn, id)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(doomed.len() as u64)
        })
        .await
    }

    async fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
            let mut live = 0u64;
            for row in sessions.iter().map_err(db_err)? {
                let (_, bytes) = row.map_err(db_err)?;
                live += u64::from(decode::<SessionRecord>(bytes.value())?.is_live(now));
            }
            Ok(live)
        })
        .await
    }

    async fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                let found = read_session(&sessions, &id)?;
                if let Some(mut s) = found.filter(|s| s.user_id == user_id && s.is_live(now)) {
                    s.last_activity = now;
                    sessions
                        .insert(id.as_str(), encode(&s)?.as_slice())
                        .map_err(db_err)?;
                }
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()> {
        let jti = jti.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut blocked = txn.open_table(BLOCKED_JTI).map_err(db_err)?;
                blocked.insert(jti.as_str(), unix(until)).map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let blocked = txn.open_table(BLOCKED_JTI).map_err(db_err)?;
            let until = blocked.get(jti.as_str()).map_err(db_err)?;
            Ok(until.is_some_and(|u| u.value() > unix(now)))
        })
        .await
    }

    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let retention = self.audit_retention;
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut removed = 0u64;
            {
                let expired_sessions: Vec<String> = {
                    let sessions = txn.open_table(SESSIONS).map_err(db_err)?;
                    let mut ids = Vec::new();
                    for row in sessions.iter().map_err(db_err)? {
                        let (id, bytes) = row.map_err(db_err)?;
                        let session: SessionRecord = decode(bytes.value())?;
                        if !session.is_live(now) {
                            ids.push(id.value().to_owned());
                        }
                    }
                    ids
                };
                for id in &expired_sessions {
                    delete_session(&txn, id)?;
                }
                removed += expired_sessions.len() as u64;

                let cutoff = unix(now);
                let mut refresh = txn.open_table(REFRESH).map_err(db_err)?;
                refresh
                    .retain(|_, bytes| {
                        let keep =
                            decode::<RefreshEntry>(bytes).is_ok_and(|e| e.expires_at > cutoff);
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;

                let mut blocked = txn.open_table(BLOCKED_JTI).map_err(db_err)?;
                blocked
                    .retain(|_, until| {
                        let keep = until > cutoff;
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;

                let mut tokens = txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
                tokens
                    .retain(|_, bytes| {
                        let keep =
                            decode::<OneTimeTokenRecord>(bytes).is_ok_and(|t| t.purge_at() > now);
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;

                let oldest_kept = AuditEvent::new_id(now - retention);
                let mut audit = txn.open_table(AUDIT).map_err(db_err)?;
                audit
                    .retain(|id, _| {
                        let keep = id >= oldest_kept.as_str();
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;

                let now_secs = now.unix_timestamp();
                let mut codes = txn.open_table(CODES).map_err(db_err)?;
                codes
                    .retain(|_, (_, expires)| {
                        let keep = expires > now_secs;
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;

                let mut limits = txn.open_table(RATE_LIMITS).map_err(db_err)?;
                limits
                    .retain(|_, (_, reset)| {
                        let keep = reset > now_secs;
                        removed += u64::from(!keep);
                        keep
                    })
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(removed)
        })
        .await
    }
}

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let found = {
                let mut keys = txn.open_table(KEYS).map_err(db_err)?;
                let current: Option<SigningKeyRecord> = {
                    let row = keys.get(kid.as_str()).map_err(db_err)?;
                    row.map(|b| decode(b.value())).transpose()?
                };
                match current {
                    Some(mut key) => {
                        key.revoked_at.get_or_insert(at);
                        keys.insert(kid.as_str(), encode(&key)?.as_slice())
                            .map_err(db_err)?;
                        true
                    }
                    None => false,
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(found)
        })
        .await
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.run(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let keys = txn.open_table(KEYS).map_err(db_err)?;
            let mut out = Vec::new();
            for row in keys.iter().map_err(db_err)? {
                let (_, bytes) = row.map_err(db_err)?;
                out.push(decode::<SigningKeyRecord>(bytes.value())?);
            }
            out.sort_by_key(|k| k.generation);
            Ok(out)
        })
        .await
    }

    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let key = key.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let inserted = {
                let mut keys = txn.open_table(KEYS).map_err(db_err)?;
                let mut taken = keys.get(key.kid.as_str()).map_err(db_err)?.is_some();
                for row in keys.iter().map_err(db_err)? {
                    let (_, bytes) = row.map_err(db_err)?;
                    taken |=
                        decode::<SigningKeyRecord>(bytes.value())?.generation == key.generation;
                }
                if !taken {
                    keys.insert(key.kid.as_str(), encode(&key)?.as_slice())
                        .map_err(db_err)?;
                }
                !taken
            };
            txn.commit().map_err(db_err)?;
            Ok(inserted)
        })
        .await
    }
}

#[async_trait]
impl OneTimeTokenStore for EmbeddedStore {
    async fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut tokens = txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
                tokens
                    .insert(token.digest.as_str(), encode(&token)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn peek_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let digest = digest.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let tokens = txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
            let row = tokens.get(digest.as_str()).map_err(db_err)?;
            let found: Option<OneTimeTokenRecord> = row.map(|b| decode(b.value())).transpose()?;
            Ok(rules::consumption(found, purpose, now))
        })
        .await
    }

    async fn consume_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let digest = digest.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let outcome = {
                let mut tokens = txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
                let found: Option<OneTimeTokenRecord> = {
                    let row = tokens.get(digest.as_str()).map_err(db_err)?;
                    row.map(|b| decode(b.value())).transpose()?
                };
                let outcome = rules::consumption(found, purpose, now);
                if !matches!(outcome, ConsumeOutcome::Unknown) {
                    tokens.remove(digest.as_str()).map_err(db_err)?;
                }
                outcome
            };
            txn.commit().map_err(db_err)?;
            Ok(outcome)
        })
        .await
    }

    async fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut removed = 0u64;
            {
                let mut tokens = txn.open_table(ONE_TIME_TOKENS).map_err(db_err)?;
                tokens
                    .retain(|_, bytes| {
                        let doomed = decode::<OneTimeTokenRecord>(bytes)
                            .is_ok_and(|t| t.user_id == user_id && t.purpose == purpose);
                        removed += u64::from(doomed);
                        !doomed
                    })
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(removed)
        })
        .await
    }
}

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let event = event.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut audit = txn.open_table(AUDIT).map_err(db_err)?;
                audit
                    .insert(event.id.as_str(), encode(&event)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let filter = filter.clone();
        self.run(move |db| audit_scan(db, &filter, limit)).await
    }

    async fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64> {
        let filter = filter.clone();
        self.run(move |db| Ok(audit_scan(db, &filter, usize::MAX)?.len() as u64))
            .await
    }
}

/// Newest first, filtered, at most `limit`.
fn audit_scan(db: &Database, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>> {
    let txn = db.begin_read().map_err(db_err)?;
    let audit = txn.open_table(AUDIT).map_err(db_err)?;
    let mut out = Vec::new();
    for row in audit.iter().map_err(db_err)?.rev() {
        let (_, bytes) = row.map_err(db_err)?;
        let event: AuditEvent = decode(bytes.value())?;
        if filter.matches(&event) {
            out.push(event);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl RateLimitStore for EmbeddedStore {
    async fn hit(
        &self,
        key: &str,
        limit: u64,
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let (start, reset_at) = rules::rate_window(now, window);
        let key = format!("{key}:{start}");
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let count = {
                let mut limits = txn.open_table(RATE_LIMITS).map_err(db_err)?;
                let count = limits
                    .get(key.as_str())
                    .map_err(db_err)?
                    .map_or(0, |v| v.value().0)
                    + 1;
                limits
                    .insert(key.as_str(), (count, reset_at.unix_timestamp()))
                    .map_err(db_err)?;
                count
            };
            txn.commit().map_err(db_err)?;
            Ok(rules::rate_decision(count, limit, reset_at))
        })
        .await
    }
}

#[async_trait]
impl super::CodeStore for EmbeddedStore {
    async fn put_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut codes = txn.open_table(CODES).map_err(db_err)?;
                codes
                    .insert(key.as_str(), (value.as_str(), expires_at.unix_timestamp()))
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let codes = txn.open_table(CODES).map_err(db_err)?;
            let found = codes.get(key.as_str()).map_err(db_err)?;
            Ok(found.and_then(|v| {
                let (value, expires) = v.value();
                (expires > now.unix_timestamp()).then(|| value.to_owned())
            }))
        })
        .await
    }

    async fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let taken = {
                let mut codes = txn.open_table(CODES).map_err(db_err)?;
                let removed = codes.remove(key.as_str()).map_err(db_err)?;
                removed.and_then(|v| {
                    let (value, expires) = v.value();
                    (expires > now.unix_timestamp()).then(|| value.to_owned())
                })
            };
            txn.commit().map_err(db_err)?;
            Ok(taken)
        })
        .await
    }
}

fn consent_key(user_id: Uuid, client_id: &str) -> String {
    format!("{user_id}/{client_id}")
}

#[async_trait]
impl super::ClientStore for EmbeddedStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut clients = txn.open_table(CLIENTS).map_err(db_err)?;
                if clients
                    .get(client.client_id.as_str())
                    .map_err(db_err)?
                    .is_some()
                {
                    return Err(StoreError::Conflict(Conflict::Username));
                }
                clients
                    .insert(client.client_id.as_str(), encode(&client)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client_id = client_id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let clients = txn.open_table(CLIENTS).map_err(db_err)?;
            let row = clients.get(client_id.as_str()).map_err(db_err)?;
            row.map(|b| decode(b.value())).transpose()
        })
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.run(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let clients = txn.open_table(CLIENTS).map_err(db_err)?;
            let mut out: Vec<ClientRecord> = Vec::new();
            for row in clients.iter().map_err(db_err)? {
                let (_, bytes) = row.map_err(db_err)?;
                out.push(decode(bytes.value())?);
            }
            out.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
            Ok(out)
        })
        .await
    }

    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let client = client.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let replaced = {
                let mut clients = txn.open_table(CLIENTS).map_err(db_err)?;
                let exists = clients
                    .get(client.client_id.as_str())
                    .map_err(db_err)?
                    .is_some();
                if exists {
                    clients
                        .insert(client.client_id.as_str(), encode(&client)?.as_slice())
                        .map_err(db_err)?;
                }
                exists
            };
            txn.commit().map_err(db_err)?;
            Ok(replaced)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let deleted = {
                let mut clients = txn.open_table(CLIENTS).map_err(db_err)?;
                let deleted = clients
                    .remove(client_id.as_str())
                    .map_err(db_err)?
                    .is_some();
                let mut consents = txn.open_table(CONSENTS).map_err(db_err)?;
                let suffix = format!("/{client_id}");
                consents
                    .retain(|key, _| !key.ends_with(&suffix))
                    .map_err(db_err)?;
                deleted
            };
            txn.commit().map_err(db_err)?;
            Ok(deleted)
        })
        .await
    }

    async fn get_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let key = consent_key(user_id, client_id);
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let consents = txn.open_table(CONSENTS).map_err(db_err)?;
            let row = consents.get(key.as_str()).map_err(db_err)?;
            row.map(|b| decode(b.value())).transpose()
        })
        .await
    }

    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        let key = consent_key(user_id, client_id);
        let scopes = scopes.to_vec();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut consents = txn.open_table(CONSENTS).map_err(db_err)?;
                consents
                    .insert(key.as_str(), encode(&scopes)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }
}
