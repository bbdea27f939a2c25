//! Signing keys in MongoDB: collection `signing_keys`, unique index on the generation.

use async_trait::async_trait;
use bson::{DateTime, doc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{MongoStore, bson_time, collect, is_duplicate_key, mongo_err};
use crate::store::{KeyStore, SigningKeyRecord, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeyDoc {
    #[serde(rename = "_id")]
    kid: String,
    generation: i64,
    private_key_sealed: String,
    created_at: DateTime,
    activate_at: DateTime,
    #[serde(default)]
    revoked_at: Option<DateTime>,
}
#[async_trait]
impl KeyStore for MongoStore {
    async fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let found = self
            .keys
            .update_one(
                doc! { "_id": kid, "revoked_at": null },
                doc! { "$set": { "revoked_at": bson_time(at) } },
            )
            .await?;
        if found.matched_count == 1 {
            return Ok(true);
        }
        Ok(self.keys.find_one(doc! { "_id": kid }).await?.is_some())
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let docs = self
            .keys
            .find(doc! {})
            .sort(doc! { "generation": 1 })
            .await?;
        let docs = collect(docs).await?;
        Ok(docs
            .into_iter()
            .map(|d| SigningKeyRecord {
                kid: d.kid,
                generation: u64::try_from(d.generation).unwrap_or_default(),
                private_key_sealed: d.private_key_sealed,
                created_at: d.created_at.to_time_0_3(),
                activate_at: d.activate_at.to_time_0_3(),
                revoked_at: d.revoked_at.map(DateTime::to_time_0_3),
            })
            .collect())
    }

    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let doc = KeyDoc {
            kid: key.kid.clone(),
            generation: i64::try_from(key.generation).unwrap_or(i64::MAX),
            private_key_sealed: key.private_key_sealed.clone(),
            created_at: bson_time(key.created_at),
            activate_at: bson_time(key.activate_at),
            revoked_at: key.revoked_at.map(bson_time),
        };
        match self.keys.insert_one(doc).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(mongo_err(e)),
        }
    }
}
