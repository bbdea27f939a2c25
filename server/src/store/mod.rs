//! Storage behind traits (SPEC section 2). Every backend passes the same conformance suite
//! (`sigil-tests`, `store_conformance`); nothing outside the backend modules knows which one
//! is in use.

mod batched;
mod cached;
#[cfg(feature = "contract")]
pub mod contract;
mod counters;
mod embedded;
mod metered;
mod mongo;
mod records;
mod redis;
pub mod rules;
mod traits;

use std::sync::Arc;

pub use batched::BatchedCounters;
pub use cached::Cached;
pub use counters::MemoryCounters;
pub use embedded::EmbeddedStore;
pub use metered::Metered;
pub use mongo::{MongoSettings, MongoStore};
pub use records::{
    AuditEvent, AuditFilter, ConsumeOutcome, KeyState, OneTimeTokenRecord, QueuedMail,
    RateDecision, RefreshOutcome, SessionRecord, SigningKeyRecord, TokenPurpose,
};
pub use redis::{RedisSettings, RedisStore};
pub use traits::{
    AuditStore, BearerState, ClientStore, CodeStore, Conflict, GuardedUpdate, KeyStore,
    LockoutPolicy, MailQueueStore, OneTimeTokenStore, RateLimitStore, ResourceStore, SessionStore,
    StoreError, StoreResult, UserChange, UserQuery, UserSort, UserStore,
};

/// A whole storage deployment.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub keys: Arc<dyn KeyStore>,
    pub tokens: Arc<dyn OneTimeTokenStore>,
    pub audit: Arc<dyn AuditStore>,
    pub rate_limits: Arc<dyn RateLimitStore>,
    /// The same counters, for budgets that may be counted locally and sent in batches (the
    /// general budget; see [`BatchedCounters`]). Exact budgets use `rate_limits`.
    pub coarse_rate_limits: Arc<dyn RateLimitStore>,
    pub codes: Arc<dyn CodeStore>,
    pub clients: Arc<dyn ClientStore>,
    pub resources: Arc<dyn ResourceStore>,
    pub mail: Arc<dyn MailQueueStore>,
    /// Human-readable description for the start-up log, e.g. `embedded (./data/sigil.redb)`.
    pub description: String,
    backends: Backends,
}

/// Which backend holds the durable records (users, keys, tokens, clients, resources, audit)
/// and which the short-lived ones (sessions, codes, counters): the latency metric's labels.
#[derive(Debug, Clone, Copy)]
struct Backends {
    durable: &'static str,
    ephemeral: &'static str,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("description", &self.description)
            .finish()
    }
}

impl Stores {
    /// Users and keys in MongoDB, sessions in Redis.
    pub fn external(mongo: MongoStore, redis: RedisStore, description: String) -> Self {
        let mongo = Arc::new(mongo);
        let redis = Arc::new(redis);
        Self {
            users: mongo.clone(),
            keys: mongo.clone(),
            tokens: mongo.clone(),
            clients: mongo.clone(),
            resources: mongo.clone(),
            mail: mongo.clone(),
            audit: mongo,
            sessions: redis.clone(),
            coarse_rate_limits: BatchedCounters::spawn(redis.clone()),
            rate_limits: redis.clone(),
            codes: redis,
            description,
            backends: Backends {
                durable: "mongodb",
                ephemeral: "redis",
            },
        }
    }

    pub fn embedded(store: EmbeddedStore) -> Self {
        let description = format!("embedded ({})", store.path().display());
        let store = Arc::new(store);
        // In one process the counters are already in memory: nothing to batch.
        let counters = Arc::new(MemoryCounters::default());
        Self {
            users: store.clone(),
            sessions: store.clone(),
            keys: store.clone(),
            tokens: store.clone(),
            clients: store.clone(),
            resources: store.clone(),
            mail: store.clone(),
            audit: store.clone(),
            rate_limits: counters.clone(),
            coarse_rate_limits: counters,
            codes: store,
            description,
            backends: Backends {
                durable: "embedded",
                ephemeral: "embedded",
            },
        }
    }

    /// Clients and users read through a cache that trusts a copy for `ttl` (see
    /// [`Cached`]): for deployments whose durable store is a network hop away.
    pub fn cached(self, ttl: std::time::Duration) -> Self {
        Self {
            users: Arc::new(Cached::new(self.users, ttl, cached::DEFAULT_CAPACITY)),
            clients: Arc::new(Cached::new(self.clients, ttl, cached::DEFAULT_CAPACITY)),
            ..self
        }
    }

    /// Every store timed by `latency`, labelled with the backend that serves it.
    pub fn metered(self, latency: &prometheus::HistogramVec) -> Self {
        fn wrap<S: ?Sized>(inner: Arc<S>, latency: &prometheus::Histogram) -> Arc<Metered<S>> {
            Arc::new(Metered::new(inner, latency.clone()))
        }
        let durable = latency.with_label_values(&[self.backends.durable]);
        let ephemeral = latency.with_label_values(&[self.backends.ephemeral]);
        Self {
            users: wrap(self.users, &durable),
            keys: wrap(self.keys, &durable),
            tokens: wrap(self.tokens, &durable),
            clients: wrap(self.clients, &durable),
            resources: wrap(self.resources, &durable),
            mail: wrap(self.mail, &durable),
            audit: wrap(self.audit, &durable),
            sessions: wrap(self.sessions, &ephemeral),
            rate_limits: wrap(self.rate_limits, &ephemeral),
            coarse_rate_limits: wrap(self.coarse_rate_limits, &ephemeral),
            codes: wrap(self.codes, &ephemeral),
            description: self.description,
            backends: self.backends,
        }
    }
}
