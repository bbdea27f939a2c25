//! Sigil, an OAuth2 / OpenID Connect identity provider.
//!
//! [`App::build`] binds and prepares everything; `main.rs` only reads configuration, sets up
//! logging and runs it. The end-to-end tests call the same function.

pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod device;
pub mod domain;
pub mod error;
pub mod http;
pub mod keyring;
pub mod mail;
pub mod metrics;
pub mod password;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod tokens;
pub mod views;

pub use shutdown::ShutdownHandle;
pub use startup::{App, StartupError};
