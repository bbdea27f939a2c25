//! The authorization flow's rules, one negative case per test, plus client credentials,
//! introspection, revocation and the client admin API.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_server::domain::oauth::s256_challenge;
use sigil_tests::browser::{Browser, Page};
use sigil_tests::{TestApp, TestUser, read};

mod acr;
mod assertions;
mod clients;
mod csrf;
mod dpop;
mod par;
mod pkce;
mod request_objects;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Setup {
    app: TestApp,
    user: TestUser,
    client_id: String,
    secret: String,
    public_id: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (user, _) = app.signed_in_user().await;
    let (client_id, secret) = app
        .create_client(json!({
            "name": "Confidential", "type": "confidential",
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": ["http://127.0.0.1:9/bye"],
            "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "profile", "email", "offline_access"],
            "firstParty": true,
        }))
        .await;
    let (public_id, _) = app
        .create_client(json!({
            "name": "Public SPA", "type": "public",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
        }))
        .await;
    Setup {
        app,
        user,
        client_id,
        secret: secret.unwrap(),
        public_id,
    }
}

fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair("state", "st")
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        if !v.is_empty() {
            pairs.push(((*k).into(), (*v).into()));
        }
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oauth2/authorize?{query}")
}

/// Signs in through the hosted page and returns the code the redirect carries.
async fn code_for(s: &Setup, browser: &Browser, client_id: &str) -> String {
    code_with(s, browser, client_id, &[]).await
}

/// The same with `extra` authorization parameters (see [`authorize_url`]).
async fn code_with(
    s: &Setup,
    browser: &Browser,
    client_id: &str,
    extra: &[(&str, &str)],
) -> String {
    let first = browser.get(&authorize_url(client_id, extra)).await;
    let page = if first
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/login"))
    {
        browser
            .sign_in(first, &s.user.username, &s.user.password)
            .await
    } else {
        first
    };
    let done = browser.follow(page).await;
    done.location_param("code")
        .unwrap_or_else(|| panic!("no code: {done:?}"))
}

async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn exchange(s: &Setup, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
        Some((&s.client_id, &s.secret)),
    )
    .await
}

fn assert_page_not_redirect(page: &Page) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{page:?}");
    assert!(page.location.is_none(), "must not redirect: {page:?}");
}

#[tokio::test]
async fn unregistered_redirect_uri_is_an_error_page() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    assert_page_not_redirect(
        &b.get(&authorize_url(
            &s.client_id,
            &[("redirect_uri", "http://127.0.0.1:9/other")],
        ))
        .await,
    );
    assert_page_not_redirect(&b.get(&authorize_url("no-such-client", &[])).await);
}

#[tokio::test]
async fn prefix_matched_redirect_uri_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let longer = format!("{REDIRECT}/../evil");
    assert_page_not_redirect(
        &b.get(&authorize_url(&s.client_id, &[("redirect_uri", &longer)]))
            .await,
    );
    let extended = format!("{REDIRECT}x");
    assert_page_not_redirect(
        &b.get(&authorize_url(&s.client_id, &[("redirect_uri", &extended)]))
            .await,
    );
}

#[tokio::test]
async fn redirect_uri_with_extra_query_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let with_query = format!("{REDIRECT}?next=http://evil.example.com");
    assert_page_not_redirect(
        &b.get(&authorize_url(
            &s.client_id,
            &[("redirect_uri", &with_query)],
        ))
        .await,
    );
}

/// A code works once; its second use also revokes what the first one issued.
#[tokio::test]
async fn code_reuse_revokes_the_first_grant() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    let (status, first) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(
        s.app.get("/oauth2/userinfo", Some(access)).await.status,
        StatusCode::OK
    );
    let (status, second) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        s.app.get("/oauth2/userinfo", Some(access)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn expired_code_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    s.app.advance_clock(Duration::from_secs(61));
    let (status, body) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn code_for_another_client_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.public_id).await;
    let (status, body) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn scope_not_allowed_for_the_client() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .get(&authorize_url(&s.public_id, &[("scope", "openid phone")]))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_scope")
    );
    let page = b
        .get(&authorize_url(&s.public_id, &[("scope", "openid admin")]))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn prompt_none_without_a_session() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .get(&authorize_url(&s.client_id, &[("prompt", "none")]))
        .await;
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("login_required")
    );
}

/// With a session, prompt=login and max_age=0 still ask for the password; SSO otherwise.
#[tokio::test]
async fn sso_prompt_login_and_max_age() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    code_for(&s, &b, &s.client_id).await;
    // SSO: the other client gets a code without a password.
    let sso = b.get(&authorize_url(&s.public_id, &[])).await;
    assert!(sso.location_param("code").is_some(), "{sso:?}");
    let none = b
        .get(&authorize_url(&s.public_id, &[("prompt", "none")]))
        .await;
    assert!(none.location_param("code").is_some());
    // A sign-in earlier within the same second does not satisfy prompt=login.
    s.app.advance_clock(Duration::from_millis(300));
    let page = b
        .get(&authorize_url(&s.public_id, &[("prompt", "login")]))
        .await;
    assert!(
        page.location.as_deref().unwrap().starts_with("/login"),
        "{page:?}"
    );
    for extra in [("prompt", "login"), ("max_age", "0")] {
        s.app.advance_clock(Duration::from_secs(2));
        let page = b.get(&authorize_url(&s.public_id, &[extra])).await;
        assert!(
            page.location.as_deref().unwrap().starts_with("/login"),
            "{extra:?}: {page:?}"
        );
        let signed_in = b.sign_in(page, &s.user.username, &s.user.password).await;
        let done = b.follow(signed_in).await;
        assert!(done.location_param("code").is_some(), "{extra:?}: {done:?}");
    }
}

#[tokio::test]
async fn forged_csrf_token_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .follow(b.get(&authorize_url(&s.client_id, &[])).await)
        .await;
    let request = page.field("request").unwrap();
    let forged = b
        .post(
            "/login",
            &[
                ("csrf", "forged-token-forged-token-forged-token-xxx"),
                ("request", &request),
                ("login", &s.user.username),
                ("password", &s.user.password),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A fresh browser (no cookie) presenting a token it read elsewhere fails too.
    let other = Browser::new(&s.app.base);
    let stolen = page.field("csrf").unwrap();
    let replay = other
        .post(
            "/login",
            &[
                ("csrf", &stolen),
                ("request", &request),
                ("login", &s.user.username),
                ("password", &s.user.password),
            ],
        )
        .await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn replayed_csrf_token_is_refused_after_sign_in() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .follow(b.get(&authorize_url(&s.client_id, &[])).await)
        .await;
    let old = page.field("csrf").unwrap();
    let request = page.field("request").unwrap();
    b.sign_in(page, &s.user.username, &s.user.password).await;
    let replay = b
        .post(
            "/login",
            &[
                ("csrf", &old),
                ("request", &request),
                ("login", &s.user.username),
                ("password", &s.user.password),
            ],
        )
        .await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn logout_refuses_open_redirects() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    for target in [
        "http://evil.example.com/",
        "http://127.0.0.1:9/bye/../evil",
        "http://127.0.0.1:9/byex",
    ] {
        let url = format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}",
            s.client_id,
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        );
        assert_page_not_redirect(&b.get(&url).await);
    }
    // Without a client, no redirect target can be trusted.
    assert_page_not_redirect(
        &b.get("/oauth2/logout?post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye")
            .await,
    );
    // A forged id_token_hint is refused.
    assert_page_not_redirect(
        &b.get("/oauth2/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.")
            .await,
    );
}

/// Free-form parameters are capped at 512 bytes: beyond, `invalid_request` at the client (an
/// oversized `state` is not echoed: the redirect would be as large), and nothing is stored.
#[tokio::test]
async fn oversized_authorization_parameters_are_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let huge = "x".repeat(513);
    let page = b
        .get(&authorize_url(&s.client_id, &[("state", &huge)]))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request"),
        "{page:?}"
    );
    assert_eq!(page.location_param("state"), None);
    for name in ["nonce", "login_hint"] {
        let refused = b.get(&authorize_url(&s.client_id, &[(name, &huge)])).await;
        assert_eq!(
            refused.location_param("error").as_deref(),
            Some("invalid_request"),
            "{name}: {refused:?}"
        );
        assert_eq!(refused.location_param("state").as_deref(), Some("st"));
    }
    // 512 bytes is still fine.
    let fits = b
        .get(&authorize_url(&s.client_id, &[("nonce", &huge[..512])]))
        .await;
    assert!(fits.location_param("error").is_none(), "{fits:?}");
}

/// Anonymous authorization requests are counted per ip, like every hosted page.
#[tokio::test]
async fn authorization_requests_are_rate_limited_per_ip() {
    let app = TestApp::spawn_oidc(|c| {
        c.rate_limits.browser = Some(sigil_server::config::RateLimit {
            count: 3,
            window: Duration::from_secs(900),
        });
    })
    .await;
    let (client_id, _) = app
        .create_client(json!({
            "name": "Public SPA", "type": "public",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
        }))
        .await;
    let b = Browser::new(&app.base);
    for _ in 0..3 {
        let page = b.get(&authorize_url(&client_id, &[])).await;
        assert!(page.status.is_redirection(), "{page:?}");
    }
    let limited = b.get(&authorize_url(&client_id, &[])).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    let page = b.get("/login").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
}
