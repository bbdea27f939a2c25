//! Stopping without failing a request.
//!
//! On SIGTERM a replica first tells load balancers to stop routing to it (`/health/ready`
//! answers 503, and every response says `Connection: close` so that clients and balancers
//! drop their kept-alive connections) while it goes on serving for `SIGIL_SHUTDOWN_DELAY`.
//! Then it stops taking new connections, accepts what is already waiting in the listen
//! backlog, closes the listening socket (from then on a connect is refused, which balancers
//! retry elsewhere, rather than reset), and lets in-flight requests finish before the process
//! exits.
//!
//! The closing is done by [`DrainingAcceptor`], because a server that merely stops calling
//! `accept` leaves the kernel completing handshakes into a backlog that is reset when the
//! socket finally closes: the connection resets a drain must not produce. A listening socket
//! cannot be told to stop completing handshakes while keeping its backlog, so on Linux the
//! acceptor attaches a socket filter that drops every new SYN: the backlog then only shrinks,
//! and a client whose SYN was dropped retransmits it a second later, by when the socket is
//! closed and the connect is refused. Elsewhere it waits for the backlog to stay empty for
//! 50 ms, which a balancer that stopped routing here makes true.

use std::io::Result as IoResult;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::conn::{Accepted, Acceptor, Holding};
use salvo::fuse::ArcFusePolicy;
use salvo::server::ServerHandle;
use tokio::sync::watch;

/// Once closing, the backlog counts as empty when no connection arrived for this long.
const BACKLOG_QUIET: Duration = Duration::from_millis(50);
/// How long in-flight requests may take to finish once the listener is closed.
const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(30);
/// A listener that is not being served never reports closing; do not wait for it forever.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this replica is shutting down; shared by the handlers and the acceptor.
#[derive(Clone)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    close: watch::Sender<bool>,
    closed: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            close: watch::Sender::new(false),
            closed: watch::Sender::new(false),
        }
    }
}

impl Lifecycle {
    /// True from SIGTERM on: readiness fails and connections are not kept alive.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Wraps the public listener so that [`ShutdownHandle::drain`] can close it.
    pub fn acceptor(&self, listener: tokio::net::TcpListener) -> IoResult<DrainingAcceptor> {
        // A second descriptor of the same socket, to attach the filter to: TcpAcceptor does
        // not lend its own.
        let control = socket2::Socket::from(listener.as_fd().try_clone_to_owned()?);
        let inner = TcpAcceptor::try_from(listener)?;
        Ok(DrainingAcceptor {
            holdings: inner.holdings().to_vec(),
            inner: Some((inner, control)),
            refusing: false,
            close: self.close.subscribe(),
            closed: self.closed.clone(),
        })
    }

    fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Asks the acceptor to take what the backlog holds and close; waits until it has.
    async fn close_listener(&self) {
        self.close.send_replace(true);
        let mut closed = self.closed.subscribe();
        let wait = async {
            while !*closed.borrow_and_update() {
                if closed.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, wait).await.is_err() {
            tracing::warn!("the listener did not close in time; stopping anyway");
        }
    }
}

/// The public listener, closable from outside while the server runs.
pub struct DrainingAcceptor {
    /// The listener and a duplicate of its descriptor; both are dropped to close it.
    inner: Option<(TcpAcceptor, socket2::Socket)>,
    holdings: Vec<Holding>,
    /// Whether new handshakes are being dropped (set once closing has begun).
    refusing: bool,
    close: watch::Receiver<bool>,
    closed: watch::Sender<bool>,
}

impl Acceptor for DrainingAcceptor {
    type Coupler = <TcpAcceptor as Acceptor>::Coupler;
    type Stream = <TcpAcceptor as Acceptor>::Stream;

    fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    async fn accept(
        &mut self,
        fuse_policy: Option<ArcFusePolicy>,
    ) -> IoResult<Accepted<Self::Coupler, Self::Stream>> {
        loop {
            let Some((inner, control)) = self.inner.as_mut() else {
                // Closed: the server leaves this loop on its stop command.
                return std::future::pending().await;
            };
            if !*self.close.borrow() {
                // TcpAcceptor parks a half-accepted socket across cancellation, so dropping
                // this accept for the close signal loses no connection.
                tokio::select! {
                    accepted = inner.accept(fuse_policy.clone()) => return accepted,
                    changed = self.close.changed() => {
                        if changed.is_err() {
                            // The lifecycle is gone: nobody can ask for a close any more.
                            return inner.accept(fuse_policy).await;
                        }
                        continue;
                    }
                }
            }
            if !self.refusing {
                refuse_new_connections(control);
                self.refusing = true;
            }
            match tokio::time::timeout(BACKLOG_QUIET, inner.accept(fuse_policy.clone())).await {
                Ok(accepted) => return accepted,
                Err(_) => {
                    self.inner = None;
                    self.closed.send_replace(true);
                    tracing::info!("stopped accepting connections; finishing in-flight requests");
                }
            }
        }
    }
}

/// Drops every SYN that reaches the listening socket from now on (a BPF program that returns
/// 0): connections already in the backlog stay, new handshakes never complete.
#[cfg(target_os = "linux")]
fn refuse_new_connections(socket: &socket2::Socket) {
    const DROP_EVERYTHING: [socket2::SockFilter; 1] = [socket2::SockFilter::new(0x06, 0, 0, 0)];
    if let Err(e) = socket.attach_filter(&DROP_EVERYTHING) {
        tracing::warn!(error = %e, "could not stop new connections; waiting for a quiet backlog");
    }
}

#[cfg(not(target_os = "linux"))]
fn refuse_new_connections(_socket: &socket2::Socket) {}

/// Stops a running [`crate::App`]: see the module documentation for the order.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(crate) lifecycle: Lifecycle,
    pub(crate) delay: Duration,
    /// The public server first, then the side listeners (metrics, profiler).
    pub(crate) servers: Vec<ServerHandle>,
}

impl ShutdownHandle {
    /// The whole drain: unready, keep serving for the delay, close the listener, let
    /// in-flight requests finish. Returns once the servers have been told to stop;
    /// [`crate::App::run_until_stopped`] returns when they have.
    pub async fn drain(&self) {
        self.lifecycle.start_draining();
        if !self.delay.is_zero() {
            tracing::info!(
                delay_ms = self.delay.as_millis() as u64,
                "draining: /health/ready answers 503 while serving goes on"
            );
            tokio::time::sleep(self.delay).await;
        }
        self.lifecycle.close_listener().await;
        for server in &self.servers {
            server.stop_graceful(IN_FLIGHT_TIMEOUT);
        }
    }
}
