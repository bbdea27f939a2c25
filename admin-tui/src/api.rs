//! The admin API over HTTP: sign-in (with TOTP when the account has MFA), tokens kept fresh in
//! memory (never written to disk), and one typed method per call the console makes, each
//! answer read as the `sigil-proto` type the server wrote. The end-to-end tests drive the
//! server through this same client.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sigil_proto::admin::AuditPage;
use sigil_proto::users::TokensView;
use sigil_proto::{Envelope, ErrorEnvelope};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Not signed in, or the session ended: back to the sign-in screen.
    #[error("signed out: {0}")]
    Unauthorized(String),
    /// The account has MFA: ask for a code and sign in again with it.
    #[error("a code from the authenticator app is required")]
    MfaRequired,
    /// A sensitive change (roles) needs a recent sign-in: ask for the password and resend.
    #[error("confirm with your password")]
    ReauthenticationRequired,
    #[error("{code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("network: {0}")]
    Network(String),
}

struct Tokens {
    access: String,
    refresh: String,
    expires_at: Instant,
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    tokens: Mutex<Option<Tokens>>,
}

// The answers' bodies are the server's own wire types (sigil-proto), so a field the server
// renames cannot silently go blank here; the short names read better in the screens.
pub use sigil_proto::Pagination;
pub use sigil_proto::admin::{
    AuditEventView as AuditEvent, ClientType, ClientView as OAuthClient, KeyInfo as Key, KeyState,
    ResourceView as ApiResource, Stats,
};

/// What the new-client form can set besides name, type and redirect URI: the words after
/// them (`par`, `jar`, `dpop`, `first-party`, `no-pkce`, `secret-post`, `secret-jwt`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    pub first_party: bool,
    pub require_par: bool,
    pub require_signed_requests: bool,
    pub require_dpop: bool,
    pub without_pkce: bool,
    /// `None`: the type's default.
    pub auth_method: Option<&'static str>,
}

impl ClientSettings {
    /// The settings the form's words name; the first word it does not know.
    pub fn from_words<'a>(words: &[&'a str]) -> Result<Self, &'a str> {
        let mut settings = Self::default();
        for word in words {
            match *word {
                "first-party" => settings.first_party = true,
                "par" => settings.require_par = true,
                "jar" => settings.require_signed_requests = true,
                "dpop" => settings.require_dpop = true,
                "no-pkce" => settings.without_pkce = true,
                "secret-post" => settings.auth_method = Some("client_secret_post"),
                "secret-jwt" => settings.auth_method = Some("client_secret_jwt"),
                unknown => return Err(unknown),
            }
        }
        Ok(settings)
    }
}
pub use sigil_proto::users::{
    AdminSessionView as Session, AdminUserView as User, Device, UserPage,
};

/// Filters of the user list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    pub page: u64,
    pub search: String,
    pub status: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            tokens: Mutex::new(None),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let status = response.status();
        // A body that cannot be read is treated like one that does not parse: the status
        // still says what happened.
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Signs in with email or username and password; with MFA on, a first call answers
    /// [`ApiError::MfaRequired`] and a second call with `totp` completes it.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Result<(), ApiError> {
        let key = if login.contains('@') {
            "email"
        } else {
            "username"
        };
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({ key: login, "password": password })),
            )
            .await?;
        let body = match mfa_token(status, &body) {
            Some(token) => {
                let Some(code) = totp.filter(|c| !c.is_empty()) else {
                    return Err(ApiError::MfaRequired);
                };
                let (status, body) = self
                    .send(
                        Method::POST,
                        "/v1/auth/mfa/challenge",
                        None,
                        Some(json!({ "mfaToken": token, "code": code })),
                    )
                    .await?;
                if !status.is_success() {
                    return Err(error(status, &body));
                }
                body
            }
            None if status.is_success() => body,
            None => return Err(error(status, &body)),
        };
        let tokens = Tokens::from(data::<TokensView>(&body)?);
        *self.tokens.lock().await = Some(tokens);
        Ok(())
    }

    pub async fn signed_in(&self) -> bool {
        self.tokens.lock().await.is_some()
    }

    /// Forgets the tokens (and ends the session on the server, best effort).
    pub async fn sign_out(&self) {
        let tokens = self.tokens.lock().await.take();
        if let Some(t) = tokens {
            let _ = self
                .send(
                    Method::POST,
                    "/v1/auth/logout",
                    Some(&t.access),
                    Some(json!({ "refreshToken": t.refresh })),
                )
                .await;
        }
    }

    /// A valid access token, refreshed first when it is about to expire.
    async fn access_token(&self) -> Result<String, ApiError> {
        let mut tokens = self.tokens.lock().await;
        let Some(current) = tokens.as_ref() else {
            return Err(ApiError::Unauthorized("not signed in".into()));
        };
        if current.expires_at > Instant::now() + REFRESH_MARGIN {
            return Ok(current.access.clone());
        }
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/auth/refresh",
                None,
                Some(json!({ "refreshToken": current.refresh })),
            )
            .await?;
        if !status.is_success() {
            *tokens = None;
            return Err(error(status, &body));
        }
        *tokens = data::<TokensView>(&body).ok().map(Tokens::from);
        tokens
            .as_ref()
            .map(|t| t.access.clone())
            .ok_or_else(|| ApiError::Unauthorized("refresh gave no token".into()))
    }

    /// An authenticated call; the body of a successful answer, unparsed.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let token = self.access_token().await?;
        let (status, body) = self.send(method, path, Some(&token), body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            let error = error(status, &body);
            // A 401 ends the session, except one asking to confirm a change with the password.
            if matches!(error, ApiError::Unauthorized(_)) {
                *self.tokens.lock().await = None;
            }
            Err(error)
        }
    }

    /// An authenticated call whose answer carries `T` in its envelope.
    async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ApiError> {
        data(&self.call(method, path, body).await?)
    }

    pub async fn stats(&self) -> Result<Stats, ApiError> {
        self.fetch(Method::GET, "/v1/admin/stats", None).await
    }

    pub async fn users(&self, query: &UserQuery) -> Result<UserPage, ApiError> {
        let mut path = format!("/v1/admin/users?limit=20&page={}", query.page.max(1));
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        if !query.search.is_empty() {
            path.push_str(&format!("&search={}", encode(&query.search)));
        }
        if let Some(status) = &query.status {
            path.push_str(&format!("&status={}", encode(status)));
        }
        self.fetch(Method::GET, &path, None).await
    }

    pub async fn user_sessions(&self, id: Uuid) -> Result<Vec<Session>, ApiError> {
        self.fetch(Method::GET, &format!("/v1/admin/users/{id}/sessions"), None)
            .await
    }

    pub async fn update_user(&self, id: Uuid, change: Value) -> Result<User, ApiError> {
        self.fetch(Method::PUT, &format!("/v1/admin/users/{id}"), Some(change))
            .await
    }

    pub async fn user_action(&self, id: Uuid, action: &str) -> Result<(), ApiError> {
        let (method, path) = match action {
            "unlock" => (Method::POST, format!("/v1/admin/users/{id}/unlock")),
            "reset-mfa" => (Method::POST, format!("/v1/admin/users/{id}/reset-mfa")),
            "revoke-sessions" => (Method::DELETE, format!("/v1/admin/users/{id}/sessions")),
            "delete" => (Method::DELETE, format!("/v1/admin/users/{id}")),
            other => return Err(ApiError::Network(format!("unknown action {other}"))),
        };
        self.call(method, &path, None).await.map(|_| ())
    }

    pub async fn clients(&self) -> Result<Vec<OAuthClient>, ApiError> {
        self.fetch(Method::GET, "/v1/admin/clients", None).await
    }

    pub async fn create_client(
        &self,
        name: &str,
        client_type: ClientType,
        redirect_uri: &str,
        settings: &ClientSettings,
    ) -> Result<OAuthClient, ApiError> {
        let mut body = json!({
            "name": name, "type": client_type, "redirectUris": [redirect_uri],
            "firstParty": settings.first_party,
            "requirePushedAuthorizationRequests": settings.require_par,
            "requireSignedRequestObject": settings.require_signed_requests,
            "dpopBoundAccessTokens": settings.require_dpop,
            "requirePkce": !settings.without_pkce,
        });
        if let Some(method) = settings.auth_method {
            body["tokenEndpointAuthMethod"] = json!(method);
        }
        self.fetch(Method::POST, "/v1/admin/clients", Some(body))
            .await
    }

    pub async fn rotate_client_secret(&self, id: &str) -> Result<OAuthClient, ApiError> {
        self.fetch(
            Method::POST,
            &format!("/v1/admin/clients/{id}/rotate-secret"),
            None,
        )
        .await
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/v1/admin/clients/{id}"), None)
            .await
            .map(|_| ())
    }

    pub async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        self.fetch(Method::GET, "/v1/admin/resources", None).await
    }

    pub async fn create_resource(
        &self,
        identifier: &str,
        name: &str,
        scopes: &[String],
    ) -> Result<ApiResource, ApiError> {
        self.fetch(
            Method::POST,
            "/v1/admin/resources",
            Some(json!({ "identifier": identifier, "name": name, "scopes": scopes })),
        )
        .await
    }

    pub async fn delete_resource(&self, id: Uuid) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/v1/admin/resources/{id}"), None)
            .await
            .map(|_| ())
    }

    pub async fn keys(&self) -> Result<Vec<Key>, ApiError> {
        self.fetch(Method::GET, "/v1/admin/keys", None).await
    }

    pub async fn rotate_keys(&self, revoke_current: bool) -> Result<Vec<Key>, ApiError> {
        self.fetch(
            Method::POST,
            "/v1/admin/keys/rotate",
            Some(json!({ "revokeCurrent": revoke_current })),
        )
        .await
    }

    pub async fn audit(&self, action: &str) -> Result<Vec<AuditEvent>, ApiError> {
        let mut path = "/v1/admin/audit?limit=100".to_owned();
        if !action.is_empty() {
            path.push_str(&format!("&type={action}"));
        }
        let page: AuditPage = self.fetch(Method::GET, &path, None).await?;
        Ok(page.events)
    }
}

impl From<TokensView> for Tokens {
    fn from(view: TokensView) -> Self {
        Self {
            access: view.access_token,
            refresh: view.refresh_token,
            expires_at: Instant::now() + Duration::from_secs(view.expires_in),
        }
    }
}

/// A whole answer body as `T`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Network(format!("unexpected answer: {e}")))
}

/// What a success envelope carries; an envelope without data is as unexpected as a wrong one.
fn data<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse::<Envelope<T>>(body)?
        .data
        .ok_or_else(|| ApiError::Network("unexpected answer: no data".into()))
}

/// The error an answer that failed stands for. A body that is not the server's error
/// envelope (a proxy's page, say) still gives the status.
fn error(status: StatusCode, body: &[u8]) -> ApiError {
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => (envelope.error.code, envelope.error.message),
        Err(_) => ("ERROR".to_owned(), "request failed".to_owned()),
    };
    match (status.as_u16(), code.as_str()) {
        (_, "MFA_REQUIRED") => ApiError::MfaRequired,
        (_, "REAUTHENTICATION_REQUIRED") => ApiError::ReauthenticationRequired,
        (401, _) => ApiError::Unauthorized(message),
        _ => ApiError::Server {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// With a sign-in that needs the second factor, the token for the challenge. A missing token
/// becomes an empty one, which the challenge rejects with its own error.
fn mfa_token(status: StatusCode, body: &[u8]) -> Option<String> {
    if status != StatusCode::UNAUTHORIZED {
        return None;
    }
    let envelope = serde_json::from_slice::<ErrorEnvelope>(body).ok()?;
    (envelope.error.code == "MFA_REQUIRED").then(|| envelope.error.mfa_token.unwrap_or_default())
}

#[cfg(test)]
mod tests;
