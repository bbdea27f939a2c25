//! Client authentication with a signed JWT (RFC 7523 section 2.2, OpenID Connect Core
//! section 9): `private_key_jwt` (signed with a key whose public half the client registered)
//! and `client_secret_jwt` (HS256 with the client's secret).
//!
//! The assertion names its client in `iss` and `sub` (both the client id); `aud` is Sigil's
//! issuer or one of the endpoints that authenticate clients (token, PAR, introspection,
//! revocation); `exp` at most [`MAX_LIFETIME_SECS`] ahead; `jti` is remembered until `exp` and a
//! second use is refused, on every replica (the code store).

use serde_json::{Map, Value};
use sigil_keys::{VerifyError, unverified_claims};

use super::OAuthError;
use super::client_keys::{SignatureError, verify_signed_by};
use crate::crypto::token_digest;
use crate::domain::{AuthMethod, ClientRecord};
use crate::error::ApiError;
use crate::state::AppState;

/// `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest an assertion may claim to live: it bounds how long its `jti` is remembered.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 60;
/// Longest `jti` kept.
const MAX_JTI_BYTES: usize = 256;
/// The endpoints (besides the issuer) an assertion may be addressed to.
const AUDIENCE_PATHS: [&str; 4] = [
    "/oauth2/token",
    "/oauth2/par",
    "/oauth2/introspect",
    "/oauth2/revoke",
];

fn refused(why: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client(why)
}

/// The client a valid assertion proves; `form_id` is the request's `client_id`, if any.
pub async fn authenticate(
    state: &AppState,
    form_id: Option<&str>,
    assertion: &str,
) -> Result<ClientRecord, OAuthError> {
    if assertion.len() > 16 * 1024 {
        return Err(OAuthError::invalid_request("client_assertion is too long"));
    }
    // Only to find the client whose keys decide; nothing is trusted before the signature.
    let claimed: Map<String, Value> =
        unverified_claims(assertion).map_err(|_| refused("client_assertion is not a JWT"))?;
    let client_id = claimed
        .get("iss")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= super::authorize::MAX_PARAM_BYTES)
        .ok_or_else(|| refused("client_assertion has no iss"))?;
    if form_id.is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the assertion's issuer",
        ));
    }
    let client = state
        .stores
        .clients
        .get_client(client_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| refused("Unknown client or invalid assertion"))?;
    if !client.auth_method().uses_assertion() {
        return Err(refused(
            "This client authenticates with its secret, not an assertion",
        ));
    }
    let claims = verify_signed_by(state, &client, assertion)
        .await
        .map_err(|e| match e {
            SignatureError::Invalid(VerifyError::BadSignature | VerifyError::UnknownKid(_)) => {
                refused("Unknown client or invalid assertion")
            }
            SignatureError::NoKeys if client.auth_method() == AuthMethod::ClientSecretJwt => {
                refused("The client's secret predates client_secret_jwt; rotate it")
            }
            other => refused(format!("client_assertion: {other}")),
        })?;
    if is_request_object(&claims) {
        return Err(refused(
            "client_assertion is an authorization request, not an assertion",
        ));
    }
    check_claims(state, &client, &claims)?;
    remember_jti(state, &client, &claims).await?;
    Ok(client)
}

/// A signed authorization request (RFC 9101) is signed with the same keys and travels through
/// the browser; one that happened to carry `sub` and `jti` must not pass for an assertion.
fn is_request_object(claims: &Map<String, Value>) -> bool {
    ["response_type", "redirect_uri", "client_id", "scope"]
        .iter()
        .any(|name| claims.contains_key(*name))
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

fn check_claims(
    state: &AppState,
    client: &ClientRecord,
    claims: &Map<String, Value>,
) -> Result<(), OAuthError> {
    let now = state.clock.now().unix_timestamp();
    let is_client =
        |name: &str| claims.get(name).and_then(Value::as_str) == Some(&client.client_id);
    if !is_client("iss") || !is_client("sub") {
        return Err(refused(
            "client_assertion: iss and sub must be the client id",
        ));
    }
    let issuer = state.config.issuer.as_str();
    let addressed_here = |aud: &str| {
        aud == issuer
            || AUDIENCE_PATHS
                .iter()
                .any(|path| aud.strip_prefix(issuer) == Some(*path))
    };
    let audience_ok = match claims.get("aud") {
        Some(Value::String(one)) => addressed_here(one),
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).any(addressed_here),
        _ => false,
    };
    if !audience_ok {
        return Err(refused("client_assertion is addressed to someone else"));
    }
    let exp = number(claims, "exp").ok_or_else(|| refused("client_assertion has no exp"))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(refused("client_assertion has expired"));
    }
    if exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(refused(format!(
            "client_assertion lives longer than {MAX_LIFETIME_SECS} s"
        )));
    }
    if number(claims, "nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS)
        || number(claims, "iat").is_some_and(|iat| iat > now + LEEWAY_SECS)
    {
        return Err(refused("client_assertion is not valid yet"));
    }
    Ok(())
}

/// A `jti` works once per client until its assertion expires.
async fn remember_jti(
    state: &AppState,
    client: &ClientRecord,
    claims: &Map<String, Value>,
) -> Result<(), OAuthError> {
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES)
        .ok_or_else(|| refused("client_assertion has no jti"))?;
    let exp = number(claims, "exp").unwrap_or_default();
    let now = state.clock.now();
    // Remembered a leeway longer than it is accepted: replicas' clocks (and Redis's, which
    // expires the key) may disagree by that much.
    let forget_at = time::OffsetDateTime::from_unix_timestamp(exp.saturating_add(2 * LEEWAY_SECS))
        .unwrap_or(now)
        .max(now + time::Duration::seconds(1));
    let key = format!(
        "assertion:{}",
        token_digest(&format!("{}\n{jti}", client.client_id))
    );
    let first_use = state
        .stores
        .codes
        .put_new_code(&key, "1", forget_at, now)
        .await
        .map_err(ApiError::from)?;
    if first_use {
        Ok(())
    } else {
        Err(refused("client_assertion was already used"))
    }
}
