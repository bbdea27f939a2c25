//! Multiplexed connections to Redis: every request's commands share a connection, pipelined,
//! instead of each request holding a pooled connection of its own for its round trip. On a
//! 2-core box this doubled the bearer-check rate (docs/performance.md).
//!
//! A connection that broke is dropped at once, and the next command opens a new one; no
//! command fails because of an attempt that failed before it started. (redis' own
//! `ConnectionManager` keeps a failed reconnect attempt as the current connection until a
//! command fails on it, so the first request after Redis came back would answer 503.) While
//! Redis is unreachable, one attempt runs at a time and its failure answers for the commands
//! that waited for it, so a black-holed Redis costs each request at most one [`TIMEOUT`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::Mutex;

/// How long to wait for Redis to accept a connection and to answer a command: while it is
/// down or unreachable, requests answer 503 quickly.
const TIMEOUT: Duration = Duration::from_secs(3);

/// One multiplexed connection, opened on first use and again after it broke.
pub(super) struct Slot {
    client: redis::Client,
    state: Mutex<State>,
    /// Connection attempts finished, readable without the lock.
    attempts: AtomicU64,
}

#[derive(Default)]
struct State {
    current: Option<(u64, MultiplexedConnection)>,
    /// The last attempt's failure, for the commands that waited for it.
    failed: Option<RedisError>,
}

impl Slot {
    pub(super) fn new(client: redis::Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            state: Mutex::new(State::default()),
            attempts: AtomicU64::new(0),
        })
    }

    /// The current connection, opened now if there is none.
    pub(super) async fn connection(self: &Arc<Self>) -> Result<Connection, RedisError> {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        if let Some((generation, inner)) = &state.current {
            return Ok(Connection {
                inner: inner.clone(),
                generation: *generation,
                slot: self.clone(),
            });
        }
        // An attempt finished while this command waited for the lock, and it failed.
        if let Some(err) = &state.failed
            && self.attempts.load(Ordering::Acquire) != seen
        {
            return Err(err.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let attempt = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await;
        let generation = self.attempts.fetch_add(1, Ordering::AcqRel) + 1;
        match attempt {
            Ok(inner) => {
                state.current = Some((generation, inner.clone()));
                state.failed = None;
                Ok(Connection {
                    inner,
                    generation,
                    slot: self.clone(),
                })
            }
            Err(err) => {
                state.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Forgets connection `generation` if it is still the current one.
    async fn broke(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            state.current = None;
        }
    }
}

/// A handle on a slot's connection for one request.
pub(super) struct Connection {
    inner: MultiplexedConnection,
    generation: u64,
    slot: Arc<Slot>,
}

impl Connection {
    async fn checked<T>(&mut self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Err(err) = &result
            && (err.is_unrecoverable_error() || err.is_timeout())
        {
            self.slot.broke(self.generation).await;
        }
        result
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.checked(result).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.checked(result).await
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
