//! Signing-key lifecycle: scheduled and on-demand rotation, emergency revocation, and the
//! `RemoteJwks` verifier relying services use.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_keys::{RemoteJwks, VerifyError, VerifyOptions};
use sigil_tests::{TestApp, TestUser};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn published(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn remote(app: &TestApp) -> RemoteJwks {
    let issuer = app.state.config.issuer.clone();
    RemoteJwks::new(
        app.url("/.well-known/jwks.json"),
        VerifyOptions::new(&issuer, &issuer).with_typ("at+jwt"),
    )
}

/// next -> active -> retiring -> retired, driven by the clock.
#[tokio::test]
async fn scheduled_rotation_lifecycle() {
    let app = TestApp::spawn_with(|c| {
        c.key_rotation_period = Duration::from_secs(3600);
        c.jwks_max_age = Duration::from_secs(60);
    })
    .await;
    let (user, before) = app.signed_in_user().await;
    let first_kid = kid(&before.access);
    assert_eq!(
        published(&app.get("/.well-known/jwks.json", None).await.body),
        std::slice::from_ref(&first_kid)
    );

    // Two JWKS lifetimes before the period ends, the next key is published but does not sign.
    app.advance_clock(Duration::from_secs(3600 - 120 + 1));
    assert!(
        app.state
            .keyring
            .rotate_if_due(app.state.clock.now())
            .await
            .unwrap()
    );
    let jwks = published(&app.get("/.well-known/jwks.json", None).await.body);
    assert_eq!(jwks.len(), 2);
    let next_kid = jwks.iter().find(|k| **k != first_kid).unwrap().clone();
    let late_old = app.login_ok(&user).await;
    assert_eq!(kid(&late_old.access), first_kid);
    assert!(
        !app.state
            .keyring
            .rotate_if_due(app.state.clock.now())
            .await
            .unwrap(),
        "one rotation per period"
    );

    // At the period's end it signs; the old key retires but stays published.
    app.advance_clock(Duration::from_secs(120));
    let after = app.login_ok(&user).await;
    assert_eq!(kid(&after.access), next_kid);
    assert_eq!(
        published(&app.get("/.well-known/jwks.json", None).await.body).len(),
        2
    );
    assert_eq!(
        app.me(&late_old.access).await.status,
        StatusCode::OK,
        "old tokens still verify"
    );
    let admin = app.admin_token().await;
    let keys = app
        .request(Method::GET, "/v1/admin/keys", Some(&admin), None)
        .await;
    let states: Vec<&str> = keys
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["retiring", "active"]);

    // Once every token it signed has expired (15 min + 60 s skew), it is unpublished.
    app.advance_clock(Duration::from_secs(15 * 60 + 61));
    assert_eq!(
        published(&app.get("/.well-known/jwks.json", None).await.body),
        [next_kid]
    );
}

/// On-demand rotation pre-publishes; emergency rotation drops the active key at once.
#[tokio::test]
async fn on_demand_and_emergency_rotation() {
    let app = TestApp::spawn_with(|c| c.jwks_max_age = Duration::from_secs(30)).await;
    let (user, session) = app.signed_in_user().await;
    let admin = app.admin_token().await;
    let old_kid = kid(&session.access);
    let verifier = remote(&app);
    assert!(verifier.verify::<Value>(&session.access).await.is_ok());

    app.request(
        Method::POST,
        "/v1/admin/keys/rotate",
        Some(&session.access),
        None,
    )
    .await
    .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let rotated = app
        .request(
            Method::POST,
            "/v1/admin/keys/rotate",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let keys = rotated.data().as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["state"], json!("next"));
    let again = app
        .request(Method::POST, "/v1/admin/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(
        again.data().as_array().unwrap().len(),
        2,
        "a pending next key is reused"
    );
    assert_eq!(
        kid(&app.login_ok(&user).await.access),
        old_kid,
        "the next key does not sign yet"
    );

    // Emergency: the active key is revoked and a new one signs at once.
    let emergency = app
        .request(
            Method::POST,
            "/v1/admin/keys/rotate",
            Some(&admin),
            Some(json!({"revokeCurrent": true})),
        )
        .await;
    assert_eq!(emergency.status, StatusCode::OK);
    let states: Vec<(String, String)> = emergency
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().into(),
                k["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        states.contains(&(old_kid.clone(), "revoked".into())),
        "{states:?}"
    );
    app.me(&session.access)
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert!(!published(&app.get("/.well-known/jwks.json", None).await.body).contains(&old_kid));
    let fresh = app.login_ok(&user).await;
    assert_ne!(kid(&fresh.access), old_kid);
    assert_eq!(app.me(&fresh.access).await.status, StatusCode::OK);

    // The relying service's cached set still knew the old key; an unknown kid makes it
    // refetch once, and after that refetch the revoked key's tokens fail.
    assert!(
        verifier.verify::<Value>(&fresh.access).await.is_ok(),
        "unknown kid triggers a refetch"
    );
    assert!(verifier.verify::<Value>(&session.access).await.is_err());
}

/// The remote verifier refuses forged tokens and tokens of another issuer.
#[tokio::test]
async fn remote_verifier_refuses_forgeries() {
    let app = TestApp::spawn().await;
    let (_, session) = app.signed_in_user().await;
    let verifier = remote(&app);
    assert!(verifier.verify::<Value>(&session.access).await.is_ok());
    let other_issuer = RemoteJwks::new(
        app.url("/.well-known/jwks.json"),
        VerifyOptions::new(
            "https://someone-else.example.com",
            "https://someone-else.example.com",
        ),
    );
    assert!(matches!(
        other_issuer.verify::<Value>(&session.access).await,
        Err(sigil_keys::RemoteError::Refused(VerifyError::WrongIssuer))
    ));
    let parts: Vec<&str> = session.access.split('.').collect();
    for forged in [
        format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0", parts[1]
        ),
        format!("{}.{}.AAAA", parts[0], parts[1]),
        "not-a-token".to_owned(),
    ] {
        assert!(verifier.verify::<Value>(&forged).await.is_err(), "{forged}");
    }
    let stranger = sigil_keys::KeyPair::generate(sigil_keys::KeySize::Rsa2048).unwrap();
    let claims: Value = sigil_keys::unverified_claims(&session.access).unwrap();
    let foreign = stranger.signer().unwrap().sign("at+jwt", &claims).unwrap();
    assert!(verifier.verify::<Value>(&foreign).await.is_err());
}

/// Rotating every 3 s while two replicas mint tokens and a remote verifier checks every one:
/// no token ever fails.
#[tokio::test]
async fn rotation_under_load_with_two_replicas() {
    let (mongo, redis) = sigil_tests::backend::service_urls();
    let storage = sigil_tests::backend::isolated_storage(&mongo, &redis);
    let fast = |c: &mut sigil_server::config::Config| {
        c.key_rotation_period = Duration::from_secs(3);
        c.jwks_max_age = Duration::from_secs(1);
    };
    let a = TestApp::spawn_on(storage, fast).await;
    let b = a.spawn_replica(fast).await;
    let user = TestUser::random();
    assert_eq!(a.register(&user).await.status, StatusCode::CREATED);
    let verifier = remote(&a);
    let mut kids = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut minted = 0;
    while Instant::now() < deadline && minted < 2_000 {
        let (minter, other) = if minted % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let token = minter.login_ok(&user).await.access;
        kids.insert(kid(&token));
        if let Err(e) = verifier.verify::<Value>(&token).await {
            panic!("token {minted} from a rotating ring failed remote verification: {e}");
        }
        assert_eq!(
            other.me(&token).await.status,
            StatusCode::OK,
            "token {minted} refused by the other replica"
        );
        minted += 1;
    }
    assert!(
        kids.len() >= 3,
        "only {} keys signed in 10 s of 3 s rotations",
        kids.len()
    );
    assert_eq!(
        a.get("/.well-known/jwks.json", None).await.body,
        b.get("/.well-known/jwks.json", None).await.body
    );
}
