//! Authorization codes: what one stands for, and issuing it at the end of `/oauth2/authorize`
//! (redeemed by the token endpoint, `token.rs`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::authorize::{Pending, redirect_to};
use super::browser::BrowserSession;
use crate::crypto::{random_token, token_digest};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a code lives.
pub const CODE_TTL: time::Duration = time::Duration::seconds(60);

/// What an authorization code stands for until it is exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: Uuid,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    /// The DPoP key the code must be redeemed with.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

pub fn code_key(code: &str) -> String {
    format!("code:{}", token_digest(code))
}

/// Stores a new code for the signed-in browser and the validated request; answers the
/// redirect that carries it (with `state` and `iss`, RFC 9207).
pub async fn issue(
    state: &AppState,
    pending: &Pending,
    browser: &BrowserSession,
    now: OffsetDateTime,
) -> ApiResult<String> {
    let code = random_token();
    let grant = CodeGrant {
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        user_id: browser.user.id,
        scope: pending.scope.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        auth_time: browser.session.auth_time,
        amr: browser.session.amr.clone(),
        resources: pending.resources.clone(),
        dpop_jkt: pending.dpop_jkt.clone(),
    };
    let json = serde_json::to_string(&grant).map_err(ApiError::internal)?;
    state
        .stores
        .codes
        .put_code(&code_key(&code), &json, now + CODE_TTL)
        .await?;
    let mut params = vec![
        ("code", code.as_str()),
        ("iss", state.config.issuer.as_str()),
    ];
    if let Some(s) = pending.state.as_deref() {
        params.push(("state", s));
    }
    Ok(redirect_to(&pending.redirect_uri, &params))
}
