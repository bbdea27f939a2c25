//! Redis for sessions, refresh-token state and blocked access-token ids (SPEC section 2).
//!
//! Layout (`P` is the configured key prefix):
//! - `P:{u:<user>}:sessions`  hash, session id -> session JSON; expires with its last session
//! - `P:{u:<user>}:rt:<digest>`  refresh digest -> session id, current or rotated out
//! - `P:rto:<digest>`  refresh digest -> user id (finds the user's hash slot from a token)
//! - `P:jti:<jti>`  blocked access-token id -> its expiry (ms)
//!
//! Everything that must change together lives in one user's hash slot (`{u:<user>}`) and is
//! written by one Lua script ([`scripts`]) or one command, so the same code runs on Redis
//! Cluster. The decisions themselves are [`crate::store::rules`], shared with the other
//! backends: a script applies a decision only if the state it was made from is unchanged,
//! and the caller reads again otherwise. Contention is per session, not per user: refreshes
//! of different sessions of one user never make each other start over.

mod codes;
mod connection;
mod limits;
mod scripts;
mod sessions;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use connection::{Connection, Slot};
use redis::AsyncCommands;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SessionRecord, StoreError, StoreResult};

/// Reads-and-applies before giving up (503). A script only fails to apply when another writer
/// changed the very session (or, for a sign-in, the user's set of sessions) in between, so
/// this is reached only under a flood aimed at one session.
const CAS_ATTEMPTS: usize = 32;

/// Every Redis failure is the store being unavailable: callers answer 503.
impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis: {err}"))
    }
}

fn redis_err(err: redis::RedisError) -> StoreError {
    err.into()
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn encode(session: &SessionRecord) -> StoreResult<String> {
    serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(json: &str) -> StoreResult<SessionRecord> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
    pub pool_size: usize,
}

#[derive(Clone)]
pub struct RedisStore {
    /// Multiplexed connections (`connection`); requests take them in turn.
    connections: Arc<[Arc<Slot>]>,
    next: Arc<AtomicUsize>,
    prefix: String,
}

impl RedisStore {
    pub fn connect(settings: &RedisSettings) -> StoreResult<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("SIGIL_REDIS_URL: {e}")))?;
        Ok(Self {
            connections: (0..settings.pool_size.max(1))
                .map(|_| Slot::new(client.clone()))
                .collect(),
            next: Arc::new(AtomicUsize::new(0)),
            prefix: settings.key_prefix.clone(),
        })
    }

    async fn conn(&self) -> StoreResult<Connection> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        Ok(self.connections[turn].connection().await?)
    }

    fn sessions_key(&self, user: Uuid) -> String {
        format!("{}:{{u:{user}}}:sessions", self.prefix)
    }

    fn refresh_key(&self, user: Uuid, digest: &str) -> String {
        format!("{}:{{u:{user}}}:rt:{digest}", self.prefix)
    }

    fn owner_key(&self, digest: &str) -> String {
        format!("{}:rto:{digest}", self.prefix)
    }

    fn rate_key(&self, key: &str, window_start: i64) -> String {
        format!("{}:rl:{key}:{window_start}", self.prefix)
    }

    fn code_key(&self, key: &str) -> String {
        format!("{}:code:{key}", self.prefix)
    }

    fn jti_key(&self, jti: &str) -> String {
        format!("{}:jti:{jti}", self.prefix)
    }

    async fn owner_of(&self, conn: &mut Connection, digest: &str) -> StoreResult<Option<Uuid>> {
        let owner: Option<String> = conn.get(self.owner_key(digest)).await?;
        Ok(owner.and_then(|o| o.parse().ok()))
    }

    /// The keys of every user's session hash.
    async fn session_hashes(&self, conn: &mut Connection) -> StoreResult<Vec<String>> {
        let pattern = format!("{}:{{u:*}}:sessions", self.prefix);
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn all_sessions(conn: &mut Connection, key: &str) -> StoreResult<Vec<SessionRecord>> {
        let raw: HashMap<String, String> = conn.hgetall(key).await?;
        raw.values().map(|json| decode(json)).collect()
    }
}

/// The latest expiry among the sessions that remain, in ms: the hash lives that long.
fn hash_expiry(remaining: &[SessionRecord]) -> Option<i64> {
    remaining.iter().map(|s| millis(s.expires_at)).max()
}

/// A caller that kept finding its input changed by other writers gave up: 503.
fn contended(what: &str) -> StoreError {
    StoreError::Unavailable(format!("redis: {what} too contended"))
}
