//! The admin API over HTTP: sign-in (with TOTP when the account has MFA), tokens kept fresh in
//! memory (never written to disk), and one typed method per call the console makes. The
//! end-to-end tests drive the server through this same client.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

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

/// A user row as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub status: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub mfa_enabled: bool,
    #[serde(default)]
    pub email_verified: bool,
    pub locked_until: Option<String>,
    pub last_login: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Pagination {
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub pages: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    pub users: Vec<User>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub client_id: String,
    pub ip: Option<String>,
    pub device: Value,
    pub last_activity: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub first_party: bool,
    pub client_secret: Option<String>,
}

/// An API resource (RFC 8707) tokens can be addressed to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub resource_servers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub kid: String,
    pub generation: u64,
    pub state: String,
    pub activate_at: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub at: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub users: std::collections::HashMap<String, u64>,
    pub active_sessions: u64,
    pub logins_last_hour: u64,
    pub logins_last_day: u64,
    pub failures_last_hour: u64,
    pub failures_last_day: u64,
    pub lockouts_last_day: u64,
}

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
    ) -> Result<(StatusCode, Value), ApiError> {
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
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    fn error(status: StatusCode, body: &Value) -> ApiError {
        let code = body["error"]["code"].as_str().unwrap_or("ERROR").to_owned();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned();
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

    fn keep(&self, body: &Value) -> Option<Tokens> {
        let data = &body["data"];
        Some(Tokens {
            access: data["accessToken"].as_str()?.to_owned(),
            refresh: data["refreshToken"].as_str()?.to_owned(),
            expires_at: Instant::now()
                + Duration::from_secs(data["expiresIn"].as_u64().unwrap_or(60)),
        })
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
        let body = if status == StatusCode::UNAUTHORIZED && body["error"]["code"] == "MFA_REQUIRED"
        {
            let Some(code) = totp.filter(|c| !c.is_empty()) else {
                return Err(ApiError::MfaRequired);
            };
            let token = body["error"]["mfaToken"].as_str().unwrap_or_default();
            let (status, body) = self
                .send(
                    Method::POST,
                    "/v1/auth/mfa/challenge",
                    None,
                    Some(json!({ "mfaToken": token, "code": code })),
                )
                .await?;
            if !status.is_success() {
                return Err(Self::error(status, &body));
            }
            body
        } else if status.is_success() {
            body
        } else {
            return Err(Self::error(status, &body));
        };
        *self.tokens.lock().await = self.keep(&body);
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
            return Err(Self::error(status, &body));
        }
        *tokens = self.keep(&body);
        tokens
            .as_ref()
            .map(|t| t.access.clone())
            .ok_or_else(|| ApiError::Unauthorized("refresh gave no token".into()))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let token = self.access_token().await?;
        let (status, body) = self.send(method, path, Some(&token), body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            let error = Self::error(status, &body);
            // A 401 ends the session, except one asking to confirm a change with the password.
            if matches!(error, ApiError::Unauthorized(_)) {
                *self.tokens.lock().await = None;
            }
            Err(error)
        }
    }

    fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
        serde_json::from_value(value)
            .map_err(|e| ApiError::Network(format!("unexpected answer: {e}")))
    }

    pub async fn stats(&self) -> Result<Stats, ApiError> {
        let body = self.call(Method::GET, "/v1/admin/stats", None).await?;
        Self::parse(body["data"].clone())
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
        let body = self.call(Method::GET, &path, None).await?;
        Ok(UserPage {
            users: Self::parse(body["data"].clone())?,
            pagination: Self::parse(body["pagination"].clone())?,
        })
    }

    pub async fn user_sessions(&self, id: &str) -> Result<Vec<Session>, ApiError> {
        let body = self
            .call(Method::GET, &format!("/v1/admin/users/{id}/sessions"), None)
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn update_user(&self, id: &str, change: Value) -> Result<User, ApiError> {
        let body = self
            .call(Method::PUT, &format!("/v1/admin/users/{id}"), Some(change))
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn user_action(&self, id: &str, action: &str) -> Result<(), ApiError> {
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
        let body = self.call(Method::GET, "/v1/admin/clients", None).await?;
        Self::parse(body["data"].clone())
    }

    pub async fn create_client(
        &self,
        name: &str,
        client_type: &str,
        redirect_uri: &str,
    ) -> Result<OAuthClient, ApiError> {
        let body = self
            .call(
                Method::POST,
                "/v1/admin/clients",
                Some(json!({ "name": name, "type": client_type, "redirectUris": [redirect_uri] })),
            )
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn rotate_client_secret(&self, id: &str) -> Result<OAuthClient, ApiError> {
        let body = self
            .call(
                Method::POST,
                &format!("/v1/admin/clients/{id}/rotate-secret"),
                None,
            )
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/v1/admin/clients/{id}"), None)
            .await
            .map(|_| ())
    }

    pub async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        let body = self.call(Method::GET, "/v1/admin/resources", None).await?;
        Self::parse(body["data"].clone())
    }

    pub async fn create_resource(
        &self,
        identifier: &str,
        name: &str,
        scopes: &[String],
    ) -> Result<ApiResource, ApiError> {
        let body = self
            .call(
                Method::POST,
                "/v1/admin/resources",
                Some(json!({ "identifier": identifier, "name": name, "scopes": scopes })),
            )
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn delete_resource(&self, id: &str) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/v1/admin/resources/{id}"), None)
            .await
            .map(|_| ())
    }

    pub async fn keys(&self) -> Result<Vec<Key>, ApiError> {
        let body = self.call(Method::GET, "/v1/admin/keys", None).await?;
        Self::parse(body["data"].clone())
    }

    pub async fn rotate_keys(&self, revoke_current: bool) -> Result<Vec<Key>, ApiError> {
        let body = self
            .call(
                Method::POST,
                "/v1/admin/keys/rotate",
                Some(json!({ "revokeCurrent": revoke_current })),
            )
            .await?;
        Self::parse(body["data"].clone())
    }

    pub async fn audit(&self, action: &str) -> Result<Vec<AuditEvent>, ApiError> {
        let mut path = "/v1/admin/audit?limit=100".to_owned();
        if !action.is_empty() {
            path.push_str(&format!("&type={action}"));
        }
        let body = self.call(Method::GET, &path, None).await?;
        Self::parse(body["data"]["events"].clone())
    }
}
