//! Every security-relevant action of SPEC section 7 leaves an audit event with who, what,
//! whom, ip, user agent, request id and time.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;
use sigil_server::store::AuditFilter;
use sigil_tests::{TestApp, read};

#[tokio::test]
async fn actions_are_audited() {
    let app = TestApp::spawn().await;
    let (mut user, first) = app.signed_in_user().await;

    let second = app.login_ok(&user).await;
    let rotated = app.refresh(&second.refresh).await;
    app.refresh(&second.refresh).await; // reuse
    let _ = rotated;
    let wrong = json!({"username": user.username, "password": "Wrong-Password-123!"});
    for _ in 0..5 {
        app.post("/v1/auth/login", wrong.clone()).await;
    }
    app.state
        .stores
        .users
        .unlock(
            app.me(&first.access).await.data()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            app.state.clock.now(),
        )
        .await
        .unwrap();
    let third = app.login_ok(&user).await;
    let sid = app
        .get("/v1/users/me/sessions", Some(&third.access))
        .await
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["isCurrent"] == json!(false))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        Method::DELETE,
        &format!("/v1/users/me/sessions/{sid}"),
        Some(&third.access),
        None,
    )
    .await;
    let new_password = "Another-Long-Secret-77?";
    app.request(
        Method::PUT,
        "/v1/auth/change-password",
        Some(&third.access),
        Some(json!({"currentPassword": user.password, "newPassword": new_password})),
    )
    .await;
    user.password = new_password.into();
    let request = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&third.access)
        .header("user-agent", "audit-test/1.0")
        .send()
        .await
        .unwrap();
    let logout = read(request).await;
    let logout_request_id = logout.header("x-request-id").unwrap().to_owned();
    app.post("/v1/auth/forgot-password", json!({"email": user.email}))
        .await;
    let fourth = app.login_ok(&user).await;
    app.request(
        Method::DELETE,
        "/v1/users/me",
        Some(&fourth.access),
        Some(json!({"password": user.password})),
    )
    .await;

    let user_id = app
        .state
        .stores
        .users
        .find_user(&sigil_server::domain::Login::email(&user.email))
        .await
        .unwrap()
        .unwrap()
        .id;
    let expected = [
        "user.registered",
        "login.succeeded",
        "login.failed",
        "account.locked",
        "refresh.reuse_detected",
        "session.revoked",
        "password.changed",
        "logout",
        "password.reset_requested",
        "account.deleted",
    ];
    // forgot-password works in the background: wait (bounded) for its event.
    let mut events = Vec::new();
    for _ in 0..200 {
        events = app
            .state
            .stores
            .audit
            .list_audit(
                &AuditFilter {
                    user_id: Some(user_id),
                    ..Default::default()
                },
                500,
            )
            .await
            .unwrap();
        if events
            .iter()
            .any(|e| e.action == "password.reset_requested")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let actions: HashSet<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for action in expected {
        assert!(
            actions.contains(action),
            "{action} missing from {actions:?}"
        );
    }
    let logout_event = events.iter().find(|e| e.action == "logout").unwrap();
    assert_eq!(logout_event.actor_id, Some(user_id));
    assert_eq!(logout_event.target_id, Some(user_id));
    assert_eq!(logout_event.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(logout_event.user_agent.as_deref(), Some("audit-test/1.0"));
    assert_eq!(
        logout_event.request_id.as_deref(),
        Some(logout_request_id.as_str())
    );
    let failure = events.iter().find(|e| e.action == "login.failed").unwrap();
    assert_eq!(failure.details["reason"], json!("bad_password"));
    // Nothing secret in the trail.
    let dump =
        serde_json::to_string(&events.iter().map(|e| &e.details).collect::<Vec<_>>()).unwrap();
    assert!(!dump.contains(&user.password) && !dump.contains(&first.refresh));
}
