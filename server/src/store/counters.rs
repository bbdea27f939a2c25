//! Rate-limit counters in process memory: the embedded deployment's [`RateLimitStore`].
//!
//! One process owns the embedded data file, so every request that counts passes through this
//! map and the budget is exact. Counters are deliberately not durable: writing one to disk
//! would cost an fsync per request (once the slowest part of a bearer check), and losing
//! them to a restart only opens fresh windows early, which a restart's own downtime outweighs
//! (docs/storage.md, "What is durable"). Memory is bounded: at most `capacity` identities are
//! tracked at once; when every slot holds a live window, a new identity is refused (503)
//! rather than let through uncounted.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{RateDecision, RateLimitStore, StoreError, StoreResult, rules};

/// Locks are per shard, so concurrent hits on different identities rarely wait on each other.
const SHARDS: usize = 16;

/// Identities tracked at once by default (~100 bytes each).
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    ends: OffsetDateTime,
    hits: u64,
}

pub struct MemoryCounters {
    shards: Vec<Mutex<HashMap<String, Window>>>,
    router: RandomState,
    per_shard: usize,
}

impl MemoryCounters {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            router: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Window>> {
        let index = usize::try_from(self.router.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[async_trait]
impl RateLimitStore for MemoryCounters {
    async fn hit(
        &self,
        key: &str,
        hits: u64,
        limit: u64,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let (start, ends) = rules::rate_window(now, window);
        let mut counters = self
            .shard(key)
            .lock()
            .map_err(|_| StoreError::Unavailable("rate-limit counters poisoned".into()))?;
        if !counters.contains_key(key) && counters.len() >= self.per_shard {
            counters.retain(|_, w| w.ends > now);
            if counters.len() >= self.per_shard {
                return Err(StoreError::Unavailable(
                    "rate-limit counters full: too many clients at once".into(),
                ));
            }
        }
        let counter = counters.entry(key.to_owned()).or_insert(Window {
            start,
            ends,
            hits: 0,
        });
        if counter.start != start {
            *counter = Window {
                start,
                ends,
                hits: 0,
            };
        }
        counter.hits += hits;
        Ok(rules::rate_decision(counter.hits, limit, ends))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    /// When every slot holds a live window, a newcomer is refused (fail closed) while the
    /// identities already tracked keep being counted; once windows end, slots free up.
    #[tokio::test]
    async fn full_counters_refuse_newcomers_until_windows_end() {
        let counters = MemoryCounters::new(SHARDS);
        let minute = Duration::from_secs(60);
        let mut tracked = Vec::new();
        let mut refused = None;
        for n in 0..(SHARDS * 8) {
            let key = format!("general:10.0.0.{n}");
            match counters.hit(&key, 1, 5, minute, at(0)).await {
                Ok(_) => tracked.push(key),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(refused, Some(StoreError::Unavailable(_))));
        let again = counters
            .hit(&tracked[0], 1, 5, minute, at(1))
            .await
            .unwrap();
        assert_eq!(again.remaining, 3);
        let later = counters
            .hit("general:10.9.9.9", 1, 5, minute, at(120))
            .await;
        assert_eq!(later.unwrap().remaining, 4);
    }
}
