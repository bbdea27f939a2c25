//! Fixed-window rate-limit counters in Redis: one key per window, expiring after it.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{RedisStore, millis};
use crate::store::rules;
use crate::store::{RateDecision, RateLimitStore, StoreResult};

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn hit(
        &self,
        key: &str,
        hits: u64,
        limit: u64,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let (start, reset_at) = rules::rate_window(now, window);
        let key = self.rate_key(key, start);
        let mut conn = self.conn().await?;
        // One key, one MULTI: the count and its expiry are set together.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, hits)
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(millis(reset_at) + 1_000)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(rules::rate_decision(count, limit, reset_at))
    }
}
