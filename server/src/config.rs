//! Configuration (SPEC section 3): CLI flags over environment variables (and `.env`) over an
//! optional TOML file over defaults. Parsed once into [`Config`]; any bad value stops start-up
//! with one line naming the variable.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sigil_keys::{KeyPair, KeySize};
use url::Url;
use zeroize::Zeroizing;

use crate::store::LockoutPolicy;

/// The raw settings as text, one field per `SIGIL_*` variable. The TOML file uses the same
/// names in lower case without the prefix (`listen = "0.0.0.0:8080"`).
#[derive(Clone, Default, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "SIGIL_LISTEN")]
    pub listen: Option<String>,
    /// Public base URL; https unless the host is loopback.
    #[arg(long, env = "SIGIL_ISSUER")]
    pub issuer: Option<String>,
    /// Directory of the embedded store and generated secrets.
    #[arg(long, env = "SIGIL_DATA_DIR")]
    pub data_dir: Option<String>,
    /// MongoDB connection string; with SIGIL_REDIS_URL selects the production backends.
    #[arg(long, env = "SIGIL_MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,
    /// MongoDB database name.
    #[arg(long, env = "SIGIL_MONGODB_DB")]
    pub mongodb_db: Option<String>,
    /// Connections per replica to MongoDB.
    #[arg(long, env = "SIGIL_MONGODB_POOL_SIZE")]
    pub mongodb_pool_size: Option<String>,
    /// Redis URL (`redis://` or `rediss://`); with SIGIL_MONGODB_URI selects the production
    /// backends.
    #[arg(long, env = "SIGIL_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "SIGIL_REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,
    /// Connections per replica to Redis.
    #[arg(long, env = "SIGIL_REDIS_POOL_SIZE")]
    pub redis_pool_size: Option<String>,
    /// How long start-up keeps retrying MongoDB and Redis before giving up.
    #[arg(long, env = "SIGIL_STORE_CONNECT_TIMEOUT")]
    pub store_connect_timeout: Option<String>,
    /// Base64 of 32 bytes; generated into the data dir when unset in embedded mode.
    #[arg(long, env = "SIGIL_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    #[arg(long, env = "SIGIL_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<String>,
    #[arg(long, env = "SIGIL_REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<String>,
    #[arg(long, env = "SIGIL_REMEMBER_ME_TTL")]
    pub remember_me_ttl: Option<String>,
    /// The absolute lifetime of a session, however often it refreshes.
    #[arg(long, env = "SIGIL_SESSION_MAX_LIFETIME")]
    pub session_max_lifetime: Option<String>,
    /// The absolute lifetime of a session signed in with rememberMe.
    #[arg(long, env = "SIGIL_REMEMBER_ME_MAX_LIFETIME")]
    pub remember_me_max_lifetime: Option<String>,
    #[arg(long, env = "SIGIL_REQUIRE_EMAIL_VERIFICATION")]
    pub require_email_verification: Option<String>,
    /// Comma-separated audiences of REST tokens (`/v1`); default: the issuer.
    #[arg(long, env = "SIGIL_REST_AUDIENCE")]
    pub rest_audience: Option<String>,
    /// How recent a sign-in must be for sensitive changes without the password.
    #[arg(long, env = "SIGIL_REAUTHENTICATION_WINDOW")]
    pub reauthentication_window: Option<String>,
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// `pretty` or `json`.
    #[arg(long, env = "SIGIL_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// A listener of its own for `/metrics` (`ip:port`); unset, `/metrics` is on the main one.
    #[arg(long, env = "SIGIL_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Address of the CPU profiler (builds with the `pprof` feature): `ip:port`, or a bare
    /// port for loopback. Unset, no profiler listens.
    #[arg(long, env = "SIGIL_PPROF_LISTEN")]
    pub pprof_listen: Option<String>,
    #[arg(long, env = "SIGIL_LOCKOUT_THRESHOLD")]
    pub lockout_threshold: Option<String>,
    #[arg(long, env = "SIGIL_LOCKOUT_DURATION")]
    pub lockout_duration: Option<String>,
    #[arg(long, env = "SIGIL_MAX_SESSIONS_PER_USER")]
    pub max_sessions_per_user: Option<String>,
    #[arg(long, env = "SIGIL_JWKS_MAX_AGE")]
    pub jwks_max_age: Option<String>,
    /// How long a signing key signs before the next one takes over.
    #[arg(long, env = "SIGIL_KEY_ROTATION_PERIOD")]
    pub key_rotation_period: Option<String>,
    /// RSA modulus size of generated signing keys: 2048, 3072 or 4096.
    #[arg(long, env = "SIGIL_KEY_SIZE")]
    pub key_size: Option<String>,
    /// How long audit events are kept.
    #[arg(long, env = "SIGIL_AUDIT_RETENTION")]
    pub audit_retention: Option<String>,
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://...:465` (implicit
    /// TLS); unset: mails are written to DATA_DIR/outbox.
    #[arg(long, env = "SIGIL_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of Sigil's mails, e.g. `Sigil <no-reply@example.com>`.
    #[arg(long, env = "SIGIL_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// How long an email verification link works.
    #[arg(long, env = "SIGIL_VERIFICATION_TOKEN_TTL")]
    pub verification_token_ttl: Option<String>,
    /// Comma-separated origins allowed to call the API from browsers.
    #[arg(long, env = "SIGIL_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed.
    #[arg(long, env = "SIGIL_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Comma-separated ips or CIDRs allowed to call /v1/admin (empty: any).
    #[arg(long, env = "SIGIL_ADMIN_ALLOWED_IPS")]
    pub admin_allowed_ips: Option<String>,
    /// `count/window` (e.g. `100/15m`) or `off`, per client ip on /v1.
    #[arg(long, env = "SIGIL_RATE_LIMIT_GENERAL")]
    pub rate_limit_general: Option<String>,
    #[arg(long, env = "SIGIL_RATE_LIMIT_LOGIN")]
    pub rate_limit_login: Option<String>,
    #[arg(long, env = "SIGIL_RATE_LIMIT_REGISTER")]
    pub rate_limit_register: Option<String>,
    #[arg(long, env = "SIGIL_RATE_LIMIT_PASSWORD_RESET")]
    pub rate_limit_password_reset: Option<String>,
    /// MFA code attempts per user.
    #[arg(long, env = "SIGIL_RATE_LIMIT_MFA")]
    pub rate_limit_mfa: Option<String>,
    /// Requests to `/oauth2/token` and `/oauth2/introspect` per client.
    #[arg(long, env = "SIGIL_RATE_LIMIT_CLIENT")]
    pub rate_limit_client: Option<String>,
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: Option<String>,
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS")]
    pub argon2_iterations: Option<String>,
    #[arg(long, env = "SIGIL_ARGON2_PARALLELISM")]
    pub argon2_parallelism: Option<String>,
    /// Threads hashing passwords at once (default: the number of cores).
    #[arg(long, env = "SIGIL_HASH_WORKERS")]
    pub hash_workers: Option<String>,
    /// Hash requests allowed to wait; beyond that requests answer 503 at once.
    #[arg(long, env = "SIGIL_HASH_QUEUE")]
    pub hash_queue: Option<String>,
}

impl Settings {
    /// `self` wins over `lower` field by field.
    pub fn over(self, lower: Settings) -> Result<Settings, ConfigError> {
        let to_map = |s: &Settings| match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(ConfigError::new("--config", "settings could not be merged")),
        };
        let mut merged = to_map(&lower)?;
        for (key, value) in to_map(&self)? {
            if !value.is_null() {
                merged.insert(key, value);
            }
        }
        serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| ConfigError::new("--config", e.to_string()))
    }

    pub fn from_toml_file(path: &std::path::Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("--config", format!("{}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::new("--config", format!("{}: {e}", path.display())))
    }
}

/// A configuration problem, reported as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            reason: reason.into(),
        }
    }
}

/// A string that never shows in logs or debug output.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// OWASP's recommendation and SPEC section 7.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HashingConfig {
    pub argon2: Argon2Settings,
    pub workers: usize,
    pub queue: usize,
}

/// Where data lives (SPEC section 2).
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// One redb file in the data directory.
    Embedded,
    /// Users and keys in MongoDB, sessions in Redis.
    External {
        mongo: crate::store::MongoSettings,
        redis: crate::store::RedisSettings,
        connect_timeout: Duration,
    },
}

/// A rate limit: at most `count` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u64,
    pub window: Duration,
}

/// The limits of SPEC section 7; `None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub general: Option<RateLimit>,
    pub login: Option<RateLimit>,
    pub register: Option<RateLimit>,
    pub password_reset: Option<RateLimit>,
    pub mfa: Option<RateLimit>,
    pub client: Option<RateLimit>,
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits {
        general: None,
        login: None,
        register: None,
        password_reset: None,
        mfa: None,
        client: None,
    };
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: write mails to DATA_DIR/outbox.
    pub smtp_url: Option<Secret>,
    pub from: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `/metrics` on a listener of its own, and not on the main one.
    pub metrics_listen: Option<SocketAddr>,
    /// The CPU profiler's own listener; `None` when not asked for.
    pub pprof_listen: Option<SocketAddr>,
    pub storage: StorageConfig,
    pub audit_retention: Duration,
    pub mail: MailConfig,
    pub verification_token_ttl: Duration,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Empty: the admin API answers from anywhere.
    pub admin_allowed_ips: Vec<ipnet::IpNet>,
    pub rate_limits: RateLimits,
    /// Without a trailing slash.
    pub issuer: String,
    pub issuer_is_https: bool,
    pub data_dir: PathBuf,
    pub encryption_key: Option<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub remember_me_ttl: Duration,
    /// Caps the sliding expiry of sessions (and of remembered ones).
    pub session_max_lifetime: Duration,
    pub remember_me_max_lifetime: Duration,
    pub require_email_verification: bool,
    /// The `aud` of REST tokens; `/v1` accepts a token naming one of these. Empty: the
    /// issuer (see [`Config::rest_audience`]).
    pub rest_audience: Vec<String>,
    /// MFA, password, account deletion and role changes need a sign-in at most this old, or
    /// the current password.
    pub reauthentication_window: Duration,
    pub bootstrap_admin_email: String,
    pub bootstrap_admin_password: Option<Secret>,
    pub log_format: LogFormat,
    pub lockout: LockoutPolicy,
    pub max_sessions_per_user: usize,
    pub jwks_max_age: Duration,
    pub key_size: KeySize,
    pub key_rotation_period: Duration,
    pub hashing: HashingConfig,
    /// A key to start a fresh store with instead of generating one. Not settable from the
    /// environment: tests use it to skip RSA key generation.
    pub initial_signing_key: Option<KeyPair>,
}

fn duration(variable: &str, value: Option<&str>, default: &str) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or(default);
    let parsed = humantime::parse_duration(text.trim()).map_err(|e| {
        ConfigError::new(
            variable,
            format!("{text:?} is not a duration like 15m, 7d ({e})"),
        )
    })?;
    if parsed.is_zero() {
        return Err(ConfigError::new(variable, "must be longer than zero"));
    }
    Ok(parsed)
}

fn number<T>(variable: &str, value: Option<&str>, default: T, min: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = value else {
        return Ok(default);
    };
    let parsed: T = text
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(variable, format!("{text:?} is not a whole number")))?;
    if parsed < min {
        return Err(ConfigError::new(
            variable,
            format!("must be at least {min}"),
        ));
    }
    Ok(parsed)
}

fn boolean(variable: &str, value: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            variable,
            format!("{other:?} is not true or false"),
        )),
    }
}

/// `count/window` such as `100/15m`, or `off`.
fn rate_limit(
    variable: &str,
    value: Option<&str>,
    default: &str,
) -> Result<Option<RateLimit>, ConfigError> {
    let text = value.unwrap_or(default).trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = || {
        ConfigError::new(
            variable,
            format!("{text:?} is not count/window (e.g. 100/15m) or off"),
        )
    };
    let (count, window) = text.split_once('/').ok_or_else(bad)?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(ConfigError::new(
            variable,
            "the count must be at least 1 (or use off)",
        ));
    }
    let window = duration(variable, Some(window), "")?;
    Ok(Some(RateLimit { count, window }))
}

/// Absolute URIs, comma-separated; unset or empty (the issuer) is an empty list.
fn rest_audience(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let mut audience = Vec::new();
    for item in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Url::parse(item).map_err(|e| {
            ConfigError::new(
                "SIGIL_REST_AUDIENCE",
                format!("{item:?} is not an absolute URI ({e})"),
            )
        })?;
        audience.push(item.to_owned());
    }
    Ok(audience)
}

fn cors_origins(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for origin in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let url = Url::parse(origin)
            .map_err(|e| ConfigError::new("SIGIL_CORS_ORIGINS", format!("{origin:?}: {e}")))?;
        let serialized = url.origin().ascii_serialization();
        if serialized == "null" || !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "SIGIL_CORS_ORIGINS",
                format!("{origin:?} is not an http(s) origin"),
            ));
        }
        origins.push(serialized);
    }
    Ok(origins)
}

fn ip_list(variable: &str, value: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::new(variable, format!("{p:?} is not an ip or CIDR")))
        })
        .collect()
}

fn mail_from(value: Option<&str>, issuer: &str) -> Result<String, ConfigError> {
    let from = match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(from) => from.to_owned(),
        None => {
            let host = Url::parse(issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "localhost".into());
            let host = if host.contains('.') {
                host
            } else {
                format!("{host}.localdomain")
            };
            format!("Sigil <no-reply@{host}>")
        }
    };
    from.parse::<lettre::message::Mailbox>()
        .map_err(|e| ConfigError::new("SIGIL_MAIL_FROM", format!("{from:?}: {e}")))?;
    Ok(from)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Both production backends or neither: a replica with shared users but private sessions
/// would accept tokens the others have revoked.
fn storage(s: &Settings, audit_retention: Duration) -> Result<StorageConfig, ConfigError> {
    let (uri, url) = match (non_empty(&s.mongodb_uri), non_empty(&s.redis_url)) {
        (None, None) => return Ok(StorageConfig::Embedded),
        (Some(uri), Some(url)) => (uri, url),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "SIGIL_REDIS_URL",
                "is required when SIGIL_MONGODB_URI is set (MongoDB and Redis go together)",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "SIGIL_MONGODB_URI",
                "is required when SIGIL_REDIS_URL is set (MongoDB and Redis go together)",
            ));
        }
    };
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        return Err(ConfigError::new(
            "SIGIL_MONGODB_URI",
            "must start with mongodb:// or mongodb+srv://",
        ));
    }
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(ConfigError::new(
            "SIGIL_REDIS_URL",
            "must start with redis:// or rediss://",
        ));
    }
    if non_empty(&s.encryption_key).is_none() {
        return Err(ConfigError::new(
            "SIGIL_ENCRYPTION_KEY",
            "is required with MongoDB and Redis: every replica must decrypt the same keys",
        ));
    }
    let database = non_empty(&s.mongodb_db).unwrap_or("sigil").to_owned();
    if database.contains(['/', '\\', '.', ' ', '"', '$']) {
        return Err(ConfigError::new(
            "SIGIL_MONGODB_DB",
            "is not a valid database name",
        ));
    }
    Ok(StorageConfig::External {
        mongo: crate::store::MongoSettings {
            uri: uri.to_owned(),
            database,
            pool_size: number(
                "SIGIL_MONGODB_POOL_SIZE",
                s.mongodb_pool_size.as_deref(),
                20u32,
                1,
            )?,
            audit_retention,
        },
        redis: crate::store::RedisSettings {
            url: url.to_owned(),
            key_prefix: non_empty(&s.redis_key_prefix).unwrap_or("sigil").to_owned(),
            pool_size: number(
                "SIGIL_REDIS_POOL_SIZE",
                s.redis_pool_size.as_deref(),
                32usize,
                1,
            )?,
        },
        connect_timeout: duration(
            "SIGIL_STORE_CONNECT_TIMEOUT",
            s.store_connect_timeout.as_deref(),
            "60s",
        )?,
    })
}

/// Parses the issuer and says whether it is https. Plain http is allowed for loopback hosts
/// only, so that a production issuer can never leak tokens over cleartext.
fn issuer(value: Option<&str>) -> Result<(String, bool), ConfigError> {
    const VAR: &str = "SIGIL_ISSUER";
    let text = value.unwrap_or("http://localhost:8080").trim();
    let url = Url::parse(text).map_err(|e| ConfigError::new(VAR, format!("{text:?}: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(VAR, "must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(VAR, "must not contain credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(ConfigError::new(VAR, "must have a host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ConfigError::new(
                VAR,
                "must be https unless the host is loopback (localhost, 127.0.0.0/8, ::1)",
            ));
        }
        other => {
            return Err(ConfigError::new(
                VAR,
                format!("scheme {other} is not http(s)"),
            ));
        }
    }
    Ok((
        text.trim_end_matches('/').to_owned(),
        url.scheme() == "https",
    ))
}

impl Config {
    /// How the key ring rotates: new keys are published two JWKS cache lifetimes before they
    /// sign, and retire once the tokens they signed have expired.
    pub fn key_policy(&self) -> crate::keyring::KeyPolicy {
        crate::keyring::KeyPolicy {
            size: self.key_size,
            rotation_period: self.key_rotation_period,
            lead: self.jwks_max_age * 2,
            token_lifetime: self.access_token_ttl,
        }
    }

    pub fn from_settings(s: Settings) -> Result<Self, ConfigError> {
        let audit_retention =
            duration("SIGIL_AUDIT_RETENTION", s.audit_retention.as_deref(), "90d")?;
        let storage = storage(&s, audit_retention)?;
        let listen_text = s.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen_text.trim().parse().map_err(|_| {
            ConfigError::new(
                "SIGIL_LISTEN",
                format!("{listen_text:?} is not an ip:port address"),
            )
        })?;
        let metrics_listen = match non_empty(&s.metrics_listen) {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                ConfigError::new(
                    "SIGIL_METRICS_LISTEN",
                    format!("{text:?} is not an ip:port address"),
                )
            })?),
        };
        let pprof_listen = pprof_listen(s.pprof_listen.as_deref())?;
        let (issuer, issuer_is_https) = issuer(s.issuer.as_deref())?;
        let rest_audience = rest_audience(s.rest_audience.as_deref())?;

        let encryption_key = s.encryption_key.clone().map(Secret::new);
        if let Some(key) = &encryption_key {
            crate::crypto::Cipher::from_base64(key.expose())
                .map_err(|e| ConfigError::new("SIGIL_ENCRYPTION_KEY", e.to_string()))?;
        }
        let bootstrap_admin_email = s
            .bootstrap_admin_email
            .clone()
            .unwrap_or_else(|| "admin@sigil.local".to_owned());
        crate::domain::Email::parse(&bootstrap_admin_email)
            .map_err(|e| ConfigError::new("SIGIL_BOOTSTRAP_ADMIN_EMAIL", e.message))?;

        let log_format = match s.log_format.as_deref().map(str::trim) {
            None | Some("") => {
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }
            }
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "SIGIL_LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };
        let key_size = KeySize::from_bits(number(
            "SIGIL_KEY_SIZE",
            s.key_size.as_deref(),
            2048usize,
            0,
        )?)
        .map_err(|e| ConfigError::new("SIGIL_KEY_SIZE", e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);

        let mail = MailConfig {
            smtp_url: non_empty(&s.smtp_url).map(|u| Secret::new(u.to_owned())),
            from: mail_from(s.mail_from.as_deref(), &issuer)?,
        };
        if let Some(url) = &mail.smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return Err(ConfigError::new(
                "SIGIL_SMTP_URL",
                "must start with smtp:// (STARTTLS with ?tls=required) or smtps:// (TLS)",
            ));
        }
        Ok(Self {
            listen,
            metrics_listen,
            pprof_listen,
            storage,
            audit_retention,
            mail,
            verification_token_ttl: duration(
                "SIGIL_VERIFICATION_TOKEN_TTL",
                s.verification_token_ttl.as_deref(),
                "24h",
            )?,
            cors_origins: cors_origins(s.cors_origins.as_deref())?,
            trusted_proxies: ip_list("SIGIL_TRUSTED_PROXIES", s.trusted_proxies.as_deref())?,
            admin_allowed_ips: ip_list("SIGIL_ADMIN_ALLOWED_IPS", s.admin_allowed_ips.as_deref())?,
            rate_limits: RateLimits {
                general: rate_limit(
                    "SIGIL_RATE_LIMIT_GENERAL",
                    s.rate_limit_general.as_deref(),
                    "100/15m",
                )?,
                login: rate_limit(
                    "SIGIL_RATE_LIMIT_LOGIN",
                    s.rate_limit_login.as_deref(),
                    "5/15m",
                )?,
                register: rate_limit(
                    "SIGIL_RATE_LIMIT_REGISTER",
                    s.rate_limit_register.as_deref(),
                    "3/1h",
                )?,
                password_reset: rate_limit(
                    "SIGIL_RATE_LIMIT_PASSWORD_RESET",
                    s.rate_limit_password_reset.as_deref(),
                    "3/1h",
                )?,
                mfa: rate_limit("SIGIL_RATE_LIMIT_MFA", s.rate_limit_mfa.as_deref(), "10/5m")?,
                client: rate_limit(
                    "SIGIL_RATE_LIMIT_CLIENT",
                    s.rate_limit_client.as_deref(),
                    "6000/1m",
                )?,
            },
            issuer,
            issuer_is_https,
            data_dir: PathBuf::from(s.data_dir.as_deref().unwrap_or("./data")),
            encryption_key,
            access_token_ttl: duration(
                "SIGIL_ACCESS_TOKEN_TTL",
                s.access_token_ttl.as_deref(),
                "15m",
            )?,
            refresh_token_ttl: duration(
                "SIGIL_REFRESH_TOKEN_TTL",
                s.refresh_token_ttl.as_deref(),
                "7d",
            )?,
            remember_me_ttl: duration(
                "SIGIL_REMEMBER_ME_TTL",
                s.remember_me_ttl.as_deref(),
                "30d",
            )?,
            session_max_lifetime: duration(
                "SIGIL_SESSION_MAX_LIFETIME",
                s.session_max_lifetime.as_deref(),
                "30d",
            )?,
            remember_me_max_lifetime: duration(
                "SIGIL_REMEMBER_ME_MAX_LIFETIME",
                s.remember_me_max_lifetime.as_deref(),
                "90d",
            )?,
            require_email_verification: boolean(
                "SIGIL_REQUIRE_EMAIL_VERIFICATION",
                s.require_email_verification.as_deref(),
                true,
            )?,
            rest_audience,
            reauthentication_window: duration(
                "SIGIL_REAUTHENTICATION_WINDOW",
                s.reauthentication_window.as_deref(),
                "10m",
            )?,
            bootstrap_admin_email,
            bootstrap_admin_password: s.bootstrap_admin_password.clone().map(Secret::new),
            log_format,
            lockout: LockoutPolicy {
                threshold: number(
                    "SIGIL_LOCKOUT_THRESHOLD",
                    s.lockout_threshold.as_deref(),
                    5u32,
                    1,
                )?,
                duration: duration(
                    "SIGIL_LOCKOUT_DURATION",
                    s.lockout_duration.as_deref(),
                    "30m",
                )?,
            },
            max_sessions_per_user: number(
                "SIGIL_MAX_SESSIONS_PER_USER",
                s.max_sessions_per_user.as_deref(),
                5usize,
                1,
            )?,
            jwks_max_age: duration("SIGIL_JWKS_MAX_AGE", s.jwks_max_age.as_deref(), "1h")?,
            key_size,
            key_rotation_period: duration(
                "SIGIL_KEY_ROTATION_PERIOD",
                s.key_rotation_period.as_deref(),
                "30d",
            )?,
            hashing: HashingConfig {
                argon2: Argon2Settings {
                    memory_kib: number(
                        "SIGIL_ARGON2_MEMORY_KIB",
                        s.argon2_memory_kib.as_deref(),
                        19_456u32,
                        8,
                    )?,
                    iterations: number(
                        "SIGIL_ARGON2_ITERATIONS",
                        s.argon2_iterations.as_deref(),
                        2u32,
                        1,
                    )?,
                    parallelism: number(
                        "SIGIL_ARGON2_PARALLELISM",
                        s.argon2_parallelism.as_deref(),
                        1u32,
                        1,
                    )?,
                },
                workers: number("SIGIL_HASH_WORKERS", s.hash_workers.as_deref(), cores, 1)?,
                queue: number("SIGIL_HASH_QUEUE", s.hash_queue.as_deref(), 1024usize, 1)?,
            },
            initial_signing_key: None,
        })
    }

    /// A configuration for tests: loopback on port 0, light argon2, the given data dir.
    pub fn for_tests(data_dir: PathBuf) -> Result<Self, ConfigError> {
        let mut config = Self::from_settings(Settings {
            listen: Some("127.0.0.1:0".into()),
            log_format: Some("json".into()),
            ..Settings::default()
        })?;
        config.data_dir = data_dir;
        config.rate_limits = RateLimits::OFF;
        config.hashing.argon2 = Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        Ok(config)
    }

    /// The audiences of REST tokens: `SIGIL_REST_AUDIENCE`, or the issuer.
    pub fn rest_audience(&self) -> Vec<String> {
        if self.rest_audience.is_empty() {
            vec![self.issuer.clone()]
        } else {
            self.rest_audience.clone()
        }
    }

    /// Whether `audience` is one of the REST audiences.
    pub fn is_rest_audience(&self, audience: &str) -> bool {
        if self.rest_audience.is_empty() {
            audience == self.issuer
        } else {
            self.rest_audience.iter().any(|a| a == audience)
        }
    }

    pub fn is_loopback_listen(&self) -> bool {
        match self.listen.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => ip.is_loopback(),
        }
    }
}

/// `SIGIL_PPROF_LISTEN`: a bare port means loopback, because a profile shows the process's
/// internals and should be fetched through an SSH tunnel or `kubectl port-forward`.
fn pprof_listen(text: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !cfg!(feature = "pprof") {
        return Err(ConfigError::new(
            "SIGIL_PPROF_LISTEN",
            "this build has no profiler; build with `--features pprof`",
        ));
    }
    let addr = match text.parse::<u16>() {
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => text.parse().map_err(|_| {
            ConfigError::new(
                "SIGIL_PPROF_LISTEN",
                format!("{text:?} is not a port or an ip:port address"),
            )
        })?,
    };
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: Settings) -> Result<Config, ConfigError> {
        Config::from_settings(s)
    }

    /// Defaults match SPEC section 3.
    #[test]
    fn defaults() {
        let c = parse(Settings::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://localhost:8080");
        assert_eq!(c.rest_audience(), vec!["http://localhost:8080".to_owned()]);
        assert_eq!(c.reauthentication_window, Duration::from_secs(600));
        assert_eq!(c.session_max_lifetime, Duration::from_secs(30 * 86_400));
        assert_eq!(c.remember_me_max_lifetime, Duration::from_secs(90 * 86_400));
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(c.remember_me_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(c.lockout.threshold, 5);
        assert_eq!(c.lockout.duration, Duration::from_secs(1800));
        assert_eq!(c.max_sessions_per_user, 5);
        assert_eq!(c.hashing.argon2, Argon2Settings::default());
    }

    /// Each bad value names its variable.
    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            (
                Settings {
                    listen: Some("nope".into()),
                    ..Default::default()
                },
                "SIGIL_LISTEN",
            ),
            (
                Settings {
                    issuer: Some("http://id.example.com".into()),
                    ..Default::default()
                },
                "SIGIL_ISSUER",
            ),
            (
                Settings {
                    issuer: Some("ftp://localhost".into()),
                    ..Default::default()
                },
                "SIGIL_ISSUER",
            ),
            (
                Settings {
                    access_token_ttl: Some("soon".into()),
                    ..Default::default()
                },
                "SIGIL_ACCESS_TOKEN_TTL",
            ),
            (
                Settings {
                    encryption_key: Some("c2hvcnQ=".into()),
                    ..Default::default()
                },
                "SIGIL_ENCRYPTION_KEY",
            ),
            (
                Settings {
                    lockout_threshold: Some("0".into()),
                    ..Default::default()
                },
                "SIGIL_LOCKOUT_THRESHOLD",
            ),
            (
                Settings {
                    require_email_verification: Some("maybe".into()),
                    ..Default::default()
                },
                "SIGIL_REQUIRE_EMAIL_VERIFICATION",
            ),
            (
                Settings {
                    key_size: Some("1024".into()),
                    ..Default::default()
                },
                "SIGIL_KEY_SIZE",
            ),
            (
                Settings {
                    rest_audience: Some("api.example.com".into()),
                    ..Default::default()
                },
                "SIGIL_REST_AUDIENCE",
            ),
            (
                Settings {
                    mongodb_uri: Some("mongodb://x".into()),
                    ..Default::default()
                },
                "SIGIL_REDIS_URL",
            ),
            (
                Settings {
                    redis_url: Some("redis://x".into()),
                    ..Default::default()
                },
                "SIGIL_MONGODB_URI",
            ),
            (
                Settings {
                    mongodb_uri: Some("mongodb://x".into()),
                    redis_url: Some("redis://x".into()),
                    ..Default::default()
                },
                "SIGIL_ENCRYPTION_KEY",
            ),
            (
                Settings {
                    mongodb_uri: Some("http://x".into()),
                    redis_url: Some("redis://x".into()),
                    encryption_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
                    ..Default::default()
                },
                "SIGIL_MONGODB_URI",
            ),
        ];
        for (settings, variable) in cases {
            assert_eq!(parse(settings).unwrap_err().variable, variable);
        }
    }

    /// https issuers anywhere, http only on loopback; trailing slashes dropped.
    #[test]
    fn issuer_rules() {
        assert_eq!(
            issuer(Some("https://id.example.com/")).unwrap(),
            ("https://id.example.com".into(), true)
        );
        assert!(issuer(Some("http://127.0.0.5:9000")).is_ok());
        assert!(issuer(Some("http://[::1]:9000")).is_ok());
        assert!(issuer(Some("http://10.0.0.1")).is_err());
        assert!(issuer(Some("https://id.example.com/?x=1")).is_err());
    }

    /// Flags and environment override the file, which overrides defaults.
    #[test]
    fn layering() {
        let file: Settings =
            toml::from_str("listen = \"0.0.0.0:9000\"\nissuer = \"https://id.example.com\"")
                .unwrap();
        let cli = Settings {
            listen: Some("127.0.0.1:7000".into()),
            ..Default::default()
        };
        let merged = cli.over(file).unwrap();
        assert_eq!(merged.listen.as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(merged.issuer.as_deref(), Some("https://id.example.com"));
        assert!(toml::from_str::<Settings>("unknown = 1").is_err());
    }

    /// Secrets never print.
    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[cfg(feature = "pprof")]
    #[test]
    fn profiler_listens_on_loopback_given_a_bare_port() {
        assert_eq!(pprof_listen(None).unwrap(), None);
        assert_eq!(
            pprof_listen(Some("6060")).unwrap(),
            Some("127.0.0.1:6060".parse().unwrap())
        );
        assert_eq!(
            pprof_listen(Some("0.0.0.0:7070")).unwrap(),
            Some("0.0.0.0:7070".parse().unwrap())
        );
        let err = pprof_listen(Some("everywhere")).unwrap_err();
        assert!(err.to_string().contains("SIGIL_PPROF_LISTEN"), "{err}");
    }
}
