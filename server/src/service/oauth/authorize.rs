//! `/oauth2/authorize`: validating the request, deciding whether the user must sign in or
//! consent, and issuing the authorization code.
//!
//! Errors go back to the client by redirect only once the client and the redirect URI are
//! known to be valid; before that the user sees an error page (no open redirect).

use serde::{Deserialize, Serialize};
use url::Url;

use super::browser::BrowserSession;
use super::targets;
use crate::crypto::{random_token, token_digest};
use crate::domain::oauth::{ACR_MFA, used_second_factor};
use crate::domain::{ClientRecord, GrantType, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a pending request (waiting for login or consent) lives.
const PENDING_TTL: time::Duration = time::Duration::minutes(15);

/// The request parameters, as sent (query or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Space-separated `acr` values asked for, most preferred first (OIDC Core 3.1.2.1).
    pub acr_values: Option<String>,
    /// RFC 8707 resource indicators; the parameter may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
    /// A pushed request (RFC 9126) to use instead of the other parameters.
    pub request_uri: Option<String>,
    /// A signed request object (RFC 9101) holding the parameters instead.
    pub request: Option<String>,
    /// The thumbprint of the DPoP key the code will be bound to (RFC 9449 section 10).
    pub dpop_jkt: Option<String>,
}

/// A validated request, kept while the user signs in or consents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// Unix nanoseconds: only a sign-in at or after this satisfies `prompt=login`. Seconds
    /// were too coarse: a sign-in earlier in the same second passed. Requests stored before
    /// this field existed read as the far future, so they ask for a fresh sign-in.
    #[serde(default = "far_future")]
    pub created_at_ns: i128,
    /// Registered API resources the tokens will be addressed to.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `acr_values` asked for a second factor: a session without one signs in again.
    #[serde(default)]
    pub wants_mfa: bool,
    /// The DPoP key the code is bound to: `dpop_jkt`, or the key of the push's proof.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

fn far_future() -> i128 {
    i128::MAX
}

/// What is wrong with a request, before anybody decides how to tell whom.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    /// The client or redirect URI cannot be trusted with a redirect.
    Untrusted(String),
    /// The store could not answer.
    Unavailable(String),
    /// A request object that does not check out: its redirect URI cannot be trusted.
    RequestObject(String),
    /// A request of a known client to a registered redirect URI, with an RFC 6749 error.
    Request {
        pending: Box<Pending>,
        error: &'static str,
        description: String,
    },
}

impl Invalid {
    /// For a browser at `/oauth2/authorize`: a page, or the error sent to the client.
    fn refusal(self, state: &AppState) -> Refusal {
        match self {
            Self::Untrusted(text) | Self::Unavailable(text) | Self::RequestObject(text) => {
                Refusal::Page(text)
            }
            Self::Request {
                pending,
                error,
                description,
            } => error_redirect(state, &pending, error, &description),
        }
    }

    /// For a client at the pushed-request endpoint: RFC 9126 answers every error as JSON.
    pub fn into_oauth(self) -> super::OAuthError {
        match self {
            Self::Untrusted(text) => super::OAuthError::invalid_request(text),
            Self::Unavailable(text) => ApiError::unavailable(text).into(),
            Self::RequestObject(text) => {
                super::OAuthError::bad_request("invalid_request_object", text)
            }
            Self::Request {
                error, description, ..
            } => super::OAuthError::bad_request(error, description),
        }
    }
}

/// Where the parameters of a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The browser's query or form.
    FrontChannel,
    /// Pushed by the authenticated client (RFC 9126).
    Pushed,
}

/// Why the request cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Shown to the user: the client or redirect URI cannot be trusted with a redirect.
    Page(String),
    /// Sent to the client's redirect URI.
    Redirect(String),
}

/// The appended query of a redirect to the client.
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

fn error_redirect(state: &AppState, pending: &Pending, error: &str, description: &str) -> Refusal {
    let mut params = vec![
        ("error", error),
        ("error_description", description),
        ("iss", state.config.issuer.as_str()),
    ];
    if let Some(s) = pending.state.as_deref() {
        params.push(("state", s));
    }
    Refusal::Redirect(redirect_to(&pending.redirect_uri, &params))
}

/// The longest value a free-form authorization parameter may have, in bytes. Pending
/// requests are stored until the user signs in; without a cap, anonymous requests with huge
/// `state`s grow the store by megabytes a second.
pub const MAX_PARAM_BYTES: usize = 512;
/// Redirect URIs are URLs; they get more room, but not unbounded.
const MAX_REDIRECT_URI_BYTES: usize = 2048;
const MAX_RESOURCES: usize = 10;

/// The first parameter that breaks the size caps.
fn oversized(params: &AuthorizeParams) -> Option<&'static str> {
    let single = [
        ("response_type", &params.response_type),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("prompt", &params.prompt),
        ("max_age", &params.max_age),
        ("login_hint", &params.login_hint),
        ("acr_values", &params.acr_values),
        ("dpop_jkt", &params.dpop_jkt),
    ];
    if let Some((name, _)) = single
        .iter()
        .find(|(_, v)| v.as_deref().is_some_and(|v| v.len() > MAX_PARAM_BYTES))
    {
        return Some(name);
    }
    let too_many = params.resource.len() > MAX_RESOURCES;
    (too_many || params.resource.iter().any(|r| r.len() > MAX_PARAM_BYTES)).then_some("resource")
}

/// Checks client and redirect URI first (errors as a page), then everything else (errors as
/// a redirect).
/// A `request_uri` stands for a pushed request instead (see [`super::par`]).
pub async fn validate(
    state: &AppState,
    params: AuthorizeParams,
) -> Result<(ClientRecord, Pending), Refusal> {
    if let Some(request_uri) = params.request_uri.as_deref() {
        return super::par::take(state, params.client_id.as_deref(), request_uri).await;
    }
    check(state, params, Channel::FrontChannel)
        .await
        .map_err(|invalid| invalid.refusal(state))
}

/// The rules of an authorization request, wherever it came from.
pub async fn check(
    state: &AppState,
    mut params: AuthorizeParams,
    channel: Channel,
) -> Result<(ClientRecord, Pending), Invalid> {
    let too_long =
        |what: &str| Invalid::Untrusted(format!("The {what} of the request is too long."));
    if params
        .client_id
        .as_deref()
        .is_some_and(|c| c.len() > MAX_PARAM_BYTES)
    {
        return Err(too_long("client_id"));
    }
    let client_id = params
        .client_id
        .take()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Invalid::Untrusted("The request has no client_id.".into()))?;
    let client = state
        .stores
        .clients
        .get_client(&client_id)
        .await
        .map_err(|e| Invalid::Unavailable(ApiError::from(e).message))?
        .ok_or_else(|| Invalid::Untrusted("The application is not registered here.".into()))?;
    let signed = match params.request.take() {
        Some(object) => {
            params = super::request_object::open(state, &client, &object).await?;
            true
        }
        None => false,
    };
    if params
        .redirect_uri
        .as_deref()
        .is_some_and(|r| r.len() > MAX_REDIRECT_URI_BYTES)
    {
        return Err(too_long("redirect_uri"));
    }
    let oversized = oversized(&params);
    if oversized == Some("state") {
        // Not echoed back: a redirect carrying it would be as large as the request.
        params.state = None;
    }
    let redirect_uri = params
        .redirect_uri
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Invalid::Untrusted("The request has no redirect_uri.".into()))?;
    if !client.has_redirect_uri(&redirect_uri) {
        return Err(Invalid::Untrusted(
            "The redirect_uri is not registered for this application.".into(),
        ));
    }

    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let mut pending = Pending {
        client_id: client.client_id.clone(),
        redirect_uri,
        scope: String::new(),
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        code_challenge: None,
        prompt_none: prompts.contains(&"none"),
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age: None,
        login_hint: params.login_hint.clone(),
        created_at_ns: state.clock.now().unix_timestamp_nanos(),
        resources: Vec::new(),
        wants_mfa: params
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split(' ').any(|acr| acr == ACR_MFA)),
        dpop_jkt: None,
    };
    let refuse = |error: &'static str, description: &str| Invalid::Request {
        pending: Box::new(pending.clone()),
        error,
        description: description.to_owned(),
    };

    if let Some(name) = oversized {
        return Err(refuse(
            "invalid_request",
            &format!("{name} is longer than {MAX_PARAM_BYTES} bytes"),
        ));
    }
    if client.require_signed_request_object && !signed {
        return Err(refuse(
            "invalid_request",
            "This application must sign its authorization requests (a request object, RFC 9101)",
        ));
    }
    match channel {
        Channel::FrontChannel if super::par::required(state, &client) => {
            return Err(refuse(
                "invalid_request",
                "This application must push its authorization requests (RFC 9126)",
            ));
        }
        Channel::Pushed if params.request_uri.is_some() => {
            return Err(refuse("invalid_request", "request_uri cannot be pushed"));
        }
        _ => {}
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "The client may not use the authorization code grant",
        ));
    }
    if let Some(unknown) = prompts
        .iter()
        .find(|p| !matches!(**p, "none" | "login" | "consent"))
    {
        return Err(refuse(
            "invalid_request",
            &format!("Unsupported prompt value {unknown}"),
        ));
    }
    if pending.prompt_none && prompts.len() > 1 {
        return Err(refuse("invalid_request", "prompt=none cannot be combined"));
    }
    let requested = params.scope.as_deref().unwrap_or("");
    if requested.split(' ').all(str::is_empty) {
        return Err(refuse("invalid_scope", "scope is required"));
    }
    let target = match targets::resolve(
        state,
        &params.resource,
        Some(requested),
        &client.scopes,
        &[],
    )
    .await
    {
        Ok(target) => target,
        Err(e) if e.status >= 500 => return Err(Invalid::Unavailable(e.description)),
        Err(e) => return Err(refuse(e.error, &e.description)),
    };
    let mut code_challenge = None;
    match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        (None, None) if client.must_use_pkce(state.config.require_pkce) => {
            return Err(refuse(
                "invalid_request",
                "PKCE (code_challenge with S256) is required",
            ));
        }
        (None, None) => {}
        (Some(challenge), Some("S256")) => {
            if !is_sha256_base64url(challenge) {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge is not a S256 challenge",
                ));
            }
            code_challenge = Some(challenge.to_owned());
        }
        (Some(_), Some("plain") | None) => {
            return Err(refuse(
                "invalid_request",
                "PKCE method plain is not allowed; use S256",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "Unsupported code_challenge_method",
            ));
        }
        (None, Some(_)) => return Err(refuse("invalid_request", "code_challenge is missing")),
    }
    let max_age = match params.max_age.as_deref() {
        Some(max_age) => match max_age.parse::<u64>() {
            Ok(age) => Some(age),
            Err(_) => {
                return Err(refuse(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ));
            }
        },
        None => None,
    };
    if let Some(jkt) = params.dpop_jkt.as_deref() {
        if !is_sha256_base64url(jkt) {
            return Err(refuse(
                "invalid_request",
                "dpop_jkt is not a JWK SHA-256 thumbprint",
            ));
        }
        pending.dpop_jkt = Some(jkt.to_owned());
    }
    pending.code_challenge = code_challenge;
    pending.max_age = max_age;
    pending.scope = target.scope.to_string();
    pending.resources = target.resources;
    Ok((client, pending))
}

/// Whether `value` looks like a SHA-256 digest in base64url without padding (an S256 code
/// challenge, a JWK thumbprint).
fn is_sha256_base64url(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the user has to do next.
#[derive(Debug)]
pub enum Next {
    /// Sign in, then come back to the request.
    Login { request_id: String },
    /// Agree to share the scopes.
    Consent {
        request_id: String,
        client: Box<ClientRecord>,
        scope: Scope,
    },
    /// Done: send the browser here (with the code).
    Redirect(String),
}

fn pending_key(request_id: &str) -> String {
    format!("authreq:{}", token_digest(request_id))
}

pub async fn save(state: &AppState, pending: &Pending) -> ApiResult<String> {
    let request_id = random_token();
    let json = serde_json::to_string(pending).map_err(ApiError::internal)?;
    state
        .stores
        .codes
        .put_code(
            &pending_key(&request_id),
            &json,
            state.clock.now() + PENDING_TTL,
        )
        .await?;
    Ok(request_id)
}

pub async fn load(state: &AppState, request_id: &str) -> ApiResult<Option<Pending>> {
    let stored = state
        .stores
        .codes
        .peek_code(&pending_key(request_id), state.clock.now())
        .await?;
    stored
        .map(|json| serde_json::from_str(&json).map_err(ApiError::internal))
        .transpose()
}

/// Decides the next step for a validated request and the browser's session, if any.
pub async fn proceed(
    state: &AppState,
    client: &ClientRecord,
    pending: &Pending,
    browser: Option<&BrowserSession>,
) -> Result<Next, Refusal> {
    let now = state.clock.now();
    // A session without a second factor meets `acr_values=urn:sigil:mfa` by signing in
    // again (which asks for the code when the user has one); a user without a second factor
    // gets through after that sign-in, and the ID token without `acr` tells the client so.
    let fresh_enough = |b: &BrowserSession| {
        let auth_time = b.session.auth_time.unix_timestamp();
        let since_request = b.session.auth_time.unix_timestamp_nanos() >= pending.created_at_ns;
        let after_prompt = !pending.prompt_login || since_request;
        let within_max_age = pending.max_age.is_none_or(|age| {
            now.unix_timestamp() - auth_time <= i64::try_from(age).unwrap_or(i64::MAX)
        });
        let stepped_up = !pending.wants_mfa || used_second_factor(&b.session.amr) || since_request;
        after_prompt && within_max_age && stepped_up
    };
    let Some(browser) = browser.filter(|b| fresh_enough(b)) else {
        if pending.prompt_none {
            return Err(error_redirect(
                state,
                pending,
                "login_required",
                "The user is not signed in",
            ));
        }
        let request_id = save(state, pending).await.map_err(page)?;
        return Ok(Next::Login { request_id });
    };
    let scope = Scope::parse_any(&pending.scope).map_err(Refusal::Page)?;
    if !client.first_party {
        let granted = state
            .stores
            .clients
            .get_consent(browser.user.id, &client.client_id)
            .await
            .map_err(|e| page(e.into()))?;
        let covered = granted.is_some_and(|g| scope.is_subset_of(&g));
        if !covered || pending.prompt_consent {
            if pending.prompt_none {
                return Err(error_redirect(
                    state,
                    pending,
                    "consent_required",
                    "The user has not consented",
                ));
            }
            let request_id = save(state, pending).await.map_err(page)?;
            return Ok(Next::Consent {
                request_id,
                client: Box::new(client.clone()),
                scope,
            });
        }
    }
    let url = super::code::issue(state, pending, browser, now)
        .await
        .map_err(page)?;
    Ok(Next::Redirect(url))
}

fn page(err: ApiError) -> Refusal {
    Refusal::Page(err.message)
}

/// The user agreed: remember it, and issue the code.
pub async fn consent_given(
    state: &AppState,
    pending: &Pending,
    browser: &BrowserSession,
) -> ApiResult<String> {
    let now = state.clock.now();
    let scope = Scope::parse_any(&pending.scope).map_err(ApiError::bad_request)?;
    state
        .stores
        .clients
        .put_consent(browser.user.id, &pending.client_id, scope.items(), now)
        .await?;
    super::code::issue(state, pending, browser, now).await
}

/// The user declined: the client hears `access_denied`.
pub fn consent_denied(state: &AppState, pending: &Pending) -> String {
    match error_redirect(state, pending, "access_denied", "The user declined") {
        Refusal::Redirect(url) | Refusal::Page(url) => url,
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_to;

    /// Parameters are appended to what the registered URI already carries, and encoded.
    #[test]
    fn redirects_keep_registered_query() {
        assert_eq!(
            redirect_to(
                "https://app.example.com/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://app.example.com/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
