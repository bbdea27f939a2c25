use thiserror::Error;

/// Failures while creating, loading or using a key (not token verification, see
/// [`crate::VerifyError`]).
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("the private key is not a valid PKCS#8 PEM RSA key: {0}")]
    InvalidPem(String),
    #[error("could not encode the key: {0}")]
    Encode(String),
    #[error("the JWK is not a usable RSA public key: {0}")]
    InvalidJwk(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the key set is not usable: {0}")]
    InvalidKeySet(String),
    #[error("unsupported RSA key size {0} (use 2048, 3072 or 4096)")]
    UnsupportedSize(usize),
}
