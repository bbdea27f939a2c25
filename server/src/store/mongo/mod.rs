//! MongoDB for users, signing keys, one-time tokens, audit, clients and resources (SPEC
//! section 2), one module per store trait.
//!
//! Uniqueness of emails and usernames is enforced by unique indexes on their lower-cased
//! forms; a duplicate-key error (code 11000) becomes a `Conflict`. Read-modify-write updates
//! of a user are compare-and-swap on a revision counter, so concurrent updates (failed-login
//! counting on two replicas) are never lost.

mod audit;
mod clients;
mod keys;
mod lanes;
mod mail;
mod resources;
mod tokens;
mod users;

use std::future::Future;
use std::time::Duration;

use bson::{DateTime, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use time::OffsetDateTime;

use super::{StoreError, StoreResult};

const DUPLICATE_KEY: i32 = 11000;
/// Compare-and-swap attempts (and transaction retries) before an update gives up (503).
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

/// How a transaction body ends: keep its writes, or drop them and still answer.
enum Finish<T> {
    Commit(T),
    Abort(T),
}

impl From<mongodb::error::Error> for Attempt {
    fn from(e: mongodb::error::Error) -> Self {
        if is_transient(&e) {
            Self::Retry
        } else {
            Self::Fail(e.into())
        }
    }
}

/// Every driver failure is the store being unavailable: callers answer 503, never "not
/// found". Duplicate keys are told apart where a write can meet one.
impl From<mongodb::error::Error> for StoreError {
    fn from(err: mongodb::error::Error) -> Self {
        StoreError::Unavailable(format!("mongodb: {err}"))
    }
}

fn is_transient(e: &mongodb::error::Error) -> bool {
    e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
        || e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
}

fn mongo_err(err: mongodb::error::Error) -> StoreError {
    err.into()
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

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// Every document a cursor yields.
async fn collect<T>(cursor: mongodb::Cursor<T>) -> StoreResult<Vec<T>>
where
    T: serde::de::DeserializeOwned + Unpin + Send + Sync,
{
    use futures_util::TryStreamExt;
    Ok(cursor.try_collect().await?)
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

#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<users::UserDoc>,
    keys: Collection<keys::KeyDoc>,
    tokens: Collection<tokens::TokenDoc>,
    audit: Collection<audit::AuditDoc>,
    clients: Collection<clients::ClientDoc>,
    consents: Collection<clients::ConsentDoc>,
    mail: Collection<mail::MailDoc>,
    audit_retention: Duration,
    /// Queues this replica's writers of one user (see [`lanes`]).
    user_writes: std::sync::Arc<lanes::WriteLanes>,
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
        let client = Client::with_options(options)?;
        let db = client.database(&settings.database);
        Ok(Self {
            users: db.collection("users"),
            keys: db.collection("signing_keys"),
            tokens: db.collection("one_time_tokens"),
            audit: db.collection("audit_events"),
            clients: db.collection("oauth_clients"),
            consents: db.collection("consents"),
            mail: db.collection("mail_queue"),
            audit_retention: settings.audit_retention,
            user_writes: std::sync::Arc::new(lanes::WriteLanes::new()),
            db,
        })
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
            .await?;
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
            .await?;
        self.audit
            .create_indexes([
                ttl("purge_at", "ttl_purge_at"),
                plain("actor_id", "by_actor_id"),
                plain("target_id", "by_target_id"),
                plain("action", "by_action"),
            ])
            .await?;
        self.clients
            .create_indexes([plain("created_at", "by_created_at")])
            .await?;
        self.consents
            .create_indexes([plain("client_id", "by_client_id")])
            .await?;
        self.keys
            .create_indexes([
                unique("generation", "uniq_generation"),
                plain("created_at", "by_created_at"),
            ])
            .await?;
        self.mail
            .create_indexes([plain("next_attempt_at", "by_next_attempt_at")])
            .await?;
        self.prepare_resources().await?;
        // Transactions cannot always create collections: the guard exists before the first.
        self.db
            .collection::<bson::Document>(META)
            .update_one(
                doc! { "_id": ADMIN_GUARD },
                doc! { "$setOnInsert": { "writes": 0 } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Runs `body` in one multi-document transaction (MongoDB deployments are replica sets),
    /// retried whole while MongoDB calls the failure transient. The session travels through
    /// `body` and back, which keeps the borrow of it out of the closure's signature.
    async fn transaction<T, F, Fut>(&self, mut body: F) -> StoreResult<T>
    where
        F: FnMut(ClientSession) -> Fut,
        Fut: Future<Output = (ClientSession, Result<Finish<T>, Attempt>)>,
    {
        for _ in 0..CAS_ATTEMPTS {
            let mut session = self.db.client().start_session().await?;
            session.start_transaction().await?;
            let (mut session, attempt) = body(session).await;
            match attempt {
                Ok(Finish::Commit(out)) => match session.commit_transaction().await {
                    Ok(()) => return Ok(out),
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => return Err(e.into()),
                },
                Ok(Finish::Abort(out)) => {
                    session.abort_transaction().await.ok();
                    return Ok(out);
                }
                Err(Attempt::Retry) => {
                    session.abort_transaction().await.ok();
                }
                Err(Attempt::Fail(e)) => {
                    session.abort_transaction().await.ok();
                    return Err(e);
                }
            }
        }
        Err(StoreError::Unavailable(
            "mongodb: transaction too contended, gave up".to_owned(),
        ))
    }
}
