//! The example resource server (`keys/examples/protected_api.rs`) as its own process, trusting
//! a live Sigil through its JWKS: a DPoP-bound token works there with a fresh proof by its key
//! (`sigil_keys::dpop::verify_presentation`), never without one, never twice with one proof;
//! an unbound token works as a Bearer token.

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::TestApp;
use sigil_tests::dpop::{DpopKey, nonce};
use sigil_tests::oauth::{self, Client};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub(crate) const API: &str = "https://api.example.com";

/// The example server on a free port, once it says it listens; its child and base URL.
pub(crate) async fn example_server(issuer: &str) -> (Child, String) {
    let binary = sigil_tests::sigil_binary()
        .with_file_name("examples")
        .join("protected_api");
    assert!(
        binary.exists(),
        "{} is missing: cargo build -p sigil-keys --features client --examples (scripts/test.sh does)",
        binary.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(binary)
        .args([issuer, API])
        .env("LISTEN", &listen)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the example resource server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if line.starts_with("protected API") {
                return;
            }
        }
        panic!("the example server exited before listening");
    })
    .await
    .expect("the example server did not start within 30 s");
    (child, format!("http://{listen}"))
}

async fn hello(base: &str, authorization: &str, proof: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/hello"))
        .header("authorization", authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    let response = req.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_example_resource_server_checks_dpop_proofs() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let admin = app.admin_token().await;
    let (id, secret) = app
        .create_client(json!({
            "name": "Worker", "type": "confidential",
            "grantTypes": ["client_credentials"], "scopes": [],
        }))
        .await;
    let reply = app
        .request(
            Method::POST,
            "/v1/admin/resources",
            Some(&admin),
            Some(json!({"identifier": API, "name": "Example API", "scopes": ["hello"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let client = Client {
        id,
        secret: secret.unwrap(),
    };
    let (_server, base) = example_server(&app.base).await;
    let key = DpopKey::new();
    let nonce = nonce(&app).await;
    let token_url = app.url("/oauth2/token");

    let response = app
        .client
        .post(&token_url)
        .basic_auth(&client.id, Some(&client.secret))
        .header("dpop", key.proof("POST", &token_url, &nonce, None))
        .form(&[("grant_type", "client_credentials"), ("resource", API)])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let bound = body["access_token"].as_str().unwrap().to_owned();
    let at_hello = format!("{base}/hello");

    let proof = key.proof("GET", &at_hello, "", Some(&bound));
    let (status, answer) = hello(&base, &format!("DPoP {bound}"), Some(&proof)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["bound"], true);

    let refused = [
        ("replayed", format!("DPoP {bound}"), Some(proof)),
        ("as a Bearer token", format!("Bearer {bound}"), None),
        ("without a proof", format!("DPoP {bound}"), None),
        (
            "a proof by another key",
            format!("DPoP {bound}"),
            Some(DpopKey::new().proof("GET", &at_hello, "", Some(&bound))),
        ),
        (
            "a proof for another URL",
            format!("DPoP {bound}"),
            Some(key.proof("GET", &format!("{base}/other"), "", Some(&bound))),
        ),
        (
            "a proof without ath",
            format!("DPoP {bound}"),
            Some(key.proof("GET", &at_hello, "", None)),
        ),
    ];
    for (why, authorization, proof) in refused {
        let (status, answer) = hello(&base, &authorization, proof.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {answer}");
    }

    // An unbound token for the same API: Bearer, as before.
    let (status, body) = oauth::token(
        &app,
        &client,
        &[("grant_type", "client_credentials"), ("resource", API)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unbound = body["access_token"].as_str().unwrap();
    let (status, answer) = hello(&base, &format!("Bearer {unbound}"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["bound"], false);
}
