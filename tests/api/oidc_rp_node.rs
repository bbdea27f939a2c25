//! panva's `openid-client` (npm, Node) as an independent relying party, for what it speaks
//! beyond the basic flow the `openidconnect` crate covers in `oidc_rp`: pushed authorization
//! requests, `private_key_jwt` client authentication with a key WebCrypto made, signed
//! request objects and DPoP-bound tokens.

use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::browser::Browser;
use sigil_tests::{TestApp, backend::program};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// `keygen` prints a new P-256 key pair as JWKs; `start` prints the authorization URL (built
/// with PAR) and what the callback needs; `finish` exchanges the callback URL's code and
/// reads userinfo. `auth` is `{"secret": ...}` or `{"privateJwk": ...}` (private_key_jwt),
/// with `"jar": true` for a signed request, `"dpop": {publicJwk, privateJwk}` for
/// DPoP-bound tokens (every request to Sigil with a proof by that key) and `"resource"` for
/// tokens addressed to an API, which `finish` then calls (`"api"`, a URL) with the token.
const RELYING_PARTY: &str = r#"
const { createRequire } = await import('node:module');
const { pathToFileURL } = await import('node:url');
const require = createRequire(process.env.NODE_PATH + '/');
const oidc = await import(pathToFileURL(require.resolve('openid-client')).href);
const [issuer, clientId, auth, redirect, phase, carried] = process.argv.slice(1);
if (phase === 'keygen') {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  console.log(JSON.stringify({ publicJwk: { ...publicJwk, kid: 'node-1', use: 'sig' }, privateJwk }));
  process.exit(0);
}
const { secret, privateJwk, jar, dpop, resource, api } = JSON.parse(auth);
const privateKey = privateJwk && {
  key: await crypto.subtle.importKey('jwk', privateJwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
  kid: 'node-1',
};
const clientAuth = privateKey ? oidc.PrivateKeyJwt(privateKey) : oidc.ClientSecretPost(secret);
const config = await oidc.discovery(new URL(issuer), clientId, undefined, clientAuth, {
  execute: [oidc.allowInsecureRequests],
});
const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' };
const DPoP = dpop && oidc.getDPoPHandle(config, {
  privateKey: await crypto.subtle.importKey('jwk', dpop.privateJwk, ecdsa, false, ['sign']),
  publicKey: await crypto.subtle.importKey('jwk', dpop.publicJwk, ecdsa, true, ['verify']),
});
if (phase === 'start') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  let parameters = {
    redirect_uri: redirect,
    scope: 'openid email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  };
  if (resource) {
    parameters.resource = resource;
  }
  if (jar) {
    parameters = (await oidc.buildAuthorizationUrlWithJAR(config, parameters, privateKey)).searchParams;
  }
  const url = await oidc.buildAuthorizationUrlWithPAR(config, parameters, { DPoP });
  console.log(JSON.stringify({ url: url.href, verifier, state }));
} else {
  const { callback, verifier, state } = JSON.parse(carried);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  }, undefined, { DPoP });
  const claims = tokens.claims();
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  let called;
  if (api) {
    const response = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(api), 'GET', undefined, undefined, { DPoP });
    called = { status: response.status, body: await response.json() };
  }
  console.log(JSON.stringify({ claims, userinfo, tokenType: tokens.token_type, accessToken: tokens.access_token, called }));
}
"#;

/// Runs asynchronously: the server under test shares this test's runtime.
async fn relying_party(args: &[&str]) -> Value {
    let output = tokio::process::Command::new(program("SIGIL_TEST_NODE"))
        .env("NODE_PATH", program("SIGIL_TEST_NODE_PATH"))
        .args(["--input-type=module", "-e", RELYING_PARTY])
        .args(args)
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "openid-client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("relying party output")
}

/// openid-client pushes the request, the browser carries only the reference, and the code,
/// ID token and userinfo satisfy openid-client's own checks (state, `iss`, PKCE).
#[tokio::test]
async fn openid_client_signs_in_with_a_pushed_request() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (client_id, secret) = app
        .create_client(json!({
            "name": "Node RP", "type": "confidential",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
            "requirePushedAuthorizationRequests": true,
        }))
        .await;
    let auth = json!({ "secret": secret.unwrap() }).to_string();
    let finish = sign_in_through(&app, &client_id, &auth).await;
    assert!(
        finish["tokenType"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("bearer"),
        "{finish}"
    );
}

/// The same flow with openid-client's `PrivateKeyJwt`: an ES256 key made by WebCrypto, its
/// public half registered, every request (PAR, code grant) authenticated by an assertion,
/// the authorization request itself a request object signed with that key (JAR), and the
/// tokens bound to a second key by DPoP proofs (PAR, code grant, userinfo), openid-client
/// answering Sigil's `use_dpop_nonce` by itself.
#[tokio::test]
async fn openid_client_authenticates_with_private_key_jwt_and_signs_its_request() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let keys = relying_party(&["", "", "", "", "keygen"]).await;
    let dpop = relying_party(&["", "", "", "", "keygen"]).await;
    let (client_id, secret) = app
        .create_client(json!({
            "name": "Node RP with keys", "type": "confidential",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
            "requirePushedAuthorizationRequests": true,
            "tokenEndpointAuthMethod": "private_key_jwt",
            "jwks": { "keys": [keys["publicJwk"]] },
            "requireSignedRequestObject": true,
            "dpopBoundAccessTokens": true,
        }))
        .await;
    assert!(secret.is_none());
    let auth = json!({ "privateJwk": keys["privateJwk"], "jar": true, "dpop": dpop }).to_string();
    let finish = sign_in_through(&app, &client_id, &auth).await;
    assert!(
        finish["tokenType"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("dpop"),
        "{finish}"
    );
    let access = finish["accessToken"].as_str().unwrap();
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        access.split('.').nth(1).unwrap(),
    )
    .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    let public: jsonwebtoken::jwk::Jwk = serde_json::from_value(dpop["publicJwk"].clone()).unwrap();
    let jkt = public
        .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .unwrap();
    assert_eq!(claims["cnf"]["jkt"], jkt);
}

/// PAR, the hosted sign-in, the code grant and userinfo, with openid-client checking each;
/// what the relying party printed at the end.
async fn sign_in_through(app: &TestApp, client_id: &str, auth: &str) -> Value {
    let (user, _) = app.signed_in_user().await;
    let start = relying_party(&[&app.base, client_id, auth, REDIRECT, "start"]).await;
    let url = url::Url::parse(start["url"].as_str().unwrap()).unwrap();
    let mut query: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    query.sort();
    assert_eq!(query, ["client_id", "request_uri"], "{url}");

    let browser = Browser::new(&app.base);
    let first = browser.get(url.as_str()).await;
    let done = browser
        .follow(browser.sign_in(first, &user.username, &user.password).await)
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{done:?}");
    let carried = json!({
        "callback": done.location.unwrap(),
        "verifier": start["verifier"],
        "state": start["state"],
    });
    let finish = relying_party(&[
        &app.base,
        client_id,
        auth,
        REDIRECT,
        "finish",
        &carried.to_string(),
    ])
    .await;
    assert_eq!(finish["claims"]["aud"], client_id);
    assert_eq!(finish["claims"]["iss"], app.base.as_str());
    assert_eq!(finish["userinfo"]["email"], user.email.as_str());
    finish
}

/// The FAPI 2.0-style flow end to end, with a real browser on the hosted pages: openid-client
/// pushes (PAR) a signed request object (JAR) for an API resource, with PKCE, authenticated
/// with `private_key_jwt` and carrying a DPoP proof; Chromium signs in; openid-client redeems
/// the code with a proof (the client accepts no other kind), reads userinfo and calls the
/// example resource server with proofs, which finds the token bound to that key.
#[tokio::test]
async fn a_fapi_style_flow_through_chromium() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let admin = app.admin_token().await;
    let api = crate::resource_server::API;
    let registered = app
        .request(
            Method::POST,
            "/v1/admin/resources",
            Some(&admin),
            Some(json!({"identifier": api, "name": "Example API", "scopes": ["hello"]})),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let keys = relying_party(&["", "", "", "", "keygen"]).await;
    let dpop = relying_party(&["", "", "", "", "keygen"]).await;
    let (client_id, _) = app
        .create_client(json!({
            "name": "FAPI RP", "type": "confidential",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
            "requirePushedAuthorizationRequests": true,
            "requireSignedRequestObject": true,
            "dpopBoundAccessTokens": true,
            "tokenEndpointAuthMethod": "private_key_jwt",
            "jwks": { "keys": [keys["publicJwk"]] },
        }))
        .await;
    let (_server, base) = crate::resource_server::example_server(&app.base).await;
    let auth = json!({
        "privateJwk": keys["privateJwk"], "jar": true, "dpop": dpop,
        "resource": api, "api": format!("{base}/hello"),
    })
    .to_string();
    let (user, _) = app.signed_in_user().await;
    let start = relying_party(&[&app.base, &client_id, &auth, REDIRECT, "start"]).await;

    let chrome = crate::browser_login::chrome().await;
    let b = &chrome.client;
    b.goto(start["url"].as_str().unwrap()).await.unwrap();
    crate::browser_login::wait_for_url(b, &format!("{}/login", app.base)).await;
    crate::browser_login::fill(b, "#login", &user.username).await;
    crate::browser_login::fill(b, "#password", &user.password).await;
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let landed = crate::browser_login::wait_for_url(b, REDIRECT).await;

    let carried = json!({
        "callback": landed.as_str(), "verifier": start["verifier"], "state": start["state"],
    });
    let finish = relying_party(&[
        &app.base,
        &client_id,
        &auth,
        REDIRECT,
        "finish",
        &carried.to_string(),
    ])
    .await;
    assert!(
        finish["tokenType"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("dpop"),
        "{finish}"
    );
    assert_eq!(finish["userinfo"]["email"], user.email.as_str());
    assert_eq!(finish["called"]["status"], 200, "{finish}");
    assert_eq!(finish["called"]["body"]["bound"], true);
    assert_eq!(finish["called"]["body"]["hello"], finish["claims"]["sub"]);
}
