//! Client credentials, introspection, revocation, ID token claims and the client admin API,
//! on the set-up of the authorization-flow tests.

use super::*;

/// client_credentials: a token for the client itself, introspectable, revocable.
#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let s = setup().await;
    let (status, body) = token(
        &s.app,
        &[("grant_type", "client_credentials"), ("scope", "email")],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();

    let introspect = |t: String| {
        let app = &s.app;
        let (id, secret) = (s.client_id.clone(), s.secret.clone());
        async move {
            let r = app
                .client
                .post(app.url("/oauth2/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let info = introspect(access.clone()).await;
    assert_eq!(info["active"], json!(true));
    assert_eq!(info["client_id"], json!(s.client_id));
    assert_eq!(info["sub"], json!(s.client_id));
    assert_eq!(introspect("garbage".into()).await, json!({"active": false}));

    // Wrong secret: 401 with WWW-Authenticate, RFC 6749 body.
    let bad = s
        .app
        .client
        .post(s.app.url("/oauth2/token"))
        .basic_auth(&s.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers().get("www-authenticate").is_some());
    assert_eq!(bad.headers()["cache-control"], "no-store");
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        json!("invalid_client")
    );
    // A public client cannot use it.
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &s.public_id),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    let revoked = s
        .app
        .client
        .post(s.app.url("/oauth2/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(access).await, json!({"active": false}));
}

/// Refresh tokens: introspected while alive, dead after revocation.
#[tokio::test]
async fn refresh_token_revocation() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let first = b
        .get(&authorize_url(
            &s.client_id,
            &[("scope", "openid offline_access")],
        ))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let code = done.location_param("code").unwrap();
    let (_, tokens) = exchange(&s, &code, VERIFIER).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let post = |path: &str, form: Vec<(&str, String)>| {
        s.app
            .client
            .post(s.app.url(path))
            .basic_auth(&s.client_id, Some(&s.secret))
            .form(&form)
            .send()
    };
    let info: Value = post("/oauth2/introspect", vec![("token", refresh.clone())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["active"], json!(true));
    assert_eq!(info["token_type"], json!("refresh_token"));
    post("/oauth2/revoke", vec![("token", refresh.clone())])
        .await
        .unwrap();
    let (status, body) = token(
        &s.app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// ID token claims by scope, nonce and amr.
#[tokio::test]
async fn id_token_claims() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let first = b
        .get(&authorize_url(
            &s.client_id,
            &[("scope", "openid profile"), ("nonce", "n-123")],
        ))
        .await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let (_, tokens) = exchange(&s, &done.location_param("code").unwrap(), VERIFIER).await;
    let payload = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["nonce"], json!("n-123"));
    assert_eq!(claims["aud"], json!(s.client_id));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["preferred_username"], json!(s.user.username));
    assert!(claims.get("email").is_none(), "email scope was not asked");
    assert!(
        claims["sid"].is_string()
            && claims["at_hash"].is_string()
            && claims["auth_time"].is_number()
    );
}

/// The client admin API needs admin.clients.manage, shows a secret once, rotates it.
#[tokio::test]
async fn client_admin_api() {
    let app = TestApp::spawn().await;
    let (_, user) = app.signed_in_user().await;
    app.request(Method::GET, "/v1/admin/clients", Some(&user.access), None)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let admin = app.admin_token().await;
    let bad = app
        .request(Method::POST, "/v1/admin/clients", Some(&admin), Some(json!({"name": "x", "type": "confidential", "redirectUris": ["http://evil.example.com/cb"]})))
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    let created = app
        .request(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"name": "App", "type": "confidential", "redirectUris": [REDIRECT]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.data()["clientId"].as_str().unwrap().to_owned();
    let secret = created.data()["clientSecret"].as_str().unwrap().to_owned();
    let listed = app
        .request(Method::GET, "/v1/admin/clients", Some(&admin), None)
        .await;
    assert!(
        listed
            .data()
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("clientSecret").is_none())
    );
    let rotated = app
        .request(
            Method::POST,
            &format!("/v1/admin/clients/{id}/rotate-secret"),
            Some(&admin),
            None,
        )
        .await;
    let new_secret = rotated.data()["clientSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let (old, _) = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(old, StatusCode::UNAUTHORIZED);
    let updated = app
        .request(
            Method::PUT,
            &format!("/v1/admin/clients/{id}"),
            Some(&admin),
            Some(json!({"name": "Renamed", "type": "confidential", "redirectUris": [REDIRECT]})),
        )
        .await;
    assert_eq!(updated.data()["name"], json!("Renamed"));
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/admin/clients/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    app.request(
        Method::GET,
        &format!("/v1/admin/clients/{id}"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let _ = read;
}
