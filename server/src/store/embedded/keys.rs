//! Signing keys in the embedded store, by kid.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::tables::KEYS;
use super::{EmbeddedStore, get_json, put_json, scan_json};
use crate::store::{KeyStore, SigningKeyRecord, StoreResult};

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.write(move |txn| {
            let mut keys = txn.open_table(KEYS)?;
            let Some(mut key) = get_json::<SigningKeyRecord>(&keys, &kid)? else {
                return Ok(false);
            };
            key.revoked_at.get_or_insert(at);
            put_json(&mut keys, &kid, &key)?;
            Ok(true)
        })
        .await
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.scan(|txn| {
            let mut keys: Vec<SigningKeyRecord> = scan_json(&txn.open_table(KEYS)?)?
                .into_iter()
                .map(|(_, key)| key)
                .collect();
            keys.sort_by_key(|k| k.generation);
            Ok(keys)
        })
        .await
    }

    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let key = key.clone();
        self.write(move |txn| {
            let mut keys = txn.open_table(KEYS)?;
            let taken = scan_json::<SigningKeyRecord>(&keys)?
                .iter()
                .any(|(kid, other)| *kid == key.kid || other.generation == key.generation);
            if !taken {
                put_json(&mut keys, &key.kid, &key)?;
            }
            Ok(!taken)
        })
        .await
    }
}
