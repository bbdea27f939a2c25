//! Hosted pages for the links in mails. A GET only shows a form; the token is used up by the
//! form's POST, so mail scanners that follow links consume nothing.
//!
//! These forms need no CSRF token: they carry no ambient authority (no cookie), only the
//! emailed one-time token, which a forging site does not have.

use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::context::{app_state, client_info};
use crate::error::{ApiError, ErrorCode};
use crate::service::{recovery, verification};
use crate::state::AppState;
use crate::templates::STYLESHEET;

pub(super) fn html(
    state: &AppState,
    res: &mut Response,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) {
    match state.templates.render(name, ctx) {
        Ok(page) => {
            res.status_code(status);
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            res.render(Text::Html(page));
        }
        Err(e) => {
            tracing::error!(error = %e, page = name, "rendering a page failed");
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Plain("Something went wrong."));
        }
    }
}

pub(super) fn message(
    state: &AppState,
    res: &mut Response,
    status: StatusCode,
    heading: &str,
    text: &str,
) {
    let failed = !status.is_success();
    html(
        state,
        res,
        status,
        "pages/message.html",
        minijinja::context! { heading, message => text, failed },
    );
}

pub(super) fn failure(state: &AppState, res: &mut Response, err: &ApiError) {
    let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let heading = match err.code {
        ErrorCode::TokenGone => "This link has expired",
        ErrorCode::LinkNotFound => "This link is not valid",
        ErrorCode::ServiceUnavailable => "Please try again shortly",
        _ => "That did not work",
    };
    message(state, res, status, heading, &err.message);
}

#[handler]
pub async fn stylesheet(res: &mut Response) {
    res.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600"),
    );
    res.render(Text::Css(STYLESHEET));
}

#[handler]
pub async fn verify_email_form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let token: String = req.query("token").unwrap_or_default();
    if token.is_empty() {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "The link has no token.",
        );
        return;
    }
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/verify_email.html",
        minijinja::context! { token },
    );
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

#[handler]
pub async fn verify_email_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let Ok(form) = req.parse_form::<TokenForm>().await else {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "That did not work",
            "The form was incomplete.",
        );
        return;
    };
    let client = client_info(req, depot, &state);
    match verification::verify_email(&state, &form.token, &client).await {
        Ok(_) => message(
            &state,
            res,
            StatusCode::OK,
            "Email address confirmed",
            "Thank you. Your email address is confirmed and you can sign in.",
        ),
        Err(e) => failure(&state, res, &e),
    }
}

#[handler]
pub async fn reset_password_form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let token: String = req.query("token").unwrap_or_default();
    if token.is_empty() {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "The link has no token.",
        );
        return;
    }
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/reset_password.html",
        minijinja::context! { token },
    );
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
    confirm: String,
}

#[handler]
pub async fn reset_password_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    let Ok(form) = req.parse_form::<ResetForm>().await else {
        message(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "That did not work",
            "The form was incomplete.",
        );
        return;
    };
    let again = |res: &mut Response, error: &str| {
        html(
            &state,
            res,
            StatusCode::BAD_REQUEST,
            "pages/reset_password.html",
            minijinja::context! { token => form.token.clone(), error },
        );
    };
    if form.password != form.confirm {
        again(res, "The two passwords differ.");
        return;
    }
    let client = client_info(req, depot, &state);
    let password = Zeroizing::new(form.password.clone());
    match recovery::reset_password(&state, &form.token, password, &client).await {
        Ok(()) => message(
            &state,
            res,
            StatusCode::OK,
            "Password changed",
            "Your new password is set, and every device was signed out. You can sign in now.",
        ),
        Err(e) if e.code == ErrorCode::ValidationError => {
            let reason = e
                .details
                .first()
                .map_or(e.message.clone(), |d| d.message.clone());
            again(res, &reason);
        }
        Err(e) => failure(&state, res, &e),
    }
}

#[handler]
pub async fn forgot_password_form(depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/forgot_password.html",
        minijinja::context! {},
    );
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

/// Same answer whether or not the address has an account.
#[handler]
pub async fn forgot_password_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(state) = app_state(depot) else { return };
    if let Ok(form) = req.parse_form::<ForgotForm>().await
        && !form.email.trim().is_empty()
    {
        recovery::forgot_password(&state, form.email, client_info(req, depot, &state));
    }
    message(
        &state,
        res,
        StatusCode::OK,
        "Check your email",
        "If the address belongs to an account, a link to choose a new password is on its way.",
    );
}
