//! Which server URLs the console may talk to. An admin password and admin tokens cross this
//! connection, so plain `http://` is for loopback only (a server on this machine, or an SSH
//! tunnel to one) unless the operator says `--insecure`.

use std::net::IpAddr;

use url::Url;

/// `Ok` when `url` is https, or http to a loopback host, or `insecure` is set.
pub fn check(url: &str, insecure: bool) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if insecure || is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "{url}: refusing plain http to a host other than this machine (the admin password \
             and tokens would cross the network in the clear); use https, or --insecure"
        )),
        other => Err(format!("{url}: unsupported scheme {other:?} (use https)")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://sigil.example.com",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://app.localhost:8080",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:8080",
        ] {
            assert_eq!(check(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://sigil.example.com",
            "http://10.0.0.5:8080",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(check(refused, false).is_err(), "{refused}");
            assert_eq!(check(refused, true), Ok(()), "{refused} with --insecure");
        }
        assert!(check("ftp://sigil.example.com", true).is_err());
        assert!(check("sigil.example.com", true).is_err());
    }
}
