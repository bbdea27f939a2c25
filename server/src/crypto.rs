//! Small cryptographic helpers: opaque tokens, digests and authenticated encryption at rest.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A fresh opaque token: 256 random bits, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How opaque tokens are stored: SHA-256, base64url. High-entropy inputs need no salt.
pub fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Separates the MAC key from the encryption key although both come from one setting.
const MAC_KEY_LABEL: &[u8] = b"sigil mac key v1";

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("the encryption key must be 32 bytes of standard base64")]
    BadKey,
    #[error("the sealed value is not valid base64 or too short")]
    Malformed,
    #[error("decryption failed: wrong key or tampered data")]
    Decrypt,
}

/// AES-256-GCM under `SIGIL_ENCRYPTION_KEY`, for secrets the server must read back (signing
/// keys, TOTP secrets). The associated data binds a sealed value to its purpose, so one
/// cannot be swapped for another. The same setting also keys the MACs of values the server
/// hands out and must recognise later (CSRF tokens), through a key derived for that purpose
/// alone: every replica shares the setting, so every replica recognises them.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    mac: hmac::Key,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    pub fn from_base64(key: &str) -> Result<Self, CipherError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(key.trim())
                .map_err(|_| CipherError::BadKey)?,
        );
        if bytes.len() != 32 {
            return Err(CipherError::BadKey);
        }
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &bytes), MAC_KEY_LABEL);
        Ok(Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            mac: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
        })
    }

    /// HMAC-SHA256 over `purpose`, a zero byte and `data`, base64url (43 characters).
    pub fn tag(&self, purpose: &str, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.raw_tag(purpose, data).as_ref())
    }

    /// Whether `tag` is [`Cipher::tag`] of `data` for `purpose`, compared in constant time.
    pub fn verify_tag(&self, purpose: &str, data: &[u8], tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(
            self.raw_tag(purpose, data).as_ref(),
            &tag,
        )
        .is_ok()
    }

    fn raw_tag(&self, purpose: &str, data: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.mac);
        context.update(purpose.as_bytes());
        context.update(&[0]);
        context.update(data);
        context.sign()
    }

    /// A new random key, standard base64.
    pub fn generate_key() -> Zeroizing<String> {
        let key = Aes256Gcm::generate_key(OsRng);
        Zeroizing::new(STANDARD.encode(key))
    }

    /// `base64(nonce || ciphertext)`.
    pub fn seal(&self, plaintext: &[u8], purpose: &str) -> Result<String, CipherError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: purpose.as_bytes(),
        };
        let ciphertext = self
            .aead
            .encrypt(&nonce, payload)
            .map_err(|_| CipherError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, purpose: &str) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| CipherError::Malformed)?;
        if bytes.len() < 12 {
            return Err(CipherError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let payload = Payload {
            msg: ciphertext,
            aad: purpose.as_bytes(),
        };
        self.aead
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| CipherError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Sealed data opens with the same key and purpose only.
    #[test]
    fn seal_and_open() {
        let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let sealed = cipher.seal(b"secret", "signing-key:a").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(&*cipher.open(&sealed, "signing-key:a").unwrap(), b"secret");
        assert!(cipher.open(&sealed, "signing-key:b").is_err());
        let other = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        assert!(other.open(&sealed, "signing-key:a").is_err());
    }

    /// Tags verify for the same key, purpose and data only.
    #[test]
    fn tags() {
        let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let tag = cipher.tag("csrf", b"nonce");
        assert_eq!(tag.len(), 43);
        assert!(cipher.verify_tag("csrf", b"nonce", &tag));
        assert!(!cipher.verify_tag("csrf", b"other", &tag));
        assert!(!cipher.verify_tag("other", b"nonce", &tag));
        assert!(!cipher.verify_tag("csrf", b"nonce", ""));
        assert!(!cipher.verify_tag("csrf", b"nonce", "not base64!"));
        let other = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        assert!(!other.verify_tag("csrf", b"nonce", &tag));
    }

    /// Keys of the wrong length are refused.
    #[test]
    fn bad_keys() {
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }

    /// Tokens are 256 bits and differ every time; digests are stable.
    #[test]
    fn tokens() {
        let a = random_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, random_token());
        assert_eq!(token_digest(&a), token_digest(&a));
        assert_ne!(token_digest(&a), a);
    }
}
