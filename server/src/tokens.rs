//! Access tokens (RFC 9068 JWTs) issued by Sigil and checked on every protected request.

use serde::{Deserialize, Serialize};
use sigil_keys::{VerifyError, VerifyOptions};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::unix;
use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::SessionRecord;

/// The client id of Sigil's own REST API, used for logins through `/v1/auth`.
pub const FIRST_PARTY_CLIENT_ID: &str = "sigil";
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
const FIRST_PARTY_SCOPE: &str = "openid profile email";

/// Claims of an access token (SPEC section 5). The audience is the issuer URL: the token is
/// meant for Sigil's own API and for services that accept Sigil's tokens for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub roles: Vec<String>,
    pub auth_time: u64,
    pub amr: Vec<String>,
}

/// Signs a new access token for the user's session; returns it with its lifetime in seconds.
pub fn issue_access(
    state: &AppState,
    user: &UserRecord,
    session: &SessionRecord,
    now: OffsetDateTime,
) -> ApiResult<(String, u64)> {
    let ttl = state.config.access_token_ttl.as_secs();
    let claims = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: user.id.to_string(),
        aud: state.config.issuer.clone(),
        exp: unix(now) + ttl,
        iat: unix(now),
        jti: Uuid::new_v4().to_string(),
        client_id: session.client_id.clone(),
        scope: FIRST_PARTY_SCOPE.to_owned(),
        sid: session.id.clone(),
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        auth_time: unix(session.auth_time),
        amr: session.amr.clone(),
    };
    let token = state
        .keyring
        .signer()
        .sign(ACCESS_TOKEN_TYP, &claims)
        .map_err(ApiError::internal)?;
    Ok((token, ttl))
}

/// Checks signature, type, expiry, issuer and audience. Session, `jti` and user checks are
/// the caller's (they need the store). A `kid` this replica does not know yet makes it
/// re-read the key ring once, in case another replica just created that key.
pub async fn verify_access(
    state: &AppState,
    token: &str,
    now: OffsetDateTime,
) -> ApiResult<AccessClaims> {
    let options =
        VerifyOptions::new(&state.config.issuer, &state.config.issuer).with_typ(ACCESS_TOKEN_TYP);
    let verify = || {
        state
            .keyring
            .verifier()
            .verify::<AccessClaims>(token, &options, unix(now))
    };
    let mut result = verify();
    if matches!(result, Err(VerifyError::UnknownKid(_))) {
        match state.keyring.reload_if_due().await {
            Ok(true) => result = verify(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reloading the key ring failed"),
        }
    }
    result.map(|v| v.claims).map_err(|e| match e {
        VerifyError::Expired => ApiError::new(ErrorCode::TokenExpired, "The token has expired"),
        _ => ApiError::invalid_token(),
    })
}
