use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::{ALGORITHM, KeyError};

/// Signs JWTs with one key, parsed once: parsing an RSA key costs about as much as the
/// signature itself, so a signer that re-parsed per token would halve the issuing rate
/// (`../shared/DEPENDENCIES.md`). Cheap to clone and share across tasks.
#[derive(Clone)]
pub struct Signer {
    kid: String,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The JOSE header of every token Sigil signs.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl Signer {
    /// A signer for a PKCS#1 DER private key.
    pub(crate) fn from_pkcs1_der(kid: String, der: &[u8]) -> Result<Self, KeyError> {
        let key = RsaKeyPair::from_der(der).map_err(|e| KeyError::Sign(e.to_string()))?;
        Ok(Self {
            kid,
            key: Arc::new(key),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT (compact serialization, RFC 7515 section 7.1) whose
    /// header carries this key's `kid` and the given `typ` (`at+jwt` for access tokens, `JWT`
    /// for ID tokens).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = Header {
            alg: ALGORITHM,
            typ,
            kid: &self.kid,
        };
        let header = serde_json::to_vec(&header).map_err(|e| KeyError::Sign(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 360);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let mut signature = vec![0; self.key.public_modulus_len()];
        // PKCS#1 v1.5 is deterministic; the generator is only part of the signature of `sign`.
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use crate::{KeyPair, KeySize};

    /// What the signer writes is a JWT another implementation (jsonwebtoken's own decoder)
    /// reads: the header names the algorithm, type and key, and the signature verifies with
    /// the published public key.
    #[test]
    fn tokens_verify_with_an_independent_decoder() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let token = pair
            .signer()
            .unwrap()
            .sign(
                "at+jwt",
                &serde_json::json!({ "sub": "u1", "exp": 4_000_000_000u64 }),
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(pair.kid()));
        let jwk = pair.public_jwk();
        let key = jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "u1");
        // Another token's payload under this signature does not verify.
        let other = pair
            .signer()
            .unwrap()
            .sign(
                "at+jwt",
                &serde_json::json!({ "sub": "u2", "exp": 4_000_000_000u64 }),
            )
            .unwrap();
        let (message, _) = other.rsplit_once('.').unwrap();
        let (_, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{message}.{signature}");
        assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &key, &validation).is_err());
    }
}
