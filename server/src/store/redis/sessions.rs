//! Sessions in Redis: one hash per user, refresh digests beside it in the same hash slot,
//! blocked access-token ids on their own keys.

use async_trait::async_trait;
use redis::AsyncCommands;
use time::OffsetDateTime;
use uuid::Uuid;

use std::collections::HashMap;

use super::{
    CAS_ATTEMPTS, RedisStore, contended, decode, encode, hash_expiry, millis, redis_err, scripts,
};
use crate::store::rules::{self, Rotation};
use crate::store::{BearerState, RefreshOutcome, SessionRecord, SessionStore, StoreResult};

/// Whether a `jti` entry holding `until` (ms) still blocks at `now`.
fn blocked(until: Option<i64>, now: OffsetDateTime) -> bool {
    until.is_some_and(|until| until > millis(now))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
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
        let mut conn = self.conn().await?;
        let exp = millis(session.expires_at);
        let sessions_key = self.sessions_key(session.user_id);
        let refresh_key = self.refresh_key(session.user_id, &session.refresh_digest);
        let json = encode(session)?;
        // The owner index lives in another slot; written first, it is harmless if the
        // script below never applies.
        redis::cmd("SET")
            .arg(self.owner_key(&session.refresh_digest))
            .arg(session.user_id.to_string())
            .arg("PXAT")
            .arg(exp)
            .query_async::<()>(&mut conn)
            .await?;
        for _ in 0..CAS_ATTEMPTS {
            let raw: HashMap<String, String> = conn.hgetall(&sessions_key).await?;
            let mut read: Vec<&str> = raw.keys().map(String::as_str).collect();
            read.sort_unstable();
            let read = read.join("\n");
            let mut all = raw
                .values()
                .map(|json| decode(json))
                .collect::<StoreResult<Vec<_>>>()?;
            all.retain(|s| s.id != session.id);
            all.push(session.clone());
            let (expired, evicted) = rules::session_cleanup(all.clone(), max_per_user, now);
            all.retain(|s| !expired.contains(&s.id) && !evicted.contains(&s.id));
            let kept_until = hash_expiry(&all).unwrap_or(exp);
            let applied: i64 = scripts::CREATE
                .key(&sessions_key)
                .key(&refresh_key)
                .arg(read)
                .arg(&session.id)
                .arg(&json)
                .arg(exp)
                .arg(kept_until)
                .arg(expired.iter().chain(&evicted).collect::<Vec<_>>())
                .invoke_async(&mut conn)
                .await?;
            if applied == 1 {
                return Ok(evicted);
            }
        }
        Err(contended("sign-ins of one user"))
    }

    async fn get_session(
        &self,
        user_id: Uuid,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let mut conn = self.conn().await?;
        let json: Option<String> = conn.hget(self.sessions_key(user_id), id).await?;
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
        let mut conn = self.conn().await?;
        let Some(user_id) = self.owner_of(&mut conn, presented).await? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let sessions_key = self.sessions_key(user_id);
        let presented_key = self.refresh_key(user_id, presented);
        let replacement_key = self.refresh_key(user_id, replacement);
        // Contention is per session: only another rotation (which makes this one reuse on
        // the next read) or a lastActivity update of the same session makes this read again.
        for _ in 0..CAS_ATTEMPTS {
            let session_id: Option<String> = conn.get(&presented_key).await?;
            let Some(session_id) = session_id else {
                return Ok(RefreshOutcome::Unknown);
            };
            let json: Option<String> = conn.hget(&sessions_key, &session_id).await?;
            let session = json.as_deref().map(decode).transpose()?;
            match rules::rotation(session, presented, replacement, now) {
                Rotation::Refuse(outcome) => return Ok(outcome),
                Rotation::RevokeForReuse(outcome) => {
                    // A digest once rotated out never becomes current again, so whatever the
                    // session did since, the decision stands: one HDEL, no check needed.
                    let _: i64 = conn.hdel(&sessions_key, &session_id).await?;
                    return Ok(outcome);
                }
                Rotation::Rotate(rotated) => {
                    let exp = millis(rotated.expires_at);
                    // Outside the script (other slot): index the replacement first.
                    redis::cmd("SET")
                        .arg(self.owner_key(replacement))
                        .arg(user_id.to_string())
                        .arg("PXAT")
                        .arg(exp)
                        .query_async::<()>(&mut conn)
                        .await?;
                    let applied: i64 = scripts::ROTATE
                        .key(&sessions_key)
                        .key(&presented_key)
                        .key(&replacement_key)
                        .arg(&session_id)
                        .arg(json.as_deref().unwrap_or_default())
                        .arg(encode(&rotated)?)
                        .arg(exp)
                        .invoke_async(&mut conn)
                        .await?;
                    if applied == 1 {
                        // Best effort (other slot): keep the old digest findable as long as
                        // the session lives; if this is lost, a replay is refused as unknown.
                        let _: Result<(), _> = redis::cmd("PEXPIREAT")
                            .arg(self.owner_key(presented))
                            .arg(exp)
                            .query_async(&mut conn)
                            .await;
                        return Ok(RefreshOutcome::Rotated(rotated));
                    }
                }
            }
        }
        Err(contended("refresh rotation"))
    }

    async fn find_by_refresh(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let mut conn = self.conn().await?;
        let Some(user_id) = self.owner_of(&mut conn, digest).await? else {
            return Ok(None);
        };
        let session_id: Option<String> = conn.get(self.refresh_key(user_id, digest)).await?;
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
        let mut conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        let (json, _removed): (Option<String>, i64) = redis::pipe()
            .atomic()
            .hget(&key, id)
            .hdel(&key, id)
            .query_async(&mut conn)
            .await?;
        json.as_deref().map(decode).transpose()
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let mut conn = self.conn().await?;
        Ok(scripts::REVOKE_ALL
            .key(self.sessions_key(user_id))
            .arg(keep.unwrap_or_default())
            .invoke_async(&mut conn)
            .await?)
    }

    /// Scans the user session hashes (SCAN, never KEYS): fine for a dashboard, not a hot path.
    async fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        let mut live = 0u64;
        for key in self.session_hashes(&mut conn).await? {
            let sessions = Self::all_sessions(&mut conn, &key).await?;
            live += sessions.iter().filter(|s| s.is_live(now)).count() as u64;
        }
        Ok(live)
    }

    /// Scans like `count_sessions`: deleting a client is rare. Each HDEL is atomic on its own,
    /// and a rotation racing it finds its session changed, reads again and finds it gone.
    async fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64> {
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
            let removed: u64 = conn.hdel(&key, &doomed).await?;
            revoked += removed;
        }
        Ok(revoked)
    }

    async fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        let json: Option<String> = conn.hget(&key, id).await?;
        let Some(json) = json else { return Ok(()) };
        let mut session = decode(&json)?;
        if !session.is_live(now) {
            return Ok(());
        }
        session.last_activity = now;
        // Lost to a concurrent change of the session (a rotation, which stamps
        // lastActivity itself): the newer state stands, nothing to retry.
        let _applied: i64 = scripts::TOUCH
            .key(&key)
            .arg(id)
            .arg(&json)
            .arg(encode(&session)?)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()> {
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

    async fn bearer_state(
        &self,
        jti: &str,
        user_id: Uuid,
        session_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<BearerState> {
        let mut conn = self.conn().await?;
        // Two keys in different slots: a plain pipeline (no MULTI), one round trip.
        let (until, json): (Option<i64>, Option<String>) = redis::pipe()
            .get(self.jti_key(jti))
            .hget(self.sessions_key(user_id), session_id)
            .query_async(&mut conn)
            .await?;
        let session = json.map(|json| decode(&json)).transpose()?;
        Ok(BearerState {
            jti_blocked: blocked(until, now),
            session: session.filter(|s| s.is_live(now)),
        })
    }

    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let until: Option<i64> = conn.get(self.jti_key(jti)).await?;
        Ok(blocked(until, now))
    }

    async fn sweep_expired(&self, _now: OffsetDateTime) -> StoreResult<u64> {
        // Every key carries its own expiry; expired sessions inside a user's hash are dropped
        // at that user's next login and are never returned meanwhile.
        Ok(0)
    }
}
