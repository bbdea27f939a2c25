use reqwest::StatusCode;
use sigil_tests::{TestApp, TestUser};

/// 50 concurrent registrations of one username: one 201, 49 409s, one stored user.
#[tokio::test]
async fn fifty_registrations_of_one_username() {
    let app = TestApp::spawn().await;
    let username = TestUser::random().username;
    let app = &app;
    let attempts = (0..50).map(|_| {
        let mut user = TestUser::random();
        user.username = username.clone();
        async move { app.register(&user).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        reply.assert_error(409, "USERNAME_EXISTS");
    }
    // The bootstrap admin and the one winner.
    assert_eq!(app.state.stores.users.count_users().await.unwrap(), 2);
}

/// Concurrent logins of one user each get their own working session.
#[tokio::test]
async fn concurrent_logins() {
    let app = TestApp::spawn().await;
    let (user, _) = app.signed_in_user().await;
    let replies = futures::future::join_all((0..4).map(|_| app.login(&user))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let access = reply.data()["accessToken"].as_str().unwrap();
        assert_eq!(app.me(access).await.status, StatusCode::OK);
    }
}
