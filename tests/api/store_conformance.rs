//! One contract for every storage backend. Each case takes `&Stores` and knows nothing about
//! the backend; `backends!` runs every case against every backend.

use std::time::Duration;

use sigil_server::config::StorageConfig;
use sigil_server::domain::{Login, ProfileUpdate, Role, UserRecord, UserStatus};
use sigil_server::store::{
    AuditEvent, AuditFilter, ConsumeOutcome, OneTimeTokenRecord, TokenPurpose,
};
use sigil_server::store::{
    Conflict, EmbeddedStore, LockoutPolicy, MongoStore, RedisStore, RefreshOutcome, SessionRecord,
    SigningKeyRecord, StoreError, Stores,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// A backend under test and whatever must live as long as it.
struct Backend {
    stores: Stores,
    _guard: Box<dyn std::any::Any + Send>,
}

impl Backend {
    /// MongoDB + Redis from the test script, with a database and key prefix of their own.
    async fn mongo_redis() -> Self {
        let (mongo_uri, redis_url) = sigil_tests::backend::service_urls();
        let StorageConfig::External { mongo, redis, .. } =
            sigil_tests::backend::isolated_storage(&mongo_uri, &redis_url)
        else {
            unreachable!("isolated_storage is external")
        };
        let mongo_store = MongoStore::connect(&mongo).await.unwrap();
        mongo_store.prepare().await.unwrap();
        let redis_store = RedisStore::connect(&redis).unwrap();
        Self {
            stores: Stores::external(mongo_store, redis_store, "test".into()),
            _guard: Box::new(()),
        }
    }

    fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("conformance.redb")).unwrap();
        Self {
            stores: Stores::embedded(store),
            _guard: Box::new(dir),
        }
    }
}

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::embedded();
                    super::$case(&backend.stores).await;
                }
            )*
        }
        mod mongo_redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::mongo_redis().await;
                    super::$case(&backend.stores).await;
                }
            )*
        }
    };
}

backends!(
    users_insert_and_find,
    users_unique_case_insensitive,
    users_concurrent_inserts_have_one_winner,
    users_profile_and_password,
    users_lockout,
    sessions_create_get_list,
    sessions_cap_evicts_oldest,
    sessions_rotation_outcomes,
    sessions_rotation_stops_at_the_absolute_end,
    sessions_concurrent_rotation_has_one_winner,
    sessions_expire,
    sessions_revocation,
    sessions_revoked_with_their_client,
    jti_blocking,
    keys_insert_and_list,
    keys_generation_race_has_one_winner,
    users_status_unlock_and_devices,
    sessions_touch,
    one_time_tokens,
    one_time_tokens_single_use_under_concurrency,
    audit_events,
    rate_limits,
    rate_limits_count_concurrent_hits,
    users_update_is_atomic,
    users_guarded_update_keeps_an_admin,
    resources_crud,
    codes,
    clients_and_consents,
    users_listing_filters_sort_and_paging,
    counts_and_sweep,
);

fn now() -> OffsetDateTime {
    // Whole seconds: some backends store timestamps at that precision.
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

fn user(email: &str, username: &str) -> UserRecord {
    let at = now();
    UserRecord {
        id: Uuid::new_v4(),
        email: email.into(),
        email_normalized: email.to_ascii_lowercase(),
        username: username.into(),
        username_normalized: username.to_ascii_lowercase(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        first_name: None,
        last_name: None,
        phone: None,
        status: UserStatus::Active,
        email_verified: false,
        roles: vec![Role::User],
        failed_logins: 0,
        locked_until: None,
        created_at: at,
        updated_at: at,
        last_login: None,
        password_changed_at: at,
        known_devices: Vec::new(),
        mfa: Default::default(),
    }
}

fn session(
    user_id: Uuid,
    digest: &str,
    created_at: OffsetDateTime,
    ttl: Duration,
) -> SessionRecord {
    SessionRecord {
        id: Uuid::new_v4().to_string(),
        user_id,
        client_id: "sigil".into(),
        refresh_digest: digest.into(),
        created_at,
        last_activity: created_at,
        expires_at: created_at + ttl,
        ttl_secs: ttl.as_secs(),
        ends_at: Some(created_at + ttl * 4),
        auth_time: created_at,
        amr: vec!["pwd".into()],
        remember_me: false,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        scope: Some("openid email".into()),
        resources: vec!["https://api.example.com/".into()],
    }
}

const DAY: Duration = Duration::from_secs(86_400);

async fn users_insert_and_find(stores: &Stores) {
    let alice = user("Alice@Example.com", "Alice");
    stores.users.insert_user(&alice).await.unwrap();
    assert_eq!(
        stores.users.get_user(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    let by_email = stores
        .users
        .find_user(&Login::email("ALICE@example.COM"))
        .await
        .unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(alice.id));
    let by_name = stores
        .users
        .find_user(&Login::username("alice"))
        .await
        .unwrap();
    assert_eq!(by_name.map(|u| u.id), Some(alice.id));
    assert_eq!(
        stores
            .users
            .find_user(&Login::username("bob"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.users.get_user(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(stores.users.count_users().await.unwrap(), 1);
}

async fn users_unique_case_insensitive(stores: &Stores) {
    stores
        .users
        .insert_user(&user("a@example.com", "alpha"))
        .await
        .unwrap();
    let email_taken = stores
        .users
        .insert_user(&user("A@EXAMPLE.COM", "other"))
        .await;
    assert!(matches!(
        email_taken,
        Err(StoreError::Conflict(Conflict::Email))
    ));
    let name_taken = stores
        .users
        .insert_user(&user("b@example.com", "ALPHA"))
        .await;
    assert!(matches!(
        name_taken,
        Err(StoreError::Conflict(Conflict::Username))
    ));
    assert_eq!(stores.users.count_users().await.unwrap(), 1);
}

async fn users_concurrent_inserts_have_one_winner(stores: &Stores) {
    let attempts = (0..20).map(|i| {
        let users = stores.users.clone();
        tokio::spawn(async move {
            users
                .insert_user(&user(&format!("u{i}@example.com"), "same"))
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(wins, 1);
    assert_eq!(stores.users.count_users().await.unwrap(), 1);
}

async fn users_profile_and_password(stores: &Stores) {
    let u = user("p@example.com", "profile");
    stores.users.insert_user(&u).await.unwrap();
    let later = now() + Duration::from_secs(5);
    let update = ProfileUpdate {
        first_name: Some(Some("Ada".into())),
        last_name: None,
        phone: Some(None),
    };
    let updated = stores
        .users
        .update_profile(u.id, &update, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.first_name.as_deref(), Some("Ada"));
    assert_eq!(updated.updated_at, later);
    assert!(
        stores
            .users
            .update_profile(Uuid::new_v4(), &update, later)
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        stores
            .users
            .set_password_hash(u.id, "$new", true, later)
            .await
            .unwrap()
    );
    let stored = stores.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$new");
    assert_eq!(stored.password_changed_at, later);
    let even_later = later + Duration::from_secs(5);
    stores
        .users
        .set_password_hash(u.id, "$rehash", false, even_later)
        .await
        .unwrap();
    let stored = stores.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$rehash");
    assert_eq!(
        stored.password_changed_at, later,
        "a rehash is not a password change"
    );
    assert!(
        !stores
            .users
            .set_password_hash(Uuid::new_v4(), "$x", true, later)
            .await
            .unwrap()
    );
}

async fn users_lockout(stores: &Stores) {
    let u = user("l@example.com", "locky");
    stores.users.insert_user(&u).await.unwrap();
    let policy = LockoutPolicy {
        threshold: 3,
        duration: Duration::from_secs(600),
    };
    let t = now();
    for expected in 1..3 {
        let after = stores
            .users
            .record_login_failure(u.id, t, policy)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.failed_logins, expected);
        assert!(!after.is_locked(t));
    }
    let locked = stores
        .users
        .record_login_failure(u.id, t, policy)
        .await
        .unwrap()
        .unwrap();
    assert!(locked.is_locked(t));
    assert_eq!(locked.locked_until, Some(t + Duration::from_secs(600)));
    // Failures while locked do not extend the lock.
    let still = stores
        .users
        .record_login_failure(u.id, t + Duration::from_secs(1), policy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.locked_until, locked.locked_until);
    assert!(!still.is_locked(t + Duration::from_secs(601)));

    let after = stores
        .users
        .record_login_success(u.id, t, Some("dev-a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.known_devices, vec!["dev-a".to_owned()]);
    let cleared = stores.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((cleared.failed_logins, cleared.locked_until), (0, None));
    assert_eq!(cleared.last_login, Some(t));

    // Concurrent failures are all counted.
    let policy = LockoutPolicy {
        threshold: 100,
        duration: Duration::from_secs(600),
    };
    let tasks = (0..10).map(|_| {
        let users = stores.users.clone();
        tokio::spawn(async move { users.record_login_failure(u.id, t, policy).await })
    });
    futures::future::join_all(tasks).await;
    assert_eq!(
        stores
            .users
            .get_user(u.id)
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        10
    );
}

async fn sessions_create_get_list(stores: &Stores) {
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

async fn sessions_cap_evicts_oldest(stores: &Stores) {
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

async fn sessions_rotation_outcomes(stores: &Stores) {
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
async fn sessions_rotation_stops_at_the_absolute_end(stores: &Stores) {
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

async fn sessions_concurrent_rotation_has_one_winner(stores: &Stores) {
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
    let outcomes: Vec<RefreshOutcome> = futures::future::join_all(tasks)
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

async fn sessions_expire(stores: &Stores) {
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

async fn sessions_revocation(stores: &Stores) {
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
async fn sessions_revoked_with_their_client(stores: &Stores) {
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

async fn jti_blocking(stores: &Stores) {
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

async fn keys_insert_and_list(stores: &Stores) {
    let t = now();
    let key = |kid: &str, generation: u64| SigningKeyRecord {
        kid: kid.into(),
        generation,
        private_key_sealed: format!("sealed-{kid}"),
        created_at: t + Duration::from_secs(generation),
        activate_at: t + Duration::from_secs(generation * 10),
        revoked_at: None,
    };
    assert!(stores.keys.insert_key(&key("k2", 2)).await.unwrap());
    assert!(stores.keys.insert_key(&key("k1", 1)).await.unwrap());
    let mut same_kid = key("k1", 3);
    same_kid.private_key_sealed = "other".into();
    assert!(
        !stores.keys.insert_key(&same_kid).await.unwrap(),
        "kid taken"
    );
    assert!(
        !stores.keys.insert_key(&key("k9", 2)).await.unwrap(),
        "generation taken"
    );
    let listed = stores.keys.list_keys().await.unwrap();
    let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2"], "in generation order");
    assert_eq!(
        listed[0].private_key_sealed, "sealed-k1",
        "insert never overwrites"
    );
    assert_eq!(listed[0].created_at, t + Duration::from_secs(1));
    assert_eq!(listed[1].activate_at, t + Duration::from_secs(20));

    let revoked_at = t + Duration::from_secs(99);
    assert!(stores.keys.revoke_key("k1", revoked_at).await.unwrap());
    assert!(
        stores
            .keys
            .revoke_key("k1", revoked_at + Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(!stores.keys.revoke_key("nope", revoked_at).await.unwrap());
    let listed = stores.keys.list_keys().await.unwrap();
    assert_eq!(
        listed[0].revoked_at,
        Some(revoked_at),
        "the first revocation time stays"
    );
    assert_eq!(listed[1].revoked_at, None);
}

/// Replicas racing to create the same key generation: exactly one wins.
async fn keys_generation_race_has_one_winner(stores: &Stores) {
    let t = now();
    let tasks = (0..8).map(|i| {
        let keys = stores.keys.clone();
        tokio::spawn(async move {
            keys.insert_key(&SigningKeyRecord {
                kid: format!("racer-{i}"),
                generation: 1,
                private_key_sealed: "sealed".into(),
                created_at: t,
                activate_at: t,
                revoked_at: None,
            })
            .await
            .unwrap()
        })
    });
    let wins = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    assert_eq!(stores.keys.list_keys().await.unwrap().len(), 1);
}

async fn users_status_unlock_and_devices(stores: &Stores) {
    let u = user("s@example.com", "statusy");
    stores.users.insert_user(&u).await.unwrap();
    let t = now();
    let verified = stores
        .users
        .set_status(u.id, UserStatus::Suspended, true, t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (verified.status, verified.email_verified),
        (UserStatus::Suspended, true)
    );
    assert!(
        stores
            .users
            .set_status(Uuid::new_v4(), UserStatus::Active, true, t)
            .await
            .unwrap()
            .is_none()
    );

    let policy = LockoutPolicy {
        threshold: 1,
        duration: Duration::from_secs(600),
    };
    let locked = stores
        .users
        .record_login_failure(u.id, t, policy)
        .await
        .unwrap()
        .unwrap();
    assert!(locked.is_locked(t));
    let unlocked = stores.users.unlock(u.id, t).await.unwrap().unwrap();
    assert!(!unlocked.is_locked(t));

    // Devices: most recent last, no repeats, at most 20.
    for i in 0..25 {
        stores
            .users
            .record_login_success(u.id, t, Some(&format!("d{i}")))
            .await
            .unwrap();
    }
    let again = stores
        .users
        .record_login_success(u.id, t, Some("d10"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.known_devices.len(), 20);
    assert_eq!(again.known_devices.last().map(String::as_str), Some("d10"));
    assert_eq!(again.known_devices.first().map(String::as_str), Some("d5"));
    let none = stores
        .users
        .record_login_success(u.id, t, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(none.known_devices, again.known_devices);
}

async fn sessions_touch(stores: &Stores) {
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

fn token(
    digest: &str,
    purpose: TokenPurpose,
    user_id: Uuid,
    at: OffsetDateTime,
    ttl: Duration,
) -> OneTimeTokenRecord {
    OneTimeTokenRecord {
        digest: digest.into(),
        purpose,
        user_id,
        created_at: at,
        expires_at: at + ttl,
    }
}

async fn one_time_tokens(stores: &Stores) {
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

async fn one_time_tokens_single_use_under_concurrency(stores: &Stores) {
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
    let consumed = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|o| matches!(o, Ok(ConsumeOutcome::Consumed(_))))
        .count();
    assert_eq!(consumed, 1);
}

async fn audit_events(stores: &Stores) {
    let t = now();
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let mut ids = Vec::new();
    for (i, (action, actor, target)) in [
        ("login.succeeded", Some(alice), Some(alice)),
        ("login.failed", None, Some(bob)),
        ("admin.user.suspended", Some(alice), Some(bob)),
        ("logout", Some(bob), Some(bob)),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t + Duration::from_secs(i as u64);
        let event = AuditEvent {
            id: AuditEvent::new_id(at),
            at,
            action: action.into(),
            actor_id: actor,
            target_id: target,
            ip: Some("192.0.2.7".into()),
            user_agent: Some("ua".into()),
            request_id: Some(format!("req-{i}")),
            details: serde_json::json!({ "n": i, "nested": { "ok": true } }),
        };
        stores.audit.record_audit(&event).await.unwrap();
        ids.push(event.id);
    }
    let all = stores
        .audit
        .list_audit(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!(
        all[3].details,
        serde_json::json!({ "n": 0, "nested": { "ok": true } })
    );
    assert_eq!(all[3].request_id.as_deref(), Some("req-0"));

    let bobs = stores
        .audit
        .list_audit(
            &AuditFilter {
                user_id: Some(bob),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(bobs.len(), 3, "as actor or as target");
    let failed = stores
        .audit
        .list_audit(
            &AuditFilter {
                action: Some("login.failed".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let window = AuditFilter {
        since: Some(t + Duration::from_secs(1)),
        until: Some(t + Duration::from_secs(3)),
        ..Default::default()
    };
    assert_eq!(stores.audit.list_audit(&window, 10).await.unwrap().len(), 2);
    // Cursor paging: two pages of two.
    let first = stores
        .audit
        .list_audit(&AuditFilter::default(), 2)
        .await
        .unwrap();
    let next = AuditFilter {
        before_id: Some(first[1].id.clone()),
        ..Default::default()
    };
    let second = stores.audit.list_audit(&next, 2).await.unwrap();
    assert_eq!(
        second.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone(), ids[0].clone()]
    );
}

async fn rate_limits(stores: &Stores) {
    let t = now();
    let window = Duration::from_secs(3600);
    let key = format!("login:{}", Uuid::new_v4());
    for expected_remaining in [2, 1, 0] {
        let d = stores.rate_limits.hit(&key, 3, window, t).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, expected_remaining);
        assert_eq!(d.limit, 3);
        assert!(d.reset_at > t && d.reset_at <= t + window);
    }
    let refused = stores.rate_limits.hit(&key, 3, window, t).await.unwrap();
    assert!(!refused.allowed);
    // Another key has its own budget; the next window starts afresh.
    assert!(
        stores
            .rate_limits
            .hit(&format!("{key}-other"), 3, window, t)
            .await
            .unwrap()
            .allowed
    );
    let next = stores
        .rate_limits
        .hit(&key, 3, window, refused.reset_at)
        .await
        .unwrap();
    assert!(next.allowed);
    assert_eq!(next.remaining, 2);
}

async fn rate_limits_count_concurrent_hits(stores: &Stores) {
    let t = now();
    let key = format!("general:{}", Uuid::new_v4());
    let tasks = (0..30).map(|_| {
        let limits = stores.rate_limits.clone();
        let key = key.clone();
        tokio::spawn(async move {
            limits
                .hit(&key, 10, Duration::from_secs(600), t)
                .await
                .unwrap()
                .allowed
        })
    });
    let allowed = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|a| *a.as_ref().unwrap())
        .count();
    assert_eq!(allowed, 10);
}

async fn users_update_is_atomic(stores: &Stores) {
    let u = user("up@example.com", "updater");
    stores.users.insert_user(&u).await.unwrap();
    // Twenty concurrent increments of the TOTP step, each read-modify-write: none is lost.
    let tasks = (0..20).map(|_| {
        let users = stores.users.clone();
        tokio::spawn(async move {
            users
                .update_user(
                    u.id,
                    std::sync::Arc::new(|r: &mut UserRecord| r.mfa.last_totp_step += 1),
                )
                .await
                .unwrap()
        })
    });
    futures::future::join_all(tasks).await;
    let stored = stores.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa.last_totp_step, 20);
    let missing = stores
        .users
        .update_user(Uuid::new_v4(), std::sync::Arc::new(|_: &mut UserRecord| {}))
        .await
        .unwrap();
    assert!(missing.is_none());
}

/// The last-admin rule is checked and written atomically: of two concurrent demotions of the
/// last two admins exactly one goes through, round after round.
async fn users_guarded_update_keeps_an_admin(stores: &Stores) {
    use sigil_server::store::GuardedUpdate;
    let demote = || std::sync::Arc::new(|u: &mut UserRecord| u.roles = vec![Role::User]);
    for round in 0..5 {
        let a = UserRecord {
            roles: vec![Role::Admin],
            ..user(&format!("a{round}@example.com"), &format!("admin_a{round}"))
        };
        let b = UserRecord {
            roles: vec![Role::Admin],
            ..user(&format!("b{round}@example.com"), &format!("admin_b{round}"))
        };
        stores.users.insert_user(&a).await.unwrap();
        stores.users.insert_user(&b).await.unwrap();
        let (first, second) = tokio::join!(
            stores.users.update_user_keeping_an_admin(a.id, demote()),
            stores.users.update_user_keeping_an_admin(b.id, demote()),
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        let refused = outcomes
            .iter()
            .filter(|o| **o == GuardedUpdate::LastAdmin)
            .count();
        assert_eq!(refused, 1, "round {round}: {outcomes:?}");
        let admins = [a.id, b.id];
        let mut left = 0;
        for id in admins {
            let stored = stores.users.get_user(id).await.unwrap().unwrap();
            left += usize::from(stored.roles.contains(&Role::Admin));
        }
        assert_eq!(left, 1, "round {round}");
        // Clear the survivor too, by suspending it... which the rule refuses alike.
        let survivor = if matches!(outcomes[0], GuardedUpdate::LastAdmin) {
            a.id
        } else {
            b.id
        };
        assert_eq!(
            stores
                .users
                .update_user_keeping_an_admin(
                    survivor,
                    std::sync::Arc::new(|u: &mut UserRecord| u.status = UserStatus::Suspended),
                )
                .await
                .unwrap(),
            GuardedUpdate::LastAdmin
        );
        // Changes that keep the admin pass; the survivor is demoted directly for the next round.
        let renamed = stores
            .users
            .update_user_keeping_an_admin(
                survivor,
                std::sync::Arc::new(|u: &mut UserRecord| u.first_name = Some("Root".into())),
            )
            .await
            .unwrap();
        assert!(
            matches!(renamed, GuardedUpdate::Updated(ref u) if u.first_name.as_deref() == Some("Root"))
        );
        stores.users.update_user(survivor, demote()).await.unwrap();
    }
    assert_eq!(
        stores
            .users
            .update_user_keeping_an_admin(Uuid::new_v4(), demote())
            .await
            .unwrap(),
        GuardedUpdate::NotFound
    );
}

fn resource(identifier: &str, created_at: OffsetDateTime) -> sigil_server::domain::ApiResource {
    sigil_server::domain::ApiResource {
        id: Uuid::new_v4(),
        identifier: identifier.into(),
        name: "Orders".into(),
        scopes: vec!["orders:read".into(), "orders:write".into()],
        resource_servers: vec!["orders-api".into()],
        created_at,
        updated_at: created_at,
    }
}

/// Resources: unique identifiers, found by id and by identifier, listed oldest first,
/// replaced without changing the identifier, deleted with their identifier freed.
async fn resources_crud(stores: &Stores) {
    let t = now();
    let orders = resource("https://orders.example.com", t);
    let billing = resource("urn:example:billing", t + Duration::from_secs(1));
    stores.resources.insert_resource(&billing).await.unwrap();
    stores.resources.insert_resource(&orders).await.unwrap();
    let twin = resource("https://orders.example.com", t);
    assert!(matches!(
        stores.resources.insert_resource(&twin).await,
        Err(StoreError::Conflict(Conflict::ResourceIdentifier))
    ));
    assert_eq!(
        stores.resources.get_resource(orders.id).await.unwrap(),
        Some(orders.clone())
    );
    assert_eq!(
        stores
            .resources
            .find_resource("urn:example:billing")
            .await
            .unwrap(),
        Some(billing.clone())
    );
    assert_eq!(
        stores
            .resources
            .find_resource("https://ORDERS.example.com/x")
            .await
            .unwrap(),
        None
    );
    let ids: Vec<Uuid> = stores
        .resources
        .list_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![orders.id, billing.id]);

    let renamed = sigil_server::domain::ApiResource {
        identifier: "https://elsewhere.example.com".into(),
        name: "Orders v2".into(),
        scopes: vec!["orders:read".into()],
        ..orders.clone()
    };
    assert!(stores.resources.replace_resource(&renamed).await.unwrap());
    let stored = stores
        .resources
        .get_resource(orders.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Orders v2");
    assert_eq!(stored.scopes, vec!["orders:read".to_owned()]);
    assert_eq!(stored.identifier, "https://orders.example.com");
    let stranger = resource("https://nobody.example.com", t);
    assert!(!stores.resources.replace_resource(&stranger).await.unwrap());

    assert!(stores.resources.delete_resource(orders.id).await.unwrap());
    assert!(!stores.resources.delete_resource(orders.id).await.unwrap());
    assert_eq!(
        stores
            .resources
            .find_resource("https://orders.example.com")
            .await
            .unwrap(),
        None
    );
    // The identifier is free again.
    stores.resources.insert_resource(&twin).await.unwrap();
}

async fn codes(stores: &Stores) {
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
    let taken = futures::future::join_all(tasks)
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
}

fn client(client_id: &str, created_at: OffsetDateTime) -> sigil_server::domain::ClientRecord {
    use sigil_server::domain::{ClientRecord, ClientType, GrantType};
    ClientRecord {
        client_id: client_id.into(),
        name: format!("{client_id} app"),
        client_type: ClientType::Confidential,
        secret_digest: Some("digest".into()),
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "email".into()],
        first_party: false,
        created_at,
        updated_at: created_at,
    }
}

/// Clients: a taken id conflicts, listed oldest first, replaced only when present, deleted
/// with every consent given to them (and no one else's).
async fn clients_and_consents(stores: &Stores) {
    let t = now();
    let web = client("web", t + Duration::from_secs(1));
    let cli = client("cli", t);
    stores.clients.insert_client(&web).await.unwrap();
    stores.clients.insert_client(&cli).await.unwrap();
    assert!(matches!(
        stores.clients.insert_client(&client("web", t)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        stores.clients.get_client("web").await.unwrap(),
        Some(web.clone())
    );
    assert_eq!(stores.clients.get_client("nope").await.unwrap(), None);
    let ids: Vec<String> = stores
        .clients
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["cli", "web"]);

    let renamed = sigil_server::domain::ClientRecord {
        name: "Web, renamed".into(),
        ..web.clone()
    };
    assert!(stores.clients.replace_client(&renamed).await.unwrap());
    assert_eq!(
        stores
            .clients
            .get_client("web")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Web, renamed"
    );
    assert!(
        !stores
            .clients
            .replace_client(&client("ghost", t))
            .await
            .unwrap()
    );
    assert_eq!(stores.clients.get_client("ghost").await.unwrap(), None);

    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        None
    );
    let scopes = vec!["openid".to_owned(), "email".to_owned()];
    stores
        .clients
        .put_consent(alice, "web", &scopes, t)
        .await
        .unwrap();
    stores
        .clients
        .put_consent(bob, "web", &scopes[..1], t)
        .await
        .unwrap();
    stores
        .clients
        .put_consent(alice, "cli", &scopes[..1], t)
        .await
        .unwrap();
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        Some(scopes.clone())
    );
    // A second consent replaces the first.
    stores
        .clients
        .put_consent(alice, "web", &scopes[1..], t)
        .await
        .unwrap();
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        Some(vec!["email".to_owned()])
    );

    assert!(stores.clients.delete_client("web").await.unwrap());
    assert!(!stores.clients.delete_client("web").await.unwrap());
    assert_eq!(stores.clients.get_client("web").await.unwrap(), None);
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        None
    );
    assert_eq!(stores.clients.get_consent(bob, "web").await.unwrap(), None);
    assert_eq!(
        stores.clients.get_consent(alice, "cli").await.unwrap(),
        Some(vec!["openid".to_owned()])
    );
}

/// `list_users`: status, role and search filters combine; every sort order, both
/// directions, ties broken by id; offset and limit page through the same order; the total
/// counts every match, not the page.
async fn users_listing_filters_sort_and_paging(stores: &Stores) {
    use sigil_server::store::{UserQuery, UserSort};
    let t = now();
    let mut all = Vec::new();
    for (i, name) in ["carol", "alice", "dave", "bob", "erin"].iter().enumerate() {
        let mut u = user(&format!("{name}@Example.org"), &name.to_uppercase());
        u.created_at = t + Duration::from_secs(10 * i as u64);
        u.last_login = (i % 2 == 0).then(|| t + Duration::from_secs(100 - i as u64));
        if *name == "dave" {
            u.status = UserStatus::Suspended;
        }
        if *name == "bob" || *name == "erin" {
            u.roles = vec![Role::User, Role::Admin];
        }
        stores.users.insert_user(&u).await.unwrap();
        all.push(u);
    }
    let names = |users: &[UserRecord]| -> Vec<String> {
        users
            .iter()
            .map(|u| u.username_normalized.clone())
            .collect()
    };
    let list = |query: UserQuery| async move { stores.users.list_users(&query).await.unwrap() };
    let everyone = UserQuery {
        limit: 100,
        ..UserQuery::default()
    };

    let (page, total) = list(everyone.clone()).await;
    assert_eq!(total, 5);
    assert_eq!(names(&page), ["carol", "alice", "dave", "bob", "erin"]);
    let (page, _) = list(UserQuery {
        descending: true,
        ..everyone.clone()
    })
    .await;
    assert_eq!(names(&page), ["erin", "bob", "dave", "alice", "carol"]);
    let (page, _) = list(UserQuery {
        sort: UserSort::Email,
        ..everyone.clone()
    })
    .await;
    assert_eq!(names(&page), ["alice", "bob", "carol", "dave", "erin"]);
    let (page, _) = list(UserQuery {
        sort: UserSort::Username,
        descending: true,
        ..everyone.clone()
    })
    .await;
    assert_eq!(names(&page), ["erin", "dave", "carol", "bob", "alice"]);
    // Never-logged-in users (alice, bob) sort before everyone else, then by id.
    let (page, _) = list(UserQuery {
        sort: UserSort::LastLogin,
        ..everyone.clone()
    })
    .await;
    let mut never: Vec<&UserRecord> = all.iter().filter(|u| u.last_login.is_none()).collect();
    never.sort_by_key(|u| u.id);
    let expected: Vec<String> = never
        .iter()
        .map(|u| u.username_normalized.clone())
        .chain(["erin", "dave", "carol"].map(String::from))
        .collect();
    assert_eq!(names(&page), expected);

    let (page, total) = list(UserQuery {
        status: Some(UserStatus::Active),
        ..everyone.clone()
    })
    .await;
    assert_eq!(
        (names(&page), total),
        (
            vec!["carol".into(), "alice".into(), "bob".into(), "erin".into()],
            4
        )
    );
    let (page, total) = list(UserQuery {
        role: Some(Role::Admin),
        ..everyone.clone()
    })
    .await;
    assert_eq!(
        (names(&page), total),
        (vec!["bob".into(), "erin".into()], 2)
    );
    // Search is a literal substring of the normalized email or username.
    let (page, _) = list(UserQuery {
        search: Some("ar".into()),
        ..everyone.clone()
    })
    .await;
    assert_eq!(names(&page), ["carol"]);
    let (page, _) = list(UserQuery {
        search: Some("e.org".into()),
        role: Some(Role::Admin),
        ..everyone.clone()
    })
    .await;
    assert_eq!(names(&page), ["bob", "erin"]);
    let (page, total) = list(UserQuery {
        search: Some("al.ce".into()),
        ..everyone.clone()
    })
    .await;
    assert_eq!(
        (page.len(), total),
        (0, 0),
        "a regex metacharacter is literal"
    );

    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let (page, total) = list(UserQuery {
            offset,
            limit: 2,
            sort: UserSort::Email,
            ..UserQuery::default()
        })
        .await;
        assert_eq!(total, 5);
        seen.extend(names(&page));
    }
    assert_eq!(seen, ["alice", "bob", "carol", "dave", "erin"]);
    let (page, total) = list(UserQuery {
        offset: 9,
        limit: 2,
        ..UserQuery::default()
    })
    .await;
    assert_eq!((page.len(), total), (0, 5));
}

/// The dashboard counts: users, live sessions (not expired ones), audit events matching a
/// filter; and a sweep never removes anything live.
async fn counts_and_sweep(stores: &Stores) {
    let t = now();
    assert_eq!(stores.users.count_users().await.unwrap(), 0);
    let alice = user("alice@example.com", "alice");
    stores.users.insert_user(&alice).await.unwrap();
    stores
        .users
        .insert_user(&user("bob@example.com", "bob"))
        .await
        .unwrap();
    assert_eq!(stores.users.count_users().await.unwrap(), 2);

    let before = stores.sessions.count_sessions(t).await.unwrap();
    let live = session(alice.id, "live-digest", t, DAY);
    let short = session(alice.id, "short-digest", t, Duration::from_secs(60));
    stores.sessions.create_session(&live, 10, t).await.unwrap();
    stores.sessions.create_session(&short, 10, t).await.unwrap();
    assert_eq!(stores.sessions.count_sessions(t).await.unwrap(), before + 2);
    let later = t + Duration::from_secs(120);
    assert_eq!(
        stores.sessions.count_sessions(later).await.unwrap(),
        before + 1
    );
    stores.sessions.sweep_expired(later).await.unwrap();
    assert_eq!(
        stores
            .sessions
            .get_session(alice.id, &live.id, later)
            .await
            .unwrap()
            .map(|s| s.id),
        Some(live.id.clone())
    );
    assert_eq!(
        stores.sessions.count_sessions(later).await.unwrap(),
        before + 1
    );

    for action in ["user.login", "user.login", "user.logout"] {
        let event = AuditEvent {
            id: AuditEvent::new_id(t),
            at: t,
            action: action.into(),
            actor_id: Some(alice.id),
            target_id: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::json!({}),
        };
        stores.audit.record_audit(&event).await.unwrap();
    }
    let logins = AuditFilter {
        user_id: Some(alice.id),
        action: Some("user.login".into()),
        ..AuditFilter::default()
    };
    assert_eq!(stores.audit.count_audit(&logins).await.unwrap(), 2);
}
