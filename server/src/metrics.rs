//! Prometheus metrics (SPEC section 8), one registry per app (no globals), served at
//! `/metrics` in the text exposition format.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Request latency buckets, in seconds: from a cached JWKS to a slow argon2 login.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const HASH_BUCKETS: &[f64] = &[0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];
const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub logins: IntCounterVec,
    pub tokens_issued: IntCounterVec,
    pub refresh_reuse: IntCounter,
    pub rate_limited: IntCounterVec,
    pub hash_duration: Histogram,
    pub hash_queue: IntGauge,
    pub store_duration: HistogramVec,
    pub active_sessions: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    /// Adds a metric owned elsewhere (the hashing pool's memory gauge) to this registry.
    pub fn register(
        &self,
        collector: impl prometheus::core::Collector + 'static,
    ) -> prometheus::Result<()> {
        self.registry.register(Box::new(collector))
    }

    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let refresh_reuse = IntCounter::new(
            "sigil_refresh_token_reuse_detected_total",
            "Rotated-out refresh tokens presented again (their sessions were revoked)",
        )?;
        registry.register(Box::new(refresh_reuse.clone()))?;
        let hash_duration = Histogram::with_opts(
            HistogramOpts::new(
                "sigil_password_hash_duration_seconds",
                "Time to hash or verify a password",
            )
            .buckets(HASH_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(hash_duration.clone()))?;
        let hash_queue = IntGauge::new(
            "sigil_password_hash_queue_depth",
            "Password hashes waiting for a worker",
        )?;
        registry.register(Box::new(hash_queue.clone()))?;
        let active_sessions = IntGauge::new(
            "sigil_active_sessions",
            "Live sessions (updated every minute)",
        )?;
        registry.register(Box::new(active_sessions.clone()))?;
        Ok(Self {
            http_requests: counter(
                &registry,
                "sigil_http_requests_total",
                "HTTP requests by method, route template and status",
                &["method", "route", "status"],
            )?,
            http_duration: histogram(
                &registry,
                "sigil_http_request_duration_seconds",
                "HTTP request latency by method and route template",
                LATENCY_BUCKETS,
                &["method", "route"],
            )?,
            logins: counter(
                &registry,
                "sigil_logins_total",
                "Login attempts by result",
                &["result"],
            )?,
            tokens_issued: counter(
                &registry,
                "sigil_tokens_issued_total",
                "Access tokens issued by grant",
                &["grant"],
            )?,
            rate_limited: counter(
                &registry,
                "sigil_rate_limited_total",
                "Requests refused by a rate limit, by bucket",
                &["bucket"],
            )?,
            store_duration: histogram(
                &registry,
                "sigil_store_operation_duration_seconds",
                "Storage operation latency by backend",
                STORE_BUCKETS,
                &["backend"],
            )?,
            refresh_reuse,
            hash_duration,
            hash_queue,
            active_sessions,
            registry,
        })
    }

    /// Counts what an audit event says about logins.
    pub fn on_audit(&self, action: &str) {
        let result = match action {
            "login.succeeded" => "success",
            "login.failed" | "mfa.failed" => "failure",
            "account.locked" => "locked",
            "login.mfa_required" => "mfa_required",
            "refresh.reuse_detected" => {
                self.refresh_reuse.inc();
                return;
            }
            _ => return,
        };
        self.logins.with_label_values(&[result]).inc();
    }

    pub fn token_issued(&self, grant: &str) {
        self.tokens_issued.with_label_values(&[grant]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
