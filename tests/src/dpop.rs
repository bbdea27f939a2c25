//! A DPoP client's side (RFC 9449) for the tests: a key, the proofs it signs, and Sigil's
//! nonce.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::TestApp;

/// A client's DPoP key.
pub struct DpopKey {
    pub private: EncodingKey,
    pub jwk: Value,
}

impl DpopKey {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        Self {
            private: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}),
        }
    }

    /// RFC 7638 thumbprint: what `cnf.jkt` and `dpop_jkt` name.
    pub fn jkt(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.jwk.clone()).unwrap();
        jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).unwrap());
        jsonwebtoken::encode(&header, claims, &self.private).unwrap()
    }

    /// A fresh proof for `method url`, with Sigil's `nonce` and, at a resource, the hash of
    /// the access token.
    pub fn proof(&self, method: &str, url: &str, nonce: &str, token: Option<&str>) -> String {
        self.sign(&claims(method, url, nonce, token))
    }
}

/// The claims of a proof for `method url` carrying `nonce` (and `ath` for `token`).
pub fn claims(method: &str, url: &str, nonce: &str, token: Option<&str>) -> Value {
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url,
        "iat": time::OffsetDateTime::now_utc().unix_timestamp(), "nonce": nonce,
    });
    if let Some(token) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    claims
}

/// The nonce Sigil hands out: answered to any request that carries a proof.
pub async fn nonce(app: &TestApp) -> String {
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .header("dpop", "not-a-proof")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned()
}
