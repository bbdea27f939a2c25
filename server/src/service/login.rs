//! Signing in: the password step (under the lockout rule), the MFA step, and what every
//! successful sign-in records. REST logins end in a first-party session; the hosted pages
//! open a browser session instead.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::account_status::ensure_may_sign_in;
use super::mfa::{CodeCheck, refusal, required_code, use_code};
use super::rate_limit::{Bucket, check};
use super::sessions::{IssuedTokens, NewSession, SessionSecret, open_session};
use super::{ClientInfo, lockout};
use crate::audit::{self, Audit, AuditAction};
use crate::crypto::{random_token, token_digest};
use crate::device;
use crate::domain::password::PASSWORD_MAX_BYTES;
use crate::domain::{Login, UserRecord};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldCode, FieldError};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::tokens::{AccessGrant, FIRST_PARTY_CLIENT_ID, issue_access};

const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);

#[derive(Debug)]
pub struct LoginInput {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub remember_me: bool,
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
        crate::domain::oauth::amr_password(),
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
            return Err(ApiError::missing(
                ErrorCode::MissingCredentials,
                vec![FieldError::coded(
                    FieldCode::RequiredFieldMissing,
                    "email",
                    "Email or username is required",
                )],
            ));
        }
    };
    let password = input.password.ok_or_else(|| {
        ApiError::missing(
            ErrorCode::MissingCredentials,
            vec![FieldError::required("password")],
        )
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
                action: AuditAction::LoginFailed,
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
            Audit::by_user(AuditAction::LoginFailed, user.id)
                .details(json!({ "reason": "locked" })),
        )
        .await;
        return Err(lockout::locked(&user, now));
    }
    let check = lockout::check_password(
        state,
        &user,
        password.clone(),
        client,
        AuditAction::LoginFailed,
        ApiError::invalid_credentials(),
    )
    .await?;
    if let Err(refused) = ensure_may_sign_in(state, &user) {
        audit::record(
            state,
            client,
            Audit::by_user(AuditAction::LoginFailed, user.id)
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
        let token = open_challenge(state, &user, input.remember_me, client, now).await?;
        audit::record(
            state,
            client,
            Audit::by_user(AuditAction::LoginMfaRequired, user.id),
        )
        .await;
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
        state
            .mailer
            .send(
                &user,
                MailKind::NewSignIn {
                    browser: seen.browser,
                    os: seen.os,
                    device: seen.device,
                    ip: client.ip.clone().unwrap_or_else(|| "unknown".into()),
                    at: now,
                },
            )
            .await;
    }
    Ok(user)
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
        resources: Vec::new(),
        secret: SessionSecret::RefreshToken,
        dpop_jkt: None,
    };
    let grant = if crate::domain::oauth::used_second_factor(&new.amr) {
        "mfa"
    } else {
        "password"
    };
    let (session, refresh_token) = open_session(state, &user, new, client, now).await?;
    let access = AccessGrant::whole_session(&state.config, &session);
    let (access_token, expires_in) = issue_access(state, &user, &session, &access, now)?;
    state.metrics.token_issued(grant);
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        expires_in,
        session,
        user,
    })
}

/// What a pending MFA login remembers between the password and the code.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Challenge {
    user_id: Uuid,
    ip: Option<String>,
    remember_me: bool,
}

fn challenge_key(token: &str) -> String {
    format!("mfa:{}", token_digest(token))
}

/// After a correct password: a token for the second step, valid 5 minutes, from this ip.
pub async fn open_challenge(
    state: &AppState,
    user: &UserRecord,
    remember_me: bool,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> ApiResult<String> {
    let token = random_token();
    let challenge = serde_json::to_string(&Challenge {
        user_id: user.id,
        ip: client.ip.clone(),
        remember_me,
    })
    .map_err(ApiError::internal)?;
    state
        .stores
        .codes
        .put_code(&challenge_key(&token), &challenge, now + CHALLENGE_TTL)
        .await?;
    Ok(token)
}

fn bad_challenge() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "The MFA token is invalid or has expired; sign in again",
    )
}

/// The second step of a REST login: a TOTP or backup code for the challenge's user.
pub async fn challenge(
    state: &AppState,
    mfa_token: Option<String>,
    code: Option<String>,
    client: &ClientInfo,
) -> ApiResult<IssuedTokens> {
    let (user, remember_me) = pass_challenge(state, mfa_token, code, client).await?;
    let now = state.clock.now();
    complete_login(
        state,
        user,
        remember_me,
        crate::domain::oauth::amr_password_and_code(),
        client,
        now,
    )
    .await
}

/// Checks the second step and uses the challenge up; returns the user and whether the login
/// asked to be remembered.
pub async fn pass_challenge(
    state: &AppState,
    mfa_token: Option<String>,
    code: Option<String>,
    client: &ClientInfo,
) -> ApiResult<(UserRecord, bool)> {
    let token = mfa_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::validation(vec![FieldError::required("mfaToken")]))?;
    let code = required_code(code)?;
    let now = state.clock.now();
    let key = challenge_key(&token);
    let stored = state
        .stores
        .codes
        .peek_code(&key, now)
        .await?
        .ok_or_else(bad_challenge)?;
    let pending: Challenge = serde_json::from_str(&stored).map_err(ApiError::internal)?;
    if pending.ip != client.ip {
        return Err(bad_challenge());
    }
    check(state, Bucket::Mfa, &pending.user_id.to_string()).await?;
    let user = state
        .stores
        .users
        .get_user(pending.user_id)
        .await?
        .ok_or_else(bad_challenge)?;
    lockout::ensure_unlocked(&user, now)?;
    ensure_may_sign_in(state, &user)?;
    let verdict = use_code(state, &user, &code).await?;
    if verdict != CodeCheck::Accepted {
        let reason = format!("{verdict:?}").to_lowercase();
        let refusal = refusal(verdict);
        return Err(lockout::record_failure(
            state,
            &user,
            client,
            AuditAction::MfaFailed,
            &reason,
            refusal,
        )
        .await?);
    }
    // Single use: of two concurrent completions only one takes the challenge.
    state
        .stores
        .codes
        .take_code(&key, now)
        .await?
        .ok_or_else(bad_challenge)?;
    Ok((user, pending.remember_me))
}
