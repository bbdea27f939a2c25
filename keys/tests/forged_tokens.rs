//! The verifier against tokens an attacker could craft.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sigil_keys::{JwkSet, KeyPair, KeySize, Verifier, VerifyError, VerifyOptions};

const ISS: &str = "https://id.example.com";
const AUD: &str = "api";
const NOW: u64 = 1_800_000_000;

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).unwrap())
}

fn verifier() -> Verifier {
    Verifier::from_jwks(&JwkSet {
        keys: vec![key().public_jwk().clone()],
    })
    .unwrap()
}

fn options() -> VerifyOptions {
    VerifyOptions::new(ISS, AUD).with_typ("at+jwt")
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "u1", "exp": NOW + 600, "iat": NOW})
}

fn sign(claims: &Value) -> String {
    key().signer().unwrap().sign("at+jwt", claims).unwrap()
}

fn verify(token: &str) -> Result<Value, VerifyError> {
    verifier()
        .verify::<Value>(token, &options(), NOW)
        .map(|v| v.claims)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A genuine token verifies and yields its claims and kid.
#[test]
fn genuine_token_verifies() {
    let token = sign(&claims());
    let verified = verifier().verify::<Value>(&token, &options(), NOW).unwrap();
    assert_eq!(verified.kid, key().kid());
    assert_eq!(verified.claims["sub"], "u1");
}

/// `alg: none` with no signature is refused.
#[test]
fn alg_none_is_refused() {
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": key().kid()});
    let token = format!("{}.{}.", b64(&header), b64(&claims()));
    assert!(verify(&token).is_err());
}

/// HS256 keyed with the public key (the classic key-confusion attack) is refused.
#[test]
fn hs256_with_public_key_is_refused() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key().kid().into());
    header.typ = Some("at+jwt".into());
    let secret = serde_json::to_vec(key().public_jwk()).unwrap();
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
    assert_eq!(verify(&token), Err(VerifyError::UnsupportedAlgorithm));
}

/// A token signed by another key but claiming our kid fails the signature check; one with an
/// unknown kid or no kid is refused before any signature work.
#[test]
fn wrong_or_missing_kid_is_refused() {
    let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let forged = other.signer().unwrap().sign("at+jwt", &claims()).unwrap();
    assert!(matches!(verify(&forged), Err(VerifyError::UnknownKid(_))));

    let parts: Vec<&str> = forged.split('.').collect();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": key().kid()});
    let relabelled = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
    assert_eq!(verify(&relabelled), Err(VerifyError::BadSignature));

    let header = json!({"alg": "RS256", "typ": "at+jwt"});
    let no_kid = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
    assert_eq!(verify(&no_kid), Err(VerifyError::MissingKid));
}

/// A key embedded in the header (`jwk`) is never trusted, even when it signed the token.
#[test]
fn embedded_jwk_header_is_ignored() {
    let attacker = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(attacker.kid().into());
    header.typ = Some("at+jwt".into());
    header.jku = Some("https://attacker.example/jwks.json".into());
    header.jwk =
        Some(serde_json::from_value(serde_json::to_value(attacker.public_jwk()).unwrap()).unwrap());
    let pem = attacker.to_pkcs8_pem().unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .unwrap();
    assert!(matches!(verify(&token), Err(VerifyError::UnknownKid(_))));
}

/// Changing one claim after signing breaks the signature.
#[test]
fn tampered_payload_is_refused() {
    let token = sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut tampered = claims();
    tampered["sub"] = json!("admin");
    let token = format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]);
    assert_eq!(verify(&token), Err(VerifyError::BadSignature));
}

/// Expiry is enforced with exactly 60 seconds of leeway.
#[test]
fn expiry_allows_sixty_seconds_of_skew() {
    let mut c = claims();
    c["exp"] = json!(NOW - 60);
    assert!(verify(&sign(&c)).is_ok());
    c["exp"] = json!(NOW - 61);
    assert_eq!(verify(&sign(&c)), Err(VerifyError::Expired));
}

/// Wrong issuer, wrong audience and missing required claims are refused.
#[test]
fn issuer_audience_and_required_claims() {
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    assert_eq!(verify(&sign(&c)), Err(VerifyError::WrongIssuer));

    let mut c = claims();
    c["aud"] = json!(["other", "another"]);
    assert_eq!(verify(&sign(&c)), Err(VerifyError::WrongAudience));

    let mut c = claims();
    c["aud"] = json!(["other", AUD]);
    assert!(verify(&sign(&c)).is_ok());

    for claim in ["exp", "iss", "aud"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        assert!(
            matches!(verify(&sign(&c)), Err(VerifyError::MissingClaim(name)) if name == claim),
            "{claim} must be required"
        );
    }
}

/// The issuer's own check accepts any audience but still requires one, and keeps every other
/// check: a relying service's `verify` refuses what this accepts.
#[test]
fn any_audience_still_requires_one_and_checks_the_rest() {
    let any = |c: &Value| {
        verifier()
            .verify_any_audience::<Value>(&sign(c), &options(), NOW)
            .map(|v| v.claims)
    };
    let mut c = claims();
    c["aud"] = json!(["other", "another"]);
    assert!(any(&c).is_ok());
    assert_eq!(verify(&sign(&c)), Err(VerifyError::WrongAudience));

    for aud in [json!([]), json!([7])] {
        let mut c = claims();
        c["aud"] = aud;
        assert_eq!(any(&c), Err(VerifyError::WrongAudience));
    }
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(any(&c), Err(VerifyError::MissingClaim("aud")));

    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    assert_eq!(any(&c), Err(VerifyError::WrongIssuer));
    let mut c = claims();
    c["exp"] = json!(NOW - 3600);
    assert_eq!(any(&c), Err(VerifyError::Expired));
    let token = key().signer().unwrap().sign("JWT", &claims()).unwrap();
    assert!(matches!(
        verifier().verify_any_audience::<Value>(&token, &options(), NOW),
        Err(VerifyError::WrongType { .. })
    ));
}

/// An ID token (typ JWT) is not accepted where an access token (at+jwt) is required.
#[test]
fn wrong_typ_is_refused() {
    let token = key().signer().unwrap().sign("JWT", &claims()).unwrap();
    assert!(matches!(verify(&token), Err(VerifyError::WrongType { .. })));
}

/// Garbage never panics.
#[test]
fn garbage_is_malformed() {
    for junk in [
        "",
        "a",
        "a.b",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "\u{1F600}.x.y",
    ] {
        assert!(verify(junk).is_err(), "{junk:?}");
    }
}
