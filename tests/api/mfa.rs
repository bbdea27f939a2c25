//! TOTP enrolment, MFA-gated login, replay protection, backup codes, limits and disabling.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::{Reply, TestApp, TestUser, Tokens, read, tokens};
use totp_rs::{Algorithm, Builder, Secret, Totp};

struct Enrolled {
    user: TestUser,
    session: Tokens,
    secret: String,
    backup_codes: Vec<String>,
}

fn generator(secret: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build_noncompliant()
}

/// The code for the server's current time, as an authenticator app would show it.
pub(crate) fn code_now(app: &TestApp, secret: &str) -> String {
    let now = app.state.clock.now().unix_timestamp() as u64;
    generator(secret).generate(now).to_string()
}

fn amr(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["amr"].clone()
}

async fn post_auth(app: &TestApp, path: &str, bearer: &str, body: Value) -> Reply {
    app.request(Method::POST, path, Some(bearer), Some(body))
        .await
}

async fn enrol(app: &TestApp) -> Enrolled {
    let (user, session) = app.signed_in_user().await;
    let setup = post_auth(app, "/v1/auth/mfa/setup", &session.access, json!({})).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.data()["secret"].as_str().unwrap().to_owned();
    let backup_codes: Vec<String> = setup.data()["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let verified = post_auth(
        app,
        "/v1/auth/mfa/verify",
        &session.access,
        json!({"code": code_now(app, &secret)}),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    Enrolled {
        user,
        session,
        secret,
        backup_codes,
    }
}

async fn mfa_token(app: &TestApp, user: &TestUser) -> String {
    let reply = app.login(user).await;
    reply.assert_error(401, "MFA_REQUIRED");
    reply.body["error"]["mfaToken"].as_str().unwrap().to_owned()
}

async fn challenge(app: &TestApp, token: &str, code: &str) -> Reply {
    app.post(
        "/v1/auth/mfa/challenge",
        json!({"mfaToken": token, "code": code}),
    )
    .await
}

/// Setup answers a 160-bit secret, an otpauth URI, a QR code that decodes to that URI and 10
/// backup codes; MFA is off until a first valid code.
#[tokio::test]
async fn enrolment() {
    let app = TestApp::spawn().await;
    let (user, session) = app.signed_in_user().await;
    let setup = post_auth(&app, "/v1/auth/mfa/setup", &session.access, json!({})).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert_eq!(setup.header("cache-control"), Some("no-store"));
    let secret = setup.data()["secret"].as_str().unwrap();
    assert_eq!(
        Secret::try_from_base32(secret).unwrap().as_bytes().len(),
        20
    );
    let uri = setup.data()["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Sigil:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=Sigil"));
    assert_eq!(setup.data()["backupCodes"].as_array().unwrap().len(), 10);

    let qr = setup.data()["qrCode"].as_str().unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            qr.strip_prefix("data:image/png;base64,")
                .expect("PNG data URL"),
        )
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, uri);

    // Not on yet: password alone still signs in.
    assert_eq!(app.login(&user).await.status, StatusCode::OK);
    post_auth(
        &app,
        "/v1/auth/mfa/verify",
        &session.access,
        json!({"code": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_MFA_CODE");
    let ok = post_auth(
        &app,
        "/v1/auth/mfa/verify",
        &session.access,
        json!({"code": code_now(&app, secret)}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        app.me(&session.access).await.data()["mfaEnabled"],
        json!(true)
    );
    mfa_token(&app, &user).await;
}

/// With MFA on, login needs the second step; a TOTP code works once; amr says so.
#[tokio::test]
async fn login_with_totp_and_replay() {
    let app = TestApp::spawn().await;
    let e = enrol(&app).await;

    // The code used to enrol is spent.
    let token = mfa_token(&app, &e.user).await;
    challenge(&app, &token, &code_now(&app, &e.secret))
        .await
        .assert_error(401, "INVALID_MFA_CODE");

    app.advance_clock(Duration::from_secs(30));
    let code = code_now(&app, &e.secret);
    let ok = challenge(&app, &token, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let signed_in = tokens(&ok);
    assert_eq!(amr(&signed_in.access), json!(["pwd", "otp"]));
    assert_eq!(app.me(&signed_in.access).await.status, StatusCode::OK);

    // The token is single use; the code is single use.
    challenge(&app, &token, &code)
        .await
        .assert_error(401, "INVALID_TOKEN");
    let again = mfa_token(&app, &e.user).await;
    challenge(&app, &again, &code)
        .await
        .assert_error(401, "INVALID_MFA_CODE");
    // The next step's code is accepted within the one-step skew.
    let next = generator(&e.secret)
        .generate(app.state.clock.now().unix_timestamp() as u64 + 30)
        .to_string();
    assert_eq!(challenge(&app, &again, &next).await.status, StatusCode::OK);
}

/// A backup code works once; the second use answers MFA_BACKUP_CODE_USED.
#[tokio::test]
async fn backup_codes_are_single_use() {
    let app = TestApp::spawn().await;
    let e = enrol(&app).await;
    let code = e.backup_codes[3].to_uppercase();
    let first = challenge(&app, &mfa_token(&app, &e.user).await, &code).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(amr(&tokens(&first).access), json!(["pwd", "otp"]));
    challenge(&app, &mfa_token(&app, &e.user).await, &e.backup_codes[3])
        .await
        .assert_error(401, "MFA_BACKUP_CODE_USED");
    challenge(&app, &mfa_token(&app, &e.user).await, "abcd-efgh-jkmn")
        .await
        .assert_error(401, "INVALID_MFA_CODE");

    // Regenerating needs a TOTP code and kills the old codes.
    app.advance_clock(Duration::from_secs(30));
    let fresh = post_auth(
        &app,
        "/v1/auth/mfa/backup-codes",
        &e.session.access,
        json!({"code": code_now(&app, &e.secret)}),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let new_code = fresh.data()["backupCodes"][0].as_str().unwrap().to_owned();
    challenge(&app, &mfa_token(&app, &e.user).await, &e.backup_codes[4])
        .await
        .assert_error(401, "INVALID_MFA_CODE");
    assert_eq!(
        challenge(&app, &mfa_token(&app, &e.user).await, &new_code)
            .await
            .status,
        StatusCode::OK
    );
}

/// Ten code attempts per five minutes per user; failures also count toward the lockout.
#[tokio::test]
async fn attempts_are_limited_and_count_toward_lockout() {
    let app = TestApp::spawn_with(|c| {
        c.lockout.threshold = 100;
        c.rate_limits.mfa = Some(sigil_server::config::RateLimit {
            count: 10,
            window: Duration::from_secs(300),
        });
    })
    .await;
    let e = enrol(&app).await;
    let token = mfa_token(&app, &e.user).await;
    // One budget per user for every code check: enrolment's verify used one attempt.
    for _ in 0..9 {
        challenge(&app, &token, "000000")
            .await
            .assert_error(401, "INVALID_MFA_CODE");
    }
    let limited = challenge(&app, &token, "000000").await;
    limited.assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    assert!(limited.header("retry-after").is_some());

    let app = TestApp::spawn().await;
    let e = enrol(&app).await;
    let token = mfa_token(&app, &e.user).await;
    for _ in 0..4 {
        challenge(&app, &token, "000000")
            .await
            .assert_error(401, "INVALID_MFA_CODE");
    }
    challenge(&app, &token, "000000")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
    app.advance_clock(Duration::from_secs(30));
    challenge(&app, &token, &code_now(&app, &e.secret))
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
}

/// The MFA token only works from the address that entered the password.
#[tokio::test]
async fn mfa_token_is_bound_to_the_client_address() {
    let app =
        TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let e = enrol(&app).await;
    let from = |ip: &'static str, path: &'static str, body: Value| {
        app.client
            .post(app.url(path))
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
    };
    let login = read(
        from(
            "203.0.113.5",
            "/v1/auth/login",
            json!({"username": e.user.username, "password": e.user.password}),
        )
        .await
        .unwrap(),
    )
    .await;
    let token = login.body["error"]["mfaToken"].as_str().unwrap().to_owned();
    app.advance_clock(Duration::from_secs(30));
    let code = code_now(&app, &e.secret);
    read(
        from(
            "203.0.113.6",
            "/v1/auth/mfa/challenge",
            json!({"mfaToken": token, "code": code}),
        )
        .await
        .unwrap(),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
    let same = read(
        from(
            "203.0.113.5",
            "/v1/auth/mfa/challenge",
            json!({"mfaToken": token, "code": code}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
}

/// Disabling needs the password and a code; afterwards the password alone signs in.
#[tokio::test]
async fn disable_mfa() {
    let app = TestApp::spawn().await;
    let e = enrol(&app).await;
    app.advance_clock(Duration::from_secs(30));
    let code = code_now(&app, &e.secret);
    post_auth(
        &app,
        "/v1/auth/mfa/disable",
        &e.session.access,
        json!({"password": "Wrong-Password-1!", "code": code}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    post_auth(
        &app,
        "/v1/auth/mfa/disable",
        &e.session.access,
        json!({"password": e.user.password, "code": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_MFA_CODE");
    let off = post_auth(
        &app,
        "/v1/auth/mfa/disable",
        &e.session.access,
        json!({"password": e.user.password, "code": code}),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let login = app.login(&e.user).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(amr(&tokens(&login).access), json!(["pwd"]));
    post_auth(
        &app,
        "/v1/auth/mfa/disable",
        &e.session.access,
        json!({"password": e.user.password, "code": code}),
    )
    .await
    .assert_error(400, "MFA_NOT_ENABLED");
}

/// What the store holds shows neither the TOTP secret nor a backup code.
#[tokio::test]
async fn secrets_are_not_stored_in_clear() {
    let app = TestApp::spawn().await;
    let e = enrol(&app).await;
    let id = app.me(&e.session.access).await.data()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stored = app.state.stores.users.get_user(id).await.unwrap().unwrap();
    let dump = serde_json::to_string(&stored).unwrap();
    assert!(stored.mfa.enabled);
    assert!(!dump.contains(&e.secret));
    for code in &e.backup_codes {
        assert!(!dump.contains(code) && !dump.contains(&code.replace('-', "")));
    }
    if sigil_tests::TestBackend::from_env() == sigil_tests::TestBackend::Embedded {
        let raw = std::fs::read(app.data_dir().join("sigil.redb")).unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            !raw.contains(&e.secret),
            "the redb file holds the secret in clear"
        );
        assert!(!raw.contains(e.backup_codes[0].as_str()));
        assert!(!raw.contains(&e.user.password));
    }
}
