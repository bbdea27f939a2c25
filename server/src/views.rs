//! Domain records mapped to the wire types of `sigil-proto`: the one place that decides what
//! the API shows of a stored user, session or token answer.

use sigil_proto::users::{
    AdminSessionView, AdminUserView, RegisteredView, SessionView, TokensView, UserView,
};

use crate::domain::{UserRecord, permissions_of};
use crate::service::sessions::IssuedTokens;
use crate::store::SessionRecord;

pub fn user(user: &UserRecord) -> UserView {
    UserView {
        id: user.id,
        email: user.email.clone(),
        username: user.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        phone: user.phone.clone(),
        status: user.status.as_str().to_owned(),
        email_verified: user.email_verified,
        phone_verified: false,
        mfa_enabled: user.mfa.enabled,
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        permissions: permissions_of(&user.roles)
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        last_login: user.last_login,
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}

pub fn registered(record: &UserRecord) -> RegisteredView {
    RegisteredView {
        user_id: record.id,
        user: user(record),
    }
}

/// A user as admins see it: the profile plus lockout state.
pub fn admin_user(record: &UserRecord) -> AdminUserView {
    AdminUserView {
        user: user(record),
        failed_login_attempts: record.failed_logins,
        last_failed_login: record.last_failed_login,
        account_locked_until: record.locked_until,
    }
}

/// One of the caller's sessions; `current` is the session of the token that asked.
pub fn session(s: &SessionRecord, current: &str) -> SessionView {
    SessionView {
        id: s.id.clone(),
        device_info: crate::device::parse(s.user_agent.as_deref()),
        ip_address: s.ip.clone(),
        location: None,
        created_at: s.created_at,
        last_activity: s.last_activity,
        expires_at: s.expires_at,
        is_current: s.id == current,
    }
}

pub fn admin_session(s: &SessionRecord) -> AdminSessionView {
    AdminSessionView {
        id: s.id.clone(),
        client_id: s.client_id.clone(),
        device_info: crate::device::parse(s.user_agent.as_deref()),
        ip_address: s.ip.clone(),
        location: None,
        created_at: s.created_at,
        last_activity: s.last_activity,
        amr: s.amr.clone(),
    }
}

pub fn tokens(issued: &IssuedTokens) -> TokensView {
    TokensView {
        access_token: issued.access_token.clone(),
        refresh_token: issued.refresh_token.clone(),
        expires_in: issued.expires_in,
        token_type: "Bearer".to_owned(),
        user: user(&issued.user),
    }
}

pub fn audit_event(event: crate::store::AuditEvent) -> sigil_proto::admin::AuditEventView {
    sigil_proto::admin::AuditEventView {
        id: event.id,
        at: event.at,
        action: event.action,
        actor_id: event.actor_id,
        target_id: event.target_id,
        ip: event.ip,
        user_agent: event.user_agent,
        request_id: event.request_id,
        details: event.details,
    }
}

/// An OAuth client; the secret only in the answer that created or rotated it.
pub fn client(
    client: &crate::domain::ClientRecord,
    secret: Option<String>,
) -> sigil_proto::admin::ClientView {
    sigil_proto::admin::ClientView {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        client_type: client.client_type,
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        grant_types: client
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: client.scopes.clone(),
        first_party: client.first_party,
        require_pushed_authorization_requests: client.require_pushed_authorization_requests,
        require_pkce: client.require_pkce,
        require_signed_request_object: client.require_signed_request_object,
        dpop_bound_access_tokens: client.dpop_bound_access_tokens,
        token_endpoint_auth_method: client.auth_method().as_str().to_owned(),
        jwks: client.jwks.clone(),
        jwks_uri: client.jwks_uri.clone(),
        created_at: client.created_at,
        updated_at: client.updated_at,
        client_secret: secret,
    }
}

pub fn resource(r: &crate::domain::ApiResource) -> sigil_proto::admin::ResourceView {
    sigil_proto::admin::ResourceView {
        id: r.id,
        identifier: r.identifier.clone(),
        name: r.name.clone(),
        scopes: r.scopes.clone(),
        resource_servers: r.resource_servers.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}
