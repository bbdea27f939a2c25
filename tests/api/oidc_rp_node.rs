//! panva's `openid-client` (npm, Node) as an independent relying party, for what it speaks
//! beyond the basic flow the `openidconnect` crate covers in `oidc_rp`: pushed authorization
//! requests.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_tests::browser::Browser;
use sigil_tests::{TestApp, backend::program};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// `start` prints the authorization URL (built with PAR) and what the callback needs;
/// `finish` exchanges the callback URL's code and reads userinfo.
const RELYING_PARTY: &str = r#"
const { createRequire } = await import('node:module');
const { pathToFileURL } = await import('node:url');
const require = createRequire(process.env.NODE_PATH + '/');
const oidc = await import(pathToFileURL(require.resolve('openid-client')).href);
const [issuer, clientId, secret, redirect, phase, carried] = process.argv.slice(1);
const config = await oidc.discovery(new URL(issuer), clientId, secret, undefined, {
  execute: [oidc.allowInsecureRequests],
});
if (phase === 'start') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: redirect,
    scope: 'openid email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state }));
} else {
  const { callback, verifier, state } = JSON.parse(carried);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  const claims = tokens.claims();
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  console.log(JSON.stringify({ claims, userinfo }));
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
    let (user, _) = app.signed_in_user().await;
    let (client_id, secret) = app
        .create_client(json!({
            "name": "Node RP", "type": "confidential",
            "redirectUris": [REDIRECT],
            "scopes": ["openid", "email"],
            "firstParty": true,
            "requirePushedAuthorizationRequests": true,
        }))
        .await;
    let secret = secret.unwrap();
    let start = relying_party(&[&app.base, &client_id, &secret, REDIRECT, "start"]).await;
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
        &client_id,
        &secret,
        REDIRECT,
        "finish",
        &carried.to_string(),
    ])
    .await;
    assert_eq!(finish["claims"]["aud"], client_id.as_str());
    assert_eq!(finish["claims"]["iss"], app.base.as_str());
    assert_eq!(finish["userinfo"]["email"], user.email.as_str());
}
