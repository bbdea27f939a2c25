//! The admin API: permissions per role, user listing and management, audit and stats.

mod guards;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::{TestApp, TestUser, tokens};

async fn user_with_role(app: &TestApp, admin: &str, role: &str) -> String {
    let user = TestUser::random();
    let created = app
        .request(
            Method::POST,
            "/v1/admin/users",
            Some(admin),
            Some(json!({"email": user.email, "username": user.username, "password": user.password, "roles": [role]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    app.login_ok(&user).await.access
}

async fn id_of(app: &TestApp, token: &str) -> String {
    let me = app.get("/v1/users/me", Some(token)).await;
    me.data()["id"].as_str().unwrap().to_owned()
}

/// A moderator manages sessions of users and fellow moderators, never an admin's: the
/// admin's session survives the attempt.
#[tokio::test]
async fn moderators_act_only_at_or_below_their_rank() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let moderator = user_with_role(&app, &admin, "moderator").await;
    let other_admin = user_with_role(&app, &admin, "admin").await;
    for (role, expected) in [
        ("user", StatusCode::OK),
        ("moderator", StatusCode::OK),
        ("admin", StatusCode::FORBIDDEN),
    ] {
        let target = user_with_role(&app, &admin, role).await;
        let id = id_of(&app, &target).await;
        let reply = app
            .request(
                Method::DELETE,
                &format!("/v1/admin/users/{id}/sessions"),
                Some(&moderator),
                None,
            )
            .await;
        assert_eq!(reply.status, expected, "{role}: {}", reply.body);
        let still_signed_in = app.get("/v1/users/me", Some(&target)).await.status;
        assert_eq!(still_signed_in == StatusCode::OK, role == "admin", "{role}");
    }
    let id = id_of(&app, &other_admin).await;
    app.request(
        Method::DELETE,
        &format!("/v1/admin/users/{id}/sessions"),
        Some(&moderator),
        None,
    )
    .await
    .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let by_admin = app
        .request(
            Method::DELETE,
            &format!("/v1/admin/users/{id}/sessions"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
}

/// Every admin route answers 403 INSUFFICIENT_PERMISSIONS to a role without its permission,
/// and not 403 to one with it.
#[tokio::test]
async fn permission_matrix() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let moderator = user_with_role(&app, &admin, "moderator").await;
    let (target, _) = app.signed_in_user().await;
    let target_id = app
        .state
        .stores
        .users
        .find_user(&sigil_server::domain::Login::username(&target.username))
        .await
        .unwrap()
        .unwrap()
        .id;
    let user = user_with_role(&app, &admin, "user").await;
    let u = format!("/v1/admin/users/{target_id}");
    // (method, path, body, allowed for: user, moderator, admin)
    let routes: Vec<(Method, String, Option<Value>, [bool; 3])> = vec![
        (
            Method::GET,
            "/v1/admin/users".into(),
            None,
            [false, true, true],
        ),
        (Method::GET, u.clone(), None, [false, true, true]),
        (
            Method::GET,
            format!("{u}/sessions"),
            None,
            [false, true, true],
        ),
        (
            Method::DELETE,
            format!("{u}/sessions"),
            None,
            [false, true, true],
        ),
        (
            Method::PUT,
            u.clone(),
            Some(json!({"firstName": "X"})),
            [false, false, true],
        ),
        (
            Method::POST,
            format!("{u}/unlock"),
            None,
            [false, false, true],
        ),
        (
            Method::POST,
            format!("{u}/reset-mfa"),
            None,
            [false, false, true],
        ),
        (
            Method::POST,
            "/v1/admin/users".into(),
            Some(json!({})),
            [false, false, true],
        ),
        (
            Method::GET,
            "/v1/admin/audit".into(),
            None,
            [false, true, true],
        ),
        (
            Method::GET,
            "/v1/admin/stats".into(),
            None,
            [false, true, true],
        ),
        (
            Method::GET,
            "/v1/admin/clients".into(),
            None,
            [false, false, true],
        ),
        (
            Method::GET,
            "/v1/admin/keys".into(),
            None,
            [false, false, true],
        ),
        (Method::DELETE, u.clone(), None, [false, false, true]),
    ];
    for (method, path, body, allowed) in routes {
        for (token, ok, role) in [
            (&user, allowed[0], "user"),
            (&moderator, allowed[1], "moderator"),
            (&admin, allowed[2], "admin"),
        ] {
            let reply = app
                .request(method.clone(), &path, Some(token), body.clone())
                .await;
            if ok {
                assert_ne!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    reply.body
                );
            } else {
                reply.assert_error(403, "INSUFFICIENT_PERMISSIONS");
            }
        }
    }
    app.get("/v1/admin/users", None)
        .await
        .assert_error(401, "MISSING_AUTH_HEADER");
}

/// Paging, search (prefix, substring, any case), filters and sorting over a seeded set.
#[tokio::test]
async fn listing_pagination_and_search() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = app.state.clock.now();
    for i in 0..30 {
        let name = if i % 3 == 0 {
            format!("alice_{i:02}")
        } else {
            format!("bob_{i:02}")
        };
        let mut user = sigil_tests::user_record(&name, now + std::time::Duration::from_secs(i));
        // Stored spellings differ in case from what searches use.
        user.email = format!("{name}@Example.com");
        user.username = name.to_uppercase();
        user.updated_at = now;
        user.password_changed_at = now;
        if i == 7 {
            user.status = sigil_server::domain::UserStatus::Suspended;
        }
        app.state.stores.users.insert_user(&user).await.unwrap();
    }
    let list = |query: &str| {
        let path = format!("/v1/admin/users?{query}");
        let (app, admin) = (&app, admin.clone());
        async move { app.request(Method::GET, &path, Some(&admin), None).await }
    };
    let page = list("limit=10&page=2&sort=createdAt").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.data()["pagination"],
        json!({"page": 2, "limit": 10, "total": 31, "pages": 4})
    );
    let names: Vec<&str> = page.data()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.first(),
        Some(&"ALICE_09"),
        "admin first, then by creation: {names:?}"
    );

    let alice = list("search=ALI&limit=100").await;
    assert_eq!(alice.data()["pagination"]["total"], json!(10));
    let substring = list("search=ce_0&limit=100").await;
    assert_eq!(
        substring.data()["pagination"]["total"],
        json!(4),
        "alice_00, _03, _06, _09"
    );
    let by_email = list("search=example.COM&limit=100").await;
    assert_eq!(by_email.data()["pagination"]["total"], json!(30));
    let literal = list("search=.*&limit=100").await;
    assert_eq!(
        literal.data()["pagination"]["total"],
        json!(0),
        "search text is literal"
    );
    let suspended = list("status=suspended").await;
    assert_eq!(suspended.data()["users"][0]["username"], json!("BOB_07"));
    let admins = list("role=admin").await;
    assert_eq!(admins.data()["pagination"]["total"], json!(1));
    let sorted = list("sort=-username&limit=1&search=bob").await;
    assert_eq!(sorted.data()["users"][0]["username"], json!("BOB_29"));

    // The seed caps the page size instead of refusing it.
    let capped = list("limit=101").await;
    assert_eq!(capped.data()["pagination"]["limit"], json!(100));
    assert_eq!(capped.data()["users"].as_array().map(Vec::len), Some(31));
    for bad in [
        "limit=0",
        "page=0",
        "status=sleeping",
        "role=root",
        "sort=password",
    ] {
        list(bad).await.assert_error(400, "VALIDATION_ERROR");
    }
}

/// Suspend, activate, roles, unlock, reset MFA, sessions, delete; the last admin stays.
#[tokio::test]
async fn managing_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, session) = app.signed_in_user().await;
    let id = app.me(&session.access).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/admin/users/{id}");

    let suspended = app
        .request(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(suspended.data()["status"], json!("suspended"));
    app.me(&session.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.login(&user)
        .await
        .assert_error(403, "ACCOUNT_SUSPENDED");
    app.request(
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"status": "active", "roles": ["user", "moderator"]})),
    )
    .await;
    let back = app.login_ok(&user).await;
    let me = app.me(&back.access).await;
    assert_eq!(me.data()["roles"], json!(["user", "moderator"]));

    let sessions = app
        .request(Method::GET, &format!("{path}/sessions"), Some(&admin), None)
        .await;
    assert_eq!(sessions.data().as_array().unwrap().len(), 1);
    let revoked = app
        .request(
            Method::DELETE,
            &format!("{path}/sessions"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.data()["revoked"], json!(1));
    app.me(&back.access)
        .await
        .assert_error(401, "TOKEN_REVOKED");

    let wrong = json!({"username": user.username, "password": "Wrong-Password-123!"});
    for _ in 0..5 {
        app.post("/v1/auth/login", wrong.clone()).await;
    }
    app.login(&user).await.assert_error(423, "ACCOUNT_LOCKED");
    let unlocked = app
        .request(Method::POST, &format!("{path}/unlock"), Some(&admin), None)
        .await;
    assert_eq!(unlocked.data()["accountLockedUntil"], json!(null));
    assert_eq!(app.login(&user).await.status, StatusCode::OK);
    let reset = app
        .request(
            Method::POST,
            &format!("{path}/reset-mfa"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reset.data()["mfaEnabled"], json!(false));

    let deleted = app.request(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    app.login(&user).await.assert_error(403, "ACCOUNT_DELETED");
    app.request(
        Method::GET,
        "/v1/admin/users/00000000-0000-0000-0000-000000000000",
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");

    // The bootstrap admin is the only admin: it cannot be demoted, suspended or deleted.
    let admin_id = app
        .request(
            Method::GET,
            "/v1/admin/users?role=admin",
            Some(&admin),
            None,
        )
        .await
        .data()["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_path = format!("/v1/admin/users/{admin_id}");
    for change in [json!({"roles": ["user"]}), json!({"status": "suspended"})] {
        app.request(Method::PUT, &admin_path, Some(&admin), Some(change))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.request(Method::DELETE, &admin_path, Some(&admin), None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    // With a second admin, the first can step down.
    let second = TestUser::random();
    app.request(Method::POST, "/v1/admin/users", Some(&admin), Some(json!({"email": second.email, "username": second.username, "password": second.password, "roles": ["admin"]}))).await;
    let demoted = app
        .request(
            Method::PUT,
            &admin_path,
            Some(&admin),
            Some(json!({"roles": ["user"]})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
}

/// The audit trail filters by user and type, pages by cursor; stats count what happened.
#[tokio::test]
async fn audit_trail_and_stats() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, session) = app.signed_in_user().await;
    let id = app.me(&session.access).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        app.login_ok(&user).await;
    }
    app.post(
        "/v1/auth/login",
        json!({"username": user.username, "password": "Wrong-Password-123!"}),
    )
    .await;

    let mine = app
        .request(
            Method::GET,
            &format!("/v1/admin/audit?user={id}&type=login.succeeded&limit=2"),
            Some(&admin),
            None,
        )
        .await;
    let events = mine.data()["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["action"] == json!("login.succeeded"))
    );
    let cursor = mine.data()["nextCursor"].as_str().unwrap();
    let next = app
        .request(
            Method::GET,
            &format!("/v1/admin/audit?user={id}&type=login.succeeded&limit=2&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(next.data()["events"].as_array().unwrap().len(), 2);
    assert_eq!(next.data()["nextCursor"], json!(null));
    let future = app
        .request(
            Method::GET,
            "/v1/admin/audit?since=2999-01-01T00:00:00Z",
            Some(&admin),
            None,
        )
        .await;
    assert!(future.data()["events"].as_array().unwrap().is_empty());
    app.request(
        Method::GET,
        "/v1/admin/audit?since=yesterday",
        Some(&admin),
        None,
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");

    let stats = app
        .request(Method::GET, "/v1/admin/stats", Some(&admin), None)
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.data()["users"]["total"], json!(2));
    assert_eq!(stats.data()["users"]["active"], json!(2));
    assert_eq!(
        stats.data()["loginsLastHour"],
        json!(5),
        "admin + 4 user logins"
    );
    assert_eq!(stats.data()["failuresLastDay"], json!(1));
    assert!(stats.data()["activeSessions"].as_u64().unwrap() >= 5);
    let _ = tokens;
}

/// With an allowlist, the admin API refuses other addresses.
#[tokio::test]
async fn admin_ip_allowlist() {
    let app =
        TestApp::spawn_with(|c| c.admin_allowed_ips = vec!["10.0.0.0/8".parse().unwrap()]).await;
    let admin = app.admin_token().await;
    app.request(Method::GET, "/v1/admin/users", Some(&admin), None)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let open = TestApp::spawn_with(|c| {
        c.admin_allowed_ips = vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap().into()]
    })
    .await;
    let admin = open.admin_token().await;
    assert_eq!(
        open.request(Method::GET, "/v1/admin/users", Some(&admin), None)
            .await
            .status,
        StatusCode::OK
    );
}
