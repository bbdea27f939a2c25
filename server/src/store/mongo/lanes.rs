//! Per-record write lanes on one replica: writers of the same user queue here instead of
//! racing one another's compare-and-swap. Thirty-two sign-ins of one account at once
//! would otherwise cost O(n²) reads and writes (each round one writer wins and the rest
//! read again); in a lane each costs one read and one write. The compare-and-swap stays:
//! it is what keeps writes from two replicas apart.
//!
//! A fixed set of locks, a record hashed onto one: memory does not grow with the number of
//! users, and two users sharing a lane only wait for each other's single write.
//!
//! The lane is an optimisation, never what makes a write correct, so waiting for it is
//! bounded: while MongoDB is unreachable each write in a lane can take the driver's whole
//! server-selection timeout, and a queue of them must not turn one outage's 503 into a
//! minute-long wait. Past [`MAX_WAIT`] a writer goes on without its turn.

use std::hash::{BuildHasher, Hash, RandomState};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

/// Enough that unrelated users rarely share one on a replica with a 2-core budget.
const LANES: usize = 64;
/// Longest wait for a turn; a healthy read-modify-write takes a few milliseconds.
const MAX_WAIT: Duration = Duration::from_secs(1);

pub(super) struct WriteLanes {
    lanes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl WriteLanes {
    pub(super) fn new() -> Self {
        Self {
            lanes: (0..LANES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Held for the duration of one read-modify-write of `key`; `None` when the turn did
    /// not come within [`MAX_WAIT`].
    pub(super) async fn enter(&self, key: &impl Hash) -> Option<MutexGuard<'_, ()>> {
        let lane = usize::try_from(self.hasher.hash_one(key)).unwrap_or(0) % self.lanes.len();
        tokio::time::timeout(MAX_WAIT, self.lanes[lane].lock())
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same key always lands in the same lane: a second writer waits for the first,
    /// and gets in at once when the first is done.
    #[tokio::test]
    async fn one_key_one_writer_at_a_time() {
        let lanes = WriteLanes::new();
        let first = lanes.enter(&"user-a").await;
        assert!(first.is_some());
        let second = lanes.enter(&"user-a");
        tokio::pin!(second);
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "a second writer of one key got in"
        );
        drop(first);
        assert!(second.await.is_some());
    }

    /// A writer whose turn does not come goes on without it after `MAX_WAIT`.
    #[tokio::test]
    async fn the_wait_for_a_turn_is_bounded() {
        let lanes = WriteLanes::new();
        let _stuck = lanes.enter(&"user-a").await;
        let started = std::time::Instant::now();
        assert!(lanes.enter(&"user-a").await.is_none());
        assert!(started.elapsed() >= MAX_WAIT);
    }
}
