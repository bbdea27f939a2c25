use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, TestUser, tokens};

/// register -> login -> me -> refresh -> logout, and the tokens of a logged-out session die.
#[tokio::test]
async fn full_account_cycle() {
    let app = TestApp::spawn().await;
    let user = TestUser::random();

    let reply = app.register(&user).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.data()["username"], json!(user.username));
    assert_eq!(reply.data()["status"], json!("active"));
    assert_eq!(reply.data()["roles"], json!(["user"]));
    assert!(reply.data().get("passwordHash").is_none());

    let login = app
        .post(
            "/v1/auth/login",
            json!({"email": user.email.to_uppercase(), "password": user.password}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.data()["tokenType"], json!("Bearer"));
    assert_eq!(login.data()["expiresIn"], json!(900));
    assert!(login.data()["user"]["lastLogin"].is_string());
    let cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("sigil_refresh="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Path=/v1/auth"));
    assert!(
        !cookie.contains("Secure"),
        "http loopback issuer: no Secure flag"
    );
    let first = tokens(&login);

    let me = app.me(&first.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.data()["email"], json!(user.email));
    assert_eq!(me.data()["permissions"], json!(["users.read"]));

    let refreshed = app.refresh(&first.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let second = tokens(&refreshed);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(app.me(&second.access).await.status, StatusCode::OK);

    let out = app
        .request(Method::POST, "/v1/auth/logout", Some(&second.access), None)
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));

    app.me(&second.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.me(&first.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&second.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
}

/// The refresh cookie alone is enough to refresh, and the answer sets a new cookie.
#[tokio::test]
async fn refresh_with_cookie() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("cookie", format!("sigil_refresh={}", tokens.refresh))
        .send()
        .await
        .unwrap();
    let reply = sigil_tests::read(response).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.header("set-cookie").unwrap();
    let new_refresh = reply.data()["refreshToken"].as_str().unwrap();
    assert!(cookie.starts_with(&format!("sigil_refresh={new_refresh}")));
}

/// Logging out of all devices ends every session of the user, not just the caller's.
#[tokio::test]
async fn logout_all_devices() {
    let app = TestApp::spawn().await;
    let (user, phone) = app.signed_in_user().await;
    let laptop = app.login_ok(&user).await;
    let out = app
        .request(
            Method::POST,
            "/v1/auth/logout",
            Some(&laptop.access),
            Some(json!({"logoutAllDevices": true})),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    app.me(&phone.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&phone.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.refresh(&laptop.refresh)
        .await
        .assert_error(401, "TOKEN_REVOKED");
}

/// Logout by refresh token only (no access token) ends that session.
#[tokio::test]
async fn logout_with_refresh_token_only() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let out = app
        .post("/v1/auth/logout", json!({"refreshToken": tokens.refresh}))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    app.me(&tokens.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.post("/v1/auth/logout", json!({}))
        .await
        .assert_error(401, "MISSING_AUTH_HEADER");
}

/// Changing the password needs the current one, signs out other sessions and keeps this one.
#[tokio::test]
async fn change_password() {
    let app = TestApp::spawn().await;
    let (mut user, here) = app.signed_in_user().await;
    let elsewhere = app.login_ok(&user).await;

    let wrong = app
        .request(
            Method::PUT,
            "/v1/auth/change-password",
            Some(&here.access),
            Some(json!({"currentPassword": "Not-The-Password-1!", "newPassword": "Another-Long-Secret-77?"})),
        )
        .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");

    let weak = app
        .request(
            Method::PUT,
            "/v1/auth/change-password",
            Some(&here.access),
            Some(json!({"currentPassword": user.password, "newPassword": "password"})),
        )
        .await;
    weak.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        weak.body["error"]["details"][0]["field"],
        json!("newPassword")
    );

    let ok = app
        .request(
            Method::PUT,
            "/v1/auth/change-password",
            Some(&here.access),
            Some(
                json!({"currentPassword": user.password, "newPassword": "Another-Long-Secret-77?"}),
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(app.me(&here.access).await.status, StatusCode::OK);
    app.me(&elsewhere.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    app.login(&user)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    user.password = "Another-Long-Secret-77?".into();
    app.login_ok(&user).await;
}

/// Profile updates change only the fields sent; null clears a field.
#[tokio::test]
async fn update_profile() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let put = |body| {
        app.request(
            Method::PUT,
            "/v1/users/me",
            Some(&tokens.access),
            Some(body),
        )
    };
    let reply =
        put(json!({"firstName": "Ada", "lastName": "Lovelace", "phone": "+44 20 7946 0958"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = put(json!({"lastName": null})).await;
    assert_eq!(reply.data()["firstName"], json!("Ada"));
    assert_eq!(reply.data()["lastName"], json!(null));
    assert_eq!(reply.data()["phone"], json!("+44 20 7946 0958"));
    put(json!({"firstName": "x".repeat(101)}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    put(json!({"phone": "call me"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    put(json!({"email": "new@example.com"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        app.me(&tokens.access).await.data()["firstName"],
        json!("Ada")
    );
}

/// Duplicate emails and usernames are refused case-insensitively with the seed codes.
#[tokio::test]
async fn duplicates_are_conflicts() {
    let app = TestApp::spawn().await;
    let user = TestUser::random();
    assert_eq!(app.register(&user).await.status, StatusCode::CREATED);
    let mut same_email = TestUser::random();
    same_email.email = user.email.to_uppercase();
    app.register(&same_email)
        .await
        .assert_error(409, "EMAIL_EXISTS");
    let mut same_name = TestUser::random();
    same_name.username = user.username.to_uppercase();
    app.register(&same_name)
        .await
        .assert_error(409, "USERNAME_EXISTS");
}

/// Unknown user and wrong password answer identically.
#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    let (user, _) = app.signed_in_user().await;
    let wrong = app
        .post(
            "/v1/auth/login",
            json!({"username": user.username, "password": "Wrong-Password-123!"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/login",
            json!({"username": "nobody_here", "password": "Wrong-Password-123!"}),
        )
        .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body["error"], unknown.body["error"]);
}

/// The bootstrap admin exists on a fresh store with the admin role and every permission.
#[tokio::test]
async fn bootstrap_admin() {
    let app = TestApp::spawn().await;
    let login = app
        .post(
            "/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.data()["user"]["roles"], json!(["admin"]));
    assert_eq!(
        login.data()["user"]["permissions"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

/// Health endpoints answer and report the store.
#[tokio::test]
async fn health_endpoints() {
    let app = TestApp::spawn().await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], json!("OK"));
    assert_eq!(health.body["services"]["database"], json!("healthy"));
    assert_eq!(app.get("/health/live", None).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/health/ready", None).await.body["ready"],
        json!(true)
    );
}

/// Security headers are on successes and errors alike.
#[tokio::test]
async fn security_headers_everywhere() {
    let app = TestApp::spawn().await;
    for reply in [
        app.get("/health", None).await,
        app.get("/no/such/route", None).await,
        app.me("garbage").await,
    ] {
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert!(reply.header("x-request-id").is_some());
    }
}
