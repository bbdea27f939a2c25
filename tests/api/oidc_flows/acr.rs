//! `acr` and `acr_values` (OIDC Core): `urn:sigil:mfa` in the ID token when the sign-in used a
//! second factor, and a step-up sign-in when a client asks for it and the session has none.

use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::browser::{Browser, Page};
use sigil_tests::oauth::claims;

use super::{REDIRECT, Setup, VERIFIER, exchange, setup};
use crate::mfa::code_now;

/// The ID token the code in `page`'s redirect is exchanged for.
async fn id_token_of(s: &Setup, page: &Page) -> serde_json::Value {
    let code = page
        .location_param("code")
        .unwrap_or_else(|| panic!("no code: {page:?}"));
    let (status, tokens) = exchange(s, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    claims(tokens["id_token"].as_str().unwrap())
}

fn with_acr(s: &Setup) -> String {
    super::authorize_url(&s.client_id, &[("acr_values", "urn:sigil:mfa")])
}

/// Password only: no `acr`; asking for `urn:sigil:mfa` sends the signed-in user back to the
/// login page once, and what that sign-in gives (no second factor) comes without `acr`.
#[tokio::test]
async fn a_password_session_steps_up_once_and_gets_no_acr() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = super::code_for(&s, &b, &s.client_id).await;
    let (status, tokens) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let plain = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(plain["amr"], json!(["pwd"]));
    assert!(plain.get("acr").is_none(), "{plain}");

    let asked = b.get(&with_acr(&s)).await;
    let location = asked.location.clone().unwrap_or_default();
    assert!(location.starts_with("/login"), "no step-up: {asked:?}");
    let done = b
        .follow(b.sign_in(asked, &s.user.username, &s.user.password).await)
        .await;
    let id_token = id_token_of(&s, &done).await;
    assert!(id_token.get("acr").is_none(), "{id_token}");

    // prompt=none cannot step up.
    let silent = b
        .get(&super::authorize_url(
            &s.client_id,
            &[("acr_values", "urn:sigil:mfa"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(
        silent.location_param("error").as_deref(),
        Some("login_required")
    );
}

/// A sign-in with a one-time code says `acr: urn:sigil:mfa`, and its session meets
/// `acr_values=urn:sigil:mfa` without signing in again.
#[tokio::test]
async fn a_second_factor_gives_the_mfa_acr() {
    let s = setup().await;
    let session = s.app.login_ok(&s.user).await.access;
    let setup = s
        .app
        .request(
            reqwest::Method::POST,
            "/v1/auth/mfa/setup",
            Some(&session),
            Some(json!({})),
        )
        .await;
    let secret = setup.data()["secret"].as_str().unwrap().to_owned();
    let verified = s
        .app
        .request(
            reqwest::Method::POST,
            "/v1/auth/mfa/verify",
            Some(&session),
            Some(json!({"code": code_now(&s.app, &secret)})),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    // The enrolment spent this period's code; a code works once.
    s.app.advance_clock(std::time::Duration::from_secs(30));

    let b = Browser::new(&s.app.base);
    let first = b.get(&with_acr(&s)).await;
    let mfa = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    assert!(mfa.body.contains(r#"action="/login/mfa""#), "{mfa:?}");
    let submitted = b
        .post(
            "/login/mfa",
            &[
                ("csrf", &mfa.field("csrf").unwrap()),
                ("request", &mfa.field("request").unwrap_or_default()),
                ("mfa_token", &mfa.field("mfa_token").unwrap()),
                ("code", &code_now(&s.app, &secret)),
            ],
        )
        .await;
    let done = b.follow(submitted).await;
    let id_token = id_token_of(&s, &done).await;
    assert_eq!(id_token["acr"], "urn:sigil:mfa");
    assert_eq!(id_token["amr"], json!(["pwd", "otp"]));

    // SSO: the session already has the second factor.
    let again = b.follow(b.get(&with_acr(&s)).await).await;
    assert!(
        again
            .location
            .as_deref()
            .unwrap_or_default()
            .starts_with(REDIRECT),
        "{again:?}"
    );
    let discovery = s.app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(
        discovery.body["acr_values_supported"],
        json!(["urn:sigil:mfa"])
    );
}
