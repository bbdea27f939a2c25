//! SIGTERM under load fails no request (docs/operations.md, "Stopping a replica"): readiness
//! goes 503 at once, serving goes on for `SIGIL_SHUTDOWN_DELAY`, then the listener closes
//! without resetting what its backlog holds, in-flight requests finish, and the exit is 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_tests::balancer::{LoadBalancer, ServerState};
use sigil_tests::process::SigilProcess;
use sigil_tests::{TestUser, read};
use tokio::sync::{Notify, watch};

const CLIENTS: usize = 16;
const DELAY: &str = "1s";

/// Clients that each open a new connection for every request, as in the report that found
/// resets: counts what they see until told to stop (or, with `stop_on_refusal`, until their
/// connect is refused).
struct Load {
    served: Arc<AtomicUsize>,
    progress: Arc<Notify>,
    stop: watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<Outcome>>,
}

#[derive(Default)]
struct Outcome {
    ok: usize,
    refused: usize,
    /// Anything else: a reset, a timeout, a non-200 answer.
    failures: Vec<String>,
}

impl Load {
    fn start(url: String, access: String, stop_on_refusal: bool) -> Self {
        let served = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let workers = (0..CLIENTS)
            .map(|_| {
                let (client, url, access) = (client.clone(), url.clone(), access.clone());
                let (served, progress, stopped) =
                    (served.clone(), progress.clone(), stopped.clone());
                tokio::spawn(async move {
                    let mut outcome = Outcome::default();
                    while !*stopped.borrow() {
                        match client.get(&url).bearer_auth(&access).send().await {
                            Ok(response) if response.status() == StatusCode::OK => {
                                outcome.ok += 1;
                                served.fetch_add(1, Ordering::Relaxed);
                                progress.notify_waiters();
                            }
                            Ok(response) => outcome.failures.push(format!(
                                "{}: {}",
                                response.status(),
                                response.text().await.unwrap_or_default()
                            )),
                            Err(e) if e.is_connect() => {
                                outcome.refused += 1;
                                if stop_on_refusal {
                                    break;
                                }
                            }
                            Err(e) => outcome.failures.push(format!("{e:?}")),
                        }
                    }
                    outcome
                })
            })
            .collect();
        Self {
            served,
            progress,
            stop,
            workers,
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Returns once `count` requests in all have been answered 200.
    async fn wait_until_served(&self, count: usize) {
        loop {
            let progressed = self.progress.notified();
            if self.served() >= count {
                return;
            }
            tokio::time::timeout(Duration::from_secs(60), progressed)
                .await
                .expect("no request answered for 60 s");
        }
    }

    /// Tells the clients to stop, and adds up what they saw.
    async fn finish(self) -> Outcome {
        self.stop.send_replace(true);
        self.join().await
    }

    async fn join(self) -> Outcome {
        let mut all = Outcome::default();
        for worker in self.workers {
            let outcome = worker.await.unwrap();
            all.ok += outcome.ok;
            all.refused += outcome.refused;
            all.failures.extend(outcome.failures);
        }
        all
    }
}

/// A user's access token, from `sigil`.
async fn access_token(sigil: &SigilProcess) -> String {
    let user = TestUser::random();
    sigil.register(&user).await;
    let reply = read(
        sigil_tests::client()
            .post(format!("{}/v1/auth/login", sigil.base))
            .json(&json!({"username": user.username, "password": user.password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.data()["accessToken"].as_str().unwrap().to_owned()
}

/// Polls the replica's own `/health/ready` from the moment SIGTERM was sent until it answers
/// 503 draining; the listener must still be open then, as the delay has not passed.
async fn wait_until_unready(base: &str) {
    let client = sigil_tests::client();
    loop {
        let response = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .expect("the listener closed before readiness reported the drain");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["draining"], json!(true), "{body}");
            return;
        }
        // SIGTERM is delivered asynchronously: until it is handled the replica is ready.
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn sigterm_behind_a_load_balancer_fails_no_request() {
    let mut env = sigil_tests::backend::replica_env();
    env.push(("SIGIL_SHUTDOWN_DELAY", DELAY.to_owned()));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = tokio::join!(
        SigilProcess::start_with(dirs.0.path(), &env),
        SigilProcess::start_with(dirs.1.path(), &env)
    );
    let access = access_token(&a).await;
    let balancer = LoadBalancer::start(&[&a.base, &b.base]).await;
    let load = Load::start(format!("{}/v1/users/me", balancer.base), access, false);
    load.wait_until_served(200).await;

    let a_base = a.base.clone();
    a.send_sigterm();
    wait_until_unready(&a_base).await;
    balancer
        .wait_for("r0", ServerState::Down, Duration::from_secs(5))
        .await;
    let exit = a.exit_status().await;
    assert!(exit.success(), "exit status {exit}");
    // And the survivor carries the traffic on.
    load.wait_until_served(load.served() + 200).await;
    let outcome = load.finish().await;

    assert!(
        outcome.failures.is_empty(),
        "{} of {} requests failed through the drain: {:?}",
        outcome.failures.len(),
        outcome.ok + outcome.failures.len(),
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    assert_eq!(outcome.refused, 0, "the balancer retries refused connects");
    assert_eq!(
        balancer.state("r1").await,
        Some(ServerState::Up),
        "the other replica stayed in"
    );
    b.terminate().await;
}

/// Without a balancer, a client that keeps connecting sees answers until the listener
/// closes and refused connects after: never a reset, never a 5xx.
#[tokio::test]
async fn sigterm_refuses_new_connections_and_resets_none() {
    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start_with(dir.path(), &[("SIGIL_SHUTDOWN_DELAY", DELAY)]).await;
    let access = access_token(&sigil).await;
    let load = Load::start(format!("{}/v1/users/me", sigil.base), access, true);
    load.wait_until_served(200).await;

    let base = sigil.base.clone();
    sigil.send_sigterm();
    wait_until_unready(&base).await;
    let served_when_unready = load.served();
    let exit = sigil.exit_status().await;
    assert!(exit.success(), "exit status {exit}");
    // Every client ends on its own, on a refused connect.
    let outcome = load.join().await;

    assert!(
        outcome.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        outcome.failures.len(),
        outcome.ok + outcome.failures.len(),
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    assert!(
        outcome.ok > served_when_unready,
        "serving went on during SIGIL_SHUTDOWN_DELAY"
    );
    assert_eq!(
        outcome.refused, CLIENTS,
        "each client ends on a refused connect"
    );
}
