//! Discovery and the JWKS.

use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::context::app_state;
use crate::error::ApiResult;

/// OpenID Provider metadata: what this server does, and nothing it does not.
#[handler]
pub async fn discovery(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let issuer = &state.config.issuer;
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "pushed_authorization_request_endpoint": format!("{issuer}/oauth2/par"),
        "require_pushed_authorization_requests": state.config.require_par,
        "scopes_supported": crate::domain::oauth::KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [sigil_keys::ALGORITHM],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [crate::domain::oauth::ACR_MFA],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "acr", "amr", "sid", "azp",
            "name", "given_name", "family_name", "preferred_username", "updated_at",
            "email", "email_verified", "phone_number", "phone_number_verified", "roles"
        ],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": assertion_algorithms(),
        "request_uri_parameter_supported": false,
        "dpop_signing_alg_values_supported": sigil_keys::dpop::DPOP_ALGORITHMS,
    });
    conditional(req, res, "public, max-age=3600", &document)
}

/// What client assertions may be signed with: the registered keys' algorithms, and HS256
/// for `client_secret_jwt`.
fn assertion_algorithms() -> Vec<&'static str> {
    let mut algorithms = sigil_keys::PARTY_SIGNING_ALGORITHMS.to_vec();
    algorithms.push("HS256");
    algorithms
}

#[handler]
pub async fn jwks(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let max_age = state.config.jwks_max_age.as_secs();
    let cache = format!("public, max-age={max_age}");
    conditional(req, res, &cache, &state.keyring.jwks(state.clock.now()))
}

/// A cacheable JSON document with a strong `ETag` (a digest of the exact bytes sent), answered
/// with 304 and no body when the client's `If-None-Match` names it (RFC 9110 section 13.1.2):
/// relying services revalidate the JWKS and discovery for the cost of a header. Every replica
/// serving the same document computes the same tag.
fn conditional<T: Serialize>(
    req: &Request,
    res: &mut Response,
    cache_control: &str,
    document: &T,
) -> ApiResult<()> {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let body = serde_json::to_vec(document).map_err(crate::error::ApiError::internal)?;
    let digest = Sha256::digest(&body);
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert("cache-control", value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert("etag", value);
    }
    if if_none_match(req).is_some_and(|tags| matches(&tags, &etag)) {
        res.status_code(StatusCode::NOT_MODIFIED);
        return Ok(());
    }
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res.write_body(body)
        .map_err(crate::error::ApiError::internal)?;
    Ok(())
}

fn if_none_match(req: &Request) -> Option<String> {
    let values: Vec<&str> = req
        .headers()
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything.
fn matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}
