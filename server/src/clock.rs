use std::fmt::Debug;

use time::OffsetDateTime;

/// Where the server reads the time, so that expiry logic can be driven by tests.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Seconds since the Unix epoch, never negative.
pub fn unix(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

/// The system time shifted by an adjustable offset: lets tests (and only tests) jump past a
/// lockout window or a token's expiry without waiting.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_secs: std::sync::atomic::AtomicI64,
}

impl ManualClock {
    pub fn advance(&self, by: std::time::Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let offset = self.offset_secs.load(std::sync::atomic::Ordering::SeqCst);
        OffsetDateTime::now_utc() + time::Duration::seconds(offset)
    }
}
