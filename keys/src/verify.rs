use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::{JwkSet, KeyError};

/// Why a token was refused. Relying services usually only need "refused"; the variants exist
/// so that logs and tests can tell the cases apart.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWS")]
    Malformed,
    #[error("the token's algorithm is not one its key signs with")]
    UnsupportedAlgorithm,
    #[error("the token header has no kid")]
    MissingKid,
    #[error("no published key has kid {0}")]
    UnknownKid(String),
    #[error("the token header marks critical extensions")]
    CriticalHeader,
    #[error("the token type is not {expected}")]
    WrongType { expected: String },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("the token's claims do not have the expected shape: {0}")]
    InvalidClaims(String),
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The exact `iss` expected.
    pub issuer: String,
    /// The token's `aud` must contain at least one of these.
    pub audience: Vec<String>,
    /// When set, the header `typ` must equal it (case-insensitive), e.g. `at+jwt`.
    pub typ: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl VerifyOptions {
    /// Sigil's defaults: 60 s of skew, any `typ`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: vec![audience.into()],
            typ: None,
            leeway_secs: 60,
        }
    }

    /// What a resource server checks on a Sigil access token (RFC 9068): the issuer, the type
    /// `at+jwt` and its own identifier among the token's audiences. Read the claims as
    /// [`crate::AccessClaims`].
    pub fn access_token(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::new(issuer, audience).with_typ(crate::ACCESS_TOKEN_TYP)
    }

    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    pub kid: String,
    pub claims: T,
}

/// Verifies RS256 tokens against a fixed set of public keys.
///
/// The key is chosen by the header `kid` among the keys given here only: `jku`, `x5u`, `jwk`
/// and `x5c` in a token header are never looked at, and `alg` must be RS256 whatever the
/// token says.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Takes the RSA signing keys of a JWKS; keys of other types or uses are skipped.
    pub fn from_jwks(set: &JwkSet) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let usable = jwk.kty == "RSA"
                && jwk.use_.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == crate::ALGORITHM);
            let Some(kid) = jwk.kid.as_deref().filter(|_| usable) else {
                continue;
            };
            let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
                .map_err(|e| KeyError::InvalidJwk(e.to_string()))?;
            keys.insert(kid.to_owned(), key);
        }
        Ok(Self { keys })
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Checks signature, `typ`, `exp`, `nbf`, `iss` and `aud` at the time `now` (Unix seconds),
    /// then deserializes the claims.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        options: &VerifyOptions,
        now: u64,
    ) -> Result<Verified<T>, VerifyError> {
        self.verify_checking(token, options, now, AudienceCheck::Listed)
    }

    /// Every check of [`Self::verify`] except that `aud` only has to be present, whatever it
    /// names (`options.audience` is not read). Only for the issuer itself, which issued the
    /// token for one of its own audiences and lets each endpoint decide whether it is meant
    /// for it. A relying service must use [`Self::verify`].
    pub fn verify_any_audience<T: DeserializeOwned>(
        &self,
        token: &str,
        options: &VerifyOptions,
        now: u64,
    ) -> Result<Verified<T>, VerifyError> {
        self.verify_checking(token, options, now, AudienceCheck::Present)
    }

    fn verify_checking<T: DeserializeOwned>(
        &self,
        token: &str,
        options: &VerifyOptions,
        now: u64,
        audience: AudienceCheck,
    ) -> Result<Verified<T>, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => VerifyError::UnsupportedAlgorithm,
            _ => VerifyError::Malformed,
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        if header.crit.is_some() {
            return Err(VerifyError::CriticalHeader);
        }
        if let Some(expected) = &options.typ {
            let typ = header.typ.as_deref().unwrap_or_default();
            if !typ.eq_ignore_ascii_case(expected) {
                return Err(VerifyError::WrongType {
                    expected: expected.clone(),
                });
            }
        }
        let kid = header.kid.ok_or(VerifyError::MissingKid)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| VerifyError::UnknownKid(kid.clone()))?;

        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            key,
            &signature_only(Algorithm::RS256),
        )
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::BadSignature,
            jsonwebtoken::errors::ErrorKind::Json(_) => {
                VerifyError::InvalidClaims("claims are not a JSON object".into())
            }
            _ => VerifyError::Malformed,
        })?;
        check_claims(&data.claims, options, now, audience)?;
        let claims = serde_json::from_value(Value::Object(data.claims))
            .map_err(|e| VerifyError::InvalidClaims(e.to_string()))?;
        Ok(Verified { kid, claims })
    }
}

/// jsonwebtoken checks the signature and the algorithm; the claims are checked by
/// [`check_claims`] (or the caller) so that the time is an input rather than the system clock.
pub(crate) fn signature_only(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AudienceCheck {
    /// One of `options.audience`.
    Listed,
    /// Any audience, as long as there is one.
    Present,
}

fn check_claims(
    claims: &Map<String, Value>,
    options: &VerifyOptions,
    now: u64,
    audience: AudienceCheck,
) -> Result<(), VerifyError> {
    let exp = numeric(claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
    if now > exp.saturating_add(options.leeway_secs) {
        return Err(VerifyError::Expired);
    }
    if let Some(nbf) = numeric(claims, "nbf")?
        && nbf > now.saturating_add(options.leeway_secs)
    {
        return Err(VerifyError::NotYetValid);
    }
    match claims.get("iss") {
        None => return Err(VerifyError::MissingClaim("iss")),
        Some(Value::String(iss)) if *iss == options.issuer => {}
        Some(_) => return Err(VerifyError::WrongIssuer),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        None => return Err(VerifyError::MissingClaim("aud")),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(VerifyError::InvalidClaims("aud is not a string".into())),
    };
    if audiences.is_empty()
        || (audience == AudienceCheck::Listed
            && !audiences
                .iter()
                .any(|aud| options.audience.iter().any(|want| want == aud)))
    {
        return Err(VerifyError::WrongAudience);
    }
    Ok(())
}

fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| VerifyError::InvalidClaims(format!("{name} is not a number"))),
    }
}

/// The claims of a token WITHOUT checking anything: only to learn which key or audience to
/// verify it against next. Never act on the result before verifying.
pub fn unverified_claims<T: DeserializeOwned>(token: &str) -> Result<T, VerifyError> {
    jsonwebtoken::dangerous::insecure_decode_claims::<T>(token).map_err(|_| VerifyError::Malformed)
}
