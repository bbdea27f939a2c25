//! The contract for `UserStore`: uniqueness, lockout, atomic updates, the last admin, listing.

use super::fixtures::*;

pub async fn users_insert_and_find(stores: &Stores) {
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

pub async fn users_unique_case_insensitive(stores: &Stores) {
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

pub async fn users_concurrent_inserts_have_one_winner(stores: &Stores) {
    let attempts = (0..20).map(|i| {
        let users = stores.users.clone();
        tokio::spawn(async move {
            users
                .insert_user(&user(&format!("u{i}@example.com"), "same"))
                .await
        })
    });
    let results = futures_util::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(wins, 1);
    assert_eq!(stores.users.count_users().await.unwrap(), 1);
}

pub async fn users_profile_and_password(stores: &Stores) {
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

pub async fn users_lockout(stores: &Stores) {
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
        assert_eq!(after.last_failed_login, Some(t));
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
    futures_util::future::join_all(tasks).await;
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

    // A burst of sign-ins of one account (one user on many devices, a script, an attacker
    // holding the password): each is recorded, none gives up as too contended.
    let tasks = (0..64).map(|i| {
        let users = stores.users.clone();
        tokio::spawn(async move {
            users
                .record_login_success(u.id, t, Some(&format!("burst-{i}")))
                .await
        })
    });
    for outcome in futures_util::future::join_all(tasks).await {
        assert!(outcome.unwrap().unwrap().is_some());
    }
    let after = stores.users.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((after.failed_logins, after.known_devices.len()), (0, 20));
}

pub async fn users_status_unlock_and_devices(stores: &Stores) {
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

pub async fn users_update_is_atomic(stores: &Stores) {
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
    futures_util::future::join_all(tasks).await;
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
pub async fn users_guarded_update_keeps_an_admin(stores: &Stores) {
    use crate::store::GuardedUpdate;
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

/// `list_users`: status, role and search filters combine; every sort order, both
/// directions, ties broken by id; offset and limit page through the same order; the total
/// counts every match, not the page.
pub async fn users_listing_filters_sort_and_paging(stores: &Stores) {
    use crate::store::{UserQuery, UserSort};
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
