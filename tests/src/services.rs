//! Private Redis and MongoDB-wire servers that a test may stop and start again (fault tests).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::backend::program;

/// A free loopback port (the listener is closed before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts connections on the port, for at most 60 s.
async fn wait_for_port(port: u16, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {port} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

enum Kind {
    Redis,
    Mongo { storage: PathBuf },
}

/// One server process on a fixed port, restartable.
pub struct Service {
    kind: Kind,
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Service {
    pub async fn redis() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut service = Self {
            kind: Kind::Redis,
            port: free_port(),
            child: None,
            _dir: dir,
        };
        service.start().await;
        service
    }

    /// SecantusDB with on-disk storage, so that a restart keeps the data.
    pub async fn mongo() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("wt");
        let mut service = Self {
            kind: Kind::Mongo { storage },
            port: free_port(),
            child: None,
            _dir: dir,
        };
        service.start().await;
        service
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
            Kind::Mongo { .. } => format!(
                "mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=1500&connectTimeoutMS=1000",
                self.port
            ),
        }
    }

    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let port = self.port.to_string();
        let mut command = match &self.kind {
            Kind::Redis => {
                let mut c = Command::new(program("SIGIL_TEST_REDIS_SERVER"));
                c.args([
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]);
                c
            }
            Kind::Mongo { storage } => {
                let mut c = Command::new(program("SIGIL_TEST_SECANTUSD"));
                c.args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port,
                    "--log-level",
                    "WARNING",
                ])
                .arg("--storage-path")
                .arg(storage);
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start service");
        self.child = Some(child);
        wait_for_port(self.port, "service").await;
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("kill");
    }
}
