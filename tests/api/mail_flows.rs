//! Email verification, password reset and notices, through a real SMTP server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sigil_server::config::Secret;
use sigil_tests::services::SmtpSink;
use sigil_tests::{Reply, TestApp, TestUser, read};

async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |c| {
        c.mail.smtp_url = Some(Secret::new(url));
        c.require_email_verification = true;
    })
    .await
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn get_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Registration mails a link; login waits for it; the link's page POSTs; it works once.
#[tokio::test]
async fn email_verification_through_the_hosted_page() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = TestUser::random();
    let created = app.register(&user).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.data()["status"], json!("pending"));
    app.login(&user)
        .await
        .assert_error(401, "EMAIL_NOT_VERIFIED");

    let mail = sink
        .wait_for(&user.email, "Confirm your email", 1)
        .await
        .remove(0);
    assert!(mail.raw.contains("multipart/alternative"));
    let token = mail.link_token("/verify-email").expect("link in the mail");

    // Opening the link only shows a form; doing it twice changes nothing.
    for _ in 0..2 {
        let (status, page) = get_page(&app, &format!("/verify-email?token={token}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(r#"<form method="post" action="/verify-email">"#),
            "{page}"
        );
        assert!(page.contains(&token));
    }
    app.login(&user)
        .await
        .assert_error(401, "EMAIL_NOT_VERIFIED");

    let (status, page) = post_form(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Email address confirmed"));
    let login = app.login(&user).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.data()["user"]["emailVerified"], json!(true));
    assert_eq!(login.data()["user"]["status"], json!("active"));

    // Used once: the API and the page both refuse it now.
    app.post("/v1/auth/verify-email", json!({"token": token}))
        .await
        .assert_error(404, "INVALID_TOKEN");
    let (status, _) = post_form(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// An expired verification link answers 410; a resent link works and kills the old one.
#[tokio::test]
async fn expired_link_and_resend() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = TestUser::random();
    app.register(&user).await;
    let first = sink.wait_for(&user.email, "Confirm", 1).await[0]
        .link_token("/verify-email")
        .unwrap();

    app.advance_clock(Duration::from_secs(24 * 3600 + 1));
    app.post("/v1/auth/verify-email", json!({"token": first}))
        .await
        .assert_error(410, "TOKEN_EXPIRED");

    let known = app
        .post("/v1/auth/resend-verification", json!({"email": user.email}))
        .await;
    let unknown = app
        .post(
            "/v1/auth/resend-verification",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(known.body["message"], unknown.body["message"]);

    let mails = sink.wait_for(&user.email, "Confirm", 2).await;
    let second = mails[1].link_token("/verify-email").unwrap();
    assert_ne!(second, first);
    let verified = app
        .post("/v1/auth/verify-email", json!({"token": second}))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(app.login(&user).await.status, StatusCode::OK);
    assert!(
        sink.received()
            .iter()
            .all(|m| !m.to().contains("nobody@example.com"))
    );
}

fn same_answer(a: &Reply, b: &Reply) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.body["success"], b.body["success"]);
    assert_eq!(a.body["message"], b.body["message"]);
}

/// Forgot-password answers alike for a missing account and sends it nothing; the real
/// account's link resets the password once, signs out every session, and a notice follows.
#[tokio::test]
async fn password_reset_through_the_hosted_page() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (mut user, session) = app.signed_in_user_verified(&sink).await;

    let missing = app
        .post(
            "/v1/auth/forgot-password",
            json!({"email": "missing@example.com"}),
        )
        .await;
    let real = app
        .post("/v1/auth/forgot-password", json!({"email": user.email}))
        .await;
    same_answer(&missing, &real);
    let mail = sink
        .wait_for(&user.email, "Reset your password", 1)
        .await
        .remove(0);
    let token = mail.link_token("/reset-password").unwrap();
    assert!(
        sink.received()
            .iter()
            .all(|m| !m.to().contains("missing@example.com"))
    );

    let (status, page) = get_page(&app, &format!("/reset-password?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"type="password""#));

    // Mismatch and weak passwords show the form again and keep the link alive.
    let (status, page) = post_form(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("password", "Brand-New-Secret-88!"),
            ("confirm", "Other-Secret-88!"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("The two passwords differ"));
    let (status, page) = post_form(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("password", "password1234"),
            ("confirm", "password1234"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("class=\"error\""), "{page}");

    let new_password = "Brand-New-Secret-88!";
    let (status, page) = post_form(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("password", new_password),
            ("confirm", new_password),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    app.me(&session.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&session.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.login(&user)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    user.password = new_password.into();
    assert_eq!(app.login(&user).await.status, StatusCode::OK);

    app.post(
        "/v1/auth/reset-password",
        // The older field name is still read.
        json!({"token": token, "password": "Another-Secret-99!"}),
    )
    .await
    .assert_error(404, "INVALID_TOKEN");
    sink.wait_for(&user.email, "Your password was changed", 1)
        .await;
    let trail = app
        .state
        .stores
        .audit
        .list_audit(&sigil_server::store::AuditFilter::default(), 100)
        .await
        .unwrap();
    for action in [
        "email.verified",
        "password.reset_requested",
        "password.reset",
    ] {
        assert!(
            trail.iter().any(|e| e.action == action),
            "{action} not audited"
        );
    }
}

/// A reset link expires after one hour.
#[tokio::test]
async fn reset_link_expires_after_an_hour() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (user, _) = app.signed_in_user_verified(&sink).await;
    app.post("/v1/auth/forgot-password", json!({"email": user.email}))
        .await;
    let token = sink.wait_for(&user.email, "Reset", 1).await[0]
        .link_token("/reset-password")
        .unwrap();
    app.advance_clock(Duration::from_secs(3601));
    app.post(
        "/v1/auth/reset-password",
        json!({"token": token, "newPassword": "Brand-New-Secret-88!"}),
    )
    .await
    .assert_error(410, "TOKEN_EXPIRED");
}

/// A sign-in from a second kind of device is announced; the first device is not.
#[tokio::test]
async fn new_device_and_lockout_notices() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (user, _) = app.signed_in_user_verified(&sink).await;
    let login_with = |agent: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("user-agent", agent)
            .json(&json!({"username": user.username, "password": user.password}))
            .send()
    };
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    assert_eq!(
        read(login_with(firefox).await.unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        read(login_with(iphone).await.unwrap()).await.status,
        StatusCode::OK
    );
    let notice = sink.wait_for(&user.email, "New sign-in", 1).await.remove(0);
    assert!(notice.decoded.contains("Safari"), "{}", notice.decoded);
    assert!(notice.decoded.contains("127.0.0.1"));

    let wrong = json!({"username": user.username, "password": "Wrong-Password-123!"});
    for _ in 0..5 {
        app.post("/v1/auth/login", wrong.clone()).await;
    }
    sink.wait_for(&user.email, "Your account was locked", 1)
        .await;
    // Only the second device was new (the harness's own login had no agent to remember).
    assert_eq!(
        sink.received()
            .iter()
            .filter(|m| m.subject().contains("New sign-in"))
            .count(),
        1
    );
}
