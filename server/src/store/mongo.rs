//! MongoDB for users and signing keys (SPEC section 2).
//!
//! Uniqueness of emails and usernames is enforced by unique indexes on their lower-cased
//! forms; a duplicate-key error (code 11000) becomes a `Conflict`. Read-modify-write updates
//! of a user are compare-and-swap on a revision counter, so concurrent updates (failed-login
//! counting on two replicas) are never lost.

use std::time::Duration;

use async_trait::async_trait;
use bson::{DateTime, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rules;
use super::{
    AuditEvent, AuditFilter, AuditStore, Conflict, ConsumeOutcome, KeyStore, LockoutPolicy,
    OneTimeTokenRecord, OneTimeTokenStore, SigningKeyRecord, StoreError, StoreResult, TokenPurpose,
    UserStore,
};
use crate::domain::{ClientRecord, Login, Mfa, ProfileUpdate, Role, UserRecord, UserStatus};

const DUPLICATE_KEY: i32 = 11000;
/// Compare-and-swap attempts before a user update gives up (503).
mod resources;

const CAS_ATTEMPTS: usize = 64;
/// Small documents of Sigil's own bookkeeping.
const META: &str = "meta";
/// Written by every guarded admin change, so that two of them conflict.
const ADMIN_GUARD: &str = "admin-guard";

/// One try of a transaction: retried whole when MongoDB says the error is transient.
enum Attempt {
    Retry,
    Fail(StoreError),
}

impl From<mongodb::error::Error> for Attempt {
    fn from(e: mongodb::error::Error) -> Self {
        if is_transient(&e) {
            Self::Retry
        } else {
            Self::Fail(mongo_err(e))
        }
    }
}

fn is_transient(e: &mongodb::error::Error) -> bool {
    e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
        || e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
}

fn mongo_err(err: mongodb::error::Error) -> StoreError {
    StoreError::Unavailable(format!("mongodb: {err}"))
}

fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
    )
}

fn bson_time(at: OffsetDateTime) -> DateTime {
    DateTime::from_time_0_3(at)
}

/// A user as stored in the `users` collection.
#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    email: String,
    email_normalized: String,
    username: String,
    username_normalized: String,
    password_hash: String,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    status: UserStatus,
    email_verified: bool,
    roles: Vec<Role>,
    failed_logins: i64,
    locked_until: Option<DateTime>,
    created_at: DateTime,
    updated_at: DateTime,
    last_login: Option<DateTime>,
    password_changed_at: DateTime,
    #[serde(default)]
    known_devices: Vec<String>,
    #[serde(default)]
    mfa: Mfa,
    /// Incremented on every write; the compare-and-swap guard.
    rev: i64,
}

impl UserDoc {
    fn from_record(user: &UserRecord, rev: i64) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            email_normalized: user.email_normalized.clone(),
            username: user.username.clone(),
            username_normalized: user.username_normalized.clone(),
            password_hash: user.password_hash.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            phone: user.phone.clone(),
            status: user.status,
            email_verified: user.email_verified,
            roles: user.roles.clone(),
            failed_logins: i64::from(user.failed_logins),
            locked_until: user.locked_until.map(bson_time),
            created_at: bson_time(user.created_at),
            updated_at: bson_time(user.updated_at),
            last_login: user.last_login.map(bson_time),
            password_changed_at: bson_time(user.password_changed_at),
            known_devices: user.known_devices.clone(),
            mfa: user.mfa.clone(),
            rev,
        }
    }

    fn into_record(self) -> StoreResult<UserRecord> {
        Ok(UserRecord {
            id: self
                .id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("user id {}: {e}", self.id)))?,
            email: self.email,
            email_normalized: self.email_normalized,
            username: self.username,
            username_normalized: self.username_normalized,
            password_hash: self.password_hash,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            status: self.status,
            email_verified: self.email_verified,
            roles: self.roles,
            failed_logins: u32::try_from(self.failed_logins).unwrap_or(u32::MAX),
            locked_until: self.locked_until.map(DateTime::to_time_0_3),
            created_at: self.created_at.to_time_0_3(),
            updated_at: self.updated_at.to_time_0_3(),
            last_login: self.last_login.map(DateTime::to_time_0_3),
            password_changed_at: self.password_changed_at.to_time_0_3(),
            known_devices: self.known_devices,
            mfa: self.mfa,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyDoc {
    #[serde(rename = "_id")]
    kid: String,
    generation: i64,
    private_key_sealed: String,
    created_at: DateTime,
    activate_at: DateTime,
    #[serde(default)]
    revoked_at: Option<DateTime>,
}

/// Connection settings for [`MongoStore::connect`].
#[derive(Debug, Clone)]
pub struct MongoSettings {
    pub uri: String,
    pub database: String,
    pub pool_size: u32,
    /// How long audit events are kept (TTL).
    pub audit_retention: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenDoc {
    /// The token's digest.
    #[serde(rename = "_id")]
    digest: String,
    purpose: TokenPurpose,
    user_id: String,
    created_at: DateTime,
    expires_at: DateTime,
    /// The TTL index removes the document after this time.
    purge_at: DateTime,
}

impl TokenDoc {
    fn into_record(self) -> StoreResult<OneTimeTokenRecord> {
        Ok(OneTimeTokenRecord {
            user_id: self
                .user_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("token user id: {e}")))?,
            digest: self.digest,
            purpose: self.purpose,
            created_at: self.created_at.to_time_0_3(),
            expires_at: self.expires_at.to_time_0_3(),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AuditDoc {
    #[serde(rename = "_id")]
    id: String,
    at: DateTime,
    action: String,
    actor_id: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: bson::Bson,
    purge_at: DateTime,
}

impl AuditDoc {
    fn into_event(self) -> StoreResult<AuditEvent> {
        let id = |v: Option<String>| -> StoreResult<Option<Uuid>> {
            v.map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("audit user id: {e}")))
            })
            .transpose()
        };
        Ok(AuditEvent {
            actor_id: id(self.actor_id)?,
            target_id: id(self.target_id)?,
            id: self.id,
            at: self.at.to_time_0_3(),
            action: self.action,
            ip: self.ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            details: self.details.into_relaxed_extjson(),
        })
    }
}

/// A client as stored: the record under its id.
#[derive(Debug, Serialize, Deserialize)]
struct ClientDoc {
    #[serde(rename = "_id")]
    client_id: String,
    created_at: DateTime,
    record: ClientRecord,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConsentDoc {
    /// `user id/client id`
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    client_id: String,
    scopes: Vec<String>,
    granted_at: DateTime,
}

#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    keys: Collection<KeyDoc>,
    tokens: Collection<TokenDoc>,
    audit: Collection<AuditDoc>,
    clients: Collection<ClientDoc>,
    consents: Collection<ConsentDoc>,
    audit_retention: Duration,
    latency: Option<prometheus::Histogram>,
}

impl MongoStore {
    /// Parses the URI and builds the client; no round trip yet (see [`MongoStore::prepare`]).
    pub async fn connect(settings: &MongoSettings) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(&settings.uri)
            .await
            .map_err(|e| StoreError::Unavailable(format!("SIGIL_MONGODB_URI: {e}")))?;
        options.app_name.get_or_insert_with(|| "sigil".to_owned());
        // Fail fast while MongoDB is down (answer 503) instead of holding requests for the
        // driver's default 30 s; the URI can still set its own values.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        options.max_pool_size = Some(settings.pool_size);
        let client = Client::with_options(options).map_err(mongo_err)?;
        let db = client.database(&settings.database);
        Ok(Self {
            users: db.collection("users"),
            keys: db.collection("signing_keys"),
            tokens: db.collection("one_time_tokens"),
            audit: db.collection("audit_events"),
            clients: db.collection("oauth_clients"),
            consents: db.collection("consents"),
            audit_retention: settings.audit_retention,
            latency: None,
            db,
        })
    }

    /// Reports every operation's latency to this histogram.
    pub fn with_latency(mut self, latency: prometheus::Histogram) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Observes the operation's duration when dropped.
    fn timer(&self) -> Option<prometheus::HistogramTimer> {
        self.latency
            .as_ref()
            .map(prometheus::Histogram::start_timer)
    }

    /// Creates the indexes (idempotent: creating an existing index is a no-op).
    pub async fn prepare(&self) -> StoreResult<()> {
        let unique = |field: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_owned())
                        .build(),
                )
                .build()
        };
        let plain = |field: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        self.users
            .create_indexes([
                unique("email_normalized", "uniq_email_normalized"),
                unique("username_normalized", "uniq_username_normalized"),
                plain("created_at", "by_created_at"),
                plain("status", "by_status"),
                plain("roles", "by_roles"),
                plain("last_login", "by_last_login"),
            ])
            .await
            .map_err(mongo_err)?;
        let ttl = |field: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .expire_after(Duration::ZERO)
                        .build(),
                )
                .build()
        };
        self.tokens
            .create_indexes([
                ttl("purge_at", "ttl_purge_at"),
                plain("user_id", "by_user_id"),
            ])
            .await
            .map_err(mongo_err)?;
        self.audit
            .create_indexes([
                ttl("purge_at", "ttl_purge_at"),
                plain("actor_id", "by_actor_id"),
                plain("target_id", "by_target_id"),
                plain("action", "by_action"),
            ])
            .await
            .map_err(mongo_err)?;
        self.clients
            .create_indexes([plain("created_at", "by_created_at")])
            .await
            .map_err(mongo_err)?;
        self.consents
            .create_indexes([plain("client_id", "by_client_id")])
            .await
            .map_err(mongo_err)?;
        self.keys
            .create_indexes([
                unique("generation", "uniq_generation"),
                plain("created_at", "by_created_at"),
            ])
            .await
            .map_err(mongo_err)?;
        self.prepare_resources().await?;
        // Transactions cannot always create collections: the guard exists before the first.
        self.db
            .collection::<bson::Document>(META)
            .update_one(
                doc! { "_id": ADMIN_GUARD },
                doc! { "$setOnInsert": { "writes": 0 } },
            )
            .upsert(true)
            .await
            .map_err(mongo_err)?;
        Ok(())
    }

    async fn find(&self, filter: bson::Document) -> StoreResult<Option<(UserRecord, i64)>> {
        match self.users.find_one(filter).await.map_err(mongo_err)? {
            Some(doc) => {
                let rev = doc.rev;
                Ok(Some((doc.into_record()?, rev)))
            }
            None => Ok(None),
        }
    }

    /// The body of [`UserStore::update_user_keeping_an_admin`]'s transaction.
    async fn guarded_change(
        &self,
        session: &mut ClientSession,
        key: &str,
        change: &super::UserChange,
    ) -> Result<super::GuardedUpdate, Attempt> {
        self.db
            .collection::<bson::Document>(META)
            .update_one(
                doc! { "_id": ADMIN_GUARD },
                doc! { "$inc": { "writes": 1 } },
            )
            .upsert(true)
            .session(&mut *session)
            .await
            .map_err(Attempt::from)?;
        let Some(found) = self
            .users
            .find_one(doc! { "_id": key })
            .session(&mut *session)
            .await
            .map_err(Attempt::from)?
        else {
            return Ok(super::GuardedUpdate::NotFound);
        };
        let rev = found.rev;
        let before = found.into_record().map_err(Attempt::Fail)?;
        let mut after = before.clone();
        change(&mut after);
        if rules::demotes_an_admin(&before, &after) {
            let others = self
                .users
                .count_documents(doc! {
                    "_id": { "$ne": key },
                    "status": UserStatus::Active.as_str(),
                    "roles": Role::Admin.as_str(),
                })
                .session(&mut *session)
                .await
                .map_err(Attempt::from)?;
            if others == 0 {
                return Ok(super::GuardedUpdate::LastAdmin);
            }
        }
        self.users
            .replace_one(doc! { "_id": key }, UserDoc::from_record(&after, rev + 1))
            .session(&mut *session)
            .await
            .map_err(Attempt::from)?;
        Ok(super::GuardedUpdate::Updated(after))
    }

    /// Reads the user, applies `change`, writes it back only if nobody wrote in between;
    /// otherwise starts over.
    async fn modify_user<F>(&self, id: Uuid, change: F) -> StoreResult<Option<UserRecord>>
    where
        F: Fn(&mut UserRecord) + Send + Sync,
    {
        let key = id.to_string();
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut user, rev)) = self.find(doc! { "_id": &key }).await? else {
                return Ok(None);
            };
            change(&mut user);
            let replaced = self
                .users
                .replace_one(
                    doc! { "_id": &key, "rev": rev },
                    UserDoc::from_record(&user, rev + 1),
                )
                .await
                .map_err(mongo_err)?;
            if replaced.matched_count == 1 {
                return Ok(Some(user));
            }
        }
        Err(StoreError::Unavailable(
            "mongodb: user record too contended, gave up".to_owned(),
        ))
    }
}

#[async_trait]
impl UserStore for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        let _timer = self.timer();
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(mongo_err)
    }

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        let _timer = self.timer();
        match self.users.insert_one(UserDoc::from_record(user, 0)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                // The error names the index in its message only; asking is more robust.
                let email_taken = self
                    .users
                    .find_one(doc! { "email_normalized": &user.email_normalized })
                    .await
                    .map_err(mongo_err)?
                    .is_some();
                Err(StoreError::Conflict(if email_taken {
                    Conflict::Email
                } else {
                    Conflict::Username
                }))
            }
            Err(e) => Err(mongo_err(e)),
        }
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        Ok(self
            .find(doc! { "_id": id.to_string() })
            .await?
            .map(|(u, _)| u))
    }

    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        let filter = match login {
            Login::Email(email) => doc! { "email_normalized": email },
            Login::Username(name) => doc! { "username_normalized": name },
        };
        Ok(self.find(filter).await?.map(|(u, _)| u))
    }

    async fn update_profile(
        &self,
        id: Uuid,
        update: &ProfileUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| {
            update.apply(user);
            user.updated_at = now;
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        changed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let _timer = self.timer();
        let updated = self
            .modify_user(id, |user| {
                user.password_hash = hash.to_owned();
                if changed {
                    user.password_changed_at = now;
                    user.updated_at = now;
                }
            })
            .await?;
        Ok(updated.is_some())
    }

    async fn record_login_failure(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| rules::login_failed(user, now, policy))
            .await
    }

    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| rules::login_succeeded(user, now, device))
            .await
    }

    async fn set_status(
        &self,
        id: Uuid,
        status: UserStatus,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| {
            user.status = status;
            user.email_verified = email_verified;
            user.updated_at = now;
        })
        .await
    }

    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| rules::unlock(user, now)).await
    }

    async fn update_user(
        &self,
        id: Uuid,
        change: super::UserChange,
    ) -> StoreResult<Option<UserRecord>> {
        let _timer = self.timer();
        self.modify_user(id, |user| change(user)).await
    }

    /// One multi-document transaction (MongoDB deployments are replica sets). Every guarded
    /// change first writes the same guard document, so two of them in flight conflict and one
    /// retries and sees the other's result: a count alone would let two demotions both pass
    /// (write skew under snapshot isolation).
    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: super::UserChange,
    ) -> StoreResult<super::GuardedUpdate> {
        let _timer = self.timer();
        let key = id.to_string();
        for _ in 0..CAS_ATTEMPTS {
            let mut session = self.db.client().start_session().await.map_err(mongo_err)?;
            session.start_transaction().await.map_err(mongo_err)?;
            let attempt = self.guarded_change(&mut session, &key, &change).await;
            let outcome = match attempt {
                Ok(super::GuardedUpdate::Updated(user)) => match session.commit_transaction().await
                {
                    Ok(()) => return Ok(super::GuardedUpdate::Updated(user)),
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => Err(mongo_err(e)),
                },
                Ok(refused) => Ok(refused),
                Err(Attempt::Retry) => {
                    session.abort_transaction().await.ok();
                    continue;
                }
                Err(Attempt::Fail(e)) => Err(e),
            };
            session.abort_transaction().await.ok();
            return outcome;
        }
        Err(StoreError::Unavailable(
            "mongodb: admin changes too contended, gave up".to_owned(),
        ))
    }

    async fn list_users(&self, query: &super::UserQuery) -> StoreResult<(Vec<UserRecord>, u64)> {
        let _timer = self.timer();
        use futures_util::TryStreamExt;
        let filter = user_filter(query)?;
        let total = self
            .users
            .count_documents(filter.clone())
            .await
            .map_err(mongo_err)?;
        let direction = if query.descending { -1 } else { 1 };
        let field = match query.sort {
            super::UserSort::CreatedAt => "created_at",
            super::UserSort::Email => "email_normalized",
            super::UserSort::Username => "username_normalized",
            super::UserSort::LastLogin => "last_login",
        };
        let docs: Vec<UserDoc> = self
            .users
            .find(filter)
            .sort(doc! { field: direction, "_id": direction })
            .skip(query.offset)
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_err)?
            .try_collect()
            .await
            .map_err(mongo_err)?;
        let users = docs
            .into_iter()
            .map(UserDoc::into_record)
            .collect::<StoreResult<_>>()?;
        Ok((users, total))
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let _timer = self.timer();
        self.users.count_documents(doc! {}).await.map_err(mongo_err)
    }
}

#[async_trait]
impl KeyStore for MongoStore {
    async fn revoke_key(&self, kid: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let _timer = self.timer();
        let found = self
            .keys
            .update_one(
                doc! { "_id": kid, "revoked_at": null },
                doc! { "$set": { "revoked_at": bson_time(at) } },
            )
            .await
            .map_err(mongo_err)?;
        if found.matched_count == 1 {
            return Ok(true);
        }
        Ok(self
            .keys
            .find_one(doc! { "_id": kid })
            .await
            .map_err(mongo_err)?
            .is_some())
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let _timer = self.timer();
        use futures_util::TryStreamExt;
        let docs: Vec<KeyDoc> = self
            .keys
            .find(doc! {})
            .sort(doc! { "generation": 1 })
            .await
            .map_err(mongo_err)?
            .try_collect()
            .await
            .map_err(mongo_err)?;
        Ok(docs
            .into_iter()
            .map(|d| SigningKeyRecord {
                kid: d.kid,
                generation: u64::try_from(d.generation).unwrap_or_default(),
                private_key_sealed: d.private_key_sealed,
                created_at: d.created_at.to_time_0_3(),
                activate_at: d.activate_at.to_time_0_3(),
                revoked_at: d.revoked_at.map(DateTime::to_time_0_3),
            })
            .collect())
    }

    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let _timer = self.timer();
        let doc = KeyDoc {
            kid: key.kid.clone(),
            generation: i64::try_from(key.generation).unwrap_or(i64::MAX),
            private_key_sealed: key.private_key_sealed.clone(),
            created_at: bson_time(key.created_at),
            activate_at: bson_time(key.activate_at),
            revoked_at: key.revoked_at.map(bson_time),
        };
        match self.keys.insert_one(doc).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(mongo_err(e)),
        }
    }
}

#[async_trait]
impl OneTimeTokenStore for MongoStore {
    async fn insert_token(&self, token: &OneTimeTokenRecord) -> StoreResult<()> {
        let _timer = self.timer();
        let doc = TokenDoc {
            digest: token.digest.clone(),
            purpose: token.purpose,
            user_id: token.user_id.to_string(),
            created_at: bson_time(token.created_at),
            expires_at: bson_time(token.expires_at),
            purge_at: bson_time(token.purge_at()),
        };
        self.tokens.insert_one(doc).await.map_err(mongo_err)?;
        Ok(())
    }

    async fn peek_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let _timer = self.timer();
        let purpose_bson =
            bson::to_bson(&purpose).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let found = self
            .tokens
            .find_one(doc! { "_id": digest, "purpose": purpose_bson })
            .await
            .map_err(mongo_err)?
            .map(TokenDoc::into_record)
            .transpose()?;
        Ok(rules::consumption(found, purpose, now))
    }

    async fn consume_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<ConsumeOutcome> {
        let _timer = self.timer();
        let purpose_bson =
            bson::to_bson(&purpose).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let found = self
            .tokens
            .find_one_and_delete(doc! { "_id": digest, "purpose": purpose_bson })
            .await
            .map_err(mongo_err)?
            .map(TokenDoc::into_record)
            .transpose()?;
        Ok(rules::consumption(found, purpose, now))
    }

    async fn revoke_tokens(&self, user_id: Uuid, purpose: TokenPurpose) -> StoreResult<u64> {
        let _timer = self.timer();
        let purpose_bson =
            bson::to_bson(&purpose).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let deleted = self
            .tokens
            .delete_many(doc! { "user_id": user_id.to_string(), "purpose": purpose_bson })
            .await
            .map_err(mongo_err)?;
        Ok(deleted.deleted_count)
    }
}

#[async_trait]
impl AuditStore for MongoStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let _timer = self.timer();
        let details =
            bson::to_bson(&event.details).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let doc = AuditDoc {
            id: event.id.clone(),
            at: bson_time(event.at),
            action: event.action.clone(),
            actor_id: event.actor_id.map(|u| u.to_string()),
            target_id: event.target_id.map(|u| u.to_string()),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            request_id: event.request_id.clone(),
            details,
            purge_at: bson_time(event.at + self.audit_retention),
        };
        self.audit.insert_one(doc).await.map_err(mongo_err)?;
        Ok(())
    }

    async fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64> {
        let _timer = self.timer();
        self.audit
            .count_documents(audit_filter(filter))
            .await
            .map_err(mongo_err)
    }

    async fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let _timer = self.timer();
        use futures_util::TryStreamExt;
        let query = audit_filter(filter);
        let docs: Vec<AuditDoc> = self
            .audit
            .find(query)
            .sort(doc! { "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_err)?
            .try_collect()
            .await
            .map_err(mongo_err)?;
        docs.into_iter().map(AuditDoc::into_event).collect()
    }
}

fn client_doc(client: &ClientRecord) -> ClientDoc {
    ClientDoc {
        client_id: client.client_id.clone(),
        created_at: bson_time(client.created_at),
        record: client.clone(),
    }
}

#[async_trait]
impl super::ClientStore for MongoStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let _timer = self.timer();
        match self.clients.insert_one(client_doc(client)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(Conflict::Username)),
            Err(e) => Err(mongo_err(e)),
        }
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let _timer = self.timer();
        Ok(self
            .clients
            .find_one(doc! { "_id": client_id })
            .await
            .map_err(mongo_err)?
            .map(|d| d.record))
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let _timer = self.timer();
        use futures_util::TryStreamExt;
        let docs: Vec<ClientDoc> = self
            .clients
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(mongo_err)?
            .try_collect()
            .await
            .map_err(mongo_err)?;
        Ok(docs.into_iter().map(|d| d.record).collect())
    }

    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let _timer = self.timer();
        let replaced = self
            .clients
            .replace_one(doc! { "_id": &client.client_id }, client_doc(client))
            .await
            .map_err(mongo_err)?;
        Ok(replaced.matched_count == 1)
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let _timer = self.timer();
        let deleted = self
            .clients
            .delete_one(doc! { "_id": client_id })
            .await
            .map_err(mongo_err)?;
        self.consents
            .delete_many(doc! { "client_id": client_id })
            .await
            .map_err(mongo_err)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn get_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let _timer = self.timer();
        Ok(self
            .consents
            .find_one(doc! { "_id": format!("{user_id}/{client_id}") })
            .await
            .map_err(mongo_err)?
            .map(|d| d.scopes))
    }

    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let _timer = self.timer();
        let id = format!("{user_id}/{client_id}");
        let doc = ConsentDoc {
            id: id.clone(),
            user_id: user_id.to_string(),
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
            granted_at: bson_time(now),
        };
        self.consents
            .replace_one(doc! { "_id": id }, doc)
            .upsert(true)
            .await
            .map_err(mongo_err)?;
        Ok(())
    }
}

/// The MongoDB filter of an audit query.
fn audit_filter(filter: &AuditFilter) -> bson::Document {
    let mut query = doc! {};
    if let Some(user) = filter.user_id {
        let user = user.to_string();
        query.insert(
            "$or",
            vec![doc! { "actor_id": &user }, doc! { "target_id": &user }],
        );
    }
    if let Some(action) = &filter.action {
        query.insert("action", action);
    }
    let mut at = doc! {};
    if let Some(since) = filter.since {
        at.insert("$gte", bson_time(since));
    }
    if let Some(until) = filter.until {
        at.insert("$lt", bson_time(until));
    }
    if !at.is_empty() {
        query.insert("at", at);
    }
    if let Some(before) = &filter.before_id {
        query.insert("_id", doc! { "$lt": before });
    }
    query
}

/// Regex metacharacters escaped, so a search is literal text.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}-/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The MongoDB filter of a user query. Status and role use their indexes; the search is a
/// substring match on the lower-cased email and username.
fn user_filter(query: &super::UserQuery) -> StoreResult<bson::Document> {
    let mut filter = doc! {};
    if let Some(status) = query.status {
        filter.insert("status", status.as_str());
    }
    if let Some(role) = query.role {
        filter.insert("roles", role.as_str());
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = regex_literal(search);
        filter.insert(
            "$or",
            vec![
                doc! { "email_normalized": { "$regex": &pattern } },
                doc! { "username_normalized": { "$regex": &pattern } },
            ],
        );
    }
    Ok(filter)
}
