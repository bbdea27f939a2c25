//! Signed authorization requests (RFC 9101): the request object's parameters are the only
//! ones used, at `/oauth2/authorize` and through PAR; a client can require them; every broken
//! object is refused on a page, never redirected.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_server::domain::oauth::s256_challenge;
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;

use super::assertions::{ASSERTION_TYPE, ClientKey, claims, es256_key, now, sign};
use super::{REDIRECT, VERIFIER, assert_page_not_redirect};

struct Signed {
    app: TestApp,
    user: sigil_tests::TestUser,
    key: ClientKey,
    client_id: String,
}

/// A private_key_jwt client that must sign its requests.
async fn signed_client() -> Signed {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (user, _) = app.signed_in_user().await;
    let key = es256_key("request-1");
    let (client_id, _) = app
        .create_client(json!({
            "name": "Signs requests", "type": "confidential",
            "redirectUris": [REDIRECT], "scopes": ["openid", "email", "profile"],
            "firstParty": true,
            "tokenEndpointAuthMethod": "private_key_jwt",
            "jwks": {"keys": [key.public]},
            "requireSignedRequestObject": true,
        }))
        .await;
    Signed {
        app,
        user,
        key,
        client_id,
    }
}

fn request_claims(s: &Signed) -> Value {
    json!({
        "iss": s.client_id, "aud": s.app.base, "client_id": s.client_id,
        "exp": now() + 300, "nbf": now(),
        "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid email",
        "state": "signed-state", "nonce": "signed-nonce", "max_age": 3600,
        "code_challenge": s256_challenge(VERIFIER), "code_challenge_method": "S256",
    })
}

fn authorize_with(client_id: &str, object: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request", object)
        .extend_pairs(extra);
    format!("/oauth2/authorize?{}", url.query().unwrap())
}

async fn exchange(s: &Signed, code: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    as_client(s, "/oauth2/token", &form).await
}

/// A POST of `form` to `path`, the client authenticated by a fresh assertion.
async fn as_client(s: &Signed, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    as_client_with(s, path, form, None).await
}

/// The same, with a DPoP proof.
async fn as_client_with(
    s: &Signed,
    path: &str,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (StatusCode, Value) {
    let assertion = sign(&s.key, &claims(&s.app, &s.client_id));
    let mut form = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &assertion),
    ]);
    let mut request = s.app.client.post(s.app.url(path)).form(&form);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Only the object's parameters count: the query's scope and state are ignored.
#[tokio::test]
async fn a_signed_request_runs_the_code_flow_with_its_own_parameters() {
    let s = signed_client().await;
    let discovery = s.app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(discovery.body["request_parameter_supported"], true);

    let b = Browser::new(&s.app.base);
    let object = sign(&s.key, &request_claims(&s));
    let query = [
        ("scope", "openid profile email"),
        ("state", "from-the-query"),
    ];
    let first = b.get(&authorize_with(&s.client_id, &object, &query)).await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    assert_eq!(
        done.location_param("state").as_deref(),
        Some("signed-state"),
        "{done:?}"
    );
    let (status, tokens) = exchange(&s, &done.location_param("code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid email");
    let id_token = sigil_tests::oauth::claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "signed-nonce");

    // The client requires signed requests: a plain one hears invalid_request.
    let plain = b.get(&super::authorize_url(&s.client_id, &[])).await;
    assert_eq!(
        plain.location_param("error").as_deref(),
        Some("invalid_request")
    );
}

/// Pushes `object` to PAR, the client authenticated by an assertion.
async fn push(s: &Signed, object: &str) -> (StatusCode, Value) {
    let form = [("client_id", s.client_id.as_str()), ("request", object)];
    as_client(s, "/oauth2/par", &form).await
}

/// Pushed as a request object: PAR checks the signature, the browser carries the reference.
#[tokio::test]
async fn a_signed_request_can_be_pushed() {
    let s = signed_client().await;
    let (status, pushed) = push(&s, &sign(&s.key, &request_claims(&s))).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let b = Browser::new(&s.app.base);
    let mut url = url::Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &s.client_id)
        .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
    let first = b
        .get(&format!("/oauth2/authorize?{}", url.query().unwrap()))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    assert_eq!(
        done.location_param("state").as_deref(),
        Some("signed-state"),
        "{done:?}"
    );

    // A broken object is refused to the pushing client as invalid_request_object.
    let mut expired = request_claims(&s);
    expired["exp"] = json!(now() - 600);
    let (status, body) = push(&s, &sign(&s.key, &expired)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request_object");
}

/// Unsigned, signed by another key, expired, addressed elsewhere, for another client, or
/// nesting another request: a page, never a redirect.
#[tokio::test]
async fn broken_request_objects_are_refused_on_a_page() {
    let s = signed_client().await;
    let b = Browser::new(&s.app.base);
    let mut cases: Vec<(&str, String)> = Vec::new();
    let base64 = |v: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    cases.push((
        "unsigned",
        format!(
            "{}.{}.",
            base64(br#"{"alg":"none"}"#),
            base64(request_claims(&s).to_string().as_bytes())
        ),
    ));
    cases.push((
        "another key",
        sign(&es256_key("request-1"), &request_claims(&s)),
    ));
    for (name, change) in [
        ("expired", json!({"exp": now() - 600})),
        ("too long", json!({"exp": now() + 7200})),
        ("elsewhere", json!({"aud": "https://elsewhere.example.com"})),
        ("other client", json!({"client_id": "someone-else"})),
        (
            "nested",
            json!({"request_uri": "urn:ietf:params:oauth:request_uri:x"}),
        ),
        ("not text", json!({"scope": ["openid"]})),
    ] {
        let mut claims = request_claims(&s);
        for (k, v) in change.as_object().unwrap() {
            claims[k] = v.clone();
        }
        cases.push((name, sign(&s.key, &claims)));
    }
    for (name, object) in cases {
        let page = b.get(&authorize_with(&s.client_id, &object, &[])).await;
        assert_page_not_redirect(&page);
        assert!(
            page.body.contains("request object"),
            "{name}: {}",
            page.body
        );
    }
}

/// A signed request pushed with a DPoP proof binds the code to the proof's key, although the
/// object's parameters replace the form's; an object naming another `dpop_jkt` is refused.
#[tokio::test]
async fn a_signed_request_pushed_with_a_proof_binds_the_code() {
    use sigil_tests::dpop::{DpopKey, nonce};
    let s = signed_client().await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let nonce = nonce(&s.app).await;
    let par = s.app.url("/oauth2/par");
    let object = sign(&s.key, &request_claims(&s));
    let form = [
        ("client_id", s.client_id.as_str()),
        ("request", object.as_str()),
    ];
    let proof = key.proof("POST", &par, &nonce, None);
    let (status, pushed) = as_client_with(&s, "/oauth2/par", &form, Some(&proof)).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let b = Browser::new(&s.app.base);
    let mut url = url::Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &s.client_id)
        .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
    let first = b
        .get(&format!("/oauth2/authorize?{}", url.query().unwrap()))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let code = done.location_param("code").unwrap();
    let token = s.app.url("/oauth2/token");
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let wrong = other.proof("POST", &token, &nonce, None);
    let (status, body) = as_client_with(&s, "/oauth2/token", &exchange, Some(&wrong)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let mut naming_other = request_claims(&s);
    naming_other["dpop_jkt"] = json!(other.jkt());
    let object = sign(&s.key, &naming_other);
    let form = [
        ("client_id", s.client_id.as_str()),
        ("request", object.as_str()),
    ];
    let proof = key.proof("POST", &par, &nonce, None);
    let (status, body) = as_client_with(&s, "/oauth2/par", &form, Some(&proof)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
}
