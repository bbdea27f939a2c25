//! The end-to-end test kit: a real Sigil server on `127.0.0.1:0` per test, with typed helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_keys::{KeyPair, KeySize};
use sigil_server::clock::ManualClock;
use sigil_server::config::{Config, LogFormat, StorageConfig};
use sigil_server::state::AppState;
use sigil_server::{App, ShutdownHandle};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub mod backend;
pub mod balancer;
pub mod browser;
pub mod dpop;
pub mod oauth;
pub mod process;
pub mod services;

pub use backend::TestBackend;

/// One RSA key for the whole test binary: generating one per server would dominate run time.
pub fn shared_key() -> KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("generate test key"))
        .clone()
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            sigil_server::telemetry::init(LogFormat::Pretty);
        }
    });
}

/// A running server and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    data_dir: Arc<TempDir>,
    storage: StorageConfig,
    encryption_key: String,
    shutdown: ShutdownHandle,
    task: JoinHandle<()>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `error.code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SPEC error envelope with this status and code, whose requestId matches the
    /// `X-Request-Id` header.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert!(
            self.body["timestamp"].is_string(),
            "timestamp: {}",
            self.body
        );
        let id = self.header("x-request-id").expect("X-Request-Id header");
        assert_eq!(self.body["requestId"], json!(id));
    }
}

/// Credentials of a user the test registers.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl TestUser {
    pub fn random() -> Self {
        let tag = Uuid::new_v4().simple().to_string();
        Self {
            email: format!("user-{}@example.com", &tag[..12]),
            username: format!("user_{}", &tag[..12]),
            password: format!("Sturdy-Lantern-7{}!", &tag[..6]),
        }
    }

    pub fn registration(&self) -> Value {
        json!({"email": self.email, "username": self.username, "password": self.password})
    }
}

/// Tokens from a login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on the backend `SIGIL_TEST_BACKEND` selects, with data of its own.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let storage = match TestBackend::from_env() {
            TestBackend::Embedded => StorageConfig::Embedded {
                cache_bytes: sigil_server::store::EmbeddedStore::DEFAULT_CACHE_BYTES,
            },
            TestBackend::MongoRedis => {
                let (mongo, redis) = backend::service_urls();
                backend::isolated_storage(&mongo, &redis)
            }
        };
        Self::spawn_on(storage, adjust).await
    }

    /// A server whose issuer is its own address, as OpenID Connect clients require
    /// (discovery checks that the issuer is the URL it fetched).
    pub async fn spawn_oidc(adjust: impl FnOnce(&mut Config)) -> Self {
        let port = services::free_port();
        Self::spawn_with(move |c| {
            c.listen = format!("127.0.0.1:{port}").parse().expect("listen address");
            c.issuer = format!("http://127.0.0.1:{port}");
            adjust(c);
        })
        .await
    }

    /// An access token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        let reply = self
            .post(
                "/v1/auth/login",
                json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        tokens(&reply).access
    }

    /// Registers an OAuth client through the admin API; returns its id and secret.
    pub async fn create_client(&self, client: Value) -> (String, Option<String>) {
        let admin = self.admin_token().await;
        let reply = self
            .request(
                Method::POST,
                "/v1/admin/clients",
                Some(&admin),
                Some(client),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let id = reply.data()["clientId"]
            .as_str()
            .expect("clientId")
            .to_owned();
        let secret = reply.data()["clientSecret"].as_str().map(str::to_owned);
        (id, secret)
    }

    /// A server on the given storage.
    pub async fn spawn_on(storage: StorageConfig, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let key = sigil_server::crypto::Cipher::generate_key().to_string();
        Self::start(dir, storage, key, adjust).await
    }

    async fn start(
        dir: Arc<TempDir>,
        storage: StorageConfig,
        encryption_key: String,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        init_logs();
        let mut config = Config::for_tests(dir.path().to_owned()).expect("test config");
        config.storage = storage.clone();
        config.encryption_key = Some(sigil_server::config::Secret::new(encryption_key.clone()));
        config.initial_signing_key = Some(shared_key());
        // Most tests sign users in right after registering; the verification tests turn
        // this back on.
        config.require_email_verification = false;
        config.bootstrap_admin_password =
            Some(sigil_server::config::Secret::new(ADMIN_PASSWORD.to_owned()));
        adjust(&mut config);
        let clock = Arc::new(ManualClock::default());
        let app = App::build_with_clock(config, clock.clone())
            .await
            .expect("build app");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let shutdown = app.shutdown_handle();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: client(),
            state,
            clock,
            data_dir: dir,
            storage,
            encryption_key,
            shutdown,
            task,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Stops the server and waits until it has released the store.
    pub async fn stop(self) {
        drop(self.client);
        self.shutdown.drain().await;
        self.task.await.expect("server task");
    }

    /// Stops the server and starts a new one on the same data (directory, database, Redis
    /// prefix, encryption key), without a pre-generated signing key.
    pub async fn restart(self) -> Self {
        let dir = self.data_dir.clone();
        let storage = self.storage.clone();
        let key = self.encryption_key.clone();
        self.stop().await;
        Self::start(dir, storage, key, |c| c.initial_signing_key = None).await
    }

    /// Another server on the same storage and encryption key: a second replica.
    pub async fn spawn_replica(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::start(
            dir,
            self.storage.clone(),
            self.encryption_key.clone(),
            adjust,
        )
        .await
    }

    pub fn backend_storage(&self) -> &StorageConfig {
        &self.storage
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("send")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, None).await
    }

    pub async fn register(&self, user: &TestUser) -> Reply {
        self.post("/v1/auth/register", user.registration()).await
    }

    pub async fn login(&self, user: &TestUser) -> Reply {
        self.post(
            "/v1/auth/login",
            json!({"username": user.username, "password": user.password}),
        )
        .await
    }

    /// Registers a fresh user and logs them in.
    pub async fn signed_in_user(&self) -> (TestUser, Tokens) {
        let user = TestUser::random();
        let reply = self.register(&user).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let tokens = self.login_ok(&user).await;
        (user, tokens)
    }

    pub async fn login_ok(&self, user: &TestUser) -> Tokens {
        let reply = self.login(user).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        tokens(&reply)
    }

    /// Registers a user, follows the verification link from the sink, and logs in.
    pub async fn signed_in_user_verified(&self, sink: &services::SmtpSink) -> (TestUser, Tokens) {
        let user = TestUser::random();
        let reply = self.register(&user).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let mail = sink.wait_for(&user.email, "Confirm", 1).await.remove(0);
        let token = mail.link_token("/verify-email").expect("verification link");
        let verified = self
            .post("/v1/auth/verify-email", json!({ "token": token }))
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
        let tokens = self.login_ok(&user).await;
        (user, tokens)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post("/v1/auth/refresh", json!({"refreshToken": refresh_token}))
            .await
    }

    pub async fn me(&self, access: &str) -> Reply {
        self.get("/v1/users/me", Some(access)).await
    }

    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }
}

pub const ADMIN_EMAIL: &str = "admin@sigil.local";
pub const ADMIN_PASSWORD: &str = "Keystone-Vault-Pass-91!";

pub fn tokens(reply: &Reply) -> Tokens {
    Tokens {
        access: reply.data()["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned(),
        refresh: reply.data()["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned(),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "status {status}: body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Where cargo put the `sigil` binary next to this test binary.
pub fn sigil_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("sigil");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --workspace --bins; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// An active, verified user record named `name` (lower case), to seed a store directly;
/// its password hash matches no password.
pub fn user_record(
    name: &str,
    created_at: time::OffsetDateTime,
) -> sigil_server::domain::UserRecord {
    sigil_server::domain::UserRecord {
        id: Uuid::new_v4(),
        email: format!("{name}@example.com"),
        email_normalized: format!("{name}@example.com"),
        username: name.to_owned(),
        username_normalized: name.to_owned(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        first_name: None,
        last_name: None,
        phone: None,
        status: sigil_server::domain::UserStatus::Active,
        email_verified: true,
        roles: vec![sigil_server::domain::Role::User],
        failed_logins: 0,
        last_failed_login: None,
        locked_until: None,
        created_at,
        updated_at: created_at,
        last_login: None,
        password_changed_at: created_at,
        known_devices: vec![],
        mfa: Default::default(),
    }
}
