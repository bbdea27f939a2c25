//! Refresh-token rotation (SPEC sections 4 and 6), the one implementation behind
//! `/v1/auth/refresh` and the `refresh_token` grant of `/oauth2/token`.
//!
//! A refresh token works only for the client it was issued to, rotates on every use, and a
//! rotated-out token presented again revokes its whole session (audited as
//! `refresh.reuse_detected`, which `/metrics` counts). A user who may no longer sign in loses
//! the session at the first refresh.

use serde_json::json;

use super::ClientInfo;
use super::account_status::ensure_may_sign_in;
use crate::audit::{self, Audit, AuditAction};
use crate::crypto::{random_token, token_digest};
use crate::domain::UserRecord;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::{RefreshOutcome, SessionRecord};

/// A rotated session and the token that replaces the presented one.
#[derive(Debug)]
pub struct Rotated {
    pub session: SessionRecord,
    pub user: UserRecord,
    pub refresh_token: String,
}

/// Why a refresh was refused. Each surface renders it in its own format.
#[derive(Debug)]
pub enum Refused {
    /// Nobody issued this token, or it belongs to another client.
    Unknown,
    /// The session is gone, or this was a reuse and the session has just been revoked.
    Revoked,
    /// The user may no longer sign in (the session has been ended).
    Account(ApiError),
    /// The check could not be made (store down).
    Failed(ApiError),
}

impl From<ApiError> for Refused {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Failed(err.into())
    }
}

/// A presented refresh token, looked up once.
#[derive(Debug)]
pub struct Presented {
    digest: String,
    /// Its session, when the token is current (a caller may check the request against it
    /// before anything rotates).
    pub current: Option<SessionRecord>,
}

/// Looks the token up for `client_id`. Another client's token is refused before anything
/// rotates, so presenting it cannot disturb its owner's session.
pub async fn present(state: &AppState, token: &str, client_id: &str) -> Result<Presented, Refused> {
    let digest = token_digest(token);
    let current = state
        .stores
        .sessions
        .find_by_refresh(&digest, state.clock.now())
        .await?;
    if current.as_ref().is_some_and(|s| s.client_id != client_id) {
        return Err(Refused::Unknown);
    }
    Ok(Presented { digest, current })
}

/// Rotates the presented token if it is the current refresh token of a session of
/// `client_id`.
pub async fn rotate(
    state: &AppState,
    presented: Presented,
    client_id: &str,
    client: &ClientInfo,
) -> Result<Rotated, Refused> {
    let now = state.clock.now();
    let digest = presented.digest;
    let sessions = &state.stores.sessions;
    let replacement = random_token();
    let outcome = sessions
        .rotate_refresh(&digest, &token_digest(&replacement), now)
        .await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) if session.client_id == client_id => session,
        RefreshOutcome::Rotated(_) | RefreshOutcome::Unknown => return Err(Refused::Unknown),
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            audit::record(
                state,
                client,
                Audit::by_user(AuditAction::RefreshReuseDetected, user_id).details(json!({
                    "sessionId": session_id,
                    "clientId": client_id,
                    "sessionRevoked": true,
                })),
            )
            .await;
            return Err(Refused::Revoked);
        }
        RefreshOutcome::Revoked => return Err(Refused::Revoked),
    };
    let user = state.stores.users.get_user(session.user_id).await?;
    let Some(user) = user else {
        sessions
            .revoke_session(session.user_id, &session.id)
            .await?;
        return Err(Refused::Revoked);
    };
    if let Err(refused) = ensure_may_sign_in(state, &user) {
        sessions
            .revoke_session(session.user_id, &session.id)
            .await?;
        audit::record(
            state,
            client,
            Audit::by_user(AuditAction::SessionRevoked, user.id).details(json!({
                "sessionId": session.id,
                "clientId": client_id,
                "reason": refused.code.as_str(),
            })),
        )
        .await;
        return Err(Refused::Account(refused));
    }
    Ok(Rotated {
        session,
        user,
        refresh_token: replacement,
    })
}

/// The REST rendering: the seed API's codes.
impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Unknown => ApiError::new(
                ErrorCode::InvalidRefreshToken,
                "The refresh token is invalid or expired",
            ),
            Refused::Revoked => ApiError::token_revoked(),
            Refused::Account(err) | Refused::Failed(err) => err,
        }
    }
}
