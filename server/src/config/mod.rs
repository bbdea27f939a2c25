//! Configuration (SPEC section 3): CLI flags over environment variables (and `.env`) over an
//! optional TOML file over defaults. Every setting is declared once, in [`SETTINGS`]; it is
//! parsed once into [`Config`], and any bad value stops start-up with one line naming the
//! variable.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use sigil_keys::{KeyPair, KeySize};
use zeroize::Zeroizing;

use crate::store::LockoutPolicy;

mod parse;
mod settings;
#[cfg(test)]
mod tests;

use settings::TABLE;
pub use settings::{Fallback, Kind, SETTINGS, Setting, Settings, markdown_table};

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
    /// One redb file in the data directory, with a page cache of `cache_bytes`.
    Embedded { cache_bytes: usize },
    /// Users and keys in MongoDB, sessions in Redis.
    External {
        mongo: crate::store::MongoSettings,
        redis: crate::store::RedisSettings,
        connect_timeout: Duration,
        /// How long clients and users are read from the cache (`store::Cached`).
        cache_ttl: Duration,
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
    pub client_auth: Option<RateLimit>,
    pub browser: Option<RateLimit>,
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits {
        general: None,
        login: None,
        register: None,
        password_reset: None,
        mfa: None,
        client: None,
        client_auth: None,
        browser: None,
    };
}

/// The SameSite attribute of a cookie that a deployment may loosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSameSite {
    Strict,
    Lax,
    None,
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
    pub refresh_cookie_same_site: CookieSameSite,
    /// Empty, or `/segment...` without a trailing slash.
    pub public_path_prefix: String,
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
    /// Every client must use pushed authorization requests.
    pub require_par: bool,
    /// PKCE for every client that has not opted out (public clients cannot).
    pub require_pkce: bool,
    /// DPoP proofs must carry one of Sigil's nonces.
    pub dpop_nonces: bool,
    /// Whether `/swagger-ui` is served.
    pub swagger_ui: bool,
    /// How long a SIGTERM'd server keeps serving, unready, before it stops accepting.
    pub shutdown_delay: Duration,
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
        let t = &TABLE;
        let audit_retention = t.audit_retention.duration(&s)?;
        let storage = parse::storage(&s, audit_retention)?;
        let listen = t.listen.address(t.listen.text(&s)?)?;
        let metrics_listen = match t.metrics_listen.given(&s) {
            None => None,
            Some(text) => Some(t.metrics_listen.address(text)?),
        };
        let pprof_listen = parse::pprof_listen(t.pprof_listen.raw(&s))?;
        let (issuer, issuer_is_https) = parse::issuer(t.issuer.raw(&s))?;
        let rest_audience = parse::rest_audience(t.rest_audience.value(&s))?;

        let encryption_key = t
            .encryption_key
            .raw(&s)
            .map(|key| Secret::new(key.to_owned()));
        if let Some(key) = &encryption_key {
            crate::crypto::Cipher::from_base64(key.expose())
                .map_err(|e| t.encryption_key.error(e.to_string()))?;
        }
        let bootstrap_admin_email = t.bootstrap_admin_email.text(&s)?.to_owned();
        crate::domain::Email::parse(&bootstrap_admin_email)
            .map_err(|e| t.bootstrap_admin_email.error(e.message))?;

        let log_format = match t.log_format.raw(&s).map(str::trim) {
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
                return Err(t
                    .log_format
                    .error(format!("{other:?} is not pretty or json")));
            }
        };
        let key_size = KeySize::from_bits(t.key_size.number(&s)?)
            .map_err(|e| t.key_size.error(e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);

        let mail = MailConfig {
            smtp_url: t.smtp_url.given(&s).map(|u| Secret::new(u.to_owned())),
            from: parse::mail_from(t.mail_from.raw(&s), &issuer)?,
        };
        if let Some(url) = &mail.smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return Err(t
                .smtp_url
                .error("must start with smtp:// (STARTTLS with ?tls=required) or smtps:// (TLS)"));
        }
        Ok(Self {
            listen,
            metrics_listen,
            pprof_listen,
            storage,
            audit_retention,
            mail,
            verification_token_ttl: t.verification_token_ttl.duration(&s)?,
            cors_origins: parse::cors_origins(t.cors_origins.value(&s))?,
            refresh_cookie_same_site: parse::cookie_same_site(
                t.refresh_cookie_samesite.given_or_default(&s)?,
                issuer_is_https,
            )?,
            public_path_prefix: parse::path_prefix(t.public_path_prefix.given(&s))?,
            trusted_proxies: t.trusted_proxies.ip_list(&s)?,
            admin_allowed_ips: t.admin_allowed_ips.ip_list(&s)?,
            rate_limits: RateLimits {
                general: t.rate_limit_general.rate_limit(&s)?,
                login: t.rate_limit_login.rate_limit(&s)?,
                register: t.rate_limit_register.rate_limit(&s)?,
                password_reset: t.rate_limit_password_reset.rate_limit(&s)?,
                mfa: t.rate_limit_mfa.rate_limit(&s)?,
                client: t.rate_limit_client.rate_limit(&s)?,
                client_auth: t.rate_limit_client_auth.rate_limit(&s)?,
                browser: t.rate_limit_browser.rate_limit(&s)?,
            },
            issuer,
            issuer_is_https,
            data_dir: PathBuf::from(t.data_dir.text(&s)?),
            encryption_key,
            access_token_ttl: t.access_token_ttl.duration(&s)?,
            refresh_token_ttl: t.refresh_token_ttl.duration(&s)?,
            remember_me_ttl: t.remember_me_ttl.duration(&s)?,
            session_max_lifetime: t.session_max_lifetime.duration(&s)?,
            remember_me_max_lifetime: t.remember_me_max_lifetime.duration(&s)?,
            require_email_verification: t.require_email_verification.boolean(&s)?,
            require_par: t.require_par.boolean(&s)?,
            require_pkce: t.require_pkce.boolean(&s)?,
            dpop_nonces: t.dpop_nonces.boolean(&s)?,
            swagger_ui: t.swagger_ui.boolean(&s)?,
            shutdown_delay: t.shutdown_delay.delay(&s)?,
            rest_audience,
            reauthentication_window: t.reauthentication_window.duration(&s)?,
            bootstrap_admin_email,
            bootstrap_admin_password: t
                .bootstrap_admin_password
                .raw(&s)
                .map(|password| Secret::new(password.to_owned())),
            log_format,
            lockout: LockoutPolicy {
                threshold: t.lockout_threshold.number(&s)?,
                duration: t.lockout_duration.duration(&s)?,
            },
            max_sessions_per_user: t.max_sessions_per_user.number(&s)?,
            jwks_max_age: t.jwks_max_age.duration(&s)?,
            key_size,
            key_rotation_period: t.key_rotation_period.duration(&s)?,
            hashing: HashingConfig {
                argon2: Argon2Settings {
                    memory_kib: t.argon2_memory_kib.number(&s)?,
                    iterations: t.argon2_iterations.number(&s)?,
                    parallelism: t.argon2_parallelism.number(&s)?,
                },
                workers: t.hash_workers.optional_number(&s)?.unwrap_or(cores),
                queue: t.hash_queue.number(&s)?,
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
        config.shutdown_delay = Duration::ZERO;
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
