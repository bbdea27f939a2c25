//! Discovery and the JWKS.

use salvo::http::HeaderValue;
use salvo::prelude::*;
use serde_json::json;

use super::context::app_state;
use crate::error::ApiResult;

/// OpenID Provider metadata listing only what this server does today. The authorization,
/// token and userinfo endpoints arrive with the OAuth2 milestone and are added here then.
#[handler]
pub async fn discovery(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let issuer = &state.config.issuer;
    res.render(Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [sigil_keys::ALGORITHM],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "auth_time", "amr", "roles", "client_id", "scope"],
    })));
    Ok(())
}

#[handler]
pub async fn jwks(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let max_age = state.config.jwks_max_age.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        res.headers_mut().insert("cache-control", value);
    }
    res.render(Json(state.keyring.jwks()));
    Ok(())
}
