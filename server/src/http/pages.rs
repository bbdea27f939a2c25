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
use super::page::{PageError, PageResult, html, message};
use crate::error::ErrorCode;
use crate::service::{recovery, verification};
use crate::templates::STYLESHEET;

#[handler]
pub async fn stylesheet(res: &mut Response) {
    res.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600"),
    );
    res.render(Text::Css(STYLESHEET));
}

#[handler]
pub async fn verify_email_form(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let token: String = req.query("token").unwrap_or_default();
    if token.is_empty() {
        return Err(PageError::bad_request(
            "This link is not valid",
            "The link has no token.",
        ));
    }
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/verify_email.html",
        minijinja::context! { token },
    );
    Ok(())
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

#[handler]
pub async fn verify_email_submit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<TokenForm>().await else {
        return Err(PageError::incomplete_form());
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
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[handler]
pub async fn reset_password_form(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let token: String = req.query("token").unwrap_or_default();
    if token.is_empty() {
        return Err(PageError::bad_request(
            "This link is not valid",
            "The link has no token.",
        ));
    }
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/reset_password.html",
        minijinja::context! { token },
    );
    Ok(())
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
    confirm: String,
}

#[handler]
pub async fn reset_password_submit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<ResetForm>().await else {
        return Err(PageError::incomplete_form());
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
        return Ok(());
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
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[handler]
pub async fn forgot_password_form(depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    html(
        &state,
        res,
        StatusCode::OK,
        "pages/forgot_password.html",
        minijinja::context! {},
    );
    Ok(())
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

/// Same answer whether or not the address has an account.
#[handler]
pub async fn forgot_password_submit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
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
    Ok(())
}
