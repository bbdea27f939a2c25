//! The authorization flow's rules, one negative case per test, plus client credentials,
//! introspection, revocation and the client admin API.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_server::domain::oauth::s256_challenge;
use sigil_tests::browser::{Browser, Page};
use sigil_tests::{TestApp, TestUser, read};

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
    let first = browser.get(&authorize_url(client_id, &[])).await;
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

#[tokio::test]
async fn missing_pkce_verifier_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    let (status, body) = exchange(&s, &code, &"x".repeat(43)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn plain_pkce_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .get(&authorize_url(
            &s.client_id,
            &[
                ("code_challenge", VERIFIER),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(page.location_param("state").as_deref(), Some("st"));
    // A public client must use PKCE at all.
    let page = b
        .get(&authorize_url(
            &s.public_id,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
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

/// client_credentials: a token for the client itself, introspectable, revocable.
#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let s = setup().await;
    let (status, body) = token(
        &s.app,
        &[("grant_type", "client_credentials"), ("scope", "email")],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();

    let introspect = |t: String| {
        let app = &s.app;
        let (id, secret) = (s.client_id.clone(), s.secret.clone());
        async move {
            let r = app
                .client
                .post(app.url("/oauth2/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let info = introspect(access.clone()).await;
    assert_eq!(info["active"], json!(true));
    assert_eq!(info["client_id"], json!(s.client_id));
    assert_eq!(info["sub"], json!(s.client_id));
    assert_eq!(introspect("garbage".into()).await, json!({"active": false}));

    // Wrong secret: 401 with WWW-Authenticate, RFC 6749 body.
    let bad = s
        .app
        .client
        .post(s.app.url("/oauth2/token"))
        .basic_auth(&s.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers().get("www-authenticate").is_some());
    assert_eq!(bad.headers()["cache-control"], "no-store");
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        json!("invalid_client")
    );
    // A public client cannot use it.
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &s.public_id),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    let revoked = s
        .app
        .client
        .post(s.app.url("/oauth2/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(access).await, json!({"active": false}));
}

/// Refresh tokens: introspected while alive, dead after revocation.
#[tokio::test]
async fn refresh_token_revocation() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let first = b
        .get(&authorize_url(
            &s.client_id,
            &[("scope", "openid offline_access")],
        ))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let code = done.location_param("code").unwrap();
    let (_, tokens) = exchange(&s, &code, VERIFIER).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let post = |path: &str, form: Vec<(&str, String)>| {
        s.app
            .client
            .post(s.app.url(path))
            .basic_auth(&s.client_id, Some(&s.secret))
            .form(&form)
            .send()
    };
    let info: Value = post("/oauth2/introspect", vec![("token", refresh.clone())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["active"], json!(true));
    assert_eq!(info["token_type"], json!("refresh_token"));
    post("/oauth2/revoke", vec![("token", refresh.clone())])
        .await
        .unwrap();
    let (status, body) = token(
        &s.app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// ID token claims by scope, nonce and amr.
#[tokio::test]
async fn id_token_claims() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let first = b
        .get(&authorize_url(
            &s.client_id,
            &[("scope", "openid profile"), ("nonce", "n-123")],
        ))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let (_, tokens) = exchange(&s, &done.location_param("code").unwrap(), VERIFIER).await;
    let payload = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["nonce"], json!("n-123"));
    assert_eq!(claims["aud"], json!(s.client_id));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["preferred_username"], json!(s.user.username));
    assert!(claims.get("email").is_none(), "email scope was not asked");
    assert!(
        claims["sid"].is_string()
            && claims["at_hash"].is_string()
            && claims["auth_time"].is_number()
    );
}

/// The client admin API needs admin.clients.manage, shows a secret once, rotates it.
#[tokio::test]
async fn client_admin_api() {
    let app = TestApp::spawn().await;
    let (_, user) = app.signed_in_user().await;
    app.request(Method::GET, "/v1/admin/clients", Some(&user.access), None)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let admin = app.admin_token().await;
    let bad = app
        .request(Method::POST, "/v1/admin/clients", Some(&admin), Some(json!({"name": "x", "type": "confidential", "redirectUris": ["http://evil.example.com/cb"]})))
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    let created = app
        .request(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"name": "App", "type": "confidential", "redirectUris": [REDIRECT]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.data()["clientId"].as_str().unwrap().to_owned();
    let secret = created.data()["clientSecret"].as_str().unwrap().to_owned();
    let listed = app
        .request(Method::GET, "/v1/admin/clients", Some(&admin), None)
        .await;
    assert!(
        listed
            .data()
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("clientSecret").is_none())
    );
    let rotated = app
        .request(
            Method::POST,
            &format!("/v1/admin/clients/{id}/rotate-secret"),
            Some(&admin),
            None,
        )
        .await;
    let new_secret = rotated.data()["clientSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let (old, _) = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(old, StatusCode::UNAUTHORIZED);
    let updated = app
        .request(
            Method::PUT,
            &format!("/v1/admin/clients/{id}"),
            Some(&admin),
            Some(json!({"name": "Renamed", "type": "confidential", "redirectUris": [REDIRECT]})),
        )
        .await;
    assert_eq!(updated.data()["name"], json!("Renamed"));
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/admin/clients/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    app.request(
        Method::GET,
        &format!("/v1/admin/clients/{id}"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let _ = read;
}
