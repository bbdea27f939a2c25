//! `RemoteJwks` against an issuer that stops answering: verification goes on with the cached
//! set, and no fetch waits forever.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sigil_keys::{FETCH_TIMEOUT, JwkSet, KeyPair, KeySize, RemoteError, RemoteJwks, VerifyOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const ISS: &str = "https://id.example.com";

/// An issuer that answers the first `answered` JWKS requests (with `max-age=0`, so every later
/// verification wants a refresh) and then accepts requests without ever answering them. Each
/// request it receives is reported on the channel with its number.
async fn issuer(jwks: JwkSet, answered: usize) -> (String, mpsc::UnboundedReceiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let (seen, requests) = mpsc::unbounded_channel();
    let body = serde_json::to_string(&jwks).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            read_head(&mut socket).await;
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= answered {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     cache-control: max-age=0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            } else {
                held.push(socket);
            }
            let _ = seen.send(n);
        }
    });
    (url, requests)
}

async fn read_head(socket: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
}

fn token(key: &KeyPair) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": ISS, "aud": "api", "sub": "u1", "iat": now, "exp": now + 600});
    key.signer().unwrap().sign("at+jwt", &claims).unwrap()
}

fn set(key: &KeyPair) -> JwkSet {
    JwkSet {
        keys: vec![key.public_jwk().clone()],
    }
}

#[tokio::test]
async fn a_hung_refresh_does_not_stall_verification() {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let (url, mut requests) = issuer(set(&key), 1).await;
    // A client with a long timeout, so the hung refresh is still hanging while we look.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let jwks = Arc::new(RemoteJwks::with_client(
        url,
        VerifyOptions::new(ISS, "api"),
        http,
    ));
    let token = token(&key);
    jwks.verify::<Value>(&token).await.unwrap();
    assert_eq!(requests.recv().await, Some(1));

    // The set is stale at once: the next verification refreshes it, and the issuer hangs.
    let refreshing = tokio::spawn({
        let jwks = jwks.clone();
        let token = token.clone();
        async move { jwks.verify::<Value>(&token).await.map(|_| ()) }
    });
    assert_eq!(
        requests.recv().await,
        Some(2),
        "the refresh reached the issuer"
    );

    // Meanwhile other verifications go on with the cached set, without waiting for it.
    for _ in 0..3 {
        let verified = tokio::time::timeout(Duration::from_secs(5), jwks.verify::<Value>(&token))
            .await
            .expect("verification waited for the hung fetch");
        assert_eq!(verified.unwrap().claims["sub"], "u1");
    }
    assert!(!refreshing.is_finished());
    refreshing.abort();
    assert!(
        requests.try_recv().is_err(),
        "one refresh at a time reaches the issuer"
    );
}

#[tokio::test]
async fn a_first_fetch_from_a_silent_issuer_times_out() {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let (url, _requests) = issuer(set(&key), 0).await;
    let jwks = RemoteJwks::new(url, VerifyOptions::new(ISS, "api"));
    let outcome = tokio::time::timeout(
        FETCH_TIMEOUT + Duration::from_secs(5),
        jwks.verify::<Value>(&token(&key)),
    )
    .await
    .expect("the fetch has no timeout");
    assert!(matches!(outcome, Err(RemoteError::Fetch(_))), "{outcome:?}");
}
