//! Audit events (SPEC section 7): every security-relevant action is logged as one JSON line
//! (target `audit`) and stored for admins to query.
//!
//! A failed store write does not fail the action (the log line already holds the event); it is
//! logged as a warning.

use serde_json::Value;
use uuid::Uuid;

use crate::domain::{Role, UserRecord};
use crate::service::ClientInfo;
use crate::state::AppState;
use crate::store::AuditEvent;

/// What happened, by its stable dotted name (the `action` of stored events and log lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    AccountDeleted,
    AccountLocked,
    AdminClientCreated,
    AdminClientDeleted,
    AdminClientSecretRotated,
    AdminClientUpdated,
    AdminKeysRotated,
    AdminResourceCreated,
    AdminResourceDeleted,
    AdminResourceUpdated,
    AdminUserCreated,
    AdminUserDeleted,
    AdminUserMfaReset,
    AdminUserSessionsRevoked,
    AdminUserUnlocked,
    AdminUserUpdated,
    EmailVerified,
    LoginSucceeded,
    LoginFailed,
    LoginMfaRequired,
    MfaFailed,
    Logout,
    MfaBackupCodesRegenerated,
    MfaDisabled,
    MfaEnabled,
    MfaSetupStarted,
    OauthCodeReuseDetected,
    PasswordChanged,
    PasswordReset,
    PasswordResetRequested,
    ReauthenticationFailed,
    RefreshReuseDetected,
    SessionRevoked,
    UserRegistered,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountDeleted => "account.deleted",
            Self::AccountLocked => "account.locked",
            Self::AdminClientCreated => "admin.client.created",
            Self::AdminClientDeleted => "admin.client.deleted",
            Self::AdminClientSecretRotated => "admin.client.secret_rotated",
            Self::AdminClientUpdated => "admin.client.updated",
            Self::AdminKeysRotated => "admin.keys.rotated",
            Self::AdminResourceCreated => "admin.resource.created",
            Self::AdminResourceDeleted => "admin.resource.deleted",
            Self::AdminResourceUpdated => "admin.resource.updated",
            Self::AdminUserCreated => "admin.user.created",
            Self::AdminUserDeleted => "admin.user.deleted",
            Self::AdminUserMfaReset => "admin.user.mfa_reset",
            Self::AdminUserSessionsRevoked => "admin.user.sessions_revoked",
            Self::AdminUserUnlocked => "admin.user.unlocked",
            Self::AdminUserUpdated => "admin.user.updated",
            Self::EmailVerified => "email.verified",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoginMfaRequired => "login.mfa_required",
            Self::MfaFailed => "mfa.failed",
            Self::Logout => "logout",
            Self::MfaBackupCodesRegenerated => "mfa.backup_codes_regenerated",
            Self::MfaDisabled => "mfa.disabled",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaSetupStarted => "mfa.setup_started",
            Self::OauthCodeReuseDetected => "oauth.code_reuse_detected",
            Self::PasswordChanged => "password.changed",
            Self::PasswordReset => "password.reset",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::ReauthenticationFailed => "reauthentication.failed",
            Self::RefreshReuseDetected => "refresh.reuse_detected",
            Self::SessionRevoked => "session.revoked",
            Self::UserRegistered => "user.registered",
        }
    }
}

/// Who did what to whom; `details` must never hold secrets.
pub struct Audit {
    pub action: AuditAction,
    pub actor: Option<Uuid>,
    pub target: Option<Uuid>,
    pub details: Value,
}

impl Audit {
    /// An action a user took on their own account.
    pub fn by_user(action: AuditAction, user: Uuid) -> Self {
        Self {
            action,
            actor: Some(user),
            target: Some(user),
            details: Value::Null,
        }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Who is acting and from where, for services that audit what they do whoever calls them
/// (the admin API and the `sigil` command line alike).
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: Option<Uuid>,
    /// The actor's rank ([`crate::domain::rank`]); `None` for the command line, whose
    /// operator already holds the server's keys.
    pub rank: Option<Role>,
    pub client: ClientInfo,
}

impl Acting {
    /// An admin or moderator through the API.
    pub fn admin(actor: &UserRecord, client: ClientInfo) -> Self {
        Self {
            actor: Some(actor.id),
            rank: Some(crate::domain::rank(&actor.roles)),
            client,
        }
    }

    /// Whether the actor may act on a user with these roles, or hand them out.
    pub fn may_act_on(&self, roles: &[Role]) -> bool {
        self.rank
            .is_none_or(|rank| crate::domain::may_act_on(rank, roles))
    }

    /// An operator at the `sigil` command line (no account; the user agent says so).
    pub fn command_line() -> Self {
        Self {
            actor: None,
            rank: None,
            client: ClientInfo {
                user_agent: Some("sigil-cli".to_owned()),
                ..ClientInfo::default()
            },
        }
    }

    pub async fn record(
        &self,
        state: &AppState,
        action: AuditAction,
        target: Option<Uuid>,
        details: Value,
    ) {
        let audit = Audit {
            action,
            actor: self.actor,
            target,
            details,
        };
        record(state, &self.client, audit).await;
    }
}

pub async fn record(state: &AppState, client: &ClientInfo, audit: Audit) {
    let at = state.clock.now();
    let event = AuditEvent {
        id: AuditEvent::new_id(at),
        at,
        action: audit.action.as_str().to_owned(),
        actor_id: audit.actor,
        target_id: audit.target,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        request_id: client.request_id.clone(),
        details: audit.details,
    };
    state.metrics.on_audit(&event.action);
    tracing::info!(
        target: "audit",
        action = %event.action,
        actor_id = ?event.actor_id,
        target_id = ?event.target_id,
        ip = ?event.ip,
        user_agent = ?event.user_agent,
        request_id = ?event.request_id,
        details = %event.details,
        "audit"
    );
    if let Err(e) = state.stores.audit.record_audit(&event).await {
        tracing::warn!(error = %e, action = %event.action, "storing an audit event failed");
    }
}
