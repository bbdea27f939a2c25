//! Sessions in Redis: one hash per user, refresh digests beside it in the same hash slot,
//! blocked access-token ids on their own keys.

use async_trait::async_trait;
use redis::AsyncCommands;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{RedisStore, Step, decode, encode, hash_expiry, millis, optimistic, redis_err};
use crate::store::rules::{self, Rotation};
use crate::store::{RefreshOutcome, SessionRecord, SessionStore, StoreResult};

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
        // transaction below never happens.
        redis::cmd("SET")
            .arg(self.owner_key(&session.refresh_digest))
            .arg(session.user_id.to_string())
            .arg("PXAT")
            .arg(exp)
            .query_async::<()>(&mut conn)
            .await?;
        let (sessions_key, refresh_key, json) = (&sessions_key, &refresh_key, &json);
        let (_, evicted) = optimistic(conn, &[sessions_key], "session writes", |mut conn| async {
            let step = async {
                let mut all = Self::all_sessions(&mut conn, sessions_key).await?;
                all.retain(|s| s.id != session.id);
                all.push(session.clone());
                let (expired, evicted) = rules::session_cleanup(all.clone(), max_per_user, now);
                all.retain(|s| !expired.contains(&s.id) && !evicted.contains(&s.id));
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .hset(sessions_key, &session.id, json)
                    .ignore()
                    .cmd("SET")
                    .arg(refresh_key)
                    .arg(&session.id)
                    .arg("PXAT")
                    .arg(exp)
                    .ignore();
                for id in expired.iter().chain(&evicted) {
                    pipe.hdel(sessions_key, id).ignore();
                }
                if let Some(until) = hash_expiry(&all) {
                    pipe.cmd("PEXPIREAT").arg(sessions_key).arg(until).ignore();
                }
                Ok(Step::Write(pipe, evicted))
            }
            .await;
            (conn, step)
        })
        .await;
        evicted
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
        let replacement_owner = self.owner_key(replacement);
        let watched = [sessions_key.as_str(), presented_key.as_str()];
        let (sessions_key, presented_key) = (&sessions_key, &presented_key);
        let (replacement_key, replacement_owner) = (&replacement_key, &replacement_owner);
        let (mut conn, outcome) =
            optimistic(conn, &watched, "refresh rotation", |mut conn| async {
                let step = async {
                    let session_id: Option<String> = conn.get(presented_key).await?;
                    let Some(session_id) = session_id else {
                        return Ok(Step::Answer(RefreshOutcome::Unknown));
                    };
                    let json: Option<String> = conn.hget(sessions_key, &session_id).await?;
                    let session = json.as_deref().map(decode).transpose()?;
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    Ok(
                        match rules::rotation(session, presented, replacement, now) {
                            Rotation::Refuse(outcome) => Step::Answer(outcome),
                            Rotation::RevokeForReuse(outcome) => {
                                pipe.hdel(sessions_key, &session_id).ignore();
                                Step::Write(pipe, outcome)
                            }
                            Rotation::Rotate(s) => {
                                let exp = millis(s.expires_at);
                                // Outside the transaction (other slot): index the replacement first.
                                redis::cmd("SET")
                                    .arg(replacement_owner)
                                    .arg(user_id.to_string())
                                    .arg("PXAT")
                                    .arg(exp)
                                    .query_async::<()>(&mut conn)
                                    .await?;
                                pipe.hset(sessions_key, &s.id, encode(&s)?)
                                    .ignore()
                                    .cmd("SET")
                                    .arg(replacement_key)
                                    .arg(&s.id)
                                    .arg("PXAT")
                                    .arg(exp)
                                    .ignore()
                                    // The rotated-out digest stays so that a replay reads as reuse.
                                    .cmd("PEXPIREAT")
                                    .arg(presented_key)
                                    .arg(exp)
                                    .ignore()
                                    .cmd("PEXPIREAT")
                                    .arg(sessions_key)
                                    .arg(exp)
                                    .arg("GT")
                                    .ignore();
                                Step::Write(pipe, RefreshOutcome::Rotated(s))
                            }
                        },
                    )
                }
                .await;
                (conn, step)
            })
            .await;
        let outcome = outcome?;
        if let RefreshOutcome::Rotated(s) = &outcome {
            // Best effort (other slot): keep the old digest findable as long as the session
            // lives; if this is lost, a replay is refused as unknown instead.
            let _: Result<(), _> = redis::cmd("PEXPIREAT")
                .arg(self.owner_key(presented))
                .arg(millis(s.expires_at))
                .query_async(&mut conn)
                .await;
        }
        Ok(outcome)
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
        let conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        let key = &key;
        let (_, revoked) = optimistic(conn, &[key], "session writes", |mut conn| async {
            let step = async {
                let ids: Vec<String> = conn.hkeys(key).await?;
                let doomed: Vec<String> = ids
                    .into_iter()
                    .filter(|id| Some(id.as_str()) != keep)
                    .collect();
                if doomed.is_empty() {
                    return Ok(Step::Answer(doomed));
                }
                let mut pipe = redis::pipe();
                pipe.atomic().hdel(key, &doomed).ignore();
                Ok(Step::Write(pipe, doomed))
            }
            .await;
            (conn, step)
        })
        .await;
        revoked
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
    /// and a rotation racing it sees its WATCH fail and then finds the session gone.
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
        let conn = self.conn().await?;
        let key = self.sessions_key(user_id);
        let key = &key;
        let (_, touched) = optimistic(conn, &[key], "session writes", |mut conn| async {
            let step = async {
                let json: Option<String> = conn.hget(key, id).await?;
                let found = json.as_deref().map(decode).transpose()?;
                let Some(mut session) = found.filter(|s| s.is_live(now)) else {
                    return Ok(Step::Answer(()));
                };
                session.last_activity = now;
                let mut pipe = redis::pipe();
                pipe.atomic().hset(key, id, encode(&session)?).ignore();
                Ok(Step::Write(pipe, ()))
            }
            .await;
            (conn, step)
        })
        .await;
        touched
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

    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let until: Option<i64> = conn.get(self.jti_key(jti)).await?;
        Ok(until.is_some_and(|until| until > millis(now)))
    }

    async fn sweep_expired(&self, _now: OffsetDateTime) -> StoreResult<u64> {
        // Every key carries its own expiry; expired sessions inside a user's hash are dropped
        // at that user's next login and are never returned meanwhile.
        Ok(0)
    }
}
