//! `/oauth2/token`: the authorization code, refresh token and client credentials grants.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::OAuthError;
use super::clients::{ClientCredentials, authenticate};
use super::code::{CodeGrant, code_key};
use super::dpop;
use super::targets::{self, Target};
use crate::audit::{self, Audit, AuditAction};
use crate::domain::oauth::{s256_challenge, valid_code_verifier};
use crate::domain::{ClientRecord, ClientType, GrantType, Scope};
use crate::error::ApiError;
use crate::service::ClientInfo;
use crate::service::account_status::ensure_may_sign_in;
use crate::service::refresh::{self, Refused};
use crate::service::sessions::{NewSession, SessionSecret, open_session};
use crate::state::AppState;
use crate::store::SessionRecord;
use crate::tokens::{AccessGrant, audience_for, issue_access, issue_client_access, issue_id_token};

/// How long a used code is remembered, so that a second use can revoke what the first got.
const USED_CODE_MEMORY: time::Duration = time::Duration::minutes(10);

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// RFC 8707 resource indicators; the parameter may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// `DPoP` for a token bound to the key of the request's proof, else `Bearer`.
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

/// One token request: the form, the Basic credentials and the `DPoP` proof that came with it.
pub async fn exchange(
    state: &AppState,
    params: TokenParams,
    basic: Option<(String, String)>,
    proof: Option<&str>,
    client_info: &ClientInfo,
) -> Result<TokenResponse, OAuthError> {
    let client = authenticate(
        state,
        ClientCredentials {
            basic,
            form_id: params.client_id.clone(),
            form_secret: params.client_secret.clone(),
            assertion_type: params.client_assertion_type.clone(),
            assertion: params.client_assertion.clone(),
        },
    )
    .await?;
    let grant = GrantType::parse(required(&params.grant_type, "grant_type")?)
        .ok_or_else(|| OAuthError::unsupported_grant_type("Unsupported grant_type"))?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::unauthorized_client(
            "The client may not use this grant type",
        ));
    }
    // Checked once the client is known: a stranger's proofs cost no store write.
    let proof = dpop::prove(state, proof, "POST", "/oauth2/token", None).await?;
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(OAuthError::bad_request(
            "invalid_dpop_proof",
            "This client's tokens are DPoP-bound: send a DPoP proof",
        ));
    }
    let key = proof.as_ref().map(|p| p.jkt.as_str());
    let answer = match grant {
        GrantType::AuthorizationCode => {
            authorization_code(state, &client, &params, key, client_info).await
        }
        GrantType::RefreshToken => refresh_token(state, &client, &params, key, client_info).await,
        GrantType::ClientCredentials => client_credentials(state, &client, &params, key).await,
    }?;
    state.metrics.token_issued(grant.as_str());
    Ok(answer)
}

/// What the token endpoint calls a token bound to `key`, or an unbound one.
fn token_type(key: Option<&str>) -> &'static str {
    if key.is_some() { "DPoP" } else { "Bearer" }
}

/// What one user-session token response is: for which target, bound to which DPoP key, with
/// which ID-token nonce and refresh token.
struct Answer<'a> {
    target: &'a Target,
    key: Option<&'a str>,
    nonce: Option<&'a str>,
    refresh_token: Option<String>,
}

/// Signs the token response for a user session: the access token carries exactly the
/// target's scope, is addressed to its resources (or the client) and bound to the proof's
/// key, if any.
fn respond(
    state: &AppState,
    user: &crate::domain::UserRecord,
    session: &SessionRecord,
    answer: Answer,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let Answer {
        target,
        key,
        nonce,
        refresh_token,
    } = answer;
    let scope = &target.scope;
    let grant = AccessGrant {
        scope: scope.to_string(),
        audience: audience_for(&state.config, &session.client_id, &target.resources),
        dpop_jkt: key.map(str::to_owned),
    };
    let (access_token, expires_in) = issue_access(state, user, session, &grant, now)?;
    let id_token = if scope.contains("openid") {
        Some(issue_id_token(
            state,
            user,
            session,
            scope,
            nonce,
            &access_token,
            now,
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: token_type(key),
        expires_in,
        refresh_token,
        id_token,
        scope: scope.to_string(),
    })
}

async fn authorization_code(
    state: &AppState,
    client: &ClientRecord,
    params: &TokenParams,
    key: Option<&str>,
    client_info: &ClientInfo,
) -> Result<TokenResponse, OAuthError> {
    let code = required(&params.code, "code")?;
    let now = state.clock.now();
    let stored_as = code_key(code);
    let Some(stored) = state
        .stores
        .codes
        .take_code(&stored_as, now)
        .await
        .map_err(ApiError::from)?
    else {
        revoke_after_reuse(state, code, client_info).await;
        return Err(OAuthError::invalid_grant(
            "The code is invalid, expired or already used",
        ));
    };
    let grant: CodeGrant = serde_json::from_str(&stored).map_err(ApiError::internal)?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "The code was issued to another client",
        ));
    }
    if params.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.code_challenge, params.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            if !valid_code_verifier(verifier) || s256_challenge(verifier) != *challenge {
                return Err(OAuthError::invalid_grant(
                    "The code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "No code_challenge was sent for this code",
            ));
        }
        // The same rule as at authorize, asked again: the client's setting may have changed
        // while the code was pending.
        (None, None) if client.must_use_pkce(state.config.require_pkce) => {
            return Err(OAuthError::invalid_grant(
                "PKCE is required for this client",
            ));
        }
        (None, None) => {}
    }
    // RFC 9449 section 10: a code asked for with dpop_jkt (or pushed with a proof) is
    // redeemed with a proof by that key only.
    if let Some(bound) = grant.dpop_jkt.as_deref() {
        match key {
            Some(key) if key == bound => {}
            Some(_) => {
                return Err(OAuthError::invalid_grant(
                    "The code is bound to another DPoP key",
                ));
            }
            None => {
                return Err(OAuthError::invalid_grant(
                    "The code is bound to a DPoP key: send a DPoP proof signed with it",
                ));
            }
        }
    }
    let user = state
        .stores
        .users
        .get_user(grant.user_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| OAuthError::invalid_grant("The user no longer exists"))?;
    ensure_may_sign_in(state, &user).map_err(|e| OAuthError::invalid_grant(e.message))?;
    let granted = Target {
        resources: grant.resources.clone(),
        scope: Scope::parse_any(&grant.scope).map_err(OAuthError::invalid_scope)?,
    };
    // This token may name fewer of the granted resources; the session keeps them all.
    let token_target = targets::narrow(state, &granted, &params.resource, None).await?;
    let new = NewSession {
        client_id: client.client_id.clone(),
        remember_me: false,
        amr: grant.amr.clone(),
        auth_time: grant.auth_time,
        scope: Some(granted.scope.to_string()),
        resources: granted.resources.clone(),
        secret: SessionSecret::RefreshToken,
        // RFC 9449 section 5: a public client's refresh token is bound to its key, since the
        // client has no other credential; a confidential client authenticates anyway.
        dpop_jkt: key
            .filter(|_| client.client_type == ClientType::Public)
            .map(str::to_owned),
    };
    let (session, refresh) = open_session(state, &user, new, client_info, now).await?;
    // Remember what this code produced, so that a replay can revoke it.
    let used = serde_json::json!({ "userId": user.id, "sessionId": session.id }).to_string();
    state
        .stores
        .codes
        .put_code(&format!("used-{stored_as}"), &used, now + USED_CODE_MEMORY)
        .await
        .map_err(ApiError::from)?;
    let refresh = (granted.scope.contains("offline_access")
        && client.allows_grant(GrantType::RefreshToken))
    .then_some(refresh);
    let answer = Answer {
        target: &token_target,
        key,
        nonce: grant.nonce.as_deref(),
        refresh_token: refresh,
    };
    respond(state, &user, &session, answer, now)
}

/// A second use of a code: whatever the first use produced is revoked (RFC 6749 4.1.2).
async fn revoke_after_reuse(state: &AppState, code: &str, client_info: &ClientInfo) {
    let now = state.clock.now();
    let key = format!("used-{}", code_key(code));
    let Ok(Some(used)) = state.stores.codes.take_code(&key, now).await else {
        return;
    };
    let Ok(used) = serde_json::from_str::<serde_json::Value>(&used) else {
        return;
    };
    let (Some(user_id), Some(session_id)) = (
        used["userId"].as_str().and_then(|u| u.parse().ok()),
        used["sessionId"].as_str(),
    ) else {
        return;
    };
    if let Err(e) = state
        .stores
        .sessions
        .revoke_session(user_id, session_id)
        .await
    {
        tracing::warn!(error = %e, "revoking after code reuse failed");
        return;
    }
    audit::record(
        state,
        client_info,
        Audit::by_user(AuditAction::OauthCodeReuseDetected, user_id)
            .details(serde_json::json!({ "sessionId": session_id, "sessionRevoked": true })),
    )
    .await;
}

/// A refused refresh, in RFC 6749 terms.
fn refusal(refused: Refused) -> OAuthError {
    match refused {
        Refused::Unknown => OAuthError::invalid_grant("The refresh token is invalid"),
        Refused::Revoked => OAuthError::invalid_grant("The refresh token was revoked"),
        Refused::Account(e) => OAuthError::invalid_grant(e.message),
        Refused::Failed(e) => OAuthError::from(e),
    }
}

/// What one refreshed access token is for: the session's grant, narrowed by the request.
async fn token_target(
    state: &AppState,
    session: &SessionRecord,
    params: &TokenParams,
) -> Result<Target, OAuthError> {
    let granted = Target {
        resources: session.resources.clone(),
        scope: Scope::parse_any(session.scope.as_deref().unwrap_or(""))
            .map_err(OAuthError::invalid_scope)?,
    };
    targets::narrow(state, &granted, &params.resource, params.scope.as_deref()).await
}

async fn refresh_token(
    state: &AppState,
    client: &ClientRecord,
    params: &TokenParams,
    key: Option<&str>,
    client_info: &ClientInfo,
) -> Result<TokenResponse, OAuthError> {
    let token = required(&params.refresh_token, "refresh_token")?;
    let now = state.clock.now();
    let presented = refresh::present(state, token, &client.client_id)
        .await
        .map_err(refusal)?;
    if let Some(session) = &presented.current {
        // Before the token rotates: a thief without the key leaves the session alone.
        sigil_keys::dpop::check_binding(session.dpop_jkt.as_deref(), key).or_else(|e| match e {
            // An unbound refresh token may still get a bound access token.
            sigil_keys::dpop::DpopError::NotBound => Ok(()),
            _ => Err(OAuthError::invalid_grant(
                "The refresh token is bound to a DPoP key: send a DPoP proof signed with it",
            )),
        })?;
    }
    // A request the grant does not cover is refused before the token rotates, so that the
    // client keeps a working refresh token.
    let early = match &presented.current {
        Some(session) => Some(token_target(state, session, params).await?),
        None => None,
    };
    let rotated = refresh::rotate(state, presented, &client.client_id, client_info)
        .await
        .map_err(refusal)?;
    let session = rotated.session;
    let target = match early {
        Some(target) => target,
        None => token_target(state, &session, params).await?,
    };
    let answer = Answer {
        target: &target,
        key,
        nonce: None,
        refresh_token: Some(rotated.refresh_token),
    };
    respond(state, &rotated.user, &session, answer, now)
}

async fn client_credentials(
    state: &AppState,
    client: &ClientRecord,
    params: &TokenParams,
    key: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::unauthorized_client(
            "client_credentials needs a confidential client",
        ));
    }
    // No user is involved: nothing that speaks about one.
    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| !matches!(s.as_str(), "openid" | "offline_access"))
        .cloned()
        .collect();
    let target = targets::resolve(
        state,
        &params.resource,
        params.scope.as_deref(),
        &allowed,
        &allowed,
    )
    .await?;
    let scope = target.scope.to_string();
    let grant = AccessGrant {
        audience: audience_for(&state.config, &client.client_id, &target.resources),
        scope: scope.clone(),
        dpop_jkt: key.map(str::to_owned),
    };
    let (access_token, expires_in) =
        issue_client_access(state, &client.client_id, &grant, state.clock.now())?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(key),
        expires_in,
        refresh_token: None,
        id_token: None,
        scope,
    })
}
