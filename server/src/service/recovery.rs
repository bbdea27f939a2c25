//! Forgotten passwords: a one-hour, single-use reset link.

use zeroize::Zeroizing;

use super::ClientInfo;
use super::verification::{issue_token, token_refusal};
use crate::audit::{self, Audit, AuditAction};
use crate::crypto::token_digest;
use crate::domain::{Login, Password, PasswordContext, UserStatus};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{ConsumeOutcome, TokenPurpose};

pub const RESET_TOKEN_TTL: time::Duration = time::Duration::hours(1);

/// Starts a reset. The work runs in the background and the caller answers at once, so that
/// neither the answer nor its timing tells whether the account exists.
pub fn forgot_password(state: &AppState, email: String, client: ClientInfo) {
    let state = state.clone();
    super::after_answering("password reset mail", async move {
        send_reset(&state, &email, &client).await
    });
}

async fn send_reset(state: &AppState, email: &str, client: &ClientInfo) -> ApiResult<()> {
    let Some(user) = state.stores.users.find_user(&Login::email(email)).await? else {
        return Ok(());
    };
    if matches!(user.status, UserStatus::Deleted | UserStatus::Suspended) {
        return Ok(());
    }
    let now = state.clock.now();
    let token = issue_token(
        state,
        &user,
        TokenPurpose::ResetPassword,
        RESET_TOKEN_TTL,
        now,
    )
    .await?;
    let link = format!("{}/reset-password?token={token}", state.config.issuer);
    state
        .mailer
        .send(&user, MailKind::ResetPassword { link })
        .await;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::PasswordResetRequested, user.id),
    )
    .await;
    Ok(())
}

/// Sets a new password with a reset token: every session ends, the lock is lifted.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    password: Zeroizing<String>,
    client: &ClientInfo,
) -> ApiResult<()> {
    let now = state.clock.now();
    let digest = token_digest(token);
    // Check the token and the password before using the token up, so a rejected password
    // does not cost the user their link.
    let outcome = state
        .stores
        .tokens
        .peek_token(&digest, TokenPurpose::ResetPassword, now)
        .await?;
    if let Some(refusal) = token_refusal(&outcome) {
        return Err(refusal);
    }
    let ConsumeOutcome::Consumed(record) = outcome else {
        return Err(ApiError::internal("unreachable token outcome"));
    };
    let user = state
        .stores
        .users
        .get_user(record.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::LinkNotFound,
                "The link is invalid or was already used",
            )
        })?;
    let password = Password::parse(
        "newPassword",
        password,
        PasswordContext {
            username: &user.username,
            email: &user.email,
        },
    )
    .map_err(|e| ApiError::validation(vec![e]))?;
    let consumed = state
        .stores
        .tokens
        .consume_token(&digest, TokenPurpose::ResetPassword, now)
        .await?;
    if let Some(refusal) = token_refusal(&consumed) {
        return Err(refusal);
    }
    let hash = state.hasher.hash(password.into_inner()).await?;
    state
        .stores
        .users
        .set_password_hash(user.id, &hash, true, now)
        .await?;
    state.stores.users.unlock(user.id, now).await?;
    let revoked = state
        .stores
        .sessions
        .revoke_user_sessions(user.id, None)
        .await?;
    state
        .mailer
        .send(&user, MailKind::PasswordChanged { at: now })
        .await;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::PasswordReset, user.id)
            .details(serde_json::json!({ "sessionsRevoked": revoked.len() })),
    )
    .await;
    Ok(())
}

/// A blank or missing field as a validation error.
pub fn required(field: &str, value: Option<String>) -> ApiResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::validation(vec![FieldError::required(field)]))
}
