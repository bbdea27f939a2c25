//! Counting a coarse budget locally and sending the counts to the shared store in batches.
//!
//! The general budget (every `/v1` request, per ip) is a safeguard against floods, not a
//! security boundary: a round trip to Redis for each request doubled the cost of a bearer
//! check on Redis + MongoDB. So while an identity is well inside its budget, a replica counts
//! its hits in memory and adds them to the shared counter every `FLUSH_EVERY`:
//!
//! - The first hit of an identity in a window is counted in the shared store, so a replica
//!   starts from what the others have already counted.
//! - While the count this replica knows of (the shared count it last saw, plus its own
//!   unsent and in-flight hits) stays at or below half the limit, a hit is answered from
//!   memory. Past half the limit every hit is counted in the shared store, so the refusal at
//!   the limit is exact for a single replica; with `n` replicas serving one identity at
//!   once, the overshoot is bounded by `(n - 1) x limit / 2` within one flush.
//! - Fail closed: once a flush fails, every hit goes to the shared store (and is refused
//!   while it is down) until a count there succeeds again.
//! - Memory is bounded: past `CAPACITY` identities tracked, a hit goes to the shared store.
//!
//! Never for the login, registration, password-reset, MFA or client budgets: those are
//! counted exactly, one shared hit per request (`service::rate_limit`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{RateDecision, RateLimitStore, StoreError, StoreResult, rules};

/// How often the hits counted in memory reach the shared store.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Identities counted in memory at once (~150 bytes each); beyond, hits go to the store.
const CAPACITY: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Tally {
    start: i64,
    ends: OffsetDateTime,
    limit: u64,
    window: Duration,
    /// The shared count as last seen by this replica.
    shared: u64,
    /// Hits answered from memory and not yet sent.
    unsent: u64,
    /// Hits sent and not yet acknowledged.
    in_flight: u64,
}

impl Tally {
    fn known(&self) -> u64 {
        self.shared + self.unsent + self.in_flight
    }
}

pub struct BatchedCounters {
    shared: Arc<dyn RateLimitStore>,
    tallies: Mutex<HashMap<String, Tally>>,
    /// False after a failed flush, until the shared store counts a hit again.
    healthy: AtomicBool,
}

impl BatchedCounters {
    /// Counters over `shared`, flushed every `FLUSH_EVERY` by a task that ends with them.
    pub fn spawn(shared: Arc<dyn RateLimitStore>) -> Arc<Self> {
        let counters = Arc::new(Self::new(shared));
        let weak = Arc::downgrade(&counters);
        tokio::spawn(flush_loop(weak));
        counters
    }

    fn new(shared: Arc<dyn RateLimitStore>) -> Self {
        Self {
            shared,
            tallies: Mutex::new(HashMap::new()),
            healthy: AtomicBool::new(true),
        }
    }

    fn tallies(&self) -> StoreResult<MutexGuard<'_, HashMap<String, Tally>>> {
        self.tallies
            .lock()
            .map_err(|_| StoreError::Unavailable("rate-limit tallies poisoned".into()))
    }

    /// Sends every unsent hit to the shared store and forgets windows that have ended.
    pub async fn flush(&self, now: OffsetDateTime) -> StoreResult<()> {
        let batch: Vec<(String, Tally)> = {
            let mut tallies = self.tallies()?;
            tallies.retain(|_, t| t.ends > now || t.unsent + t.in_flight > 0);
            tallies
                .iter_mut()
                .filter(|(_, t)| t.unsent > 0)
                .map(|(key, t)| {
                    let sent = *t;
                    t.in_flight += t.unsent;
                    t.unsent = 0;
                    (key.clone(), sent)
                })
                .collect()
        };
        let mut outcome = Ok(());
        for (key, sent) in batch {
            let result = self
                .shared
                .hit(
                    &key,
                    sent.unsent,
                    sent.limit,
                    sent.window,
                    window_time(&sent),
                )
                .await;
            self.settle(&key, &sent, sent.unsent, &result)?;
            if let Err(e) = result {
                self.healthy.store(false, Ordering::Relaxed);
                outcome = Err(e);
            }
        }
        outcome
    }

    /// Records what the shared store answered for `hits` sent from the tally `sent`; hits
    /// it did not count go back to be sent again.
    fn settle(
        &self,
        key: &str,
        sent: &Tally,
        hits: u64,
        result: &StoreResult<RateDecision>,
    ) -> StoreResult<()> {
        let mut tallies = self.tallies()?;
        let Some(tally) = tallies.get_mut(key) else {
            return Ok(());
        };
        if tally.start != sent.start {
            return Ok(());
        }
        tally.in_flight = tally.in_flight.saturating_sub(hits);
        match result {
            Ok(decision) => {
                let counted = decision.limit.saturating_sub(decision.remaining);
                // `remaining` saturates at zero; past the limit the count is at least the limit.
                tally.shared = tally.shared.max(counted);
            }
            Err(_) => tally.unsent += hits,
        }
        Ok(())
    }
}

/// A moment inside the window a tally counts, so late hits land in their own window.
fn window_time(tally: &Tally) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(tally.start).unwrap_or(tally.ends)
}

async fn flush_loop(counters: Weak<BatchedCounters>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(counters) = counters.upgrade() else {
            return;
        };
        if let Err(e) = counters.flush(OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "rate-limit counts could not reach the shared store");
        }
    }
}

#[async_trait]
impl RateLimitStore for BatchedCounters {
    async fn hit(
        &self,
        key: &str,
        hits: u64,
        limit: u64,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let (start, ends) = rules::rate_window(now, window);
        let sent = {
            let mut tallies = self.tallies()?;
            let healthy = self.healthy.load(Ordering::Relaxed);
            let full = tallies.len() >= CAPACITY;
            match tallies.get_mut(key) {
                Some(t) if t.start == start && healthy && t.known() + hits <= limit / 2 => {
                    t.unsent += hits;
                    return Ok(rules::rate_decision(t.known(), limit, ends));
                }
                Some(t) if t.start == start => {
                    // Exact from here: this hit and the unsent ones go to the store together.
                    let sending = t.unsent + hits;
                    t.in_flight += sending;
                    t.unsent = 0;
                    Some((*t, sending))
                }
                None if full => None,
                _ => {
                    let fresh = Tally {
                        start,
                        ends,
                        limit,
                        window,
                        shared: 0,
                        unsent: 0,
                        in_flight: hits,
                    };
                    tallies.insert(key.to_owned(), fresh);
                    Some((fresh, hits))
                }
            }
        };
        let Some((tally, sending)) = sent else {
            return self.shared.hit(key, hits, limit, window, now).await;
        };
        let result = self.shared.hit(key, sending, limit, window, now).await;
        self.settle(key, &tally, sending, &result)?;
        if result.is_ok() {
            self.healthy.store(true, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::store::MemoryCounters;

    /// The shared store, counting how often it is asked and able to fail on demand.
    #[derive(Default)]
    struct Shared {
        counters: MemoryCounters,
        calls: AtomicUsize,
        down: AtomicBool,
    }

    #[async_trait]
    impl RateLimitStore for Shared {
        async fn hit(
            &self,
            key: &str,
            hits: u64,
            limit: u64,
            window: Duration,
            now: OffsetDateTime,
        ) -> StoreResult<RateDecision> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("redis down".into()));
            }
            self.counters.hit(key, hits, limit, window, now).await
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    async fn allowed(counters: &BatchedCounters, hits: usize, limit: u64) -> usize {
        let mut allowed = 0;
        for _ in 0..hits {
            if counters
                .hit("general:10.0.0.1", 1, limit, MINUTE, at(1))
                .await
                .unwrap()
                .allowed
            {
                allowed += 1;
            }
        }
        allowed
    }

    /// Well inside the budget only the first hit reaches the shared store; a flush then
    /// brings it every hit in one call.
    #[tokio::test]
    async fn hits_inside_half_the_budget_stay_local_until_flushed() {
        let shared = Arc::new(Shared::default());
        let counters = BatchedCounters::new(shared.clone());
        assert_eq!(allowed(&counters, 40, 100).await, 40);
        assert_eq!(shared.calls.load(Ordering::SeqCst), 1);
        counters.flush(at(2)).await.unwrap();
        assert_eq!(shared.calls.load(Ordering::SeqCst), 2);
        let seen = shared
            .counters
            .hit("general:10.0.0.1", 0, 100, MINUTE, at(2))
            .await
            .unwrap();
        assert_eq!(seen.remaining, 60);
    }

    /// Past half the budget every hit is counted in the shared store: the refusal at the
    /// limit is exact.
    #[tokio::test]
    async fn the_limit_is_exact_for_one_replica() {
        let shared = Arc::new(Shared::default());
        let counters = BatchedCounters::new(shared.clone());
        assert_eq!(allowed(&counters, 130, 100).await, 100);
    }

    /// Two replicas over one shared store: what they admit together stays within the bound
    /// the module promises, and after a flush both see the other's hits.
    #[tokio::test]
    async fn replicas_share_the_budget_within_the_promised_overshoot() {
        let shared = Arc::new(Shared::default());
        let one = BatchedCounters::new(shared.clone());
        let two = BatchedCounters::new(shared.clone());
        let mut admitted = 0;
        for _ in 0..150 {
            admitted += allowed(&one, 1, 100).await + allowed(&two, 1, 100).await;
        }
        assert!((100..=150).contains(&admitted), "admitted {admitted}");
        one.flush(at(2)).await.unwrap();
        two.flush(at(2)).await.unwrap();
        assert_eq!(allowed(&one, 5, 100).await, 0);
        assert_eq!(allowed(&two, 5, 100).await, 0);
    }

    /// Once a flush fails, hits are counted in the shared store again, so while it is down
    /// they are refused; when it is back, the unsent hits are counted too.
    #[tokio::test]
    async fn a_failed_flush_fails_closed() {
        let shared = Arc::new(Shared::default());
        let counters = BatchedCounters::new(shared.clone());
        assert_eq!(allowed(&counters, 10, 100).await, 10);
        shared.down.store(true, Ordering::SeqCst);
        assert!(counters.flush(at(2)).await.is_err());
        let refused = counters
            .hit("general:10.0.0.1", 1, 100, MINUTE, at(2))
            .await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))));
        shared.down.store(false, Ordering::SeqCst);
        let back = counters
            .hit("general:10.0.0.1", 1, 100, MINUTE, at(3))
            .await
            .unwrap();
        // Ten hits, the one refused while down (counted again when it failed), and this one.
        assert_eq!(back.remaining, 88);
    }

    /// A new window starts from zero and the ended one is forgotten at the next flush.
    #[tokio::test]
    async fn ended_windows_are_forgotten() {
        let shared = Arc::new(Shared::default());
        let counters = BatchedCounters::new(shared.clone());
        assert_eq!(allowed(&counters, 10, 100).await, 10);
        counters.flush(at(2)).await.unwrap();
        counters.flush(at(120)).await.unwrap();
        assert!(counters.tallies().unwrap().is_empty());
    }
}
