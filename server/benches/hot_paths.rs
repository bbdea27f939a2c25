//! The server's costs under load, one at a time: a password check with the default argon2id
//! settings on the hashing pool, and a refresh rotation on the embedded store, alone and 32 at
//! once (the concurrent case is what group commit is for: one fsync per batch).
#![allow(
    clippy::expect_used,
    reason = "a benchmark whose set-up fails has nothing to measure"
)]

use std::sync::Mutex;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sigil_server::config::{Argon2Settings, HashingConfig};
use sigil_server::password::PasswordHasher;
use sigil_server::store::{EmbeddedStore, RefreshOutcome, SessionRecord, SessionStore};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn password_check(c: &mut Criterion) {
    let rt = runtime();
    let hasher = PasswordHasher::new(&HashingConfig {
        argon2: Argon2Settings::default(),
        workers: 1,
        queue: 8,
    })
    .expect("a hasher");
    let password = || Zeroizing::new("correct horse battery staple".to_owned());
    let hash = rt.block_on(hasher.hash(password())).expect("a hash");
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("verify (19 MiB, t=2, one worker)", |b| {
        b.to_async(&rt)
            .iter(|| hasher.verify(password(), hash.clone()))
    });
    group.finish();
}

fn session(user_id: Uuid, digest: String, now: OffsetDateTime) -> SessionRecord {
    let ttl = Duration::from_secs(86_400);
    SessionRecord {
        id: Uuid::new_v4().to_string(),
        user_id,
        client_id: "sigil".into(),
        refresh_digest: digest,
        created_at: now,
        last_activity: now,
        expires_at: now + ttl,
        ttl_secs: ttl.as_secs(),
        ends_at: Some(now + ttl * 30),
        auth_time: now,
        amr: vec!["pwd".into()],
        remember_me: false,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("criterion".into()),
        scope: None,
        resources: Vec::new(),
        dpop_jkt: None,
    }
}

/// Sessions whose current refresh digests the benchmark carries forward, one per slot.
struct Sessions {
    store: EmbeddedStore,
    current: Vec<Mutex<String>>,
    rotations: std::sync::atomic::AtomicU64,
}

impl Sessions {
    fn new(rt: &tokio::runtime::Runtime, store: EmbeddedStore, count: usize) -> Self {
        let user_id = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let mut current = Vec::new();
        for n in 0..count {
            let digest = format!("start-{n}");
            let record = session(user_id, digest.clone(), now);
            rt.block_on(store.create_session(&record, count + 1, now))
                .expect("a session");
            current.push(Mutex::new(digest));
        }
        Self {
            store,
            current,
            rotations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    async fn rotate(&self, slot: usize) {
        let next = self
            .rotations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let presented = self.current[slot].lock().expect("a slot").clone();
        let replacement = format!("{slot}-{next}");
        let outcome = self
            .store
            .rotate_refresh(&presented, &replacement, OffsetDateTime::now_utc())
            .await
            .expect("a rotation");
        assert!(matches!(outcome, RefreshOutcome::Rotated(_)), "{outcome:?}");
        *self.current[slot].lock().expect("a slot") = replacement;
    }
}

fn rotation(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a directory");
    let store = EmbeddedStore::open(&dir.path().join("bench.redb")).expect("a store");
    let sessions = Sessions::new(&rt, store, 32);
    let mut group = c.benchmark_group("embedded refresh rotation");
    group.bench_function("one at a time", |b| {
        b.to_async(&rt).iter(|| sessions.rotate(0))
    });
    group.throughput(criterion::Throughput::Elements(32));
    group.bench_function("32 concurrent", |b| {
        b.to_async(&rt)
            .iter(|| futures_util::future::join_all((0..32).map(|slot| sessions.rotate(slot))))
    });
    group.finish();
}

criterion_group!(benches, password_check, rotation);
criterion_main!(benches);
