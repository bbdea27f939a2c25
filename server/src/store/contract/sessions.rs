//! The contract for `SessionStore`: creation and the cap, rotation and reuse, expiry, revocation.

use super::fixtures::*;

pub async fn sessions_create_get_list(stores: &Stores) {
    let user_id = Uuid::new_v4();
    let t = now();
    let a = session(user_id, "digest-a", t, DAY);
    let b = session(user_id, "digest-b", t + Duration::from_secs(1), DAY);
    assert!(
        stores
            .sessions
            .create_session(&a, 5, t)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .sessions
            .create_session(&b, 5, t)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        stores
            .sessions
            .get_session(user_id, &a.id, t)
            .await
            .unwrap(),
        Some(a.clone())
    );
    let listed: Vec<String> = stores
        .sessions
        .list_sessions(user_id, t)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![a.id.clone(), b.id.clone()]);
    assert!(
        stores
            .sessions
            .list_sessions(Uuid::new_v4(), t)
            .await
            .unwrap()
            .is_empty()
    );
    let found = stores
        .sessions
        .find_by_refresh("digest-b", t)
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.id), Some(b.id));
    assert_eq!(
        stores.sessions.find_by_refresh("nope", t).await.unwrap(),
        None
    );
}

pub async fn sessions_cap_evicts_oldest(stores: &Stores) {
    let user_id = Uuid::new_v4();
    let t = now();
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let s = session(
            user_id,
            &format!("cap-{i}"),
            t + Duration::from_secs(i),
            DAY,
        );
        stores.sessions.create_session(&s, 3, t).await.unwrap();
        ids.push(s.id);
    }
    let newest = session(user_id, "cap-3", t + Duration::from_secs(3), DAY);
    let evicted = stores.sessions.create_session(&newest, 3, t).await.unwrap();
    assert_eq!(evicted, vec![ids[0].clone()]);
    assert_eq!(
        stores
            .sessions
            .get_session(user_id, &ids[0], t)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .sessions
            .list_sessions(user_id, t)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn sessions_rotation_outcomes(stores: &Stores) {
    let t = now();
    let s = session(Uuid::new_v4(), "r0", t, DAY);
    stores.sessions.create_session(&s, 5, t).await.unwrap();

    let later = t + Duration::from_secs(60);
    let RefreshOutcome::Rotated(rotated) = stores
        .sessions
        .rotate_refresh("r0", "r1", later)
        .await
        .unwrap()
    else {
        panic!("current token must rotate");
    };
    assert_eq!(rotated.refresh_digest, "r1");
    assert_eq!(
        rotated.expires_at,
        later + DAY,
        "rotation slides the expiry"
    );
    assert_eq!(rotated.last_activity, later);

    assert_eq!(
        stores
            .sessions
            .rotate_refresh("unknown", "x", later)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
    // Replaying r0 is reuse: the session dies.
    assert_eq!(
        stores
            .sessions
            .rotate_refresh("r0", "r2", later)
            .await
            .unwrap(),
        RefreshOutcome::Reused {
            session_id: s.id.clone(),
            user_id: s.user_id
        }
    );
    assert_eq!(
        stores
            .sessions
            .get_session(s.user_id, &s.id, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .sessions
            .rotate_refresh("r1", "r3", later)
            .await
            .unwrap(),
        RefreshOutcome::Revoked
    );
}

/// Refreshing slides the expiry but never past the session's absolute end; after the end the
/// token is dead however often it was used.
pub async fn sessions_rotation_stops_at_the_absolute_end(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    let s = SessionRecord {
        ends_at: Some(t + DAY * 2),
        ..session(user_id, "e0", t, DAY)
    };
    stores.sessions.create_session(&s, 5, t).await.unwrap();
    let mut digest = "e0".to_owned();
    for (step, hours) in [(1, 20u64), (2, 40)] {
        let at = t + Duration::from_secs(hours * 3600);
        let next = format!("e{step}");
        let RefreshOutcome::Rotated(rotated) = stores
            .sessions
            .rotate_refresh(&digest, &next, at)
            .await
            .unwrap()
        else {
            panic!("rotation {step} must succeed");
        };
        assert_eq!(rotated.expires_at, (at + DAY).min(t + DAY * 2));
        digest = next;
    }
    let after_end = t + DAY * 2 + Duration::from_secs(1);
    assert_eq!(
        stores
            .sessions
            .rotate_refresh(&digest, "e9", after_end)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
    assert!(
        stores
            .sessions
            .list_sessions(user_id, after_end)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn sessions_concurrent_rotation_has_one_winner(stores: &Stores) {
    let t = now();
    let s = session(Uuid::new_v4(), "c0", t, DAY);
    stores.sessions.create_session(&s, 5, t).await.unwrap();
    let tasks = (0..10).map(|i| {
        let sessions = stores.sessions.clone();
        tokio::spawn(async move {
            sessions
                .rotate_refresh("c0", &format!("c1-{i}"), t)
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<RefreshOutcome> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated(_)))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, RefreshOutcome::Unknown))
    );
}

/// 64 refreshes at once across the sessions of one user all rotate: sessions of one user never
/// contend with each other (on Redis this once answered 503 "too contended").
pub async fn sessions_concurrent_refreshes_of_one_user_all_succeed(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    for i in 0..64 {
        let s = session(user_id, &format!("many-{i}"), t, DAY);
        stores.sessions.create_session(&s, 100, t).await.unwrap();
    }
    let tasks = (0..64).map(|i| {
        let sessions = stores.sessions.clone();
        tokio::spawn(async move {
            sessions
                .rotate_refresh(&format!("many-{i}"), &format!("many-{i}-next"), t)
                .await
        })
    });
    let outcomes = futures_util::future::join_all(tasks).await;
    for outcome in outcomes {
        let outcome = outcome.unwrap();
        assert!(
            matches!(outcome, Ok(RefreshOutcome::Rotated(_))),
            "{outcome:?}"
        );
    }
    let live = stores.sessions.list_sessions(user_id, t).await.unwrap();
    assert_eq!(live.len(), 64);
    assert!(live.iter().all(|s| s.refresh_digest.ends_with("-next")));
}

pub async fn sessions_expire(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    let s = session(user_id, "e0", t, Duration::from_secs(60));
    stores.sessions.create_session(&s, 5, t).await.unwrap();
    let after = t + Duration::from_secs(61);
    assert_eq!(
        stores
            .sessions
            .get_session(user_id, &s.id, after)
            .await
            .unwrap(),
        None
    );
    assert!(
        stores
            .sessions
            .list_sessions(user_id, after)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        stores.sessions.find_by_refresh("e0", after).await.unwrap(),
        None
    );
    assert_ne!(
        std::mem::discriminant(
            &stores
                .sessions
                .rotate_refresh("e0", "e1", after)
                .await
                .unwrap()
        ),
        std::mem::discriminant(&RefreshOutcome::Rotated(s.clone()))
    );
    stores
        .sessions
        .block_jti("j-old", t + Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        !stores
            .sessions
            .is_jti_blocked("j-old", after)
            .await
            .unwrap()
    );
    // Sweeping is housekeeping: whatever it removes, reads after it agree.
    stores.sessions.sweep_expired(after).await.unwrap();
    assert_eq!(
        stores
            .sessions
            .get_session(user_id, &s.id, after)
            .await
            .unwrap(),
        None
    );
    assert!(
        stores
            .sessions
            .list_sessions(user_id, after)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn sessions_revocation(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    let a = session(user_id, "v-a", t, DAY);
    let b = session(user_id, "v-b", t, DAY);
    let c = session(user_id, "v-c", t, DAY);
    for s in [&a, &b, &c] {
        stores.sessions.create_session(s, 5, t).await.unwrap();
    }
    assert_eq!(
        stores
            .sessions
            .revoke_session(user_id, &a.id)
            .await
            .unwrap()
            .map(|s| s.id),
        Some(a.id.clone())
    );
    assert_eq!(
        stores
            .sessions
            .revoke_session(user_id, &a.id)
            .await
            .unwrap(),
        None
    );
    // Another user's id never reaches this user's session.
    assert_eq!(
        stores
            .sessions
            .revoke_session(Uuid::new_v4(), &b.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        stores
            .sessions
            .get_session(Uuid::new_v4(), &b.id, t)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        stores.sessions.rotate_refresh("v-a", "x", t).await.unwrap(),
        RefreshOutcome::Revoked
    );
    let mut revoked = stores
        .sessions
        .revoke_user_sessions(user_id, Some(&b.id))
        .await
        .unwrap();
    revoked.sort();
    assert_eq!(revoked, vec![c.id.clone()]);
    let left: Vec<String> = stores
        .sessions
        .list_sessions(user_id, t)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![b.id.clone()]);
    assert_eq!(
        stores
            .sessions
            .revoke_user_sessions(user_id, None)
            .await
            .unwrap(),
        vec![b.id]
    );
}

/// Deleting a client ends its sessions across all users, and only its sessions.
pub async fn sessions_revoked_with_their_client(stores: &Stores) {
    let t = now();
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let client = format!("app-{}", Uuid::new_v4().simple());
    let of_client = |user, digest: &str| SessionRecord {
        client_id: client.clone(),
        ..session(user, digest, t, DAY)
    };
    let ada_app = of_client(ada, "c-ada");
    let bob_app = of_client(bob, "c-bob");
    let ada_own = session(ada, "c-own", t, DAY);
    for s in [&ada_app, &bob_app, &ada_own] {
        stores.sessions.create_session(s, 5, t).await.unwrap();
    }
    assert_eq!(
        stores
            .sessions
            .revoke_client_sessions(&client)
            .await
            .unwrap(),
        2
    );
    assert!(
        stores
            .sessions
            .get_session(bob, &bob_app.id, t)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        stores
            .sessions
            .rotate_refresh("c-ada", "c-ada-2", t)
            .await
            .unwrap(),
        RefreshOutcome::Revoked
    );
    let left: Vec<String> = stores
        .sessions
        .list_sessions(ada, t)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![ada_own.id]);
    assert_eq!(
        stores
            .sessions
            .revoke_client_sessions(&client)
            .await
            .unwrap(),
        0
    );
}

/// The bearer check's one read answers as the two reads it replaces would.
pub async fn bearer_state_matches_its_parts(stores: &Stores) {
    let t = now();
    let user_id = Uuid::new_v4();
    let live = session(user_id, "digest-bearer", t, DAY);
    stores.sessions.create_session(&live, 5, t).await.unwrap();
    stores
        .sessions
        .block_jti("j-blocked", t + Duration::from_secs(30))
        .await
        .unwrap();
    let read = |jti: &'static str, user: Uuid, sid: String, at| async move {
        stores
            .sessions
            .bearer_state(jti, user, &sid, at)
            .await
            .unwrap()
    };
    let found = read("j-free", user_id, live.id.clone(), t).await;
    assert!(!found.jti_blocked);
    assert_eq!(found.session.as_ref().map(|s| &s.id), Some(&live.id));
    let blocked = read("j-blocked", user_id, live.id.clone(), t).await;
    assert!(blocked.jti_blocked);
    assert!(
        blocked.session.is_some(),
        "the session is read whatever the jti"
    );
    assert_eq!(
        read("j-free", user_id, "missing".into(), t).await.session,
        None
    );
    assert_eq!(
        read("j-free", Uuid::new_v4(), live.id.clone(), t)
            .await
            .session,
        None,
        "another user's session id"
    );
    let later = t + DAY + Duration::from_secs(1);
    let expired = read("j-blocked", user_id, live.id.clone(), later).await;
    assert_eq!(expired.session, None, "expired");
    assert!(!expired.jti_blocked, "the block ends with the token");
}

pub async fn jti_blocking(stores: &Stores) {
    let t = now();
    stores
        .sessions
        .block_jti("j1", t + Duration::from_secs(30))
        .await
        .unwrap();
    assert!(stores.sessions.is_jti_blocked("j1", t).await.unwrap());
    assert!(!stores.sessions.is_jti_blocked("j2", t).await.unwrap());
    assert!(
        !stores
            .sessions
            .is_jti_blocked("j1", t + Duration::from_secs(31))
            .await
            .unwrap()
    );
}

pub async fn sessions_touch(stores: &Stores) {
    let t = now();
    let s = session(Uuid::new_v4(), "t0", t, DAY);
    stores.sessions.create_session(&s, 5, t).await.unwrap();
    let later = t + Duration::from_secs(120);
    stores
        .sessions
        .touch_session(s.user_id, &s.id, later)
        .await
        .unwrap();
    let touched = stores
        .sessions
        .get_session(s.user_id, &s.id, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_activity, later);
    assert_eq!(touched.refresh_digest, "t0", "touch changes nothing else");
    assert_eq!(touched.expires_at, s.expires_at);
    // Touching someone else's or a missing session changes nothing and is no error.
    stores
        .sessions
        .touch_session(Uuid::new_v4(), &s.id, later)
        .await
        .unwrap();
    stores
        .sessions
        .touch_session(s.user_id, "missing", later)
        .await
        .unwrap();
}
