//! Bodies of the admin API: dashboard, audit trail, keys, OAuth clients and API resources.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The dashboard numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Users by status, and `total`.
    pub users: HashMap<String, u64>,
    pub active_sessions: u64,
    pub logins_last_hour: u64,
    pub logins_last_day: u64,
    pub failures_last_hour: u64,
    pub failures_last_day: u64,
    pub lockouts_last_day: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// Audit events, newest first; `nextCursor` fetches the page after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// One security-relevant action (SPEC section 7). Its fields are snake_case on the wire, as
/// they were before this type existed; log pipelines read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct AuditEventView {
    /// Sorts by time; also the cursor.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Dotted name, e.g. `login.failed`, `user.registered`.
    pub action: String,
    /// Who acted, when known.
    pub actor_id: Option<Uuid>,
    /// Whom it concerned, when known.
    pub target_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Small structured details (an object, or null when there are none); never secrets.
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = Option<Object>)))]
    pub details: serde_json::Value,
}

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// The one key that signs.
    Active,
    /// Replaced; published until every token it signed has expired.
    Retiring,
    /// No longer published.
    Retired,
    /// Withdrawn by an operator: verifies nothing.
    Revoked,
}

/// A signing key as listed by the admin API (never the private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub kid: String,
    pub generation: u64,
    pub state: KeyState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub activate_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Can keep a secret (a server).
    Confidential,
    /// Cannot (a browser or mobile app): PKCE is mandatory, no secret.
    Public,
}

fn yes() -> bool {
    true
}

/// An OAuth client as the admin API shows it (never the secret digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    /// Authorization requests only through the pushed-request endpoint (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests only as signed request objects (RFC 9101).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// Token requests only with a DPoP proof: every access token is bound (RFC 9449).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Authorization requests must carry a PKCE challenge (S256).
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// `client_secret_basic` (also accepts `client_secret_post`), `client_secret_post`,
    /// `client_secret_jwt`, `private_key_jwt` or `none` (public clients).
    #[serde(default)]
    pub token_endpoint_auth_method: String,
    /// The public keys of a `private_key_jwt` client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = Option<Object>)))]
    pub jwks: Option<serde_json::Value>,
    /// Where a `private_key_jwt` client publishes its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Only in the answer that created or rotated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// An API resource (RFC 8707) access tokens can be addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceView {
    pub id: Uuid,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub resource_servers: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
