//! Rate limits (SPEC section 7): fixed windows counted in the shared store, so that every
//! replica enforces the same budget.

use crate::config::RateLimit;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::RateDecision;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    General,
    Login,
    Register,
    PasswordReset,
    /// Per user, not per ip.
    Mfa,
    /// Per OAuth client, on `/oauth2/token` and `/oauth2/introspect`.
    Client,
    /// Per ip, failed client authentications on the same endpoints: what bounds guessing
    /// secrets, and spending other clients' budgets with made-up ids.
    ClientAuth,
    /// Per ip, on `/oauth2/authorize` and the hosted pages: each anonymous authorization
    /// request stores a pending request until someone signs in.
    Browser,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Self::General => "general",
            Self::Login => "login",
            Self::Register => "register",
            Self::PasswordReset => "password_reset",
            Self::Mfa => "mfa",
            Self::Client => "client",
            Self::ClientAuth => "client_auth",
            Self::Browser => "browser",
        }
    }

    /// A flood guard rather than a security boundary, so it may be counted locally and sent in
    /// batches (`store::BatchedCounters`). Budgets that bound guessing stay exact.
    fn is_coarse(self) -> bool {
        matches!(self, Self::General | Self::Browser)
    }

    fn limit(self, state: &AppState) -> Option<RateLimit> {
        let limits = state.config.rate_limits;
        match self {
            Self::General => limits.general,
            Self::Login => limits.login,
            Self::Register => limits.register,
            Self::PasswordReset => limits.password_reset,
            Self::Mfa => limits.mfa,
            Self::Client => limits.client,
            Self::ClientAuth => limits.client_auth,
            Self::Browser => limits.browser,
        }
    }

    fn refusal(self) -> ApiError {
        let (code, message) = match self {
            Self::General | Self::Browser => (ErrorCode::RateLimitExceeded, "Too many requests"),
            Self::Client => (
                ErrorCode::RateLimitExceeded,
                "Too many requests for this client",
            ),
            Self::ClientAuth => (
                ErrorCode::RateLimitExceeded,
                "Too many failed client authentications from this address",
            ),
            Self::Mfa => (ErrorCode::AuthRateLimitExceeded, "Too many code attempts"),
            Self::Login => (
                ErrorCode::AuthRateLimitExceeded,
                "Too many sign-in attempts",
            ),
            Self::Register => (
                ErrorCode::RegistrationRateLimitExceeded,
                "Too many registrations",
            ),
            Self::PasswordReset => (
                ErrorCode::PasswordResetRateLimitExceeded,
                "Too many password reset requests",
            ),
        };
        ApiError::new(code, message)
    }
}

/// Counts one request of `identity` (the client ip, or the user for MFA) against the bucket. `Ok(None)` when the
/// bucket is off. A store that cannot count refuses (503), never allows.
pub async fn check(
    state: &AppState,
    bucket: Bucket,
    identity: &str,
) -> ApiResult<Option<RateDecision>> {
    count(state, bucket, identity, 1).await
}

/// Refuses like [`check`] when the bucket is already over its limit, without counting: for
/// budgets of failures, counted only once the attempt has failed.
pub async fn check_spent(state: &AppState, bucket: Bucket, identity: &str) -> ApiResult<()> {
    count(state, bucket, identity, 0).await.map(drop)
}

async fn count(
    state: &AppState,
    bucket: Bucket,
    identity: &str,
    hits: u64,
) -> ApiResult<Option<RateDecision>> {
    let Some(limit) = bucket.limit(state) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let key = format!("{}:{identity}", bucket.name());
    let counters = if bucket.is_coarse() {
        &state.stores.coarse_rate_limits
    } else {
        &state.stores.rate_limits
    };
    let mut decision = counters
        .hit(&key, hits, limit.count, limit.window, now)
        .await?;
    if hits == 0 {
        // Looking without counting: refused once there is no room left for one more.
        decision.allowed = decision.remaining > 0;
    }
    if decision.allowed {
        Ok(Some(decision))
    } else {
        state
            .metrics
            .rate_limited
            .with_label_values(&[bucket.name()])
            .inc();
        let wait = (decision.reset_at - now).whole_seconds().max(1);
        Err(bucket
            .refusal()
            .with_retry_after(std::time::Duration::from_secs(
                u64::try_from(wait).unwrap_or(1),
            ))
            .with_rate(decision))
    }
}
