//! Users, sessions and tokens as the account and admin APIs show them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user's profile and standing; never the password hash or MFA secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// pending, active, suspended or deleted.
    pub status: String,
    pub email_verified: bool,
    /// Always false: Sigil does not verify phone numbers (README: what is absent).
    #[serde(default)]
    pub phone_verified: bool,
    pub mfa_enabled: bool,
    pub roles: Vec<String>,
    /// What the roles allow, e.g. `admin.users.read`.
    pub permissions: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A sign-in, MFA challenge or refresh: the tokens and who they are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokensView {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always Bearer.
    pub token_type: String,
    pub user: UserView,
}

/// A new registration: the user, and its id also under the seed's name `userId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegisteredView {
    pub user_id: Uuid,
    #[serde(flatten)]
    pub user: UserView,
}

/// A user as admins see it: the profile plus lockout state, in the seed's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    /// Failed logins since the last success or lock.
    pub failed_login_attempts: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_failed_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub account_locked_until: Option<OffsetDateTime>,
}

/// A page of users: the seed's `{users, pagination}` inside `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct UserPage {
    pub users: Vec<AdminUserView>,
    pub pagination: crate::Pagination,
}

/// Where a session signed in from. Sigil ships no GeoIP database, so it is `null` today; the
/// field is there because the seed documents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct Location {
    pub country: Option<String>,
    pub city: Option<String>,
}

/// What a session's user agent says about the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct Device {
    pub browser: String,
    pub os: String,
    /// `pc`, `smartphone`, `mobilephone`, `appliance`, `crawler`, `misc` or `unknown`.
    pub device: String,
}

/// One of the caller's own sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub device_info: Device,
    pub ip_address: Option<String>,
    pub location: Option<Location>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The session of the token that asked.
    pub is_current: bool,
}

/// A session as admins see it: which client and how the user signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AdminSessionView {
    pub id: String,
    pub client_id: String,
    pub device_info: Device,
    pub ip_address: Option<String>,
    pub location: Option<Location>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    /// Authentication methods (`pwd`, `otp`, ...).
    pub amr: Vec<String>,
}

/// How many sessions a revocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct RevokedView {
    pub revoked: u64,
}
