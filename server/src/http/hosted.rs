//! The hosted sign-in pages of the authorization flow: login, MFA code, consent. Plain HTML
//! forms with CSRF tokens; they work without JavaScript.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::context::{app_state, client_info};
use super::pages::{failure, html, message};
use super::{cookies, csrf};
use crate::error::{ApiError, ErrorCode};
use crate::service::ClientInfo;
use crate::service::login::{self, LoginInput, check_credentials, record_sign_in};
use crate::service::oauth::authorize::{self, Next, Pending, Refusal};
use crate::service::oauth::browser::{self, BrowserSession};
use crate::state::AppState;

fn see_other(res: &mut Response, location: &str) {
    res.render(Redirect::other(location));
}

fn forbidden_form(state: &AppState, res: &mut Response) {
    message(
        state,
        res,
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Go back, reload the page and try again.",
    );
}

pub async fn current_browser(state: &AppState, req: &Request) -> Option<BrowserSession> {
    match browser::current(state, cookies::browser(req).as_deref()).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e.message, "browser session lookup failed");
            None
        }
    }
}

async fn client_name(state: &AppState, request: &str) -> Option<String> {
    let pending = authorize::load(state, request).await.ok().flatten()?;
    let client = state
        .stores
        .clients
        .get_client(&pending.client_id)
        .await
        .ok()
        .flatten()?;
    Some(client.name)
}

#[allow(clippy::too_many_arguments)]
async fn login_page(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    status: StatusCode,
    request: &str,
    login: &str,
    error: Option<&str>,
) {
    let csrf = csrf::token_for_form(state, req, res);
    let client_name = client_name(state, request).await;
    html(
        state,
        res,
        status,
        "pages/login.html",
        minijinja::context! { csrf, request, login, error, client_name },
    );
}

#[derive(Deserialize)]
struct RequestQuery {
    request: Option<String>,
}

#[handler]
pub async fn login_form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let request: String = req.query("request").unwrap_or_default();
    let hint = match authorize::load(&state, &request).await {
        Ok(Some(pending)) => pending.login_hint.unwrap_or_default(),
        _ => String::new(),
    };
    login_page(&state, req, res, StatusCode::OK, &request, &hint, None).await;
}

/// Where the browser goes once signed in: back to the authorization request, or a notice.
fn after_sign_in(state: &AppState, res: &mut Response, request: &str) {
    if request.is_empty() {
        message(
            state,
            res,
            StatusCode::OK,
            "You are signed in",
            "You can close this page.",
        );
    } else {
        see_other(
            res,
            &format!("/oauth2/authorize/resume?request={}", urlencode(request)),
        );
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A user who just proved who they are on a hosted page, and how.
struct Proven {
    user: crate::domain::UserRecord,
    amr: Vec<String>,
    remember_me: bool,
}

async fn sign_in_browser(
    state: &AppState,
    res: &mut Response,
    previous_cookie: Option<String>,
    proven: Proven,
    client: &ClientInfo,
    request: &str,
) {
    let now = state.clock.now();
    let Proven {
        user,
        amr,
        remember_me,
    } = proven;
    let opened = match record_sign_in(state, user, client, now).await {
        Ok(user) => {
            let previous = previous_cookie.as_deref();
            browser::open(state, user, amr, remember_me, client, previous).await
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok((_, cookie)) => {
            cookies::set_browser(state, res, cookie, remember_me);
            // A new token after sign-in: one seen before cannot be replayed.
            csrf::renew(state, res);
            after_sign_in(state, res, request);
        }
        Err(e) => failure(state, res, &e),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    #[serde(default)]
    request: String,
    login: String,
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

#[handler]
pub async fn login_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let Ok(form) = req.parse_form::<LoginForm>().await else {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "That did not work",
            "The form was incomplete.",
        );
        return;
    };
    if !csrf::verify(req, &form.csrf) {
        forbidden_form(&state, res);
        return;
    }
    let client = client_info(req, depot, &state);
    let remember_me = form.remember.is_some();
    let login = form.login.trim().to_owned();
    let input = LoginInput {
        email: login.contains('@').then(|| login.clone()),
        username: (!login.contains('@')).then(|| login.clone()),
        password: Some(Zeroizing::new(form.password)),
        remember_me,
    };
    match check_credentials(&state, input, &client).await {
        Ok(user) => {
            sign_in_browser(
                &state,
                res,
                cookies::browser(req),
                Proven {
                    user,
                    amr: vec!["pwd".into()],
                    remember_me,
                },
                &client,
                &form.request,
            )
            .await;
        }
        Err(e) if e.code == ErrorCode::MfaRequired => {
            let mfa_token = e.mfa_token.as_deref().unwrap_or_default().to_owned();
            let csrf = csrf::token_for_form(&state, req, res);
            html(
                &state,
                res,
                StatusCode::OK,
                "pages/mfa.html",
                minijinja::context! { csrf, request => form.request, mfa_token, error => None::<String> },
            );
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            login_page(
                &state,
                req,
                res,
                status,
                &form.request,
                &login,
                Some(&e.message),
            )
            .await;
        }
    }
}

#[derive(Deserialize)]
struct MfaForm {
    csrf: String,
    #[serde(default)]
    request: String,
    mfa_token: String,
    code: String,
}

#[handler]
pub async fn mfa_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let Ok(form) = req.parse_form::<MfaForm>().await else {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "That did not work",
            "The form was incomplete.",
        );
        return;
    };
    if !csrf::verify(req, &form.csrf) {
        forbidden_form(&state, res);
        return;
    }
    let client = client_info(req, depot, &state);
    match login::pass_challenge(
        &state,
        Some(form.mfa_token.clone()),
        Some(form.code),
        &client,
    )
    .await
    {
        Ok((user, remember_me)) => {
            let amr = vec!["pwd".to_owned(), "otp".to_owned()];
            let previous = cookies::browser(req);
            sign_in_browser(
                &state,
                res,
                previous,
                Proven {
                    user,
                    amr,
                    remember_me,
                },
                &client,
                &form.request,
            )
            .await;
        }
        Err(e)
            if matches!(
                e.code,
                ErrorCode::InvalidMfaCode | ErrorCode::MfaBackupCodeUsed
            ) =>
        {
            let csrf = csrf::token_for_form(&state, req, res);
            html(
                &state,
                res,
                StatusCode::UNAUTHORIZED,
                "pages/mfa.html",
                minijinja::context! { csrf, request => form.request, mfa_token => form.mfa_token, error => e.message },
            );
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            login_page(
                &state,
                req,
                res,
                status,
                &form.request,
                "",
                Some(&e.message),
            )
            .await;
        }
    }
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

/// Continues a stored authorization request after sign-in.
#[handler]
pub async fn resume(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let query: RequestQuery = req
        .parse_queries()
        .unwrap_or(RequestQuery { request: None });
    let pending = match authorize::load(&state, query.request.as_deref().unwrap_or("")).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            message(
                &state,
                res,
                StatusCode::BAD_REQUEST,
                "This sign-in request has expired",
                "Go back to the application and start again.",
            );
            return;
        }
        Err(e) => {
            failure(&state, res, &e);
            return;
        }
    };
    let next = continue_pending(&state, req, &pending).await;
    show_next(&state, req, res, next, false).await;
}

async fn continue_pending(
    state: &AppState,
    req: &Request,
    pending: &Pending,
) -> Result<Next, Refusal> {
    let client = match state.stores.clients.get_client(&pending.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(Refusal::Page(
                "The application is no longer registered.".into(),
            ));
        }
        Err(e) => return Err(Refusal::Page(ApiError::from(e).message)),
    };
    let browser = current_browser(state, req).await;
    authorize::proceed(state, &client, pending, browser.as_ref()).await
}

#[derive(Deserialize)]
struct ConsentForm {
    csrf: String,
    request: String,
    decision: String,
}

#[handler]
pub async fn consent_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let Ok(form) = req.parse_form::<ConsentForm>().await else {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "That did not work",
            "The form was incomplete.",
        );
        return;
    };
    if !csrf::verify(req, &form.csrf) {
        forbidden_form(&state, res);
        return;
    }
    let Some(browser) = current_browser(&state, req).await else {
        see_other(res, &format!("/login?request={}", urlencode(&form.request)));
        return;
    };
    let pending = match authorize::load(&state, &form.request).await {
        Ok(Some(pending)) => pending,
        _ => {
            message(
                &state,
                res,
                StatusCode::BAD_REQUEST,
                "This sign-in request has expired",
                "Go back to the application and start again.",
            );
            return;
        }
    };
    if form.decision == "allow" {
        match authorize::consent_given(&state, &pending, &browser).await {
            Ok(url) => see_other(res, &url),
            Err(e) => failure(&state, res, &e),
        }
    } else {
        see_other(res, &authorize::consent_denied(&state, &pending));
    }
}
