//! Keys of other parties: the public keys a client registered (its JWKS), or the secret it
//! shares with Sigil. A JWT signed with one is verified with an algorithm the key's own type
//! allows (RSA: RS256 or PS256; EC P-256: ES256; OKP Ed25519: EdDSA; a shared secret: HS256).
//! A header's `alg` only picks among those: it never moves a key to another family, and
//! `none` never verifies anything.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::verify::signature_only;
use crate::{KeyError, VerifyError};

/// The algorithms a registered public key can sign with, as discovery names them.
pub const PARTY_SIGNING_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];
/// Members that only a private or symmetric key has: a JWKS carrying one is refused, since
/// whoever pasted it has leaked the key.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Keys in one registered set.
const MAX_KEYS: usize = 10;

#[derive(Clone)]
pub(crate) struct PartyKey {
    kid: Option<String>,
    algorithms: &'static [Algorithm],
    key: DecodingKey,
}

/// The keys one party signs with.
#[derive(Clone)]
pub struct PartyKeys {
    keys: Vec<PartyKey>,
}

impl std::fmt::Debug for PartyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl PartyKeys {
    /// A registered JWKS (`{"keys": [...]}`): every key a public signing key of a supported
    /// type, at most ten, RSA of at least 2048 bits.
    pub fn from_jwks(set: &Value) -> Result<Self, KeyError> {
        let bad = |why: &str| KeyError::InvalidKeySet(why.to_owned());
        let members = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("a JWKS is an object with a \"keys\" array"))?;
        if members.is_empty() || members.len() > MAX_KEYS {
            return Err(bad("a JWKS holds between 1 and 10 keys"));
        }
        let keys = members
            .iter()
            .map(|member| PartyKey::public(member).map(|(key, _)| key))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The secret a client shares with Sigil (`client_secret_jwt`): HS256.
    pub fn shared_secret(secret: &[u8]) -> Self {
        Self {
            keys: vec![PartyKey {
                kid: None,
                algorithms: &[Algorithm::HS256],
                key: DecodingKey::from_secret(secret),
            }],
        }
    }

    /// The header and claims of `token` once its signature verifies with one of these keys:
    /// the one its `kid` names, or without a `kid` each key that allows its algorithm. The
    /// claims are not checked here; the caller knows what they must say.
    pub fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(jsonwebtoken::Header, Map<String, Value>), VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => VerifyError::UnsupportedAlgorithm,
            _ => VerifyError::Malformed,
        })?;
        if header.crit.is_some() {
            return Err(VerifyError::CriticalHeader);
        }
        let candidates: Vec<&PartyKey> = self
            .keys
            .iter()
            .filter(|k| k.allows(header.alg))
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .collect();
        if candidates.is_empty() {
            return Err(match &header.kid {
                Some(kid) if !self.keys.iter().any(|k| k.kid.as_ref() == Some(kid)) => {
                    VerifyError::UnknownKid(kid.clone())
                }
                _ => VerifyError::UnsupportedAlgorithm,
            });
        }
        let mut outcome = Err(VerifyError::BadSignature);
        for candidate in candidates {
            match candidate.verify(token, header.alg) {
                Ok(claims) => return Ok((header, claims)),
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }
}

impl PartyKey {
    /// One public signing key given as a JWK object (a member of a registered JWKS, or the
    /// `jwk` header of a DPoP proof), with the parsed JWK for its thumbprint.
    pub(crate) fn public(member: &Value) -> Result<(Self, Jwk), KeyError> {
        let bad = |why: &str| KeyError::InvalidKeySet(why.to_owned());
        let object = member
            .as_object()
            .ok_or_else(|| bad("each key is a JSON object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| object.contains_key(*m)) {
            return Err(bad(
                "a key holds private or secret material; register public keys only",
            ));
        }
        if object
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Err(bad("a key's \"use\" is not \"sig\""));
        }
        let jwk: Jwk = serde_json::from_value(member.clone())
            .map_err(|e| bad(&format!("a key is not a JWK: {e}")))?;
        Ok((Self::from_jwk(&jwk)?, jwk))
    }

    pub(crate) fn allows(&self, algorithm: Algorithm) -> bool {
        self.algorithms.contains(&algorithm)
    }

    /// The claims of `token` if this key signed it with `algorithm` (one the key allows).
    pub(crate) fn verify(
        &self,
        token: &str,
        algorithm: Algorithm,
    ) -> Result<Map<String, Value>, VerifyError> {
        if !self.allows(algorithm) {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &signature_only(algorithm))
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::BadSignature,
                jsonwebtoken::errors::ErrorKind::Json(_) => {
                    VerifyError::InvalidClaims("claims are not a JSON object".into())
                }
                _ => VerifyError::Malformed,
            })
    }

    fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let bad = |why: &str| KeyError::InvalidKeySet(why.to_owned());
        let algorithms: &'static [Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let modulus = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    rsa.n.trim_end_matches('='),
                )
                .map_err(|_| bad("an RSA key's \"n\" is not base64url"))?;
                let significant = modulus.iter().skip_while(|b| **b == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return Err(bad("RSA keys have at least 2048 bits"));
                }
                &[Algorithm::RS256, Algorithm::PS256]
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                &[Algorithm::ES256]
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            _ => return Err(bad("keys are RSA, EC P-256 or OKP Ed25519")),
        };
        // A key that names its algorithm signs with that one only.
        let algorithms = match jwk.common.key_algorithm {
            None => algorithms,
            Some(named) => {
                let named = named.to_string();
                let allowed = algorithms
                    .iter()
                    .position(|a| format!("{a:?}") == named)
                    .ok_or_else(|| bad("a key's \"alg\" does not fit its type"))?;
                &algorithms[allowed..=allowed]
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            algorithms,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Private material, foreign key types, small RSA keys and an `alg` of the wrong family
    /// are refused at registration.
    #[test]
    fn only_public_signing_keys_of_known_types_register() {
        let ec = json!({"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(PartyKeys::from_jwks(&json!({"keys": [ec.clone()]})).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        let mut wrong_alg = ec.clone();
        wrong_alg["alg"] = json!("RS256");
        let mut encryption = ec.clone();
        encryption["use"] = json!("enc");
        let small_rsa = json!({"kty": "RSA", "n": "wcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcE", "e": "AQAB"});
        let cases = [
            json!({"keys": [private]}),
            json!({"keys": [wrong_alg]}),
            json!({"keys": [encryption]}),
            json!({"keys": [small_rsa]}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": []}),
            json!([ec]),
        ];
        for case in cases {
            assert!(PartyKeys::from_jwks(&case).is_err(), "{case}");
        }
    }

    /// A shared secret verifies HS256 only, and an unsigned token never.
    #[test]
    fn a_shared_secret_verifies_hs256_only() {
        let keys = PartyKeys::shared_secret(b"a-secret-of-enough-length-for-hs256");
        let signed = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &json!({"iss": "c"}),
            &jsonwebtoken::EncodingKey::from_secret(b"a-secret-of-enough-length-for-hs256"),
        )
        .unwrap();
        let (_, claims) = keys.verify_signature(&signed).unwrap();
        assert_eq!(claims["iss"], "c");
        let other = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &json!({"iss": "c"}),
            &jsonwebtoken::EncodingKey::from_secret(b"another-secret-entirely-different"),
        )
        .unwrap();
        assert_eq!(
            keys.verify_signature(&other).unwrap_err(),
            VerifyError::BadSignature
        );
        let unsigned = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJjIn0.";
        assert!(keys.verify_signature(unsigned).is_err());
    }
}
