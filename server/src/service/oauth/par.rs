//! Pushed authorization requests (RFC 9126): the client sends the parameters of an
//! authorization request to Sigil directly, authenticated, and the browser carries only a
//! reference to them. Nothing on the front channel can be read or altered on the way, and a
//! bad request is refused to the client before any user sees it.
//!
//! A pushed request is checked by the same rules as one from a browser
//! ([`authorize::check`]), kept for [`PUSHED_TTL`] and used once: the first
//! `/oauth2/authorize` naming its `request_uri` takes it out of the store, so a reference
//! that leaked from a browser's history is worth nothing afterwards.

use super::OAuthError;
use super::authorize::{self, AuthorizeParams, Channel, MAX_PARAM_BYTES, Pending, Refusal};
use super::dpop;
use crate::crypto::{random_token, token_digest};
use crate::domain::ClientRecord;
use crate::error::ApiError;
use crate::state::AppState;

/// The form of every `request_uri` Sigil hands out (RFC 9126 section 2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Long enough for a redirect, short enough that a leaked reference is soon dead.
pub const PUSHED_TTL: time::Duration = time::Duration::seconds(60);

/// Whether `client` may only send pushed requests: server-wide (`SIGIL_REQUIRE_PAR`) or
/// its own `require_pushed_authorization_requests`.
pub fn required(state: &AppState, client: &ClientRecord) -> bool {
    state.config.require_par || client.require_pushed_authorization_requests
}

fn key(reference: &str) -> String {
    format!("par:{}", token_digest(reference))
}

/// The answer of the pushed-request endpoint.
#[derive(Debug, serde::Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Checks and keeps the request `client` (already authenticated) pushed. A DPoP proof that
/// came with the push binds the code to its key (RFC 9449 section 10.1).
pub async fn push(
    state: &AppState,
    client: &ClientRecord,
    mut params: AuthorizeParams,
    proof: Option<&str>,
) -> Result<Pushed, OAuthError> {
    if params
        .client_id
        .as_deref()
        .is_some_and(|id| id != client.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    params.client_id = Some(client.client_id.clone());
    let proof = dpop::prove(state, proof, "POST", "/oauth2/par", None).await?;
    let (_, mut pending) = authorize::check(state, params, Channel::Pushed)
        .await
        .map_err(authorize::Invalid::into_oauth)?;
    // After the check: a request object's parameters replace the form's, dpop_jkt included.
    if let Some(proof) = proof {
        match pending.dpop_jkt.as_deref() {
            Some(jkt) if jkt != proof.jkt => {
                return Err(OAuthError::bad_request(
                    "invalid_dpop_proof",
                    "dpop_jkt names another key than the DPoP proof's",
                ));
            }
            _ => pending.dpop_jkt = Some(proof.jkt),
        }
    }
    let reference = random_token();
    let json = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    state
        .stores
        .codes
        .put_code(&key(&reference), &json, state.clock.now() + PUSHED_TTL)
        .await
        .map_err(ApiError::from)?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: PUSHED_TTL.whole_seconds(),
    })
}

/// The pushed request `request_uri` names, taken out of the store, for the client the
/// browser's `client_id` names. The client and its redirect URI are looked at again: either
/// may have changed since the push.
pub async fn take(
    state: &AppState,
    client_id: Option<&str>,
    request_uri: &str,
) -> Result<(ClientRecord, Pending), Refusal> {
    let gone = || {
        Refusal::Page(
            "This sign-in link has expired or was already used. Start again from the application."
                .into(),
        )
    };
    let unavailable = |e: ApiError| Refusal::Page(e.message);
    let reference = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|r| !r.is_empty() && r.len() <= MAX_PARAM_BYTES)
        .ok_or_else(|| {
            Refusal::Page("request_uri must be one this server issued for a pushed request.".into())
        })?;
    let client_id = client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Refusal::Page("The request has no client_id.".into()))?;
    let stored = state
        .stores
        .codes
        .take_code(&key(reference), state.clock.now())
        .await
        .map_err(|e| unavailable(e.into()))?
        .ok_or_else(gone)?;
    let pending: Pending =
        serde_json::from_str(&stored).map_err(|e| unavailable(ApiError::internal(e)))?;
    if pending.client_id != client_id {
        return Err(Refusal::Page(
            "This sign-in link belongs to another application.".into(),
        ));
    }
    let client = state
        .stores
        .clients
        .get_client(client_id)
        .await
        .map_err(|e| unavailable(e.into()))?
        .filter(|c| c.has_redirect_uri(&pending.redirect_uri))
        .ok_or_else(|| Refusal::Page("The application is not registered here.".into()))?;
    Ok((client, pending))
}
