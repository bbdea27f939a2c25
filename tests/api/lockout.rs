use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::TestApp;

/// Five failures lock the account (423 with retryAfter), even for the right password; once
/// the window passes, the right password works again and the count starts over.
#[tokio::test]
async fn lockout_and_unlock_after_the_window() {
    let app = TestApp::spawn_with(|c| c.lockout.duration = Duration::from_secs(120)).await;
    let (user, _) = app.signed_in_user().await;
    let wrong = json!({"username": user.username, "password": "Wrong-Password-123!"});
    for _ in 0..4 {
        app.post("/v1/auth/login", wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let locked = app.post("/v1/auth/login", wrong.clone()).await;
    locked.assert_error(423, "ACCOUNT_LOCKED");
    let retry = locked.body["error"]["retryAfter"].as_u64().unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(
        locked.header("retry-after"),
        Some(retry.to_string().as_str())
    );

    app.login(&user).await.assert_error(423, "ACCOUNT_LOCKED");

    app.advance_clock(Duration::from_secs(121));
    assert_eq!(app.login(&user).await.status, StatusCode::OK);
    // The counter was reset by the success: four more failures do not lock.
    for _ in 0..4 {
        app.post("/v1/auth/login", wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(app.login(&user).await.status, StatusCode::OK);
}
