//! Login, refresh-token rotation and logout.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use serde_json::json;

use super::principal::Principal;
use super::{ClientInfo, mfa};
use crate::audit::{self, Audit};
use crate::crypto::{random_token, token_digest};
use crate::device;
use crate::domain::password::PASSWORD_MAX_BYTES;
use crate::domain::{Login, UserRecord, UserStatus};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{RefreshOutcome, SessionRecord};
use crate::tokens::{FIRST_PARTY_CLIENT_ID, issue_access};

/// What a successful login or refresh hands out.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub session: SessionRecord,
    pub user: UserRecord,
}

#[derive(Debug)]
pub struct LoginInput {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub remember_me: bool,
}

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

/// Refuses users who may not hold a session, after their password was checked.
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

pub async fn login(
    state: &AppState,
    input: LoginInput,
    client: ClientInfo,
) -> ApiResult<IssuedTokens> {
    let remember_me = input.remember_me;
    let user = check_credentials(state, input, &client).await?;
    let now = state.clock.now();
    complete_login(
        state,
        user,
        remember_me,
        vec!["pwd".to_owned()],
        &client,
        now,
    )
    .await
}

/// Everything a password login checks: the identifier, lockout, the password, the account's
/// status. With MFA on it answers `MFA_REQUIRED` and an `mfaToken` for the second step.
pub async fn check_credentials(
    state: &AppState,
    input: LoginInput,
    client: &ClientInfo,
) -> ApiResult<UserRecord> {
    let login = match (input.email.as_deref(), input.username.as_deref()) {
        (Some(email), None) => Login::email(email),
        (None, Some(username)) => Login::username(username),
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "email",
                "Give either email or username, not both",
            )]));
        }
        (None, None) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "email",
                "Email or username is required",
            )]));
        }
    };
    let password = input.password.ok_or_else(|| {
        ApiError::validation(vec![FieldError::new("password", "Password is required")])
    })?;
    // No stored password is this long; refuse before spending a hash on it.
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::invalid_credentials());
    }

    let now = state.clock.now();
    let Some(user) = state.stores.users.find_user(&login).await? else {
        state.hasher.verify_dummy(password).await?;
        audit::record(
            state,
            client,
            Audit {
                action: "login.failed",
                actor: None,
                target: None,
                details: json!({ "reason": "unknown_user" }),
            },
        )
        .await;
        return Err(ApiError::invalid_credentials());
    };
    if user.is_locked(now) {
        audit::record(
            state,
            client,
            Audit::by_user("login.failed", user.id).details(json!({ "reason": "locked" })),
        )
        .await;
        return Err(locked(&user, now));
    }
    let check = state
        .hasher
        .verify(password.clone(), user.password_hash.clone())
        .await?;
    if !check.matches {
        let after = state
            .stores
            .users
            .record_login_failure(user.id, now, state.config.lockout)
            .await?;
        audit::record(
            state,
            client,
            Audit::by_user("login.failed", user.id).details(json!({ "reason": "bad_password" })),
        )
        .await;
        if let Some(after) = after.filter(|u| u.is_locked(now)) {
            audit::record(state, client, Audit::by_user("account.locked", user.id)).await;
            if let Some(until) = after.locked_until {
                state.mailer.send(&after, MailKind::AccountLocked { until });
            }
            return Err(locked(&after, now));
        }
        return Err(ApiError::invalid_credentials());
    }
    if let Err(refused) = ensure_may_sign_in(state, &user) {
        audit::record(
            state,
            client,
            Audit::by_user("login.failed", user.id)
                .details(json!({ "reason": refused.code.as_str() })),
        )
        .await;
        return Err(refused);
    }

    if check.outdated {
        // Upgrade the stored hash to the current parameters while we hold the password.
        let hash = state.hasher.hash(password).await?;
        state
            .stores
            .users
            .set_password_hash(user.id, &hash, false, now)
            .await?;
    }
    if user.mfa.enabled {
        let token = mfa::open_challenge(state, &user, input.remember_me, client, now).await?;
        audit::record(state, client, Audit::by_user("login.mfa_required", user.id)).await;
        return Err(ApiError::new(
            ErrorCode::MfaRequired,
            "Enter the code from your authenticator app (or a backup code)",
        )
        .with_mfa_token(token));
    }
    Ok(user)
}

/// Clears failures, remembers the device and announces a new one: the common part of every
/// successful sign-in (REST, MFA, hosted login page).
pub async fn record_sign_in(
    state: &AppState,
    user: UserRecord,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> ApiResult<UserRecord> {
    let fingerprint = device::fingerprint(client.user_agent.as_deref());
    let known_before = user.known_devices.clone();
    let user = state
        .stores
        .users
        .record_login_success(user.id, now, fingerprint.as_deref())
        .await?
        .ok_or_else(ApiError::invalid_credentials)?;
    if let Some(fingerprint) = &fingerprint
        && !known_before.is_empty()
        && !known_before.contains(fingerprint)
    {
        let seen = device::parse(client.user_agent.as_deref());
        state.mailer.send(
            &user,
            MailKind::NewSignIn {
                browser: seen.browser,
                os: seen.os,
                device: seen.device,
                ip: client.ip.clone().unwrap_or_else(|| "unknown".into()),
                at: now,
            },
        );
    }
    Ok(user)
}

/// What a new session is for.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub client_id: String,
    pub remember_me: bool,
    pub amr: Vec<String>,
    pub auth_time: OffsetDateTime,
    pub scope: Option<String>,
}

/// Opens a session with a fresh refresh token; returns it with the token.
pub async fn open_session(
    state: &AppState,
    user: &UserRecord,
    new: NewSession,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> ApiResult<(SessionRecord, String)> {
    let ttl = if new.remember_me {
        state.config.remember_me_ttl
    } else {
        state.config.refresh_token_ttl
    };
    let refresh_token = random_token();
    let session = SessionRecord {
        id: Uuid::new_v4().to_string(),
        user_id: user.id,
        client_id: new.client_id,
        refresh_digest: token_digest(&refresh_token),
        created_at: now,
        last_activity: now,
        expires_at: now + ttl,
        ttl_secs: ttl.as_secs(),
        auth_time: new.auth_time,
        amr: new.amr,
        remember_me: new.remember_me,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        scope: new.scope,
    };
    let evicted = state
        .stores
        .sessions
        .create_session(&session, state.config.max_sessions_per_user, now)
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user("login.succeeded", user.id).details(json!({
            "sessionId": session.id,
            "clientId": session.client_id,
            "sessionsEvicted": evicted,
            "amr": session.amr,
        })),
    )
    .await;
    Ok((session, refresh_token))
}

/// The last step of a REST login: the sign-in is recorded, a first-party session opened and
/// the tokens signed. `amr` records how the user proved who they are.
pub async fn complete_login(
    state: &AppState,
    user: UserRecord,
    remember_me: bool,
    amr: Vec<String>,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> ApiResult<IssuedTokens> {
    let user = record_sign_in(state, user, client, now).await?;
    let new = NewSession {
        client_id: FIRST_PARTY_CLIENT_ID.to_owned(),
        remember_me,
        amr,
        auth_time: now,
        scope: None,
    };
    let grant = if new.amr.iter().any(|m| m == "otp") {
        "mfa"
    } else {
        "password"
    };
    let (session, refresh_token) = open_session(state, &user, new, client, now).await?;
    let (access_token, expires_in) = issue_access(state, &user, &session, now)?;
    state.metrics.token_issued(grant);
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        expires_in,
        session,
        user,
    })
}

/// Exchanges a refresh token for a new pair. The presented token dies either way; presenting
/// it again later revokes the whole session.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    client: &ClientInfo,
) -> ApiResult<IssuedTokens> {
    let now = state.clock.now();
    let replacement = random_token();
    let outcome = state
        .stores
        .sessions
        .rotate_refresh(
            &token_digest(refresh_token),
            &token_digest(&replacement),
            now,
        )
        .await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            audit::record(
                state,
                client,
                Audit::by_user("refresh.reuse_detected", user_id)
                    .details(json!({ "sessionId": session_id, "sessionRevoked": true })),
            )
            .await;
            return Err(ApiError::token_revoked());
        }
        RefreshOutcome::Revoked => return Err(ApiError::token_revoked()),
        RefreshOutcome::Unknown => return Err(ApiError::invalid_token()),
    };
    let user = state
        .stores
        .users
        .get_user(session.user_id)
        .await?
        .ok_or_else(ApiError::token_revoked)?;
    if let Err(refused) = ensure_may_sign_in(state, &user) {
        state
            .stores
            .sessions
            .revoke_session(session.user_id, &session.id)
            .await?;
        return Err(refused);
    }
    let (access_token, expires_in) = issue_access(state, &user, &session, now)?;
    state.metrics.token_issued("refresh_token");
    Ok(IssuedTokens {
        access_token,
        refresh_token: replacement,
        expires_in,
        session,
        user,
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
        }
        None => None,
    };
    let user_id = principal
        .map(|p| p.user.id)
        .or(by_refresh.as_ref().map(|s| s.user_id));
    let Some(user_id) = user_id else {
        return Err(ApiError::new(
            ErrorCode::MissingAuthHeader,
            "Send a valid access token or refresh token to log out",
        ));
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
            .map(|p| p.claims.sid.clone())
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
        Audit::by_user("logout", user_id)
            .details(json!({ "allDevices": all_devices, "sessionsRevoked": revoked })),
    )
    .await;
    Ok(())
}
