//! What keeps a deployment administrable: the last admin stays, and nobody ends their own
//! account through the admin API.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_tests::{TestApp, TestUser};

use super::{id_of, user_with_role};

/// The last admin cannot delete their own account (409), and two admins demoting each other
/// at the same moment leave one admin.
#[tokio::test]
async fn the_last_admin_stays_under_races_and_self_deletion() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.request(
        Method::DELETE,
        "/v1/users/me",
        Some(&admin),
        Some(json!({"password": sigil_tests::ADMIN_PASSWORD})),
    )
    .await
    .assert_error(409, "LAST_ADMIN");
    assert_eq!(app.me(&admin).await.status, StatusCode::OK);

    let second = TestUser::random();
    let created = app
        .request(
            Method::POST,
            "/v1/admin/users",
            Some(&admin),
            Some(json!({"email": second.email, "username": second.username, "password": second.password, "roles": ["admin"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let second_id = created.data()["id"].as_str().unwrap().to_owned();
    let second_token = app.login_ok(&second).await.access;
    let first_id = app.me(&admin).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let demote = |token: String, id: String| {
        let app = &app;
        async move {
            app.request(
                Method::PUT,
                &format!("/v1/admin/users/{id}"),
                Some(&token),
                Some(json!({"roles": ["user"]})),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(
        demote(admin.clone(), second_id.clone()),
        demote(second_token, first_id.clone())
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    // One demotion wins; the other is refused as the last admin, or (if the winner demoted
    // its caller first) as a caller who is no admin any more.
    assert_eq!(statuses[0], 200, "{} / {}", a.body, b.body);
    assert!(matches!(statuses[1], 400 | 403), "{} / {}", a.body, b.body);
    // Either admin may be the one demoted: ask the store.
    let mut left = 0;
    for id in [&first_id, &second_id] {
        let user = app
            .state
            .stores
            .users
            .get_user(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        left += usize::from(user.roles.contains(&sigil_server::domain::Role::Admin));
    }
    assert_eq!(left, 1);
}

/// An admin's own status changes only by another admin: suspending or deleting oneself through
/// the admin API is refused even when another admin exists (self-deletion goes through
/// `/v1/users/me` and its password), while one's own profile fields may change.
#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let other = user_with_role(&app, &admin, "admin").await;
    let me = id_of(&app, &admin).await;
    let own = format!("/v1/admin/users/{me}");
    for change in [
        json!({"status": "suspended"}),
        json!({"status": "pending"}),
        json!({"status": "deleted"}),
    ] {
        app.request(Method::PUT, &own, Some(&admin), Some(change.clone()))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.request(Method::DELETE, &own, Some(&admin), None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let renamed = app
        .request(
            Method::PUT,
            &own,
            Some(&admin),
            Some(json!({"firstName": "Ada"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(app.me(&admin).await.status, StatusCode::OK);

    // Another admin may.
    let suspended = app
        .request(
            Method::PUT,
            &own,
            Some(&other),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(app.me(&admin).await.status, StatusCode::UNAUTHORIZED);
}
