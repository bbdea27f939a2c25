//! The contract for one-time tokens, single-use codes and rate-limit counters.

use super::fixtures::*;

pub async fn one_time_tokens(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    let hour = Duration::from_secs(3600);
    let verify = token("ott-verify", TokenPurpose::VerifyEmail, user_id, t, hour);
    stores.tokens.insert_token(&verify).await.unwrap();

    // The wrong purpose finds nothing and uses nothing up.
    assert_eq!(
        stores
            .tokens
            .consume_token("ott-verify", TokenPurpose::ResetPassword, t)
            .await
            .unwrap(),
        ConsumeOutcome::Unknown
    );
    assert_eq!(
        stores
            .tokens
            .peek_token("ott-verify", TokenPurpose::VerifyEmail, t)
            .await
            .unwrap(),
        ConsumeOutcome::Consumed(verify.clone())
    );
    assert_eq!(
        stores
            .tokens
            .consume_token("ott-verify", TokenPurpose::VerifyEmail, t)
            .await
            .unwrap(),
        ConsumeOutcome::Consumed(verify)
    );
    assert_eq!(
        stores
            .tokens
            .consume_token("ott-verify", TokenPurpose::VerifyEmail, t)
            .await
            .unwrap(),
        ConsumeOutcome::Unknown,
        "single use"
    );

    let expiring = token("ott-old", TokenPurpose::ResetPassword, user_id, t, hour);
    stores.tokens.insert_token(&expiring).await.unwrap();
    let late = t + hour + Duration::from_secs(1);
    assert_eq!(
        stores
            .tokens
            .peek_token("ott-old", TokenPurpose::ResetPassword, late)
            .await
            .unwrap(),
        ConsumeOutcome::Expired
    );
    assert_eq!(
        stores
            .tokens
            .consume_token("ott-old", TokenPurpose::ResetPassword, late)
            .await
            .unwrap(),
        ConsumeOutcome::Expired
    );

    for digest in ["r1", "r2"] {
        stores
            .tokens
            .insert_token(&token(
                digest,
                TokenPurpose::ResetPassword,
                user_id,
                t,
                hour,
            ))
            .await
            .unwrap();
    }
    stores
        .tokens
        .insert_token(&token("v1", TokenPurpose::VerifyEmail, user_id, t, hour))
        .await
        .unwrap();
    assert_eq!(
        stores
            .tokens
            .revoke_tokens(user_id, TokenPurpose::ResetPassword)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        stores
            .tokens
            .consume_token("r1", TokenPurpose::ResetPassword, t)
            .await
            .unwrap(),
        ConsumeOutcome::Unknown
    );
    assert!(matches!(
        stores
            .tokens
            .consume_token("v1", TokenPurpose::VerifyEmail, t)
            .await
            .unwrap(),
        ConsumeOutcome::Consumed(_)
    ));
}

pub async fn one_time_tokens_single_use_under_concurrency(stores: &Stores) {
    let t = now();
    stores
        .tokens
        .insert_token(&token(
            "race",
            TokenPurpose::VerifyEmail,
            Uuid::new_v4(),
            t,
            DAY,
        ))
        .await
        .unwrap();
    let tasks = (0..10).map(|_| {
        let tokens = stores.tokens.clone();
        tokio::spawn(async move {
            tokens
                .consume_token("race", TokenPurpose::VerifyEmail, t)
                .await
                .unwrap()
        })
    });
    let consumed = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|o| matches!(o, Ok(ConsumeOutcome::Consumed(_))))
        .count();
    assert_eq!(consumed, 1);
}

pub async fn rate_limits(stores: &Stores) {
    let t = now();
    let window = Duration::from_secs(3600);
    let key = format!("login:{}", Uuid::new_v4());
    for expected_remaining in [2, 1, 0] {
        let d = stores.rate_limits.hit(&key, 1, 3, window, t).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, expected_remaining);
        assert_eq!(d.limit, 3);
        assert!(d.reset_at > t && d.reset_at <= t + window);
    }
    let refused = stores.rate_limits.hit(&key, 1, 3, window, t).await.unwrap();
    assert!(!refused.allowed);
    // Another key has its own budget; the next window starts afresh.
    assert!(
        stores
            .rate_limits
            .hit(&format!("{key}-other"), 1, 3, window, t)
            .await
            .unwrap()
            .allowed
    );
    let next = stores
        .rate_limits
        .hit(&key, 1, 3, window, refused.reset_at)
        .await
        .unwrap();
    assert!(next.allowed);
    assert_eq!(next.remaining, 2);
}

/// Concurrent hits on one key: exactly `limit` are allowed, by the exact counters and by the
/// coarse ones (one replica counting locally refuses at the same hit).
pub async fn rate_limits_count_concurrent_hits(stores: &Stores) {
    for limits in [&stores.rate_limits, &stores.coarse_rate_limits] {
        assert_eq!(concurrent_allowed(limits, 30, 10).await, 10);
        assert_eq!(concurrent_allowed(limits, 300, 100).await, 100);
    }
}

async fn concurrent_allowed(
    limits: &std::sync::Arc<dyn crate::store::RateLimitStore>,
    hits: usize,
    limit: u64,
) -> usize {
    let t = now();
    let key = format!("general:{}", Uuid::new_v4());
    let tasks = (0..hits).map(|_| {
        let limits = limits.clone();
        let key = key.clone();
        tokio::spawn(async move {
            limits
                .hit(&key, 1, limit, Duration::from_secs(600), t)
                .await
                .unwrap()
                .allowed
        })
    });
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|a| *a.as_ref().unwrap())
        .count()
}

pub async fn codes(stores: &Stores) {
    let t = now();
    let key = format!("mfa:{}", Uuid::new_v4());
    stores
        .codes
        .put_code(&key, "{\"a\":1}", t + Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(
        stores.codes.peek_code(&key, t).await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(
        stores.codes.peek_code(&key, t).await.unwrap().as_deref(),
        Some("{\"a\":1}"),
        "peek keeps it"
    );
    assert_eq!(
        stores
            .codes
            .peek_code(&key, t + Duration::from_secs(301))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(stores.codes.peek_code("mfa:none", t).await.unwrap(), None);
    // Of ten concurrent takes, one gets the value.
    let tasks = (0..10).map(|_| {
        let codes = stores.codes.clone();
        let key = key.clone();
        tokio::spawn(async move { codes.take_code(&key, t).await.unwrap() })
    });
    let taken = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(taken, 1);
    assert_eq!(stores.codes.peek_code(&key, t).await.unwrap(), None);
    let late = format!("mfa:{}", Uuid::new_v4());
    stores
        .codes
        .put_code(&late, "x", t + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        stores
            .codes
            .take_code(&late, t + Duration::from_secs(6))
            .await
            .unwrap(),
        None,
        "an expired code cannot be taken"
    );

    // A new code is stored once: of ten concurrent puts one wins, until it expires.
    let once = format!("jti:{}", Uuid::new_v4());
    let tasks = (0..10).map(|_| {
        let codes = stores.codes.clone();
        let once = once.clone();
        tokio::spawn(async move {
            codes
                .put_new_code(&once, "1", t + Duration::from_secs(60), t)
                .await
                .unwrap()
        })
    });
    let stored = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(stored, 1);
    let later = t + Duration::from_secs(61);
    assert!(
        stores
            .codes
            .put_new_code(&once, "2", later + Duration::from_secs(60), later)
            .await
            .unwrap(),
        "an expired code no longer blocks"
    );
    assert_eq!(
        stores
            .codes
            .peek_code(&once, later)
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
}
