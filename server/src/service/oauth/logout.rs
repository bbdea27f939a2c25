//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use serde::Deserialize;
use serde_json::{Map, Value};
use sigil_keys::VerifyOptions;

use crate::clock::unix;
use crate::domain::ClientRecord;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// A checked logout request.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub client: Option<ClientRecord>,
    /// Registered for the client; safe to redirect to.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// The client session named by the ID token.
    pub sid: Option<String>,
    pub user_id: Option<uuid::Uuid>,
}

/// Checks the hint (ours, any age) and that the redirect target is registered; anything
/// doubtful is an error page, never a redirect.
pub async fn validate(state: &AppState, params: LogoutParams) -> Result<LogoutRequest, String> {
    let mut request = LogoutRequest {
        state: params.state.clone(),
        ..Default::default()
    };
    let mut client_id = params.client_id.clone().filter(|c| !c.is_empty());
    if let Some(hint) = params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        let unverified: Map<String, Value> = sigil_keys::unverified_claims(hint)
            .map_err(|_| "The id_token_hint is not an ID token.".to_owned())?;
        let aud = unverified
            .get("aud")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut options = VerifyOptions::new(&state.config.issuer, &aud);
        // A hint may be long expired; only its signature and issuer matter here.
        options.leeway_secs = 10 * 365 * 86_400;
        let verified = state
            .keyring
            .verifier()
            .verify::<Map<String, Value>>(hint, &options, unix(state.clock.now()))
            .map_err(|_| "The id_token_hint was not issued here.".to_owned())?;
        if client_id.as_deref().is_some_and(|c| c != aud) {
            return Err("client_id does not match the id_token_hint.".into());
        }
        client_id = Some(aud);
        request.sid = verified
            .claims
            .get("sid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        request.user_id = verified
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
    }
    if let Some(id) = client_id {
        request.client = state
            .stores
            .clients
            .get_client(&id)
            .await
            .map_err(|e| ApiError::from(e).message)?;
    }
    if let Some(uri) = params.post_logout_redirect_uri.filter(|u| !u.is_empty()) {
        let registered = request
            .client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.contains(&uri));
        if !registered {
            return Err(
                "The post_logout_redirect_uri is not registered for this application.".into(),
            );
        }
        request.post_logout_redirect_uri = Some(uri);
    }
    Ok(request)
}
