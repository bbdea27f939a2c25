//! What every backend implements, and the values its methods take and give.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use super::records::{
    AuditEvent, AuditFilter, ConsumeOutcome, OneTimeTokenRecord, QueuedMail, RateDecision,
    RefreshOutcome, SessionRecord, SigningKeyRecord, TokenPurpose,
};
use crate::domain::{ApiResource, ClientRecord, Login, ProfileUpdate, UserRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Email,
    Username,
    /// An API resource with this identifier exists.
    ResourceIdentifier,
}

#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend cannot be reached or failed to answer: callers answer 503 and never treat
    /// this as "not found".
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("unique value already taken: {0:?}")]
    Conflict(Conflict),
    #[error("stored record cannot be read: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The store's half of a bearer check ([`SessionStore::bearer_state`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BearerState {
    pub jti_blocked: bool,
    pub session: Option<SessionRecord>,
}

/// When repeated login failures lock an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub duration: Duration,
}

/// How the admin API lists users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    #[default]
    CreatedAt,
    Email,
    Username,
    LastLogin,
}

/// A page of users matching filters.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub status: Option<crate::domain::UserStatus>,
    pub role: Option<crate::domain::Role>,
    /// Lower-case text found anywhere in the email or username.
    pub search: Option<String>,
    pub sort: UserSort,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

/// A change to a user record; may run more than once, so it must only depend on the record.
pub type UserChange = Arc<dyn Fn(&mut UserRecord) + Send + Sync>;

/// Users (MongoDB in production).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Answers when the backend can serve requests right now.
    async fn ping(&self) -> StoreResult<()>;
    /// Inserts a new user; a taken email or username (case-insensitive) is a `Conflict`.
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>>;
    async fn update_profile(
        &self,
        id: Uuid,
        update: &ProfileUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>>;
    /// Replaces the password hash; `changed` says whether the password itself changed (a
    /// rehash with new parameters keeps `password_changed_at`).
    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        changed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Counts a failed login atomically and locks the account when the count reaches the
    /// threshold. Returns the user as it is afterwards.
    async fn record_login_failure(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<UserRecord>>;
    /// Clears failures and the lock, stamps `last_login` and remembers the device
    /// fingerprint. Returns the user as it is afterwards.
    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>>;
    /// Sets status and verification flag (verification, suspension, deletion).
    async fn set_status(
        &self,
        id: Uuid,
        status: crate::domain::UserStatus,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>>;
    /// Clears failures and the lock (a password reset, an admin unlock).
    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// One page of the users matching the query, and how many match in all.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<UserRecord>, u64)>;
    /// Applies `change` to the user atomically (re-applied if another writer got in first)
    /// and returns the user as stored afterwards. For changes decided by [`rules`](super::rules) that
    /// need no dedicated query.
    async fn update_user(&self, id: Uuid, change: UserChange) -> StoreResult<Option<UserRecord>>;
    /// Like `update_user`, but refuses a change that would leave no active admin
    /// ([`rules::demotes_an_admin`](super::rules::demotes_an_admin) with no other active admin). The count and the write are one
    /// atomic unit: of two concurrent demotions of the last two admins, one is refused.
    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: UserChange,
    ) -> StoreResult<GuardedUpdate>;
}

/// The answer of [`UserStore::update_user_keeping_an_admin`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Built once per change and matched at once.
pub enum GuardedUpdate {
    Updated(UserRecord),
    NotFound,
    /// Nothing was written: the user is the last active admin.
    LastAdmin,
}

/// Sessions, their refresh tokens and blocked access-token ids (Redis in production).
///
/// Expired entries are never returned, whether or not a sweep has removed them yet.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Answers when the backend can serve requests right now.
    async fn ping(&self) -> StoreResult<()>;
    /// Stores a session and indexes its refresh token. If the user then has more than
    /// `max_per_user` live sessions, the oldest are revoked; their ids are returned.
    async fn create_session(
        &self,
        session: &SessionRecord,
        max_per_user: usize,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<String>>;
    /// Sessions are addressed by user and id: every session belongs to one user, and backends
    /// keep a user's sessions together (one Redis hash slot).
    async fn get_session(
        &self,
        user_id: Uuid,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Atomically swaps the refresh token digest `presented` for `replacement` and slides the
    /// session's expiry to `now + ttl`. A digest that was rotated out before is reuse: the
    /// whole session is revoked.
    async fn rotate_refresh(
        &self,
        presented: &str,
        replacement: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RefreshOutcome>;
    /// The live session whose current refresh token has this digest.
    async fn find_by_refresh(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn revoke_session(&self, user_id: Uuid, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// Revokes every session of the user except `keep`; returns the revoked ids.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Revokes every session of the client, whoever's (the client was deleted); returns how
    /// many. Rare, so backends may scan.
    async fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64>;
    /// Blocks an access token id until `until` (its expiry).
    async fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()>;
    async fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool>;
    /// What a bearer check reads, in one round trip: whether `jti` is blocked, and the live
    /// session `session_id` of `user_id`, as [`Self::is_jti_blocked`] and
    /// [`Self::get_session`] would answer.
    async fn bearer_state(
        &self,
        jti: &str,
        user_id: Uuid,
        session_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<BearerState>;
    /// Updates `last_activity` (and nothing else) of a live session.
    async fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// How many live sessions exist (all users), for the admin dashboard.
    async fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64>;
    /// Removes what has expired; returns how many entries went. Backends with native expiry
    /// (Redis) have nothing to do here.
    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// Signing keys (MongoDB in production); private keys arrive already encrypted.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Inserts a key; `false` (and nothing written) when its kid or its generation is taken.
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    /// Marks a key revoked (if it is not already); `false` if there is no such key.
    async fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool>;
}

/// Emailed one-time tokens (MongoDB in production, with a TTL index).
#[async_trait]
pub trait OneTimeTokenStore: Send + Sync {
    async fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()>;
    /// What consuming would answer, without using the token up.
    async fn peek_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome>;
    /// Uses the token up, atomically: of two concurrent uses exactly one gets `Consumed`.
    async fn consume_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome>;
    /// Deletes the user's outstanding tokens of this purpose; returns how many.
    async fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64>;
}

/// Mail waiting for delivery (MongoDB in production), so that neither a crash nor a restart
/// loses one: a mail leaves the queue only when it was delivered or given up.
#[async_trait]
pub trait MailQueueStore: Send + Sync {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()>;
    /// Up to `limit` mails that are [claimable](QueuedMail::claimable) at `now`, oldest due
    /// first, each now held until `lease_until`; concurrent claims never take the same mail.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<QueuedMail>>;
    /// Failed this time: released, with its attempt count, for another try at `next_attempt_at`.
    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Delivered or given up: gone.
    async fn remove_mail(&self, id: &str) -> StoreResult<()>;
}

/// Audit events (MongoDB in production, purged after the retention period).
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first, at most `limit`.
    async fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>>;
    async fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64>;
}

/// OAuth clients and the consents users gave them (MongoDB in production).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// A taken client id is a `Conflict` (ids are random, so this is a bug or an attack).
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    /// Oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
    /// Replaces an existing client; `false` if there is none.
    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool>;
    /// Deletes the client and every consent given to it.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    /// The scopes the user granted the client, if any.
    async fn get_consent(&self, user_id: Uuid, client_id: &str)
    -> StoreResult<Option<Vec<String>>>;
    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
}

/// API resources (RFC 8707) that access tokens can be addressed to (MongoDB in production).
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// A taken identifier is a `Conflict(ResourceIdentifier)`.
    async fn insert_resource(&self, resource: &ApiResource) -> StoreResult<()>;
    async fn get_resource(&self, id: Uuid) -> StoreResult<Option<ApiResource>>;
    async fn find_resource(&self, identifier: &str) -> StoreResult<Option<ApiResource>>;
    /// Oldest first.
    async fn list_resources(&self) -> StoreResult<Vec<ApiResource>>;
    /// Replaces an existing resource, found by id; its identifier never changes. `false` if
    /// there is none.
    async fn replace_resource(&self, resource: &ApiResource) -> StoreResult<bool>;
    async fn delete_resource(&self, id: Uuid) -> StoreResult<bool>;
}

/// Short-lived single-use codes: MFA challenges, later authorization codes (Redis in
/// production). Values are opaque strings; keys are namespaced by the caller.
#[async_trait]
pub trait CodeStore: Send + Sync {
    async fn put_code(&self, key: &str, value: &str, expires_at: OffsetDateTime)
    -> StoreResult<()>;
    /// The value, if the code exists and has not expired; the code stays.
    async fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>>;
    /// The value, removing the code atomically: of two concurrent takes one gets it.
    async fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>>;
    /// Stores the code only if no live one has this key, atomically: of two concurrent
    /// calls one gets `true`. What replay checks (a `jti` seen once) are made of.
    async fn put_new_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// Fixed-window counters shared by every replica (Redis in production).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Counts `hits` hits on `key` in the window containing `now` and says whether the count
    /// is within `limit`.
    async fn hit(
        &self,
        key: &str,
        hits: u64,
        limit: u64,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision>;
}
