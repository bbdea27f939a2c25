//! The user's own session list, revocation, the session cap, and account deletion.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_tests::{TestApp, read, tokens};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The list shows each device parsed from its User-Agent, its ip and which one is current;
/// revoking another session ends it and only it.
#[tokio::test]
async fn list_and_revoke_sessions() {
    let app = TestApp::spawn().await;
    let (user, phone) = app.signed_in_user().await;
    let laptop = tokens(
        &read(
            app.client
                .post(app.url("/v1/auth/login"))
                .header("user-agent", FIREFOX)
                .json(&json!({"username": user.username, "password": user.password}))
                .send()
                .await
                .unwrap(),
        )
        .await,
    );

    let list = app.get("/v1/users/me/sessions", Some(&laptop.access)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let sessions = list.data().as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions
        .iter()
        .filter(|s| s["isCurrent"] == json!(true))
        .collect();
    assert_eq!(current.len(), 1);
    assert!(
        current[0]["deviceInfo"]["browser"]
            .as_str()
            .unwrap()
            .starts_with("Firefox")
    );
    assert_eq!(current[0]["deviceInfo"]["os"], json!("Linux"));
    assert_eq!(current[0]["deviceInfo"]["device"], json!("pc"));
    assert_eq!(current[0]["ipAddress"], json!("127.0.0.1"));
    assert_eq!(current[0]["location"], json!(null));
    for field in ["createdAt", "lastActivity", "expiresAt", "id"] {
        assert!(current[0][field].is_string(), "{field}");
    }
    let other = sessions
        .iter()
        .find(|s| s["isCurrent"] == json!(false))
        .unwrap();
    let other_id = other["id"].as_str().unwrap();

    let revoked = app
        .request(
            Method::DELETE,
            &format!("/v1/users/me/sessions/{other_id}"),
            Some(&laptop.access),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    app.me(&phone.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    assert_eq!(app.me(&laptop.access).await.status, StatusCode::OK);
    app.request(
        Method::DELETE,
        &format!("/v1/users/me/sessions/{other_id}"),
        Some(&laptop.access),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Another user's session id is not found, not revoked.
    let (_, stranger) = app.signed_in_user().await;
    let mine = app
        .get("/v1/users/me/sessions", Some(&laptop.access))
        .await
        .data()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        Method::DELETE,
        &format!("/v1/users/me/sessions/{mine}"),
        Some(&stranger.access),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    assert_eq!(app.me(&laptop.access).await.status, StatusCode::OK);
}

/// A sixth login evicts the oldest of five sessions.
#[tokio::test]
async fn at_most_five_sessions() {
    let app = TestApp::spawn().await;
    let (user, first) = app.signed_in_user().await;
    let mut latest = first.clone();
    for _ in 0..5 {
        latest = app.login_ok(&user).await;
    }
    let list = app.get("/v1/users/me/sessions", Some(&latest.access)).await;
    assert_eq!(list.data().as_array().unwrap().len(), 5);
    app.me(&first.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&first.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
}

/// Deleting the account needs the password, ends every session, and the account cannot
/// sign in again; its email stays taken.
#[tokio::test]
async fn delete_account() {
    let app = TestApp::spawn().await;
    let (user, here) = app.signed_in_user().await;
    let elsewhere = app.login_ok(&user).await;
    app.request(
        Method::DELETE,
        "/v1/users/me",
        Some(&here.access),
        Some(json!({"password": "Wrong-Password-1!"})),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    app.request(
        Method::DELETE,
        "/v1/users/me",
        Some(&here.access),
        Some(json!({})),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    let deleted = app
        .request(
            Method::DELETE,
            "/v1/users/me",
            Some(&here.access),
            Some(json!({"password": user.password})),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    app.me(&here.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.me(&elsewhere.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.login(&user).await.assert_error(403, "ACCOUNT_DELETED");
    app.register(&user).await.assert_error(409, "EMAIL_EXISTS");
}
