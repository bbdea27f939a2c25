//! The token model (SPEC section 5): every kind of token Sigil hands out, presented at every
//! surface that takes one, is accepted only where it was meant to go. The expected matrix is
//! data; `docs/tokens.md` carries the same table and a test checks that they agree.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::browser::Browser;
use sigil_tests::oauth::{self, REDIRECT};
use sigil_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, tokens};

mod lifecycle;

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
