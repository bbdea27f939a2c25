//! Client authentication with signed JWTs (RFC 7523): `private_key_jwt` with ES256 and EdDSA
//! keys the client registered, `client_secret_jwt` with HS256; every claim rule refused when
//! broken, and a replayed assertion refused.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::TestApp;

pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A private key of the client's and the public JWK it registers.
pub(super) struct ClientKey {
    pub(super) alg: Algorithm,
    pub(super) kid: &'static str,
    pub(super) private: EncodingKey,
    pub(super) public: Value,
}

pub(super) fn es256_key(kid: &'static str) -> ClientKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    ClientKey {
        alg: Algorithm::ES256,
        kid,
        private: EncodingKey::from_ec_der(pkcs8.as_ref()),
        public: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}),
    }
}

fn ed25519_key(kid: &'static str) -> ClientKey {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    ClientKey {
        alg: Algorithm::EdDSA,
        kid,
        private: EncodingKey::from_ed_der(pkcs8.as_ref()),
        public: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}),
    }
}

pub(super) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims of a well-formed assertion for `client_id` at `app`; tests change one at a time.
pub(super) fn claims(app: &TestApp, client_id: &str) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": app.base,
        "iat": now(), "exp": now() + 120, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub(super) fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.private).unwrap()
}

fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A client_credentials grant authenticated by `assertion`.
async fn grant(app: &TestApp, assertion: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let admin = app.admin_token().await;
    let reply = app
        .request(Method::POST, "/v1/admin/clients", Some(&admin), Some(body))
        .await;
    (reply.status, reply.body)
}

async fn rotate_secret(app: &TestApp, id: &str) -> sigil_tests::Reply {
    let admin = app.admin_token().await;
    let path = format!("/v1/admin/clients/{id}/rotate-secret");
    app.request(Method::POST, &path, Some(&admin), None).await
}

fn client_body(method: &str, jwks: Option<Value>) -> Value {
    let mut body = json!({
        "name": "Signed", "type": "confidential",
        "grantTypes": ["client_credentials"], "scopes": ["openid"],
        "tokenEndpointAuthMethod": method,
    });
    if let Some(jwks) = jwks {
        body["jwks"] = jwks;
    }
    body
}

#[tokio::test]
async fn private_key_jwt_clients_prove_themselves_with_their_keys() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (es, ed) = (es256_key("es-1"), ed25519_key("ed-1"));
    let jwks = json!({"keys": [es.public, ed.public]});
    let (status, created) = register(&app, client_body("private_key_jwt", Some(jwks))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = &created["data"];
    assert_eq!(data["tokenEndpointAuthMethod"], "private_key_jwt");
    assert!(data.get("clientSecret").is_none(), "{data}");
    let id = data["clientId"].as_str().unwrap().to_owned();

    for key in [&es, &ed] {
        let (status, body) = grant(&app, &sign(key, &claims(&app, &id))).await;
        assert_eq!(status, StatusCode::OK, "{:?}: {body}", key.alg);
        assert_eq!(body["token_type"], "Bearer");
    }
    let mut to_token_endpoint = claims(&app, &id);
    to_token_endpoint["aud"] = json!(app.url("/oauth2/token"));
    assert_eq!(
        grant(&app, &sign(&es, &to_token_endpoint)).await.0,
        StatusCode::OK
    );

    let used = sign(&es, &claims(&app, &id));
    assert_eq!(grant(&app, &used).await.0, StatusCode::OK);
    let (status, body) = grant(&app, &used).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );

    let stranger = es256_key("es-1");
    let mut broken: Vec<(&str, String)> = vec![
        ("another key", sign(&stranger, &claims(&app, &id))),
        ("hs256 with the public key", {
            let public = serde_json::to_string(&es.public).unwrap();
            hs256(&public, &claims(&app, &id))
        }),
    ];
    for (name, change) in [
        ("expired", json!({"exp": now() - 120})),
        ("too long", json!({"exp": now() + 3600})),
        (
            "other audience",
            json!({"aud": "https://elsewhere.example.com"}),
        ),
        ("sub is not the client", json!({"sub": "someone-else"})),
        ("no jti", json!({"jti": null})),
        ("no exp", json!({"exp": null})),
        // A signed authorization request (JAR) is signed with the same key.
        (
            "a request object",
            json!({"client_id": id, "response_type": "code", "redirect_uri": "http://127.0.0.1:9/cb"}),
        ),
    ] {
        let mut c = claims(&app, &id);
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        broken.push((name, sign(&es, &c)));
    }
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims(&app, &id).to_string())
    );
    broken.push(("unsigned", unsigned));
    for (name, assertion) in broken {
        let (status, body) = grant(&app, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{name}: {body}"
        );
    }

    // No secret to send, and none to rotate.
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let rotate = rotate_secret(&app, &id).await;
    assert_eq!(rotate.status, StatusCode::BAD_REQUEST, "{}", rotate.body);

    let discovery = app.get("/.well-known/openid-configuration", None).await;
    let methods = discovery.body["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("private_key_jwt") && methods.contains("client_secret_jwt"));
    let algs = discovery.body["token_endpoint_auth_signing_alg_values_supported"].to_string();
    assert!(algs.contains("ES256") && algs.contains("EdDSA") && algs.contains("HS256"));

    // Up to the last second it is accepted, it stays remembered (exp 120 s ahead, 60 s of
    // leeway: at 180 s it is refused as expired, never accepted again). Last: the clock moves.
    let edge = sign(&es, &claims(&app, &id));
    assert_eq!(grant(&app, &edge).await.0, StatusCode::OK);
    app.advance_clock(std::time::Duration::from_secs(179));
    assert_eq!(grant(&app, &edge).await.0, StatusCode::UNAUTHORIZED);
    app.advance_clock(std::time::Duration::from_secs(1));
    assert_eq!(grant(&app, &edge).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_secret_jwt_clients_sign_with_their_secret() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (status, created) = register(&app, client_body("client_secret_jwt", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["clientId"].as_str().unwrap().to_owned();
    let secret = created["data"]["clientSecret"].as_str().unwrap().to_owned();
    let (status, body) = grant(&app, &hs256(&secret, &claims(&app, &id))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wrong = hs256("not-the-secret-at-all-not-at-all", &claims(&app, &id));
    assert_eq!(grant(&app, &wrong).await.0, StatusCode::UNAUTHORIZED);
    // The secret itself is not accepted: this client signs.
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let rotated = rotate_secret(&app, &id).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.data()["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(
        grant(&app, &hs256(&secret, &claims(&app, &id))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        grant(&app, &hs256(&new_secret, &claims(&app, &id))).await.0,
        StatusCode::OK
    );
}

/// Keys are checked when they are registered: private material, no keys, a public client.
#[tokio::test]
async fn bad_key_registrations_are_refused() {
    let app = TestApp::spawn_oidc(|_| {}).await;
    let mut private = es256_key("k").public;
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases = [
        (client_body("private_key_jwt", None), "jwks"),
        (
            client_body("private_key_jwt", Some(json!({"keys": [private]}))),
            "jwks",
        ),
        (
            client_body(
                "client_secret_basic",
                Some(json!({"keys": [es256_key("k").public]})),
            ),
            "jwks",
        ),
        (
            client_body("tls_client_auth", None),
            "tokenEndpointAuthMethod",
        ),
        (
            json!({"name": "SPA", "type": "public", "redirectUris": ["http://127.0.0.1:9/cb"],
                "tokenEndpointAuthMethod": "private_key_jwt",
                "jwks": {"keys": [es256_key("k").public]}}),
            "tokenEndpointAuthMethod",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = register(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let fields: Vec<&str> = answer["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body}: {answer}");
    }
}

/// A JWKS host on loopback: answers every request with the current `body`, counting them.
struct JwksHost {
    url: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

async fn jwks_host(body: Value) -> JwksHost {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let body = std::sync::Arc::new(std::sync::Mutex::new(body.to_string()));
    let (counted, served) = (hits.clone(), body.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let json = served.lock().unwrap().clone();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                json.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    JwksHost { url, hits, body }
}

/// Keys published at a `jwks_uri`: fetched once and cached; a rotation is picked up when an
/// assertion names a new key; unknown keys cannot make Sigil fetch on every request; an
/// unreachable URL refuses; only https or loopback URLs register.
#[tokio::test]
async fn published_keys_are_fetched_cached_and_followed_through_rotation() {
    use std::sync::atomic::Ordering;
    let app = TestApp::spawn_oidc(|_| {}).await;
    let (first, second) = (es256_key("first"), ed25519_key("second"));
    let host = jwks_host(json!({"keys": [first.public]})).await;
    let mut body = client_body("private_key_jwt", None);
    body["jwksUri"] = json!(host.url);
    let (status, created) = register(&app, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["jwksUri"], host.url.as_str());
    let id = created["data"]["clientId"].as_str().unwrap().to_owned();

    for _ in 0..2 {
        let (status, answer) = grant(&app, &sign(&first, &claims(&app, &id))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(host.hits.load(Ordering::SeqCst), 1, "cached");

    *host.body.lock().unwrap() = json!({"keys": [second.public]}).to_string();
    let (status, answer) = grant(&app, &sign(&second, &claims(&app, &id))).await;
    assert_eq!(status, StatusCode::OK, "rotation: {answer}");
    assert_eq!(host.hits.load(Ordering::SeqCst), 2);
    let unknown = es256_key("third");
    assert_eq!(
        grant(&app, &sign(&unknown, &claims(&app, &id))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        host.hits.load(Ordering::SeqCst),
        2,
        "no refetch within 30 s"
    );

    // A URL that fails is not fetched again for 30 s, whoever names the client.
    let broken = jwks_host(json!("not a key set")).await;
    let mut body = client_body("private_key_jwt", None);
    body["jwksUri"] = json!(broken.url);
    let (_, created) = register(&app, body).await;
    let failing = created["data"]["clientId"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (status, _) = grant(&app, &sign(&first, &claims(&app, &failing))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        broken.hits.load(Ordering::SeqCst),
        1,
        "failures are not retried at once"
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let mut body = client_body("private_key_jwt", None);
    body["jwksUri"] = json!(closed);
    let (_, created) = register(&app, body).await;
    let unreachable = created["data"]["clientId"].as_str().unwrap().to_owned();
    let (status, answer) = grant(&app, &sign(&first, &claims(&app, &unreachable))).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{answer}"
    );

    for uri in [
        "http://keys.example.com/jwks.json",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        let mut body = client_body("private_key_jwt", None);
        body["jwksUri"] = json!(uri);
        let (status, answer) = register(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {answer}");
        assert_eq!(
            answer["error"]["details"][0]["field"], "jwksUri",
            "{answer}"
        );
    }
}
