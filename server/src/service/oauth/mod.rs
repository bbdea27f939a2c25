//! The OAuth 2.0 / OpenID Connect provider (SPEC section 6).

pub mod assertion;
pub mod authorize;
pub mod browser;
pub mod client_keys;
pub mod clients;
pub mod code;
pub mod dpop;
mod error;
pub mod logout;
pub mod par;
pub mod request_object;
pub mod resources;
pub mod targets;
pub mod token;

pub use error::OAuthError;
