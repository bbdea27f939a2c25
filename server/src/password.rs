//! Password hashing with argon2id, off the async runtime on a bounded set of blocking threads.
//!
//! At most `workers` hashes run at once and at most `queue` wait; beyond that a request gets 503
//! at once instead of piling up memory (each hash holds ~19 MiB while it runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::config::HashingConfig;
use crate::error::{ApiError, ApiResult};

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The hash was made with other parameters than the current ones.
    pub outdated: bool,
}

pub struct PasswordHasher {
    params: Params,
    duration: Option<prometheus::Histogram>,
    queue_gauge: Option<prometheus::IntGauge>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Verified against when the user does not exist, so that both cases cost the same.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes synchronously; for start-up and the blocking pool.
fn hash_now(params: &Params, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    Ok(argon2(params.clone()).hash_password(password)?.to_string())
}

fn verify_now(params: &Params, password: &[u8], hash: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Verification {
            matches: false,
            outdated: true,
        };
    };
    let matches = argon2(params.clone())
        .verify_password(password, &parsed)
        .is_ok();
    let same_params = Params::try_from(&parsed).is_ok_and(|p| {
        p.m_cost() == params.m_cost()
            && p.t_cost() == params.t_cost()
            && p.p_cost() == params.p_cost()
    });
    let outdated = parsed.algorithm.as_str() != "argon2id" || !same_params;
    Verification { matches, outdated }
}

impl PasswordHasher {
    pub fn new(config: &HashingConfig) -> Result<Self, String> {
        let a = config.argon2;
        let params = Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let dummy_hash = hash_now(&params, b"sigil-dummy-password-for-timing")
            .map_err(|e| format!("argon2 self-test failed: {e}"))?;
        Ok(Self {
            params,
            duration: None,
            queue_gauge: None,
            permits: Arc::new(Semaphore::new(config.workers.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: config.queue,
            dummy_hash,
        })
    }

    /// Reports hashing time and queue depth to these metrics.
    pub fn with_metrics(
        mut self,
        duration: prometheus::Histogram,
        queue: prometheus::IntGauge,
    ) -> Self {
        self.duration = Some(duration);
        self.queue_gauge = Some(queue);
        self
    }

    fn report_queue(&self) {
        if let Some(g) = &self.queue_gauge {
            g.set(i64::try_from(self.waiting.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        }
    }

    /// Hash requests waiting for a worker right now (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn on_pool<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Params) -> T + Send + 'static,
    {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::unavailable(
                "The server is busy hashing passwords; try again shortly",
            ));
        }
        self.report_queue();
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        self.report_queue();
        let permit = permit.map_err(ApiError::internal)?;
        let params = self.params.clone();
        let timer = self
            .duration
            .as_ref()
            .map(prometheus::Histogram::start_timer);
        let result = tokio::task::spawn_blocking(move || {
            let out = work(&params);
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal);
        if let Some(timer) = timer {
            timer.observe_duration();
        }
        result
    }

    pub async fn hash(&self, password: Zeroizing<String>) -> ApiResult<String> {
        self.on_pool(move |params| hash_now(params, password.as_bytes()))
            .await?
            .map_err(ApiError::internal)
    }

    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        hash: String,
    ) -> ApiResult<Verification> {
        self.on_pool(move |params| verify_now(params, password.as_bytes(), &hash))
            .await
    }

    /// Spends the same work as [`Self::verify`] and always fails.
    pub async fn verify_dummy(&self, password: Zeroizing<String>) -> ApiResult<()> {
        self.verify(password, self.dummy_hash.clone())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Argon2Settings;

    fn hasher(memory_kib: u32, queue: usize) -> PasswordHasher {
        PasswordHasher::new(&HashingConfig {
            argon2: Argon2Settings {
                memory_kib,
                iterations: 1,
                parallelism: 1,
            },
            workers: 1,
            queue,
        })
        .unwrap()
    }

    fn pw(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    /// A hash verifies its password only, and is argon2id.
    #[tokio::test]
    async fn hash_and_verify() {
        let h = hasher(64, 8);
        let hash = h.hash(pw("Correct-Horse-42")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let ok = h
            .verify(pw("Correct-Horse-42"), hash.clone())
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                outdated: false
            }
        );
        assert!(!h.verify(pw("wrong"), hash).await.unwrap().matches);
        assert!(!h.verify(pw("x"), "garbage".into()).await.unwrap().matches);
    }

    /// A hash made with other parameters is flagged for upgrade.
    #[tokio::test]
    async fn old_parameters_are_flagged() {
        let old = hasher(32, 8).hash(pw("Correct-Horse-42")).await.unwrap();
        let v = hasher(64, 8)
            .verify(pw("Correct-Horse-42"), old)
            .await
            .unwrap();
        assert_eq!(
            v,
            Verification {
                matches: true,
                outdated: true
            }
        );
    }

    /// With the queue full, a request is refused with 503 at once.
    #[tokio::test]
    async fn full_queue_answers_unavailable() {
        let h = Arc::new(hasher(64, 1));
        let hold = h.permits.clone().acquire_owned().await.unwrap();
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(pw("a")).await })
        };
        while h.queue_depth() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = h.hash(pw("b")).await.unwrap_err();
        assert_eq!(refused.code, crate::error::ErrorCode::ServiceUnavailable);
        drop(hold);
        assert!(waiting.await.unwrap().is_ok());
    }
}
