//! Rate limits, client addresses behind proxies, CORS and security headers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sigil_server::config::RateLimit;
use sigil_tests::process::SigilProcess;
use sigil_tests::{Reply, TestApp, TestUser, read};

fn limit(count: u64, secs: u64) -> Option<RateLimit> {
    Some(RateLimit {
        count,
        window: Duration::from_secs(secs),
    })
}

async fn login_from(app: &TestApp, user: &TestUser, forwarded_for: Option<&str>) -> Reply {
    let mut req = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": user.username, "password": "Wrong-Password-123!"}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    read(req.send().await.unwrap()).await
}

/// Five login attempts per window; the sixth is 429 with the seed's code, Retry-After and the
/// X-RateLimit headers; the next window allows again.
#[tokio::test]
async fn login_limit_and_window_reset() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits.login = limit(5, 900);
        c.lockout.threshold = 100;
    })
    .await;
    let user = TestUser::random();
    for remaining in (0..5).rev() {
        let reply = login_from(&app, &user, None).await;
        reply.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }
    let limited = login_from(&app, &user, None).await;
    limited.assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_eq!(limited.body["error"]["retryAfter"], json!(retry));
    let reset: i64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > time::OffsetDateTime::now_utc().unix_timestamp());

    app.advance_clock(Duration::from_secs(901));
    login_from(&app, &user, None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

/// A client that is not a trusted proxy cannot pick its bucket with X-Forwarded-For.
#[tokio::test]
async fn spoofed_forwarded_for_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.rate_limits.login = limit(3, 900)).await;
    let user = TestUser::random();
    for i in 0..3 {
        login_from(&app, &user, Some(&format!("203.0.113.{i}")))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(&app, &user, Some("198.51.100.99"))
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
}

/// Behind a trusted proxy, the forwarded address is the client: each gets its own budget.
#[tokio::test]
async fn trusted_proxy_forwards_the_client_address() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits.login = limit(2, 900);
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let user = TestUser::random();
    for _ in 0..2 {
        login_from(&app, &user, Some("203.0.113.1"))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(&app, &user, Some("203.0.113.1"))
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    // A spoofed left-most entry is ignored: the right-most untrusted hop counts.
    login_from(&app, &user, Some("203.0.113.1, 203.0.113.2"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // With a port, or bracketed IPv6 with a port, the entry is the same client.
    login_from(&app, &user, Some("203.0.113.1:4711"))
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    for _ in 0..2 {
        login_from(&app, &user, Some("[2001:db8::7]:4711"))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(&app, &user, Some("2001:db8::7"))
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    // An entry that is no address leaves the client unknown: refused, never counted as the
    // proxy (which would put every client behind it in one bucket).
    for unreadable in ["garbage", "unknown", "203.0.113.9, nonsense"] {
        login_from(&app, &user, Some(unreadable))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

/// An admin allowlist naming the proxy's network does not let in a client whose forwarded
/// address cannot be read.
#[tokio::test]
async fn unreadable_forwarded_for_does_not_pass_the_admin_allowlist() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.admin_allowed_ips = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let admin = app.admin_token().await;
    let ask = |xff: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            read(
                app.client
                    .get(app.url("/v1/admin/stats"))
                    .bearer_auth(admin)
                    .header("x-forwarded-for", xff)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(ask("127.0.0.5").await.status, StatusCode::OK);
    // Refused before the allowlist is even asked: the client is unknown.
    ask("garbage").await.assert_error(400, "VALIDATION_ERROR");
    ask("198.51.100.4")
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
}

/// The registration and general limits answer with their own codes.
#[tokio::test]
async fn registration_and_general_limits() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits.register = limit(2, 3600);
        c.rate_limits.general = limit(6, 900);
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.register(&TestUser::random()).await.status,
            StatusCode::CREATED
        );
    }
    app.register(&TestUser::random())
        .await
        .assert_error(429, "REGISTRATION_RATE_LIMIT_EXCEEDED");
    for _ in 0..3 {
        app.get("/v1/users/me", None)
            .await
            .assert_error(401, "MISSING_AUTH_HEADER");
    }
    app.get("/v1/users/me", None)
        .await
        .assert_error(429, "RATE_LIMIT_EXCEEDED");
    // Discovery, JWKS and health are never limited.
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

/// Two replicas on one Redis share one budget.
#[tokio::test]
async fn limits_are_shared_by_replicas() {
    let (mongo, redis) = sigil_tests::backend::service_urls();
    let storage = sigil_tests::backend::isolated_storage(&mongo, &redis);
    let configure = |c: &mut sigil_server::config::Config| c.rate_limits.login = limit(4, 900);
    let a = TestApp::spawn_on(storage, configure).await;
    let b = a.spawn_replica(configure).await;
    let user = TestUser::random();
    for app in [&a, &b, &a, &b] {
        login_from(app, &user, None)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(&a, &user, None)
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
    login_from(&b, &user, None)
        .await
        .assert_error(429, "AUTH_RATE_LIMIT_EXCEEDED");
}

/// CORS headers go to configured origins only; preflights are answered.
#[tokio::test]
async fn cors_for_configured_origins_only() {
    let app =
        TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let allowed = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let denied = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let plain = TestApp::spawn().await;
    let none = plain
        .client
        .get(plain.url("/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(none.headers().get("access-control-allow-origin").is_none());
}

/// Every response, error or not, carries the security headers of SPEC section 7.
#[tokio::test]
async fn security_headers_on_success_and_errors() {
    let app = TestApp::spawn().await;
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    let replies = [
        app.get("/health", None).await,
        app.post("/v1/auth/login", json!({"username": "x", "password": "y"}))
            .await,
        app.get("/missing", None).await,
    ];
    for reply in &replies {
        for (name, value) in expected {
            assert_eq!(
                reply.header(name),
                Some(value),
                "{name} on {}",
                reply.status
            );
        }
        assert!(
            reply.header("strict-transport-security").is_none(),
            "http issuer: no HSTS"
        );
    }
}

/// `/oauth2/token` and `/oauth2/introspect` share one budget per client: the client over it
/// gets 429 `slow_down` with `Retry-After`, another client is unaffected, and the window
/// resets.
#[tokio::test]
async fn token_endpoint_limit_is_per_client() {
    let app = TestApp::spawn_with(|c| c.rate_limits.client = limit(3, 60)).await;
    let machine = json!({
        "name": "Batch", "type": "confidential", "grantTypes": ["client_credentials"]
    });
    let (busy, busy_secret) = app.create_client(machine.clone()).await;
    let (quiet, quiet_secret) = app.create_client(machine).await;
    let (busy_secret, quiet_secret) = (busy_secret.unwrap(), quiet_secret.unwrap());
    let token = |id: String, secret: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth2/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };

    let first = token(busy.clone(), busy_secret.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-ratelimit-remaining"], "2");
    let access = first.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspected = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&busy, Some(&busy_secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), StatusCode::OK);
    assert_eq!(introspected.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(
        token(busy.clone(), busy_secret.clone()).await.status(),
        StatusCode::OK
    );

    let refused = token(busy.clone(), busy_secret.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], json!("slow_down"));
    // A wrong secret draws on the same budget: guessing is throttled too.
    assert_eq!(
        token(busy.clone(), "wrong".into()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    assert_eq!(
        token(quiet, quiet_secret).await.status(),
        StatusCode::OK,
        "another client keeps its own budget"
    );
    app.advance_clock(Duration::from_secs(61));
    assert_eq!(token(busy, busy_secret).await.status(), StatusCode::OK);
}

/// Failed client authentications have a budget per ip: made-up ids and wrong secrets alike
/// spend it, and once it is spent the ip is refused on every client-authenticated endpoint,
/// a correct secret included, until the window ends. Client ids longer than any Sigil issues
/// are refused before they name a budget.
#[tokio::test]
async fn failed_client_authentication_is_limited_per_ip() {
    let app = TestApp::spawn_with(|c| c.rate_limits.client_auth = limit(3, 900)).await;
    let (id, secret) = app
        .create_client(json!({
            "name": "Batch", "type": "confidential", "grantTypes": ["client_credentials"]
        }))
        .await;
    let secret = secret.unwrap();
    let post = |path: &'static str, id: String, secret: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(path))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("token", "x")])
                .send()
                .await
                .unwrap()
        }
    };
    let long_id = "c".repeat(513);
    let too_long = post("/oauth2/token", long_id, "x".into()).await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = too_long.json().await.unwrap();
    assert_eq!(body["error"], json!("invalid_request"));
    for _ in 0..4 {
        let fine = post("/oauth2/token", id.clone(), secret.clone()).await;
        assert_eq!(fine.status(), StatusCode::OK, "successes spend nothing");
    }

    for (path, claimed, guess) in [
        ("/oauth2/token", "made-up-1", "x"),
        ("/oauth2/introspect", "made-up-2", "x"),
        ("/oauth2/revoke", id.as_str(), "wrong"),
    ] {
        let failed = post(path, claimed.into(), guess.into()).await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/oauth2/token", "/oauth2/introspect"] {
        let refused = post(path, id.clone(), secret.clone()).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(refused.headers().contains_key("retry-after"));
    }
    app.advance_clock(Duration::from_secs(901));
    assert_eq!(
        post("/oauth2/token", id, secret).await.status(),
        StatusCode::OK
    );
}

/// The same mailbox written another way (quoted local part, comment, other case) never
/// registers a second account.
#[tokio::test]
async fn one_mailbox_registers_one_account() {
    let app = TestApp::spawn().await;
    let user = TestUser::random();
    assert_eq!(app.register(&user).await.status, StatusCode::CREATED);
    let (local, domain) = user.email.split_once('@').unwrap();
    for (variant, code) in [
        (format!("\"{local}\"@{domain}"), "INVALID_EMAIL_FORMAT"),
        (format!("{local}(x)@{domain}"), "INVALID_EMAIL_FORMAT"),
        (user.email.to_uppercase(), "EMAIL_EXISTS"),
    ] {
        let mut other = TestUser::random();
        other.email = variant.clone();
        let reply = app.register(&other).await;
        assert!(
            reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::CONFLICT,
            "{variant}: {} {}",
            reply.status,
            reply.body
        );
        assert!(
            reply.body.to_string().contains(code),
            "{variant}: {}",
            reply.body
        );
    }
}

/// An https issuer with the encryption key generated into the data directory is a deployment
/// that one copy of that directory decrypts: Sigil says so at start-up, and only then.
#[tokio::test]
async fn warns_when_the_encryption_key_sits_beside_the_data() {
    const WARNING: &str = "the encryption key is kept in the data directory beside the data it protects: a copy of that directory decrypts TOTP secrets and signing keys. Set SIGIL_ENCRYPTION_KEY from a secret store instead (docs/operations.md)";
    let https = [("SIGIL_ISSUER", "https://id.example.test")];
    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start_with(dir.path(), &https).await;
    assert!(
        sigil.startup_log.iter().any(|m| m == WARNING),
        "{:?}",
        sigil.startup_log
    );
    sigil.terminate().await;

    let key = sigil_server::crypto::Cipher::generate_key();
    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start_with(
        dir.path(),
        &[https[0], ("SIGIL_ENCRYPTION_KEY", key.as_str())],
    )
    .await;
    assert!(!sigil.startup_log.iter().any(|m| m == WARNING));
    sigil.terminate().await;

    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start(dir.path()).await;
    assert!(
        !sigil.startup_log.iter().any(|m| m == WARNING),
        "loopback issuer: development"
    );
    sigil.terminate().await;
}
