//! The parsers behind each [`Kind`], and the settings whose rules span several values.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::Url;

use super::settings::{Kind, Setting, TABLE};
use super::{ConfigError, CookieSameSite, RateLimit, Settings, StorageConfig};

impl Setting {
    pub(super) fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.name, reason)
    }

    /// As given; `None` when unset.
    pub(super) fn raw<'a>(&self, s: &'a Settings) -> Option<&'a str> {
        (self.read)(s)
    }

    /// As given, trimmed, unless that leaves nothing.
    pub(super) fn given<'a>(&self, s: &'a Settings) -> Option<&'a str> {
        self.raw(s).map(str::trim).filter(|v| !v.is_empty())
    }

    /// As given, or the default.
    pub(super) fn value<'a>(&self, s: &'a Settings) -> Option<&'a str> {
        self.raw(s).or(self.default_value())
    }

    /// As given, or the default; a setting without a default must be given.
    pub(super) fn text<'a>(&self, s: &'a Settings) -> Result<&'a str, ConfigError> {
        self.value(s).ok_or_else(|| self.required())
    }

    /// Like [`Setting::text`], but blank counts as unset.
    pub(super) fn given_or_default<'a>(&self, s: &'a Settings) -> Result<&'a str, ConfigError> {
        self.given(s)
            .or(self.default_value())
            .ok_or_else(|| self.required())
    }

    fn required(&self) -> ConfigError {
        self.error("must be set")
    }

    pub(super) fn duration(&self, s: &Settings) -> Result<Duration, ConfigError> {
        duration(self.name, self.text(s)?)
    }

    /// A duration where `0` means "not at all" (a delay that can be switched off).
    pub(super) fn delay(&self, s: &Settings) -> Result<Duration, ConfigError> {
        let text = self.text(s)?;
        if text.trim() == "0" {
            return Ok(Duration::ZERO);
        }
        duration(self.name, text)
    }

    pub(super) fn number<T>(&self, s: &Settings) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + From<u16>,
    {
        self.optional_number(s)?.ok_or_else(|| self.required())
    }

    /// `None` when unset without a default, for defaults only known at run time.
    pub(super) fn optional_number<T>(&self, s: &Settings) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + From<u16>,
    {
        let Some(text) = self.value(s) else {
            return Ok(None);
        };
        let parsed: T = text
            .trim()
            .parse()
            .map_err(|_| self.error(format!("{text:?} is not a whole number")))?;
        let min = T::from(match self.kind {
            Kind::Number { min } => min,
            _ => 0,
        });
        if parsed < min {
            return Err(self.error(format!("must be at least {min}")));
        }
        Ok(Some(parsed))
    }

    pub(super) fn boolean(&self, s: &Settings) -> Result<bool, ConfigError> {
        match self.text(s)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(self.error(format!("{other:?} is not true or false"))),
        }
    }

    /// `count/window` such as `100/15m`, or `off`.
    pub(super) fn rate_limit(&self, s: &Settings) -> Result<Option<RateLimit>, ConfigError> {
        let text = self.text(s)?.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || {
            self.error(format!(
                "{text:?} is not count/window (e.g. 100/15m) or off"
            ))
        };
        let (count, window) = text.split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(self.error("the count must be at least 1 (or use off)"));
        }
        let window = duration(self.name, window)?;
        Ok(Some(RateLimit { count, window }))
    }

    /// `text` as an `ip:port` address.
    pub(super) fn address(&self, text: &str) -> Result<SocketAddr, ConfigError> {
        text.trim()
            .parse()
            .map_err(|_| self.error(format!("{text:?} is not an ip:port address")))
    }

    pub(super) fn ip_list(&self, s: &Settings) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.value(s)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| self.error(format!("{p:?} is not an ip or CIDR")))
            })
            .collect()
    }
}

fn duration(variable: &str, text: &str) -> Result<Duration, ConfigError> {
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

/// Absolute URIs, comma-separated; unset or empty (the issuer) is an empty list.
pub(super) fn rest_audience(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let mut audience = Vec::new();
    for item in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Url::parse(item).map_err(|e| {
            TABLE
                .rest_audience
                .error(format!("{item:?} is not an absolute URI ({e})"))
        })?;
        audience.push(item.to_owned());
    }
    Ok(audience)
}

pub(super) fn cors_origins(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let setting = &TABLE.cors_origins;
    let mut origins = Vec::new();
    for origin in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let url = Url::parse(origin).map_err(|e| setting.error(format!("{origin:?}: {e}")))?;
        let serialized = url.origin().ascii_serialization();
        if serialized == "null" || !matches!(url.scheme(), "http" | "https") {
            return Err(setting.error(format!("{origin:?} is not an http(s) origin")));
        }
        origins.push(serialized);
    }
    Ok(origins)
}

/// Unset, `Sigil <no-reply@HOST>` with the issuer's host, so mails come from the domain their
/// links point to.
pub(super) fn mail_from(value: Option<&str>, issuer: &str) -> Result<String, ConfigError> {
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
        .map_err(|e| TABLE.mail_from.error(format!("{from:?}: {e}")))?;
    Ok(from)
}

/// Both production backends or neither: a replica with shared users but private sessions
/// would accept tokens the others have revoked.
pub(super) fn storage(
    s: &Settings,
    audit_retention: Duration,
) -> Result<StorageConfig, ConfigError> {
    let t = &TABLE;
    let together = |missing: &Setting, set: &Setting| {
        missing.error(format!(
            "is required when {} is set (MongoDB and Redis go together)",
            set.name
        ))
    };
    let (uri, url) = match (t.mongodb_uri.given(s), t.redis_url.given(s)) {
        (None, None) => {
            let mib: u32 = t.embedded_cache_mib.number(s)?;
            return Ok(StorageConfig::Embedded {
                cache_bytes: usize::try_from(mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
            });
        }
        (Some(uri), Some(url)) => (uri, url),
        (Some(_), None) => return Err(together(&t.redis_url, &t.mongodb_uri)),
        (None, Some(_)) => return Err(together(&t.mongodb_uri, &t.redis_url)),
    };
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        return Err(t
            .mongodb_uri
            .error("must start with mongodb:// or mongodb+srv://"));
    }
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(t.redis_url.error("must start with redis:// or rediss://"));
    }
    if t.encryption_key.given(s).is_none() {
        return Err(t.encryption_key.error(
            "is required with MongoDB and Redis: every replica must decrypt the same keys",
        ));
    }
    let database = t.mongodb_db.given_or_default(s)?.to_owned();
    if database.contains(['/', '\\', '.', ' ', '"', '$']) {
        return Err(t.mongodb_db.error("is not a valid database name"));
    }
    Ok(StorageConfig::External {
        mongo: crate::store::MongoSettings {
            uri: uri.to_owned(),
            database,
            pool_size: t.mongodb_pool_size.number(s)?,
            audit_retention,
        },
        redis: crate::store::RedisSettings {
            url: url.to_owned(),
            key_prefix: t.redis_key_prefix.given_or_default(s)?.to_owned(),
            pool_size: t.redis_pool_size.number(s)?,
        },
        connect_timeout: t.store_connect_timeout.duration(s)?,
        cache_ttl: t.cache_ttl.duration(s)?,
    })
}

/// Parses the issuer and says whether it is https. Plain http is allowed for loopback hosts
/// only, so that a production issuer can never leak tokens over cleartext.
pub(super) fn issuer(value: Option<&str>) -> Result<(String, bool), ConfigError> {
    let setting = &TABLE.issuer;
    let text = value.or(setting.default_value()).unwrap_or("").trim();
    let url = Url::parse(text).map_err(|e| setting.error(format!("{text:?}: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(setting.error("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(setting.error("must not contain credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(setting.error("must have a host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(setting
                .error("must be https unless the host is loopback (localhost, 127.0.0.0/8, ::1)"));
        }
        other => return Err(setting.error(format!("scheme {other} is not http(s)"))),
    }
    Ok((
        text.trim_end_matches('/').to_owned(),
        url.scheme() == "https",
    ))
}

/// `SIGIL_PPROF_LISTEN`: a bare port means loopback, because a profile shows the process's
/// internals and should be fetched through an SSH tunnel or `kubectl port-forward`.
pub(super) fn pprof_listen(text: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    let setting = &TABLE.pprof_listen;
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !cfg!(feature = "pprof") {
        return Err(setting.error("this build has no profiler; build with `--features pprof`"));
    }
    let addr = match text.parse::<u16>() {
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => text
            .parse()
            .map_err(|_| setting.error(format!("{text:?} is not a port or an ip:port address")))?,
    };
    Ok(Some(addr))
}

pub(super) fn cookie_same_site(
    value: &str,
    issuer_is_https: bool,
) -> Result<CookieSameSite, ConfigError> {
    let setting = &TABLE.refresh_cookie_samesite;
    match value.to_ascii_lowercase().as_str() {
        "strict" => Ok(CookieSameSite::Strict),
        "lax" => Ok(CookieSameSite::Lax),
        // Browsers drop a SameSite=None cookie that is not Secure, which needs https.
        "none" if !issuer_is_https => Err(setting.error("none needs an https SIGIL_ISSUER")),
        "none" => Ok(CookieSameSite::None),
        other => Err(setting.error(format!("{other:?} is not strict, lax or none"))),
    }
}

/// `/api` or `/auth/v2`: absolute, no trailing slash, no query, only unreserved characters.
pub(super) fn path_prefix(value: Option<&str>) -> Result<String, ConfigError> {
    let setting = &TABLE.public_path_prefix;
    let Some(value) = value else {
        return Ok(String::new());
    };
    let value = value.trim_end_matches('/');
    let segments_ok = value.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        })
    });
    if !segments_ok {
        return Err(setting.error(format!(
            "{value:?} must look like /api: segments of letters, digits, - _ . ~"
        )));
    }
    Ok(value.to_owned())
}
