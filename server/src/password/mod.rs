//! Password hashing with argon2id on a fixed set of worker threads, each owning the memory
//! one hash needs and reusing it (SPEC section 7; issue: bounded memory under any load).
//!
//! At most `workers` hashes run at once and at most `queue` wait; beyond that a request gets
//! 503 at once instead of piling up. The workers are plain threads, not the runtime's blocking
//! pool: a pool thread per concurrent request would each keep a ~19 MiB allocation in its own
//! malloc arena, which is how RSS once grew past 1.4 GiB under a login burst.
//!
//! A worker that has had nothing to do for [`IDLE_RELEASE`] gives its memory back, so an idle
//! server does not hold `workers` x the argon2 cost; under steady load it is reused.

mod argon;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use argon2::Params;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::config::HashingConfig;
use crate::error::{ApiError, ApiResult};
use argon::Memory;

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The hash was made with other parameters than the current ones.
    pub outdated: bool,
}

/// One unit of work for a hashing thread; it answers through its own channel.
type Job = Box<dyn FnOnce(&mut Memory, &Params) + Send>;

/// How long a worker keeps its memory without a job. Allocating it again costs a few
/// milliseconds of page faults against a hash of ~250 ms.
pub const IDLE_RELEASE: Duration = Duration::from_secs(2);

pub struct PasswordHasher {
    params: Params,
    jobs: Sender<Job>,
    /// Jobs accepted and not yet picked up by a worker.
    waiting: Arc<AtomicUsize>,
    /// Bytes of argon2 memory the workers hold right now.
    memory_held: prometheus::IntGauge,
    duration: Option<prometheus::Histogram>,
    queue_gauge: Option<prometheus::IntGauge>,
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

/// A worker: takes jobs until the hasher is dropped. A job that panics is contained, so the
/// pool never shrinks; its caller sees its answer channel close (500).
fn work(jobs: &Receiver<Job>, waiting: &AtomicUsize, params: &Params, held: prometheus::IntGauge) {
    let mut memory = Memory::counted(held);
    loop {
        match jobs.recv_timeout(IDLE_RELEASE) {
            Ok(job) => {
                waiting.fetch_sub(1, Ordering::AcqRel);
                let _contained =
                    std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory, params)));
            }
            Err(RecvTimeoutError::Timeout) => memory.release(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl PasswordHasher {
    pub fn new(config: &HashingConfig) -> Result<Self, String> {
        let a = config.argon2;
        let params = Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let dummy_hash = argon::hash(
            &mut Memory::default(),
            &params,
            b"sigil-dummy-password-for-timing",
        )
        .map_err(|e| format!("argon2 self-test failed: {e}"))?;
        let (jobs, receiver) = crossbeam_channel::bounded::<Job>(config.queue);
        let waiting = Arc::new(AtomicUsize::new(0));
        let memory_held = prometheus::IntGauge::new(
            "sigil_password_hash_memory_bytes",
            "argon2 memory the hashing workers hold (released after a few idle seconds)",
        )
        .map_err(|e| format!("metrics: {e}"))?;
        for n in 0..config.workers.max(1) {
            let (receiver, waiting, params) = (receiver.clone(), waiting.clone(), params.clone());
            let held = memory_held.clone();
            std::thread::Builder::new()
                .name(format!("sigil-hash-{n}"))
                .spawn(move || work(&receiver, &waiting, &params, held))
                .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
        }
        Ok(Self {
            params,
            jobs,
            waiting,
            memory_held,
            duration: None,
            queue_gauge: None,
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
            g.set(i64::try_from(self.queue_depth()).unwrap_or(i64::MAX));
        }
    }

    /// Hash requests waiting for a worker right now (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The gauge of argon2 memory held by the workers, to register with the app's metrics.
    pub fn memory_gauge(&self) -> prometheus::IntGauge {
        self.memory_held.clone()
    }

    async fn on_pool<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Memory, &Params) -> T + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let duration = self.duration.clone();
        let job: Job = Box::new(move |memory, params| {
            // The caller went away (client disconnected): spare the work.
            if answer.is_closed() {
                return;
            }
            let timer = duration.as_ref().map(prometheus::Histogram::start_timer);
            let out = work(memory, params);
            drop(timer);
            let _gone = answer.send(out);
        });
        self.waiting.fetch_add(1, Ordering::AcqRel);
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(refused) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return Err(match refused {
                    TrySendError::Full(_) => ApiError::unavailable(
                        "The server is busy hashing passwords; try again shortly",
                    ),
                    TrySendError::Disconnected(_) => {
                        ApiError::internal("the hashing threads are gone")
                    }
                });
            }
        }
        self.report_queue();
        let out = answered.await.map_err(ApiError::internal);
        self.report_queue();
        out
    }

    pub async fn hash(&self, password: Zeroizing<String>) -> ApiResult<String> {
        self.on_pool(move |memory, params| argon::hash(memory, params, password.as_bytes()))
            .await?
            .map_err(ApiError::internal)
    }

    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        hash: String,
    ) -> ApiResult<Verification> {
        self.on_pool(move |memory, params| {
            argon::verify(memory, params, password.as_bytes(), &hash)
        })
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

    /// With the workers busy and the queue full, a request is refused with 503 at once; the
    /// queued one is served when a worker frees up.
    #[tokio::test]
    async fn full_queue_answers_unavailable() {
        let h = Arc::new(hasher(64, 1));
        let (started, has_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = {
            let h = h.clone();
            tokio::spawn(async move {
                h.on_pool(move |_, _| {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || has_started.recv())
            .await
            .unwrap()
            .unwrap();
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(pw("a")).await })
        };
        while h.queue_depth() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = h.hash(pw("b")).await.unwrap_err();
        assert_eq!(refused.code, crate::error::ErrorCode::ServiceUnavailable);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert!(waiting.await.unwrap().is_ok());
    }

    /// The workers hold their memory while they have work and give it back once idle.
    #[tokio::test]
    async fn idle_workers_give_their_memory_back() {
        let h = hasher(64, 8);
        let held = h.memory_gauge();
        h.hash(pw("Correct-Horse-42")).await.unwrap();
        assert_eq!(held.get(), 64 * 1024, "one worker's blocks after a hash");
        let deadline = std::time::Instant::now() + IDLE_RELEASE * 5;
        while held.get() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "still held: {}",
                held.get()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        h.hash(pw("Correct-Horse-42")).await.unwrap();
        assert_eq!(held.get(), 64 * 1024, "allocated again for the next hash");
    }

    /// A job that panics does not take its worker with it.
    #[tokio::test]
    async fn a_panicking_job_leaves_the_pool_whole() {
        let h = hasher(64, 4);
        #[allow(clippy::panic)]
        let lost = h.on_pool(|_, _| -> () { panic!("boom") }).await;
        assert!(lost.is_err());
        assert!(h.hash(pw("still-served")).await.is_ok());
    }
}
