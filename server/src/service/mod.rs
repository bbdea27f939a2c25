//! The rules of each area, with no HTTP types: handlers extract, call one of these, and map
//! the result.

pub mod accounts;
pub mod bootstrap;
pub mod principal;
pub mod sessions;

/// Where a request came from, for sessions and logs.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
