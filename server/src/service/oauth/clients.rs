//! OAuth client registration (admin API and CLI) and client authentication.

use serde::Deserialize;
use time::OffsetDateTime;

use super::OAuthError;
use crate::audit::{Acting, AuditAction};
use crate::crypto::{random_token, token_digest};
use crate::domain::oauth::{KNOWN_SCOPES, validate_jwks_uri, validate_redirect_uri};
use crate::domain::{AuthMethod, ClientRecord, ClientType, GrantType};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::state::AppState;

/// A client as the admin API receives it.
#[derive(Debug, Clone, Default, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientInput {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[salvo(schema(value_type = sigil_proto::admin::ClientType, required = true))]
    pub client_type: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token` (which need a redirect URI).
    #[salvo(schema(value_type = Option<Vec<crate::http::schema_values::GrantTypeValue>>))]
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: bool,
    /// Refuse authorization requests that were not pushed (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Default `true`; `false` excuses a confidential client from PKCE (legacy clients).
    pub require_pkce: Option<bool>,
    /// Refuse authorization requests that are not signed request objects (RFC 9101).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// Refuse token requests without a DPoP proof: every access token bound (RFC 9449).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Default: `client_secret_basic` for confidential clients, `none` for public ones.
    #[salvo(schema(value_type = Option<crate::http::schema_values::AuthMethodValue>))]
    pub token_endpoint_auth_method: Option<String>,
    /// The public keys (a JWKS) of a `private_key_jwt` client.
    #[salvo(schema(value_type = Option<Object>))]
    pub jwks: Option<serde_json::Value>,
    /// Or where it publishes them.
    #[salvo(schema(format = "uri", max_length = 2048))]
    pub jwks_uri: Option<String>,
}

/// Checks an input into the parts of a record (everything but ids, secret and times).
fn validate(input: ClientInput) -> ApiResult<ClientRecord> {
    let mut errors = Vec::new();
    let name = input.name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "Name is required, at most 100 characters",
        ));
    }
    let client_type = match input.client_type.as_deref() {
        Some("confidential") => ClientType::Confidential,
        Some("public") => ClientType::Public,
        _ => {
            errors.push(FieldError::new("type", "Type is confidential or public"));
            ClientType::Public
        }
    };
    for uri in &input.redirect_uris {
        if let Err(e) = validate_redirect_uri("redirectUris", uri) {
            errors.push(e);
        }
    }
    for uri in &input.post_logout_redirect_uris {
        if let Err(e) = validate_redirect_uri("postLogoutRedirectUris", uri) {
            errors.push(e);
        }
    }
    let grant_names = input
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    let mut grant_types = Vec::new();
    for name in &grant_names {
        match GrantType::parse(name) {
            Some(g) if !grant_types.contains(&g) => grant_types.push(g),
            Some(_) => {}
            None => errors.push(FieldError::new(
                "grantTypes",
                format!("unknown grant type {name:?}"),
            )),
        }
    }
    if grant_types.contains(&GrantType::ClientCredentials) && client_type == ClientType::Public {
        errors.push(FieldError::new(
            "grantTypes",
            "client_credentials needs a confidential client",
        ));
    }
    let auth_method = match input.token_endpoint_auth_method.as_deref() {
        None => None,
        Some(name) => match AuthMethod::parse(name) {
            Some(method) => Some(method),
            None => {
                errors.push(FieldError::new(
                    "tokenEndpointAuthMethod",
                    format!("unknown method {name:?}"),
                ));
                None
            }
        },
    };
    match (client_type, auth_method) {
        (ClientType::Public, Some(method)) if method != AuthMethod::None => errors.push(
            FieldError::new("tokenEndpointAuthMethod", "Public clients use none"),
        ),
        (ClientType::Confidential, Some(AuthMethod::None)) => errors.push(FieldError::new(
            "tokenEndpointAuthMethod",
            "Confidential clients authenticate; none is for public clients",
        )),
        _ => {}
    }
    let uses_keys = auth_method == Some(AuthMethod::PrivateKeyJwt);
    match (&input.jwks, &input.jwks_uri, uses_keys) {
        (Some(jwks), None, true) => {
            if let Err(e) = sigil_keys::PartyKeys::from_jwks(jwks) {
                errors.push(FieldError::new("jwks", e.to_string()));
            }
        }
        (None, Some(uri), true) => {
            if let Err(e) = validate_jwks_uri(uri) {
                errors.push(e);
            }
        }
        (Some(_), Some(_), true) => errors.push(FieldError::new(
            "jwks",
            "Register the keys or where they are published, not both",
        )),
        (None, None, true) => errors.push(FieldError::new(
            "jwks",
            "private_key_jwt needs the client's public keys (jwks or jwksUri)",
        )),
        (None, None, false) => {}
        (jwks, _, false) => errors.push(FieldError::new(
            if jwks.is_some() { "jwks" } else { "jwksUri" },
            "Keys are only registered for private_key_jwt",
        )),
    }
    let require_pkce = input.require_pkce.unwrap_or(true);
    if !require_pkce && client_type == ClientType::Public {
        errors.push(FieldError::new(
            "requirePkce",
            "Public clients always use PKCE",
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && input.redirect_uris.is_empty() {
        errors.push(FieldError::new(
            "redirectUris",
            "authorization_code needs at least one redirect URI",
        ));
    }
    let scopes = input
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
    for scope in &scopes {
        if !KNOWN_SCOPES.contains(&scope.as_str()) {
            errors.push(FieldError::new(
                "scopes",
                format!("unknown scope {scope:?}"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let epoch = OffsetDateTime::UNIX_EPOCH;
    Ok(ClientRecord {
        client_id: String::new(),
        name,
        client_type,
        secret_digest: None,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types,
        scopes,
        first_party: input.first_party,
        require_pushed_authorization_requests: input.require_pushed_authorization_requests,
        require_pkce,
        require_signed_request_object: input.require_signed_request_object,
        dpop_bound_access_tokens: input.dpop_bound_access_tokens,
        auth_method,
        jwks: input.jwks,
        jwks_uri: input.jwks_uri,
        secret_sealed: None,
        created_at: epoch,
        updated_at: epoch,
    })
}

/// Records a new secret: its digest, and for `client_secret_jwt` the secret itself, sealed.
fn keep_secret(state: &AppState, client: &mut ClientRecord, secret: Option<&str>) -> ApiResult<()> {
    client.secret_digest = secret.map(token_digest);
    client.secret_sealed = match (secret, client.auth_method()) {
        (Some(secret), AuthMethod::ClientSecretJwt) => Some(
            state
                .cipher
                .seal(secret.as_bytes(), CLIENT_SECRET_PURPOSE)
                .map_err(ApiError::internal)?,
        ),
        _ => None,
    };
    Ok(())
}

/// The purpose a sealed client secret is bound to (`crypto::Cipher`).
pub const CLIENT_SECRET_PURPOSE: &str = "client-secret";

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No such client")
}

/// Registers a client; a confidential one gets a secret, returned this once.
/// Registers a client (audited as `admin.client.created`, whoever asks).
pub async fn create(
    state: &AppState,
    input: ClientInput,
    by: &Acting,
) -> ApiResult<(ClientRecord, Option<String>)> {
    let mut client = validate(input)?;
    let now = state.clock.now();
    client.client_id = random_token()[..22].to_owned();
    client.created_at = now;
    client.updated_at = now;
    let secret = (client.client_type == ClientType::Confidential
        && client.auth_method() != AuthMethod::PrivateKeyJwt)
        .then(random_token);
    keep_secret(state, &mut client, secret.as_deref())?;
    state.stores.clients.insert_client(&client).await?;
    by.record(
        state,
        AuditAction::AdminClientCreated,
        None,
        serde_json::json!({ "clientId": client.client_id }),
    )
    .await;
    Ok((client, secret))
}

pub async fn get(state: &AppState, client_id: &str) -> ApiResult<ClientRecord> {
    state
        .stores
        .clients
        .get_client(client_id)
        .await?
        .ok_or_else(not_found)
}

/// Replaces the client's settings; the id, secret and creation time stay.
pub async fn update(
    state: &AppState,
    client_id: &str,
    input: ClientInput,
    by: &Acting,
) -> ApiResult<ClientRecord> {
    let current = get(state, client_id).await?;
    let mut client = validate(input)?;
    if client.client_type != current.client_type {
        return Err(ApiError::validation(vec![FieldError::new(
            "type",
            "The type of a client cannot change; create a new client",
        )]));
    }
    client.client_id = current.client_id;
    // A client that signs with keys keeps no secret; a sealed secret stays only for
    // client_secret_jwt. Switching back to a secret method needs a rotation.
    if client.auth_method() != AuthMethod::PrivateKeyJwt {
        client.secret_digest = current.secret_digest;
    }
    if client.auth_method() == AuthMethod::ClientSecretJwt {
        client.secret_sealed = current.secret_sealed;
    }
    client.created_at = current.created_at;
    client.updated_at = state.clock.now();
    if !state.stores.clients.replace_client(&client).await? {
        return Err(not_found());
    }
    let details = serde_json::json!({ "clientId": client.client_id });
    by.record(state, AuditAction::AdminClientUpdated, None, details)
        .await;
    Ok(client)
}

/// Deletes the client and ends everything it holds: its sessions (so its refresh tokens and
/// its users' access tokens die) and, through the live check of every access token that names
/// a client, its `client_credentials` tokens. Returns how many sessions ended.
pub async fn delete(state: &AppState, client_id: &str, by: &Acting) -> ApiResult<u64> {
    if !state.stores.clients.delete_client(client_id).await? {
        return Err(not_found());
    }
    let revoked = state
        .stores
        .sessions
        .revoke_client_sessions(client_id)
        .await?;
    let details = serde_json::json!({ "clientId": client_id, "sessionsRevoked": revoked });
    by.record(state, AuditAction::AdminClientDeleted, None, details)
        .await;
    Ok(revoked)
}

/// A new secret for a confidential client; the old one stops working at once.
pub async fn rotate_secret(
    state: &AppState,
    client_id: &str,
    by: &Acting,
) -> ApiResult<(ClientRecord, String)> {
    let mut client = get(state, client_id).await?;
    match client.auth_method() {
        AuthMethod::None => return Err(ApiError::bad_request("Public clients have no secret")),
        AuthMethod::PrivateKeyJwt => {
            return Err(ApiError::bad_request(
                "This client signs with its registered keys and has no secret",
            ));
        }
        _ => {}
    }
    let secret = random_token();
    keep_secret(state, &mut client, Some(&secret))?;
    client.updated_at = state.clock.now();
    if !state.stores.clients.replace_client(&client).await? {
        return Err(not_found());
    }
    let details = serde_json::json!({ "clientId": client.client_id });
    by.record(state, AuditAction::AdminClientSecretRotated, None, details)
        .await;
    Ok((client, secret))
}

/// Credentials a token-endpoint request presented.
#[derive(Debug, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (client_secret_basic).
    pub basic: Option<(String, String)>,
    /// `client_id` / `client_secret` form fields (client_secret_post, or none).
    pub form_id: Option<String>,
    pub form_secret: Option<String>,
    /// `client_assertion_type` / `client_assertion` (private_key_jwt, client_secret_jwt).
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates the client by the one method it used, which must be the one it registered:
/// a signed assertion, its secret (Basic or form), or, for public clients, its id alone.
pub async fn authenticate(
    state: &AppState,
    creds: ClientCredentials,
) -> Result<ClientRecord, OAuthError> {
    if creds.assertion.is_some() || creds.assertion_type.is_some() {
        if creds.basic.is_some() || creds.form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method",
            ));
        }
        if creds.assertion_type.as_deref() != Some(super::assertion::ASSERTION_TYPE) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {}",
                super::assertion::ASSERTION_TYPE
            )));
        }
        let assertion = creds
            .assertion
            .filter(|a| !a.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        return super::assertion::authenticate(state, creds.form_id.as_deref(), &assertion).await;
    }
    let (client_id, secret) = match (creds.basic, creds.form_id, creds.form_secret) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method",
            ));
        }
        (Some((id, secret)), form_id, None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the credentials",
                ));
            }
            (id, Some(secret))
        }
        (None, Some(id), secret) => (id, secret),
        (None, None, _) => {
            return Err(OAuthError::invalid_client(
                "Client authentication is required",
            ));
        }
    };
    let client = state
        .stores
        .clients
        .get_client(&client_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| OAuthError::invalid_client("Unknown client or wrong secret"))?;
    if client.auth_method().uses_assertion() {
        return Err(OAuthError::invalid_client(
            "This client authenticates with a signed client_assertion",
        ));
    }
    match (client.client_type, secret, &client.secret_digest) {
        (ClientType::Public, None, _) => Ok(client),
        (ClientType::Public, Some(_), _) => {
            Err(OAuthError::invalid_client("Public clients have no secret"))
        }
        (ClientType::Confidential, Some(secret), Some(digest))
            if constant_time_eq(token_digest(&secret).as_bytes(), digest.as_bytes()) =>
        {
            Ok(client)
        }
        _ => Err(OAuthError::invalid_client("Unknown client or wrong secret")),
    }
}
