//! A real HTTP load balancer (Debian's haproxy) in front of Sigil replicas, configured the
//! way docs/operations.md tells operators to: health checks on `/health/ready`, and a failed
//! connect retried on another replica.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::backend::program;
use crate::services::free_port;

pub struct LoadBalancer {
    pub base: String,
    stats: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// What haproxy's statistics say of one backend server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Up,
    Down,
    /// Between the two: a check failed but not `fall` of them yet, or not `rise` passed.
    Changing,
}

impl LoadBalancer {
    /// haproxy balancing round-robin over `replicas` (base URLs `http://127.0.0.1:port`),
    /// named `r0`, `r1`, ... in its statistics. Returns once every replica is up.
    pub async fn start(replicas: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, stats_port) = (free_port(), free_port());
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(i, base)| {
                let address = base.strip_prefix("http://").expect("http base");
                format!("  server r{i} {address} check\n")
            })
            .collect();
        let config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n\
             \x20 retries 3\n  option redispatch 1\n\
             frontend sigil\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
             frontend stats\n  bind 127.0.0.1:{stats_port}\n  stats enable\n  stats uri /stats\n\
             backend replicas\n  balance roundrobin\n\
             \x20 option httpchk GET /health/ready\n  http-check expect status 200\n\
             \x20 default-server inter 100ms fall 1 rise 2\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new(program("SIGIL_TEST_HAPROXY"))
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let balancer = Self {
            base: format!("http://127.0.0.1:{port}"),
            stats: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            _child: child,
            _dir: dir,
        };
        for i in 0..replicas.len() {
            balancer
                .wait_for(&format!("r{i}"), ServerState::Up, Duration::from_secs(30))
                .await;
        }
        balancer
    }

    /// The state haproxy reports for one server, `None` while haproxy is not answering yet.
    pub async fn state(&self, server: &str) -> Option<ServerState> {
        let csv = reqwest::get(&self.stats).await.ok()?.text().await.ok()?;
        let header = csv.lines().next()?.trim_start_matches("# ");
        let status_column = header.split(',').position(|c| c == "status")?;
        csv.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.first() == Some(&"replicas") && fields.get(1) == Some(&server)).then(|| {
                match fields.get(status_column).copied() {
                    Some("UP") => ServerState::Up,
                    Some("DOWN") => ServerState::Down,
                    _ => ServerState::Changing,
                }
            })
        })
    }

    /// Polls the statistics until `server` is in `state`; fails the test after `within`.
    pub async fn wait_for(&self, server: &str, state: ServerState, within: Duration) {
        let deadline = Instant::now() + within;
        while self.state(server).await != Some(state) {
            assert!(
                Instant::now() < deadline,
                "haproxy did not see {server} {state:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
