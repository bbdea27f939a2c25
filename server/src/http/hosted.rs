//! The hosted sign-in pages of the authorization flow: login, MFA code, consent. Plain HTML
//! forms with CSRF tokens; they work without JavaScript.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::context::{app_state, client_info};
use super::flow::{current_browser, see_other, show_next, urlencode};
use super::page::{PageError, PageResult, html, message};
use super::{cookies, csrf};
use crate::error::{ApiError, ErrorCode};
use crate::service::ClientInfo;
use crate::service::login::{self, LoginInput, check_credentials, record_sign_in};
use crate::service::oauth::authorize::{self, Next, Pending, Refusal};
use crate::service::oauth::browser;
use crate::state::AppState;

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
pub async fn login_form(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let request: String = req.query("request").unwrap_or_default();
    let hint = match authorize::load(&state, &request).await {
        Ok(Some(pending)) => pending.login_hint.unwrap_or_default(),
        _ => String::new(),
    };
    login_page(&state, req, res, StatusCode::OK, &request, &hint, None).await;
    Ok(())
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
) -> PageResult {
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
    let (_, cookie) = opened?;
    cookies::set_browser(state, res, cookie, remember_me);
    // A new token after sign-in: one seen before cannot be replayed.
    csrf::renew(state, res);
    after_sign_in(state, res, request);
    Ok(())
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
pub async fn login_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<LoginForm>().await else {
        return Err(PageError::incomplete_form());
    };
    if !csrf::verify(&state, req, &form.csrf) {
        return Err(PageError::Expired);
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
                cookies::browser(&state, req),
                Proven {
                    user,
                    amr: crate::domain::oauth::amr_password(),
                    remember_me,
                },
                &client,
                &form.request,
            )
            .await?;
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
    Ok(())
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
pub async fn mfa_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<MfaForm>().await else {
        return Err(PageError::incomplete_form());
    };
    if !csrf::verify(&state, req, &form.csrf) {
        return Err(PageError::Expired);
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
            let amr = crate::domain::oauth::amr_password_and_code();
            let previous = cookies::browser(&state, req);
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
            .await?;
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
    Ok(())
}

/// Continues a stored authorization request after sign-in.
#[handler]
pub async fn resume(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let query: RequestQuery = req
        .parse_queries()
        .unwrap_or(RequestQuery { request: None });
    let pending = match authorize::load(&state, query.request.as_deref().unwrap_or("")).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return Err(request_expired()),
        Err(e) => return Err(e.into()),
    };
    let next = continue_pending(&state, req, &pending).await;
    show_next(&state, req, res, next, false).await;
    Ok(())
}

fn request_expired() -> PageError {
    PageError::bad_request(
        "This sign-in request has expired",
        "Go back to the application and start again.",
    )
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
pub async fn consent_submit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<ConsentForm>().await else {
        return Err(PageError::incomplete_form());
    };
    if !csrf::verify(&state, req, &form.csrf) {
        return Err(PageError::Expired);
    }
    let Some(browser) = current_browser(&state, req).await else {
        see_other(res, &format!("/login?request={}", urlencode(&form.request)));
        return Ok(());
    };
    let Ok(Some(pending)) = authorize::load(&state, &form.request).await else {
        return Err(request_expired());
    };
    if form.decision == "allow" {
        let url = authorize::consent_given(&state, &pending, &browser).await?;
        see_other(res, &url);
    } else {
        see_other(res, &authorize::consent_denied(&state, &pending));
    }
    Ok(())
}
