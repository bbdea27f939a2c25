//! Sensitive changes need a recent sign-in or the current password (SPEC section 4), and
//! every wrong password given for them counts toward the lockout.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_server::config::Secret;
use sigil_tests::services::SmtpSink;
use sigil_tests::{ADMIN_PASSWORD, Reply, TestApp};
use totp_rs::{Algorithm, Builder};

const WINDOW: Duration = Duration::from_secs(60);

async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.reauthentication_window = WINDOW).await
}

async fn post(app: &TestApp, path: &str, access: &str, body: serde_json::Value) -> Reply {
    app.request(Method::POST, path, Some(access), Some(body))
        .await
}

/// A token older than the window cannot start MFA enrolment alone; with the password it can,
/// and refreshing does not make an old sign-in recent.
#[tokio::test]
async fn a_stale_sign_in_needs_the_password() {
    let app = app().await;
    let (user, tokens) = app.signed_in_user().await;
    app.advance_clock(WINDOW + Duration::from_secs(1));
    let setup = json!({"type": "totp"});
    post(&app, "/v1/auth/mfa/setup", &tokens.access, setup.clone())
        .await
        .assert_error(401, "REAUTHENTICATION_REQUIRED");
    let refreshed = app.refresh(&tokens.refresh).await;
    let access = refreshed.data()["accessToken"].as_str().unwrap().to_owned();
    post(&app, "/v1/auth/mfa/setup", &access, setup)
        .await
        .assert_error(401, "REAUTHENTICATION_REQUIRED");
    let with_password = post(
        &app,
        "/v1/auth/mfa/setup",
        &access,
        json!({"type": "totp", "password": user.password}),
    )
    .await;
    assert_eq!(
        with_password.status,
        StatusCode::OK,
        "{}",
        with_password.body
    );
    // A fresh sign-in is recent: the seed's request works as documented.
    let fresh = app.login_ok(&user).await;
    let again = post(
        &app,
        "/v1/auth/mfa/setup",
        &fresh.access,
        json!({"type": "totp"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

/// Wrong passwords given to re-authenticate lock the account like failed logins do.
#[tokio::test]
async fn wrong_passwords_count_toward_the_lockout() {
    let app = app().await;
    let (user, tokens) = app.signed_in_user().await;
    app.advance_clock(WINDOW + Duration::from_secs(1));
    let wrong = json!({"type": "totp", "password": "Not-The-Password-1!"});
    for _ in 0..4 {
        post(&app, "/v1/auth/mfa/setup", &tokens.access, wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    post(&app, "/v1/auth/mfa/setup", &tokens.access, wrong)
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
    app.login(&user).await.assert_error(423, "ACCOUNT_LOCKED");
    // Change-password's current password is under the same rule.
    let other = app.signed_in_user().await;
    for attempt in 0..5 {
        let reply = app
            .request(
                Method::PUT,
                "/v1/auth/change-password",
                Some(&other.1.access),
                Some(json!({
                    "currentPassword": "Not-The-Password-1!",
                    "newPassword": "Brand-New-Lantern-42!",
                })),
            )
            .await;
        let expected = if attempt < 4 {
            (401, "INVALID_CREDENTIALS")
        } else {
            (423, "ACCOUNT_LOCKED")
        };
        reply.assert_error(expected.0, expected.1);
    }
}

/// An admin whose sign-in is old changes roles only with the password.
#[tokio::test]
async fn role_changes_need_a_recent_admin_sign_in() {
    let app = app().await;
    let (_, target) = app.signed_in_user().await;
    let target_id = app.me(&target.access).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.admin_token().await;
    app.advance_clock(WINDOW + Duration::from_secs(1));
    let path = format!("/v1/admin/users/{target_id}");
    let promote = json!({"roles": ["user", "moderator"]});
    app.request(Method::PUT, &path, Some(&admin), Some(promote))
        .await
        .assert_error(401, "REAUTHENTICATION_REQUIRED");
    // Other changes do not need it.
    let renamed = app
        .request(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"firstName": "Ada"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let promoted = app
        .request(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"roles": ["user", "moderator"], "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.data()["roles"], json!(["user", "moderator"]));
}

/// Turning MFA on mails the user, in case it was not them.
#[tokio::test]
async fn enabling_mfa_mails_the_user() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(move |c| c.mail.smtp_url = Some(Secret::new(url))).await;
    let (user, tokens) = app.signed_in_user().await;
    let setup = post(
        &app,
        "/v1/auth/mfa/setup",
        &tokens.access,
        json!({"type": "totp"}),
    )
    .await;
    let secret = setup.data()["secret"].as_str().unwrap();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build_noncompliant();
    let code = totp
        .generate(app.state.clock.now().unix_timestamp() as u64)
        .to_string();
    let verified = post(
        &app,
        "/v1/auth/mfa/verify",
        &tokens.access,
        json!({"code": code}),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let mail = sink
        .wait_for(&user.email, "Two-factor sign-in was turned on", 1)
        .await
        .remove(0);
    assert_eq!(mail.to(), user.email);
}
