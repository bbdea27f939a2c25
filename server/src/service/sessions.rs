//! Sessions: opening one (with its refresh token or SSO cookie), the REST refresh and logout.

use time::OffsetDateTime;
use uuid::Uuid;

use serde_json::json;

use super::principal::Principal;
use super::{ClientInfo, refresh};
use crate::audit::{self, Audit, AuditAction};
use crate::crypto::{random_token, token_digest};
use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::SessionRecord;
use crate::tokens::{AccessGrant, FIRST_PARTY_CLIENT_ID, issue_access};

/// What a successful login or refresh hands out.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub session: SessionRecord,
    pub user: UserRecord,
}

/// What a new session is for.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub client_id: String,
    pub remember_me: bool,
    pub amr: Vec<String>,
    pub auth_time: OffsetDateTime,
    pub scope: Option<String>,
    /// RFC 8707 resources its access tokens may be addressed to.
    pub resources: Vec<String>,
    pub secret: SessionSecret,
    /// The DPoP key its refresh token is bound to (public clients that proved one).
    pub dpop_jkt: Option<String>,
}

/// What a session's secret is. Each kind is hashed under a label of its own, so that a
/// secret of one kind never matches a session of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSecret {
    /// A refresh token, presented to a refresh endpoint.
    RefreshToken,
    /// The browser's SSO cookie, read only by the hosted pages.
    SsoCookie,
}

impl SessionSecret {
    pub fn digest(self, secret: &str) -> String {
        match self {
            Self::RefreshToken => token_digest(secret),
            Self::SsoCookie => token_digest(&format!("sigil-sso-cookie:{secret}")),
        }
    }
}

/// Opens a session with a fresh refresh token; returns it with the token.
pub async fn open_session(
    state: &AppState,
    user: &UserRecord,
    new: NewSession,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> ApiResult<(SessionRecord, String)> {
    let (ttl, max_lifetime) = if new.remember_me {
        (
            state.config.remember_me_ttl,
            state.config.remember_me_max_lifetime,
        )
    } else {
        (
            state.config.refresh_token_ttl,
            state.config.session_max_lifetime,
        )
    };
    let ends_at = now + max_lifetime;
    let refresh_token = random_token();
    let session = SessionRecord {
        id: Uuid::new_v4().to_string(),
        user_id: user.id,
        client_id: new.client_id,
        refresh_digest: new.secret.digest(&refresh_token),
        created_at: now,
        last_activity: now,
        expires_at: (now + ttl).min(ends_at),
        ttl_secs: ttl.as_secs(),
        ends_at: Some(ends_at),
        auth_time: new.auth_time,
        amr: new.amr,
        remember_me: new.remember_me,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        scope: new.scope,
        resources: new.resources,
        dpop_jkt: new.dpop_jkt,
    };
    let evicted = state
        .stores
        .sessions
        .create_session(&session, state.config.max_sessions_per_user, now)
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::LoginSucceeded, user.id).details(json!({
            "sessionId": session.id,
            "clientId": session.client_id,
            "sessionsEvicted": evicted,
            "amr": session.amr,
        })),
    )
    .await;
    Ok((session, refresh_token))
}

/// Exchanges a first-party refresh token for a new pair (`/v1/auth/refresh`); another
/// client's refresh token is refused as unknown.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    client: &ClientInfo,
) -> ApiResult<IssuedTokens> {
    let now = state.clock.now();
    let presented = refresh::present(state, refresh_token, FIRST_PARTY_CLIENT_ID).await?;
    let rotated = refresh::rotate(state, presented, FIRST_PARTY_CLIENT_ID, client).await?;
    let grant = AccessGrant::whole_session(&state.config, &rotated.session);
    let (access_token, expires_in) =
        issue_access(state, &rotated.user, &rotated.session, &grant, now)?;
    state.metrics.token_issued("refresh_token");
    Ok(IssuedTokens {
        access_token,
        refresh_token: rotated.refresh_token,
        expires_in,
        session: rotated.session,
        user: rotated.user,
    })
}

/// Ends the caller's session (or all of the user's), identified by a valid access token, a
/// refresh token, or both. The access token's `jti` is blocked until it expires.
pub async fn logout(
    state: &AppState,
    client: &ClientInfo,
    principal: Option<&Principal>,
    refresh_token: Option<&str>,
    all_devices: bool,
) -> ApiResult<()> {
    let now = state.clock.now();
    let by_refresh = match refresh_token {
        Some(token) => {
            state
                .stores
                .sessions
                .find_by_refresh(&token_digest(token), now)
                .await?
                // Only Sigil's own sessions end here; an OAuth client revokes at /oauth2/revoke.
                .filter(|s| s.client_id == FIRST_PARTY_CLIENT_ID)
        }
        None => None,
    };
    let user_id = principal
        .map(|p| p.user.id)
        .or(by_refresh.as_ref().map(|s| s.user_id));
    let Some(user_id) = user_id else {
        return Err(match refresh_token {
            Some(_) => ApiError::new(
                ErrorCode::InvalidRefreshToken,
                "The refresh token is invalid or expired",
            ),
            None => ApiError::new(
                ErrorCode::MissingAuthHeader,
                "Send a valid access token or refresh token to log out",
            ),
        });
    };
    if let Some(principal) = principal {
        let until = OffsetDateTime::from_unix_timestamp(
            i64::try_from(principal.claims.exp).unwrap_or(i64::MAX),
        )
        .unwrap_or(now);
        state
            .stores
            .sessions
            .block_jti(&principal.claims.jti, until)
            .await?;
    }
    let revoked = if all_devices {
        state
            .stores
            .sessions
            .revoke_user_sessions(user_id, None)
            .await?
    } else {
        let mut revoked = Vec::new();
        for sid in principal
            .map(|p| p.session_id.clone())
            .into_iter()
            .chain(by_refresh.map(|s| s.id))
        {
            let removed = state.stores.sessions.revoke_session(user_id, &sid).await?;
            if removed.is_some() {
                revoked.push(sid);
            }
        }
        revoked
    };
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::Logout, user_id)
            .details(json!({ "allDevices": all_devices, "sessionsRevoked": revoked })),
    )
    .await;
    Ok(())
}
