//! RFC 8707 resource indicators: which API resources an OAuth request may name, and the scope
//! that goes with them. The one home of the rule "a client may only request registered
//! resources and their scopes".

use super::OAuthError;
use crate::domain::oauth::KNOWN_SCOPES;
use crate::domain::resource::validate_identifier;
use crate::domain::{ApiResource, Scope};
use crate::error::ApiError;
use crate::state::AppState;

/// What a grant or a token is for: the resources it is addressed to (empty: the client
/// itself) and its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub resources: Vec<String>,
    pub scope: Scope,
}

fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError {
        error: "invalid_target",
        description: description.into(),
        status: 400,
    }
}

/// The registered resources behind `identifiers`, each checked; `invalid_target` names the
/// first that is malformed or unknown.
async fn registered(
    state: &AppState,
    identifiers: &[String],
) -> Result<Vec<ApiResource>, OAuthError> {
    let mut found = Vec::with_capacity(identifiers.len());
    for identifier in identifiers {
        validate_identifier(identifier)
            .map_err(|e| invalid_target(format!("resource {identifier:?} {e}")))?;
        let resource = state
            .stores
            .resources
            .find_resource(identifier)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| invalid_target(format!("resource {identifier:?} is not registered")))?;
        if !found.iter().any(|r: &ApiResource| r.id == resource.id) {
            found.push(resource);
        }
    }
    Ok(found)
}

/// A new request (authorize, `client_credentials`): every resource registered, every scope
/// either an OpenID Connect scope in `allowed` (the client's) or a scope of a requested
/// resource. Without `scope`, `default` OIDC scopes and all scopes of the resources.
pub async fn resolve(
    state: &AppState,
    resources: &[String],
    scope: Option<&str>,
    allowed: &[String],
    default: &[String],
) -> Result<Target, OAuthError> {
    let records = registered(state, resources).await?;
    let of_resources = |item: &str| records.iter().any(|r| r.scopes.iter().any(|s| s == item));
    let scope = match scope {
        Some(text) => {
            let scope = Scope::parse_any(text).map_err(OAuthError::invalid_scope)?;
            for item in scope.items() {
                let oidc = KNOWN_SCOPES.contains(&item.as_str());
                if (oidc && !allowed.contains(item)) || (!oidc && !of_resources(item)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "The client may not request the scope {item:?}"
                    )));
                }
            }
            scope
        }
        None => Scope::from_items(
            default
                .iter()
                .cloned()
                .chain(records.iter().flat_map(|r| r.scopes.clone())),
        ),
    };
    Ok(Target {
        resources: records.into_iter().map(|r| r.identifier).collect(),
        scope,
    })
}

/// One access token out of a grant (code exchange, refresh): the resources asked for must be
/// among the granted ones, the scope within the granted scope (RFC 8707 section 2.2: a token
/// may be narrower than its grant, never wider). Resources deleted since drop out, and with
/// them their scopes.
pub async fn narrow(
    state: &AppState,
    granted: &Target,
    resources: &[String],
    scope: Option<&str>,
) -> Result<Target, OAuthError> {
    if let Some(extra) = resources.iter().find(|r| !granted.resources.contains(r)) {
        return Err(invalid_target(format!(
            "resource {extra:?} was not granted"
        )));
    }
    let wanted = if resources.is_empty() {
        granted.resources.as_slice()
    } else {
        resources
    };
    let mut records = Vec::new();
    for identifier in wanted {
        let found = state
            .stores
            .resources
            .find_resource(identifier)
            .await
            .map_err(ApiError::from)?;
        match found {
            Some(resource) => records.push(resource),
            None if !resources.is_empty() => {
                return Err(invalid_target(format!(
                    "resource {identifier:?} is no longer registered"
                )));
            }
            None => {}
        }
    }
    let asked = match scope {
        Some(text) => {
            let asked = Scope::parse_any(text).map_err(OAuthError::invalid_scope)?;
            if !asked.is_subset_of(granted.scope.items()) {
                return Err(OAuthError::invalid_scope(
                    "Only the granted scope or less may be asked",
                ));
            }
            asked
        }
        None => granted.scope.clone(),
    };
    let keep = |item: &String| {
        KNOWN_SCOPES.contains(&item.as_str()) || records.iter().any(|r| r.scopes.contains(item))
    };
    Ok(Target {
        scope: Scope::from_items(asked.items().iter().filter(|i| keep(i)).cloned()),
        resources: records.into_iter().map(|r| r.identifier).collect(),
    })
}
