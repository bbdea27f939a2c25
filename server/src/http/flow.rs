//! The authorization flow's next step, shown to the browser: shared by the authorize
//! endpoint, the hosted sign-in pages and their resume link.

use salvo::http::StatusCode;
use salvo::prelude::*;

use super::cookies;
use super::csrf;
use super::page::{html, message};
use crate::service::oauth::authorize::{Next, Refusal};
use crate::service::oauth::browser::{self, BrowserSession};
use crate::state::AppState;

pub fn see_other(res: &mut Response, location: &str) {
    res.render(Redirect::other(location));
}

/// The browser's signed-in session, if its cookie names a live one. A lookup that fails is
/// logged and read as "not signed in": the browser is sent to sign in, never let through.
pub async fn current_browser(state: &AppState, req: &Request) -> Option<BrowserSession> {
    match browser::current(state, cookies::browser(state, req).as_deref()).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e.message, "browser session lookup failed");
            None
        }
    }
}

pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Renders what [`authorize::proceed`] decided.
pub async fn show_next(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    next: Result<Next, Refusal>,
    after_post: bool,
) {
    match next {
        Ok(Next::Redirect(url)) | Err(Refusal::Redirect(url)) => {
            if after_post {
                see_other(res, &url);
            } else {
                res.render(Redirect::found(url));
            }
        }
        Ok(Next::Login { request_id }) => {
            let location = format!("/login?request={}", urlencode(&request_id));
            if after_post {
                see_other(res, &location);
            } else {
                res.render(Redirect::found(location));
            }
        }
        Ok(Next::Consent {
            request_id,
            client,
            scope,
        }) => {
            let Some(browser) = current_browser(state, req).await else {
                message(
                    state,
                    res,
                    StatusCode::UNAUTHORIZED,
                    "Please sign in",
                    "Your session ended.",
                );
                return;
            };
            let csrf = csrf::token_for_form(state, req, res);
            let scopes: Vec<_> = scope.items().iter().map(|s| scope_text(s)).collect();
            html(
                state,
                res,
                StatusCode::OK,
                "pages/consent.html",
                minijinja::context! {
                    csrf,
                    request => request_id,
                    client_name => client.name,
                    username => browser.user.username,
                    scopes,
                },
            );
        }
        Err(Refusal::Page(text)) => {
            message(
                state,
                res,
                StatusCode::BAD_REQUEST,
                "This sign-in request is not valid",
                &text,
            );
        }
    }
}

fn scope_text(scope: &str) -> std::borrow::Cow<'static, str> {
    match scope {
        "openid" => "Know who you are".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "phone" => "See your phone number".into(),
        "offline_access" => "Stay signed in when you are not using it".into(),
        "roles" => "See your roles".into(),
        // A scope an API resource defines.
        other => format!("Use {other} on your behalf").into(),
    }
}
