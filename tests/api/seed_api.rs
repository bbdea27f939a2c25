//! The seed API document (`../shared/seeds/002_53487afff9c91fdb.txt`) as a client written from
//! it sees Sigil: every documented request, in the document's order and with its bodies, and
//! the field names, nesting, status and error codes of every documented answer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_server::config::{RateLimit, Secret};
use sigil_tests::services::SmtpSink;
use sigil_tests::{Reply, TestApp, read, tokens};

use crate::mfa::code_now;

/// Asserts that `value` has every key in `keys` (the seed's names), whatever their values.
#[track_caller]
fn has_keys(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(*key).is_some(), "no {key:?} in {value}");
    }
}

#[track_caller]
fn success(reply: &Reply, status: StatusCode, message: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["success"], json!(true), "{}", reply.body);
    if let Some(message) = message {
        assert_eq!(reply.body["message"], json!(message), "{}", reply.body);
    }
}

/// The `details[].code` values of a validation failure.
fn detail_codes(reply: &Reply) -> Vec<(String, String)> {
    reply.body["error"]["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| {
                    (
                        d["field"].as_str().unwrap_or_default().to_owned(),
                        d["code"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn call(app: &TestApp, method: Method, path: &str, bearer: &str, body: Value) -> Reply {
    app.request(method, path, Some(bearer), Some(body)).await
}

const EMAIL: &str = "john.doe@example.com";
const PASSWORD: &str = "Lantern-Quartz-42!";

/// Endpoints 1-14 of the seed, one user's life, with each endpoint's documented errors.
#[tokio::test]
async fn the_seed_documents_account_endpoints_as_sigil_serves_them() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(move |c| {
        c.mail.smtp_url = Some(Secret::new(url));
        c.require_email_verification = true;
    })
    .await;

    // 1. Registration: the seed's body and answer.
    let registration = json!({
        "email": EMAIL,
        "username": "johndoe",
        "password": PASSWORD,
        "firstName": "John",
        "lastName": "Doe",
        "phone": "+1234567890"
    });
    let registered = app.post("/v1/auth/register", registration.clone()).await;
    success(
        &registered,
        StatusCode::CREATED,
        Some("User registered successfully. Please check your email for verification."),
    );
    let data = registered.data();
    has_keys(
        data,
        &[
            "userId",
            "email",
            "username",
            "status",
            "emailVerified",
            "createdAt",
        ],
    );
    let user_id = data["userId"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&user_id).is_ok());
    assert_eq!(
        (&data["status"], &data["emailVerified"]),
        (&json!("pending"), &json!(false))
    );
    app.post("/v1/auth/register", registration.clone())
        .await
        .assert_error(409, "EMAIL_EXISTS");
    let mut other = registration.clone();
    other["email"] = json!("someone.else@example.com");
    app.post("/v1/auth/register", other)
        .await
        .assert_error(409, "USERNAME_EXISTS");
    // Validation: VALIDATION_ERROR at the top, the seed's fine-grained code per field.
    let bad = app
        .post(
            "/v1/auth/register",
            json!({
                "email": "not-an-address",
                "username": "john doe",
                "password": "Short1!",
                "firstName": "J".repeat(101)
            }),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    let codes = detail_codes(&bad);
    for expected in [
        ("email", "INVALID_EMAIL_FORMAT"),
        ("username", "INVALID_USERNAME_FORMAT"),
        ("password", "FIELD_TOO_SHORT"),
        ("firstName", "FIELD_TOO_LONG"),
    ] {
        assert!(
            codes.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {codes:?}"
        );
    }
    let weak = app
        .post(
            "/v1/auth/register",
            json!({"username": "ab", "password": "alllowercaseletters"}),
        )
        .await;
    let codes = detail_codes(&weak);
    for expected in [
        ("email", "REQUIRED_FIELD_MISSING"),
        ("username", "FIELD_TOO_SHORT"),
        ("password", "INVALID_PASSWORD_STRENGTH"),
    ] {
        assert!(
            codes.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {codes:?}"
        );
    }

    // 2. Login before verification, then 5. verify email.
    let by_email = json!({"email": EMAIL, "password": PASSWORD, "rememberMe": true});
    app.post("/v1/auth/login", by_email.clone())
        .await
        .assert_error(401, "EMAIL_NOT_VERIFIED");
    app.post("/v1/auth/verify-email", json!({}))
        .await
        .assert_error(400, "MISSING_TOKEN");
    app.post(
        "/v1/auth/verify-email",
        json!({"token": "abc123def456ghi789"}),
    )
    .await
    .assert_error(404, "INVALID_TOKEN");
    let link = sink.wait_for(EMAIL, "Confirm", 1).await.remove(0);
    let token = link.link_token("/verify-email").unwrap();
    let verified = app
        .post("/v1/auth/verify-email", json!({ "token": token }))
        .await;
    success(
        &verified,
        StatusCode::OK,
        Some("Email verified successfully"),
    );

    // 2. Login, by email and by username; a cookie-keeping client as in the curl example.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = read(
        browser
            .post(app.url("/v1/auth/login"))
            .json(&by_email)
            .send()
            .await
            .unwrap(),
    )
    .await;
    success(&login, StatusCode::OK, Some("Login successful"));
    has_keys(
        login.data(),
        &[
            "accessToken",
            "refreshToken",
            "expiresIn",
            "tokenType",
            "user",
        ],
    );
    assert_eq!(login.data()["expiresIn"], json!(900));
    assert_eq!(login.data()["tokenType"], json!("Bearer"));
    let user = &login.data()["user"];
    has_keys(
        user,
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "status",
            "emailVerified",
            "roles",
            "permissions",
            "lastLogin",
        ],
    );
    assert_eq!(
        (&user["status"], &user["roles"], &user["permissions"]),
        (&json!("active"), &json!(["user"]), &json!(["users.read"]))
    );
    let cookie = login.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let by_username = app
        .post(
            "/v1/auth/login",
            json!({"username": "johndoe", "password": PASSWORD, "rememberMe": false}),
        )
        .await;
    success(&by_username, StatusCode::OK, Some("Login successful"));
    let session = tokens(&by_username);
    app.post("/v1/auth/login", json!({"password": PASSWORD}))
        .await
        .assert_error(400, "MISSING_CREDENTIALS");
    app.post("/v1/auth/login", json!({"email": EMAIL}))
        .await
        .assert_error(400, "MISSING_CREDENTIALS");
    app.post(
        "/v1/auth/login",
        json!({"email": EMAIL, "password": "Wrong-Password-1!"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");

    // 3. Refresh from the body, and from the cookie alone (the curl example sends no body).
    let refreshed = app.refresh(&session.refresh).await;
    success(&refreshed, StatusCode::OK, None);
    has_keys(refreshed.data(), &["accessToken", "expiresIn", "tokenType"]);
    let by_cookie = read(
        browser
            .post(app.url("/v1/auth/refresh"))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    success(&by_cookie, StatusCode::OK, None);
    app.post("/v1/auth/refresh", json!({}))
        .await
        .assert_error(400, "MISSING_REFRESH_TOKEN");
    app.refresh("def502004e6a0b5c9df6e5")
        .await
        .assert_error(401, "INVALID_REFRESH_TOKEN");
    app.refresh(&session.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    // 4. Logout with the Bearer and the cookie, as in the curl example.
    let cookie_session = tokens(&by_cookie);
    let out = read(
        browser
            .post(app.url("/v1/auth/logout"))
            .bearer_auth(&cookie_session.access)
            .json(&json!({"logoutAllDevices": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    success(&out, StatusCode::OK, Some("Logged out successfully"));
    app.refresh(&cookie_session.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    // 6. and 7. Forgot and reset password, with the seed's `newPassword`.
    let forgot = app
        .post("/v1/auth/forgot-password", json!({"email": EMAIL}))
        .await;
    success(
        &forgot,
        StatusCode::OK,
        Some("Password reset email sent if account exists"),
    );
    let reset_mail = sink.wait_for(EMAIL, "Reset", 1).await.remove(0);
    let reset_token = reset_mail.link_token("/reset-password").unwrap();
    let new_password = "Harbor-Violet-77?";
    let reset = app
        .post(
            "/v1/auth/reset-password",
            json!({"token": reset_token, "newPassword": new_password}),
        )
        .await;
    success(&reset, StatusCode::OK, Some("Password reset successfully"));

    // 8. Change password.
    let session = tokens(
        &app.post(
            "/v1/auth/login",
            json!({"email": EMAIL, "password": new_password}),
        )
        .await,
    );
    let final_password = "Meadow-Copper-58#";
    let changed = call(
        &app,
        Method::PUT,
        "/v1/auth/change-password",
        &session.access,
        json!({"currentPassword": new_password, "newPassword": final_password}),
    )
    .await;
    success(
        &changed,
        StatusCode::OK,
        Some("Password changed successfully"),
    );

    // 9. and 10. The profile.
    let me = app.me(&session.access).await;
    success(&me, StatusCode::OK, None);
    has_keys(
        me.data(),
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "phone",
            "status",
            "emailVerified",
            "phoneVerified",
            "lastLogin",
            "createdAt",
            "updatedAt",
            "roles",
            "permissions",
        ],
    );
    assert_eq!(me.data()["phoneVerified"], json!(false));
    let updated = call(
        &app,
        Method::PUT,
        "/v1/users/me",
        &session.access,
        json!({"firstName": "John", "lastName": "Smith", "phone": "+1234567890"}),
    )
    .await;
    success(
        &updated,
        StatusCode::OK,
        Some("Profile updated successfully"),
    );
    has_keys(
        updated.data(),
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "phone",
            "updatedAt",
        ],
    );
    assert_eq!(updated.data()["lastName"], json!("Smith"));

    // 11. and 12. Sessions.
    let second = tokens(
        &app.post(
            "/v1/auth/login",
            json!({"email": EMAIL, "password": final_password}),
        )
        .await,
    );
    let listed = app
        .get("/v1/users/me/sessions", Some(&session.access))
        .await;
    success(&listed, StatusCode::OK, None);
    let sessions = listed.data().as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", listed.body);
    for s in sessions {
        has_keys(
            s,
            &[
                "id",
                "deviceInfo",
                "ipAddress",
                "location",
                "lastActivity",
                "isCurrent",
            ],
        );
        has_keys(&s["deviceInfo"], &["browser", "os", "device"]);
    }
    let other_id = sessions
        .iter()
        .find(|s| s["isCurrent"] == json!(false))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = call(
        &app,
        Method::DELETE,
        &format!("/v1/users/me/sessions/{other_id}"),
        &session.access,
        json!({}),
    )
    .await;
    success(
        &ended,
        StatusCode::OK,
        Some("Session terminated successfully"),
    );
    app.me(&second.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    // 13. and 14. MFA.
    call(
        &app,
        Method::POST,
        "/v1/auth/mfa/verify",
        &session.access,
        json!({"code": "123456"}),
    )
    .await
    .assert_error(400, "MFA_NOT_ENABLED");
    for kind in ["sms", "email"] {
        let refused = call(
            &app,
            Method::POST,
            "/v1/auth/mfa/setup",
            &session.access,
            json!({"type": kind, "deviceName": "My iPhone"}),
        )
        .await;
        refused.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(refused.body["error"]["details"][0]["field"], json!("type"));
    }
    let setup = call(
        &app,
        Method::POST,
        "/v1/auth/mfa/setup",
        &session.access,
        json!({"type": "totp", "deviceName": "My iPhone"}),
    )
    .await;
    success(&setup, StatusCode::OK, None);
    has_keys(setup.data(), &["secret", "qrCode", "backupCodes"]);
    assert!(
        setup.data()["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let secret = setup.data()["secret"].as_str().unwrap().to_owned();
    let backup = setup.data()["backupCodes"][0].as_str().unwrap().to_owned();
    let verify = |code: String| {
        let (app, access) = (&app, session.access.clone());
        async move {
            call(
                app,
                Method::POST,
                "/v1/auth/mfa/verify",
                &access,
                json!({"code": code, "deviceId": "device-uuid-optional"}),
            )
            .await
        }
    };
    let enabled = verify(code_now(&app, &secret)).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    // With MFA on, verify checks a code of the active factor (here a backup code: the TOTP
    // code of this window is used up), once.
    let again = verify(backup.clone()).await;
    success(&again, StatusCode::OK, Some("MFA verified successfully"));
    verify(backup)
        .await
        .assert_error(401, "MFA_BACKUP_CODE_USED");
    verify("000000".into())
        .await
        .assert_error(401, "INVALID_MFA_CODE");
    let login = app
        .post(
            "/v1/auth/login",
            json!({"email": EMAIL, "password": final_password}),
        )
        .await;
    login.assert_error(401, "MFA_REQUIRED");
}

/// Endpoints 15-18 and the admin errors of the seed.
#[tokio::test]
async fn the_seed_documents_admin_and_health_endpoints_as_sigil_serves_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, session) = app.signed_in_user().await;
    app.post(
        "/v1/auth/login",
        json!({"username": user.username, "password": "Not-The-Password-1!"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");

    // 15. The list: `data.users` and `data.pagination`; the page size is capped at 100.
    let search = &user.username[..9];
    let list = app
        .get(
            &format!("/v1/admin/users?page=1&limit=20&status=active&search={search}"),
            Some(&admin),
        )
        .await;
    success(&list, StatusCode::OK, None);
    let users = list.data()["users"].as_array().unwrap();
    assert!(!users.is_empty(), "{}", list.body);
    has_keys(
        &users[0],
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "status",
            "emailVerified",
            "lastLogin",
            "createdAt",
            "roles",
        ],
    );
    has_keys(
        &list.data()["pagination"],
        &["page", "limit", "total", "pages"],
    );
    let capped = app
        .get("/v1/admin/users?page=1&limit=500", Some(&admin))
        .await;
    assert_eq!(capped.data()["pagination"]["limit"], json!(100));
    app.get("/v1/admin/users", None)
        .await
        .assert_error(401, "MISSING_AUTH_HEADER");
    app.get("/v1/admin/users", Some(&session.access))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // 16. One user, with the lockout fields under the seed's names.
    let id = users[0]["id"].as_str().unwrap().to_owned();
    let one = app
        .get(&format!("/v1/admin/users/{id}"), Some(&admin))
        .await;
    success(&one, StatusCode::OK, None);
    has_keys(
        one.data(),
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "phone",
            "status",
            "emailVerified",
            "phoneVerified",
            "lastLogin",
            "createdAt",
            "updatedAt",
            "roles",
            "permissions",
            "failedLoginAttempts",
            "lastFailedLogin",
            "accountLockedUntil",
        ],
    );
    assert_eq!(one.data()["failedLoginAttempts"], json!(1), "{}", one.body);
    assert!(one.data()["lastFailedLogin"].is_string(), "{}", one.body);
    assert_eq!(one.data()["accountLockedUntil"], json!(null));

    // 17. Update.
    let updated = call(
        &app,
        Method::PUT,
        &format!("/v1/admin/users/{id}"),
        &admin,
        json!({
            "firstName": "John",
            "lastName": "Smith",
            "status": "active",
            "roles": ["user", "moderator"]
        }),
    )
    .await;
    success(&updated, StatusCode::OK, Some("User updated successfully"));
    has_keys(
        updated.data(),
        &[
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "status",
            "roles",
            "updatedAt",
        ],
    );
    assert_eq!(updated.data()["roles"], json!(["user", "moderator"]));

    // 18. Health under the /v1 base, with the seed's words.
    let health = app.get("/v1/health", None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    has_keys(
        &health.body,
        &["status", "timestamp", "version", "uptime", "services"],
    );
    assert_eq!(health.body["status"], json!("OK"));
    assert_eq!(
        health.body["services"],
        json!({"database": "healthy", "redis": "healthy", "email": "healthy"})
    );
    assert!(health.body.get("storage").is_none(), "no store path shown");
}

/// The seed's rate-limit headers and error body on the general budget.
#[tokio::test]
async fn the_seed_documents_rate_limits_as_sigil_answers_them() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits.general = Some(RateLimit {
            count: 3,
            window: Duration::from_secs(900),
        });
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let reply = app.get("/v1/users/me", None).await;
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
        assert!(reply.header("x-ratelimit-reset").is_some());
    }
    let limited = app.get("/v1/users/me", None).await;
    limited.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_eq!(limited.body["error"]["retryAfter"], json!(retry));
}

/// 4. Logout "revokes the current refresh token": an expired access token beside a valid
/// refresh cookie does not stop it, and the session ends.
#[tokio::test]
async fn logout_with_an_expired_access_token_ends_the_session_of_the_refresh_cookie() {
    let app = TestApp::spawn().await;
    let (_user, session) = app.signed_in_user().await;
    // Past the 15 minutes and the 60 s of leeway.
    app.advance_clock(Duration::from_secs(15 * 60 + 61));
    app.me(&session.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    let out = read(
        app.client
            .post(app.url("/v1/auth/logout"))
            .bearer_auth(&session.access)
            .header("cookie", format!("sigil_refresh={}", session.refresh))
            .send()
            .await
            .unwrap(),
    )
    .await;
    success(&out, StatusCode::OK, Some("Logged out successfully"));
    app.refresh(&session.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    // Nothing valid at all is still refused.
    let refused = read(
        app.client
            .post(app.url("/v1/auth/logout"))
            .bearer_auth(&session.access)
            .header("cookie", "sigil_refresh=made-up")
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused.assert_error(401, "INVALID_REFRESH_TOKEN");
}

/// The seed's single-page app calls the API from another site, often through a proxy that
/// publishes it under a prefix: the refresh cookie's SameSite and Path follow the settings.
#[tokio::test]
async fn the_refresh_cookie_follows_samesite_and_the_public_prefix() {
    let app = TestApp::spawn_with(|c| {
        c.public_path_prefix = "/api".into();
        c.refresh_cookie_same_site = sigil_server::config::CookieSameSite::Lax;
    })
    .await;
    let (user, _) = app.signed_in_user().await;
    let login = app.login(&user).await;
    let cookie = login.header("set-cookie").unwrap();
    assert!(cookie.contains("Path=/api/v1/auth"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    let strict = TestApp::spawn().await;
    let (user, _) = strict.signed_in_user().await;
    let cookie = strict.login(&user).await;
    let cookie = cookie.header("set-cookie").unwrap();
    assert!(cookie.contains("Path=/v1/auth;"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
}
