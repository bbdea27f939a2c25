//! OAuth helpers: the code flow through the hosted pages, and token-endpoint calls.

use reqwest::StatusCode;
use serde_json::Value;
use sigil_server::domain::oauth::s256_challenge;

use crate::TestApp;
use crate::browser::Browser;

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A confidential client's credentials.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// `/oauth2/authorize` for the client with PKCE, the scope and extra parameters (which may
/// repeat, like `resource`).
pub fn authorize_path(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/oauth2/authorize").expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", url.query().unwrap_or_default())
}

/// Signs in on the hosted pages (if asked to) and consents (the first time); returns the
/// last page: the redirect to the client.
pub async fn authorize(
    browser: &Browser,
    path: &str,
    login: &str,
    password: &str,
) -> crate::browser::Page {
    let first = browser.get(path).await;
    let page = if first
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/login"))
    {
        browser
            .follow(browser.sign_in(first, login, password).await)
            .await
    } else {
        browser.follow(first).await
    };
    if page.body.contains(r#"action="/consent""#) {
        browser.follow(browser.consent(page, "allow").await).await
    } else {
        page
    }
}

/// A POST to `/oauth2/token` as the client.
pub async fn token(app: &TestApp, client: &Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    (status, response.json().await.expect("token response"))
}

/// Exchanges the code the page's redirect carries (plus `extra`, e.g. `resource`).
pub async fn exchange(
    app: &TestApp,
    client: &Client,
    page: &crate::browser::Page,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let code = page
        .location_param("code")
        .unwrap_or_else(|| panic!("no code: {page:?}"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    token(app, client, &form).await
}

/// A POST to `/oauth2/introspect` as the client.
pub async fn introspect(app: &TestApp, client: &Client, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("introspection body")
}

/// The claims of a JWT, unverified (tests check what was issued).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}
