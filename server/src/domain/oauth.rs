//! OAuth 2.0 / OpenID Connect vocabulary: clients, scopes, redirect URIs, PKCE.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use crate::error::FieldError;

/// The scopes Sigil knows (SPEC section 6).
pub const KNOWN_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "offline_access",
    "roles",
];

/// Shown by the admin API as is, so it is the wire type.
pub use sigil_proto::admin::ClientType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client proves who it is at the token, PAR, introspection and revocation endpoints
/// (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The secret in `Authorization: Basic`; `client_secret_post` works too.
    ClientSecretBasic,
    /// The secret in the form; `client_secret_basic` works too.
    ClientSecretPost,
    /// A JWT signed with HS256 and the client's secret (RFC 7523).
    ClientSecretJwt,
    /// A JWT signed with a private key whose public half the client registered (RFC 7523).
    PrivateKeyJwt,
    /// A public client: its id alone.
    None,
}

impl AuthMethod {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Whether the client signs an assertion instead of sending a secret.
    pub fn uses_assertion(self) -> bool {
        matches!(self, Self::ClientSecretJwt | Self::PrivateKeyJwt)
    }
}

/// A registered client. The secret is stored as its SHA-256 digest only, and, for a client
/// that signs assertions with it (`client_secret_jwt`), sealed with the encryption key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub secret_digest: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// Sigil's own apps: no consent screen.
    pub first_party: bool,
    /// Authorization requests only through `/oauth2/par` (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests only as signed request objects (RFC 9101).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// Every token request must carry a DPoP proof, so that every access token is bound to
    /// the client's key (RFC 9449 section 5.2, `dpop_bound_access_tokens`).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// `false`: a confidential client excused from PKCE (while `SIGIL_REQUIRE_PKCE` is on).
    /// Clients stored before this setting existed read as `true`.
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// `None`: the type's default (a secret for confidential clients, none for public ones).
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// The public keys of a `private_key_jwt` client, a JWKS checked at registration.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Or where the client publishes them (https, or http on a loopback host).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The secret sealed with the encryption key: HS256 assertions need the secret itself.
    #[serde(default)]
    pub secret_sealed: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A `jwks_uri` Sigil may fetch: an absolute https URL, or http on a loopback host (a
/// client on the same machine, and tests), at most 2048 bytes, without credentials.
pub fn validate_jwks_uri(uri: &str) -> Result<(), FieldError> {
    let bad = |why: &str| Err(FieldError::new("jwksUri", why));
    if uri.len() > 2048 {
        return bad("at most 2048 bytes");
    }
    let Ok(url) = Url::parse(uri) else {
        return bad("not an absolute URL");
    };
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return bad("no credentials or fragment");
    }
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => bad("https, or http on a loopback host"),
    }
}

/// `acr` of a sign-in that used a second factor (OIDC Core section 2); a password alone has
/// no `acr`, so a relying party that asks for this value and does not see it knows.
pub const ACR_MFA: &str = "urn:sigil:mfa";

/// `amr` (RFC 8176) of a sign-in with the password alone.
pub fn amr_password() -> Vec<String> {
    vec!["pwd".to_owned()]
}

/// `amr` of a sign-in with the password and a one-time code (TOTP or backup code).
pub fn amr_password_and_code() -> Vec<String> {
    vec!["pwd".to_owned(), "otp".to_owned()]
}

/// Whether a sign-in with this `amr` used a second factor: the one rule behind `acr`, the
/// `acr_values` step-up and the sign-in metrics.
pub fn used_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| m == "otp")
}

/// The `acr` an ID token states for a sign-in with this `amr`.
pub fn acr_of(amr: &[String]) -> Option<&'static str> {
    used_second_factor(amr).then_some(ACR_MFA)
}

fn yes() -> bool {
    true
}

impl ClientRecord {
    /// Whether this client's authorization requests must carry a PKCE challenge: public
    /// clients always; the others unless the server or the client turned it off.
    /// How this client authenticates: as registered, or its type's default.
    pub fn auth_method(&self) -> AuthMethod {
        match (self.auth_method, self.client_type) {
            (Some(method), _) => method,
            (None, ClientType::Public) => AuthMethod::None,
            (None, ClientType::Confidential) => AuthMethod::ClientSecretBasic,
        }
    }

    pub fn must_use_pkce(&self, required_server_wide: bool) -> bool {
        self.client_type == ClientType::Public || (required_server_wide && self.require_pkce)
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Exact string match, as OAuth 2.1 and the SPEC require: no prefixes, no normalisation.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
}

/// A space-separated scope list, deduplicated, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Every item must be a known scope.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut items: Vec<String> = Vec::new();
        for item in text.split(' ').filter(|s| !s.is_empty()) {
            if !KNOWN_SCOPES.contains(&item) {
                return Err(format!("unknown scope {item:?}"));
            }
            if !items.iter().any(|s| s == item) {
                items.push(item.to_owned());
            }
        }
        Ok(Self(items))
    }

    /// Any scope-tokens (RFC 6749 section 3.3), known or defined by an API resource; which of
    /// them a request may have is decided by `service::oauth::targets`.
    pub fn parse_any(text: &str) -> Result<Self, String> {
        let mut items: Vec<String> = Vec::new();
        for item in text.split(' ').filter(|s| !s.is_empty()) {
            if !KNOWN_SCOPES.contains(&item)
                && let Err(e) = super::resource::validate_resource_scope(item)
            {
                return Err(e);
            }
            if !items.iter().any(|s| s == item) {
                items.push(item.to_owned());
            }
        }
        Ok(Self(items))
    }

    /// The scopes of `items` in this order, deduplicated.
    pub fn from_items(items: impl IntoIterator<Item = String>) -> Self {
        let mut scope = Self::default();
        for item in items {
            if !scope.contains(&item) {
                scope.0.push(item);
            }
        }
        scope
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_subset_of(&self, allowed: &[String]) -> bool {
        self.0.iter().all(|s| allowed.contains(s))
    }

    pub fn items(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// Validates a redirect URI at registration: absolute, no fragment; https, or http on a
/// loopback host (RFC 8252 native apps), or a private-use scheme with a dot (`com.app:/cb`).
pub fn validate_redirect_uri(field: &str, uri: &str) -> Result<(), FieldError> {
    let err = |m: &str| FieldError::new(field, format!("{uri:?}: {m}"));
    let url = Url::parse(uri).map_err(|_| err("not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(err("must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(err("http is allowed for loopback hosts only"))
            }
        }
        "javascript" | "data" | "file" | "vbscript" => Err(err("scheme not allowed")),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(err(
            "use https, loopback http, or a reverse-domain private scheme",
        )),
    }
}

/// RFC 7636: a verifier is 43-128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))`, the S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B's example verifier and challenge.
    #[test]
    fn pkce_s256_matches_rfc_7636() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_code_verifier(verifier));
        assert_eq!(
            s256_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!valid_code_verifier("short"));
        assert!(!valid_code_verifier(&"a".repeat(129)));
        assert!(!valid_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    /// Scopes must be known; repeats collapse.
    #[test]
    fn scopes() {
        let s = Scope::parse("openid  email openid").unwrap();
        assert_eq!(s.to_string(), "openid email");
        assert!(Scope::parse("openid admin").is_err());
        assert!(s.is_subset_of(&["openid".into(), "email".into(), "profile".into()]));
        assert!(!s.is_subset_of(&["openid".into()]));
    }

    /// Redirect URIs: https, loopback http, private schemes; nothing else.
    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:8000/cb",
            "http://localhost/cb",
            "com.example.app:/callback",
        ] {
            assert!(validate_redirect_uri("redirectUris", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "javascript:alert(1)",
            "/relative",
            "myapp:/cb",
        ] {
            assert!(validate_redirect_uri("redirectUris", bad).is_err(), "{bad}");
        }
    }
}
