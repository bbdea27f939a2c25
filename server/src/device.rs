//! What a User-Agent says about the device behind a session (woothee's parser).

use sha2::{Digest, Sha256};
pub use sigil_proto::users::Device;

fn known(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty() && *v != woothee::woothee::VALUE_UNKNOWN)
}

pub fn parse(user_agent: Option<&str>) -> Device {
    let parsed = user_agent.and_then(|ua| woothee::parser::Parser::new().parse(ua));
    match parsed {
        Some(p) => {
            let browser = match (known(p.name), known(p.version)) {
                (Some(name), Some(version)) => format!("{name} {version}"),
                (Some(name), None) => name.to_owned(),
                _ => "Unknown".to_owned(),
            };
            let os = match (known(p.os), known(&p.os_version)) {
                (Some(os), Some(version)) => format!("{os} {version}"),
                (Some(os), None) => os.to_owned(),
                _ => "Unknown".to_owned(),
            };
            Device {
                browser,
                os,
                device: known(p.category).unwrap_or("unknown").to_owned(),
            }
        }
        None => Device {
            browser: "Unknown".into(),
            os: "Unknown".into(),
            device: "unknown".into(),
        },
    }
}

/// A stable id for "the same kind of device": browser and OS families, without versions, so
/// that a browser update is not a new device. `None` when the agent says nothing useful.
pub fn fingerprint(user_agent: Option<&str>) -> Option<String> {
    let p = woothee::parser::Parser::new().parse(user_agent?)?;
    let name = known(p.name)?;
    let os = known(p.os).unwrap_or("?");
    let digest = Sha256::digest(format!("{name}|{os}|{}", p.category).as_bytes());
    Some(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

    /// Browsers, systems and device classes come out of common agents.
    #[test]
    fn parses_common_agents() {
        let d = parse(Some(FIREFOX_LINUX));
        assert!(d.browser.starts_with("Firefox"), "{d:?}");
        assert_eq!(d.os, "Linux");
        assert_eq!(d.device, "pc");
        let d = parse(Some(SAFARI_IPHONE));
        assert!(d.browser.starts_with("Safari"), "{d:?}");
        assert_eq!(d.device, "smartphone");
        assert_eq!(parse(None).browser, "Unknown");
        assert_eq!(parse(Some("curl/8.5.0")).device, "misc");
        assert_eq!(parse(Some("\u{1}garbage")).browser, "Unknown");
    }

    /// A browser update keeps the fingerprint; another browser changes it.
    #[test]
    fn fingerprints_ignore_versions() {
        let newer = FIREFOX_LINUX.replace("128.0", "129.0");
        assert_eq!(fingerprint(Some(FIREFOX_LINUX)), fingerprint(Some(&newer)));
        assert_ne!(
            fingerprint(Some(FIREFOX_LINUX)),
            fingerprint(Some(SAFARI_IPHONE))
        );
        assert_eq!(fingerprint(None), None);
    }
}
