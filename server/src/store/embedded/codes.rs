//! Short-lived codes in the embedded store: small tuples with their expiry, removed by the
//! sweep. (Rate-limit counters live in memory: `store::counters`.)

use async_trait::async_trait;
use redb::ReadableTable;
use time::OffsetDateTime;

use super::EmbeddedStore;
use super::tables::CODES;
use crate::store::{CodeStore, StoreResult};

#[async_trait]
impl CodeStore for EmbeddedStore {
    async fn put_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |txn| {
            txn.open_table(CODES)?
                .insert(key.as_str(), (value.as_str(), expires_at.unix_timestamp()))?;
            Ok(())
        })
        .await
    }

    async fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |txn| {
            let codes = txn.open_table(CODES)?;
            let found = codes.get(key.as_str())?;
            Ok(found.and_then(|v| {
                let (value, expires) = v.value();
                (expires > now.unix_timestamp()).then(|| value.to_owned())
            }))
        })
        .await
    }

    async fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut codes = txn.open_table(CODES)?;
            let removed = codes.remove(key.as_str())?;
            Ok(removed.and_then(|v| {
                let (value, expires) = v.value();
                (expires > now.unix_timestamp()).then(|| value.to_owned())
            }))
        })
        .await
    }

    async fn put_new_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |txn| {
            let mut codes = txn.open_table(CODES)?;
            let live = codes
                .get(key.as_str())?
                .is_some_and(|v| v.value().1 > now.unix_timestamp());
            if !live {
                codes.insert(key.as_str(), (value.as_str(), expires_at.unix_timestamp()))?;
            }
            Ok(!live)
        })
        .await
    }
}
