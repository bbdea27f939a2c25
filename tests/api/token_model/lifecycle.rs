//! The token model over a token's life: an approved app's tokens against the REST API,
//! audiences, client deletion, refresh reuse, suspension.

use super::*;

/// The attack of issue 12: an app an admin approved for `openid` holds an access token of an
/// admin; with it (and its refresh token) it gets nowhere in the REST API.
#[tokio::test]
async fn an_approved_app_cannot_use_the_admins_tokens_against_the_api() {
    let w = world().await;
    let (app_tokens, _) = app_tokens(&w).await;
    let access = app_tokens["access_token"].as_str().unwrap();
    let refresh = app_tokens["refresh_token"].as_str().unwrap();

    let listing = w.app.get("/v1/admin/users", Some(access)).await;
    listing.assert_error(401, "INVALID_TOKEN");
    assert!(
        listing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not meant for this API"),
        "{}",
        listing.body
    );
    // Registering a first-party client of its own, to collect codes without consent.
    w.app
        .request(
            Method::POST,
            "/v1/admin/clients",
            Some(access),
            Some(json!({
                "name": "Evil", "type": "confidential",
                "redirectUris": ["https://evil.example/cb"],
                "scopes": ["openid"], "firstParty": true,
            })),
        )
        .await
        .assert_error(401, "INVALID_TOKEN");
    // Enrolling its own authenticator on the admin's account.
    w.app
        .request(
            Method::POST,
            "/v1/auth/mfa/setup",
            Some(access),
            Some(json!({"type": "totp"})),
        )
        .await
        .assert_error(401, "INVALID_TOKEN");
    // Trading its refresh token for a REST token.
    w.app
        .refresh(refresh)
        .await
        .assert_error(401, "INVALID_REFRESH_TOKEN");
    // Nothing changed on the way: no client was added, and the refresh token still works for
    // the app itself (the failed attempt did not rotate or revoke it).
    let admin = w.app.admin_token().await;
    let clients = w.app.get("/v1/admin/clients", Some(&admin)).await;
    assert_eq!(
        clients.data().as_array().unwrap().len(),
        3,
        "{}",
        clients.body
    );
    assert!(accepted(&w, Surface::OAuthRefresh, refresh).await);
}

/// OAuth access tokens are addressed to their client, never to the issuer; REST tokens to
/// the REST audience, which `SIGIL_REST_AUDIENCE` sets.
#[tokio::test]
async fn audiences() {
    let w = world().await;
    let claims = oauth::claims;
    let app_access = mint(&w, Kind::AppAccess).await;
    assert_eq!(claims(&app_access)["aud"], json!(w.app_id));
    let cc = mint(&w, Kind::ClientCredentials).await;
    assert_eq!(claims(&cc)["aud"], json!(w.app_id));
    assert!(claims(&cc).get("sid").is_none());
    let rest = mint(&w, Kind::RestAccess).await;
    assert_eq!(claims(&rest)["aud"], json!(w.app.base));

    let custom = TestApp::spawn_with(|c| {
        c.rest_audience = vec![
            "https://api.example.com".into(),
            "https://admin.example.com".into(),
        ];
    })
    .await;
    let (_, t) = custom.signed_in_user().await;
    assert_eq!(
        claims(&t.access)["aud"],
        json!(["https://api.example.com", "https://admin.example.com"])
    );
    assert_eq!(custom.me(&t.access).await.status, StatusCode::OK);
}

/// Deleting a client ends what it holds: its refresh tokens, its users' access tokens at
/// userinfo, its client_credentials tokens, and its sessions in the user's list.
#[tokio::test]
async fn deleting_a_client_revokes_its_sessions_and_tokens() {
    let w = &world().await;
    let (app_tokens, _) = app_tokens(w).await;
    let access = app_tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = app_tokens["refresh_token"].as_str().unwrap().to_owned();
    let cc = mint(w, Kind::ClientCredentials).await;
    assert_eq!(
        w.app.get("/oauth2/userinfo", Some(&access)).await.status,
        StatusCode::OK
    );

    let admin = w.app.admin_token().await;
    let sessions = |token: String| async move {
        w.app
            .get("/v1/users/me/sessions", Some(&token))
            .await
            .data()
            .as_array()
            .unwrap()
            .len()
    };
    let before = sessions(admin.clone()).await;
    let deleted = w
        .app
        .request(
            Method::DELETE,
            &format!("/v1/admin/clients/{}", w.app_id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(sessions(admin.clone()).await, before - 1);

    assert_eq!(
        w.app.get("/oauth2/userinfo", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The app can no longer authenticate; its tokens are dead for everybody else too.
    let (status, body) = token_request(
        w,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        (&w.app_id, &w.app_secret),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    for token in [&access, &cc, &refresh] {
        assert_eq!(
            introspect(w, token, (&w.other_id, &w.other_secret)).await,
            json!({"active": false})
        );
    }
    let events = w
        .app
        .get("/v1/admin/audit?type=admin.client.deleted", Some(&admin))
        .await;
    assert_eq!(
        events.data()["events"][0]["details"]["sessionsRevoked"],
        json!(1),
        "{}",
        events.body
    );
}

/// Reuse of a rotated-out refresh token at /oauth2/token revokes the session, is audited and
/// is counted in /metrics, as at /v1/auth/refresh.
#[tokio::test]
async fn oauth_refresh_reuse_is_audited_and_counted() {
    let w = &world().await;
    let (first, _) = app_tokens(w).await;
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| async move {
        token_request(
            w,
            &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            (&w.app_id, &w.app_secret),
        )
        .await
    };
    let (status, rotated) = refresh(old.clone()).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The whole session went with it.
    let (status, _) = refresh(new).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let admin = w.app.admin_token().await;
    let events = w
        .app
        .get("/v1/admin/audit?type=refresh.reuse_detected", Some(&admin))
        .await;
    let event = &events.data()["events"][0];
    assert_eq!(
        event["details"]["clientId"],
        json!(w.app_id),
        "{}",
        events.body
    );
    assert_eq!(event["details"]["sessionRevoked"], json!(true));
    let metrics = w
        .app
        .client
        .get(w.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "sigil_refresh_token_reuse_detected_total 1"),
        "{metrics}"
    );
}

/// A user who may no longer sign in loses the OAuth session at its next refresh, even when
/// the status changed without the admin API's session sweep (another replica, a script).
#[tokio::test]
async fn a_suspended_users_oauth_refresh_fails_and_ends_the_session() {
    let w = world().await;
    let (first, _) = app_tokens(&w).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let admin = admin_record(&w).await;
    let before = w
        .app
        .state
        .stores
        .sessions
        .list_sessions(admin.id, w.app.state.clock.now())
        .await
        .unwrap();
    assert!(before.iter().any(|s| s.client_id == w.app_id));
    w.app
        .state
        .stores
        .users
        .set_status(
            admin.id,
            sigil_server::domain::UserStatus::Suspended,
            true,
            w.app.state.clock.now(),
        )
        .await
        .unwrap();
    let (status, body) = token_request(
        &w,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        (&w.app_id, &w.app_secret),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let after = w
        .app
        .state
        .stores
        .sessions
        .list_sessions(admin.id, w.app.state.clock.now())
        .await
        .unwrap();
    assert!(!after.iter().any(|s| s.client_id == w.app_id), "{after:?}");
}

/// Signing in again in the same browser ends the previous SSO session.
#[tokio::test]
async fn a_second_sign_in_in_the_same_browser_ends_the_first_sso_session() {
    let w = world().await;
    let (_, browser) = app_tokens(&w).await;
    let first = browser.cookie("sigil_session").unwrap();
    // prompt=login wants a sign-in at or after the request.
    w.app.advance_clock(std::time::Duration::from_secs(2));
    let page = browser.get(&authorize_path(&w, Some("login"))).await;
    let again = browser.sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(again.status.is_redirection(), "{again:?}");
    let second = browser.cookie("sigil_session").unwrap();
    assert_ne!(first, second);
    let admin = admin_record(&w).await;
    let browsers: Vec<_> = w
        .app
        .state
        .stores
        .sessions
        .list_sessions(admin.id, w.app.state.clock.now())
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.client_id == "sigil-browser")
        .collect();
    assert_eq!(browsers.len(), 1, "{browsers:?}");
    // The old cookie signs nobody in any more: prompt=none answers login_required.
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(w.app.url(&authorize_path(&w, Some("none"))))
        .header("cookie", format!("sigil_session={first}"))
        .send()
        .await
        .unwrap();
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("error=login_required"), "{location}");
}
