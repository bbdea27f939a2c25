//! Pushed authorization requests (RFC 9126): the client pushes the parameters, the browser
//! carries only the `request_uri`, which works once, for that client, for 60 seconds.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_server::domain::oauth::s256_challenge;
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;

use super::{REDIRECT, Setup, VERIFIER, assert_page_not_redirect, exchange, setup};

/// The parameters a test pushes; `extra` replaces or (with an empty value) removes one.
fn request(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email"),
        ("state", "pushed-state"),
        ("code_challenge", &s256_challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        form.retain(|(name, _)| name != k);
        if !v.is_empty() {
            form.push(((*k).into(), (*v).into()));
        }
    }
    form
}

/// POST /oauth2/par with Basic credentials (or none: `credentials` None).
async fn push(
    app: &TestApp,
    credentials: Option<(&str, &str)>,
    form: &[(String, String)],
) -> (StatusCode, Value, Option<String>) {
    let mut req = app.client.post(app.url("/oauth2/par")).form(form);
    if let Some((id, secret)) = credentials {
        req = req.basic_auth(id, Some(secret));
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), cache)
}

async fn pushed_uri(s: &Setup, extra: &[(&str, &str)]) -> String {
    let (status, body, _) = push(&s.app, Some((&s.client_id, &s.secret)), &request(extra)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_with(client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .extend_pairs(extra);
    format!("/oauth2/authorize?{}", url.query().unwrap())
}

/// Push, then the browser with nothing but the reference: the code flow runs with the pushed
/// parameters, and front-channel parameters next to the reference change nothing.
#[tokio::test]
async fn a_pushed_request_runs_the_code_flow() {
    let s = setup().await;
    let discovery = s.app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(
        discovery.body["pushed_authorization_request_endpoint"],
        s.app.url("/oauth2/par")
    );
    assert_eq!(
        discovery.body["require_pushed_authorization_requests"],
        false
    );

    let (status, body, cache) = push(
        &s.app,
        Some((&s.client_id, &s.secret)),
        &request(&[("nonce", "n-1")]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(cache.as_deref(), Some("no-store"));
    let request_uri = body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let b = Browser::new(&s.app.base);
    let tampered = [
        ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
        ("scope", "openid profile email offline_access"),
        ("state", "front-channel"),
    ];
    let first = b
        .get(&authorize_with(&s.client_id, request_uri, &tampered))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let location = done.location.clone().unwrap_or_default();
    assert!(location.starts_with(REDIRECT), "{done:?}");
    assert_eq!(
        done.location_param("state").as_deref(),
        Some("pushed-state")
    );
    let code = done.location_param("code").unwrap();
    let (status, tokens) = exchange(&s, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid email");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let id_token = sigil_tests::oauth::claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "n-1");
}

/// A reference works once, only for the client that pushed it, and for 60 seconds.
#[tokio::test]
async fn a_request_uri_is_single_use_bound_to_its_client_and_short_lived() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let used = pushed_uri(&s, &[]).await;
    let first = b.get(&authorize_with(&s.client_id, &used, &[])).await;
    b.follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let again = b.get(&authorize_with(&s.client_id, &used, &[])).await;
    assert_page_not_redirect(&again);
    assert!(
        again.body.contains("expired or was already used"),
        "{again:?}"
    );

    let other_client = pushed_uri(&s, &[]).await;
    let page = b
        .get(&authorize_with(&s.public_id, &other_client, &[]))
        .await;
    assert_page_not_redirect(&page);
    assert!(page.body.contains("another application"), "{page:?}");

    let expired = pushed_uri(&s, &[]).await;
    s.app.advance_clock(Duration::from_secs(61));
    assert_page_not_redirect(&b.get(&authorize_with(&s.client_id, &expired, &[])).await);

    for made_up in [
        "urn:ietf:params:oauth:request_uri:made-up",
        "https://app.example.com/request.jwt",
        "",
    ] {
        assert_page_not_redirect(&b.get(&authorize_with(&s.client_id, made_up, &[])).await);
    }
}

/// Credentials, the pushed form, and the status and error expected.
type Case<'a> = (
    Option<(&'a str, &'a str)>,
    Vec<(String, String)>,
    StatusCode,
    &'a str,
);

/// Every rule of an authorization request is checked at the push, and refused to the client
/// as JSON before any user sees the request.
#[tokio::test]
async fn a_bad_push_is_refused_to_the_client() {
    let s = setup().await;
    let creds = Some((s.client_id.as_str(), s.secret.as_str()));
    let cases: Vec<Case> = vec![
        (
            creds,
            request(&[("redirect_uri", "http://127.0.0.1:9/other")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            creds,
            request(&[("response_type", "token")]),
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
        ),
        (
            creds,
            request(&[("code_challenge_method", "plain")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            creds,
            request(&[("scope", "openid admin:everything")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            creds,
            request(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            creds,
            request(&[("request", "eyJhbGciOiJub25lIn0.e30.")]),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            creds,
            request(&[("client_id", &s.public_id)]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some((s.client_id.as_str(), "wrong-secret")),
            request(&[]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            request(&[]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        // A confidential client cannot skip its secret by naming itself in the form.
        (
            None,
            request(&[("client_id", &s.client_id)]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        // A public client pushes with its id alone, and still needs PKCE.
        (
            None,
            request(&[
                ("client_id", &s.public_id),
                ("code_challenge", ""),
                ("code_challenge_method", ""),
            ]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (credentials, form, status, error) in cases {
        let (got, body, _) = push(&s.app, credentials, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
    }
    let (status, body, _) = push(&s.app, None, &request(&[("client_id", &s.public_id)])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A client registered with `requirePushedAuthorizationRequests` (or every client, with
/// SIGIL_REQUIRE_PAR) hears `invalid_request` for a front-channel request.
#[tokio::test]
async fn pushed_requests_can_be_required_per_client_and_server_wide() {
    let s = setup().await;
    let admin = s.app.admin_token().await;
    let (strict_id, strict_secret) = s
        .app
        .create_client(json!({
            "name": "FAPI client", "type": "confidential",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
            "requirePushedAuthorizationRequests": true,
        }))
        .await;
    let view = s
        .app
        .get(&format!("/v1/admin/clients/{strict_id}"), Some(&admin))
        .await;
    assert_eq!(view.data()["requirePushedAuthorizationRequests"], true);
    let b = Browser::new(&s.app.base);
    let refused = b.get(&super::authorize_url(&strict_id, &[])).await;
    assert_eq!(refused.status, StatusCode::FOUND, "{refused:?}");
    assert_eq!(
        refused.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(refused.location_param("state").as_deref(), Some("st"));
    let (status, body, _) = push(
        &s.app,
        Some((&strict_id, strict_secret.as_deref().unwrap())),
        &request(&[]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Other clients are not affected.
    let open = b.get(&super::authorize_url(&s.client_id, &[])).await;
    assert!(open.location_param("error").is_none(), "{open:?}");

    let strict = TestApp::spawn_oidc(|c| c.require_par = true).await;
    let discovery = strict.get("/.well-known/openid-configuration", None).await;
    assert_eq!(
        discovery.body["require_pushed_authorization_requests"],
        true
    );
    let (client_id, _) = strict
        .create_client(json!({
            "name": "Any", "type": "confidential", "redirectUris": [REDIRECT], "firstParty": true,
        }))
        .await;
    let page = Browser::new(&strict.base)
        .get(&super::authorize_url(&client_id, &[]))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
    );
}
