//! Users in the embedded store: a table by id and unique indexes by normalized email and
//! username, written in the same transaction as the record.

use async_trait::async_trait;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::{USERS, USERS_BY_EMAIL, USERS_BY_USERNAME};
use super::{EmbeddedStore, get_json, put_json, scan_json};
use crate::domain::{Login, ProfileUpdate, UserRecord, UserStatus};
use crate::store::rules;
use crate::store::{
    Conflict, GuardedUpdate, LockoutPolicy, StoreError, StoreResult, UserChange, UserQuery,
    UserStore,
};

fn read_user(txn: &ReadTransaction, id: &str) -> StoreResult<Option<UserRecord>> {
    get_json(&txn.open_table(USERS)?, id)
}

/// Reads a user, changes it with `change` and writes it back, inside the caller's transaction.
fn modify_user(
    txn: &WriteTransaction,
    id: Uuid,
    change: impl FnOnce(&mut UserRecord),
) -> StoreResult<Option<UserRecord>> {
    let mut users = txn.open_table(USERS)?;
    let key = id.to_string();
    let Some(mut user) = get_json::<UserRecord>(&users, &key)? else {
        return Ok(None);
    };
    change(&mut user);
    put_json(&mut users, &key, &user)?;
    Ok(Some(user))
}

impl EmbeddedStore {
    async fn modify_user<F>(&self, id: Uuid, change: F) -> StoreResult<Option<UserRecord>>
    where
        F: Fn(&mut UserRecord) + Send + 'static,
    {
        self.write(move |txn| modify_user(txn, id, &change)).await
    }
}

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|_| Ok(())).await
    }

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |txn| {
            let id = user.id.to_string();
            let mut by_email = txn.open_table(USERS_BY_EMAIL)?;
            if by_email.get(user.email_normalized.as_str())?.is_some() {
                return Err(StoreError::Conflict(Conflict::Email));
            }
            let mut by_username = txn.open_table(USERS_BY_USERNAME)?;
            if by_username
                .get(user.username_normalized.as_str())?
                .is_some()
            {
                return Err(StoreError::Conflict(Conflict::Username));
            }
            by_email.insert(user.email_normalized.as_str(), id.as_str())?;
            by_username.insert(user.username_normalized.as_str(), id.as_str())?;
            put_json(&mut txn.open_table(USERS)?, &id, &user)
        })
        .await
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        self.read(move |txn| read_user(txn, &id.to_string())).await
    }

    async fn find_user(&self, login: &Login) -> StoreResult<Option<UserRecord>> {
        let login = login.clone();
        self.read(move |txn| {
            let (index, key) = match &login {
                Login::Email(email) => (USERS_BY_EMAIL, email.as_str()),
                Login::Username(name) => (USERS_BY_USERNAME, name.as_str()),
            };
            let id = txn
                .open_table(index)?
                .get(key)?
                .map(|id| id.value().to_owned());
            match id {
                Some(id) => read_user(txn, &id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn update_profile(
        &self,
        id: Uuid,
        update: &ProfileUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        let update = update.clone();
        self.modify_user(id, move |user| {
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
        let hash = hash.to_owned();
        let updated = self
            .modify_user(id, move |user| {
                user.password_hash.clone_from(&hash);
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
        self.modify_user(id, move |user| rules::login_failed(user, now, policy))
            .await
    }

    async fn record_login_success(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Option<UserRecord>> {
        let device = device.map(str::to_owned);
        self.modify_user(id, move |user| {
            rules::login_succeeded(user, now, device.as_deref())
        })
        .await
    }

    async fn set_status(
        &self,
        id: Uuid,
        status: UserStatus,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| {
            user.status = status;
            user.email_verified = email_verified;
            user.updated_at = now;
        })
        .await
    }

    async fn unlock(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| rules::unlock(user, now))
            .await
    }

    async fn update_user(&self, id: Uuid, change: UserChange) -> StoreResult<Option<UserRecord>> {
        self.modify_user(id, move |user| change(user)).await
    }

    async fn update_user_keeping_an_admin(
        &self,
        id: Uuid,
        change: UserChange,
    ) -> StoreResult<GuardedUpdate> {
        // redb has one writer at a time: counting inside the write transaction is atomic.
        self.write(move |txn| {
            let mut users = txn.open_table(USERS)?;
            let key = id.to_string();
            let Some(before) = get_json::<UserRecord>(&users, &key)? else {
                return Ok(GuardedUpdate::NotFound);
            };
            let mut after = before.clone();
            change(&mut after);
            if rules::demotes_an_admin(&before, &after) {
                let others = scan_json::<UserRecord>(&users)?
                    .into_iter()
                    .filter(|(other, user)| *other != key && rules::is_active_admin(user))
                    .count();
                if others == 0 {
                    return Ok(GuardedUpdate::LastAdmin);
                }
            }
            put_json(&mut users, &key, &after)?;
            Ok(GuardedUpdate::Updated(after))
        })
        .await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<UserRecord>, u64)> {
        let query = query.clone();
        self.scan(move |txn| {
            let mut matching: Vec<UserRecord> = scan_json(&txn.open_table(USERS)?)?
                .into_iter()
                .map(|(_, user)| user)
                .filter(|user| rules::user_matches(&query, user))
                .collect();
            rules::sort_users(&mut matching, &query);
            let total = matching.len() as u64;
            let page = matching
                .into_iter()
                .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
                .collect();
            Ok((page, total))
        })
        .await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.scan(|txn| Ok(txn.open_table(USERS)?.len()?)).await
    }
}
