use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A signed-in device. The refresh token itself is never stored, only its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: Uuid,
    pub client_id: String,
    /// Digest of the refresh token that is current for this session.
    pub refresh_digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// How far each refresh pushes `expires_at`, in seconds.
    pub ttl_secs: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub remember_me: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionRecord {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The token was current; the session now carries the replacement.
    Rotated(SessionRecord),
    /// The token had been rotated out already: the session is now revoked.
    Reused { session_id: String, user_id: Uuid },
    /// The token belonged to a session that is gone (revoked or expired).
    Revoked,
    /// Nobody ever issued this token, or it is long forgotten.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retiring,
    Retired,
}

/// A signing key as stored: the PKCS#8 PEM sealed with AES-256-GCM under the encryption key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// 1 for the first key, +1 for each rotation. Unique: when replicas race to create the
    /// same generation, exactly one insert wins and the others adopt its key.
    pub generation: u64,
    pub state: KeyState,
    pub private_key_sealed: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
