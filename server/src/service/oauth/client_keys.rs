//! The keys of `private_key_jwt` clients that publish them at a `jwks_uri` instead of
//! registering them: fetched when first needed, kept for [`FRESH_FOR`], fetched again early
//! when an assertion names a key the cached set lacks (the client rotated; at most once per
//! [`REFETCH_GAP`] per URL), and used up to [`STALE_FOR`] while the URL fails.
//!
//! Fetches are bounded: [`CONNECT_TIMEOUT`], [`FETCH_TIMEOUT`], no redirects, at most
//! [`MAX_BODY`] bytes. A failed fetch is not tried again for [`REFETCH_GAP`]: anybody can name
//! a client in an unauthenticated request, and a client's unreachable host must not make
//! every such request wait for a timeout (or be hammered by Sigil). Only administrators register a `jwks_uri` (https, or http on a
//! loopback host), so the URLs Sigil fetches are ones an operator chose.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sigil_keys::{PartyKeys, VerifyError};

use crate::domain::ClientRecord;
use crate::state::AppState;

/// Why a JWT is not proven to come from a client.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the client has no keys to sign with")]
    NoKeys,
    #[error(transparent)]
    Keys(#[from] FetchError),
    #[error("{0}")]
    Invalid(VerifyError),
}

/// The claims of `token` once it verifies with `client`'s keys ([`of_client`]); a `kid` the
/// published set lacks gets one more look at the published keys (the client rotated).
pub async fn verify_signed_by(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<Map<String, Value>, SignatureError> {
    let keys = of_client(state, client, false)
        .await?
        .ok_or(SignatureError::NoKeys)?;
    let verified = match keys.verify_signature(token) {
        Err(VerifyError::UnknownKid(_)) if client.jwks_uri.is_some() => {
            of_client(state, client, true)
                .await?
                .ok_or(SignatureError::NoKeys)?
                .verify_signature(token)
        }
        other => other,
    };
    verified
        .map(|(_, claims)| claims)
        .map_err(SignatureError::Invalid)
}

/// The keys a client signs with (client assertions, request objects): its registered JWKS,
/// its published one (`refresh` fetches it again, within the cache's limits), or for
/// `client_secret_jwt` its secret; `None` when it has none of them.
pub async fn of_client(
    state: &AppState,
    client: &ClientRecord,
    refresh: bool,
) -> Result<Option<PartyKeys>, FetchError> {
    if let Some(jwks) = &client.jwks {
        return PartyKeys::from_jwks(jwks)
            .map(Some)
            .map_err(|e| FetchError::Unusable(e.to_string()));
    }
    if let Some(uri) = &client.jwks_uri {
        return state.client_keys.keys(uri, refresh).await.map(Some);
    }
    let Some(sealed) = &client.secret_sealed else {
        return Ok(None);
    };
    let secret = state
        .cipher
        .open(sealed, super::clients::CLIENT_SECRET_PURPOSE)
        .map_err(|e| FetchError::Unusable(e.to_string()))?;
    Ok(Some(PartyKeys::shared_secret(&secret)))
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_BODY: usize = 64 * 1024;
pub const FRESH_FOR: Duration = Duration::from_secs(300);
pub const STALE_FOR: Duration = Duration::from_secs(3600);
pub const REFETCH_GAP: Duration = Duration::from_secs(30);
/// URLs remembered; beyond, the oldest entry goes.
const CAPACITY: usize = 1000;

struct Entry {
    keys: PartyKeys,
    fetched_at: Instant,
}

/// Why a client's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the client's jwks_uri could not be fetched: {0}")]
    Unreachable(String),
    #[error("the client's jwks_uri does not hold a usable key set: {0}")]
    Unusable(String),
}

pub struct ClientKeyCache {
    /// `None` when no HTTP client could be built: every fetch then fails (closed).
    http: Option<reqwest::Client>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Last early refetch per URL, so unknown kids cannot make Sigil fetch on every request.
    refetched: Mutex<HashMap<String, Instant>>,
    /// Last failed fetch per URL.
    failed: Mutex<HashMap<String, Instant>>,
}

impl Default for ClientKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientKeyCache {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .inspect_err(|e| tracing::error!(error = %e, "no HTTP client for clients' jwks_uri"))
            .ok();
        Self {
            http,
            entries: Mutex::new(HashMap::new()),
            refetched: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// The keys at `url`: cached while fresh, else fetched (the cached set, if not too old,
    /// when the fetch fails). `refresh` asks for an early refetch (an unknown `kid`).
    pub async fn keys(&self, url: &str, refresh: bool) -> Result<PartyKeys, FetchError> {
        let cached = self.cached(url);
        let refetch_allowed = refresh && !Self::marked_recently(&self.refetched, url);
        if refetch_allowed {
            Self::mark(&self.refetched, url);
        }
        if let Some((keys, age)) = &cached
            && *age < FRESH_FOR
            && !refetch_allowed
        {
            return Ok(keys.clone());
        }
        let outcome = if !Self::marked_recently(&self.failed, url) {
            self.fetch(url).await
        } else {
            Err(FetchError::Unreachable(
                "it failed moments ago; not tried again yet".into(),
            ))
        };
        match outcome {
            Ok(keys) => {
                self.store(url, keys.clone());
                Ok(keys)
            }
            Err(e) => match cached {
                Some((keys, age)) if age < STALE_FOR => {
                    tracing::warn!(error = %e, "using the cached keys of a client");
                    Ok(keys)
                }
                _ => Err(e),
            },
        }
    }

    fn cached(&self, url: &str) -> Option<(PartyKeys, Duration)> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(url)?;
        Some((entry.keys.clone(), entry.fetched_at.elapsed()))
    }

    /// Whether `url` was marked in `marks` less than [`REFETCH_GAP`] ago.
    fn marked_recently(marks: &Mutex<HashMap<String, Instant>>, url: &str) -> bool {
        marks.lock().map_or(true, |marks| {
            marks.get(url).is_some_and(|at| at.elapsed() < REFETCH_GAP)
        })
    }

    fn mark(marks: &Mutex<HashMap<String, Instant>>, url: &str) {
        if let Ok(mut marks) = marks.lock() {
            if marks.len() >= CAPACITY {
                marks.retain(|_, at| at.elapsed() < REFETCH_GAP);
            }
            marks.insert(url.to_owned(), Instant::now());
        }
    }

    fn store(&self, url: &str, keys: PartyKeys) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY
            && !entries.contains_key(url)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.fetched_at)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            url.to_owned(),
            Entry {
                keys,
                fetched_at: Instant::now(),
            },
        );
    }

    async fn fetch(&self, url: &str) -> Result<PartyKeys, FetchError> {
        let fetched = self.fetch_once(url).await;
        if fetched.is_err() {
            Self::mark(&self.failed, url);
        }
        fetched
    }

    async fn fetch_once(&self, url: &str) -> Result<PartyKeys, FetchError> {
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| FetchError::Unreachable("no HTTP client".into()))?;
        let unreachable = |e: reqwest::Error| FetchError::Unreachable(e.without_url().to_string());
        let mut response = http.get(url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(FetchError::Unreachable(format!(
                "answered {}",
                response.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::Unusable(format!(
                    "larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let set: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Unusable(format!("not JSON: {e}")))?;
        PartyKeys::from_jwks(&set).map_err(|e| FetchError::Unusable(e.to_string()))
    }
}
