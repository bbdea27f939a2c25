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
    /// The absolute end of the session: refreshes never push `expires_at` past it
    /// (`SIGIL_SESSION_MAX_LIFETIME`). `None` for sessions stored before it existed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub remember_me: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Granted OAuth scope, for sessions of OAuth clients.
    #[serde(default)]
    pub scope: Option<String>,
    /// API resources (RFC 8707) the session's access tokens may be addressed to; empty: the
    /// client itself (see `tokens::audience_for`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The DPoP key (RFC 7638 thumbprint) the refresh token is bound to: a public client's
    /// session that began with a DPoP proof refreshes only with proofs by the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl SessionRecord {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Built once per refresh and matched at once.
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

/// Where a signing key is in its life, derived from the key ring and the time (see
/// `keyring`): every replica computes the same state without coordination. The admin API
/// shows it as is, so it is the wire type.
pub use sigil_proto::admin::KeyState;

/// A signing key as stored: the PKCS#8 PEM sealed with AES-256-GCM under the encryption key,
/// and the times that decide its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// 1 for the first key, +1 for each rotation. Unique: when replicas race to create the
    /// same generation, exactly one insert wins and the others adopt its key.
    pub generation: u64,
    pub private_key_sealed: String,
    /// Published from then on.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Signs from then on, until a key with a later `activate_at` takes over.
    #[serde(with = "time::serde::rfc3339")]
    pub activate_at: OffsetDateTime,
    /// Set by an emergency rotation: unpublished at once.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a one-time token is for; a token never works for another purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A mail waiting for delivery. The message itself (recipient, links carrying one-time
/// tokens) is sealed with the encryption key, so a copy of the store hands out no reset link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedMail {
    /// Also the message's `Message-ID`: a mail sent twice is one message to its receiver.
    pub id: String,
    /// The template it was rendered from, for logs.
    pub kind: String,
    pub sealed: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// Until then one delivery task holds the mail and no other takes it; a holder that dies
    /// leaves it to whoever claims after.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub leased_until: Option<OffsetDateTime>,
}

impl QueuedMail {
    /// Whether a claim at `now` may take it.
    pub fn claimable(&self, now: OffsetDateTime) -> bool {
        self.next_attempt_at <= now && self.leased_until.is_none_or(|until| until <= now)
    }
}

/// An emailed one-time token, stored as the SHA-256 digest of the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneTimeTokenRecord {
    pub digest: String,
    pub purpose: TokenPurpose,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl OneTimeTokenRecord {
    /// Kept this long past expiry, so that a late click answers "expired" rather than
    /// "unknown"; then purged.
    pub const GRACE: time::Duration = time::Duration::days(7);

    pub fn purge_at(&self) -> OffsetDateTime {
        self.expires_at + Self::GRACE
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConsumeOutcome {
    /// The token was valid and is now used up.
    Consumed(OneTimeTokenRecord),
    /// The token existed but had expired (it is gone now too).
    Expired,
    /// No such token for this purpose: never issued, already used, or purged.
    Unknown,
}

/// One security-relevant action (SPEC section 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, salvo::oapi::ToSchema)]
pub struct AuditEvent {
    /// Sorts by time: zero-padded Unix nanoseconds, then a random suffix.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Dotted name, e.g. `login.failed`, `user.registered`.
    pub action: String,
    /// Who acted, when known.
    pub actor_id: Option<Uuid>,
    /// Whom it concerned, when known.
    pub target_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Small structured details (an object, or null when there are none); never secrets.
    #[salvo(schema(value_type = Option<Object>))]
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new_id(at: OffsetDateTime) -> String {
        let nanos = u128::try_from(at.unix_timestamp_nanos()).unwrap_or_default();
        format!("{nanos:020}-{}", &Uuid::new_v4().simple().to_string()[..8])
    }
}

/// Which audit events to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events where this user is actor or target.
    pub user_id: Option<Uuid>,
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Cursor: only events with an id below this one.
    pub before_id: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.user_id
            .is_none_or(|u| e.actor_id == Some(u) || e.target_id == Some(u))
            && self.action.as_deref().is_none_or(|a| e.action == a)
            && self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at < u)
            && self.before_id.as_deref().is_none_or(|b| e.id.as_str() < b)
    }
}

/// The answer of one rate-limit counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// When the current window ends.
    pub reset_at: OffsetDateTime,
}
