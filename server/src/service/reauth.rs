//! Re-authentication for sensitive changes (SPEC section 4): MFA enrolment and removal, new
//! backup codes, password change, account deletion and role changes need a sign-in within
//! `SIGIL_REAUTHENTICATION_WINDOW`, or the current password with the request. A stolen access
//! token alone therefore cannot take the account over.

use crate::audit::AuditAction;
use zeroize::Zeroizing;

use super::ClientInfo;
use super::lockout;
use super::principal::Principal;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Passes with a sign-in within the window, or with the current password. A password sent is
/// always checked, under the lockout rule: a wrong one counts as a failed login. (Changes
/// whose contract already requires the password, such as change-password, check it with
/// [`lockout::check_password`] directly.)
pub async fn require(
    state: &AppState,
    principal: &Principal,
    password: Option<Zeroizing<String>>,
    client: &ClientInfo,
) -> ApiResult<()> {
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        lockout::check_password(
            state,
            &principal.user,
            password,
            client,
            AuditAction::ReauthenticationFailed,
            ApiError::new(ErrorCode::InvalidCredentials, "The password is incorrect"),
        )
        .await?;
        return Ok(());
    }
    if is_recent(state, principal) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::ReauthenticationRequired,
        "Sign in again, or send your current password as \"password\", to do this",
    ))
}

fn is_recent(state: &AppState, principal: &Principal) -> bool {
    let window = time::Duration::try_from(state.config.reauthentication_window)
        .unwrap_or(time::Duration::ZERO);
    principal
        .auth_time()
        .is_some_and(|at| state.clock.now() - at <= window)
}
