//! Who is calling: the checks of SPEC section 4 on every protected request.

use crate::domain::{UserRecord, UserStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::tokens::{AccessClaims, verify_access};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub claims: AccessClaims,
}

impl Principal {
    /// 403 `INSUFFICIENT_PERMISSIONS` unless one of the caller's roles grants `permission`.
    pub fn require(&self, permission: crate::domain::Permission) -> ApiResult<()> {
        if self.user.roles.iter().any(|r| r.grants(permission)) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::InsufficientPermissions,
                format!("This needs the {} permission", permission.as_str()),
            ))
        }
    }
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> ApiResult<&str> {
    let header = header.ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingAuthHeader,
            "The Authorization header is missing",
        )
    })?;
    let (scheme, token) = header.split_once(' ').ok_or_else(invalid_format)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(invalid_format());
    }
    Ok(token)
}

fn invalid_format() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAuthFormat,
        "Use the format: Authorization: Bearer <token>",
    )
}

/// Signature, `exp`, `iss`, `aud`, then the live checks: `jti` not blocked, session alive,
/// user still active. A store that cannot answer makes this fail (503), never pass.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let now = state.clock.now();
    let claims = verify_access(state, token, now).await?;
    let sessions = &state.stores.sessions;
    if sessions.is_jti_blocked(&claims.jti, now).await? {
        return Err(ApiError::token_revoked());
    }
    let user_id = claims.sub.parse().map_err(|_| ApiError::invalid_token())?;
    let Some(session) = sessions.get_session(user_id, &claims.sid, now).await? else {
        return Err(ApiError::token_revoked());
    };
    // lastActivity is for people reading their session list: minute precision is plenty,
    // and it spares the store a write per request.
    if now - session.last_activity > time::Duration::minutes(1) {
        sessions.touch_session(user_id, &session.id, now).await?;
    }
    let user = state
        .stores
        .users
        .get_user(user_id)
        .await?
        .ok_or_else(ApiError::token_revoked)?;
    match user.status {
        UserStatus::Active => {}
        UserStatus::Pending if !state.config.require_email_verification => {}
        UserStatus::Suspended => {
            return Err(ApiError::new(
                ErrorCode::AccountSuspended,
                "The account is suspended",
            ));
        }
        UserStatus::Deleted => {
            return Err(ApiError::new(
                ErrorCode::AccountDeleted,
                "The account has been deleted",
            ));
        }
        UserStatus::Pending => {
            return Err(ApiError::new(
                ErrorCode::EmailNotVerified,
                "Verify your email address",
            ));
        }
    }
    Ok(Principal { user, claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header shapes map to the seed API's codes.
    #[test]
    fn bearer_header_shapes() {
        assert_eq!(
            bearer_token(Some("Bearer abc.def.ghi")).ok(),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(Some("bearer abc")).ok(), Some("abc"));
        assert_eq!(
            bearer_token(None).unwrap_err().code,
            ErrorCode::MissingAuthHeader
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "abc",
            "Bearer a b",
            "Token abc",
        ] {
            assert_eq!(
                bearer_token(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidAuthFormat,
                "{bad:?}"
            );
        }
    }
}
