//! Email verification: a one-time link mailed at registration (and on request).

use time::OffsetDateTime;

use super::ClientInfo;
use crate::audit::{self, Audit, AuditAction};
use crate::crypto::{random_token, token_digest};
use crate::domain::{Login, UserRecord, UserStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{ConsumeOutcome, OneTimeTokenRecord, TokenPurpose};

/// Issues a new one-time token of `purpose` for the user (older ones die) and returns it.
pub async fn issue_token(
    state: &AppState,
    user: &UserRecord,
    purpose: TokenPurpose,
    valid_for: time::Duration,
    now: OffsetDateTime,
) -> ApiResult<String> {
    state.stores.tokens.revoke_tokens(user.id, purpose).await?;
    let token = random_token();
    state
        .stores
        .tokens
        .insert_token(&OneTimeTokenRecord {
            digest: token_digest(&token),
            purpose,
            user_id: user.id,
            created_at: now,
            expires_at: now + valid_for,
        })
        .await?;
    Ok(token)
}

fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 86_400 == 0 && s >= 86_400 => {
            format!("{} days", s / 86_400).replace("1 days", "1 day")
        }
        s if s % 3_600 == 0 && s >= 3_600 => {
            format!("{} hours", s / 3_600).replace("1 hours", "1 hour")
        }
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

pub async fn send_verification(state: &AppState, user: &UserRecord) -> ApiResult<()> {
    let ttl = state.config.verification_token_ttl;
    let valid_for = time::Duration::try_from(ttl).map_err(ApiError::internal)?;
    let token = issue_token(
        state,
        user,
        TokenPurpose::VerifyEmail,
        valid_for,
        state.clock.now(),
    )
    .await?;
    let link = format!("{}/verify-email?token={token}", state.config.issuer);
    state
        .mailer
        .send(
            user,
            MailKind::VerifyEmail {
                link,
                valid_for: human(ttl),
            },
        )
        .await;
    Ok(())
}

/// Maps a used-up or unusable one-time token to the seed API's answers.
pub fn token_refusal(outcome: &ConsumeOutcome) -> Option<ApiError> {
    match outcome {
        ConsumeOutcome::Consumed(_) => None,
        ConsumeOutcome::Expired => Some(ApiError::new(
            ErrorCode::TokenGone,
            "The link has expired; ask for a new one",
        )),
        ConsumeOutcome::Unknown => Some(ApiError::new(
            ErrorCode::LinkNotFound,
            "The link is invalid or was already used",
        )),
    }
}

/// Confirms the address behind `token`: the user becomes verified, and active if pending.
pub async fn verify_email(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
) -> ApiResult<UserRecord> {
    let now = state.clock.now();
    let outcome = state
        .stores
        .tokens
        .consume_token(&token_digest(token), TokenPurpose::VerifyEmail, now)
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
    let status = match user.status {
        UserStatus::Pending => UserStatus::Active,
        other => other,
    };
    let user = state
        .stores
        .users
        .set_status(user.id, status, true, now)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::EmailVerified, user.id),
    )
    .await;
    Ok(user)
}

/// Sends a new link to an unverified account. The lookup and the mail run after the caller
/// has answered, so neither the answer nor its timing tells who has an account.
pub fn resend_verification(state: &AppState, email: String) {
    let state = state.clone();
    super::after_answering("verification mail", async move {
        let user = state.stores.users.find_user(&Login::email(&email)).await?;
        if let Some(user) = user.filter(|u| !u.email_verified && u.status != UserStatus::Deleted) {
            send_verification(&state, &user).await?;
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    /// Link lifetimes read naturally in mails.
    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(86_400)), "1 day");
        assert_eq!(human(Duration::from_secs(2 * 86_400)), "2 days");
        assert_eq!(human(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(human(Duration::from_secs(5_400)), "90 minutes");
    }
}
