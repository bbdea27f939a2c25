//! Records the cases build, and what they import.

pub(super) use std::time::Duration;

pub(super) use crate::domain::{Login, ProfileUpdate, Role, UserRecord, UserStatus};
pub(super) use crate::store::{
    AuditEvent, AuditFilter, Conflict, ConsumeOutcome, LockoutPolicy, OneTimeTokenRecord,
    RefreshOutcome, SessionRecord, SigningKeyRecord, StoreError, Stores, TokenPurpose,
};
pub(super) use time::OffsetDateTime;
pub(super) use uuid::Uuid;

pub(super) fn now() -> OffsetDateTime {
    // Whole seconds: some backends store timestamps at that precision.
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

pub(super) fn user(email: &str, username: &str) -> UserRecord {
    let at = now();
    UserRecord {
        id: Uuid::new_v4(),
        email: email.into(),
        email_normalized: email.to_ascii_lowercase(),
        username: username.into(),
        username_normalized: username.to_ascii_lowercase(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        first_name: None,
        last_name: None,
        phone: None,
        status: UserStatus::Active,
        email_verified: false,
        roles: vec![Role::User],
        failed_logins: 0,
        last_failed_login: None,
        locked_until: None,
        created_at: at,
        updated_at: at,
        last_login: None,
        password_changed_at: at,
        known_devices: Vec::new(),
        mfa: Default::default(),
    }
}

pub(super) fn session(
    user_id: Uuid,
    digest: &str,
    created_at: OffsetDateTime,
    ttl: Duration,
) -> SessionRecord {
    SessionRecord {
        id: Uuid::new_v4().to_string(),
        user_id,
        client_id: "sigil".into(),
        refresh_digest: digest.into(),
        created_at,
        last_activity: created_at,
        expires_at: created_at + ttl,
        ttl_secs: ttl.as_secs(),
        ends_at: Some(created_at + ttl * 4),
        auth_time: created_at,
        amr: vec!["pwd".into()],
        remember_me: false,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        scope: Some("openid email".into()),
        resources: vec!["https://api.example.com/".into()],
        dpop_jkt: None,
    }
}

pub(super) const DAY: Duration = Duration::from_secs(86_400);

pub(super) fn token(
    digest: &str,
    purpose: TokenPurpose,
    user_id: Uuid,
    at: OffsetDateTime,
    ttl: Duration,
) -> OneTimeTokenRecord {
    OneTimeTokenRecord {
        digest: digest.into(),
        purpose,
        user_id,
        created_at: at,
        expires_at: at + ttl,
    }
}

pub(super) fn resource(identifier: &str, created_at: OffsetDateTime) -> crate::domain::ApiResource {
    crate::domain::ApiResource {
        id: Uuid::new_v4(),
        identifier: identifier.into(),
        name: "Orders".into(),
        scopes: vec!["orders:read".into(), "orders:write".into()],
        resource_servers: vec!["orders-api".into()],
        created_at,
        updated_at: created_at,
    }
}

pub(super) fn client(client_id: &str, created_at: OffsetDateTime) -> crate::domain::ClientRecord {
    use crate::domain::{ClientRecord, ClientType, GrantType};
    ClientRecord {
        client_id: client_id.into(),
        name: format!("{client_id} app"),
        client_type: ClientType::Confidential,
        secret_digest: Some("digest".into()),
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "email".into()],
        first_party: false,
        require_pushed_authorization_requests: false,
        require_pkce: true,
        require_signed_request_object: false,
        dpop_bound_access_tokens: false,
        auth_method: None,
        jwks: None,
        jwks_uri: None,
        secret_sealed: None,
        created_at,
        updated_at: created_at,
    }
}
