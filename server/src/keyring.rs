//! The signing keys the server holds in memory: the active signer, a verifier for every
//! published key and the JWKS document, all read from the key store.
//!
//! Scheduled rotation and the `next` / `retiring` states are a later milestone; today the ring
//! holds one active key, created on first start.

use std::sync::{Arc, RwLock};

use sigil_keys::{JwkSet, KeyPair, KeySize, Signer, Verifier};
use time::OffsetDateTime;

use crate::crypto::Cipher;
use crate::store::{KeyState, KeyStore, SigningKeyRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "signing key {kid} cannot be decrypted: {reason} (is SIGIL_ENCRYPTION_KEY the one it was sealed with?)"
    )]
    Decrypt { kid: String, reason: String },
    #[error("key error: {0}")]
    Key(#[from] sigil_keys::KeyError),
    #[error("the key store holds no active signing key")]
    NoActiveKey,
}

#[derive(Debug)]
struct Ring {
    signer: Signer,
    verifier: Verifier,
    jwks: JwkSet,
}

#[derive(Debug)]
pub struct KeyRing {
    ring: RwLock<Arc<Ring>>,
}

fn purpose(kid: &str) -> String {
    format!("sigil-signing-key:{kid}")
}

impl KeyRing {
    /// Loads the ring, first creating an active key if the store has none (a fresh store).
    pub async fn load_or_create(
        store: &dyn KeyStore,
        cipher: &Cipher,
        initial: Option<KeyPair>,
        size: KeySize,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.list_keys().await?;
        if !records.iter().any(|k| k.state == KeyState::Active) {
            let key = match initial {
                Some(key) => key,
                None => tokio::task::spawn_blocking(move || KeyPair::generate(size))
                    .await
                    .map_err(|e| sigil_keys::KeyError::Generate(e.to_string()))??,
            };
            let pem = key.to_pkcs8_pem()?;
            let sealed = cipher
                .seal(pem.as_bytes(), &purpose(key.kid()))
                .map_err(|e| KeyRingError::Decrypt {
                    kid: key.kid().to_owned(),
                    reason: e.to_string(),
                })?;
            store
                .insert_key(&SigningKeyRecord {
                    kid: key.kid().to_owned(),
                    state: KeyState::Active,
                    private_key_sealed: sealed,
                    created_at: now,
                })
                .await?;
            tracing::info!(kid = key.kid(), "created the first signing key");
            records = store.list_keys().await?;
        }
        let ring = build(&records, cipher)?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    fn current(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn signer(&self) -> Signer {
        self.current().signer.clone()
    }

    pub fn verifier(&self) -> Verifier {
        self.current().verifier.clone()
    }

    pub fn jwks(&self) -> JwkSet {
        self.current().jwks.clone()
    }
}

fn build(records: &[SigningKeyRecord], cipher: &Cipher) -> Result<Ring, KeyRingError> {
    let mut published = Vec::new();
    let mut active: Option<KeyPair> = None;
    for record in records.iter().filter(|k| k.state != KeyState::Retired) {
        let pem = cipher
            .open(&record.private_key_sealed, &purpose(&record.kid))
            .map_err(|e| KeyRingError::Decrypt {
                kid: record.kid.clone(),
                reason: e.to_string(),
            })?;
        let pem = String::from_utf8(pem.to_vec()).map_err(|e| KeyRingError::Decrypt {
            kid: record.kid.clone(),
            reason: e.to_string(),
        })?;
        let key = KeyPair::from_pkcs8_pem(&pem)?;
        published.push(key.public_jwk().clone());
        // Records come oldest first: the newest active key signs.
        if record.state == KeyState::Active {
            active = Some(key);
        }
    }
    let active = active.ok_or(KeyRingError::NoActiveKey)?;
    let jwks = JwkSet { keys: published };
    Ok(Ring {
        signer: active.signer()?,
        verifier: Verifier::from_jwks(&jwks)?,
        jwks,
    })
}
