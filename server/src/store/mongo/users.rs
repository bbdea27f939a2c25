//! Users in MongoDB: collection `users`, unique indexes on the normalized email and
//! username, a revision counter for compare-and-swap updates.

use async_trait::async_trait;
use bson::{DateTime, doc};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    ADMIN_GUARD, Attempt, CAS_ATTEMPTS, Finish, META, MongoStore, bson_time, collect,
    is_duplicate_key, mongo_err,
};
use crate::domain::{Login, Mfa, ProfileUpdate, Role, UserRecord, UserStatus};
use crate::store::rules;
use crate::store::{
    Conflict, GuardedUpdate, LockoutPolicy, StoreError, StoreResult, UserChange, UserQuery,
    UserSort, UserStore,
};

/// A user as stored in the `users` collection.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UserDoc {
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
    #[serde(default)]
    last_failed_login: Option<DateTime>,
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
            last_failed_login: user.last_failed_login.map(bson_time),
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
            last_failed_login: self.last_failed_login.map(DateTime::to_time_0_3),
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

impl MongoStore {
    async fn find(&self, filter: bson::Document) -> StoreResult<Option<(UserRecord, i64)>> {
        match self.users.find_one(filter).await? {
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
        change: &UserChange,
    ) -> Result<GuardedUpdate, Attempt> {
        self.db
            .collection::<bson::Document>(META)
            .update_one(
                doc! { "_id": ADMIN_GUARD },
                doc! { "$inc": { "writes": 1 } },
            )
            .upsert(true)
            .session(&mut *session)
            .await?;
        let Some(found) = self
            .users
            .find_one(doc! { "_id": key })
            .session(&mut *session)
            .await?
        else {
            return Ok(GuardedUpdate::NotFound);
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
                .await?;
            if others == 0 {
                return Ok(GuardedUpdate::LastAdmin);
            }
        }
        self.users
            .replace_one(doc! { "_id": key }, UserDoc::from_record(&after, rev + 1))
            .session(&mut *session)
            .await?;
        Ok(GuardedUpdate::Updated(after))
    }

    /// Reads the user, applies `change`, writes it back only if nobody wrote in between;
    /// otherwise starts over. Writers on this replica take turns first, so the retries are
    /// left to writes from other replicas.
    async fn modify_user<F>(&self, id: Uuid, change: F) -> StoreResult<Option<UserRecord>>
    where
        F: Fn(&mut UserRecord) + Send + Sync,
    {
        let _turn = self.user_writes.enter(&id).await;
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
                .await?;
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
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(mongo_err)
    }

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        match self.users.insert_one(UserDoc::from_record(user, 0)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                // The error names the index in its message only; asking is more robust.
                let email_taken = self
                    .users
                    .find_one(doc! { "email_normalized": &user.email_normalized })
                    .await?
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
        Ok(self
            .find(doc! { "_id": id.to_string() })
            .await?
            .map(|(u, _)| u))
    }

    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>> {
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
        self.modify_user(id, |user| rules::login_failed(user, now, policy))
            .await
    }

    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>> {
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
        self.modify_user(id, |user| {
            user.status = status;
            user.email_verified = email_verified;
            user.updated_at = now;
        })
        .await
    }

    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, |user| rules::unlock(user, now)).await
    }

    async fn update_user(&self, id: Uuid, change: UserChange) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, |user| change(user)).await
    }

    /// One multi-document transaction (MongoDB deployments are replica sets). Every guarded
    /// change first writes the same guard document, so two of them in flight conflict and one
    /// retries and sees the other's result: a count alone would let two demotions both pass
    /// (write skew under snapshot isolation).
    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: UserChange,
    ) -> StoreResult<GuardedUpdate> {
        let _turn = self.user_writes.enter(&id).await;
        let key = id.to_string();
        self.transaction(|mut session| {
            let (key, change) = (&key, &change);
            async move {
                let attempt = self.guarded_change(&mut session, key, change).await;
                let finish = attempt.map(|outcome| match outcome {
                    GuardedUpdate::Updated(_) => Finish::Commit(outcome),
                    refused => Finish::Abort(refused),
                });
                (session, finish)
            }
        })
        .await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<UserRecord>, u64)> {
        let filter = user_filter(query)?;
        let total = self.users.count_documents(filter.clone()).await?;
        let direction = if query.descending { -1 } else { 1 };
        let field = match query.sort {
            UserSort::CreatedAt => "created_at",
            UserSort::Email => "email_normalized",
            UserSort::Username => "username_normalized",
            UserSort::LastLogin => "last_login",
        };
        let docs = self
            .users
            .find(filter)
            .sort(doc! { field: direction, "_id": direction })
            .skip(query.offset)
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .await?;
        let docs = collect(docs).await?;
        let users = docs
            .into_iter()
            .map(UserDoc::into_record)
            .collect::<StoreResult<_>>()?;
        Ok((users, total))
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.users.count_documents(doc! {}).await.map_err(mongo_err)
    }
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
fn user_filter(query: &UserQuery) -> StoreResult<bson::Document> {
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
