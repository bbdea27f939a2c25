//! CSRF protection for the hosted forms that act on the browser's session: a random token in
//! a cookie (`sigil_csrf`, SameSite=Strict) that each form must echo (double submit). It is
//! renewed after every sign-in, so a token seen before cannot be replayed.

use salvo::http::cookie::{Cookie, SameSite};
use salvo::prelude::*;

use crate::crypto::random_token;
use crate::state::AppState;

pub const COOKIE: &str = "sigil_csrf";

fn cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.issuer_is_https)
        .path("/")
        .build()
}

/// The token for a form about to be rendered: the browser's current one, or a new one.
pub fn token_for_form(state: &AppState, req: &Request, res: &mut Response) -> String {
    if let Some(existing) = req.cookie(COOKIE).map(|c| c.value().to_owned())
        && existing.len() == 43
    {
        return existing;
    }
    renew(state, res)
}

/// A new token, replacing the old one in the browser.
pub fn renew(state: &AppState, res: &mut Response) -> String {
    let token = random_token();
    res.add_cookie(cookie(state, token.clone()));
    token
}

/// Whether the submitted token matches the browser's cookie.
pub fn verify(req: &Request, submitted: &str) -> bool {
    let Some(expected) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return false;
    };
    expected.len() == submitted.len()
        && expected
            .bytes()
            .zip(submitted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
