//! The user's own sessions ("devices").

use super::ClientInfo;
use super::principal::Principal;
use crate::audit::{self, Audit, AuditAction};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

pub use sigil_proto::users::SessionView;

pub async fn list(state: &AppState, principal: &Principal) -> ApiResult<Vec<SessionView>> {
    let sessions = state
        .stores
        .sessions
        .list_sessions(principal.user.id, state.clock.now())
        .await?;
    Ok(sessions
        .into_iter()
        .map(|s| crate::views::session(&s, &principal.session_id))
        .collect())
}

/// Ends one of the caller's sessions (the current one included).
pub async fn revoke(
    state: &AppState,
    principal: &Principal,
    session_id: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    let removed = state
        .stores
        .sessions
        .revoke_session(principal.user.id, session_id)
        .await?;
    if removed.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "No such session"));
    }
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::SessionRevoked, principal.user.id)
            .details(serde_json::json!({ "sessionId": session_id })),
    )
    .await;
    Ok(())
}
