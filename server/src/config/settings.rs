//! Every setting, declared once: its variable, what it accepts, its default and its doc line.
//! The macro below turns the table into the [`Settings`] struct (the clap flags, environment
//! variables and TOML keys), and into [`SETTINGS`], which [`super::Config::from_settings`]
//! reads through and the README's configuration table is rendered from (`config::tests`).

use serde::{Deserialize, Serialize};

use Fallback::{Unset, Value};

/// One `SIGIL_*` setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable: `SIGIL_` and the key in upper case.
    pub name: &'static str,
    /// The TOML key and, with dashes, the flag of `sigil serve`.
    pub key: &'static str,
    pub kind: Kind,
    pub default: Fallback,
    /// Its value is hidden from `--help`, and the table shows no default value for it.
    pub secret: bool,
    pub doc: &'static str,
    pub(super) read: fn(&Settings) -> Option<&str>,
}

/// What a setting accepts, as the README says it; the parser of each is in `config::parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ip:port`.
    Address,
    /// `ip:port`, or a bare port on loopback.
    PortOrAddress,
    /// An absolute URL with one of these schemes.
    Url(&'static [&'static str]),
    /// Comma-separated absolute URIs.
    UriList,
    /// Comma-separated http(s) origins.
    OriginList,
    /// Comma-separated ips or CIDRs.
    IpList,
    /// A humantime duration such as `15m` or `7d`, longer than zero.
    Duration,
    /// A whole number of at least `min`.
    Number {
        min: u16,
    },
    Boolean,
    /// `count/window` or `off`.
    RateLimit,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Base64 of 32 bytes.
    Base64Key,
    Email,
    /// An address with an optional display name, `Name <address>`.
    Mailbox,
    Path,
    /// A URL path such as `/api`.
    UrlPath,
    Text,
}

/// What an unset setting means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, parsed as if it had been given.
    Value(&'static str),
    /// No value; the text says what happens instead (for the README).
    Unset(&'static str),
}

impl Setting {
    /// The text parsed when the setting is unset.
    pub fn default_value(&self) -> Option<&'static str> {
        match self.default {
            Value(value) => Some(value),
            Unset(_) => None,
        }
    }
}

impl Kind {
    /// The README's "accepts" column.
    pub fn describe(&self) -> String {
        match self {
            Kind::Address => "`ip:port`".into(),
            Kind::PortOrAddress => "`ip:port` or a port".into(),
            Kind::Url(schemes) => format!("{} URL", either(schemes, |s| format!("`{s}://`"))),
            Kind::UriList => "comma-separated absolute URIs".into(),
            Kind::OriginList => "comma-separated http(s) origins".into(),
            Kind::IpList => "comma-separated ips or CIDRs".into(),
            Kind::Duration => "duration (`90s`, `15m`, `7d`)".into(),
            Kind::Number { min } => format!("whole number, at least {min}"),
            Kind::Boolean => "`true` or `false`".into(),
            Kind::RateLimit => "`count/window` or `off`".into(),
            Kind::OneOf(words) => either(words, |w| format!("`{w}`")),
            Kind::Base64Key => "base64 of 32 bytes".into(),
            Kind::Email => "email address".into(),
            Kind::Mailbox => "`Name <address>`".into(),
            Kind::Path => "path".into(),
            Kind::UrlPath => "URL path, e.g. `/api`".into(),
            Kind::Text => "text".into(),
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn either(items: &[&str], show: impl Fn(&str) -> String) -> String {
    let shown: Vec<String> = items.iter().map(|item| show(item)).collect();
    match shown.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The README's configuration table, one row per setting.
pub fn markdown_table() -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut table = String::from("| variable | default | accepts | |\n|---|---|---|---|\n");
    for setting in SETTINGS {
        let default = match setting.default {
            Value(value) => format!("`{value}`"),
            Unset(meaning) => meaning.to_owned(),
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            setting.name,
            cell(&default),
            cell(&setting.kind.describe()),
            cell(setting.doc.trim()),
        ));
    }
    table
}

macro_rules! secret {
    () => {
        false
    };
    (secret) => {
        true
    };
}

/// `/// doc` then `key: "SIGIL_KEY", kind, default[, secret];` per setting. The doc comment
/// becomes the flag's `--help` and the README's line, so it is one line.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $name:literal, $kind:expr, $default:expr $(, $flag:ident)?;
    )+) => {
        /// The raw settings as text, one field per `SIGIL_*` variable. The TOML file uses the
        /// same names in lower case without the prefix (`listen = "0.0.0.0:8080"`).
        #[derive(Clone, Default, clap::Args, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Settings {
            $(
                $(#[doc = $doc])+
                #[arg(long, env = $name, hide_env_values = secret!($($flag)?))]
                pub $key: Option<String>,
            )+
        }

        /// The table by key, for the code that turns each setting into its typed value.
        pub(crate) struct Table {
            $(pub(crate) $key: Setting,)+
        }

        pub(crate) const TABLE: Table = Table {
            $($key: Setting {
                name: $name,
                key: stringify!($key),
                kind: $kind,
                default: $default,
                secret: secret!($($flag)?),
                doc: concat!($($doc),+),
                read: |s| s.$key.as_deref(),
            },)+
        };

        /// Every setting, in the order of the README.
        pub const SETTINGS: &[Setting] = &[$(TABLE.$key),+];
    };
}

settings! {
    /// Address of the main listener.
    listen: "SIGIL_LISTEN", Kind::Address, Value("127.0.0.1:8080");
    /// Public base URL; https unless the host is loopback (localhost, 127.0.0.0/8, ::1).
    issuer: "SIGIL_ISSUER", Kind::Url(&["https", "http"]), Value("http://localhost:8080");
    /// Directory of the embedded store, the generated encryption key and the mail outbox.
    data_dir: "SIGIL_DATA_DIR", Kind::Path, Value("./data");
    /// Seals signing keys and TOTP secrets; required with MongoDB and Redis, the same on every
    /// replica.
    encryption_key: "SIGIL_ENCRYPTION_KEY", Kind::Base64Key,
        Unset("generated into the data dir"), secret;
    /// MongoDB connection string; with SIGIL_REDIS_URL selects the production backends (set
    /// both or neither).
    mongodb_uri: "SIGIL_MONGODB_URI", Kind::Url(&["mongodb", "mongodb+srv"]),
        Unset("unset: the embedded store"), secret;
    /// MongoDB database name.
    mongodb_db: "SIGIL_MONGODB_DB", Kind::Text, Value("sigil");
    /// Connections per replica to MongoDB.
    mongodb_pool_size: "SIGIL_MONGODB_POOL_SIZE", Kind::Number { min: 1 }, Value("20");
    /// Redis URL; with SIGIL_MONGODB_URI selects the production backends (set both or
    /// neither).
    redis_url: "SIGIL_REDIS_URL", Kind::Url(&["redis", "rediss"]),
        Unset("unset: the embedded store"), secret;
    /// Prefix of every Redis key, so several deployments can share one Redis.
    redis_key_prefix: "SIGIL_REDIS_KEY_PREFIX", Kind::Text, Value("sigil");
    /// Connections per replica to Redis. Each is multiplexed (every request's commands share
    /// it, pipelined), and requests take them in turn.
    redis_pool_size: "SIGIL_REDIS_POOL_SIZE", Kind::Number { min: 1 }, Value("1");
    /// Memory the embedded store keeps for the pages it has read, in MiB: what the operating
    /// system's file cache serves beyond that costs a system call, not a disk read.
    embedded_cache_mib: "SIGIL_EMBEDDED_CACHE_MIB", Kind::Number { min: 1 }, Value("16");
    /// How long start-up keeps retrying MongoDB and Redis before giving up.
    store_connect_timeout: "SIGIL_STORE_CONNECT_TIMEOUT", Kind::Duration, Value("60s");
    /// How long a replica trusts its copy of a client or user (token issuance and bearer
    /// checks skip MongoDB meanwhile): a change made on another replica takes effect
    /// everywhere within this time, on the same replica at once.
    cache_ttl: "SIGIL_CACHE_TTL", Kind::Duration, Value("500ms");
    /// Lifetime of access tokens.
    access_token_ttl: "SIGIL_ACCESS_TOKEN_TTL", Kind::Duration, Value("15m");
    /// Lifetime of refresh tokens; they slide by it on each use.
    refresh_token_ttl: "SIGIL_REFRESH_TOKEN_TTL", Kind::Duration, Value("7d");
    /// Lifetime of refresh tokens of a session signed in with rememberMe.
    remember_me_ttl: "SIGIL_REMEMBER_ME_TTL", Kind::Duration, Value("30d");
    /// Absolute end of a session, however often it refreshes.
    session_max_lifetime: "SIGIL_SESSION_MAX_LIFETIME", Kind::Duration, Value("30d");
    /// Absolute end of a session signed in with rememberMe.
    remember_me_max_lifetime: "SIGIL_REMEMBER_ME_MAX_LIFETIME", Kind::Duration, Value("90d");
    /// The `aud` of REST tokens, all `/v1` accepts.
    rest_audience: "SIGIL_REST_AUDIENCE", Kind::UriList, Unset("the issuer");
    /// How recent a sign-in must be for sensitive changes without the password.
    reauthentication_window: "SIGIL_REAUTHENTICATION_WINDOW", Kind::Duration, Value("10m");
    /// `false` lets users sign in before confirming their email address.
    require_email_verification: "SIGIL_REQUIRE_EMAIL_VERIFICATION", Kind::Boolean,
        Value("true");
    /// `true` makes every client push its authorization requests (RFC 9126) instead of
    /// sending them through the browser; each client can also require it for itself.
    require_par: "SIGIL_REQUIRE_PAR", Kind::Boolean, Value("false");
    /// `true` requires PKCE (S256) from every client but the confidential ones registered
    /// with `requirePkce: false`; `false` requires it from public clients only.
    require_pkce: "SIGIL_REQUIRE_PKCE", Kind::Boolean, Value("true");
    /// `true` makes DPoP proofs sent to Sigil (token, PAR, userinfo) carry a nonce it handed
    /// out (`use_dpop_nonce`, RFC 9449 section 8), so that no proof can be made in advance.
    dpop_nonces: "SIGIL_DPOP_NONCES", Kind::Boolean, Value("true");
    /// Lifetime of an email verification link (password reset links: 1 h).
    verification_token_ttl: "SIGIL_VERIFICATION_TOKEN_TTL", Kind::Duration, Value("24h");
    /// Where mails go: `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://host:465` (TLS).
    smtp_url: "SIGIL_SMTP_URL", Kind::Url(&["smtp", "smtps"]),
        Unset("unset: mails go to DATA_DIR/outbox"), secret;
    /// Sender of Sigil's mails.
    mail_from: "SIGIL_MAIL_FROM", Kind::Mailbox, Unset("`Sigil <no-reply@ISSUER-HOST>`");
    /// Origins allowed to call the API from browsers.
    cors_origins: "SIGIL_CORS_ORIGINS", Kind::OriginList, Unset("empty");
    /// SameSite of the REST refresh cookie; `none` (https issuers only) lets a single-page app
    /// on another site send it with `credentials: "include"`.
    refresh_cookie_samesite: "SIGIL_REFRESH_COOKIE_SAMESITE",
        Kind::OneOf(&["strict", "lax", "none"]), Value("strict");
    /// The path a reverse proxy publishes Sigil under and strips before forwarding, e.g.
    /// `/api`; cookie paths include it.
    public_path_prefix: "SIGIL_PUBLIC_PATH_PREFIX", Kind::UrlPath, Unset("empty: no prefix");
    /// Proxies whose X-Forwarded-For is believed.
    trusted_proxies: "SIGIL_TRUSTED_PROXIES", Kind::IpList, Unset("empty");
    /// Requests to /v1 per client ip.
    rate_limit_general: "SIGIL_RATE_LIMIT_GENERAL", Kind::RateLimit, Value("100/15m");
    /// Sign-in attempts per client ip.
    rate_limit_login: "SIGIL_RATE_LIMIT_LOGIN", Kind::RateLimit, Value("5/15m");
    /// Registrations per client ip.
    rate_limit_register: "SIGIL_RATE_LIMIT_REGISTER", Kind::RateLimit, Value("3/1h");
    /// Password reset requests per client ip.
    rate_limit_password_reset: "SIGIL_RATE_LIMIT_PASSWORD_RESET", Kind::RateLimit,
        Value("3/1h");
    /// Requests per client ip to `/oauth2/authorize` and the hosted pages.
    rate_limit_browser: "SIGIL_RATE_LIMIT_BROWSER", Kind::RateLimit, Value("300/15m");
    /// MFA code attempts per user.
    rate_limit_mfa: "SIGIL_RATE_LIMIT_MFA", Kind::RateLimit, Value("10/5m");
    /// Requests per OAuth client to `/oauth2/token`, `/oauth2/introspect` and `/oauth2/revoke`.
    rate_limit_client: "SIGIL_RATE_LIMIT_CLIENT", Kind::RateLimit, Value("6000/1m");
    /// Failed client authentications per client ip on `/oauth2/token`, `/oauth2/introspect`
    /// and `/oauth2/revoke`; beyond it that ip is refused there until the window ends.
    rate_limit_client_auth: "SIGIL_RATE_LIMIT_CLIENT_AUTH", Kind::RateLimit, Value("20/15m");
    /// How long audit events are kept.
    audit_retention: "SIGIL_AUDIT_RETENTION", Kind::Duration, Value("90d");
    /// Ips or CIDRs allowed to call /v1/admin.
    admin_allowed_ips: "SIGIL_ADMIN_ALLOWED_IPS", Kind::IpList, Unset("empty: any");
    /// Email of the admin created on an empty store.
    bootstrap_admin_email: "SIGIL_BOOTSTRAP_ADMIN_EMAIL", Kind::Email, Value("admin@sigil.local");
    /// Password of the admin created on an empty store.
    bootstrap_admin_password: "SIGIL_BOOTSTRAP_ADMIN_PASSWORD", Kind::Text,
        Unset("generated and printed once"), secret;
    /// `false` stops serving Swagger UI at `/swagger-ui` (`/openapi.json` stays).
    swagger_ui: "SIGIL_SWAGGER_UI", Kind::Boolean, Value("true");
    /// After SIGTERM, how long Sigil keeps serving while `/health/ready` answers 503, so that
    /// load balancers stop routing to it before it stops accepting (`0`: stop at once).
    shutdown_delay: "SIGIL_SHUTDOWN_DELAY", Kind::Duration, Value("5s");
    /// Format of the log lines.
    log_format: "SIGIL_LOG_FORMAT", Kind::OneOf(&["pretty", "json"]),
        Unset("pretty on a TTY, json otherwise");
    /// A listener of its own serving only `/metrics`; the main one then answers 404 there.
    metrics_listen: "SIGIL_METRICS_LISTEN", Kind::Address,
        Unset("unset: `/metrics` on SIGIL_LISTEN");
    /// The CPU profiler's listener (builds with `--features sigil-server/pprof` only); a bare
    /// port means 127.0.0.1.
    pprof_listen: "SIGIL_PPROF_LISTEN", Kind::PortOrAddress, Unset("unset: no profiler");
    /// Failed sign-ins in a row that lock an account.
    lockout_threshold: "SIGIL_LOCKOUT_THRESHOLD", Kind::Number { min: 1 }, Value("5");
    /// How long a locked account stays locked.
    lockout_duration: "SIGIL_LOCKOUT_DURATION", Kind::Duration, Value("30m");
    /// Sessions a user may hold; the oldest is evicted.
    max_sessions_per_user: "SIGIL_MAX_SESSIONS_PER_USER", Kind::Number { min: 1 }, Value("5");
    /// JWKS `Cache-Control: max-age`; new keys are published twice this long before they sign.
    jwks_max_age: "SIGIL_JWKS_MAX_AGE", Kind::Duration, Value("1h");
    /// How long a signing key signs before the next one takes over.
    key_rotation_period: "SIGIL_KEY_ROTATION_PERIOD", Kind::Duration, Value("30d");
    /// RSA modulus size of generated signing keys.
    key_size: "SIGIL_KEY_SIZE", Kind::OneOf(&["2048", "3072", "4096"]), Value("2048");
    /// Argon2id memory cost in KiB.
    argon2_memory_kib: "SIGIL_ARGON2_MEMORY_KIB", Kind::Number { min: 8 }, Value("19456");
    /// Argon2id iterations.
    argon2_iterations: "SIGIL_ARGON2_ITERATIONS", Kind::Number { min: 1 }, Value("2");
    /// Argon2id lanes.
    argon2_parallelism: "SIGIL_ARGON2_PARALLELISM", Kind::Number { min: 1 }, Value("1");
    /// Threads hashing passwords at once.
    hash_workers: "SIGIL_HASH_WORKERS", Kind::Number { min: 1 }, Unset("the number of cores");
    /// Hash requests allowed to wait; beyond that requests answer 503 at once.
    hash_queue: "SIGIL_HASH_QUEUE", Kind::Number { min: 1 }, Value("1024");
}
