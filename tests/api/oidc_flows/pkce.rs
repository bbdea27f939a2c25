//! PKCE (RFC 7636): S256 only, the verifier checked at the token endpoint, required of every
//! client unless a confidential one is excused.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;

use super::{REDIRECT, VERIFIER, authorize_url, code_for, exchange, setup, token};

#[tokio::test]
async fn missing_pkce_verifier_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((&s.client_id, &s.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let code = code_for(&s, &b, &s.client_id).await;
    let (status, body) = exchange(&s, &code, &"x".repeat(43)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn plain_pkce_is_refused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let page = b
        .get(&authorize_url(
            &s.client_id,
            &[
                ("code_challenge", VERIFIER),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(page.location_param("state").as_deref(), Some("st"));
    // A public client must use PKCE at all.
    let page = b
        .get(&authorize_url(
            &s.public_id,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
    );
}

/// PKCE is required of every client by default (SIGIL_REQUIRE_PKCE); a confidential client
/// can be excused (`requirePkce: false`), a public one cannot; the server-wide switch off
/// leaves it to public clients.
#[tokio::test]
async fn pkce_is_required_of_every_client_unless_excused() {
    let s = setup().await;
    let b = Browser::new(&s.app.base);
    let without = [("code_challenge", ""), ("code_challenge_method", "")];
    let refused = b.get(&authorize_url(&s.client_id, &without)).await;
    assert_eq!(
        refused.location_param("error").as_deref(),
        Some("invalid_request"),
        "{refused:?}"
    );
    let (legacy_id, legacy_secret) = s
        .app
        .create_client(json!({
            "name": "Legacy", "type": "confidential", "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"], "firstParty": true, "requirePkce": false,
        }))
        .await;
    let first = b.get(&authorize_url(&legacy_id, &without)).await;
    let done = b
        .follow(b.sign_in(first, &s.user.username, &s.user.password).await)
        .await;
    let code = done.location_param("code").expect("code without PKCE");
    let legacy_secret = legacy_secret.unwrap();
    let without_verifier = |code: String| {
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
        ];
        let (app, id, secret) = (&s.app, legacy_id.clone(), legacy_secret.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(app, &form, Some((&id, &secret))).await
        }
    };
    let (status, body) = without_verifier(code).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A code issued without PKCE while the client was excused is refused once it is not.
    let pending = b
        .follow(b.get(&authorize_url(&legacy_id, &without)).await)
        .await;
    let code = pending
        .location_param("code")
        .expect("SSO code without PKCE");
    let admin = s.app.admin_token().await;
    let changed = s
        .app
        .request(
            Method::PUT,
            &format!("/v1/admin/clients/{legacy_id}"),
            Some(&admin),
            Some(json!({
                "name": "Legacy", "type": "confidential", "redirectUris": [REDIRECT],
                "scopes": ["openid", "email"], "firstParty": true, "requirePkce": true,
            })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let (status, body) = without_verifier(code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let public = s
        .app
        .request(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({
                "name": "SPA", "type": "public", "redirectUris": [REDIRECT], "requirePkce": false,
            })),
        )
        .await;
    public.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(public.body["error"]["details"][0]["field"], "requirePkce");

    let lenient = TestApp::spawn_oidc(|c| c.require_pkce = false).await;
    let (user, _) = lenient.signed_in_user().await;
    let (client_id, _) = lenient
        .create_client(json!({
            "name": "Any", "type": "confidential", "redirectUris": [REDIRECT], "firstParty": true,
        }))
        .await;
    let b = Browser::new(&lenient.base);
    let first = b.get(&authorize_url(&client_id, &without)).await;
    let done = b
        .follow(b.sign_in(first, &user.username, &user.password).await)
        .await;
    assert!(done.location_param("code").is_some(), "{done:?}");
    let (public_id, _) = lenient
        .create_client(json!({
            "name": "SPA", "type": "public", "redirectUris": [REDIRECT], "firstParty": true,
        }))
        .await;
    let page = b.get(&authorize_url(&public_id, &without)).await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request"),
        "{page:?}"
    );
}
