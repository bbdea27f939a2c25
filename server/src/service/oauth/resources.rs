//! Userinfo, token introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Map, Value, json};
use sigil_keys::VerifyOptions;

use super::OAuthError;
use crate::clock::unix;
use crate::crypto::token_digest;
use crate::domain::{ClientRecord, Scope};
use crate::error::ApiError;
use crate::service::principal::Principal;
use crate::state::AppState;
use crate::tokens::{ACCESS_TOKEN_TYP, user_claims};

/// The claims the access token's scope releases; it needs `openid`.
pub fn userinfo(principal: &Principal) -> Result<Map<String, Value>, OAuthError> {
    let scope = Scope::parse(&principal.claims.scope).map_err(OAuthError::invalid_token)?;
    if !scope.contains("openid") {
        return Err(OAuthError {
            error: "insufficient_scope",
            description: "The access token lacks the openid scope".into(),
            status: 403,
        });
    }
    Ok(user_claims(&principal.user, &scope))
}

/// A signed access token of this issuer, checked as every protected request checks it.
async fn live_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let now = state.clock.now();
    let options =
        VerifyOptions::new(&state.config.issuer, &state.config.issuer).with_typ(ACCESS_TOKEN_TYP);
    let Ok(verified) =
        state
            .keyring
            .verifier()
            .verify::<Map<String, Value>>(token, &options, unix(now))
    else {
        return Ok(None);
    };
    let claims = verified.claims;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if state.stores.sessions.is_jti_blocked(jti, now).await? {
        return Ok(None);
    }
    // User tokens carry a session; client-credentials tokens do not.
    if let Some(sid) = claims.get("sid").and_then(Value::as_str) {
        let Some(user_id) = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
        else {
            return Ok(None);
        };
        if state
            .stores
            .sessions
            .get_session(user_id, sid, now)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let Some(user) = state.stores.users.get_user(user_id).await? else {
            return Ok(None);
        };
        if crate::service::sessions::ensure_may_sign_in(state, &user).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(claims))
}

/// RFC 7662: `active:false` for anything unknown, expired or revoked.
pub async fn introspect(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    if let Some(claims) = live_access_token(state, token).await? {
        let mut answer = Map::new();
        answer.insert("active".into(), json!(true));
        answer.insert("token_type".into(), json!("Bearer"));
        for key in [
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "jti",
            "sid",
        ] {
            if let Some(v) = claims.get(key) {
                answer.insert(key.into(), v.clone());
            }
        }
        return Ok(Value::Object(answer));
    }
    let now = state.clock.now();
    if let Some(session) = state
        .stores
        .sessions
        .find_by_refresh(&token_digest(token), now)
        .await
        .map_err(ApiError::from)?
        && session.client_id != super::browser::BROWSER_CLIENT_ID
    {
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": session.client_id,
            "sub": session.user_id.to_string(),
            "scope": session.scope.unwrap_or_default(),
            "exp": unix(session.expires_at),
            "iat": unix(session.created_at),
            "iss": state.config.issuer,
            "sid": session.id,
        }));
    }
    Ok(json!({ "active": false }))
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
    if let Some(claims) = live_access_token(state, token).await?
        && claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
    {
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let until = time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
        state
            .stores
            .sessions
            .block_jti(jti, until)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(())
}
