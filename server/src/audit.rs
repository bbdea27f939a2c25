//! Audit events (SPEC section 7): every security-relevant action is logged as one JSON line
//! (target `audit`) and stored for admins to query.
//!
//! A failed store write does not fail the action (the log line already holds the event); it is
//! logged as a warning.

use serde_json::Value;
use uuid::Uuid;

use crate::service::ClientInfo;
use crate::state::AppState;
use crate::store::AuditEvent;

/// Who did what to whom; `details` must never hold secrets.
pub struct Audit<'a> {
    pub action: &'a str,
    pub actor: Option<Uuid>,
    pub target: Option<Uuid>,
    pub details: Value,
}

impl<'a> Audit<'a> {
    /// An action a user took on their own account.
    pub fn by_user(action: &'a str, user: Uuid) -> Self {
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

pub async fn record(state: &AppState, client: &ClientInfo, audit: Audit<'_>) {
    let at = state.clock.now();
    let event = AuditEvent {
        id: AuditEvent::new_id(at),
        at,
        action: audit.action.to_owned(),
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
