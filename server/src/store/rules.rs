//! Decisions every backend makes the same way. Backends read, call these, and write what they
//! say inside their own atomic unit (a redb transaction, a Redis MULTI, a MongoDB
//! compare-and-swap), so that behaviour cannot drift between backends.

use time::OffsetDateTime;

use super::{LockoutPolicy, RefreshOutcome, SessionRecord};
use crate::domain::UserRecord;

/// What to do with the session a presented refresh token points at.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// Nothing to write.
    Refuse(RefreshOutcome),
    /// Delete the session (reuse detected), answer `Reused`.
    RevokeForReuse(RefreshOutcome),
    /// Store this updated session and index the replacement digest.
    Rotate(SessionRecord),
}

/// Decides a refresh-token rotation. `session` is the session the presented digest was issued
/// for, if it still exists.
pub fn rotation(
    session: Option<SessionRecord>,
    presented: &str,
    replacement: &str,
    now: OffsetDateTime,
) -> Rotation {
    match session {
        None => Rotation::Refuse(RefreshOutcome::Revoked),
        Some(s) if !s.is_live(now) => Rotation::Refuse(RefreshOutcome::Revoked),
        Some(s) if s.refresh_digest != presented => {
            Rotation::RevokeForReuse(RefreshOutcome::Reused {
                session_id: s.id,
                user_id: s.user_id,
            })
        }
        Some(mut s) => {
            s.refresh_digest = replacement.to_owned();
            s.last_activity = now;
            s.expires_at =
                now + time::Duration::seconds(i64::try_from(s.ttl_secs).unwrap_or(i64::MAX));
            Rotation::Rotate(s)
        }
    }
}

/// Splits a user's sessions into the ones to drop: expired ones, then the oldest live ones
/// beyond `max_per_user`. Returns `(expired, evicted)` ids.
pub fn session_cleanup(
    mut sessions: Vec<SessionRecord>,
    max_per_user: usize,
    now: OffsetDateTime,
) -> (Vec<String>, Vec<String>) {
    let expired = sessions
        .iter()
        .filter(|s| !s.is_live(now))
        .map(|s| s.id.clone())
        .collect();
    sessions.retain(|s| s.is_live(now));
    sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let excess = sessions.len().saturating_sub(max_per_user.max(1));
    let evicted = sessions.into_iter().take(excess).map(|s| s.id).collect();
    (expired, evicted)
}

/// Counts a failed login; locks the account when the count reaches the threshold. Failures
/// while locked change nothing.
pub fn login_failed(user: &mut UserRecord, now: OffsetDateTime, policy: LockoutPolicy) {
    if user.is_locked(now) {
        return;
    }
    user.failed_logins = user.failed_logins.saturating_add(1);
    if user.failed_logins >= policy.threshold {
        user.failed_logins = 0;
        user.locked_until = Some(now + policy.duration);
    }
}

pub fn login_succeeded(user: &mut UserRecord, now: OffsetDateTime) {
    user.failed_logins = 0;
    user.locked_until = None;
    user.last_login = Some(now);
}

/// Sessions sorted the way every backend lists them: oldest first.
pub fn sort_sessions(sessions: &mut [SessionRecord]) {
    sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
}
