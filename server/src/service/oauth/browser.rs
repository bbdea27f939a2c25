//! The browser's single sign-on session (`sigil_session` cookie): a session like any other,
//! whose "refresh token" is the cookie value. It lets a second client sign in without a
//! password.

use super::super::ClientInfo;
use super::super::sessions::{NewSession, ensure_may_sign_in, open_session};
use crate::crypto::token_digest;
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
        .find_by_refresh(&token_digest(cookie), now)
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

/// Opens a browser session after a successful sign-in; returns it with the cookie value.
pub async fn open(
    state: &AppState,
    user: UserRecord,
    amr: Vec<String>,
    remember_me: bool,
    client: &ClientInfo,
) -> ApiResult<(BrowserSession, String)> {
    let now = state.clock.now();
    let new = NewSession {
        client_id: BROWSER_CLIENT_ID.to_owned(),
        remember_me,
        amr,
        auth_time: now,
        scope: None,
    };
    let (session, cookie) = open_session(state, &user, new, client, now).await?;
    Ok((BrowserSession { session, user }, cookie))
}
