#![allow(clippy::unwrap_used)]
use super::parse::issuer;
#[cfg(feature = "pprof")]
use super::parse::pprof_listen;
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
        toml::from_str("listen = \"0.0.0.0:9000\"\nissuer = \"https://id.example.com\"").unwrap();
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

/// A setting given as `value` on top of `base`, by its TOML key.
fn with(base: &Settings, setting: &Setting, value: &str) -> Settings {
    let serde_json::Value::Object(mut map) = serde_json::to_value(base).unwrap() else {
        unreachable!("settings serialize to a map")
    };
    map.insert(setting.key.into(), value.into());
    serde_json::from_value(serde_json::Value::Object(map)).unwrap()
}

/// The production backends, so that the settings only they read are read.
fn external() -> Settings {
    Settings {
        mongodb_uri: Some("mongodb://x".into()),
        redis_url: Some("redis://x".into()),
        encryption_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        ..Default::default()
    }
}

/// A value each kind refuses; `None` where any text goes.
fn refused(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Address | Kind::Url(_) | Kind::OriginList | Kind::IpList | Kind::OneOf(_) => "nope",
        Kind::Email | Kind::Mailbox => "nope",
        Kind::PortOrAddress => "everywhere",
        Kind::UriList => "api.example.com",
        Kind::Duration => "soon",
        Kind::Number { .. } => "-1",
        Kind::Boolean => "maybe",
        Kind::RateLimit => "lots",
        Kind::Base64Key => "c2hvcnQ=",
        Kind::UrlPath => "api/../admin",
        Kind::Path | Kind::Text => return None,
    })
}

/// The table's names, flags and TOML keys are one name spelled three ways, and its doc lines
/// fit a table row.
#[test]
fn the_table_is_consistent() {
    let mut names = std::collections::HashSet::new();
    for setting in SETTINGS {
        assert_eq!(
            setting.name,
            format!("SIGIL_{}", setting.key.to_uppercase())
        );
        assert!(names.insert(setting.name), "{} twice", setting.name);
        let doc = setting.doc.trim();
        assert!(
            doc.ends_with('.') && !doc.contains('\n') && !doc.contains("  "),
            "{}: one sentence-like line: {doc:?}",
            setting.name
        );
        assert!(
            !setting.secret || matches!(setting.default, Fallback::Unset(_)),
            "{}: a secret has no default value to show",
            setting.name
        );
    }
}

/// `sigil serve` has one flag per setting, reading its variable, hiding secret values.
#[test]
fn the_flags_are_the_table() {
    use clap::{Args, FromArgMatches};
    let command = Settings::augment_args(clap::Command::new("serve"));
    let flags: Vec<_> = command.get_arguments().collect();
    assert_eq!(flags.len(), SETTINGS.len());
    for setting in SETTINGS {
        let flag = flags
            .iter()
            .find(|f| f.get_id() == setting.key)
            .unwrap_or_else(|| panic!("no flag for {}", setting.name));
        assert_eq!(
            flag.get_long(),
            Some(setting.key.replace('_', "-").as_str())
        );
        assert_eq!(flag.get_env().and_then(|e| e.to_str()), Some(setting.name));
        assert_eq!(
            flag.is_hide_env_values_set(),
            setting.secret,
            "{}",
            setting.name
        );
    }
    let matches = command
        .try_get_matches_from(["serve", "--access-token-ttl", "5m"])
        .unwrap();
    let parsed = Settings::from_arg_matches(&matches).unwrap();
    assert_eq!(parsed.access_token_ttl.as_deref(), Some("5m"));
}

/// Settings of MongoDB and Redis, read only when both are set.
const BACKEND_ONLY: &[&str] = &[
    "mongodb_db",
    "mongodb_pool_size",
    "redis_key_prefix",
    "redis_pool_size",
    "store_connect_timeout",
    "cache_ttl",
];

/// Settings of the embedded store, read only when MongoDB and Redis are not set.
const EMBEDDED_ONLY: &[&str] = &["embedded_cache_mib"];

/// Every setting is read, with its kind's parser: a value its kind refuses stops start-up
/// naming it, a number below its minimum too, and free text shows in the configuration.
#[test]
fn every_setting_is_read_as_its_kind_says() {
    for setting in SETTINGS {
        let base = if EMBEDDED_ONLY.contains(&setting.key) {
            Settings::default()
        } else {
            external()
        };
        let unchanged = format!("{:?}", parse(base.clone()).unwrap());
        let mut refusals: Vec<String> = refused(setting.kind).map(Into::into).into_iter().collect();
        if let Kind::Number { min: min @ 1.. } = setting.kind {
            refusals.push((min - 1).to_string());
        }
        for value in &refusals {
            let err = parse(with(&base, setting, value)).unwrap_err();
            assert_eq!(err.variable, setting.name, "{value:?}: {err}");
        }
        if refusals.is_empty() {
            let config = parse(with(&base, setting, "changed")).unwrap();
            assert_ne!(
                format!("{config:?}"),
                unchanged,
                "{} is not read",
                setting.name
            );
        }
    }
}

/// The embedded store ignores the settings of MongoDB and Redis.
#[test]
fn the_embedded_store_ignores_the_backends_settings() {
    let unchanged = format!("{:?}", parse(Settings::default()).unwrap());
    for setting in SETTINGS.iter().filter(|s| BACKEND_ONLY.contains(&s.key)) {
        let value = refused(setting.kind).unwrap_or("changed");
        let config = parse(with(&Settings::default(), setting, value)).unwrap();
        assert_eq!(format!("{config:?}"), unchanged, "{}", setting.name);
    }
}

/// MongoDB and Redis ignore the embedded store's settings.
#[test]
fn the_production_backends_ignore_the_embedded_settings() {
    let unchanged = format!("{:?}", parse(external()).unwrap());
    for setting in SETTINGS.iter().filter(|s| EMBEDDED_ONLY.contains(&s.key)) {
        let value = refused(setting.kind).unwrap_or("changed");
        let config = parse(with(&external(), setting, value)).unwrap();
        assert_eq!(format!("{config:?}"), unchanged, "{}", setting.name);
    }
}

/// The defaults the table shows are the ones in effect: giving them changes nothing.
#[test]
fn the_shown_defaults_are_the_defaults() {
    for base in [Settings::default(), external()] {
        let unchanged = format!("{:?}", parse(base.clone()).unwrap());
        let mut given = base.clone();
        for setting in SETTINGS {
            if let (Some(value), None) = (setting.default_value(), setting.raw(&given)) {
                given = with(&given, setting, value);
            }
        }
        assert_eq!(format!("{:?}", parse(given).unwrap()), unchanged);
    }
}

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
const BEGIN: &str = "<!-- settings:begin";
const END: &str = "<!-- settings:end -->";

/// The README's configuration table is [`markdown_table`]; `SIGIL_UPDATE_README=1` rewrites
/// it, as insta does snapshots.
#[test]
fn the_readme_shows_the_table() {
    let readme = std::fs::read_to_string(README).unwrap();
    let start = readme
        .find(BEGIN)
        .and_then(|begin| readme[begin..].find('\n').map(|eol| begin + eol + 1))
        .unwrap_or_else(|| panic!("README.md has no `{BEGIN} ... -->` line"));
    let end = start
        + readme[start..]
            .find(END)
            .unwrap_or_else(|| panic!("README.md has no `{END}` line"));
    let table = markdown_table();
    if readme[start..end] == table {
        return;
    }
    if std::env::var_os("SIGIL_UPDATE_README").is_some() {
        std::fs::write(
            README,
            format!("{}{table}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    panic!(
        "README.md's configuration table differs from server/src/config/settings.rs; rewrite it \
         with `SIGIL_UPDATE_README=1 cargo test -p sigil-server --lib config` and review the \
         diff. It should read:\n\n{table}"
    );
}

/// SameSite=None needs Secure, so an https issuer; a prefix is a clean absolute path.
#[test]
fn cookie_settings() {
    use super::CookieSameSite;
    use super::parse::{cookie_same_site, path_prefix};
    assert_eq!(cookie_same_site("Lax", false).unwrap(), CookieSameSite::Lax);
    assert_eq!(
        cookie_same_site("none", true).unwrap(),
        CookieSameSite::None
    );
    assert!(cookie_same_site("none", false).is_err());
    assert_eq!(path_prefix(Some("/api/")).unwrap(), "/api");
    assert_eq!(path_prefix(None).unwrap(), "");
    for bad in ["api", "/a b", "/../x", "/a//b", "/a?b"] {
        assert!(path_prefix(Some(bad)).is_err(), "{bad}");
    }
}
