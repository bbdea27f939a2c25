//! The zero-setup backend: one redb file holds users, keys, sessions and token state.
//!
//! Every write is a redb transaction committed with immediate durability (fsync) before the
//! caller hears back, so an acknowledged write survives `kill -9`; the one exception is
//! `lastActivity` ([`EmbeddedStore::write_lazily`]). Rate-limit counters are not here at all
//! (`store::counters`). redb allows one writer at a
//! time, which makes every read-modify-write in these modules atomic.

mod audit;
mod clients;
mod codes;
mod keys;
mod mail;
mod resources;
mod sessions;
mod tables;
mod tokens;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, StoreResult};

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: writer::Writer,
    path: PathBuf,
    audit_retention: std::time::Duration,
}

/// Every redb failure is the store being unavailable: callers answer 503, never "not found".
macro_rules! unavailable_from {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for StoreError {
            fn from(err: $error) -> Self {
                StoreError::Unavailable(format!("embedded store: {}", redb::Error::from(err)))
            }
        }
    )*};
}

unavailable_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The JSON record stored under `key`, if any.
fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> StoreResult<Option<T>> {
    let row = table.get(key)?;
    row.map(|bytes| decode(bytes.value())).transpose()
}

fn put_json<T: Serialize>(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> StoreResult<()> {
    table.insert(key, encode(value)?.as_slice())?;
    Ok(())
}

/// Every record of a JSON table, in key order.
fn scan_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> StoreResult<Vec<(String, T)>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, bytes) = row?;
        out.push((key.value().to_owned(), decode(bytes.value())?));
    }
    Ok(out)
}

impl EmbeddedStore {
    /// The default of `SIGIL_EMBEDDED_CACHE_MIB`. redb's own default (1 GiB) would let the
    /// resident size grow with the database; the hot pages of a deployment that fits one
    /// machine (sessions, clients, the users signing in) fit in far less.
    pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

    /// Opens (or creates) the database file and its tables, with the default page cache.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_cache(path, Self::DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the database file and its tables; redb keeps at most `cache_bytes`
    /// of pages in memory.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> StoreResult<Self> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)?;
        let txn = db.begin_write()?;
        tables::create_all(&txn)?;
        txn.commit()?;
        let db = Arc::new(db);
        let writer = writer::Writer::start(&db)
            .map_err(|e| StoreError::Unavailable(format!("embedded store writer: {e}")))?;
        Ok(Self {
            db,
            writer,
            path: path.to_owned(),
            audit_retention: std::time::Duration::from_secs(90 * 86_400),
        })
    }

    /// How long audit events are kept before the sweep removes them.
    pub fn with_audit_retention(mut self, retention: std::time::Duration) -> Self {
        self.audit_retention = retention;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// redb is synchronous: run each operation on the blocking pool.
    async fn run<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    /// One read transaction: a consistent snapshot. Reads run on the calling thread: redb
    /// serves them from its page cache without waiting for writers (MVCC), in microseconds,
    /// which is less than a hop to the blocking pool and back would cost.
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> StoreResult<T> + Send + 'static,
    {
        op(&self.db.begin_read()?)
    }

    /// A read that walks a whole table (lists, counts): on the blocking pool, so that a large
    /// table never stalls the requests sharing a runtime thread.
    async fn scan<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> StoreResult<T> + Send + 'static,
    {
        self.run(move |db| op(&db.begin_read()?)).await
    }

    /// One write transaction, committed (fsync) before this returns when `op` succeeds and
    /// rolled back when it fails. Concurrent writes share a commit (`writer`), so `op` may run
    /// twice: it must decide from what it reads in `txn`, never from what an earlier run did.
    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        self.writer.submit(true, op).await
    }

    /// A write committed without an fsync: it becomes durable with the next durable commit,
    /// and a crash before that loses it (never a part of it: commits apply in order, whole).
    /// Only for state whose loss is harmless, such as `lastActivity`.
    async fn write_lazily<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        self.writer.submit(false, op).await
    }
}
