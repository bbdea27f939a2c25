//! Access tokens (RFC 9068 JWTs) issued by Sigil and checked on every protected request.

use serde::Serialize;
pub use sigil_keys::{ACCESS_TOKEN_TYP, AccessClaims, Audience, Confirmation};
use sigil_keys::{IdClaims, UserClaims, VerifyError, VerifyOptions};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::unix;
use crate::config::Config;
use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::SessionRecord;

/// The client id of Sigil's own REST API, used for logins through `/v1/auth`.
pub const FIRST_PARTY_CLIENT_ID: &str = "sigil";
const FIRST_PARTY_SCOPE: &str = "openid profile email";

/// The audience rule (SPEC section 5), in one place: REST tokens are for the REST audience
/// (`SIGIL_REST_AUDIENCE`, the issuer by default); an OAuth client's tokens are for the
/// resources it asked for, else for the client itself, never for the issuer.
pub fn audience_for(config: &Config, client_id: &str, resources: &[String]) -> Audience {
    if client_id == FIRST_PARTY_CLIENT_ID {
        Audience::from_list(config.rest_audience())
    } else if resources.is_empty() {
        Audience::One(client_id.to_owned())
    } else {
        Audience::from_list(resources.to_vec())
    }
}

/// Signs a new access token for the user's session with the scope and audience of this
/// request (a refresh may ask for less than the session holds); returns it with its lifetime
/// in seconds.
pub fn issue_access(
    state: &AppState,
    user: &UserRecord,
    session: &SessionRecord,
    grant: &AccessGrant,
    now: OffsetDateTime,
) -> ApiResult<(String, u64)> {
    let ttl = state.config.access_token_ttl.as_secs();
    let claims = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: user.id.to_string(),
        aud: grant.audience.clone(),
        exp: unix(now) + ttl,
        iat: unix(now),
        jti: Uuid::new_v4().to_string(),
        client_id: session.client_id.clone(),
        scope: grant.scope.clone(),
        sid: Some(session.id.clone()),
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        auth_time: Some(unix(session.auth_time)),
        amr: session.amr.clone(),
        cnf: confirmation(grant),
    };
    let token = sign(state, ACCESS_TOKEN_TYP, &claims, now)?;
    Ok((token, ttl))
}

/// What one access token grants: the scope, to whom it is addressed, and the DPoP key it is
/// bound to (RFC 9449: the RFC 7638 thumbprint its `cnf.jkt` names), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessGrant {
    pub scope: String,
    pub audience: Audience,
    pub dpop_jkt: Option<String>,
}

impl AccessGrant {
    /// Everything the session was granted.
    pub fn whole_session(config: &Config, session: &SessionRecord) -> Self {
        Self {
            scope: session
                .scope
                .clone()
                .unwrap_or_else(|| FIRST_PARTY_SCOPE.to_owned()),
            audience: audience_for(config, &session.client_id, &session.resources),
            dpop_jkt: None,
        }
    }
}

/// An access token of the `client_credentials` grant: the client acts for itself, so there is
/// no user, session or `amr`.
pub fn issue_client_access(
    state: &AppState,
    client_id: &str,
    grant: &AccessGrant,
    now: OffsetDateTime,
) -> ApiResult<(String, u64)> {
    let ttl = state.config.access_token_ttl.as_secs();
    let claims = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: client_id.to_owned(),
        aud: grant.audience.clone(),
        exp: unix(now) + ttl,
        iat: unix(now),
        jti: Uuid::new_v4().to_string(),
        client_id: client_id.to_owned(),
        scope: grant.scope.clone(),
        sid: None,
        roles: Vec::new(),
        auth_time: None,
        amr: Vec::new(),
        cnf: confirmation(grant),
    };
    let token = sign(state, ACCESS_TOKEN_TYP, &claims, now)?;
    Ok((token, ttl))
}

fn confirmation(grant: &AccessGrant) -> Option<Confirmation> {
    grant.dpop_jkt.clone().map(|jkt| Confirmation { jkt })
}

/// The claims a scope releases about the user (ID token and userinfo).
pub fn user_claims(user: &UserRecord, scope: &crate::domain::Scope) -> UserClaims {
    let mut claims = UserClaims {
        sub: user.id.to_string(),
        ..UserClaims::default()
    };
    if scope.contains("profile") {
        let name = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        claims.name = Some(name).filter(|n| !n.is_empty());
        claims.given_name = user.first_name.clone();
        claims.family_name = user.last_name.clone();
        claims.preferred_username = Some(user.username.clone());
        claims.updated_at = Some(unix(user.updated_at));
    }
    if scope.contains("email") {
        claims.email = Some(user.email.clone());
        claims.email_verified = Some(user.email_verified);
    }
    if scope.contains("phone")
        && let Some(phone) = &user.phone
    {
        claims.phone_number = Some(phone.clone());
        // Sigil does not verify phone numbers.
        claims.phone_number_verified = Some(false);
    }
    if scope.contains("roles") {
        claims.roles = Some(user.roles.iter().map(|r| r.as_str().to_owned()).collect());
    }
    claims
}

/// OIDC `at_hash`: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs an ID token (SPEC section 5) for the client.
pub fn issue_id_token(
    state: &AppState,
    user: &UserRecord,
    session: &SessionRecord,
    scope: &crate::domain::Scope,
    nonce: Option<&str>,
    access_token: &str,
    now: OffsetDateTime,
) -> ApiResult<String> {
    let claims = IdClaims {
        iss: state.config.issuer.clone(),
        user: user_claims(user, scope),
        aud: Audience::One(session.client_id.clone()),
        azp: session.client_id.clone(),
        iat: unix(now),
        exp: unix(now) + state.config.access_token_ttl.as_secs(),
        auth_time: unix(session.auth_time),
        amr: session.amr.clone(),
        acr: crate::domain::oauth::acr_of(&session.amr).map(str::to_owned),
        sid: session.id.clone(),
        at_hash: at_hash(access_token),
        nonce: nonce.map(str::to_owned),
    };
    sign(state, "JWT", &claims, now)
}

/// Signs with the key that is active at `now`.
pub fn sign<T: Serialize>(
    state: &AppState,
    typ: &str,
    claims: &T,
    now: OffsetDateTime,
) -> ApiResult<String> {
    state
        .keyring
        .signer(now)
        .map_err(ApiError::internal)?
        .sign(typ, claims)
        .map_err(ApiError::internal)
}

/// Verifies a token of this issuer for any of its audiences (`Verifier::verify_any_audience`:
/// the caller decides whether the audience is its own): a key another replica just created is
/// picked up by one reload of the ring; a key no longer published (retired or revoked)
/// verifies nothing.
async fn verify_token<T: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &str,
    options: &VerifyOptions,
    now: OffsetDateTime,
) -> Result<sigil_keys::Verified<T>, VerifyError> {
    let attempt = || {
        let verified =
            state
                .keyring
                .verifier()
                .verify_any_audience::<T>(token, options, unix(now))?;
        if !state.keyring.is_published(&verified.kid, now) {
            return Err(VerifyError::UnknownKid(verified.kid));
        }
        Ok(verified)
    };
    match attempt() {
        Err(VerifyError::UnknownKid(kid)) => match state.keyring.reload_if_due().await {
            Ok(true) => attempt(),
            Ok(false) => Err(VerifyError::UnknownKid(kid)),
            Err(e) => {
                tracing::warn!(error = %e, "reloading the key ring failed");
                Err(VerifyError::UnknownKid(kid))
            }
        },
        other => other,
    }
}

/// Checks signature, type, expiry and issuer of one of this issuer's access tokens, whatever
/// its audience: Sigil is the issuer of every audience, and each endpoint then decides whether
/// the token is meant for it (`service::principal`). Session, `jti` and user checks need the
/// store and come after.
pub async fn verify_access(
    state: &AppState,
    token: &str,
    now: OffsetDateTime,
) -> ApiResult<AccessClaims> {
    // No audience listed: verify_token accepts any, and the endpoints check it.
    let options = VerifyOptions::access_token(&state.config.issuer, "");
    verify_token::<AccessClaims>(state, token, &options, now)
        .await
        .map(|v| v.claims)
        .map_err(|e| match e {
            VerifyError::Expired => ApiError::new(ErrorCode::TokenExpired, "The token has expired"),
            _ => ApiError::invalid_token(),
        })
}
