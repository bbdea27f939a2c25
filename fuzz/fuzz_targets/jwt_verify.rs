//! The JOSE/JWT verifier relying services use (`sigil_keys::Verifier`): no input panics, and
//! nothing passes unless it is a token this key signed with RS256 that meets every check. The
//! same inputs go through the DPoP proof parser (`sigil_keys::dpop::verify_proof`), whose key
//! comes from the attacker's own header.
//!
//! The first byte picks the shape of the input: a raw compact token; claims (JSON) that the
//! real key signs, so that the claim checks behind the signature are reached; or a JWKS
//! document to build a verifier from.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigil_keys::{AccessClaims, JwkSet, KeyPair, KeySize, Signer, Verifier, VerifyOptions};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "https://api.example.test";
/// A time inside any `exp` the corpus uses, so that valid tokens are reachable.
const NOW: u64 = 1_800_000_000;

struct Keys {
    signer: Signer,
    verifier: Verifier,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("generate a key");
    let set = JwkSet {
        keys: vec![pair.public_jwk().clone()],
    };
    Keys {
        signer: pair.signer().expect("signer"),
        verifier: Verifier::from_jwks(&set).expect("verifier"),
    }
});

fn verify(token: &str) {
    let keys = &*KEYS;
    let options = VerifyOptions::access_token(ISSUER, AUDIENCE);
    if let Ok(verified) = keys.verifier.verify::<AccessClaims>(token, &options, NOW) {
        // Whatever passed was signed by this key and is addressed as required.
        assert!(token.starts_with("ey"), "a compact JWS: {token:?}");
        assert_eq!(verified.claims.iss, ISSUER);
        assert!(verified.claims.exp + options.leeway_secs >= NOW);
    }
    let _ = keys
        .verifier
        .verify_any_audience::<serde_json::Value>(token, &options, NOW);
    let _ = sigil_keys::unverified_claims::<serde_json::Value>(token);
    let request = sigil_keys::dpop::ProofRequest {
        method: "POST",
        url: "https://id.example.test/oauth2/token",
        access_token: None,
        nonces: &[],
    };
    if let Ok(proof) = sigil_keys::dpop::verify_proof(token, &request, NOW) {
        assert_eq!(proof.jkt.len(), 43, "a SHA-256 thumbprint");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&shape, rest)) = input.split_first() else {
        return;
    };
    match shape % 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                verify(token);
            }
        }
        1 => {
            let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            for typ in ["at+jwt", "JWT"] {
                let token = KEYS.signer.sign(typ, &claims).expect("sign JSON");
                verify(&token);
                // A flipped bit anywhere breaks the signature or the encoding.
                let mut tampered = token.into_bytes();
                let at = usize::from(shape) * 7 % tampered.len();
                tampered[at] ^= 1;
                if let Ok(tampered) = String::from_utf8(tampered) {
                    let options = VerifyOptions::access_token(ISSUER, AUDIENCE);
                    let outcome = KEYS
                        .verifier
                        .verify_any_audience::<serde_json::Value>(&tampered, &options, NOW);
                    assert!(outcome.is_err(), "a tampered token passed");
                }
            }
        }
        _ => {
            if let Ok(set) = serde_json::from_slice::<JwkSet>(rest)
                && let Ok(verifier) = Verifier::from_jwks(&set)
            {
                let options = VerifyOptions::new(ISSUER, AUDIENCE);
                let token = KEYS
                    .signer
                    .sign(
                        "at+jwt",
                        &serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 60}),
                    )
                    .expect("sign");
                let _ = verifier.verify::<serde_json::Value>(&token, &options, NOW);
            }
        }
    }
});
