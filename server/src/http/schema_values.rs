//! The values some string fields of request bodies accept, for the OpenAPI document only.
//!
//! The fields themselves stay strings, so that a wrong value gets the API's validation error
//! (with the field and the seed's code) instead of a deserialization failure; these enums tell
//! clients and generated tests (schemathesis) what is accepted.
#![allow(dead_code)]

#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatusValue {
    Pending,
    Active,
    Suspended,
    Deleted,
}

#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleValue {
    User,
    Moderator,
    Admin,
}

#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantTypeValue {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethodValue {
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
    None,
}

/// The seed also names `sms` and `email`; Sigil refuses them (README, "Not built yet").
#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MfaTypeValue {
    Totp,
}
