//! The one error type of the server. Services return it; `http::respond` renders it as the SPEC
//! envelope. Internal causes are logged, never sent to the client.

use std::time::Duration;

use thiserror::Error;

use crate::store::StoreError;

/// The machine-readable codes of SPEC section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    /// Login without an identifier or a password (the seed's code for that case).
    MissingCredentials,
    MissingRefreshToken,
    /// A refresh token nobody issued, expired or malformed.
    InvalidRefreshToken,
    /// Email verification without its token.
    MissingToken,
    MissingAuthHeader,
    InvalidAuthFormat,
    InvalidToken,
    TokenExpired,
    /// An emailed link that expired: same code as an expired JWT, answered 410.
    TokenGone,
    /// An emailed link nobody issued or that was used: `INVALID_TOKEN`, answered 404.
    LinkNotFound,
    TokenRevoked,
    InsufficientPermissions,
    EmailExists,
    UsernameExists,
    UserNotFound,
    InvalidCredentials,
    EmailNotVerified,
    AccountLocked,
    AccountSuspended,
    AccountDeleted,
    MfaRequired,
    InvalidMfaCode,
    MfaNotEnabled,
    MfaBackupCodeUsed,
    /// A sensitive change without a recent sign-in or the current password.
    ReauthenticationRequired,
    /// The change would leave no active admin.
    LastAdmin,
    ResourceExists,
    RateLimitExceeded,
    AuthRateLimitExceeded,
    RegistrationRateLimitExceeded,
    PasswordResetRateLimitExceeded,
    NotFound,
    MethodNotAllowed,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::MissingCredentials => "MISSING_CREDENTIALS",
            Self::MissingRefreshToken => "MISSING_REFRESH_TOKEN",
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::MissingToken => "MISSING_TOKEN",
            Self::MissingAuthHeader => "MISSING_AUTH_HEADER",
            Self::InvalidAuthFormat => "INVALID_AUTH_FORMAT",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired | Self::TokenGone => "TOKEN_EXPIRED",
            Self::LinkNotFound => "INVALID_TOKEN",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            Self::EmailExists => "EMAIL_EXISTS",
            Self::UsernameExists => "USERNAME_EXISTS",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::ReauthenticationRequired => "REAUTHENTICATION_REQUIRED",
            Self::LastAdmin => "LAST_ADMIN",
            Self::ResourceExists => "RESOURCE_EXISTS",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::AccountSuspended => "ACCOUNT_SUSPENDED",
            Self::AccountDeleted => "ACCOUNT_DELETED",
            Self::MfaRequired => "MFA_REQUIRED",
            Self::InvalidMfaCode => "INVALID_MFA_CODE",
            Self::MfaNotEnabled => "MFA_NOT_ENABLED",
            Self::MfaBackupCodeUsed => "MFA_BACKUP_CODE_USED",
            Self::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Self::AuthRateLimitExceeded => "AUTH_RATE_LIMIT_EXCEEDED",
            Self::RegistrationRateLimitExceeded => "REGISTRATION_RATE_LIMIT_EXCEEDED",
            Self::PasswordResetRateLimitExceeded => "PASSWORD_RESET_RATE_LIMIT_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::ValidationError
            | Self::MissingCredentials
            | Self::MissingRefreshToken
            | Self::MissingToken => 400,
            Self::MissingAuthHeader
            | Self::InvalidAuthFormat
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::InvalidCredentials
            | Self::EmailNotVerified
            | Self::MfaRequired
            | Self::InvalidMfaCode
            | Self::MfaBackupCodeUsed
            | Self::ReauthenticationRequired => 401,
            Self::MfaNotEnabled => 400,
            Self::InsufficientPermissions | Self::AccountSuspended | Self::AccountDeleted => 403,
            Self::UserNotFound | Self::NotFound => 404,
            Self::TokenGone => 410,
            Self::LinkNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::EmailExists | Self::UsernameExists | Self::LastAdmin | Self::ResourceExists => {
                409
            }
            Self::AccountLocked => 423,
            Self::RateLimitExceeded
            | Self::AuthRateLimitExceeded
            | Self::RegistrationRateLimitExceeded
            | Self::PasswordResetRateLimitExceeded => 429,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
        }
    }
}

/// The seed API's fine-grained validation codes (`details[].code`); the top-level code of a
/// validation failure stays `VALIDATION_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCode {
    /// Invalid for a reason the seed has no finer code for.
    Invalid,
    RequiredFieldMissing,
    InvalidEmailFormat,
    InvalidPasswordStrength,
    InvalidUsernameFormat,
    FieldTooLong,
    FieldTooShort,
}

impl FieldCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "VALIDATION_ERROR",
            Self::RequiredFieldMissing => "REQUIRED_FIELD_MISSING",
            Self::InvalidEmailFormat => "INVALID_EMAIL_FORMAT",
            Self::InvalidPasswordStrength => "INVALID_PASSWORD_STRENGTH",
            Self::InvalidUsernameFormat => "INVALID_USERNAME_FORMAT",
            Self::FieldTooLong => "FIELD_TOO_LONG",
            Self::FieldTooShort => "FIELD_TOO_SHORT",
        }
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub code: FieldCode,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::coded(FieldCode::Invalid, field, message)
    }

    pub fn coded(code: FieldCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            code,
        }
    }

    /// `field` is absent or empty.
    pub fn required(field: &str) -> Self {
        Self::coded(
            FieldCode::RequiredFieldMissing,
            field,
            format!("{field} is required"),
        )
    }
}

#[derive(Debug, Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldError>,
    pub retry_after: Option<Duration>,
    /// With `MFA_REQUIRED`: the token for `/v1/auth/mfa/challenge`.
    pub mfa_token: Option<Box<str>>,
    /// The rate-limit counter behind a 429, for the X-RateLimit headers.
    pub rate: Option<Box<crate::store::RateDecision>>,
    /// Set on 500s only: what went wrong inside, for the log.
    pub internal: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            mfa_token: None,
            rate: None,
            internal: None,
        }
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => "The request has invalid fields".to_owned(),
        };
        Self {
            details,
            ..Self::new(ErrorCode::ValidationError, message)
        }
    }

    /// A missing input the seed gives its own top-level code (`MISSING_CREDENTIALS`, ...),
    /// with the fields in `details` as for any validation failure.
    pub fn missing(code: ErrorCode, details: Vec<FieldError>) -> Self {
        Self {
            code,
            ..Self::validation(details)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            ErrorCode::InvalidCredentials,
            "The email, username or password is incorrect",
        )
    }

    pub fn invalid_token() -> Self {
        Self::new(ErrorCode::InvalidToken, "The token is invalid")
    }

    pub fn token_revoked() -> Self {
        Self::new(ErrorCode::TokenRevoked, "The token has been revoked")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    /// An unexpected failure: the client sees an opaque 500, the log sees `cause`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(ErrorCode::InternalError, "An internal error occurred")
        }
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    pub fn with_mfa_token(mut self, token: String) -> Self {
        self.mfa_token = Some(token.into_boxed_str());
        self
    }

    pub fn with_rate(mut self, rate: crate::store::RateDecision) -> Self {
        self.rate = Some(Box::new(rate));
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                Self::unavailable("A backing store is unavailable; try again shortly")
            }
            StoreError::Conflict(crate::store::Conflict::Email) => Self::new(
                ErrorCode::EmailExists,
                "Email address is already registered",
            ),
            StoreError::Conflict(crate::store::Conflict::Username) => {
                Self::new(ErrorCode::UsernameExists, "Username is already taken")
            }
            StoreError::Conflict(crate::store::Conflict::ResourceIdentifier) => Self::new(
                ErrorCode::ResourceExists,
                "An API resource with this identifier is already registered",
            ),
            StoreError::Corrupt(cause) => Self::internal(format!("corrupt record: {cause}")),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code maps to the status the SPEC's seed API gives it.
    #[test]
    fn codes_map_to_statuses() {
        let table = [
            (ErrorCode::ValidationError, 400, "VALIDATION_ERROR"),
            (ErrorCode::MissingCredentials, 400, "MISSING_CREDENTIALS"),
            (ErrorCode::MissingRefreshToken, 400, "MISSING_REFRESH_TOKEN"),
            (ErrorCode::InvalidRefreshToken, 401, "INVALID_REFRESH_TOKEN"),
            (ErrorCode::MissingToken, 400, "MISSING_TOKEN"),
            (ErrorCode::MissingAuthHeader, 401, "MISSING_AUTH_HEADER"),
            (ErrorCode::TokenRevoked, 401, "TOKEN_REVOKED"),
            (
                ErrorCode::InsufficientPermissions,
                403,
                "INSUFFICIENT_PERMISSIONS",
            ),
            (ErrorCode::EmailExists, 409, "EMAIL_EXISTS"),
            (ErrorCode::UsernameExists, 409, "USERNAME_EXISTS"),
            (ErrorCode::AccountLocked, 423, "ACCOUNT_LOCKED"),
            (ErrorCode::TokenGone, 410, "TOKEN_EXPIRED"),
            (
                ErrorCode::AuthRateLimitExceeded,
                429,
                "AUTH_RATE_LIMIT_EXCEEDED",
            ),
            (ErrorCode::ServiceUnavailable, 503, "SERVICE_UNAVAILABLE"),
        ];
        for (code, status, text) in table {
            assert_eq!(code.status(), status, "{text}");
            assert_eq!(code.as_str(), text);
        }
    }
}
