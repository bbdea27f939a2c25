//! Hostile and broken input: every case answers 4xx in the SPEC envelope, never a 500.

use reqwest::Method;
use serde_json::json;
use sigil_tests::{Reply, TestApp, TestUser, read};

struct Endpoint {
    method: Method,
    path: &'static str,
    authenticated: bool,
}

const ENDPOINTS: [(&str, &str, bool); 6] = [
    ("POST", "/v1/auth/register", false),
    ("POST", "/v1/auth/login", false),
    ("POST", "/v1/auth/refresh", false),
    ("POST", "/v1/auth/logout", true),
    ("PUT", "/v1/auth/change-password", true),
    ("PUT", "/v1/users/me", true),
];

fn endpoints() -> impl Iterator<Item = Endpoint> {
    ENDPOINTS
        .into_iter()
        .map(|(method, path, authenticated)| Endpoint {
            method: method.parse().unwrap(),
            path,
            authenticated,
        })
}

async fn send_raw(
    app: &TestApp,
    endpoint: &Endpoint,
    bearer: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .client
        .request(endpoint.method.clone(), app.url(endpoint.path))
        .header("content-type", content_type)
        .body(body);
    if endpoint.authenticated {
        req = req.bearer_auth(bearer);
    }
    read(req.send().await.unwrap()).await
}

/// Malformed JSON, wrong content type, 1 MB bodies, wrong types, extra fields, non-objects:
/// 400 VALIDATION_ERROR on every endpoint that takes a body.
#[tokio::test]
async fn broken_bodies_are_validation_errors() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(1024 * 1024));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("malformed", "application/json", br#"{"email": "#.to_vec()),
        ("not json at all", "application/json", b"email=a@b.c".to_vec()),
        ("wrong content type", "text/plain", br#"{"email": "a@example.com"}"#.to_vec()),
        ("form content type", "application/x-www-form-urlencoded", b"email=a".to_vec()),
        ("1 MB body", "application/json", huge.into_bytes()),
        ("wrong types", "application/json", br#"{"email": 5, "username": [], "password": {}, "refreshToken": 7, "firstName": 1, "currentPassword": true}"#.to_vec()),
        ("extra field", "application/json", br#"{"isAdmin": true}"#.to_vec()),
        ("array", "application/json", b"[]".to_vec()),
        ("null", "application/json", b"null".to_vec()),
        ("invalid utf-8", "application/json", b"{\"email\": \"\xff\xfe\"}".to_vec()),
    ];
    for endpoint in endpoints() {
        for (name, content_type, body) in &cases {
            let reply = send_raw(&app, &endpoint, &tokens.access, content_type, body.clone()).await;
            assert_eq!(
                reply.status.as_u16(),
                400,
                "{} {} with {name}: {}",
                endpoint.method,
                endpoint.path,
                reply.body
            );
            reply.assert_error(400, "VALIDATION_ERROR");
        }
    }
}

/// Missing required fields are named in `details`.
#[tokio::test]
async fn missing_fields_are_named() {
    let app = TestApp::spawn().await;
    let reply = app.post("/v1/auth/register", json!({})).await;
    reply.assert_error(400, "VALIDATION_ERROR");
    let fields: Vec<&str> = reply.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "username", "password"]);
    app.post("/v1/auth/login", json!({"password": "x"}))
        .await
        .assert_error(400, "MISSING_CREDENTIALS");
    app.post("/v1/auth/login", json!({"username": "someone"}))
        .await
        .assert_error(400, "MISSING_CREDENTIALS");
    app.post("/v1/auth/refresh", json!({}))
        .await
        .assert_error(400, "MISSING_REFRESH_TOKEN");
}

/// Usernames outside `[A-Za-z0-9_-]` (lookalikes, invisible characters) and non-ASCII emails
/// are refused; case variants collide with the original.
#[tokio::test]
async fn unicode_edge_cases() {
    let app = TestApp::spawn().await;
    for username in [
        "јohn_doe",
        "ｊｏｈｎ",
        "john\u{200b}doe",
        "jöhn",
        "john doe",
        "😀😀😀",
        "ab",
        "",
    ] {
        let mut user = TestUser::random();
        user.username = username.into();
        let reply = app.register(&user).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.body["error"]["details"][0]["field"],
            json!("username"),
            "{username:?}"
        );
    }
    for email in [
        "jöhn@example.com",
        "john@exämple.com",
        "john@example",
        "John <j@example.com>",
        "j@example.com\u{0}",
    ] {
        let mut user = TestUser::random();
        user.email = email.into();
        let reply = app.register(&user).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.body["error"]["details"][0]["field"],
            json!("email"),
            "{email:?}"
        );
    }
}

/// 10 KB passwords: refused at registration, an ordinary failure at login.
#[tokio::test]
async fn ten_kilobyte_passwords() {
    let app = TestApp::spawn().await;
    let mut user = TestUser::random();
    user.password = format!("Aa1!{}", "x".repeat(10 * 1024));
    let reply = app.register(&user).await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        reply.body["error"]["details"][0]["field"],
        json!("password")
    );

    let (known, _) = app.signed_in_user().await;
    app.post(
        "/v1/auth/login",
        json!({"username": known.username, "password": user.password}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
}

/// Garbage, truncated and mis-formatted Authorization headers.
#[tokio::test]
async fn garbage_bearer_tokens() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let truncated = &tokens.access[..tokens.access.len() - 10];
    let cases: Vec<(String, &str)> = vec![
        ("Bearer garbage".into(), "INVALID_TOKEN"),
        (format!("Bearer {truncated}"), "INVALID_TOKEN"),
        ("Bearer a.b.c".into(), "INVALID_TOKEN"),
        (format!("Bearer {}", "x".repeat(6000)), "INVALID_TOKEN"),
        ("Bearer".into(), "INVALID_AUTH_FORMAT"),
        (format!("Basic {}", tokens.access), "INVALID_AUTH_FORMAT"),
        (tokens.access.clone(), "INVALID_AUTH_FORMAT"),
    ];
    for (header, code) in cases {
        let reply = read(
            app.client
                .get(app.url("/v1/users/me"))
                .header("authorization", header.as_str())
                .send()
                .await
                .unwrap(),
        )
        .await;
        reply.assert_error(401, code);
    }
    let no_header = app.get("/v1/users/me", None).await;
    no_header.assert_error(401, "MISSING_AUTH_HEADER");
    let non_ascii = reqwest::header::HeaderValue::from_bytes(b"Bearer \xe2\x9c\x93").unwrap();
    let reply = read(
        app.client
            .get(app.url("/v1/users/me"))
            .header("authorization", non_ascii)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(401, "INVALID_AUTH_FORMAT");
}

/// Unknown routes and wrong methods answer in the envelope too.
#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here", None)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/v1/auth/login", None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}
