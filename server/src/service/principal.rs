//! Who is calling: the checks of SPEC sections 4 and 5 on every request that carries an
//! access token. Whether a token is meant for an endpoint is decided here and nowhere else.

use time::OffsetDateTime;

use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::account_status;
use crate::state::AppState;
use crate::tokens::{AccessClaims, FIRST_PARTY_CLIENT_ID, verify_access};

/// A user calling with an access token that is alive.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub claims: AccessClaims,
    /// The session the token was issued for.
    pub session_id: String,
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

    /// When the user last proved who they are (the session's sign-in).
    pub fn auth_time(&self) -> Option<OffsetDateTime> {
        self.claims
            .auth_time
            .and_then(|t| OffsetDateTime::from_unix_timestamp(i64::try_from(t).ok()?).ok())
    }
}

/// Whom a live access token speaks for.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // Built once per request and matched at once.
pub enum Bearer {
    User(Principal),
    /// A `client_credentials` token: the client acts for itself.
    Client(AccessClaims),
}

impl Bearer {
    pub fn claims(&self) -> &AccessClaims {
        match self {
            Self::User(principal) => &principal.claims,
            Self::Client(claims) => claims,
        }
    }
}

fn not_for_this_api() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "The token is not meant for this API: use a token from /v1/auth/login",
    )
}
/// How an access token was presented (RFC 6750, RFC 9449 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    /// With a proof in the `DPoP` header.
    Dpop,
}

/// Extracts the token from an `Authorization: Bearer` header value (`/v1`, the seed API).
pub fn bearer_token(header: Option<&str>) -> ApiResult<&str> {
    match presented_token(header)? {
        (Scheme::Bearer, token) => Ok(token),
        (Scheme::Dpop, _) => Err(invalid_format()),
    }
}

/// Extracts the scheme and token from an `Authorization` header value: `Bearer` or `DPoP`.
pub fn presented_token(header: Option<&str>) -> ApiResult<(Scheme, &str)> {
    let header = header.ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingAuthHeader,
            "The Authorization header is missing",
        )
    })?;
    let (scheme, token) = header.split_once(' ').ok_or_else(invalid_format)?;
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(invalid_format());
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Ok((Scheme::Dpop, token))
    } else {
        Err(invalid_format())
    }
}

fn invalid_format() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAuthFormat,
        "Use the format: Authorization: Bearer <token>",
    )
}

/// The binding rule (`sigil_keys::dpop::check_binding`) for a token presented as a
/// credential: `proven` is the key of the request's DPoP proof, already checked.
fn ensure_bound(claims: &AccessClaims, proven: Option<&str>) -> ApiResult<()> {
    sigil_keys::dpop::check_binding(claims.bound_key(), proven)
        .map_err(|e| ApiError::new(ErrorCode::InvalidToken, e.to_string()))
}

/// `/v1`: only REST tokens (client `sigil`, addressed to `SIGIL_REST_AUDIENCE`) are accepted,
/// then the live checks (`live`).
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let now = state.clock.now();
    let claims = verify_access(state, token, now).await?;
    // REST tokens are never bound; a bound one cannot come here without its proof.
    ensure_bound(&claims, None)?;
    if claims.client_id != FIRST_PARTY_CLIENT_ID
        || !claims.aud.iter().any(|a| state.config.is_rest_audience(a))
    {
        return Err(not_for_this_api());
    }
    match live(state, claims, now).await? {
        Bearer::User(principal) => Ok(principal),
        Bearer::Client(_) => Err(not_for_this_api()),
    }
}

/// Any of this issuer's access tokens presented as a credential (userinfo), whatever its
/// audience, if it is alive and goes with the request's DPoP key (`proven`, or none).
pub async fn authenticate_presented(
    state: &AppState,
    token: &str,
    proven: Option<&str>,
) -> ApiResult<Bearer> {
    let now = state.clock.now();
    let claims = verify_access(state, token, now).await?;
    ensure_bound(&claims, proven)?;
    live(state, claims, now).await
}

/// Any of this issuer's access tokens, whatever its audience and binding, if it is still
/// alive: for introspection, where the token is what is asked about, not a credential.
pub async fn authenticate_any(state: &AppState, token: &str) -> ApiResult<Bearer> {
    let now = state.clock.now();
    let claims = verify_access(state, token, now).await?;
    live(state, claims, now).await
}

/// The live checks: `jti` not blocked, the client still registered, the session alive, the
/// user still allowed to sign in. A store that cannot answer makes this fail (503), never
/// pass.
async fn live(state: &AppState, claims: AccessClaims, now: OffsetDateTime) -> ApiResult<Bearer> {
    let sessions = &state.stores.sessions;
    let session = match claims.sid.as_deref() {
        Some(sid) => {
            let user_id = claims.sub.parse().map_err(|_| ApiError::invalid_token())?;
            let read = sessions
                .bearer_state(&claims.jti, user_id, sid, now)
                .await?;
            if read.jti_blocked {
                return Err(ApiError::token_revoked());
            }
            Some(
                read.session
                    .filter(|s| s.client_id == claims.client_id)
                    .ok_or_else(ApiError::token_revoked)?,
            )
        }
        None if sessions.is_jti_blocked(&claims.jti, now).await? => {
            return Err(ApiError::token_revoked());
        }
        None => None,
    };
    // Deleting a client ends its sessions; this also ends its client_credentials tokens.
    if claims.client_id != FIRST_PARTY_CLIENT_ID
        && state
            .stores
            .clients
            .get_client(&claims.client_id)
            .await?
            .is_none()
    {
        return Err(ApiError::token_revoked());
    }
    let Some(session) = session else {
        return Ok(Bearer::Client(claims));
    };
    let user_id = session.user_id;
    let sid = session.id.clone();
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
    account_status::ensure_may_sign_in(state, &user)?;
    Ok(Bearer::User(Principal {
        user,
        claims,
        session_id: sid,
    }))
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
        assert_eq!(
            presented_token(Some("DPoP abc")).ok(),
            Some((Scheme::Dpop, "abc"))
        );
        // The seed API knows Bearer only.
        assert_eq!(
            bearer_token(Some("DPoP abc")).unwrap_err().code,
            ErrorCode::InvalidAuthFormat
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
