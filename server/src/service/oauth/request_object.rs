//! Signed authorization requests (RFC 9101, JAR): the parameters arrive as the claims of a
//! JWT the client signed with its keys (the ones it authenticates with: its registered or
//! published JWKS, or for `client_secret_jwt` its secret), by value in `request`, at
//! `/oauth2/authorize` or pushed to `/oauth2/par`.
//!
//! As RFC 9101 section 5 says, only the request object's parameters are used: the query (or
//! form) around it contributes its `client_id`, which must match, and nothing else. Unsigned
//! objects (`alg: none`) are refused whatever the client: an unsigned object proves nothing a
//! plain query does not, and accepting it would only widen what can be parsed.

use serde_json::{Map, Value};

use super::authorize::{AuthorizeParams, Invalid};
use super::client_keys::SignatureError;
use crate::domain::ClientRecord;
use crate::state::AppState;

/// Largest request object read.
const MAX_BYTES: usize = 16 * 1024;
/// Longest a request object may claim to live.
const MAX_LIFETIME_SECS: i64 = 3600;
const LEEWAY_SECS: i64 = 60;
/// The claims that carry authorization parameters as strings.
const TEXT_PARAMETERS: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "dpop_jkt",
    "prompt",
    "login_hint",
    "acr_values",
];

fn refused(why: impl Into<String>) -> Invalid {
    Invalid::RequestObject(why.into())
}

/// The parameters the request object of `client` carries, once its signature and claims
/// check out.
pub async fn open(
    state: &AppState,
    client: &ClientRecord,
    object: &str,
) -> Result<AuthorizeParams, Invalid> {
    if object.len() > MAX_BYTES {
        return Err(refused(format!(
            "The request object is larger than {MAX_BYTES} bytes."
        )));
    }
    let claims = super::client_keys::verify_signed_by(state, client, object)
        .await
        .map_err(|e| match e {
            SignatureError::NoKeys => {
                refused("This application has no keys to sign request objects with.")
            }
            other => refused(format!("The request object: {other}.")),
        })?;
    check_claims(state, &client.client_id, &claims)?;
    parameters(claims)
}

fn check_claims(
    state: &AppState,
    client_id: &str,
    claims: &Map<String, Value>,
) -> Result<(), Invalid> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) {
        return Err(refused("The request object's iss is not the application."));
    }
    if text("client_id") != Some(client_id) {
        return Err(refused(
            "The request object's client_id differs from the request's.",
        ));
    }
    let issuer = state.config.issuer.as_str();
    let addressed_here = match claims.get("aud") {
        Some(Value::String(one)) => one == issuer,
        Some(Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !addressed_here {
        return Err(refused("The request object is addressed to someone else."));
    }
    let now = state.clock.now().unix_timestamp();
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or_else(|| refused("The request object has no exp."))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(refused("The request object has expired."));
    }
    if exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(refused("The request object lives longer than an hour."));
    }
    if number("nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(refused("The request object is not valid yet."));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(refused("A request object cannot hold another request."));
    }
    Ok(())
}

/// The claims as the parameters of an authorization request: strings stay strings,
/// `max_age` may be a number, `resource` a string or a list of them.
fn parameters(claims: Map<String, Value>) -> Result<AuthorizeParams, Invalid> {
    let mut params = Map::new();
    for name in TEXT_PARAMETERS {
        match claims.get(name) {
            None => {}
            Some(Value::String(text)) => {
                params.insert(name.to_owned(), Value::String(text.clone()));
            }
            Some(_) => return Err(refused(format!("The request object's {name} is not text."))),
        }
    }
    match claims.get("max_age") {
        None => {}
        Some(Value::Number(n)) => {
            params.insert("max_age".into(), Value::String(n.to_string()));
        }
        Some(Value::String(text)) => {
            params.insert("max_age".into(), Value::String(text.clone()));
        }
        Some(_) => return Err(refused("The request object's max_age is not a number.")),
    }
    let resources = match claims.get("resource") {
        None => Vec::new(),
        Some(Value::String(one)) => vec![Value::String(one.clone())],
        Some(Value::Array(many)) if many.iter().all(Value::is_string) => many.clone(),
        Some(_) => return Err(refused("The request object's resource is not text.")),
    };
    params.insert("resource".into(), Value::Array(resources));
    serde_json::from_value(Value::Object(params))
        .map_err(|e| refused(format!("The request object's parameters: {e}.")))
}
