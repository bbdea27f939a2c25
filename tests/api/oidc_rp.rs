//! An independent relying party (the `openidconnect` crate) runs the whole OpenID Connect
//! flow against the running server.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use openidconnect::{HttpRequest, HttpResponse, LogoutRequest};
use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";

/// The RP's HTTP transport, over this workspace's reqwest; never follows redirects.
async fn rp_http(request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap();
    let mut builder = client
        .request(method, request.uri().to_string())
        .body(request.body().clone());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let response = builder.send().await?;
    let mut out = openidconnect::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    Ok(out.body(response.bytes().await?.to_vec()).unwrap())
}

#[tokio::test]
async fn relying_party_runs_the_whole_flow() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (user, _) = app.signed_in_user().await;
    let (client_id, secret) = app
        .create_client(json!({
            "name": "Example RP",
            "type": "confidential",
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": [AFTER_LOGOUT],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "email", "offline_access", "roles"],
        }))
        .await;

    // Discovery.
    let issuer = IssuerUrl::new(app.base.clone()).unwrap();
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &rp_http)
        .await
        .unwrap();
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    // Authorization code + PKCE, through the hosted pages.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf_state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&app.base);
    let first = browser.get(auth_url.as_str()).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let signed_in = browser.sign_in(first, &user.username, &user.password).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let back = browser.consent(signed_in, "allow").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(
        back.location_param("state").as_deref(),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(
        back.location_param("iss").as_deref(),
        Some(app.base.as_str())
    );
    let code = back.location_param("code").expect("code");

    // Token exchange and ID token validation (signature via JWKS, iss, aud, nonce, at_hash).
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("id_token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual_hash, expected_hash);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some(user.email.as_str())
    );
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(user.username.as_str())
    );
    assert!(claims.auth_time().is_some());
    let refresh = tokens
        .refresh_token()
        .expect("refresh_token (offline_access)")
        .clone();

    // Userinfo with the access token.
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some(user.email.as_str()));

    // Refresh: a new pair; the old refresh token is spent.
    let renewed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    assert_ne!(renewed.refresh_token().unwrap().secret(), refresh.secret());
    assert!(renewed.id_token().is_some());
    assert!(
        client
            .exchange_refresh_token(&refresh)
            .unwrap()
            .request_async(&rp_http)
            .await
            .is_err()
    );

    // A second authorization for the same client: signed in already, consent remembered.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (again_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let again = browser.get(again_url.as_str()).await;
    assert!(
        again.location.as_deref().unwrap().starts_with(REDIRECT),
        "{again:?}"
    );

    // RP-initiated logout.
    let logout_url = LogoutRequest::from(end_session)
        .set_id_token_hint(id_token)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(AFTER_LOGOUT.into()).unwrap())
        .set_state(CsrfToken::new("bye".into()))
        .http_get_url();
    let confirm = browser.get(logout_url.as_str()).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let csrf = confirm.field("csrf").unwrap();
    let mut form = vec![("csrf".to_owned(), csrf)];
    for name in [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
    ] {
        form.push((name.to_owned(), confirm.field(name).unwrap_or_default()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = browser.post("/oauth2/logout", &pairs).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.location.as_deref().unwrap().starts_with(AFTER_LOGOUT));
    assert_eq!(out.location_param("state").as_deref(), Some("bye"));

    // Signed out: the next authorization asks for the password again, and the RP's session
    // (named by the ID token's sid) is gone.
    let after = browser.get(again_url.as_str()).await;
    assert!(
        after.location.as_deref().unwrap().starts_with("/login"),
        "{after:?}"
    );
    assert!(
        client
            .exchange_refresh_token(renewed.refresh_token().unwrap())
            .unwrap()
            .request_async(&rp_http)
            .await
            .is_err()
    );
}
