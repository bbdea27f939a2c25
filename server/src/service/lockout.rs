//! The lockout rule (SPEC section 7), in one place: every check of a password or a second
//! factor made on the user's behalf (login, the MFA step, re-authentication) counts a failure
//! here, and a locked account is refused here.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ClientInfo;
use crate::audit::{self, Audit, AuditAction};
use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::MailKind;
use crate::state::AppState;

/// 423 `ACCOUNT_LOCKED` with the time left as `retryAfter`.
pub fn locked(user: &UserRecord, now: OffsetDateTime) -> ApiError {
    let wait = user
        .locked_until
        .map(|until| (until - now).whole_seconds().max(1))
        .unwrap_or(1);
    ApiError::new(
        ErrorCode::AccountLocked,
        "The account is locked after too many failed logins",
    )
    .with_retry_after(Duration::from_secs(u64::try_from(wait).unwrap_or(1)))
}

/// Refuses a locked account before any secret is checked.
pub fn ensure_unlocked(user: &UserRecord, now: OffsetDateTime) -> ApiResult<()> {
    if user.is_locked(now) {
        Err(locked(user, now))
    } else {
        Ok(())
    }
}

/// A failed proof: audits it as `action` with `reason`, counts it, and locks the account
/// (audited, mailed) when the threshold is reached. Answers `refusal`, or 423 once locked.
pub async fn record_failure(
    state: &AppState,
    user: &UserRecord,
    client: &ClientInfo,
    action: AuditAction,
    reason: &str,
    refusal: ApiError,
) -> ApiResult<ApiError> {
    let now = state.clock.now();
    let after = state
        .stores
        .users
        .record_login_failure(user.id, now, state.config.lockout)
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(action, user.id).details(json!({ "reason": reason })),
    )
    .await;
    if let Some(after) = after.filter(|u| u.is_locked(now)) {
        audit::record(
            state,
            client,
            Audit::by_user(AuditAction::AccountLocked, user.id),
        )
        .await;
        if let Some(until) = after.locked_until {
            state
                .mailer
                .send(&after, MailKind::AccountLocked { until })
                .await;
        }
        return Ok(locked(&after, now));
    }
    Ok(refusal)
}

/// Outcome of a password check that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordAccepted {
    /// The stored hash uses old parameters and should be upgraded.
    pub outdated: bool,
}

/// Checks the user's password under the lockout rule: a locked account is refused unchecked,
/// a wrong password counts as a failed login (`action` names the audit event) and answers
/// `refusal` (or 423 once locked).
pub async fn check_password(
    state: &AppState,
    user: &UserRecord,
    password: Zeroizing<String>,
    client: &ClientInfo,
    action: AuditAction,
    refusal: ApiError,
) -> ApiResult<PasswordAccepted> {
    ensure_unlocked(user, state.clock.now())?;
    let check = state
        .hasher
        .verify(password, user.password_hash.clone())
        .await?;
    if check.matches {
        return Ok(PasswordAccepted {
            outdated: check.outdated,
        });
    }
    Err(record_failure(state, user, client, action, "bad_password", refusal).await?)
}
