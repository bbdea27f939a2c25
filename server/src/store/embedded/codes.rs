//! Short-lived codes and rate-limit counters in the embedded store: small tuples with their
//! expiry, removed by the sweep.

use async_trait::async_trait;
use redb::ReadableTable;
use time::OffsetDateTime;

use super::EmbeddedStore;
use super::tables::{CODES, RATE_LIMITS};
use crate::store::rules;
use crate::store::{CodeStore, RateDecision, RateLimitStore, StoreResult};

#[async_trait]
impl RateLimitStore for EmbeddedStore {
    async fn hit(
        &self,
        key: &str,
        limit: u64,
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let (start, reset_at) = rules::rate_window(now, window);
        let key = format!("{key}:{start}");
        self.write(move |txn| {
            let mut limits = txn.open_table(RATE_LIMITS)?;
            let count = limits.get(key.as_str())?.map_or(0, |v| v.value().0) + 1;
            limits.insert(key.as_str(), (count, reset_at.unix_timestamp()))?;
            Ok(rules::rate_decision(count, limit, reset_at))
        })
        .await
    }
}

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
}
