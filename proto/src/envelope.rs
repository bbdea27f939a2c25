//! The SPEC envelope around every `/v1` answer, and the error body inside failures.

use serde::{Deserialize, Serialize};

/// `{"success": true, "message"?: ..., "data"?: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    pub fn data(data: T) -> Self {
        Self {
            success: true,
            message: None,
            data: Some(data),
        }
    }

    pub fn with_message(message: &str, data: Option<T>) -> Self {
        Self {
            success: true,
            message: Some(message.to_owned()),
            data,
        }
    }
}

/// Where a page is: 1-based `page` of `pages`, `limit` per page, `total` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct Pagination {
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub pages: u64,
}

/// The body of every `/v1` error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    pub error: ErrorBody,
    /// RFC 3339.
    pub timestamp: String,
    /// Also in the X-Request-Id header.
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// e.g. VALIDATION_ERROR, INVALID_CREDENTIALS, TOKEN_REVOKED (README and SPEC list them).
    pub code: String,
    pub message: String,
    /// The fields that failed validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// Seconds, with 423 and 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With MFA_REQUIRED: the token for /v1/auth/mfa/challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The seed's fine-grained code: `REQUIRED_FIELD_MISSING`, `INVALID_EMAIL_FORMAT`,
    /// `INVALID_PASSWORD_STRENGTH`, `INVALID_USERNAME_FORMAT`, `FIELD_TOO_LONG`,
    /// `FIELD_TOO_SHORT`, else `VALIDATION_ERROR`.
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absent parts stay off the wire, and an answer without data reads back.
    #[test]
    fn envelope_wire_shape() {
        let bare: Envelope<()> = Envelope::with_message("Logged out", None);
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!({"success": true, "message": "Logged out"})
        );
        let back: Envelope<u32> = serde_json::from_str(r#"{"success":true}"#).unwrap();
        assert_eq!(back.data, None);
    }
}
