//! The token model (SPEC section 5): every kind of token Sigil hands out, presented at every
//! surface that takes one, is accepted only where it was meant to go. The expected matrix is
//! data; `docs/tokens.md` carries the same table and a test checks that they agree.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::browser::Browser;
use sigil_tests::oauth::{self, REDIRECT};
use sigil_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, tokens};

/// A server, a third-party app an admin approves for `openid` (the attacker's), another
/// confidential client that has nothing to do with the app's tokens, and an API resource
/// with the client that serves it.
struct World {
    app: TestApp,
    app_id: String,
    app_secret: String,
    other_id: String,
    other_secret: String,
    server_id: String,
    server_secret: String,
}

const RESOURCE: &str = "https://api.example.com";

async fn world() -> World {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (app_id, app_secret) = app
        .create_client(json!({
            "name": "Third-party app", "type": "confidential",
            "redirectUris": [REDIRECT],
            "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "offline_access"],
            "firstParty": false,
        }))
        .await;
    let (server_id, server_secret) = app
        .create_client(json!({
            "name": "The API", "type": "confidential",
            "grantTypes": ["client_credentials"], "scopes": [],
        }))
        .await;
    let admin = app.admin_token().await;
    let registered = app
        .request(
            reqwest::Method::POST,
            "/v1/admin/resources",
            Some(&admin),
            Some(json!({"identifier": RESOURCE, "name": "API", "scopes": ["api:read"], "resourceServers": [server_id]})),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let (other_id, other_secret) = app
        .create_client(json!({
            "name": "Another service", "type": "confidential",
            "redirectUris": ["http://127.0.0.1:9/other"],
            "grantTypes": ["client_credentials"],
            "scopes": ["email"],
            "firstParty": false,
        }))
        .await;
    World {
        app,
        app_id,
        app_secret: app_secret.unwrap(),
        other_id,
        other_secret: other_secret.unwrap(),
        server_id,
        server_secret: server_secret.unwrap(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RestAccess,
    RestRefresh,
    AppAccess,
    AppRefresh,
    AppIdToken,
    ResourceAccess,
    ClientCredentials,
    SsoCookie,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Me,
    AdminUsers,
    Userinfo,
    IntrospectByApp,
    IntrospectByOther,
    IntrospectByServer,
    RestRefresh,
    OAuthRefresh,
}

const SURFACES: [(Surface, &str); 8] = [
    (Surface::Me, "`GET /v1/users/me`"),
    (Surface::AdminUsers, "`GET /v1/admin/users`"),
    (Surface::Userinfo, "`/oauth2/userinfo`"),
    (Surface::IntrospectByApp, "introspect as the app"),
    (Surface::IntrospectByOther, "introspect as another client"),
    (
        Surface::IntrospectByServer,
        "introspect as the resource's server",
    ),
    (Surface::RestRefresh, "`POST /v1/auth/refresh`"),
    (Surface::OAuthRefresh, "`/oauth2/token` refresh as the app"),
];

/// `Y`: accepted (2xx, or `active: true`); `-`: refused (401 / `invalid_grant` /
/// `active: false`).
const MATRIX: [(Kind, &str, &str); 8] = [
    (Kind::RestAccess, "REST access token (login)", "YYY-----"),
    (Kind::RestRefresh, "REST refresh token", "------Y-"),
    (
        Kind::AppAccess,
        "app access token (code flow, `openid`)",
        "--YY----",
    ),
    (Kind::AppRefresh, "app refresh token", "---Y---Y"),
    (Kind::AppIdToken, "app ID token", "--------"),
    (
        Kind::ResourceAccess,
        "app access token for a registered `resource`",
        "--YY-Y--",
    ),
    (
        Kind::ClientCredentials,
        "client_credentials token",
        "---Y----",
    ),
    (
        Kind::SsoCookie,
        "SSO cookie value (`sigil_session`)",
        "--------",
    ),
];

fn expected(kind: Kind, surface: Surface) -> bool {
    let (_, _, row) = MATRIX.iter().find(|(k, _, _)| *k == kind).unwrap();
    let column = SURFACES.iter().position(|(s, _)| *s == surface).unwrap();
    row.as_bytes()[column] == b'Y'
}

/// The table as docs/tokens.md shows it.
fn markdown_table() -> String {
    let mut table = String::from("| token |");
    for (_, name) in SURFACES {
        table.push_str(&format!(" {name} |"));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(SURFACES.len()));
    for (_, name, row) in MATRIX {
        table.push_str(&format!("\n| {name} |"));
        for cell in row.chars() {
            table.push_str(if cell == 'Y' { " yes |" } else { " no |" });
        }
    }
    table
}

fn client(id: &str, secret: &str) -> oauth::Client {
    oauth::Client {
        id: id.to_owned(),
        secret: secret.to_owned(),
    }
}

async fn token_request(
    w: &World,
    form: &[(&str, &str)],
    (id, secret): (&str, &str),
) -> (StatusCode, Value) {
    oauth::token(&w.app, &client(id, secret), form).await
}

fn authorize_path(w: &World, prompt: Option<&str>) -> String {
    let extra: Vec<(&str, &str)> = prompt.map(|p| ("prompt", p)).into_iter().collect();
    oauth::authorize_path(&w.app_id, "openid offline_access", &extra)
}

/// The admin signs in to the third-party app through the hosted pages and allows it; returns
/// the token response and the browser (holding the SSO cookie).
async fn app_tokens(w: &World) -> (Value, Browser) {
    let browser = Browser::new(&w.app.base);
    let page = oauth::authorize(
        &browser,
        &authorize_path(w, None),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    let (status, body) =
        oauth::exchange(&w.app, &client(&w.app_id, &w.app_secret), &page, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body, browser)
}

/// The bootstrap admin as stored.
async fn admin_record(w: &World) -> sigil_server::domain::UserRecord {
    let login = sigil_server::domain::Login::email(ADMIN_EMAIL);
    w.app
        .state
        .stores
        .users
        .find_user(&login)
        .await
        .unwrap()
        .unwrap()
}

/// A fresh token of the kind: every probe gets its own, since a refresh uses one up.
async fn mint(w: &World, kind: Kind) -> String {
    let field = |body: &Value, name: &str| body[name].as_str().unwrap().to_owned();
    match kind {
        Kind::RestAccess | Kind::RestRefresh => {
            let login = w
                .app
                .post(
                    "/v1/auth/login",
                    json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
                )
                .await;
            let t = tokens(&login);
            if kind == Kind::RestAccess {
                t.access
            } else {
                t.refresh
            }
        }
        Kind::AppAccess => field(&app_tokens(w).await.0, "access_token"),
        Kind::AppRefresh => field(&app_tokens(w).await.0, "refresh_token"),
        Kind::AppIdToken => field(&app_tokens(w).await.0, "id_token"),
        Kind::ResourceAccess => {
            let browser = Browser::new(&w.app.base);
            let path =
                oauth::authorize_path(&w.app_id, "openid api:read", &[("resource", RESOURCE)]);
            let page = oauth::authorize(&browser, &path, ADMIN_EMAIL, ADMIN_PASSWORD).await;
            let app = client(&w.app_id, &w.app_secret);
            let (status, body) = oauth::exchange(&w.app, &app, &page, &[]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            field(&body, "access_token")
        }
        Kind::ClientCredentials => {
            let (status, body) = token_request(
                w,
                &[("grant_type", "client_credentials")],
                (&w.app_id, &w.app_secret),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            field(&body, "access_token")
        }
        Kind::SsoCookie => app_tokens(w).await.1.cookie("sigil_session").unwrap(),
    }
}

async fn introspect(w: &World, token: &str, (id, secret): (&str, &str)) -> Value {
    oauth::introspect(&w.app, &client(id, secret), token).await
}

/// Presents the token at the surface; true when it was accepted. A refusal must look like
/// one: 401 on bearer surfaces, `invalid_grant` at the token endpoint.
async fn accepted(w: &World, surface: Surface, token: &str) -> bool {
    let bearer = |path: &'static str| async move {
        let reply = w.app.get(path, Some(token)).await;
        match reply.status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("{path}: unexpected {other}: {}", reply.body),
        }
    };
    match surface {
        Surface::Me => bearer("/v1/users/me").await,
        Surface::AdminUsers => bearer("/v1/admin/users").await,
        Surface::Userinfo => bearer("/oauth2/userinfo").await,
        Surface::IntrospectByApp => {
            introspect(w, token, (&w.app_id, &w.app_secret)).await["active"] == json!(true)
        }
        Surface::IntrospectByOther => {
            introspect(w, token, (&w.other_id, &w.other_secret)).await["active"] == json!(true)
        }
        Surface::IntrospectByServer => {
            introspect(w, token, (&w.server_id, &w.server_secret)).await["active"] == json!(true)
        }
        Surface::RestRefresh => {
            let reply = w.app.refresh(token).await;
            match reply.status {
                StatusCode::OK => true,
                StatusCode::UNAUTHORIZED => false,
                other => panic!("refresh: unexpected {other}: {}", reply.body),
            }
        }
        Surface::OAuthRefresh => {
            let (status, body) = token_request(
                w,
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
                (&w.app_id, &w.app_secret),
            )
            .await;
            match status {
                StatusCode::OK => true,
                StatusCode::BAD_REQUEST if body["error"] == json!("invalid_grant") => false,
                other => panic!("token endpoint: unexpected {other}: {body}"),
            }
        }
    }
}

/// Each kind of token at each surface gets exactly the answer of the matrix.
#[tokio::test]
async fn every_token_is_accepted_only_where_it_was_meant_to_go() {
    let w = world().await;
    let mut wrong = Vec::new();
    for (kind, name, _) in MATRIX {
        for (surface, surface_name) in SURFACES {
            let token = mint(&w, kind).await;
            let got = accepted(&w, surface, &token).await;
            if got != expected(kind, surface) {
                wrong.push(format!("{name} at {surface_name}: accepted = {got}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "differs from the matrix:\n{}",
        wrong.join("\n")
    );
}

/// docs/tokens.md shows the matrix the test above enforces.
#[test]
fn the_documented_matrix_is_the_tested_one() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tokens.md")).unwrap();
    let table = markdown_table();
    assert!(
        doc.contains(&table),
        "docs/tokens.md must contain this table:\n\n{table}\n"
    );
}

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
        .assert_error(401, "INVALID_TOKEN");
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
    // prompt=login wants a sign-in newer than the last one (second precision).
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
