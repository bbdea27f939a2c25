//! Sigil's wire types, shared by the server (which maps its domain types to them), the
//! `sigil-admin` console and the test kit (which read them), and relying services (which
//! verify tokens into [`claims`]). A field renamed here is renamed for every party at once.
//!
//! JSON is camelCase, as SPEC section 4 says, except where the wire already was otherwise
//! and clients depend on it: audit events and token claims keep their snake_case names.
//! With the `openapi` feature every type also derives salvo's `ToSchema`.

pub mod admin;
pub mod claims;
pub mod envelope;
pub mod mfa;
pub mod users;

pub use claims::{ACCESS_TOKEN_TYP, AccessClaims, Audience, Confirmation, IdClaims, UserClaims};
pub use envelope::{Envelope, ErrorBody, ErrorEnvelope, FieldError, Pagination};

/// For PATCH-like fields: absent = `None`, `null` = `Some(None)`, a value = `Some(Some(v))`.
/// Use with `#[serde(default, deserialize_with = "sigil_proto::double_option")]`.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
