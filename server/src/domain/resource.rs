//! API resources (RFC 8707): the services an OAuth access token can be addressed to, with the
//! scopes each defines. Registered by admins; a client may ask only for these.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::oauth::KNOWN_SCOPES;
use crate::error::FieldError;

pub const MAX_RESOURCE_SCOPES: usize = 50;
const MAX_IDENTIFIER_LEN: usize = 255;
const MAX_SCOPE_LEN: usize = 64;

/// A registered API resource. `identifier` is the `aud` its tokens carry and never changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResource {
    pub id: Uuid,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Clients that serve this resource: they may introspect tokens addressed to it.
    pub resource_servers: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An RFC 8707 resource indicator: an absolute URI without a fragment.
pub fn validate_identifier(identifier: &str) -> Result<(), String> {
    if identifier.is_empty() || identifier.len() > MAX_IDENTIFIER_LEN {
        return Err(format!(
            "must be an absolute URI of at most {MAX_IDENTIFIER_LEN} characters"
        ));
    }
    let url = url::Url::parse(identifier).map_err(|e| format!("is not an absolute URI ({e})"))?;
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(())
}

/// A scope a resource defines: an RFC 6749 scope-token (visible ASCII without `"` and `\`)
/// that is none of the OpenID Connect scopes.
pub fn validate_resource_scope(scope: &str) -> Result<(), String> {
    let token = !scope.is_empty()
        && scope.len() <= MAX_SCOPE_LEN
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if !token {
        return Err(format!(
            "{scope:?} is not a scope: 1-{MAX_SCOPE_LEN} visible characters, no quotes or backslashes"
        ));
    }
    if KNOWN_SCOPES.contains(&scope) {
        return Err(format!("{scope:?} is an OpenID Connect scope"));
    }
    Ok(())
}

/// Checks a scope list: each valid, none twice, at most [`MAX_RESOURCE_SCOPES`].
pub fn validate_resource_scopes(scopes: &[String]) -> Result<(), FieldError> {
    if scopes.len() > MAX_RESOURCE_SCOPES {
        return Err(FieldError::new(
            "scopes",
            format!("at most {MAX_RESOURCE_SCOPES} scopes"),
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        validate_resource_scope(scope).map_err(|e| FieldError::new("scopes", e))?;
        if scopes[..i].contains(scope) {
            return Err(FieldError::new(
                "scopes",
                format!("{scope:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absolute URIs without fragments; scope tokens that are not OIDC scopes.
    #[test]
    fn identifiers_and_scopes() {
        assert!(validate_identifier("https://api.example.com/orders").is_ok());
        assert!(validate_identifier("urn:example:billing").is_ok());
        assert!(validate_identifier("api.example.com").is_err());
        assert!(validate_identifier("https://api.example.com/#x").is_err());
        assert!(validate_identifier("").is_err());
        assert!(validate_resource_scope("orders:read").is_ok());
        for bad in ["", "a b", "openid", "say\"hi", &"x".repeat(65)] {
            assert!(validate_resource_scope(bad).is_err(), "{bad:?}");
        }
        assert!(validate_resource_scopes(&["a".into(), "a".into()]).is_err());
        assert!(validate_resource_scopes(&["a".into(), "b".into()]).is_ok());
    }
}
