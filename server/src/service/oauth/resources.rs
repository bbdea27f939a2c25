//! Userinfo, token introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Value, json};

use super::{OAuthError, dpop};
use crate::clock::unix;
use crate::crypto::token_digest;
use crate::domain::{ClientRecord, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::service::account_status::ensure_may_sign_in;
use crate::service::principal::{Bearer, authenticate_any, authenticate_presented};
use crate::state::AppState;
use crate::tokens::user_claims;

/// An access token as a request presented it.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub token: &'a str,
    /// The `DPoP` header, when the token came with the DPoP scheme.
    pub proof: Option<&'a str>,
    /// The request's HTTP method, which the proof must name.
    pub method: &'a str,
}

/// `/oauth2/userinfo`: any live access token of this issuer that speaks for a user and has
/// the `openid` scope, with a DPoP proof by its key if it is bound to one; answers the claims
/// its scope releases.
pub async fn userinfo(
    state: &AppState,
    presented: Presented<'_>,
) -> Result<sigil_proto::UserClaims, OAuthError> {
    let proof = dpop::check(
        state,
        presented.proof,
        presented.method,
        "/oauth2/userinfo",
        Some(presented.token),
    )
    .map_err(dpop::at_resource)?;
    let proven = proof.as_ref().map(|p| p.jkt.as_str());
    let principal = match authenticate_presented(state, presented.token, proven).await {
        Ok(Bearer::User(principal)) => principal,
        Ok(Bearer::Client(_)) => {
            return Err(OAuthError::invalid_token(
                "A client_credentials token has no user",
            ));
        }
        Err(e) if is_failure(&e) => return Err(e.into()),
        Err(e) => return Err(OAuthError::invalid_token(e.message)),
    };
    // The token is ours, alive and bound to the proof's key: now the proof is spent.
    if let Some(proof) = &proof {
        dpop::remember(state, proof)
            .await
            .map_err(dpop::at_resource)?;
    }
    let scope = Scope::parse_any(&principal.claims.scope).map_err(OAuthError::invalid_token)?;
    if !scope.contains("openid") {
        return Err(OAuthError {
            error: "insufficient_scope",
            description: "The access token lacks the openid scope".into(),
            status: 403,
        });
    }
    Ok(user_claims(&principal.user, &scope))
}

/// A check that could not be made: answered as an error, never as "inactive" or "invalid".
fn is_failure(err: &ApiError) -> bool {
    matches!(
        err.code,
        ErrorCode::ServiceUnavailable | ErrorCode::InternalError
    )
}

/// The live access token, if it is one; `None` for anything refused.
async fn live_access_token(state: &AppState, token: &str) -> Result<Option<Bearer>, ApiError> {
    match authenticate_any(state, token).await {
        Ok(bearer) => Ok(Some(bearer)),
        Err(e) if is_failure(&e) => Err(e),
        Err(_) => Ok(None),
    }
}

/// RFC 7662 section 4: a client learns about a token only if it is the token's client or a
/// resource server the token is addressed to; anything else, like anything unknown, expired
/// or revoked, is `active: false`.
pub async fn introspect(
    state: &AppState,
    caller: &ClientRecord,
    token: &str,
) -> Result<Value, OAuthError> {
    if let Some(bearer) = live_access_token(state, token).await? {
        let claims = bearer.claims();
        if !concerns(state, claims, caller).await? {
            return Ok(inactive());
        }
        let mut answer = serde_json::to_value(claims).map_err(ApiError::internal)?;
        if let Some(fields) = answer.as_object_mut() {
            fields.retain(|key, _| INTROSPECTED.contains(&key.as_str()));
            fields.insert("active".into(), json!(true));
            let token_type = if claims.cnf.is_some() {
                "DPoP"
            } else {
                "Bearer"
            };
            fields.insert("token_type".into(), json!(token_type));
        }
        return Ok(answer);
    }
    let now = state.clock.now();
    let Some(session) = state
        .stores
        .sessions
        .find_by_refresh(&token_digest(token), now)
        .await
        .map_err(ApiError::from)?
        .filter(|s| s.client_id == caller.client_id)
    else {
        return Ok(inactive());
    };
    let user = state
        .stores
        .users
        .get_user(session.user_id)
        .await
        .map_err(ApiError::from)?;
    if user.is_none_or(|u| ensure_may_sign_in(state, &u).is_err()) {
        return Ok(inactive());
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": session.client_id,
        "sub": session.user_id.to_string(),
        "scope": session.scope.unwrap_or_default(),
        "exp": unix(session.expires_at),
        "iat": unix(session.created_at),
        "iss": state.config.issuer,
        "sid": session.id,
    }))
}

/// Whether the token is `caller`'s business: issued to it, addressed to it, or addressed to a
/// resource it serves.
async fn concerns(
    state: &AppState,
    claims: &crate::tokens::AccessClaims,
    caller: &ClientRecord,
) -> Result<bool, ApiError> {
    if claims.client_id == caller.client_id || claims.aud.contains(&caller.client_id) {
        return Ok(true);
    }
    for audience in claims.aud.iter() {
        if let Some(resource) = state.stores.resources.find_resource(audience).await?
            && resource.resource_servers.contains(&caller.client_id)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The access-token claims an introspection answer repeats; `cnf` lets a resource server
/// check a DPoP-bound token's proof (RFC 9449 section 6.2).
const INTROSPECTED: [&str; 10] = [
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "jti",
    "sid",
    "cnf",
];

fn inactive() -> Value {
    json!({ "active": false })
}

/// RFC 7009: revokes a refresh token (its session) or blocks an access token, if the client
/// owns it; anything else is silently accepted.
pub async fn revoke(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<(), OAuthError> {
    let now = state.clock.now();
    if let Some(session) = state
        .stores
        .sessions
        .find_by_refresh(&token_digest(token), now)
        .await
        .map_err(ApiError::from)?
    {
        if session.client_id == client.client_id {
            state
                .stores
                .sessions
                .revoke_session(session.user_id, &session.id)
                .await
                .map_err(ApiError::from)?;
        }
        return Ok(());
    }
    if let Some(bearer) = live_access_token(state, token).await?
        && bearer.claims().client_id == client.client_id
    {
        let claims = bearer.claims();
        let exp = i64::try_from(claims.exp).unwrap_or(i64::MAX);
        let until = time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
        state
            .stores
            .sessions
            .block_jti(&claims.jti, until)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(())
}
