//! CSRF protection for the hosted forms: each form carries a token that only this server can
//! make for this browser. The browser holds a random nonce in a cookie (`sigil_csrf`,
//! SameSite=Strict, `__Host-` on https); the form token is an HMAC, under a key derived from
//! `SIGIL_ENCRYPTION_KEY`, of that nonce and the browser's SSO session cookie. So a pair seen
//! elsewhere, a cookie planted by a sibling subdomain, or two equal made-up values are all
//! refused, and a token stops working when the browser's session changes. The nonce is
//! renewed after every sign-in and sign-out as well.

use salvo::prelude::*;

use super::cookies;
use crate::crypto::{random_token, token_digest};
use crate::state::AppState;

const PURPOSE: &str = "csrf";
/// Base64url of 256 bits, the shape of both the nonce and the token.
const TOKEN_LEN: usize = 43;

/// The token for a form about to be rendered, renewing the browser's nonce when it has none.
pub fn token_for_form(state: &AppState, req: &Request, res: &mut Response) -> String {
    let nonce = match cookies::csrf(state, req).filter(|n| well_formed(n)) {
        Some(nonce) => nonce,
        None => new_nonce(state, res),
    };
    state.cipher.tag(PURPOSE, &bound_data(state, req, &nonce))
}

/// A new nonce, replacing the old one in the browser: tokens made before stop working.
pub fn renew(state: &AppState, res: &mut Response) {
    new_nonce(state, res);
}

fn new_nonce(state: &AppState, res: &mut Response) -> String {
    let nonce = random_token();
    cookies::set_csrf(state, res, nonce.clone());
    nonce
}

/// Whether the submitted token is this server's token for this browser's nonce and session.
pub fn verify(state: &AppState, req: &Request, submitted: &str) -> bool {
    let Some(nonce) = cookies::csrf(state, req).filter(|n| well_formed(n)) else {
        return false;
    };
    well_formed(submitted)
        && state
            .cipher
            .verify_tag(PURPOSE, &bound_data(state, req, &nonce), submitted)
}

/// The nonce and a digest of the SSO session cookie (empty before sign-in).
fn bound_data(state: &AppState, req: &Request, nonce: &str) -> Vec<u8> {
    let session = cookies::browser(state, req)
        .map(|cookie| token_digest(&cookie))
        .unwrap_or_default();
    format!("{nonce}.{session}").into_bytes()
}

fn well_formed(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
