//! What the API shows of stored records (camelCase JSON).

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{UserRecord, permissions_of};
use crate::service::sessions::IssuedTokens;

#[derive(Debug, Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// pending, active, suspended or deleted.
    #[salvo(schema(value_type = String))]
    pub status: &'static str,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    #[salvo(schema(value_type = Vec<String>))]
    pub roles: Vec<&'static str>,
    #[salvo(schema(value_type = Vec<String>))]
    pub permissions: Vec<&'static str>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            username: user.username.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            phone: user.phone.clone(),
            status: user.status.as_str(),
            email_verified: user.email_verified,
            mfa_enabled: user.mfa.enabled,
            roles: user.roles.iter().map(|r| r.as_str()).collect(),
            permissions: permissions_of(&user.roles)
                .into_iter()
                .map(|p| p.as_str())
                .collect(),
            last_login: user.last_login,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Debug, Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensView {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always Bearer.
    #[salvo(schema(value_type = String))]
    pub token_type: &'static str,
    pub user: UserView,
}

impl From<&IssuedTokens> for TokensView {
    fn from(issued: &IssuedTokens) -> Self {
        Self {
            access_token: issued.access_token.clone(),
            refresh_token: issued.refresh_token.clone(),
            expires_in: issued.expires_in,
            token_type: "Bearer",
            user: UserView::from(&issued.user),
        }
    }
}
