use std::fmt;

use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::{Jwk, KeyError, Signer};

/// RSA modulus sizes Sigil generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeySize {
    #[default]
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeySize {
    pub fn bits(self) -> usize {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa3072 => 3072,
            Self::Rsa4096 => 4096,
        }
    }

    pub fn from_bits(bits: usize) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            4096 => Ok(Self::Rsa4096),
            other => Err(KeyError::UnsupportedSize(other)),
        }
    }
}

/// An RSA private key with its public JWK. The `kid` is the RFC 7638 thumbprint, so the same key
/// always has the same id on every replica.
#[derive(Clone)]
pub struct KeyPair {
    private: RsaPrivateKey,
    jwk: Jwk,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Generates a new key from the operating system's random source.
    pub fn generate(size: KeySize) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut OsRng, size.bits())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(Self::from_private(private))
    }

    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let private =
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::InvalidPem(e.to_string()))?;
        let bits = private.size() * 8;
        KeySize::from_bits(bits)?;
        Ok(Self::from_private(private))
    }

    /// The private key as PKCS#8 PEM, wiped from memory when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    fn from_private(private: RsaPrivateKey) -> Self {
        let jwk = Jwk::rsa_signing(&private.n().to_bytes_be(), &private.e().to_bytes_be());
        Self { private, jwk }
    }

    pub fn kid(&self) -> &str {
        self.jwk.kid.as_deref().unwrap_or_default()
    }

    /// The public half, ready for the JWKS.
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// A signer holding the parsed key, so signing does not re-parse it on every call.
    pub fn signer(&self) -> Result<Signer, KeyError> {
        let der = self
            .private
            .to_pkcs1_der()
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        Signer::from_pkcs1_der(self.kid().to_owned(), der.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A key survives a PEM round trip with the same kid, and the kid is its thumbprint.
    #[test]
    fn pem_round_trip_keeps_kid() {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let loaded = KeyPair::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        assert_eq!(
            key.kid(),
            crate::jwk::thumbprint(&key.public_jwk().n, &key.public_jwk().e)
        );
    }

    /// Garbage and undersized keys are refused.
    #[test]
    fn bad_pem_is_refused() {
        assert!(matches!(
            KeyPair::from_pkcs8_pem("not a key"),
            Err(KeyError::InvalidPem(_))
        ));
        let small = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let pem = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            KeyPair::from_pkcs8_pem(&pem),
            Err(KeyError::UnsupportedSize(1024))
        ));
    }
}
