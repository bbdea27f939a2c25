//! Sessions in the embedded store: sessions by id, a user -> sessions index, refresh digests
//! (current and rotated out) -> session, and blocked access-token ids.

use async_trait::async_trait;
use redb::{ReadTransaction, ReadableMultimapTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::{AUDIT, BLOCKED_JTI, CODES, ONE_TIME_TOKENS, REFRESH, SESSIONS, USER_SESSIONS};
use super::{EmbeddedStore, decode, get_json, put_json, scan_json};
use crate::clock::unix;
use crate::store::rules::{self, Rotation};
use crate::store::{
    AuditEvent, BearerState, OneTimeTokenRecord, RefreshOutcome, SessionRecord, SessionStore,
    StoreResult,
};

#[derive(Debug, Serialize, Deserialize)]
struct RefreshEntry {
    session_id: String,
    /// Unix seconds after which the entry is forgotten.
    expires_at: u64,
}

/// Removes a session and its place in the user index, inside the caller's transaction.
/// Its refresh entries stay until they expire, so a late replay reads as "revoked".
fn delete_session(txn: &WriteTransaction, id: &str) -> StoreResult<Option<SessionRecord>> {
    let removed = match txn.open_table(SESSIONS)?.remove(id)? {
        Some(bytes) => Some(decode::<SessionRecord>(bytes.value())?),
        None => None,
    };
    if let Some(session) = &removed {
        txn.open_multimap_table(USER_SESSIONS)?
            .remove(session.user_id.to_string().as_str(), id)?;
    }
    Ok(removed)
}

fn user_session_ids(txn: &WriteTransaction, user_id: &str) -> StoreResult<Vec<String>> {
    let by_user = txn.open_multimap_table(USER_SESSIONS)?;
    let mut ids = Vec::new();
    for id in by_user.get(user_id)? {
        ids.push(id?.value().to_owned());
    }
    Ok(ids)
}

fn put_session(txn: &WriteTransaction, session: &SessionRecord) -> StoreResult<()> {
    put_json(&mut txn.open_table(SESSIONS)?, &session.id, session)
}

fn put_refresh(txn: &WriteTransaction, digest: &str, session: &SessionRecord) -> StoreResult<()> {
    let entry = RefreshEntry {
        session_id: session.id.clone(),
        expires_at: unix(session.expires_at),
    };
    put_json(&mut txn.open_table(REFRESH)?, digest, &entry)
}

/// Removes the sessions `doomed` picks, inside the caller's transaction; returns their ids.
fn delete_sessions_where(
    txn: &WriteTransaction,
    doomed: impl Fn(&SessionRecord) -> bool,
) -> StoreResult<Vec<String>> {
    let ids: Vec<String> = scan_json::<SessionRecord>(&txn.open_table(SESSIONS)?)?
        .into_iter()
        .filter(|(_, session)| doomed(session))
        .map(|(id, _)| id)
        .collect();
    for id in &ids {
        delete_session(txn, id)?;
    }
    Ok(ids)
}

/// The session `id` of `user_id`, if it is live at `now`.
fn live_session(
    txn: &ReadTransaction,
    user_id: Uuid,
    id: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<SessionRecord>> {
    let found: Option<SessionRecord> = get_json(&txn.open_table(SESSIONS)?, id)?;
    Ok(found.filter(|s| s.user_id == user_id && s.is_live(now)))
}

/// Whether `jti` is blocked at `now`.
fn jti_blocked(txn: &ReadTransaction, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
    let until = txn.open_table(BLOCKED_JTI)?.get(jti)?;
    Ok(until.is_some_and(|u| u.value() > unix(now)))
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|_| Ok(())).await
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        max_per_user: usize,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<String>> {
        let session = session.clone();
        self.write(move |txn| {
            let user_key = session.user_id.to_string();
            put_session(txn, &session)?;
            txn.open_multimap_table(USER_SESSIONS)?
                .insert(user_key.as_str(), session.id.as_str())?;
            put_refresh(txn, &session.refresh_digest, &session)?;

            let mut sessions = Vec::new();
            {
                let table = txn.open_table(SESSIONS)?;
                for id in user_session_ids(txn, &user_key)? {
                    sessions.extend(get_json::<SessionRecord>(&table, &id)?);
                }
            }
            let (expired, evicted) = rules::session_cleanup(sessions, max_per_user, now);
            for id in expired.iter().chain(&evicted) {
                delete_session(txn, id)?;
            }
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
        self.read(move |txn| live_session(txn, user_id, &id, now))
            .await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.read(move |txn| {
            let by_user = txn.open_multimap_table(USER_SESSIONS)?;
            let sessions = txn.open_table(SESSIONS)?;
            let mut out = Vec::new();
            for id in by_user.get(user_id.to_string().as_str())? {
                let found: Option<SessionRecord> = get_json(&sessions, id?.value())?;
                out.extend(found.filter(|s| s.is_live(now)));
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
        self.write(move |txn| {
            let entry: Option<RefreshEntry> = get_json(&txn.open_table(REFRESH)?, &presented)?;
            let entry = match entry {
                Some(entry) if entry.expires_at > unix(now) => entry,
                _ => return Ok(RefreshOutcome::Unknown),
            };
            let session = get_json(&txn.open_table(SESSIONS)?, &entry.session_id)?;
            Ok(
                match rules::rotation(session, &presented, &replacement, now) {
                    Rotation::Refuse(outcome) => outcome,
                    Rotation::RevokeForReuse(outcome) => {
                        delete_session(txn, &entry.session_id)?;
                        outcome
                    }
                    Rotation::Rotate(s) => {
                        put_session(txn, &s)?;
                        put_refresh(txn, &replacement, &s)?;
                        // The old digest stays, pointing at the session, so that a replay of it
                        // is recognised as reuse.
                        put_refresh(txn, &presented, &s)?;
                        RefreshOutcome::Rotated(s)
                    }
                },
            )
        })
        .await
    }

    async fn find_by_refresh(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let digest = digest.to_owned();
        self.read(move |txn| {
            let Some(entry) = get_json::<RefreshEntry>(&txn.open_table(REFRESH)?, &digest)? else {
                return Ok(None);
            };
            let found: Option<SessionRecord> =
                get_json(&txn.open_table(SESSIONS)?, &entry.session_id)?;
            Ok(found.filter(|s| s.is_live(now) && s.refresh_digest == digest))
        })
        .await
    }

    async fn revoke_session(&self, user_id: Uuid, id: &str) -> StoreResult<Option<SessionRecord>> {
        let id = id.to_owned();
        // lastActivity is shown to people, never checked: not worth an fsync.
        self.write_lazily(move |txn| {
            let found: Option<SessionRecord> = get_json(&txn.open_table(SESSIONS)?, &id)?;
            if found.is_some_and(|s| s.user_id == user_id) {
                delete_session(txn, &id)
            } else {
                Ok(None)
            }
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let keep = keep.map(str::to_owned);
        self.write(move |txn| {
            let mut revoked = Vec::new();
            for id in user_session_ids(txn, &user_id.to_string())? {
                if keep.as_deref() != Some(id.as_str()) {
                    delete_session(txn, &id)?;
                    revoked.push(id);
                }
            }
            Ok(revoked)
        })
        .await
    }

    async fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64> {
        let client_id = client_id.to_owned();
        self.write(move |txn| {
            Ok(delete_sessions_where(txn, |s| s.client_id == client_id)?.len() as u64)
        })
        .await
    }

    async fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.scan(move |txn| {
            let sessions = scan_json::<SessionRecord>(&txn.open_table(SESSIONS)?)?;
            Ok(sessions.iter().filter(|(_, s)| s.is_live(now)).count() as u64)
        })
        .await
    }

    async fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        let id = id.to_owned();
        // lastActivity is shown to people, never checked: not worth an fsync.
        self.write_lazily(move |txn| {
            let found: Option<SessionRecord> = get_json(&txn.open_table(SESSIONS)?, &id)?;
            if let Some(mut s) = found.filter(|s| s.user_id == user_id && s.is_live(now)) {
                s.last_activity = now;
                put_session(txn, &s)?;
            }
            Ok(())
        })
        .await
    }

    async fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()> {
        let jti = jti.to_owned();
        self.write(move |txn| {
            txn.open_table(BLOCKED_JTI)?
                .insert(jti.as_str(), unix(until))?;
            Ok(())
        })
        .await
    }

    async fn bearer_state(
        &self,
        jti: &str,
        user_id: Uuid,
        session_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<BearerState> {
        let (jti, session_id) = (jti.to_owned(), session_id.to_owned());
        self.read(move |txn| {
            Ok(BearerState {
                jti_blocked: jti_blocked(txn, &jti, now)?,
                session: live_session(txn, user_id, &session_id, now)?,
            })
        })
        .await
    }

    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.read(move |txn| jti_blocked(txn, &jti, now)).await
    }

    /// Sweeps every table with expiring entries, not only sessions: the embedded store has no
    /// native expiry, and one periodic job is simpler than one per trait.
    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let retention = self.audit_retention;
        self.write(move |txn| {
            let mut removed = delete_sessions_where(txn, |s| !s.is_live(now))?.len() as u64;
            let mut count = |keep: bool| {
                removed += u64::from(!keep);
                keep
            };

            let cutoff = unix(now);
            txn.open_table(REFRESH)?.retain(|_, bytes| {
                count(decode::<RefreshEntry>(bytes).is_ok_and(|e| e.expires_at > cutoff))
            })?;
            txn.open_table(BLOCKED_JTI)?
                .retain(|_, until| count(until > cutoff))?;
            txn.open_table(ONE_TIME_TOKENS)?.retain(|_, bytes| {
                count(decode::<OneTimeTokenRecord>(bytes).is_ok_and(|t| t.purge_at() > now))
            })?;
            let oldest_kept = AuditEvent::new_id(now - retention);
            txn.open_table(AUDIT)?
                .retain(|id, _| count(id >= oldest_kept.as_str()))?;
            let now_secs = now.unix_timestamp();
            txn.open_table(CODES)?
                .retain(|_, (_, expires)| count(expires > now_secs))?;
            Ok(removed)
        })
        .await
    }
}
