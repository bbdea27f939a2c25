use crate::error::{ApiError, ErrorCode};

/// An RFC 6749 section 5.2 error: `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
        }
    }

    /// A 400 with the given RFC 6749 error code.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(error, 400, description)
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, description)
    }

    /// 401 with `WWW-Authenticate`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", 401, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", 400, description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", 400, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, description)
    }

    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::new("invalid_token", 401, description)
    }
}

impl From<ApiError> for OAuthError {
    fn from(err: ApiError) -> Self {
        match err.code {
            ErrorCode::ServiceUnavailable => Self::new("temporarily_unavailable", 503, err.message),
            ErrorCode::AuthRateLimitExceeded | ErrorCode::RateLimitExceeded => {
                Self::new("slow_down", 429, err.message)
            }
            ErrorCode::InternalError => {
                if let Some(cause) = &err.internal {
                    tracing::error!(%cause, "internal error");
                }
                Self::new("server_error", 500, "An internal error occurred")
            }
            _ => Self::invalid_request(err.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant maps to its RFC 6749 status.
    #[test]
    fn statuses() {
        let table = [
            (OAuthError::invalid_request("x"), "invalid_request", 400),
            (OAuthError::invalid_client("x"), "invalid_client", 401),
            (OAuthError::invalid_grant("x"), "invalid_grant", 400),
            (
                OAuthError::unauthorized_client("x"),
                "unauthorized_client",
                400,
            ),
            (
                OAuthError::unsupported_grant_type("x"),
                "unsupported_grant_type",
                400,
            ),
            (OAuthError::invalid_scope("x"), "invalid_scope", 400),
            (
                OAuthError::from(ApiError::unavailable("down")),
                "temporarily_unavailable",
                503,
            ),
            (
                OAuthError::from(ApiError::internal("boom")),
                "server_error",
                500,
            ),
        ];
        for (err, code, status) in table {
            assert_eq!((err.error, err.status), (code, status));
        }
    }
}
