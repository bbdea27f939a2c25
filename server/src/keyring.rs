//! The signing keys the server holds in memory: the active signer, a verifier for every
//! published key and the JWKS document, all read from the key store.
//!
//! Every replica reads the same ring from the store. A token whose `kid` is unknown here makes
//! the ring reload (at most once a second), so a key another replica created is picked up at
//! once. Scheduled rotation and the `next` / `retiring` states are a later milestone; today the
//! ring holds the active key created on first start.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sigil_keys::{JwkSet, KeyPair, KeySize, Signer, Verifier};
use time::OffsetDateTime;

use crate::crypto::Cipher;
use crate::store::{KeyState, KeyStore, SigningKeyRecord, StoreError};

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

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

pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    cipher: Cipher,
    ring: RwLock<Arc<Ring>>,
    last_reload: Mutex<Instant>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("ring", &self.current())
            .finish()
    }
}

fn purpose(kid: &str) -> String {
    format!("sigil-signing-key:{kid}")
}

impl KeyRing {
    /// Loads the ring, first creating an active key if the store has none (a fresh store).
    pub async fn load_or_create(
        store: Arc<dyn KeyStore>,
        cipher: Cipher,
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
            let generation = records.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
            let inserted = store
                .insert_key(&SigningKeyRecord {
                    kid: key.kid().to_owned(),
                    generation,
                    state: KeyState::Active,
                    private_key_sealed: sealed,
                    created_at: now,
                })
                .await?;
            if inserted {
                tracing::info!(kid = key.kid(), "created the first signing key");
            } else {
                tracing::info!("another replica created the first signing key; using it");
            }
            records = store.list_keys().await?;
        }
        let ring = build(&records, &cipher)?;
        Ok(Self {
            store,
            cipher,
            ring: RwLock::new(Arc::new(ring)),
            last_reload: Mutex::new(Instant::now()),
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

    /// Re-reads the ring from the store unless that happened less than a second ago.
    /// Returns whether it reloaded.
    pub async fn reload_if_due(&self) -> Result<bool, KeyRingError> {
        {
            let mut last = match self.last_reload.lock() {
                Ok(last) => last,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.elapsed() < MIN_RELOAD_INTERVAL {
                return Ok(false);
            }
            *last = Instant::now();
        }
        let records = self.store.list_keys().await?;
        let ring = Arc::new(build(&records, &self.cipher)?);
        match self.ring.write() {
            Ok(mut current) => *current = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(true)
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
        // Records come in generation order: the newest active key signs.
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
