//! CSRF protection for the hosted forms that act on the browser's session: a random token in
//! a cookie (`sigil_csrf`, SameSite=Strict) that each form must echo (double submit). It is
//! renewed after every sign-in, so a token seen before cannot be replayed.

use salvo::prelude::*;

use super::cookies;
use crate::crypto::random_token;
use crate::state::AppState;

/// The token for a form about to be rendered: the browser's current one, or a new one.
pub fn token_for_form(state: &AppState, req: &Request, res: &mut Response) -> String {
    if let Some(existing) = cookies::csrf(req)
        && existing.len() == 43
    {
        return existing;
    }
    renew(state, res)
}

/// A new token, replacing the old one in the browser.
pub fn renew(state: &AppState, res: &mut Response) -> String {
    let token = random_token();
    cookies::set_csrf(state, res, token.clone());
    token
}

/// Whether the submitted token matches the browser's cookie.
pub fn verify(req: &Request, submitted: &str) -> bool {
    let Some(expected) = cookies::csrf(req) else {
        return false;
    };
    expected.len() == submitted.len()
        && expected
            .bytes()
            .zip(submitted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
