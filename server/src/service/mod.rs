//! The rules of each area, with no HTTP types: handlers extract, call one of these, and map
//! the result.

pub mod account_status;
pub mod accounts;
pub mod admin;
pub mod admin_reports;
pub mod api_resources;
pub mod bootstrap;
pub mod devices;
pub mod lockout;
pub mod login;
pub mod mfa;
pub mod oauth;
pub mod principal;
pub mod rate_limit;
pub mod reauth;
pub mod recovery;
pub mod refresh;
pub mod sessions;
pub mod verification;

/// Where a request came from, for sessions, audit events and logs.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Runs `work` after the caller has answered, for endpoints whose answer and timing must not
/// tell whether an account exists (forgot-password, resend-verification). A failure is
/// logged, never shown: the caller already got the same answer everyone gets.
pub(crate) fn after_answering<F>(what: &'static str, work: F)
where
    F: std::future::Future<Output = crate::error::ApiResult<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::warn!(code = e.code.as_str(), error = %e.message, "{what} not sent");
        }
    });
}
