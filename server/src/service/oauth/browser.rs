//! The browser's single sign-on session (`sigil_session` cookie): a session of its own client
//! id whose secret is the cookie value. It lets a second client sign in without a password.
//!
//! The cookie is no refresh token: its digest is taken with a label of its own
//! ([`SessionSecret::SsoCookie`]), so no refresh endpoint can match it, and the session's
//! client id is no client that can refresh.

use super::super::ClientInfo;
use super::super::account_status::ensure_may_sign_in;
use super::super::sessions::{NewSession, SessionSecret, open_session};
use crate::domain::UserRecord;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::SessionRecord;

pub const COOKIE: &str = "sigil_session";
/// The client id of browser sessions in session lists.
pub const BROWSER_CLIENT_ID: &str = "sigil-browser";

#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session: SessionRecord,
    pub user: UserRecord,
}

/// The signed-in user behind a cookie, if the session is alive and the user may sign in.
pub async fn current(state: &AppState, cookie: Option<&str>) -> ApiResult<Option<BrowserSession>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let Some(session) = state
        .stores
        .sessions
        .find_by_refresh(&SessionSecret::SsoCookie.digest(cookie), now)
        .await?
        .filter(|s| s.client_id == BROWSER_CLIENT_ID)
    else {
        return Ok(None);
    };
    let Some(user) = state.stores.users.get_user(session.user_id).await? else {
        return Ok(None);
    };
    if ensure_may_sign_in(state, &user).is_err() {
        return Ok(None);
    }
    Ok(Some(BrowserSession { session, user }))
}

/// Opens a browser session after a successful sign-in; returns it with the cookie value. The
/// session behind the browser's `previous` cookie, if any, ends: one browser, one SSO session.
pub async fn open(
    state: &AppState,
    user: UserRecord,
    amr: Vec<String>,
    remember_me: bool,
    client: &ClientInfo,
    previous: Option<&str>,
) -> ApiResult<(BrowserSession, String)> {
    let now = state.clock.now();
    if let Some(previous) = previous.filter(|c| !c.is_empty())
        && let Some(old) = state
            .stores
            .sessions
            .find_by_refresh(&SessionSecret::SsoCookie.digest(previous), now)
            .await?
            .filter(|s| s.client_id == BROWSER_CLIENT_ID)
    {
        state
            .stores
            .sessions
            .revoke_session(old.user_id, &old.id)
            .await?;
    }
    let new = NewSession {
        client_id: BROWSER_CLIENT_ID.to_owned(),
        remember_me,
        amr,
        auth_time: now,
        scope: None,
        resources: Vec::new(),
        secret: SessionSecret::SsoCookie,
        dpop_jkt: None,
    };
    let (session, cookie) = open_session(state, &user, new, client, now).await?;
    Ok((BrowserSession { session, user }, cookie))
}
