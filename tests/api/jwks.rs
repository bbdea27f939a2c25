use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_keys::{JwkSet, Verifier, VerifyOptions};
use sigil_tests::TestApp;

/// A token the server signed verifies against the published JWKS with `sigil-keys` alone.
#[tokio::test]
async fn access_token_verifies_with_published_jwks() {
    let app = TestApp::spawn().await;
    let (user, tokens) = app.signed_in_user().await;

    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cache, "public, max-age=3600");
    let jwks: JwkSet = response.json().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].alg.as_deref(), Some("RS256"));

    let issuer = app.state.config.issuer.clone();
    let verifier = Verifier::from_jwks(&jwks).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verified = verifier
        .verify::<Value>(
            &tokens.access,
            &VerifyOptions::new(&issuer, &issuer).with_typ("at+jwt"),
            now,
        )
        .unwrap();
    let me = app.me(&tokens.access).await;
    assert_eq!(verified.claims["sub"], me.data()["id"]);
    assert_eq!(verified.claims["client_id"], json!("sigil"));
    assert_eq!(verified.claims["amr"], json!(["pwd"]));
    assert_eq!(verified.claims["roles"], json!(["user"]));
    for claim in [
        "iss",
        "aud",
        "exp",
        "iat",
        "jti",
        "scope",
        "sid",
        "auth_time",
    ] {
        assert!(verified.claims.get(claim).is_some(), "{claim} missing");
    }
    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), jwks.keys[0].kid.as_deref());
    let _ = user;
}

/// Discovery is truthful: every endpoint it names exists, and it promises only S256 PKCE,
/// the code flow and the auth methods the token endpoint accepts.
#[tokio::test]
async fn discovery_is_truthful() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let reply = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let issuer = &app.state.config.issuer;
    assert_eq!(reply.body["issuer"], json!(issuer));
    assert_eq!(
        reply.body["jwks_uri"],
        json!(format!("{issuer}/.well-known/jwks.json"))
    );
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "pushed_authorization_request_endpoint",
    ] {
        let url = reply.body[endpoint].as_str().unwrap();
        assert!(url.starts_with(issuer.as_str()), "{endpoint}");
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{endpoint} {url}");
    }
    assert_eq!(
        reply.body["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(reply.body["response_types_supported"], json!(["code"]));
    assert_eq!(
        reply.body["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        reply.body["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA", "HS256"])
    );
}

/// A token signed by another key, or carrying a forged signature, is refused by the server.
#[tokio::test]
async fn server_refuses_foreign_tokens() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.signed_in_user().await;
    let other = sigil_keys::KeyPair::generate(sigil_keys::KeySize::Rsa2048).unwrap();
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&tokens.access)
        .unwrap()
        .claims;
    let forged = other.signer().unwrap().sign("at+jwt", &claims).unwrap();
    app.me(&forged).await.assert_error(401, "INVALID_TOKEN");

    let mut parts: Vec<&str> = tokens.access.split('.').collect();
    parts[2] = "AAAA";
    app.me(&parts.join("."))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

/// JWKS and discovery carry a strong ETag; a relying service that presents it (strong or
/// weak) gets 304 without a body, a stale one gets the document; publishing a new key
/// changes the JWKS tag.
#[tokio::test]
async fn jwks_and_discovery_answer_conditional_gets() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let first = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
            "{etag}"
        );
        let body: Value = first.json().await.unwrap();
        assert!(body.is_object());

        for presented in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
        ] {
            let again = app
                .client
                .get(app.url(path))
                .header("if-none-match", &presented)
                .send()
                .await
                .unwrap();
            assert_eq!(
                again.status(),
                StatusCode::NOT_MODIFIED,
                "{path} {presented}"
            );
            assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
            assert!(again.headers().contains_key("cache-control"));
            assert!(again.bytes().await.unwrap().is_empty());
        }
        let stale = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::OK);
        assert_eq!(stale.json::<Value>().await.unwrap(), body);
    }

    let before = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let admin = app.admin_token().await;
    let rotated = app
        .request(
            reqwest::Method::POST,
            "/v1/admin/keys/rotate",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let after = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &before)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "a new key is a new document"
    );
    assert_ne!(after.headers()["etag"].to_str().unwrap(), before);
}
