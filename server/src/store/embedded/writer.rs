//! Group commit: one writer thread runs every write transaction, and the writes that queued
//! up while the previous commit was syncing share the next transaction and its one fsync.
//!
//! redb allows one writer at a time and each durable commit costs an fsync, so with one
//! transaction per request the fsync rate caps every write-heavy path (refresh rotation,
//! login). Batching keeps each operation's promise: an operation is acknowledged only after
//! the commit that holds it is durable, operations apply in arrival order and each sees the
//! ones before it, and each is all-or-nothing. For the last point, when any operation of a
//! batch fails the whole transaction is dropped and every operation of the batch runs again
//! in a transaction of its own, so one failure never takes its neighbours' writes with it.
//! That re-run is why operations are `Fn`, not `FnOnce`: they read again what they decide on.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// At most this many operations share one transaction, so a burst never builds one
/// transaction large enough to stall the writes queued behind it.
const MAX_BATCH: usize = 64;

/// Writes waiting for the writer; callers wait (asynchronously) when it is full.
const QUEUE: usize = 1024;

type Output = Box<dyn Any + Send>;
type Operation = Box<dyn Fn(&WriteTransaction) -> StoreResult<Output> + Send>;

struct Job {
    operation: Operation,
    /// false for state whose loss in a crash is harmless (`lastActivity`): a batch of such
    /// writes alone commits without an fsync.
    durable: bool,
    reply: oneshot::Sender<StoreResult<Output>>,
}

/// The handle every clone of the store shares; the writer thread ends when the last one
/// is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// The thread holds the database weakly: the file closes (and its lock is released) as
    /// soon as the last store handle is dropped, as it would without a writer thread, so a
    /// restart in the same process can open it again at once.
    pub(super) fn start(db: &Arc<Database>) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let db = Arc::downgrade(db);
        std::thread::Builder::new()
            .name("sigil-store-writer".into())
            .spawn(move || run(&db, jobs))?;
        Ok(Self { queue })
    }

    /// Runs `operation` in the next transaction and answers once that is committed.
    pub(super) async fn submit<T, F>(&self, durable: bool, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            operation: Box::new(move |txn| operation(txn).map(|out| Box::new(out) as Output)),
            durable,
            reply,
        };
        let gone = || StoreError::Unavailable("embedded store writer has stopped".into());
        self.queue.send(job).await.map_err(|_| gone())?;
        let out = answer.await.map_err(|_| gone())??;
        out.downcast::<T>()
            .map(|out| *out)
            .map_err(|_| StoreError::Unavailable("embedded store writer mixed up replies".into()))
    }
}

fn run(db: &Weak<Database>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match db.upgrade() {
            Some(db) => commit(&db, batch),
            None => {
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(
                        "embedded store is closed".into(),
                    )));
                }
            }
        }
    }
}

fn commit(db: &Database, batch: Vec<Job>) {
    if batch.len() > 1 {
        match together(db, &batch) {
            Together::Committed(outputs) => {
                for (job, out) in batch.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(out));
                }
                return;
            }
            Together::CommitFailed(err) => {
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(err.clone())));
                }
                return;
            }
            Together::OperationFailed => {}
        }
    }
    for job in batch {
        let out = alone(db, &job);
        let _ = job.reply.send(out);
    }
}

enum Together {
    Committed(Vec<Output>),
    /// Nothing of the batch was written; each operation runs again on its own.
    OperationFailed,
    /// Nothing of the batch was written and the store itself failed: no retry.
    CommitFailed(String),
}

fn together(db: &Database, batch: &[Job]) -> Together {
    let durable = batch.iter().any(|job| job.durable);
    let Ok(txn) = begin(db, durable) else {
        return Together::OperationFailed;
    };
    let mut outputs = Vec::with_capacity(batch.len());
    for job in batch {
        match apply(&txn, &job.operation) {
            Ok(out) => outputs.push(out),
            Err(_) => return Together::OperationFailed,
        }
    }
    match txn.commit() {
        Ok(()) => Together::Committed(outputs),
        Err(err) => Together::CommitFailed(StoreError::from(err).to_string()),
    }
}

fn alone(db: &Database, job: &Job) -> StoreResult<Output> {
    let txn = begin(db, job.durable)?;
    let out = apply(&txn, &job.operation)?;
    txn.commit()?;
    Ok(out)
}

fn begin(db: &Database, durable: bool) -> StoreResult<WriteTransaction> {
    let mut txn = db.begin_write()?;
    if !durable {
        txn.set_durability(Durability::None)
            .map_err(|e| StoreError::Unavailable(format!("embedded store: {e}")))?;
    }
    Ok(txn)
}

/// A panicking operation fails alone instead of taking the writer thread, and with it every
/// later write, down.
fn apply(txn: &WriteTransaction, operation: &Operation) -> StoreResult<Output> {
    catch_unwind(AssertUnwindSafe(|| operation(txn))).unwrap_or_else(|_| {
        Err(StoreError::Unavailable(
            "embedded store operation panicked".into(),
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");

    fn open() -> (tempfile::TempDir, Arc<Database>, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("w.redb")).unwrap());
        let writer = Writer::start(&db).unwrap();
        (dir, db, writer)
    }

    fn count(db: &Database, key: &str) -> Option<u64> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(COUNTS).ok()?;
        table.get(key).unwrap().map(|v| v.value())
    }

    fn increment(txn: &WriteTransaction, key: &str) -> StoreResult<u64> {
        let mut table = txn.open_table(COUNTS)?;
        let next = table.get(key)?.map_or(0, |v| v.value()) + 1;
        table.insert(key, next)?;
        Ok(next)
    }

    /// Holds the writer inside an operation until the returned sender is dropped, so that
    /// everything submitted meanwhile queues up and shares the next transaction.
    async fn hold(writer: &Writer) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let (started, running) = oneshot::channel::<()>();
        let started = std::sync::Mutex::new(Some(started));
        let w = writer.clone();
        let held = tokio::spawn(async move {
            w.submit(true, move |_| {
                if let Some(started) = started.lock().unwrap().take() {
                    let _ = started.send(());
                }
                let _ = released.lock().unwrap().recv();
                Ok(())
            })
            .await
            .unwrap();
        });
        running.await.unwrap();
        (release, held)
    }

    async fn queued(writer: &Writer, n: usize) {
        while writer.queue.max_capacity() - writer.queue.capacity() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_read_modify_writes_each_see_the_ones_before() {
        let (_dir, db, writer) = open();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let w = writer.clone();
                tokio::spawn(async move { w.submit(true, |txn| increment(txn, "n")).await })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap().unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=200).collect::<Vec<u64>>());
        assert_eq!(count(&db, "n"), Some(200));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_takes_only_its_own_writes_with_it() {
        let (_dir, db, writer) = open();
        let (release, held) = hold(&writer).await;
        let mut tasks = Vec::new();
        for n in 0..10 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.submit(true, move |txn| {
                    increment(txn, &format!("k{n}"))?;
                    if n == 4 {
                        return Err(StoreError::Corrupt("refused".into()));
                    }
                    Ok(n)
                })
                .await
            }));
        }
        queued(&writer, 10).await;
        drop(release);
        held.await.unwrap();
        for (n, task) in tasks.into_iter().enumerate() {
            let out = task.await.unwrap();
            if n == 4 {
                assert!(matches!(out, Err(StoreError::Corrupt(_))), "{out:?}");
                assert_eq!(
                    count(&db, "k4"),
                    None,
                    "the failed operation's write stays out"
                );
            } else {
                assert_eq!(out.unwrap(), n);
                assert_eq!(
                    count(&db, &format!("k{n}")),
                    Some(1),
                    "written exactly once"
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_operation_fails_alone_and_the_writer_goes_on() {
        let (_dir, db, writer) = open();
        let (release, held) = hold(&writer).await;
        let w = writer.clone();
        let panicking = tokio::spawn(async move {
            w.submit(true, |txn| -> StoreResult<()> {
                increment(txn, "p")?;
                panic!("an operation's bug");
            })
            .await
        });
        let w = writer.clone();
        let neighbour =
            tokio::spawn(async move { w.submit(true, |txn| increment(txn, "q")).await });
        queued(&writer, 2).await;
        drop(release);
        held.await.unwrap();
        assert!(matches!(
            panicking.await.unwrap(),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(neighbour.await.unwrap().unwrap(), 1);
        assert_eq!(
            writer
                .submit(true, |txn| increment(txn, "q"))
                .await
                .unwrap(),
            2
        );
        assert_eq!(count(&db, "p"), None);
    }
}
