//! Signing and verifying one access token with a 2048-bit key: the cost under every issued
//! token and every bearer check. Compare with `openssl speed rsa2048` on the same machine.
#![allow(
    clippy::expect_used,
    reason = "a benchmark whose set-up fails has nothing to measure"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sigil_keys::{AccessClaims, Audience, JwkSet, KeyPair, KeySize, Verifier, VerifyOptions};

const ISSUER: &str = "https://id.example.test";

fn claims(now: u64) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "6b1f5f6e-7d0c-4d55-9a57-1d0f0e3b8a11".into(),
        aud: Audience::One("sigil".into()),
        exp: now + 900,
        iat: now,
        jti: "0a4c9c2e-98d6-4d0e-8b8a-3c1f2d7e6a55".into(),
        client_id: "sigil".into(),
        scope: "openid profile email".into(),
        sid: Some("session".into()),
        roles: vec!["user".into()],
        auth_time: Some(now),
        amr: vec!["pwd".into()],
        cnf: None,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn jwt(c: &mut Criterion) {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("a key");
    let signer = pair.signer().expect("a signer");
    let claims = claims(now());
    c.bench_function("sign access token (RS256, 2048)", |b| {
        b.iter(|| signer.sign("at+jwt", black_box(&claims)))
    });

    let jwks = JwkSet {
        keys: vec![pair.public_jwk().clone()],
    };
    let verifier = Verifier::from_jwks(&jwks).expect("a verifier");
    let token = signer.sign("at+jwt", &claims).expect("a token");
    let options = VerifyOptions::access_token(ISSUER, "sigil");
    let at = now();
    c.bench_function("verify access token (RS256, 2048)", |b| {
        b.iter(|| verifier.verify::<AccessClaims>(black_box(&token), &options, at))
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
