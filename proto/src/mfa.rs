//! MFA enrolment answers: shown once, never again.

use serde::{Deserialize, Serialize};

/// What enrolment hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
    /// `data:image/png;base64,...`
    pub qr_code: String,
    pub backup_codes: Vec<String>,
}

/// Fresh backup codes; the old ones stop working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupCodesView {
    pub backup_codes: Vec<String>,
}
