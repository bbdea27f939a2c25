use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::process::SigilProcess;
use sigil_tests::{TestApp, TestUser, read};

/// Stop the server, start it again on the same data directory: the user, the signing key and
/// the sessions are all still there.
#[tokio::test]
async fn restart_keeps_users_keys_and_sessions() {
    let app = TestApp::spawn().await;
    let (user, tokens) = app.signed_in_user().await;
    let jwks_before = app.get("/.well-known/jwks.json", None).await.body;
    let app = app.restart().await;
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.body,
        jwks_before
    );
    assert_eq!(app.me(&tokens.access).await.status, StatusCode::OK);
    assert_eq!(app.refresh(&tokens.refresh).await.status, StatusCode::OK);
    app.login_ok(&user).await;
}

/// `kill -9` right after a 201: the acknowledged registration survives.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start(dir.path()).await;
    let client = sigil_tests::client();
    let users: Vec<TestUser> = (0..3).map(|_| TestUser::random()).collect();
    for user in &users {
        let reply = read(
            client
                .post(format!("{}/v1/auth/register", sigil.base))
                .json(&user.registration())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    sigil.kill_hard().await;

    let sigil = SigilProcess::start(dir.path()).await;
    for user in &users {
        let reply = read(
            client
                .post(format!("{}/v1/auth/login", sigil.base))
                .json(&json!({"email": user.email, "password": user.password}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let status = sigil.terminate().await;
    assert!(
        status.success(),
        "SIGTERM must end sigil with status 0, got {status}"
    );
}
