//! Sigil as a separate process, for what only a real process shows (kill -9, signals).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct SigilProcess {
    pub child: Child,
    pub base: String,
    /// The `message` of every log event up to and including "sigil is listening".
    pub startup_log: Vec<String>,
    /// The `message` of every log event after that.
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl SigilProcess {
    /// Starts `sigil` on a free port with the given data directory and waits until it logs
    /// that it is listening.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with::<&str>(data_dir, &[]).await
    }

    /// As [`SigilProcess::start`], with extra environment variables.
    pub async fn start_with<V: AsRef<str>>(data_dir: &Path, env: &[(&str, V)]) -> Self {
        let mut child = Command::new(crate::sigil_binary())
            .env_clear()
            // Like the in-process harness: sign-in right after registering, no rate limits,
            // unless the test says otherwise (its `env` comes last and wins).
            .env("SIGIL_REQUIRE_EMAIL_VERIFICATION", "false")
            .env("SIGIL_RATE_LIMIT_GENERAL", "off")
            .env("SIGIL_RATE_LIMIT_LOGIN", "off")
            .env("SIGIL_RATE_LIMIT_REGISTER", "off")
            .env("SIGIL_RATE_LIMIT_PASSWORD_RESET", "off")
            .env("SIGIL_DATA_DIR", data_dir)
            .env("SIGIL_LISTEN", "127.0.0.1:0")
            .env("SIGIL_LOG_FORMAT", "json")
            .env("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", crate::ADMIN_PASSWORD)
            .env("SIGIL_ARGON2_MEMORY_KIB", "1024")
            .env("SIGIL_ARGON2_ITERATIONS", "1")
            // Stop at once on SIGTERM; the drain tests ask for a delay.
            .env("SIGIL_SHUTDOWN_DELAY", "0")
            .envs(env.iter().map(|(k, v)| (*k, v.as_ref())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sigil");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut startup_log = Vec::new();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stderr") {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(message) = event["message"].as_str() {
                    startup_log.push(message.to_owned());
                }
                if event["message"] == "sigil is listening" {
                    return event["address"].as_str().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("sigil did not start within 60 s")
        .expect("sigil exited before listening");
        // Keep draining the log so the child never blocks on a full pipe.
        let (log_tx, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(message) = event["message"].as_str()
                {
                    let _ = log_tx.send(message.to_owned());
                }
            }
        });
        Self {
            child,
            base: format!("http://{address}"),
            startup_log,
            log,
        }
    }

    /// Returns once the process logs an event with this message (60 s at most).
    pub async fn wait_for_log(&mut self, message: &str) {
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(logged) = self.log.recv().await {
                if logged == message {
                    return;
                }
            }
            panic!("sigil exited without logging {message:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("sigil did not log {message:?} within 60 s"));
    }

    /// Registers the user; fails the test unless the answer is 201.
    pub async fn register(&self, user: &crate::TestUser) -> crate::Reply {
        let reply = crate::read(
            crate::client()
                .post(format!("{}/v1/auth/register", self.base))
                .json(&user.registration())
                .send()
                .await
                .expect("register"),
        )
        .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
        reply
    }

    /// SIGKILL: no chance to flush or clean up.
    pub async fn kill_hard(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.exit_status().await
    }

    /// SIGTERM, without waiting for the process to stop.
    pub fn send_sigterm(&self) {
        let pid = self.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits (at most 60 s) for the process to exit.
    pub async fn exit_status(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("sigil did not exit within 60 s of SIGTERM")
            .expect("wait")
    }
}
