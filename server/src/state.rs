use std::sync::Arc;
use std::time::Instant;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Cipher;
use crate::keyring::KeyRing;
use crate::mail::Mailer;
use crate::password::PasswordHasher;
use crate::store::Stores;
use crate::templates::Templates;

/// Everything a request may need, shared by all requests. No globals: two apps can run side
/// by side in one process.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub keyring: Arc<KeyRing>,
    pub hasher: Arc<PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    /// Seals secrets the server must read back (TOTP secrets).
    pub cipher: Cipher,
    pub mailer: Mailer,
    pub templates: Arc<Templates>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub started_at: Instant,
    /// Keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
    pub client_keys: Arc<crate::service::oauth::client_keys::ClientKeyCache>,
    /// Whether a shutdown is draining this replica (readiness, keep-alive).
    pub lifecycle: crate::shutdown::Lifecycle,
}
