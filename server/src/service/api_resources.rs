//! Registering API resources (RFC 8707) through the admin API and the CLI. Which resources
//! and scopes an OAuth request may name is decided in `oauth::targets`.

use serde::Deserialize;
use uuid::Uuid;

use crate::audit::{Acting, AuditAction};
use crate::domain::ApiResource;
use crate::domain::resource::{validate_identifier, validate_resource_scopes};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::state::AppState;

/// A resource as the admin API receives it. On update, absent fields stay; the identifier
/// cannot change (tokens already carry it).
#[derive(Debug, Clone, Default, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceInput {
    /// An absolute URI without a fragment: the `aud` of tokens for this resource.
    #[salvo(schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 255,
        format = "uri"
    ))]
    pub identifier: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 100))]
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Client ids of the services that serve this resource: they may introspect its tokens.
    pub resource_servers: Option<Vec<String>>,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No such API resource")
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "Name is required, at most 100 characters",
        ));
    }
}

async fn check_servers(
    state: &AppState,
    servers: &[String],
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    for id in servers {
        if state.stores.clients.get_client(id).await?.is_none() {
            errors.push(FieldError::new(
                "resourceServers",
                format!("{id:?} is no registered client"),
            ));
        }
    }
    Ok(())
}

/// Registers a resource (audited as `admin.resource.created`, whoever asks).
pub async fn create(state: &AppState, input: ResourceInput, by: &Acting) -> ApiResult<ApiResource> {
    let mut errors = Vec::new();
    let identifier = input.identifier.unwrap_or_default().trim().to_owned();
    if let Err(e) = validate_identifier(&identifier) {
        errors.push(FieldError::new("identifier", e));
    } else if state.config.is_rest_audience(&identifier) || identifier == state.config.issuer {
        errors.push(FieldError::new(
            "identifier",
            "The issuer and the REST audience are not resources: OAuth tokens are never addressed to them",
        ));
    }
    let name = input.name.unwrap_or_default().trim().to_owned();
    check_name(&name, &mut errors);
    let scopes = input.scopes.unwrap_or_default();
    if let Err(e) = validate_resource_scopes(&scopes) {
        errors.push(e);
    }
    let servers = input.resource_servers.unwrap_or_default();
    check_servers(state, &servers, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = state.clock.now();
    let resource = ApiResource {
        id: Uuid::new_v4(),
        identifier,
        name,
        scopes,
        resource_servers: servers,
        created_at: now,
        updated_at: now,
    };
    state.stores.resources.insert_resource(&resource).await?;
    by.record(
        state,
        AuditAction::AdminResourceCreated,
        None,
        serde_json::json!({ "resourceId": resource.id, "identifier": resource.identifier }),
    )
    .await;
    Ok(resource)
}

pub async fn get(state: &AppState, id: Uuid) -> ApiResult<ApiResource> {
    state
        .stores
        .resources
        .get_resource(id)
        .await?
        .ok_or_else(not_found)
}

pub async fn update(
    state: &AppState,
    id: Uuid,
    input: ResourceInput,
    by: &Acting,
) -> ApiResult<ApiResource> {
    let mut resource = get(state, id).await?;
    let mut errors = Vec::new();
    if input
        .identifier
        .as_deref()
        .is_some_and(|i| i.trim() != resource.identifier)
    {
        errors.push(FieldError::new(
            "identifier",
            "The identifier cannot change; register a new resource instead",
        ));
    }
    if let Some(name) = input.name {
        resource.name = name.trim().to_owned();
        check_name(&resource.name, &mut errors);
    }
    if let Some(scopes) = input.scopes {
        if let Err(e) = validate_resource_scopes(&scopes) {
            errors.push(e);
        }
        resource.scopes = scopes;
    }
    if let Some(servers) = input.resource_servers {
        check_servers(state, &servers, &mut errors).await?;
        resource.resource_servers = servers;
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    resource.updated_at = state.clock.now();
    if !state.stores.resources.replace_resource(&resource).await? {
        return Err(not_found());
    }
    let details =
        serde_json::json!({ "resourceId": resource.id, "identifier": resource.identifier });
    by.record(state, AuditAction::AdminResourceUpdated, None, details)
        .await;
    Ok(resource)
}

/// Deletes the resource: no new token is addressed to it, and refreshes drop it (and its
/// scopes) from sessions that had it. Tokens already issued live until they expire.
pub async fn delete(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<()> {
    if !state.stores.resources.delete_resource(id).await? {
        return Err(not_found());
    }
    let details = serde_json::json!({ "resourceId": id });
    by.record(state, AuditAction::AdminResourceDeleted, None, details)
        .await;
    Ok(())
}
