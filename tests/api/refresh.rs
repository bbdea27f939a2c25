use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::{TestApp, tokens};

/// A rotated-out refresh token presented again revokes the session: the replayed token, its
/// successor and the session's access tokens all die.
#[tokio::test]
async fn reuse_revokes_the_session() {
    let app = TestApp::spawn().await;
    let (_, first) = app.signed_in_user().await;
    let second = tokens(&app.refresh(&first.refresh).await);

    app.refresh(&first.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&second.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.me(&second.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
}

/// Reuse in one session leaves the user's other sessions alone.
#[tokio::test]
async fn reuse_is_contained_to_its_session() {
    let app = TestApp::spawn().await;
    let (user, first) = app.signed_in_user().await;
    let other = app.login_ok(&user).await;
    app.refresh(&first.refresh).await;
    app.refresh(&first.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    assert_eq!(app.refresh(&other.refresh).await.status, StatusCode::OK);
}

/// Ten concurrent refreshes with one token: exactly one wins.
#[tokio::test]
async fn concurrent_refresh_has_one_winner() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let attempts = (0..10).map(|_| app.refresh(&tokens.refresh));
    let replies = futures::future::join_all(attempts).await;
    let wins = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        wins,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for loser in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(loser.status, StatusCode::UNAUTHORIZED);
    }
}

/// Made-up refresh tokens are invalid, not revoked; none at all is the seed's own 400.
#[tokio::test]
async fn unknown_refresh_token() {
    let app = TestApp::spawn().await;
    app.refresh("made-up")
        .await
        .assert_error(401, "INVALID_REFRESH_TOKEN");
    app.post("/v1/auth/refresh", json!({}))
        .await
        .assert_error(400, "MISSING_REFRESH_TOKEN");
}

/// A refresh token outlives neither its session's expiry nor the access token its own.
#[tokio::test]
async fn expiry_of_access_and_refresh_tokens() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    app.advance_clock(std::time::Duration::from_secs(15 * 60 + 61));
    app.me(&tokens.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    let renewed = app.refresh(&tokens.refresh).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    app.advance_clock(std::time::Duration::from_secs(7 * 86_400 + 1));
    let dead = app.refresh(&sigil_tests::tokens(&renewed).refresh).await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED, "{}", dead.body);
}
