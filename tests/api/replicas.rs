//! Two `sigil` processes sharing one MongoDB and one Redis behave as one service.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_tests::process::SigilProcess;
use sigil_tests::{Reply, TestUser, read, tokens};

struct Replicas {
    a: SigilProcess,
    b: SigilProcess,
    client: reqwest::Client,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Replicas {
    async fn start() -> Self {
        let env = sigil_tests::backend::replica_env();
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Both at once, as a deployment's replicas start.
        let (a, b) = tokio::join!(
            SigilProcess::start_with(dirs.0.path(), &env),
            SigilProcess::start_with(dirs.1.path(), &env)
        );
        Self {
            a,
            b,
            client: sigil_tests::client(),
            _dirs: dirs,
        }
    }

    async fn call(
        &self,
        base: &str,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.unwrap()).await
    }
}

/// Tokens, logouts, refresh reuse, the JWKS and the lockout count are shared by both replicas.
#[tokio::test]
async fn two_replicas_act_as_one() {
    let r = Replicas::start().await;
    let (a, b) = (r.a.base.as_str(), r.b.base.as_str());

    let jwks_a = r
        .call(a, "GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    let jwks_b = r
        .call(b, "GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(jwks_a, jwks_b, "both replicas publish the same keys");
    assert!(!jwks_a["keys"].as_array().unwrap().is_empty());

    let user = TestUser::random();
    let created = r
        .call(
            a,
            "POST",
            "/v1/auth/register",
            None,
            Some(user.registration()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let creds = json!({"username": user.username, "password": user.password});

    // A token issued by A is accepted by B.
    let first = tokens(
        &r.call(a, "POST", "/v1/auth/login", None, Some(creds.clone()))
            .await,
    );
    let me = r
        .call(b, "GET", "/v1/users/me", Some(&first.access), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    // A logout on A is honoured by B at once.
    let out = r
        .call(a, "POST", "/v1/auth/logout", Some(&first.access), None)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    r.call(b, "GET", "/v1/users/me", Some(&first.access), None)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    // A refresh token rotated on A is reuse when presented to B.
    let second = tokens(
        &r.call(b, "POST", "/v1/auth/login", None, Some(creds.clone()))
            .await,
    );
    let rotated = r
        .call(
            a,
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": second.refresh})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    r.call(
        b,
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": second.refresh})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
    let third = tokens(&rotated);
    r.call(
        a,
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": third.refresh})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");

    // Failed logins count across replicas: 3 on A and 2 on B lock the account.
    let wrong = json!({"username": user.username, "password": "Wrong-Password-123!"});
    for _ in 0..3 {
        r.call(a, "POST", "/v1/auth/login", None, Some(wrong.clone()))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    r.call(b, "POST", "/v1/auth/login", None, Some(wrong.clone()))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    r.call(b, "POST", "/v1/auth/login", None, Some(wrong.clone()))
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
    r.call(a, "POST", "/v1/auth/login", None, Some(creds))
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
}

/// A client deleted on A can no longer get tokens from B within 1 s, although B keeps a copy
/// of it in its cache (SIGIL_CACHE_TTL, 500 ms, in these replicas).
#[tokio::test]
async fn a_client_deleted_on_one_replica_is_refused_by_the_other_within_a_second() {
    let r = Replicas::start().await;
    let (a, b) = (r.a.base.as_str(), r.b.base.as_str());
    let admin = tokens(
        &r.call(
            a,
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": sigil_tests::ADMIN_PASSWORD})),
        )
        .await,
    );
    let created = r
        .call(
            a,
            "POST",
            "/v1/admin/clients",
            Some(&admin.access),
            Some(json!({
                "name": "Machine", "type": "confidential",
                "grantTypes": ["client_credentials"], "scopes": ["openid"],
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.data()["clientId"].as_str().unwrap().to_owned();
    let secret = created.data()["clientSecret"].as_str().unwrap().to_owned();
    let token_from_b = || {
        r.client
            .post(format!("{b}/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    // B has read the client (and cached it).
    assert_eq!(token_from_b().await.unwrap().status(), StatusCode::OK);

    let deleted = r
        .call(
            a,
            "DELETE",
            &format!("/v1/admin/clients/{id}"),
            Some(&admin.access),
            None,
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    let acknowledged = std::time::Instant::now();
    loop {
        let status = token_from_b().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            acknowledged.elapsed() < std::time::Duration::from_secs(1),
            "B still issues tokens to the deleted client"
        );
        tokio::task::yield_now().await;
    }
}

/// A suspension or a demotion made on A holds on B within 1 s, although B keeps a copy of the
/// user in its cache (SIGIL_CACHE_TTL, 500 ms, in these replicas): the demoted admin's admin
/// rights (read from the cached user) and the suspended user's token (whose sessions the
/// suspension ended) are refused there.
#[tokio::test]
async fn a_suspension_or_demotion_on_one_replica_holds_on_the_other_within_a_second() {
    let r = Replicas::start().await;
    let (a, b) = (r.a.base.as_str(), r.b.base.as_str());
    let r = &r;
    let sign_in = |username: String, password: String| async move {
        let reply = r
            .call(
                a,
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        tokens(&reply).access
    };
    let admin = sign_in("admin".into(), sigil_tests::ADMIN_PASSWORD.into()).await;
    let mut ids = Vec::new();
    let mut users = Vec::new();
    for role in ["admin", "user"] {
        let user = TestUser::random();
        let created = r
            .call(
                a,
                "POST",
                "/v1/admin/users",
                Some(&admin),
                Some(json!({"email": user.email, "username": user.username,
                            "password": user.password, "roles": [role]})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        ids.push(created.data()["id"].as_str().unwrap().to_owned());
        users.push(sign_in(user.username.clone(), user.password.clone()).await);
    }
    let (demoted, suspended) = (&users[0], &users[1]);

    // B has read both users (and cached them).
    let admin_list = || r.call(b, "GET", "/v1/admin/users", Some(demoted), None);
    let profile = || r.call(b, "GET", "/v1/users/me", Some(suspended), None);
    assert_eq!(admin_list().await.status, StatusCode::OK);
    assert_eq!(profile().await.status, StatusCode::OK);

    for (id, change) in [
        (&ids[0], json!({"roles": ["user"]})),
        (&ids[1], json!({"status": "suspended"})),
    ] {
        let changed = r
            .call(
                a,
                "PUT",
                &format!("/v1/admin/users/{id}"),
                Some(&admin),
                Some(change),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    }
    let acknowledged = std::time::Instant::now();
    let mut pending = (true, true);
    while pending != (false, false) {
        if pending.0 {
            let status = admin_list().await.status;
            pending.0 = status != StatusCode::FORBIDDEN;
            assert!(!pending.0 || status == StatusCode::OK, "{status}");
        }
        if pending.1 {
            let status = profile().await.status;
            pending.1 = status == StatusCode::OK;
        }
        assert!(
            acknowledged.elapsed() < std::time::Duration::from_secs(1),
            "B still honours the old user: (demoted admin allowed, suspended user allowed) = {pending:?}"
        );
        tokio::task::yield_now().await;
    }
    // Refused for the right reasons.
    admin_list()
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    profile().await.assert_error(401, "TOKEN_REVOKED");
}

/// An emergency rotation on A (the active key revoked) holds on B within 1 s: B stops
/// accepting the revoked key's tokens, and accepts the new key's.
#[tokio::test]
async fn a_key_revoked_on_one_replica_stops_verifying_on_the_other_within_a_second() {
    let r = Replicas::start().await;
    let (a, b) = (r.a.base.as_str(), r.b.base.as_str());
    let r = &r;
    let login = || {
        r.call(
            a,
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": sigil_tests::ADMIN_PASSWORD})),
        )
    };
    let old = tokens(&login().await).access;
    let me_on_b =
        |token: String| async move { r.call(b, "GET", "/v1/users/me", Some(&token), None).await };
    assert_eq!(me_on_b(old.clone()).await.status, StatusCode::OK);

    let rotated = r
        .call(
            a,
            "POST",
            "/v1/admin/keys/rotate",
            Some(&old),
            Some(json!({"revokeCurrent": true})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let acknowledged = std::time::Instant::now();
    loop {
        let reply = me_on_b(old.clone()).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            reply.assert_error(401, "INVALID_TOKEN");
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            acknowledged.elapsed() < std::time::Duration::from_secs(1),
            "B still accepts tokens of the key A revoked"
        );
        tokio::task::yield_now().await;
    }
    let fresh = tokens(&login().await).access;
    assert_eq!(me_on_b(fresh).await.status, StatusCode::OK);
}
