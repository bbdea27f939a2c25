//! `RemoteJwks`: what a relying service uses to verify Sigil's tokens offline. It fetches the
//! JWKS, caches it for the `max-age` the server sends, and refetches at once when a token
//! names a key it does not know, at most once every 30 seconds (so a flood of forged `kid`s
//! cannot turn into a flood of requests to the issuer).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::{JwkSet, Verified, Verifier, VerifyError, VerifyOptions};

/// Used when the server sends no usable `Cache-Control: max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// At most one refetch for unknown keys in this time.
const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum RemoteError {
    #[error("the token was refused: {0}")]
    Refused(#[from] VerifyError),
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(String),
}

struct Cache {
    verifier: Verifier,
    fetched_at: Instant,
    max_age: Duration,
    last_unknown_refetch: Option<Instant>,
}

/// A verifier whose keys come from a JWKS URL. Share one per issuer (it is `Sync`).
pub struct RemoteJwks {
    url: String,
    options: VerifyOptions,
    http: reqwest::Client,
    cache: Mutex<Option<Cache>>,
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|n| n.parse::<u64>().ok())
        })
        .map_or(DEFAULT_MAX_AGE, Duration::from_secs)
}

impl RemoteJwks {
    /// `jwks_url` is usually `{issuer}/.well-known/jwks.json`; `options` say which issuer and
    /// audience a token must have.
    pub fn new(jwks_url: impl Into<String>, options: VerifyOptions) -> Self {
        Self::with_client(jwks_url, options, reqwest::Client::new())
    }

    pub fn with_client(
        jwks_url: impl Into<String>,
        options: VerifyOptions,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url: jwks_url.into(),
            options,
            http,
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<(Verifier, Duration), RemoteError> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| RemoteError::Fetch(e.to_string()))?;
        let max_age = max_age(response.headers());
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| RemoteError::Fetch(e.to_string()))?;
        let verifier = Verifier::from_jwks(&set).map_err(|e| RemoteError::Fetch(e.to_string()))?;
        Ok((verifier, max_age))
    }

    /// The cached verifier, refreshed first if its max-age has passed.
    async fn current(&self) -> Result<Verifier, RemoteError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.fetched_at.elapsed() < c.max_age
        {
            return Ok(c.verifier.clone());
        }
        let (verifier, max_age) = self.fetch().await?;
        let last_unknown_refetch = cache.as_ref().and_then(|c| c.last_unknown_refetch);
        *cache = Some(Cache {
            verifier: verifier.clone(),
            fetched_at: Instant::now(),
            max_age,
            last_unknown_refetch,
        });
        Ok(verifier)
    }

    /// Refetches for an unknown kid unless that happened in the last 30 s; the new verifier
    /// if it did.
    async fn refetch_for_unknown_kid(&self) -> Result<Option<Verifier>, RemoteError> {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .and_then(|c| c.last_unknown_refetch)
            .is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN)
        {
            return Ok(None);
        }
        let (verifier, max_age) = self.fetch().await?;
        *cache = Some(Cache {
            verifier: verifier.clone(),
            fetched_at: Instant::now(),
            max_age,
            last_unknown_refetch: Some(Instant::now()),
        });
        Ok(Some(verifier))
    }

    /// Verifies `token` strictly (RS256 only, kid required, exp/iss/aud, 60 s skew).
    pub async fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, RemoteError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let verifier = self.current().await?;
        match verifier.verify::<T>(token, &self.options, now) {
            Err(VerifyError::UnknownKid(kid)) => match self.refetch_for_unknown_kid().await? {
                Some(fresh) => Ok(fresh.verify::<T>(token, &self.options, now)?),
                None => Err(RemoteError::Refused(VerifyError::UnknownKid(kid))),
            },
            other => Ok(other?),
        }
    }
}
