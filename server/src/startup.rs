//! Building and running the server: data directory, secrets, store, keys, bootstrap admin,
//! listener.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use salvo::Server;
use salvo::conn::tcp::TcpAcceptor;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StorageConfig};
use crate::crypto::Cipher;
use crate::keyring::{KeyRing, KeyRingError};
use crate::mail::{MailDeps, MailWorker, Mailer, Transport};
use crate::password::PasswordHasher;
use crate::service::bootstrap::{self, Bootstrap};
use crate::shutdown::{DrainingAcceptor, Lifecycle, ShutdownHandle};
use crate::state::AppState;
use crate::store::{EmbeddedStore, MongoStore, RedisStore, SessionStore, StoreError, Stores};
use crate::templates::Templates;

const ENCRYPTION_KEY_FILE: &str = "encryption.key";
const STORE_FILE: &str = "sigil.redb";
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How long queued mails may take to go out after a stop.
const MAIL_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    EncryptionKey(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyRingError),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("bootstrap admin: {0}")]
    Bootstrap(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct App {
    server: Server<DrainingAcceptor>,
    mail_worker: MailWorker,
    local_addr: SocketAddr,
    /// Listeners apart from the public one: metrics, the CPU profiler.
    side: Vec<SideListener>,
    state: AppState,
    bootstrap: Bootstrap,
}

fn create_private_dir(path: &Path) -> Result<(), StartupError> {
    let err = |source| StartupError::DataDir {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// The configured key, else the one generated into the data directory on first start.
fn encryption_key(config: &Config) -> Result<Cipher, StartupError> {
    if let Some(key) = &config.encryption_key {
        return Cipher::from_base64(key.expose())
            .map_err(|e| StartupError::EncryptionKey(format!("SIGIL_ENCRYPTION_KEY: {e}")));
    }
    let path = config.data_dir.join(ENCRYPTION_KEY_FILE);
    warn_if_key_beside_data(config, &path);
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Cipher::generate_key();
            write_private_file(&path, key.as_bytes())
                .map_err(|e| StartupError::EncryptionKey(format!("{}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "generated the encryption key");
            key
        }
        Err(e) => {
            return Err(StartupError::EncryptionKey(format!(
                "{}: {e}",
                path.display()
            )));
        }
    };
    Cipher::from_base64(&key)
        .map_err(|e| StartupError::EncryptionKey(format!("{}: {e}", path.display())))
}

/// Only the embedded store reads the key from the data directory (MongoDB + Redis require
/// SIGIL_ENCRYPTION_KEY). On a loopback issuer that is a development setup and the
/// convenience wins; on an https issuer it is a deployment, where one copy of the data
/// directory (a backup, a snapshot) would decrypt every TOTP secret and signing key in it.
fn warn_if_key_beside_data(config: &Config, path: &Path) {
    if config.issuer_is_https {
        tracing::warn!(
            path = %path.display(),
            "the encryption key is kept in the data directory beside the data it protects: \
             a copy of that directory decrypts TOTP secrets and signing keys. Set \
             SIGIL_ENCRYPTION_KEY from a secret store instead (docs/operations.md)"
        );
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Opens (and on MongoDB + Redis, waits for) the configured stores.
pub async fn open_stores(
    config: &Config,
    metrics: &crate::metrics::Metrics,
) -> Result<Stores, StartupError> {
    match &config.storage {
        StorageConfig::Embedded { cache_bytes } => {
            let store_path = config.data_dir.join(STORE_FILE);
            let retention = config.audit_retention;
            let cache_bytes = *cache_bytes;
            let embedded = tokio::task::spawn_blocking(move || {
                EmbeddedStore::open_with_cache(&store_path, cache_bytes)
                    .map(|s| s.with_audit_retention(retention))
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            let stores = Stores::embedded(embedded).metered(&metrics.store_duration);
            tracing::info!(
                storage = %stores.description,
                "using the embedded store (SIGIL_MONGODB_URI and SIGIL_REDIS_URL are unset)"
            );
            Ok(stores)
        }
        StorageConfig::External {
            mongo,
            redis,
            connect_timeout,
            cache_ttl,
        } => {
            let mongo_store = MongoStore::connect(mongo).await?;
            let redis_store = RedisStore::connect(redis)?;
            let deadline = Instant::now() + *connect_timeout;
            let mut backoff = Duration::from_millis(250);
            loop {
                let attempt = async {
                    mongo_store.prepare().await?;
                    redis_store.ping().await
                };
                match attempt.await {
                    Ok(()) => break,
                    Err(e) if Instant::now() + backoff < deadline => {
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "store not reachable yet");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let description = format!(
                "mongodb (database {}) + redis (prefix {})",
                mongo.database, redis.key_prefix
            );
            tracing::info!(storage = %description, "using MongoDB and Redis");
            Ok(Stores::external(mongo_store, redis_store, description)
                .metered(&metrics.store_duration)
                .cached(*cache_ttl))
        }
    }
}

/// Everything but the listener: data dir, secrets, stores, key ring, hasher, mail.
async fn prepare_state(
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, Transport), StartupError> {
    create_private_dir(&config.data_dir)?;
    let cipher = encryption_key(&config)?;
    let metrics = Arc::new(
        crate::metrics::Metrics::new()
            .map_err(|e| StartupError::Hashing(format!("metrics: {e}")))?,
    );
    let stores = open_stores(&config, &metrics).await?;
    let keyring = KeyRing::load_or_create(
        stores.keys.clone(),
        cipher.clone(),
        config.initial_signing_key.clone(),
        config.key_policy(),
        clock.now(),
    )
    .await?;
    let hasher = PasswordHasher::new(&config.hashing)
        .map_err(StartupError::Hashing)?
        .with_metrics(metrics.hash_duration.clone(), metrics.hash_queue.clone());
    metrics
        .register(hasher.memory_gauge())
        .map_err(|e| StartupError::Hashing(format!("metrics: {e}")))?;
    let templates = Arc::new(Templates::load().map_err(|e| StartupError::Mail(e.to_string()))?);
    let transport = match &config.mail.smtp_url {
        Some(url) => Transport::smtp(url.expose()),
        None => Transport::outbox(&config.data_dir.join("outbox")),
    }
    .map_err(StartupError::Mail)?;
    let mailer = Mailer::new(
        &config.mail,
        MailDeps {
            queue: stores.mail.clone(),
            cipher: cipher.clone(),
            clock: clock.clone(),
            templates: templates.clone(),
        },
    )
    .map_err(StartupError::Mail)?;
    let state = AppState {
        config: Arc::new(config),
        stores,
        keyring: Arc::new(keyring),
        hasher: Arc::new(hasher),
        clock,
        cipher,
        mailer,
        templates,
        metrics,
        started_at: Instant::now(),
        client_keys: Arc::default(),
        lifecycle: Lifecycle::default(),
    };
    Ok((state, transport))
}

/// The state an administrative command (`sigil clients ...`) needs, without a listener.
pub async fn tool_state(config: Config) -> Result<AppState, StartupError> {
    // No delivery task: what a command queues goes out from the server.
    let (state, _transport) = prepare_state(config, Arc::new(SystemClock)).await?;
    Ok(state)
}

impl App {
    /// Prepares everything and binds the listener; nothing is served until
    /// [`App::run_until_stopped`].
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`App::build`], reading the time from `clock`.
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let listen = config.listen;
        let bind_error = |source| StartupError::Bind {
            addr: listen,
            source,
        };
        let (state, transport) = prepare_state(config, clock).await?;
        let mail_worker = state.mailer.start_delivery(transport);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let acceptor = state.lifecycle.acceptor(listener).map_err(bind_error)?;
        let mut side = Vec::new();
        if let Some(addr) = state.config.metrics_listen {
            side.push(SideListener::bind(Side::Metrics, addr).await?);
        }
        if let Some(addr) = state.config.pprof_listen {
            side.push(SideListener::bind(Side::Profiler, addr).await?);
        }
        let bootstrap = bootstrap::ensure_admin(&state)
            .await
            .map_err(|e| StartupError::Bootstrap(format!("{}: {}", e.code.as_str(), e.message)))?;
        Ok(Self {
            server: Server::new(acceptor),
            mail_worker,
            local_addr,
            side,
            state,
            bootstrap,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// What start-up did about the first admin (a generated password is in here, once).
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// Where the metrics listener listens, when there is one apart from the public listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.side_addr(Side::Metrics)
    }

    /// Where the CPU profiler listens, when it does.
    pub fn profiler_addr(&self) -> Option<SocketAddr> {
        self.side_addr(Side::Profiler)
    }

    fn side_addr(&self, which: Side) -> Option<SocketAddr> {
        self.side.iter().find(|s| s.side == which).map(|s| s.addr)
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        let mut servers = vec![self.server.handle()];
        servers.extend(self.side.iter().map(|s| s.server.handle()));
        ShutdownHandle {
            lifecycle: self.state.lifecycle.clone(),
            delay: self.state.config.shutdown_delay,
            servers,
        }
    }

    /// Serves until [`ShutdownHandle::drain`] is called, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) {
        let background = [
            tokio::spawn(sweep_forever(self.state.clone())),
            tokio::spawn(rotate_keys_forever(self.state.clone())),
            tokio::spawn(sync_keys_forever(self.state.clone())),
        ];
        let side: Vec<_> = self
            .side
            .into_iter()
            .map(|listener| {
                let service = listener.side.service(self.state.clone());
                tokio::spawn(listener.server.serve(service))
            })
            .collect();
        let service = crate::http::service(self.state);
        self.server.serve(service).await;
        for server in side {
            let _ = server.await;
        }
        for task in background {
            task.abort();
            let _ = task.await;
        }
        self.mail_worker.flush(MAIL_FLUSH_TIMEOUT).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Metrics,
    Profiler,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Profiler => "CPU profiler",
        }
    }

    fn service(self, state: AppState) -> salvo::Service {
        match self {
            Self::Metrics => crate::http::metrics_service(state),
            Self::Profiler => profiler_service(state),
        }
    }
}

struct SideListener {
    side: Side,
    server: Server<TcpAcceptor>,
    addr: SocketAddr,
}

impl SideListener {
    async fn bind(side: Side, addr: SocketAddr) -> Result<Self, StartupError> {
        let bind_error = |source| StartupError::Bind { addr, source };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        if side == Side::Profiler && !local.ip().is_loopback() {
            tracing::warn!(%local, "the CPU profiler listens beyond loopback; keep it off public networks");
        }
        tracing::info!(%local, listener = side.name(), "listening");
        let acceptor = TcpAcceptor::try_from(listener).map_err(bind_error)?;
        Ok(Self {
            side,
            server: Server::new(acceptor),
            addr: local,
        })
    }
}

#[cfg(feature = "pprof")]
fn profiler_service(state: AppState) -> salvo::Service {
    crate::http::profiler_service(state)
}

/// Unreachable: without the feature, configuration refuses `SIGIL_PPROF_LISTEN`.
#[cfg(not(feature = "pprof"))]
fn profiler_service(_state: AppState) -> salvo::Service {
    salvo::Service::new(salvo::Router::new())
}

/// Expired sessions, refresh entries and blocked ids are ignored on read anyway; the sweep
/// only reclaims their space.
async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        if let Ok(live) = state
            .stores
            .sessions
            .count_sessions(state.clock.now())
            .await
        {
            state
                .metrics
                .active_sessions
                .set(i64::try_from(live).unwrap_or(i64::MAX));
        }
        match state.stores.sessions.sweep_expired(state.clock.now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "swept expired entries"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired entries failed"),
        }
    }
}

/// Keeps the key ring in step with the store, so that a key another replica revoked stops
/// verifying here within `keyring::SYNC_INTERVAL`. A failed read keeps the ring as it is:
/// while the store is down, every request that needs a user, client or session fails closed
/// anyway.
async fn sync_keys_forever(state: AppState) {
    let mut tick = tokio::time::interval(crate::keyring::SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.keyring.sync().await {
            Ok(true) => tracing::info!("key ring changed in the store; reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the key ring failed"),
        }
    }
}

/// Rotates when a key's period ends. Checks ten times per period, at most every 30 s and at
/// least every 250 ms.
async fn rotate_keys_forever(state: AppState) {
    let every = (state.config.key_rotation_period / 10)
        .clamp(Duration::from_millis(250), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.keyring.rotate_if_due(state.clock.now()).await {
            tracing::warn!(error = %e, "key rotation check failed");
        }
    }
}
