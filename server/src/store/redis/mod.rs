//! Redis for sessions, refresh-token state and blocked access-token ids (SPEC section 2).
//!
//! Layout (`P` is the configured key prefix):
//! - `P:{u:<user>}:sessions`  hash, session id -> session JSON; expires with its last session
//! - `P:{u:<user>}:rt:<digest>`  refresh digest -> session id, current or rotated out
//! - `P:rto:<digest>`  refresh digest -> user id (finds the user's hash slot from a token)
//! - `P:jti:<jti>`  blocked access-token id -> its expiry (ms)
//!
//! Everything that must change together lives in one user's hash slot (`{u:<user>}`) and is
//! written in one `WATCH` / `MULTI` / `EXEC` transaction, retried when another writer got in
//! first; the same code therefore runs on Redis Cluster. The decisions themselves are
//! [`crate::store::rules`], shared with the other backends.

mod codes;
mod limits;
mod sessions;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts};
use redis::AsyncCommands;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SessionRecord, StoreError, StoreResult};

/// Transaction attempts before giving up (503) under heavy contention.
const TX_ATTEMPTS: usize = 64;

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
    pool: Pool,
    prefix: String,
}

impl RedisStore {
    pub fn connect(settings: &RedisSettings) -> StoreResult<Self> {
        let mut config = Config::from_url(settings.url.clone());
        // Short timeouts: while Redis is down, requests answer 503 quickly.
        config.pool = Some(PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(Duration::from_secs(5)),
                create: Some(Duration::from_secs(3)),
                recycle: Some(Duration::from_secs(3)),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| StoreError::Unavailable(format!("SIGIL_REDIS_URL: {e}")))?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.clone(),
        })
    }

    async fn conn(&self) -> StoreResult<Connection> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("redis: {e}")))
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

async fn watch(conn: &mut Connection, keys: &[&str]) -> StoreResult<()> {
    redis::cmd("WATCH")
        .arg(keys)
        .query_async::<()>(conn)
        .await
        .map_err(redis_err)
}

async fn unwatch(conn: &mut Connection) -> StoreResult<()> {
    redis::cmd("UNWATCH")
        .query_async::<()>(conn)
        .await
        .map_err(redis_err)
}

/// Runs a MULTI pipeline; `false` when a watched key changed and nothing was applied.
async fn exec(conn: &mut Connection, pipe: &redis::Pipeline) -> StoreResult<bool> {
    let applied: Option<redis::Value> = pipe.query_async(conn).await?;
    Ok(applied.is_some())
}

/// The latest expiry among the sessions that remain, in ms: the hash lives that long.
fn hash_expiry(remaining: &[SessionRecord]) -> Option<i64> {
    remaining.iter().map(|s| millis(s.expires_at)).max()
}

/// What one optimistic attempt decided after reading under `WATCH`.
enum Step<T> {
    /// Nothing to write: answer at once.
    Answer(T),
    /// Apply this `MULTI` pipeline and answer, unless a watched key changed meanwhile.
    Write(redis::Pipeline, T),
}

/// The one `WATCH` / `MULTI` / `EXEC` loop: watch `keys`, let `attempt` read and decide, apply
/// what it decided, and start over when another writer changed a watched key. The connection
/// travels through `attempt` and back, which keeps the borrow of it out of the closure's
/// signature; it is handed back to the caller, unwatched, for any follow-up.
async fn optimistic<T, F, Fut>(
    mut conn: Connection,
    keys: &[&str],
    what: &str,
    mut attempt: F,
) -> (Connection, StoreResult<T>)
where
    F: FnMut(Connection) -> Fut,
    Fut: Future<Output = (Connection, StoreResult<Step<T>>)>,
{
    for _ in 0..TX_ATTEMPTS {
        if let Err(e) = watch(&mut conn, keys).await {
            return (conn, Err(e));
        }
        let (back, step) = attempt(conn).await;
        conn = back;
        let applied = match step {
            Ok(Step::Answer(out)) => unwatch(&mut conn).await.map(|()| Some(out)),
            Ok(Step::Write(pipe, out)) => exec(&mut conn, &pipe).await.map(|ok| ok.then_some(out)),
            Err(e) => {
                // A pooled connection must not keep a WATCH for its next user.
                unwatch(&mut conn).await.ok();
                Err(e)
            }
        };
        match applied {
            Ok(Some(out)) => return (conn, Ok(out)),
            Ok(None) => continue,
            Err(e) => return (conn, Err(e)),
        }
    }
    let busy = StoreError::Unavailable(format!("redis: {what} too contended"));
    (conn, Err(busy))
}
