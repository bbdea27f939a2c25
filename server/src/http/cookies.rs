//! Every cookie Sigil sets, in one place: name, scope and flags decide who can read and send
//! them, so they are decided once.
//!
//! - `sigil_refresh`: the REST refresh token, HttpOnly, SameSite=Strict (configurable with
//!   `SIGIL_REFRESH_COOKIE_SAMESITE` for cross-site single-page apps), sent to
//!   `SIGIL_PUBLIC_PATH_PREFIX` + `/v1/auth` only; lives as long as the session.
//! - `sigil_session`: the browser's SSO session for the hosted pages, HttpOnly, SameSite=Lax
//!   (it must ride along the top-level redirect back from a client); a session cookie unless
//!   "remember me" was ticked.
//! - `sigil_csrf`: the double-submit token of the hosted forms, HttpOnly, SameSite=Strict.
//!
//! All are `Secure` when the issuer is https, and then carry the browsers' name prefixes that
//! a sibling subdomain or a plain-http page cannot forge: `__Host-sigil_session` and
//! `__Host-sigil_csrf` (Secure, Path=/, no Domain: only this host can set them), and
//! `__Secure-sigil_refresh` (its path is narrower than `/`, which `__Host-` forbids).

use salvo::http::cookie::time::Duration;
use salvo::http::cookie::{Cookie, CookieBuilder, SameSite};
use salvo::prelude::*;

use crate::config::CookieSameSite;
use crate::service::oauth::browser;
use crate::state::AppState;

pub const REFRESH: &str = "sigil_refresh";
const SECURE_REFRESH: &str = "__Secure-sigil_refresh";
const REFRESH_PATH: &str = "/v1/auth";

fn refresh_same_site(state: &AppState) -> SameSite {
    match state.config.refresh_cookie_same_site {
        CookieSameSite::Strict => SameSite::Strict,
        CookieSameSite::Lax => SameSite::Lax,
        CookieSameSite::None => SameSite::None,
    }
}
pub const CSRF: &str = "sigil_csrf";
const HOST_CSRF: &str = "__Host-sigil_csrf";
const HOST_BROWSER: &str = "__Host-sigil_session";

/// The cookie's name on this deployment: prefixed when cookies are `Secure`.
fn name(state: &AppState, plain: &'static str) -> &'static str {
    if !state.config.issuer_is_https {
        return plain;
    }
    match plain {
        REFRESH => SECURE_REFRESH,
        CSRF => HOST_CSRF,
        browser::COOKIE => HOST_BROWSER,
        other => other,
    }
}

fn base(
    state: &AppState,
    name: &'static str,
    value: String,
    same_site: SameSite,
) -> CookieBuilder<'static> {
    Cookie::build((self::name(state, name), value))
        .http_only(true)
        .same_site(same_site)
        .secure(state.config.issuer_is_https)
}

fn read(req: &Request, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn set_refresh(state: &AppState, res: &mut Response, token: String, max_age_secs: i64) {
    res.add_cookie(
        base(state, REFRESH, token, refresh_same_site(state))
            .path(format!("{}{REFRESH_PATH}", state.config.public_path_prefix))
            .max_age(Duration::seconds(max_age_secs))
            .build(),
    );
}

pub fn clear_refresh(state: &AppState, res: &mut Response) {
    set_refresh(state, res, String::new(), 0);
}

pub fn refresh(state: &AppState, req: &Request) -> Option<String> {
    read(req, name(state, REFRESH))
}

pub fn set_browser(state: &AppState, res: &mut Response, value: String, remember_me: bool) {
    let mut cookie = base(state, browser::COOKIE, value, SameSite::Lax).path("/");
    if remember_me {
        let secs = i64::try_from(state.config.remember_me_ttl.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(Duration::seconds(secs));
    }
    res.add_cookie(cookie.build());
}

pub fn clear_browser(state: &AppState, res: &mut Response) {
    res.add_cookie(
        base(state, browser::COOKIE, String::new(), SameSite::Lax)
            .path("/")
            .max_age(Duration::ZERO)
            .build(),
    );
}

pub fn browser(state: &AppState, req: &Request) -> Option<String> {
    req.cookie(name(state, browser::COOKIE))
        .map(|c| c.value().to_owned())
}

pub fn set_csrf(state: &AppState, res: &mut Response, token: String) {
    res.add_cookie(base(state, CSRF, token, SameSite::Strict).path("/").build());
}

pub fn csrf(state: &AppState, req: &Request) -> Option<String> {
    req.cookie(name(state, CSRF)).map(|c| c.value().to_owned())
}
