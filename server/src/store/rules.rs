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
        // Expired is forgotten: what a backend answers once its expiry has removed the entry.
        Some(s) if !s.is_live(now) => Rotation::Refuse(RefreshOutcome::Unknown),
        Some(s) if s.refresh_digest != presented => {
            Rotation::RevokeForReuse(RefreshOutcome::Reused {
                session_id: s.id,
                user_id: s.user_id,
            })
        }
        Some(mut s) => {
            s.refresh_digest = replacement.to_owned();
            s.last_activity = now;
            let slid = now + time::Duration::seconds(i64::try_from(s.ttl_secs).unwrap_or(i64::MAX));
            s.expires_at = s.ends_at.map_or(slid, |end| slid.min(end));
            Rotation::Rotate(s)
        }
    }
}

/// An admin who can act: the "last admin" rule counts these.
pub fn is_active_admin(user: &UserRecord) -> bool {
    user.status == crate::domain::UserStatus::Active
        && user.roles.contains(&crate::domain::Role::Admin)
}

/// Whether changing `before` into `after` takes away an active admin; then the change needs
/// another active admin to remain (`other_admins` > 0).
pub fn demotes_an_admin(before: &UserRecord, after: &UserRecord) -> bool {
    is_active_admin(before) && !is_active_admin(after)
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
    user.last_failed_login = Some(now);
    if user.failed_logins >= policy.threshold {
        user.failed_logins = 0;
        user.locked_until = Some(now + policy.duration);
    }
}

/// Devices remembered per user for "new sign-in" notices.
pub const KNOWN_DEVICES_MAX: usize = 20;

pub fn login_succeeded(user: &mut UserRecord, now: OffsetDateTime, device: Option<&str>) {
    user.failed_logins = 0;
    user.locked_until = None;
    user.last_login = Some(now);
    if let Some(device) = device {
        // Most recent last; the least recently used falls off.
        user.known_devices.retain(|d| d != device);
        user.known_devices.push(device.to_owned());
        let excess = user.known_devices.len().saturating_sub(KNOWN_DEVICES_MAX);
        user.known_devices.drain(..excess);
    }
}

pub fn unlock(user: &mut UserRecord, now: OffsetDateTime) {
    user.failed_logins = 0;
    user.locked_until = None;
    user.updated_at = now;
}

/// Sessions sorted the way every backend lists them: oldest first.
pub fn sort_sessions(sessions: &mut [SessionRecord]) {
    sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
}

/// The fixed window containing `now`: its start (the counter's key suffix) and its end.
pub fn rate_window(now: OffsetDateTime, window: std::time::Duration) -> (i64, OffsetDateTime) {
    let length = i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX);
    let start = now.unix_timestamp().div_euclid(length) * length;
    let end = OffsetDateTime::from_unix_timestamp(start.saturating_add(length)).unwrap_or(now);
    (start, end)
}

/// The decision for the `count`-th hit of a window.
pub fn rate_decision(count: u64, limit: u64, reset_at: OffsetDateTime) -> super::RateDecision {
    super::RateDecision {
        allowed: count <= limit,
        limit,
        remaining: limit.saturating_sub(count),
        reset_at,
    }
}

/// What a one-time token lookup means at `now`.
pub fn consumption(
    found: Option<super::OneTimeTokenRecord>,
    purpose: super::TokenPurpose,
    now: OffsetDateTime,
) -> super::ConsumeOutcome {
    use super::ConsumeOutcome;
    match found {
        Some(t) if t.purpose != purpose => ConsumeOutcome::Unknown,
        Some(t) if t.expires_at <= now => ConsumeOutcome::Expired,
        Some(t) => ConsumeOutcome::Consumed(t),
        None => ConsumeOutcome::Unknown,
    }
}

/// Whether a user passes the query's filters (for backends that filter in memory).
pub fn user_matches(query: &super::UserQuery, user: &UserRecord) -> bool {
    query.status.is_none_or(|s| user.status == s)
        && query.role.is_none_or(|r| user.roles.contains(&r))
        && query.search.as_deref().is_none_or(|needle| {
            user.email_normalized.contains(needle) || user.username_normalized.contains(needle)
        })
}

/// Sorts users the way every backend does: by the query's field, then by id.
pub fn sort_users(users: &mut [UserRecord], query: &super::UserQuery) {
    use super::UserSort;
    users.sort_by(|a, b| {
        let order = match query.sort {
            UserSort::CreatedAt => a.created_at.cmp(&b.created_at),
            UserSort::Email => a.email_normalized.cmp(&b.email_normalized),
            UserSort::Username => a.username_normalized.cmp(&b.username_normalized),
            UserSort::LastLogin => a.last_login.cmp(&b.last_login),
        }
        .then_with(|| a.id.cmp(&b.id));
        if query.descending {
            order.reverse()
        } else {
            order
        }
    });
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: OffsetDateTime, ends_at: Option<OffsetDateTime>) -> SessionRecord {
        SessionRecord {
            id: "s".into(),
            user_id: uuid::Uuid::nil(),
            client_id: "sigil".into(),
            refresh_digest: "a".into(),
            created_at: created,
            last_activity: created,
            // Live throughout the test; the rotation decides the new expiry.
            expires_at: created + time::Duration::days(60),
            ttl_secs: 7 * 86_400,
            ends_at,
            auth_time: created,
            amr: vec![],
            remember_me: false,
            ip: None,
            user_agent: None,
            scope: None,
            resources: vec![],
            dpop_jkt: None,
        }
    }

    /// A refresh slides the expiry by the session's ttl, but never past its absolute end.
    #[test]
    fn rotation_slides_up_to_the_absolute_end() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let end = t + time::Duration::days(30);
        let at = |days| t + time::Duration::days(days);
        let Rotation::Rotate(early) = rotation(Some(session(t, Some(end))), "a", "b", at(5)) else {
            panic!("not rotated")
        };
        assert_eq!(early.expires_at, at(12));
        assert_eq!(early.refresh_digest, "b");
        let Rotation::Rotate(late) = rotation(Some(session(t, Some(end))), "a", "b", at(29)) else {
            panic!("not rotated")
        };
        assert_eq!(late.expires_at, end);
        let Rotation::Rotate(old) = rotation(Some(session(t, None)), "a", "b", at(29)) else {
            panic!("not rotated")
        };
        assert_eq!(old.expires_at, at(36));
        assert_eq!(
            rotation(Some(session(t, Some(end))), "x", "b", at(1)),
            Rotation::RevokeForReuse(RefreshOutcome::Reused {
                session_id: "s".into(),
                user_id: uuid::Uuid::nil(),
            })
        );
    }
}
