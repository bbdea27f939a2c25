//! The hosted login in a real browser: Chromium driven over WebDriver (chromedriver).
//! Authorize, sign in, pass MFA, consent, land on the redirect with a code; then a second
//! client signs in by SSO without a password.

use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use reqwest::Method;
use serde_json::json;
use sigil_server::domain::oauth::s256_challenge;
use sigil_tests::services::free_port;
use sigil_tests::{TestApp, backend::program};
use tokio::process::Command;
use totp_rs::{Algorithm, Builder, Secret};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub(crate) struct Chrome {
    pub(crate) client: fantoccini::Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// Headless Chromium under chromedriver, with a throwaway profile.
pub(crate) async fn chrome() -> Chrome {
    let port = free_port();
    let driver = Command::new(program("SIGIL_TEST_CHROMEDRIVER"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": program("SIGIL_TEST_CHROMIUM"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) => {
                assert!(Instant::now() < deadline, "chromedriver did not start: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    Chrome {
        client,
        _driver: driver,
        _profile: profile,
    }
}

fn authorize(app: &TestApp, client_id: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "browser")
        .append_pair("code_challenge", &s256_challenge(&"v".repeat(43)))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/oauth2/authorize?{query}", app.base)
}

/// Waits (at most 20 s) until the browser's URL starts with `prefix`.
pub(crate) async fn wait_for_url(browser: &fantoccini::Client, prefix: &str) -> url::Url {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(prefix) {
            return url;
        }
        assert!(
            Instant::now() < deadline,
            "still at {url}, waiting for {prefix}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn fill(browser: &fantoccini::Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

#[tokio::test]
async fn hosted_login_with_mfa_consent_and_sso_in_chromium() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (user, session) = app.signed_in_user().await;
    // Enrol MFA.
    let setup = app
        .request(
            Method::POST,
            "/v1/auth/mfa/setup",
            Some(&session.access),
            Some(json!({})),
        )
        .await;
    let secret = setup.data()["secret"].as_str().unwrap().to_owned();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(Secret::try_from_base32(&secret).unwrap())
        .build_noncompliant();
    let code_now = || {
        totp.generate(app.state.clock.now().unix_timestamp() as u64)
            .to_string()
    };
    let verified = app
        .request(
            Method::POST,
            "/v1/auth/mfa/verify",
            Some(&session.access),
            Some(json!({"code": code_now()})),
        )
        .await;
    assert_eq!(
        verified.status,
        reqwest::StatusCode::OK,
        "{}",
        verified.body
    );
    app.advance_clock(Duration::from_secs(30));

    let (third_party, _) = app
        .create_client(
            json!({"name": "Photo Printer", "type": "confidential", "redirectUris": [REDIRECT]}),
        )
        .await;
    let (first_party, _) = app
        .create_client(json!({"name": "Sigil Portal", "type": "public", "redirectUris": [REDIRECT], "firstParty": true}))
        .await;

    let chrome = chrome().await;
    let b = &chrome.client;
    b.goto(&authorize(&app, &third_party)).await.unwrap();
    wait_for_url(b, &format!("{}/login", app.base)).await;
    assert!(b.source().await.unwrap().contains("Photo Printer"));
    let shot = b.screenshot().await.unwrap();
    let _ = std::fs::write(std::env::temp_dir().join("sigil-login.png"), shot);
    fill(b, "#login", &user.username).await;
    fill(b, "#password", &user.password).await;
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // MFA page.
    b.wait().for_element(Locator::Css("#code")).await.unwrap();
    fill(b, "#code", &code_now()).await;
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Consent page, then back to the client with a code.
    b.wait()
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("See your email address"));
    b.find(Locator::Css("button[value=allow]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let landed = wait_for_url(b, REDIRECT).await;
    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert!(
        params.get("code").is_some_and(|c| !c.is_empty()),
        "{landed}"
    );
    assert_eq!(params.get("state").map(String::as_str), Some("browser"));

    // A second, first-party client: SSO, no password, no consent.
    b.goto(&authorize(&app, &first_party)).await.unwrap();
    let sso = wait_for_url(b, REDIRECT).await;
    assert!(
        sso.query_pairs().any(|(k, v)| k == "code" && !v.is_empty()),
        "{sso}"
    );
    chrome.client.close().await.unwrap();
}
