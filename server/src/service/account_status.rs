//! The one account-status rule: which users may sign in or keep using a session. Login,
//! refresh, every access-token check and the hosted pages call it.

use crate::domain::{UserRecord, UserStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Refuses users who may not hold a session: pending (while verification is required),
/// suspended and deleted accounts.
pub fn ensure_may_sign_in(state: &AppState, user: &UserRecord) -> ApiResult<()> {
    match user.status {
        UserStatus::Active => Ok(()),
        UserStatus::Pending if !state.config.require_email_verification => Ok(()),
        UserStatus::Pending => Err(ApiError::new(
            ErrorCode::EmailNotVerified,
            "Verify your email address before signing in",
        )),
        UserStatus::Suspended => Err(ApiError::new(
            ErrorCode::AccountSuspended,
            "The account is suspended",
        )),
        UserStatus::Deleted => Err(ApiError::new(
            ErrorCode::AccountDeleted,
            "The account has been deleted",
        )),
    }
}
