//! Storage latency as a decorator: [`Metered`] wraps any store and times every call, so no
//! backend carries a timer of its own and a new backend is measured without a line of code.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prometheus::Histogram;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AuditEvent, AuditFilter, AuditStore, BearerState, ClientStore, CodeStore, ConsumeOutcome,
    GuardedUpdate, KeyStore, LockoutPolicy, MailQueueStore, OneTimeTokenRecord, OneTimeTokenStore,
    QueuedMail, RateDecision, RateLimitStore, RefreshOutcome, ResourceStore, SessionRecord,
    SessionStore, SigningKeyRecord, StoreResult, TokenPurpose, UserChange, UserQuery, UserStore,
};
use crate::domain::{ApiResource, ClientRecord, Login, ProfileUpdate, UserRecord};

/// A store whose every call is observed by `latency`, success or failure.
pub struct Metered<S: ?Sized> {
    inner: Arc<S>,
    latency: Histogram,
}

impl<S: ?Sized> Metered<S> {
    pub fn new(inner: Arc<S>, latency: Histogram) -> Self {
        Self { inner, latency }
    }
}

/// Implements a store trait for `Metered` by timing and forwarding each method.
macro_rules! metered {
    ($store:ident { $(fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty;)* }) => {
        #[async_trait]
        impl<S: $store + ?Sized> $store for Metered<S> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $out {
                    let _timer = self.latency.start_timer();
                    self.inner.$method($($arg),*).await
                }
            )*
        }
    };
}

metered!(UserStore {
    fn ping(&self) -> StoreResult<()>;
    fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>>;
    fn update_profile(&self, id: Uuid, update: &ProfileUpdate, now: OffsetDateTime)
        -> StoreResult<Option<UserRecord>>;
    fn set_password_hash(&self, id: Uuid, hash: &str, changed: bool, now: OffsetDateTime)
        -> StoreResult<bool>;
    fn record_login_failure(&self, id: Uuid, now: OffsetDateTime, policy: LockoutPolicy)
        -> StoreResult<Option<UserRecord>>;
    fn record_login_success(&self, id: Uuid, now: OffsetDateTime, device: Option<&str>)
        -> StoreResult<Option<UserRecord>>;
    fn set_status(
        &self,
        id: Uuid,
        status: crate::domain::UserStatus,
        email_verified: bool,
        now: OffsetDateTime
    ) -> StoreResult<Option<UserRecord>>;
    fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>>;
    fn count_users(&self) -> StoreResult<u64>;
    fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<UserRecord>, u64)>;
    fn update_user(&self, id: Uuid, change: UserChange) -> StoreResult<Option<UserRecord>>;
    fn update_user_keeping_an_admin(&self, id: Uuid, change: UserChange)
        -> StoreResult<GuardedUpdate>;
});

metered!(SessionStore {
    fn ping(&self) -> StoreResult<()>;
    fn create_session(&self, session: &SessionRecord, max_per_user: usize, now: OffsetDateTime)
        -> StoreResult<Vec<String>>;
    fn get_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime)
        -> StoreResult<Option<SessionRecord>>;
    fn list_sessions(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SessionRecord>>;
    fn rotate_refresh(&self, presented: &str, replacement: &str, now: OffsetDateTime)
        -> StoreResult<RefreshOutcome>;
    fn find_by_refresh(&self, digest: &str, now: OffsetDateTime)
        -> StoreResult<Option<SessionRecord>>;
    fn revoke_session(&self, user_id: Uuid, id: &str) -> StoreResult<Option<SessionRecord>>;
    fn revoke_user_sessions(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<Vec<String>>;
    fn revoke_client_sessions(&self, client_id: &str) -> StoreResult<u64>;
    fn block_jti(&self, jti: &str, until: OffsetDateTime) -> StoreResult<()>;
    fn is_jti_blocked(&self, jti: &str, now: OffsetDateTime) -> StoreResult<bool>;
    fn bearer_state(&self, jti: &str, user_id: Uuid, session_id: &str, now: OffsetDateTime)
        -> StoreResult<BearerState>;
    fn touch_session(&self, user_id: Uuid, id: &str, now: OffsetDateTime) -> StoreResult<()>;
    fn count_sessions(&self, now: OffsetDateTime) -> StoreResult<u64>;
    fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<u64>;
});

metered!(KeyStore {
    fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool>;
});

metered!(MailQueueStore {
    fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()>;
    fn claim_mail(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: usize)
        -> StoreResult<Vec<QueuedMail>>;
    fn retry_mail(&self, id: &str, attempts: u32, next_attempt_at: OffsetDateTime)
        -> StoreResult<()>;
    fn remove_mail(&self, id: &str) -> StoreResult<()>;
});

metered!(OneTimeTokenStore {
    fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()>;
    fn peek_token(&self, digest: &str, purpose: TokenPurpose, now: OffsetDateTime)
        -> StoreResult<ConsumeOutcome>;
    fn consume_token(&self, digest: &str, purpose: TokenPurpose, now: OffsetDateTime)
        -> StoreResult<ConsumeOutcome>;
    fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64>;
});

metered!(AuditStore {
    fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>>;
    fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64>;
});

metered!(ClientStore {
    fn insert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
    fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool>;
    fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    fn get_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<Vec<String>>>;
    fn put_consent(&self, user_id: Uuid, client_id: &str, scopes: &[String], now: OffsetDateTime)
        -> StoreResult<()>;
});

metered!(ResourceStore {
    fn insert_resource(&self, resource: &ApiResource) -> StoreResult<()>;
    fn get_resource(&self, id: Uuid) -> StoreResult<Option<ApiResource>>;
    fn find_resource(&self, identifier: &str) -> StoreResult<Option<ApiResource>>;
    fn list_resources(&self) -> StoreResult<Vec<ApiResource>>;
    fn replace_resource(&self, resource: &ApiResource) -> StoreResult<bool>;
    fn delete_resource(&self, id: Uuid) -> StoreResult<bool>;
});

metered!(CodeStore {
    fn put_code(&self, key: &str, value: &str, expires_at: OffsetDateTime) -> StoreResult<()>;
    fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>>;
    fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>>;
    fn put_new_code(&self, key: &str, value: &str, expires_at: OffsetDateTime, now: OffsetDateTime)
        -> StoreResult<bool>;
});

metered!(RateLimitStore {
    fn hit(&self, key: &str, hits: u64, limit: u64, window: Duration, now: OffsetDateTime)
        -> StoreResult<RateDecision>;
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    /// Every call through the decorator is observed exactly once.
    #[tokio::test]
    async fn every_call_is_timed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("metered.redb")).unwrap();
        let latency = Histogram::with_opts(prometheus::HistogramOpts::new("t", "t")).unwrap();
        let users: Arc<dyn UserStore> = Arc::new(store);
        let metered = Metered::new(users, latency.clone());
        metered.ping().await.unwrap();
        assert_eq!(metered.count_users().await.unwrap(), 0);
        assert!(metered.get_user(Uuid::new_v4()).await.unwrap().is_none());
        assert_eq!(latency.get_sample_count(), 3);
    }
}
