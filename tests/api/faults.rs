//! Redis, then MongoDB, stop while requests flow: nothing is let through unchecked, nothing
//! answers 500, and the same server recovers by itself once they are back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::services::Service;
use sigil_tests::{TestApp, TestUser, read, tokens};

/// Sends /v1/users/me with the token in a loop until told to stop (at most 20,000 requests)
/// and returns every status seen.
fn background_traffic(
    app: &TestApp,
    access: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    let client = sigil_tests::client();
    let url = app.url("/v1/users/me");
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) && seen.len() < 20_000 {
            let reply = read(client.get(&url).bearer_auth(&access).send().await.unwrap()).await;
            seen.push(reply.status.as_u16());
        }
        seen
    })
}

#[tokio::test]
async fn outages_fail_closed_and_recover() {
    let mut redis = Service::redis().await;
    let mut mongo = Service::mongo().await;
    let storage = sigil_tests::backend::isolated_storage(&mongo.url(), &redis.url());
    let app = TestApp::spawn_on(storage, |_| {}).await;
    let user = TestUser::random();
    assert_eq!(app.register(&user).await.status, StatusCode::CREATED);
    let session = app.login_ok(&user).await;

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = background_traffic(&app, session.access.clone(), stop.clone());

    // Redis down: sessions and revocations cannot be checked, so nothing passes.
    redis.kill().await;
    app.me(&session.access)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    app.login(&user)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    app.refresh(&session.refresh)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        app.get("/health/ready", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let health = app.get("/health", None).await;
    assert_eq!(health.body["services"]["redis"], json!("unhealthy"));
    assert_eq!(health.body["services"]["database"], json!("healthy"));

    // Redis back (empty: it keeps no data on disk here): the same server serves again.
    redis.start().await;
    let fresh = tokens(&app.login(&user).await);
    assert_eq!(app.me(&fresh.access).await.status, StatusCode::OK);
    assert_eq!(app.get("/health/ready", None).await.status, StatusCode::OK);

    // MongoDB down: users cannot be read, so logins and token checks answer 503. A bearer
    // check may use the copy of the user read less than SIGIL_CACHE_TTL ago (docs/storage.md),
    // so it fails closed once that copy is stale, and stays so.
    mongo.kill().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let me = app.me(&fresh.access).await;
        if me.status == StatusCode::SERVICE_UNAVAILABLE {
            me.assert_error(503, "SERVICE_UNAVAILABLE");
            break;
        }
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert!(
            std::time::Instant::now() < deadline,
            "bearer checks still pass well after the cache ttl"
        );
        tokio::task::yield_now().await;
    }
    app.login(&user)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    app.register(&TestUser::random())
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        app.get("/health", None).await.body["services"]["database"],
        json!("unhealthy")
    );

    mongo.start().await;
    let again = app.login_ok(&user).await;
    assert_eq!(app.me(&again.access).await.status, StatusCode::OK);

    stop.store(true, Ordering::Relaxed);
    let seen = traffic.await.unwrap();
    assert!(!seen.is_empty());
    // The old token: 200 before the outage, 503 while a store was down, and 401 once Redis
    // came back without its sessions. Never a 500, never a 200 after Redis lost the session.
    assert!(seen.iter().all(|s| [200, 401, 503].contains(s)), "{seen:?}");
    let first_refusal = seen.iter().position(|s| *s != 200).unwrap_or(seen.len());
    assert!(
        seen[first_refusal..].iter().all(|s| *s != 200),
        "a request passed unchecked: {seen:?}"
    );
}
