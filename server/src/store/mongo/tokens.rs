//! Emailed one-time tokens in MongoDB: collection `one_time_tokens`, removed by a TTL index.

use async_trait::async_trait;
use bson::{DateTime, doc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MongoStore, bson_time, corrupt};
use crate::store::rules;
use crate::store::{
    ConsumeOutcome, OneTimeTokenRecord, OneTimeTokenStore, StoreError, StoreResult, TokenPurpose,
};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TokenDoc {
    /// The token's digest.
    #[serde(rename = "_id")]
    digest: String,
    purpose: TokenPurpose,
    user_id: String,
    created_at: DateTime,
    expires_at: DateTime,
    /// The TTL index removes the document after this time.
    purge_at: DateTime,
}

impl TokenDoc {
    fn into_record(self) -> StoreResult<OneTimeTokenRecord> {
        Ok(OneTimeTokenRecord {
            user_id: self
                .user_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("token user id: {e}")))?,
            digest: self.digest,
            purpose: self.purpose,
            created_at: self.created_at.to_time_0_3(),
            expires_at: self.expires_at.to_time_0_3(),
        })
    }
}
#[async_trait]
impl OneTimeTokenStore for MongoStore {
    async fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()> {
        let doc = TokenDoc {
            digest: token.digest.clone(),
            purpose: token.purpose,
            user_id: token.user_id.to_string(),
            created_at: bson_time(token.created_at),
            expires_at: bson_time(token.expires_at),
            purge_at: bson_time(token.purge_at()),
        };
        self.tokens.insert_one(doc).await?;
        Ok(())
    }

    async fn peek_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let found = self.tokens.find_one(token_filter(digest, purpose)?).await?;
        decide(found, purpose, now)
    }

    async fn consume_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let found = self
            .tokens
            .find_one_and_delete(token_filter(digest, purpose)?)
            .await?;
        decide(found, purpose, now)
    }

    async fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64> {
        let deleted = self
            .tokens
            .delete_many(doc! { "user_id": user_id.to_string(), "purpose": purpose_bson(purpose)? })
            .await?;
        Ok(deleted.deleted_count)
    }
}

fn purpose_bson(purpose: TokenPurpose) -> StoreResult<bson::Bson> {
    bson::to_bson(&purpose).map_err(corrupt)
}

/// The token with this digest, only if it was issued for this purpose.
fn token_filter(digest: &str, purpose: TokenPurpose) -> StoreResult<bson::Document> {
    Ok(doc! { "_id": digest, "purpose": purpose_bson(purpose)? })
}

/// What peeking or consuming found means, by the shared rule.
fn decide(
    found: Option<TokenDoc>,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> StoreResult<ConsumeOutcome> {
    let found = found.map(TokenDoc::into_record).transpose()?;
    Ok(rules::consumption(found, purpose, now))
}
