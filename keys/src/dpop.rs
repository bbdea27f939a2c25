//! DPoP proofs (RFC 9449): a JWT a client signs for one HTTP request with a key it keeps,
//! sent in the `DPoP` header. A token bound to that key (`cnf.jkt`) is worth nothing to
//! whoever steals it without the key.
//!
//! [`verify_proof`] checks a proof against the request it came with; [`check_binding`] is the
//! rule that decides whether a token and a proof belong together, for Sigil and for resource
//! servers alike. A resource server calls [`verify_presentation`], which does both, and keeps
//! each proof's `jti` for [`PROOF_MAX_AGE_SECS`] plus two leeways to refuse replays
//! ([`SeenProofs`]).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::ThumbprintHash;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::party::PartyKey;
use crate::{AccessClaims, PARTY_SIGNING_ALGORITHMS, VerifyError};

/// The JOSE `typ` of a proof.
pub const DPOP_TYP: &str = "dpop+jwt";
/// The algorithms a proof may be signed with, as discovery names them: asymmetric only (a
/// proof must show possession of a private key).
pub const DPOP_ALGORITHMS: [&str; 4] = PARTY_SIGNING_ALGORITHMS;
/// How old a proof may be, by its `iat`; a `jti` must be remembered this long after its `iat`
/// (plus [`PROOF_LEEWAY_SECS`] for a clock behind the client's, and one more for clocks that
/// differ between the checker and its store) to catch every replay.
pub const PROOF_MAX_AGE_SECS: u64 = 300;
/// How far a proof's `iat` may lie in the future: the client's clock may run ahead.
pub const PROOF_LEEWAY_SECS: u64 = 60;
/// Longest `jti` accepted: a replay cache stores them.
const MAX_JTI_BYTES: usize = 256;

/// Why a proof, or a token with a proof, was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DpopError {
    #[error("the DPoP proof is not a well-formed JWS")]
    Malformed,
    #[error("the DPoP proof's typ is not dpop+jwt")]
    WrongType,
    #[error("the DPoP proof's header holds no usable public jwk: {0}")]
    BadKey(String),
    #[error("the DPoP proof's algorithm is not an asymmetric one its key signs with")]
    UnsupportedAlgorithm,
    #[error("the DPoP proof's header marks critical extensions")]
    CriticalHeader,
    #[error("the DPoP proof's signature does not verify")]
    BadSignature,
    #[error("the DPoP proof has no usable {0} claim")]
    MissingClaim(&'static str),
    #[error("the DPoP proof is for another HTTP method (htm)")]
    WrongMethod,
    #[error("the DPoP proof is for another URL (htu)")]
    WrongUrl,
    #[error("the DPoP proof was made too long ago, or in the future (iat)")]
    Stale,
    #[error("the DPoP proof's ath is not the hash of this access token")]
    WrongAccessToken,
    #[error("the DPoP proof must carry the server's current nonce")]
    NonceRequired,
    #[error("the DPoP proof was already used")]
    Replayed,
    #[error("the token is DPoP-bound: send it with the DPoP scheme and a proof")]
    ProofRequired,
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    OtherKey,
    #[error("the token is not DPoP-bound: send it with the Bearer scheme")]
    NotBound,
}

impl DpopError {
    /// Whether the token, not the proof, is what does not fit: answered as `invalid_token`
    /// rather than `invalid_dpop_proof`.
    pub fn is_about_the_token(&self) -> bool {
        matches!(self, Self::ProofRequired | Self::OtherKey | Self::NotBound)
    }
}

/// The request a proof must have been made for.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The URL the client sent the request to; query and fragment are ignored.
    pub url: &'a str,
    /// The access token sent with the request (its hash must be the proof's `ath`); `None`
    /// at the token endpoint.
    pub access_token: Option<&'a str>,
    /// The nonces the server accepts now; empty when it asks for none.
    pub nonces: &'a [String],
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key: what a bound token's `cnf.jkt` names.
    pub jkt: String,
    pub jti: String,
    pub iat: u64,
}

/// Checks one proof for `request` at `now` (Unix seconds): header (`typ`, an asymmetric
/// `alg` its `jwk` signs with, a public `jwk`), signature, then the claims `jti`, `htm`,
/// `htu`, `iat`, `ath` and `nonce`. Whether its `jti` was seen before is the caller's to
/// remember.
pub fn verify_proof(proof: &str, request: &ProofRequest, now: u64) -> Result<Proof, DpopError> {
    let header = header_of(proof)?;
    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case(DPOP_TYP)) {
        return Err(DpopError::WrongType);
    }
    if header.contains_key("crit") {
        return Err(DpopError::CriticalHeader);
    }
    let algorithm = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| DPOP_ALGORITHMS.contains(a))
        .and_then(|a| a.parse::<Algorithm>().ok())
        .ok_or(DpopError::UnsupportedAlgorithm)?;
    let jwk = header
        .get("jwk")
        .ok_or_else(|| DpopError::BadKey("there is none".into()))?;
    let (key, parsed) = PartyKey::public(jwk).map_err(|e| DpopError::BadKey(e.to_string()))?;
    let claims = key.verify(proof, algorithm).map_err(|e| match e {
        VerifyError::BadSignature => DpopError::BadSignature,
        VerifyError::UnsupportedAlgorithm => DpopError::UnsupportedAlgorithm,
        _ => DpopError::Malformed,
    })?;
    let jkt = parsed
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| DpopError::BadKey(e.to_string()))?;
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or(DpopError::MissingClaim(name))
    };
    let jti = text("jti")?;
    if jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::MissingClaim("jti"));
    }
    if text("htm")? != request.method {
        return Err(DpopError::WrongMethod);
    }
    if !same_target(text("htu")?, request.url) {
        return Err(DpopError::WrongUrl);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or(DpopError::MissingClaim("iat"))?;
    if iat > now.saturating_add(PROOF_LEEWAY_SECS) || iat.saturating_add(PROOF_MAX_AGE_SECS) < now {
        return Err(DpopError::Stale);
    }
    if let Some(token) = request.access_token
        && text("ath")? != access_token_hash(token)
    {
        return Err(DpopError::WrongAccessToken);
    }
    if !request.nonces.is_empty() {
        let nonce = claims.get("nonce").and_then(Value::as_str);
        if !nonce.is_some_and(|n| request.nonces.iter().any(|ok| ok == n)) {
            return Err(DpopError::NonceRequired);
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
    })
}

/// The binding rule (RFC 9449 section 7): a token bound to a key (`bound_to`, its `cnf.jkt`)
/// goes only with a proof by that key (`proven`, the proof's thumbprint); an unbound token
/// goes without one. The scheme says which: `DPoP` comes with a proof, `Bearer` without.
pub fn check_binding(bound_to: Option<&str>, proven: Option<&str>) -> Result<(), DpopError> {
    match (bound_to, proven) {
        (None, None) => Ok(()),
        (Some(bound), Some(proven)) if bound == proven => Ok(()),
        (Some(_), Some(_)) => Err(DpopError::OtherKey),
        (Some(_), None) => Err(DpopError::ProofRequired),
        (None, Some(_)) => Err(DpopError::NotBound),
    }
}

/// For resource servers: the proof that came with `Authorization: DPoP <token>`, checked for
/// `request` (its `access_token` is taken from `token`) and against the token's binding.
/// `claims` must come from a verified token. Remember the returned `jti` to refuse replays.
pub fn verify_presentation(
    claims: &AccessClaims,
    token: &str,
    proof: &str,
    request: &ProofRequest,
    now: u64,
) -> Result<Proof, DpopError> {
    let request = ProofRequest {
        access_token: Some(token),
        ..*request
    };
    let proof = verify_proof(proof, &request, now)?;
    check_binding(claims.bound_key(), Some(&proof.jkt))?;
    Ok(proof)
}

/// `ath`: base64url SHA-256 of the access token.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The proofs a process has seen, for a resource server on one machine: bounded, each
/// remembered for as long as it could be accepted. Replicas behind a load balancer need a
/// shared store instead (Sigil uses its own).
/// Size it for the proofs one window can bring (requests per second x 7 minutes): when full
/// of live entries it refuses every proof rather than forget one, so a flood of valid proofs
/// (from a holder of a bound token) is also a way to make it refuse; rate-limit before it.
pub struct SeenProofs {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    until: HashMap<(String, String), u64>,
    /// The earliest time an entry can be forgotten: a full cache is swept only then.
    next_expiry: u64,
}

impl SeenProofs {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Whether `proof` is seen for the first time at `now`; when full of live entries it
    /// refuses (fails closed) rather than forget one that could still be replayed.
    pub fn first_use(&self, proof: &Proof, now: u64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let forget_at = proof
            .iat
            .saturating_add(PROOF_MAX_AGE_SECS)
            .saturating_add(2 * PROOF_LEEWAY_SECS)
            .max(now.saturating_add(1));
        if seen.until.len() >= self.capacity {
            if now < seen.next_expiry {
                return false;
            }
            seen.until.retain(|_, until| *until > now);
            seen.next_expiry = seen.until.values().copied().min().unwrap_or(0);
            if seen.until.len() >= self.capacity {
                return false;
            }
        }
        let key = (proof.jkt.clone(), proof.jti.clone());
        let first = seen.until.get(&key).is_none_or(|until| *until <= now);
        if first {
            seen.until.insert(key, forget_at);
            seen.next_expiry = if seen.next_expiry == 0 {
                forget_at
            } else {
                seen.next_expiry.min(forget_at)
            };
        }
        first
    }
}

fn header_of(proof: &str) -> Result<Map<String, Value>, DpopError> {
    let encoded = proof.split('.').next().ok_or(DpopError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| DpopError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed)
}

/// RFC 9449 section 4.3: the same URL but for query and fragment; scheme, host and default
/// ports compared as URLs, not as text.
fn same_target(claimed: &str, actual: &str) -> bool {
    let (Ok(claimed), Ok(actual)) = (url::Url::parse(claimed), url::Url::parse(actual)) else {
        return false;
    };
    claimed.scheme() == actual.scheme()
        && claimed.host_str() == actual.host_str()
        && claimed.port_or_known_default() == actual.port_or_known_default()
        && claimed.path() == actual.path()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const URL: &str = "https://id.example.com/oauth2/token";

    struct Client {
        key: EncodingKey,
        jwk: Value,
    }

    impl Client {
        fn new() -> Self {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
            Self {
                key: EncodingKey::from_ec_der(pkcs8.as_ref()),
                jwk,
            }
        }

        fn proof(&self, claims: Value) -> String {
            self.proof_with(DPOP_TYP, self.jwk.clone(), claims)
        }

        /// Built by hand: a typed header would drop members a JWK must not have.
        fn proof_with(&self, typ: &str, jwk: Value, claims: Value) -> String {
            let header = json!({"typ": typ, "alg": "ES256", "jwk": jwk});
            let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
            let message = format!("{}.{}", encode(&header), encode(&claims));
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, Algorithm::ES256)
                    .unwrap();
            format!("{message}.{signature}")
        }
    }

    fn request<'a>(nonces: &'a [String]) -> ProofRequest<'a> {
        ProofRequest {
            method: "POST",
            url: URL,
            access_token: None,
            nonces,
        }
    }

    fn claims(now: u64) -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": now})
    }

    /// A good proof verifies, and its thumbprint is the RFC 7638 one of its key; every claim
    /// that is off for the request is named.
    #[test]
    fn a_proof_is_checked_against_its_request() {
        let client = Client::new();
        let now = 1_800_000_000;
        let proof = verify_proof(&client.proof(claims(now)), &request(&[]), now).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(client.jwk.clone()).unwrap();
        assert_eq!(proof.jkt, jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
        let with = |change: Value| {
            let mut c = claims(now);
            for (k, v) in change.as_object().unwrap() {
                c[k] = v.clone();
            }
            verify_proof(&client.proof(c), &request(&[]), now).map(|_| ())
        };
        assert_eq!(with(json!({"htm": "GET"})), Err(DpopError::WrongMethod));
        assert_eq!(
            with(json!({"htu": "https://id.example.com/oauth2/par"})),
            Err(DpopError::WrongUrl)
        );
        // Query and fragment are ignored, default ports and host case normalised.
        assert_eq!(
            with(json!({"htu": "https://ID.example.com:443/oauth2/token?x=1#f"})),
            Ok(())
        );
        assert_eq!(
            with(json!({"iat": now - PROOF_MAX_AGE_SECS - 1})),
            Err(DpopError::Stale)
        );
        assert_eq!(
            with(json!({"iat": now + PROOF_LEEWAY_SECS + 1})),
            Err(DpopError::Stale)
        );
        assert_eq!(
            with(json!({"jti": ""})),
            Err(DpopError::MissingClaim("jti"))
        );
        let nonces = ["n-1".to_owned()];
        let proof = client.proof(claims(now));
        assert_eq!(
            verify_proof(&proof, &request(&nonces), now),
            Err(DpopError::NonceRequired)
        );
        let mut noncey = claims(now);
        noncey["nonce"] = json!("n-1");
        assert!(verify_proof(&client.proof(noncey), &request(&nonces), now).is_ok());
    }

    /// The header decides nothing on its own: the wrong typ, a private or foreign key, a key
    /// that did not sign, or a symmetric algorithm all fail.
    #[test]
    fn the_header_must_carry_the_signing_public_key() {
        let client = Client::new();
        let other = Client::new();
        let now = 1_800_000_000;
        let c = claims(now);
        let check = |proof: String| verify_proof(&proof, &request(&[]), now).map(|_| ());
        assert_eq!(
            check(client.proof_with("JWT", client.jwk.clone(), c.clone())),
            Err(DpopError::WrongType)
        );
        assert_eq!(
            check(client.proof_with(DPOP_TYP, other.jwk.clone(), c.clone())),
            Err(DpopError::BadSignature)
        );
        let mut private = client.jwk.clone();
        private["d"] = json!("AAAA");
        assert!(matches!(
            check(client.proof_with(DPOP_TYP, private, c.clone())),
            Err(DpopError::BadKey(_))
        ));
        let mut hs = Header::new(Algorithm::HS256);
        hs.typ = Some(DPOP_TYP.into());
        let symmetric = jsonwebtoken::encode(&hs, &c, &EncodingKey::from_secret(b"s")).unwrap();
        assert_eq!(check(symmetric), Err(DpopError::UnsupportedAlgorithm));
    }

    /// `ath` binds a proof to one access token, and the binding rule pairs tokens with keys.
    #[test]
    fn presentations_pair_a_token_with_its_key() {
        let client = Client::new();
        let now = 1_800_000_000;
        let resource = "https://api.example.com/hello";
        let mut c = json!({"jti": "j-2", "htm": "GET", "htu": resource, "iat": now,
            "ath": access_token_hash("the-token")});
        let request = ProofRequest {
            method: "GET",
            url: resource,
            access_token: None,
            nonces: &[],
        };
        let jkt = verify_proof(&client.proof(c.clone()), &request, now)
            .unwrap()
            .jkt;
        let mut claims: AccessClaims = serde_json::from_value(json!({"iss": "i", "sub": "s",
            "aud": "a", "exp": now + 60, "iat": now, "jti": "t", "client_id": "c",
            "scope": "", "cnf": {"jkt": jkt}}))
        .unwrap();
        let proof = client.proof(c.clone());
        assert!(verify_presentation(&claims, "the-token", &proof, &request, now).is_ok());
        assert_eq!(
            verify_presentation(&claims, "another-token", &proof, &request, now),
            Err(DpopError::WrongAccessToken)
        );
        c.as_object_mut().unwrap().remove("ath");
        assert_eq!(
            verify_presentation(&claims, "the-token", &client.proof(c), &request, now),
            Err(DpopError::MissingClaim("ath"))
        );
        let other = Client::new();
        let mut o = json!({"jti": "j-3", "htm": "GET", "htu": resource, "iat": now,
            "ath": access_token_hash("the-token")});
        assert_eq!(
            verify_presentation(&claims, "the-token", &other.proof(o.clone()), &request, now),
            Err(DpopError::OtherKey)
        );
        claims.cnf = None;
        o["jti"] = json!("j-4");
        assert_eq!(
            verify_presentation(&claims, "the-token", &other.proof(o), &request, now),
            Err(DpopError::NotBound)
        );
        assert_eq!(
            check_binding(Some(&jkt), None),
            Err(DpopError::ProofRequired)
        );
        assert_eq!(check_binding(None, None), Ok(()));
    }

    /// A proof is accepted once; a full cache refuses rather than forgets a live proof.
    #[test]
    fn seen_proofs_refuse_replays() {
        let seen = SeenProofs::new(2);
        let now = 1_800_000_000;
        let proof = |jti: &str| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat: now,
        };
        assert!(seen.first_use(&proof("a"), now));
        assert!(!seen.first_use(&proof("a"), now));
        assert!(seen.first_use(&proof("b"), now));
        assert!(!seen.first_use(&proof("c"), now));
        let later = now + PROOF_MAX_AGE_SECS + 2 * PROOF_LEEWAY_SECS + 1;
        assert!(seen.first_use(&proof("c"), later));
    }
}
