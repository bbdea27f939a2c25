//! API resources (RFC 8707): registered by admins, requested with `resource`, and the `aud`
//! of the tokens issued for them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_keys::{AccessClaims, JwkSet, Verifier, VerifyOptions};
use sigil_tests::browser::Browser;
use sigil_tests::oauth::{self, Client, REDIRECT, authorize_path, claims};
use sigil_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "urn:example:billing";

struct World {
    app: TestApp,
    admin: String,
    app_client: Client,
    /// The orders API itself, registered as a client that serves the resource.
    orders_api: Client,
    orders_id: String,
}

async fn register(app: &TestApp, admin: &str, body: Value) -> Value {
    let reply = app
        .request(Method::POST, "/v1/admin/resources", Some(admin), Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.data().clone()
}

async fn world() -> World {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let admin = app.admin_token().await;
    let (id, secret) = app
        .create_client(json!({
            "name": "Shop", "type": "confidential", "redirectUris": [REDIRECT],
            "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "offline_access", "email"], "firstParty": false,
        }))
        .await;
    let (api_id, api_secret) = app
        .create_client(json!({
            "name": "Orders API", "type": "confidential",
            "grantTypes": ["client_credentials"], "scopes": [],
        }))
        .await;
    let orders = register(
        &app,
        &admin,
        json!({"identifier": ORDERS, "name": "Orders", "scopes": ["orders:read", "orders:write"], "resourceServers": [api_id]}),
    )
    .await;
    register(
        &app,
        &admin,
        json!({"identifier": BILLING, "name": "Billing", "scopes": ["invoices:read"]}),
    )
    .await;
    World {
        app,
        admin,
        app_client: Client {
            id,
            secret: secret.unwrap(),
        },
        orders_api: Client {
            id: api_id,
            secret: api_secret.unwrap(),
        },
        orders_id: orders["id"].as_str().unwrap().to_owned(),
    }
}

/// Admins register, read, change and delete resources; identifiers are unique, absolute,
/// never the issuer, and never change.
#[tokio::test]
async fn admins_manage_resources() {
    let w = world().await;
    let post = |body: Value| {
        w.app.request(
            Method::POST,
            "/v1/admin/resources",
            Some(&w.admin),
            Some(body),
        )
    };
    post(json!({"identifier": ORDERS, "name": "Again", "scopes": []}))
        .await
        .assert_error(409, "RESOURCE_EXISTS");
    for bad in [
        json!({"identifier": "orders", "name": "Relative"}),
        json!({"identifier": "https://x.example.com/#f", "name": "Fragment"}),
        json!({"identifier": w.app.base, "name": "The issuer"}),
        json!({"identifier": "https://x.example.com", "name": ""}),
        json!({"identifier": "https://x.example.com", "name": "S", "scopes": ["openid"]}),
        json!({"identifier": "https://x.example.com", "name": "S", "scopes": ["a b"]}),
        json!({"identifier": "https://x.example.com", "name": "S", "resourceServers": ["nobody"]}),
    ] {
        post(bad.clone())
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let listed = w.app.get("/v1/admin/resources", Some(&w.admin)).await;
    let identifiers: Vec<&str> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers, vec![ORDERS, BILLING]);

    let path = format!("/v1/admin/resources/{}", w.orders_id);
    let put = |body: Value| {
        w.app
            .request(Method::PUT, &path, Some(&w.admin), Some(body))
    };
    put(json!({"identifier": "https://moved.example.com"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let renamed = put(json!({"name": "Orders v2", "scopes": ["orders:read"]})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.data()["identifier"], json!(ORDERS));
    assert_eq!(renamed.data()["scopes"], json!(["orders:read"]));
    let got = w.app.get(&path, Some(&w.admin)).await;
    assert_eq!(got.data()["name"], json!("Orders v2"));

    // A user without admin.clients.manage gets nothing.
    let (_, user) = w.app.signed_in_user().await;
    w.app
        .get("/v1/admin/resources", Some(&user.access))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    let deleted = w
        .app
        .request(Method::DELETE, &path, Some(&w.admin), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    w.app
        .get(&path, Some(&w.admin))
        .await
        .assert_error(404, "NOT_FOUND");
    w.app
        .get("/v1/admin/resources/not-a-uuid", Some(&w.admin))
        .await
        .assert_error(404, "NOT_FOUND");
    let events = w
        .app
        .get(
            "/v1/admin/audit?type=admin.resource.deleted",
            Some(&w.admin),
        )
        .await;
    assert_eq!(events.data()["events"].as_array().unwrap().len(), 1);
}

/// The code flow with `resource`: the access token is addressed to the resource and carries
/// its scope; the resource verifies it offline with its own identifier; its server may
/// introspect it, other clients may not; /v1 refuses it.
#[tokio::test]
async fn tokens_are_addressed_to_the_requested_resource() {
    let w = world().await;
    let browser = Browser::new(&w.app.base);
    let path = authorize_path(
        &w.app_client.id,
        "openid offline_access orders:read invoices:read",
        &[("resource", ORDERS), ("resource", BILLING)],
    );
    let page = oauth::authorize(&browser, &path, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // The token for one of the two granted resources carries only that resource's scopes.
    let (status, body) =
        oauth::exchange(&w.app, &w.app_client, &page, &[("resource", ORDERS)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let c = claims(access);
    assert_eq!(c["aud"], json!(ORDERS));
    assert_eq!(c["scope"], json!("openid offline_access orders:read"));
    assert_eq!(body["scope"], json!("openid offline_access orders:read"));

    // Offline, as the orders API would: its identifier passes, the client id does not.
    let jwks: JwkSet =
        serde_json::from_value(w.app.get("/.well-known/jwks.json", None).await.body).unwrap();
    let verifier = Verifier::from_jwks(&jwks).unwrap();
    let now = w.app.state.clock.now().unix_timestamp() as u64;
    let verified = verifier
        .verify::<AccessClaims>(
            access,
            &VerifyOptions::access_token(&w.app.base, ORDERS),
            now,
        )
        .unwrap();
    assert!(verified.claims.has_scope("orders:read"));
    assert!(
        verifier
            .verify::<AccessClaims>(
                access,
                &VerifyOptions::access_token(&w.app.base, &w.app_client.id),
                now
            )
            .is_err()
    );

    assert_eq!(
        oauth::introspect(&w.app, &w.orders_api, access).await["active"],
        json!(true)
    );
    assert_eq!(
        oauth::introspect(&w.app, &w.app_client, access).await["active"],
        json!(true)
    );
    w.app
        .get("/v1/users/me", Some(access))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        w.app.get("/oauth2/userinfo", Some(access)).await.status,
        StatusCode::OK
    );

    // A refresh may narrow to the other granted resource, never widen.
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, billing) = oauth::token(
        &w.app,
        &w.app_client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", BILLING),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{billing}");
    let c = claims(billing["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], json!(BILLING));
    assert_eq!(c["scope"], json!("openid offline_access invoices:read"));
    assert_eq!(
        oauth::introspect(
            &w.app,
            &w.orders_api,
            billing["access_token"].as_str().unwrap()
        )
        .await,
        json!({"active": false})
    );
    let refresh = billing["refresh_token"].as_str().unwrap().to_owned();
    let (status, wider) = oauth::token(
        &w.app,
        &w.app_client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", "https://elsewhere.example.com"),
        ],
    )
    .await;
    assert_eq!(
        (status, wider["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    // The refused request used nothing up: the refresh token still works.
    let (status, again) = oauth::token(
        &w.app,
        &w.app_client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        claims(again["access_token"].as_str().unwrap())["aud"],
        json!([ORDERS, BILLING])
    );
}

/// Unregistered resources and scopes of no requested resource are refused at authorize,
/// back at the client's redirect URI.
#[tokio::test]
async fn unregistered_resources_and_foreign_scopes_are_refused() {
    let w = world().await;
    let browser = Browser::new(&w.app.base);
    let cases = [
        ("openid", "https://unknown.example.com", "invalid_target"),
        ("openid", "not a uri", "invalid_target"),
        ("openid invoices:read", ORDERS, "invalid_scope"),
        ("openid admin:everything", ORDERS, "invalid_scope"),
    ];
    for (scope, resource, error) in cases {
        let page = browser
            .get(&authorize_path(
                &w.app_client.id,
                scope,
                &[("resource", resource)],
            ))
            .await;
        let location = page.location.clone().unwrap_or_default();
        assert!(
            location.starts_with(REDIRECT),
            "{scope} {resource}: {page:?}"
        );
        assert_eq!(
            page.location_param("error").as_deref(),
            Some(error),
            "{scope} {resource}"
        );
    }
}

/// client_credentials with `resource`: addressed to the resource, its scopes by default;
/// an unknown resource is `invalid_target`.
#[tokio::test]
async fn client_credentials_for_a_resource() {
    let w = world().await;
    let (status, body) = oauth::token(
        &w.app,
        &w.app_client,
        &[("grant_type", "client_credentials"), ("resource", ORDERS)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], json!(ORDERS));
    assert_eq!(c["scope"], json!("email orders:read orders:write"));
    assert_eq!(
        oauth::introspect(
            &w.app,
            &w.orders_api,
            body["access_token"].as_str().unwrap()
        )
        .await["active"],
        json!(true)
    );
    let (status, body) = oauth::token(
        &w.app,
        &w.app_client,
        &[
            ("grant_type", "client_credentials"),
            ("resource", ORDERS),
            ("scope", "invoices:read"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = oauth::token(
        &w.app,
        &w.app_client,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://nope.example.com"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
}

/// A deleted resource is no longer in the tokens a refresh issues, nor are its scopes.
#[tokio::test]
async fn refreshes_drop_a_deleted_resource() {
    let w = world().await;
    let browser = Browser::new(&w.app.base);
    let path = authorize_path(
        &w.app_client.id,
        "openid offline_access orders:read",
        &[("resource", ORDERS)],
    );
    let page = oauth::authorize(&browser, &path, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, body) = oauth::exchange(&w.app, &w.app_client, &page, &[]).await;
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        json!(ORDERS)
    );
    let deleted = w
        .app
        .request(
            Method::DELETE,
            &format!("/v1/admin/resources/{}", w.orders_id),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, body) = oauth::token(
        &w.app,
        &w.app_client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], json!(w.app_client.id));
    assert_eq!(c["scope"], json!("openid offline_access"));
}
