//! Emailed one-time tokens in the embedded store, by digest.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::ONE_TIME_TOKENS;
use super::{EmbeddedStore, decode, get_json, put_json};
use crate::store::rules;
use crate::store::{
    ConsumeOutcome, OneTimeTokenRecord, OneTimeTokenStore, StoreResult, TokenPurpose,
};

#[async_trait]
impl OneTimeTokenStore for EmbeddedStore {
    async fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |txn| {
            put_json(&mut txn.open_table(ONE_TIME_TOKENS)?, &token.digest, &token)
        })
        .await
    }

    async fn peek_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let digest = digest.to_owned();
        self.read(move |txn| {
            let found = get_json(&txn.open_table(ONE_TIME_TOKENS)?, &digest)?;
            Ok(rules::consumption(found, purpose, now))
        })
        .await
    }

    async fn consume_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let digest = digest.to_owned();
        self.write(move |txn| {
            let mut tokens = txn.open_table(ONE_TIME_TOKENS)?;
            let outcome = rules::consumption(get_json(&tokens, &digest)?, purpose, now);
            if !matches!(outcome, ConsumeOutcome::Unknown) {
                tokens.remove(digest.as_str())?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64> {
        self.write(move |txn| {
            let mut removed = 0u64;
            txn.open_table(ONE_TIME_TOKENS)?.retain(|_, bytes| {
                let doomed = decode::<OneTimeTokenRecord>(bytes)
                    .is_ok_and(|t| t.user_id == user_id && t.purpose == purpose);
                removed += u64::from(doomed);
                !doomed
            })?;
            Ok(removed)
        })
        .await
    }
}
