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
//! [`super::rules`], shared with the other backends.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts};
use redis::AsyncCommands;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rules::{self, Rotation};
use super::{
    RateDecision, RateLimitStore, RefreshOutcome, SessionRecord, SessionStore, StoreError,
    StoreResult,
};

/// Transaction attempts before giving up (503) under heavy contention.
const TX_ATTEMPTS: usize = 64;

fn redis_err(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {err}"))
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
    latency: Option<prometheus::Histogram>,
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
            latency: None,
        })
    }

    /// Reports every operation's latency to this histogram.
    pub fn with_latency(mut self, latency: prometheus::Histogram) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Observes the operation's duration when dropped.
    fn timer(&self) -> Option<prometheus::HistogramTimer> {
        self.latency
            .as_ref()
            .map(prometheus::Histogram::start_timer)
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
        let owner: Option<String> = conn.get(self.owner_key(digest)).await.map_err(redis_err)?;
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
                .await
                .map_err(redis_err)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn all_sessions(conn: &mut Connection, key: &str) -> StoreResult<Vec<SessionRecord>> {
        let raw: HashMap<String, String> = conn.hgetall(key).await.map_err(redis_err)?;
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
    let applied: Option<redis::Value> = pipe.query_async(conn).await.map_err(redis_err)?;
    Ok(applied.is_some())
}

/// The latest expiry among the sessions that remain, in ms: the hash lives that long.
fn hash_expiry(remaining: &[SessionRecord]) -> Option<i64> {
    remaining.iter().map(|s| millis(s.expires_at)).max()
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(redis_err)
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        max_per_user: usize,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<String>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let exp = millis(session.expires_at);
        let sessions_key = self.sessions_key(session.user_id);
        let json = encode(session)?;
        // The owner index lives in another slot; written first, it is harmless if the
        // transaction below never happens.
        redis::cmd("SET")
            .arg(self.owner_key(&session.refresh_digest))
            .arg(session.user_id.to_string())
            .arg("PXAT")
            .arg(exp)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)?;
        for _ in 0..TX_ATTEMPTS {
            watch(&mut conn, &[&sessions_key]).await?;
            let mut all = Self::all_sessions(&mut conn, &sessions_key).await?;
            all.retain(|s| s.id != session.id);
            all.push(session.clone());
            let (expired, evicted) = rules::session_cleanup(all.clone(), max_per_user, now);
            all.retain(|s| !expired.contains(&s.id) && !evicted.contains(&s.id));
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hset(&sessions_key, &session.id, &json)
                .ignore()
                .cmd("SET")
                .arg(self.refresh_key(session.user_id, &session.refresh_digest))
                .arg(&session.id)
                .arg("PXAT")
                .arg(exp)
                .ignore();
            for id in expired.iter().chain(&evicted) {
                pipe.hdel(&sessions_key, id).ignore();
            }
            if let Some(until) = hash_expiry(&all) {
                pipe.cmd("PEXPIREAT").arg(&sessions_key).arg(until).ignore();
            }
            if exec(&mut conn, &pipe).await? {
                return Ok(evicted);
            }
        }
        Err(StoreError::Unavailable(
            "redis: session writes too contended".into(),
        ))
    }

    async fn get_session(
        &self,
        user_id: Uuid,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let json: Option<String> = conn
            .hget(self.sessions_key(user_id), id)
            .await
            .map_err(redis_err)?;
        match json {
            Some(json) => Ok(Some(decode(&json)?).filter(|s| s.is_live(now))),
            None => Ok(None),
        }
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let mut sessions = Self::all_sessions(&mut conn, &self.sessions_key(user_id)).await?;
        sessions.retain(|s| s.is_live(now));
        rules::sort_sessions(&mut sessions);
        Ok(sessions)
    }

    async fn rotate_refresh(
        &self,
        presented: &str,
        replacement: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RefreshOutcome> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let Some(user_id) = self.owner_of(&mut conn, presented).await? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let sessions_key = self.sessions_key(user_id);
        let presented_key = self.refresh_key(user_id, presented);
        for _ in 0..TX_ATTEMPTS {
            watch(&mut conn, &[&sessions_key, &presented_key]).await?;
            let session_id: Option<String> = conn.get(&presented_key).await.map_err(redis_err)?;
            let Some(session_id) = session_id else {
                unwatch(&mut conn).await?;
                return Ok(RefreshOutcome::Unknown);
            };
            let json: Option<String> = conn
                .hget(&sessions_key, &session_id)
                .await
                .map_err(redis_err)?;
            let session = json.as_deref().map(decode).transpose()?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            let outcome = match rules::rotation(session, presented, replacement, now) {
                Rotation::Refuse(outcome) => {
                    unwatch(&mut conn).await?;
                    return Ok(outcome);
                }
                Rotation::RevokeForReuse(outcome) => {
                    pipe.hdel(&sessions_key, &session_id).ignore();
                    outcome
                }
                Rotation::Rotate(s) => {
                    let exp = millis(s.expires_at);
                    // Outside the transaction (other slot): index the replacement first.
                    redis::cmd("SET")
                        .arg(self.owner_key(replacement))
                        .arg(user_id.to_string())
                        .arg("PXAT")
                        .arg(exp)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(redis_err)?;
                    pipe.hset(&sessions_key, &s.id, encode(&s)?)
                        .ignore()
                        .cmd("SET")
                        .arg(self.refresh_key(user_id, replacement))
                        .arg(&s.id)
                        .arg("PXAT")
                        .arg(exp)
                        .ignore()
                        // The rotated-out digest stays so that a replay reads as reuse.
                        .cmd("PEXPIREAT")
                        .arg(&presented_key)
                        .arg(exp)
                        .ignore()
                        .cmd("PEXPIREAT")
                        .arg(&sessions_key)
                        .arg(exp)
                        .arg("GT")
                        .ignore();
                    RefreshOutcome::Rotated(s)
                }
            };
            if exec(&mut conn, &pipe).await? {
                if let RefreshOutcome::Rotated(s) = &outcome {
                    // Best effort (other slot): keep the old digest findable as long as the
                    // session lives; if this is lost, a replay is refused as unknown instead.
                    let _: Result<(), _> = redis::cmd("PEXPIREAT")
                        .arg(self.owner_key(presented))
                        .arg(millis(s.expires_at))
                        .query_async(&mut conn)
                        .await;
                }
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable(
            "redis: refresh rotation too contended".into(),
        ))
    }

    async fn find_by_refresh(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let Some(user_id) = self.owner_of(&mut conn, digest).await? else {
            return Ok(None);
        };
        let session_id: Option<String> = conn
            .get(self.refresh_key(user_id, digest))
            .await
            .map_err(redis_err)?;
        let Some(session_id) = session_id else {
            return Ok(None);
        };
        drop(conn);
        Ok(self
            .get_session(user_id, &session_id, now)
            .await?
            .filter(|s| s.refresh_digest == digest))
    }

    async fn revoke_session(&self, user_id: Uuid, id: &str) -> StoreResult<Option<SessionRecord>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        let (json, _removed): (Option<String>, i64) = redis::pipe()
            .atomic()
            .hget(&key, id)
            .hdel(&key, id)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        json.as_deref().map(decode).transpose()
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        for _ in 0..TX_ATTEMPTS {
            watch(&mut conn, &[&key]).await?;
            let ids: Vec<String> = conn.hkeys(&key).await.map_err(redis_err)?;
            let doomed: Vec<String> = ids
                .into_iter()
                .filter(|id| Some(id.as_str()) != keep)
                .collect();
            if doomed.is_empty() {
                unwatch(&mut conn).await?;
                return Ok(doomed);
            }
            let mut pipe = redis::pipe();
            pipe.atomic().hdel(&key, &doomed).ignore();
            if exec(&mut conn, &pipe).await? {
                return Ok(doomed);
            }
        }
        Err(StoreError::Unavailable(
            "redis: session writes too contended".into(),
        ))
    }

    /// Scans the user session hashes (SCAN, never KEYS): fine for a dashboard, not a hot path.
    async fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let mut live = 0u64;
        for key in self.session_hashes(&mut conn).await? {
            let sessions = Self::all_sessions(&mut conn, &key).await?;
            live += sessions.iter().filter(|s| s.is_live(now)).count() as u64;
        }
        Ok(live)
    }

    /// Scans like `count_sessions`: deleting a client is rare. Each HDEL is atomic on its own,
    /// and a rotation racing it sees its WATCH fail and then finds the session gone.
    async fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let mut revoked = 0u64;
        for key in self.session_hashes(&mut conn).await? {
            let doomed: Vec<String> = Self::all_sessions(&mut conn, &key)
                .await?
                .into_iter()
                .filter(|s| s.client_id == client_id)
                .map(|s| s.id)
                .collect();
            if doomed.is_empty() {
                continue;
            }
            let removed: u64 = conn.hdel(&key, &doomed).await.map_err(redis_err)?;
            revoked += removed;
        }
        Ok(revoked)
    }

    async fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        for _ in 0..TX_ATTEMPTS {
            watch(&mut conn, &[&key]).await?;
            let json: Option<String> = conn.hget(&key, id).await.map_err(redis_err)?;
            let Some(mut session) = json
                .as_deref()
                .map(decode)
                .transpose()?
                .filter(|s| s.is_live(now))
            else {
                unwatch(&mut conn).await?;
                return Ok(());
            };
            session.last_activity = now;
            let mut pipe = redis::pipe();
            pipe.atomic().hset(&key, id, encode(&session)?).ignore();
            if exec(&mut conn, &pipe).await? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "redis: session writes too contended".into(),
        ))
    }

    async fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let until = millis(until);
        redis::cmd("SET")
            .arg(self.jti_key(jti))
            .arg(until)
            .arg("PXAT")
            .arg(until.max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let until: Option<i64> = conn.get(self.jti_key(jti)).await.map_err(redis_err)?;
        Ok(until.is_some_and(|until| until > millis(now)))
    }

    async fn sweep_expired(&self, _now: OffsetDateTime) -> StoreResult<u64> {
        let _timer = self.timer();
        // Every key carries its own expiry; expired sessions inside a user's hash are dropped
        // at that user's next login and are never returned meanwhile.
        Ok(0)
    }
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let _timer = self.timer();
        let (start, reset_at) = rules::rate_window(now, window);
        let key = self.rate_key(key, start);
        let mut conn = self.conn().await?;
        // One key, one MULTI: the count and its expiry are set together.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(millis(reset_at) + 1_000)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(rules::rate_decision(count, limit, reset_at))
    }
}

/// Stored codes carry their expiry so reads agree with the server's clock, as in every backend.
fn code_value(value: &str, expires_at: OffsetDateTime) -> String {
    format!("{}:{value}", millis(expires_at))
}

fn live_code(stored: Option<String>, now: OffsetDateTime) -> Option<String> {
    let stored = stored?;
    let (expires, value) = stored.split_once(':')?;
    (expires.parse::<i64>().ok()? > millis(now)).then(|| value.to_owned())
}

#[async_trait]
impl super::CodeStore for RedisStore {
    async fn put_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        redis::cmd("SET")
            .arg(self.code_key(key))
            .arg(code_value(value, expires_at))
            .arg("PXAT")
            .arg(millis(expires_at).max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let stored: Option<String> = conn.get(self.code_key(key)).await.map_err(redis_err)?;
        Ok(live_code(stored, now))
    }

    async fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let _timer = self.timer();
        let mut conn = self.conn().await?;
        let stored: Option<String> = redis::cmd("GETDEL")
            .arg(self.code_key(key))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(live_code(stored, now))
    }
}
