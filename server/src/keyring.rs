//! The signing key ring: which key signs, which are published, and rotation.
//!
//! A key's state is derived from the stored records and the time, the same way on every
//! replica: keys are ordered by `activate_at`; the last one whose time has come is **active**;
//! later ones are **next** (published, not signing); an earlier one is **retiring** until
//! every token it signed has expired (its successor's `activate_at` plus the token lifetime
//! and the verification skew), then **retired**. A revoked key is gone at once.
//!
//! Rotation inserts the next generation `lead` (twice the JWKS cache lifetime) before it
//! activates, so relying parties see a new key before it signs. Generations are unique in the
//! store, so of several replicas rotating at once exactly one key is created.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sigil_keys::{Jwk, JwkSet, KeyPair, KeySize, Signer, Verifier};
use time::OffsetDateTime;

use crate::crypto::Cipher;
use crate::store::{KeyState, KeyStore, SigningKeyRecord, StoreError};

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// How often every replica compares its ring with the store: a key revoked or created on
/// one replica is in force on the others within this (plus one store read).
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Verification accepts this much clock skew on `exp` (see sigil-keys).
const VERIFY_SKEW: time::Duration = time::Duration::seconds(60);

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
    #[error("the key store holds no usable signing key")]
    NoActiveKey,
}

/// How the ring behaves over time.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub size: KeySize,
    /// How long a key signs before the next one takes over.
    pub rotation_period: Duration,
    /// How long before activation a new key is published.
    pub lead: Duration,
    /// The longest lifetime of a token a key signs (access and ID tokens).
    pub token_lifetime: Duration,
}

#[derive(Debug)]
struct LoadedKey {
    record: SigningKeyRecord,
    jwk: Jwk,
    signer: Signer,
}

#[derive(Debug)]
struct Loaded {
    /// Not revoked, ordered by activation.
    keys: Vec<LoadedKey>,
    /// Every loaded key; a retired key's tokens are refused after the signature check.
    verifier: Verifier,
    max_generation: u64,
    /// What the records looked like, revoked ones included: `sync` rebuilds only on a change.
    fingerprint: Vec<RecordFingerprint>,
}

type RecordFingerprint = (String, u64, OffsetDateTime, Option<OffsetDateTime>);

fn fingerprint(records: &[SigningKeyRecord]) -> Vec<RecordFingerprint> {
    let mut prints: Vec<_> = records
        .iter()
        .map(|r| (r.kid.clone(), r.generation, r.activate_at, r.revoked_at))
        .collect();
    prints.sort();
    prints
}

/// A key as listed by the admin API.
pub use sigil_proto::admin::KeyInfo;

pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    cipher: Cipher,
    policy: KeyPolicy,
    loaded: RwLock<Arc<Loaded>>,
    last_reload: Mutex<Instant>,
    /// Held from reading the records to installing them, so that a slow read started before
    /// a revocation can never install the revoked key after the revocation's own reload.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn purpose(kid: &str) -> String {
    format!("sigil-signing-key:{kid}")
}

fn std_to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// The state of each key at `now`, in activation order. Pure: what every replica computes.
pub fn states(
    keys: &[&SigningKeyRecord],
    retire_after: time::Duration,
    now: OffsetDateTime,
) -> Vec<KeyState> {
    let active = keys.iter().rposition(|k| k.activate_at <= now);
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            if key.revoked_at.is_some_and(|r| r <= now) {
                return KeyState::Revoked;
            }
            match active {
                Some(a) if i == a => KeyState::Active,
                Some(a) if i > a => KeyState::Next,
                Some(_) => {
                    // Replaced when its successor activated.
                    let replaced_at = keys[i + 1].activate_at;
                    if now < replaced_at + retire_after {
                        KeyState::Retiring
                    } else {
                        KeyState::Retired
                    }
                }
                None => KeyState::Next,
            }
        })
        .collect()
}

impl KeyRing {
    /// Loads the ring, first creating a key if the store has none usable (a fresh store).
    pub async fn load_or_create(
        store: Arc<dyn KeyStore>,
        cipher: Cipher,
        initial: Option<KeyPair>,
        policy: KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let ring = Self {
            store,
            cipher,
            policy,
            loaded: RwLock::new(Arc::new(Loaded {
                keys: Vec::new(),
                verifier: Verifier::default(),
                max_generation: 0,
                fingerprint: Vec::new(),
            })),
            last_reload: Mutex::new(Instant::now()),
            loading: tokio::sync::Mutex::new(()),
        };
        ring.reload().await?;
        if ring
            .current()
            .keys
            .iter()
            .all(|k| k.record.activate_at > now)
        {
            ring.add_key(initial, now, now).await?;
        }
        Ok(ring)
    }

    fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(loaded) => loaded.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn retire_after(&self) -> time::Duration {
        std_to_time(self.policy.token_lifetime) + VERIFY_SKEW
    }

    /// Re-reads every key from the store.
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let _one_at_a_time = self.loading.lock().await;
        let records = self.store.list_keys().await?;
        self.install(records)
    }

    /// Reads the key records and rebuilds the ring only if they changed since the last load
    /// (another replica rotated or revoked): cheap enough to run every `SYNC_INTERVAL`, which
    /// is what bounds how long a key revoked elsewhere keeps verifying here. Whether it
    /// rebuilt.
    pub async fn sync(&self) -> Result<bool, KeyRingError> {
        let _one_at_a_time = self.loading.lock().await;
        let records = self.store.list_keys().await?;
        if fingerprint(&records) == self.current().fingerprint {
            return Ok(false);
        }
        self.install(records)?;
        Ok(true)
    }

    fn install(&self, mut records: Vec<SigningKeyRecord>) -> Result<(), KeyRingError> {
        let fingerprint = fingerprint(&records);
        let max_generation = records.iter().map(|k| k.generation).max().unwrap_or(0);
        records.retain(|k| k.revoked_at.is_none());
        records.sort_by_key(|k| (k.activate_at, k.generation));
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let pem = self
                .cipher
                .open(&record.private_key_sealed, &purpose(&record.kid))
                .map_err(|e| KeyRingError::Decrypt {
                    kid: record.kid.clone(),
                    reason: e.to_string(),
                })?;
            let pem = String::from_utf8(pem.to_vec()).map_err(|e| KeyRingError::Decrypt {
                kid: record.kid.clone(),
                reason: e.to_string(),
            })?;
            let pair = KeyPair::from_pkcs8_pem(&pem)?;
            keys.push(LoadedKey {
                jwk: pair.public_jwk().clone(),
                signer: pair.signer()?,
                record,
            });
        }
        let verifier = Verifier::from_jwks(&JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        })?;
        let loaded = Arc::new(Loaded {
            keys,
            verifier,
            max_generation,
            fingerprint,
        });
        match self.loaded.write() {
            Ok(mut current) => *current = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        Ok(())
    }

    /// Re-reads the ring unless that happened less than a second ago; whether it did.
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
        self.reload().await?;
        Ok(true)
    }

    fn state_list(&self, loaded: &Loaded, now: OffsetDateTime) -> Vec<KeyState> {
        let records: Vec<&SigningKeyRecord> = loaded.keys.iter().map(|k| &k.record).collect();
        states(&records, self.retire_after(), now)
    }

    /// The key that signs at `now`.
    pub fn signer(&self, now: OffsetDateTime) -> Result<Signer, KeyRingError> {
        let loaded = self.current();
        let states = self.state_list(&loaded, now);
        loaded
            .keys
            .iter()
            .zip(states)
            .find(|(_, s)| *s == KeyState::Active)
            .map(|(k, _)| k.signer.clone())
            .ok_or(KeyRingError::NoActiveKey)
    }

    /// The keys published at `now`: next, active and retiring.
    pub fn jwks(&self, now: OffsetDateTime) -> JwkSet {
        let loaded = self.current();
        let states = self.state_list(&loaded, now);
        JwkSet {
            keys: loaded
                .keys
                .iter()
                .zip(states)
                .filter(|(_, s)| {
                    matches!(s, KeyState::Next | KeyState::Active | KeyState::Retiring)
                })
                .map(|(k, _)| k.jwk.clone())
                .collect(),
        }
    }

    /// A verifier for every loaded key, and whether a kid is still published at `now`.
    pub fn verifier(&self) -> Verifier {
        self.current().verifier.clone()
    }

    pub fn is_published(&self, kid: &str, now: OffsetDateTime) -> bool {
        self.jwks(now).find(kid).is_some()
    }

    /// Every key with its state, for the admin API (revoked ones included).
    pub async fn list(&self, now: OffsetDateTime) -> Result<Vec<KeyInfo>, KeyRingError> {
        let mut records = self.store.list_keys().await?;
        records.sort_by_key(|k| (k.activate_at, k.generation));
        let live: Vec<&SigningKeyRecord> =
            records.iter().filter(|k| k.revoked_at.is_none()).collect();
        let live_states = states(&live, self.retire_after(), now);
        Ok(records
            .iter()
            .map(|k| {
                let state = live
                    .iter()
                    .position(|l| l.kid == k.kid)
                    .map_or(KeyState::Revoked, |i| live_states[i]);
                KeyInfo {
                    kid: k.kid.clone(),
                    generation: k.generation,
                    state,
                    created_at: k.created_at,
                    activate_at: k.activate_at,
                    revoked_at: k.revoked_at,
                }
            })
            .collect())
    }

    /// Generates, seals and inserts a key of the next generation, then reloads. `false` if
    /// another replica created that generation first (its key is loaded instead).
    async fn add_key(
        &self,
        initial: Option<KeyPair>,
        activate_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, KeyRingError> {
        let generation = self.current().max_generation + 1;
        let size = self.policy.size;
        let key = match initial {
            Some(key) => key,
            None => tokio::task::spawn_blocking(move || KeyPair::generate(size))
                .await
                .map_err(|e| sigil_keys::KeyError::Generate(e.to_string()))??,
        };
        let pem = key.to_pkcs8_pem()?;
        let sealed = self
            .cipher
            .seal(pem.as_bytes(), &purpose(key.kid()))
            .map_err(|e| KeyRingError::Decrypt {
                kid: key.kid().to_owned(),
                reason: e.to_string(),
            })?;
        let inserted = self
            .store
            .insert_key(&SigningKeyRecord {
                kid: key.kid().to_owned(),
                generation,
                private_key_sealed: sealed,
                created_at: now,
                activate_at,
                revoked_at: None,
            })
            .await?;
        if inserted {
            tracing::info!(kid = key.kid(), generation, activate_at = %activate_at, "created a signing key");
        }
        self.reload().await?;
        Ok(inserted)
    }

    /// Scheduled rotation: when the active key nears the end of its period and no next key
    /// exists yet, creates one that activates at the period's end (at least `lead` from now).
    pub async fn rotate_if_due(&self, now: OffsetDateTime) -> Result<bool, KeyRingError> {
        self.reload().await?;
        let loaded = self.current();
        let Some(latest) = loaded.keys.last() else {
            self.add_key(None, now, now).await?;
            return Ok(true);
        };
        let period = std_to_time(self.policy.rotation_period);
        let lead = std_to_time(self.policy.lead);
        if now < latest.record.activate_at + period - lead {
            return Ok(false);
        }
        let activate_at = (latest.record.activate_at + period).max(now + lead);
        self.add_key(None, activate_at, now).await
    }

    /// Rotation on demand. Normally the new key is published now and signs after `lead`
    /// (an existing next key is kept instead). With `revoke_current`, the active key is
    /// removed at once and a new key signs immediately: tokens it signed stop verifying.
    pub async fn rotate_now(
        &self,
        revoke_current: bool,
        now: OffsetDateTime,
    ) -> Result<(), KeyRingError> {
        self.reload().await?;
        let loaded = self.current();
        let states = self.state_list(&loaded, now);
        if revoke_current {
            if let Some((key, _)) = loaded
                .keys
                .iter()
                .zip(&states)
                .find(|(_, s)| **s == KeyState::Active)
            {
                self.store.revoke_key(&key.record.kid, now).await?;
                tracing::warn!(kid = %key.record.kid, "signing key revoked");
            }
            self.reload().await?;
            self.add_key(None, now, now).await?;
            return Ok(());
        }
        if states.contains(&KeyState::Next) {
            return Ok(());
        }
        self.add_key(None, now + std_to_time(self.policy.lead), now)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(generation: u64, activate: i64, revoked: Option<i64>) -> SigningKeyRecord {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap();
        SigningKeyRecord {
            kid: format!("k{generation}"),
            generation,
            private_key_sealed: String::new(),
            created_at: at(activate - 10),
            activate_at: at(activate),
            revoked_at: revoked.map(at),
        }
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    /// Next -> active -> retiring -> retired, computed from the times alone.
    #[test]
    fn lifecycle() {
        let (a, b) = (key(1, 0, None), key(2, 100, None));
        let keys = [&a, &b];
        let retire = time::Duration::seconds(50);
        assert_eq!(
            states(&keys, retire, at(50)),
            [KeyState::Active, KeyState::Next]
        );
        assert_eq!(
            states(&keys, retire, at(100)),
            [KeyState::Retiring, KeyState::Active]
        );
        assert_eq!(
            states(&keys, retire, at(149)),
            [KeyState::Retiring, KeyState::Active]
        );
        assert_eq!(
            states(&keys, retire, at(150)),
            [KeyState::Retired, KeyState::Active]
        );
        assert_eq!(
            states(&keys, retire, at(-5)),
            [KeyState::Next, KeyState::Next]
        );
    }

    /// A revoked key is revoked whatever the time says.
    #[test]
    fn revoked() {
        let a = key(1, 0, Some(20));
        assert_eq!(
            states(&[&a], time::Duration::seconds(50), at(30)),
            [KeyState::Revoked]
        );
    }
}
