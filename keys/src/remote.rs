//! `RemoteJwks`: what a relying service uses to verify Sigil's tokens offline. It fetches the
//! JWKS, caches it for the `max-age` the server sends, and refetches at once when a token
//! names a key it does not know, at most once every 30 seconds (so a flood of forged `kid`s
//! cannot turn into a flood of requests to the issuer).
//!
//! A fetch never blocks verification with a set in hand: one request at a time fetches (with
//! connect and overall timeouts), outside the lock that guards the cached set, and every other
//! request keeps verifying with the cached set meanwhile. Only the very first fetch, when there
//! is nothing to verify with, is waited for. A set whose refresh keeps failing is still used
//! for [`STALE_LIMIT`] past its max-age (an issuer outage must not take every relying service
//! down with it); after that verification fails closed with [`RemoteError::Fetch`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::{JwkSet, Verified, Verifier, VerifyError, VerifyOptions};

/// Used when the server sends no usable `Cache-Control: max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// At most one refetch for unknown keys in this time.
const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// How long [`RemoteJwks::new`]'s client waits for a connection to the issuer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`RemoteJwks::new`]'s client waits for a whole JWKS answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long past its max-age a set is still used while refreshing it fails.
pub const STALE_LIMIT: Duration = Duration::from_secs(3600);
/// After a failed refresh of a stale set, the next attempt waits this long.
const REFRESH_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum RemoteError {
    #[error("the token was refused: {0}")]
    Refused(#[from] VerifyError),
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(String),
}

#[derive(Clone)]
struct Cache {
    verifier: Arc<Verifier>,
    fetched_at: Instant,
    max_age: Duration,
}

impl Cache {
    fn fresh(&self) -> bool {
        self.fetched_at.elapsed() < self.max_age
    }

    fn usable(&self) -> bool {
        self.fetched_at.elapsed() < self.max_age + STALE_LIMIT
    }
}

/// A verifier whose keys come from a JWKS URL. Share one per issuer (it is `Sync`).
pub struct RemoteJwks {
    url: String,
    options: VerifyOptions,
    http: reqwest::Client,
    /// The set in use; held only to read or swap it, never across a fetch.
    cache: RwLock<Option<Cache>>,
    /// Held by the one request that is fetching.
    fetching: Mutex<()>,
    last_unknown_refetch: RwLock<Option<Instant>>,
    /// When the last refresh of a stale set failed.
    last_failure: RwLock<Option<Instant>>,
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
    /// audience a token must have. Fetches time out after [`CONNECT_TIMEOUT`] /
    /// [`FETCH_TIMEOUT`].
    pub fn new(jwks_url: impl Into<String>, options: VerifyOptions) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self::with_client(jwks_url, options, http)
    }

    /// With a client of your own; give it timeouts, or a hung issuer stalls the first fetch
    /// and every refresh (though not verification with a cached set).
    pub fn with_client(
        jwks_url: impl Into<String>,
        options: VerifyOptions,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url: jwks_url.into(),
            options,
            http,
            cache: RwLock::new(None),
            fetching: Mutex::new(()),
            last_unknown_refetch: RwLock::new(None),
            last_failure: RwLock::new(None),
        }
    }

    fn cached(&self) -> Option<Cache> {
        self.cache.read().map_or(None, |c| c.clone())
    }

    async fn fetch(&self) -> Result<Arc<Verifier>, RemoteError> {
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
        let verifier =
            Arc::new(Verifier::from_jwks(&set).map_err(|e| RemoteError::Fetch(e.to_string()))?);
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(Cache {
                verifier: verifier.clone(),
                fetched_at: Instant::now(),
                max_age,
            });
        }
        Ok(verifier)
    }

    /// The set to verify with: the cached one while fresh; when stale, the one request that
    /// gets to refresh it does so and the others go on with the stale set.
    async fn current(&self) -> Result<Arc<Verifier>, RemoteError> {
        let cached = self.cached();
        if let Some(c) = cached.as_ref().filter(|c| c.fresh()) {
            return Ok(c.verifier.clone());
        }
        if let Some(stale) = cached.filter(Cache::usable) {
            let backing_off = matches!(
                self.last_failure.read().as_deref(),
                Ok(Some(at)) if at.elapsed() < REFRESH_BACKOFF
            );
            let fetching = self.fetching.try_lock();
            if backing_off || fetching.is_err() {
                return Ok(stale.verifier);
            }
            return Ok(match self.fetch().await {
                Ok(fresh) => fresh,
                Err(_) => {
                    if let Ok(mut at) = self.last_failure.write() {
                        *at = Some(Instant::now());
                    }
                    stale.verifier
                }
            });
        }
        // Nothing usable: wait for whoever is fetching, then use what they got.
        let _fetching = self.fetching.lock().await;
        if let Some(c) = self.cached().filter(Cache::fresh) {
            return Ok(c.verifier);
        }
        self.fetch().await
    }

    /// Refetches for an unknown kid unless that happened in the last 30 s; the new verifier
    /// if it did.
    async fn refetch_for_unknown_kid(&self) -> Result<Option<Arc<Verifier>>, RemoteError> {
        {
            let Ok(mut last) = self.last_unknown_refetch.write() else {
                return Ok(None);
            };
            if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        let _fetching = self.fetching.lock().await;
        self.fetch().await.map(Some)
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
