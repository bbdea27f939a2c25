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

/// A real SMTP server (aiosmtpd) that stores what it receives in a maildir.
pub struct SmtpSink {
    pub port: u16,
    maildir: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// One received mail, decoded enough to read.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub raw: String,
    /// The raw text with quoted-printable undone, for searching.
    pub decoded: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn to(&self) -> &str {
        self.header("to").unwrap_or_default()
    }

    pub fn subject(&self) -> &str {
        self.header("subject").unwrap_or_default()
    }

    /// The token of the first link to `path` (e.g. `/verify-email`).
    pub fn link_token(&self, path: &str) -> Option<String> {
        let marker = format!("{path}?token=");
        let start = self.decoded.find(&marker)? + marker.len();
        let token: String = self.decoded[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Some(token).filter(|t| !t.is_empty())
    }
}

/// Undoes quoted-printable (soft breaks and `=XX`); other text passes through.
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = Command::new(program("SIGIL_TEST_PYTHON"))
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        wait_for_port(port, "aiosmtpd").await;
        Self {
            port,
            maildir,
            _child: child,
            _dir: dir,
        }
    }

    /// For `SIGIL_SMTP_URL`: plain SMTP on loopback.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                files.extend(entries.flatten().map(|e| e.path()));
            }
        }
        // Arrival order: the maildir's file names do not sort by time.
        files.sort_by_key(|path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        });
        files
            .into_iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|raw| ReceivedMail {
                decoded: decode_quoted_printable(&raw),
                raw,
            })
            .collect()
    }

    /// Waits (at most 30 s) until `count` mails to `to` whose subject contains `subject` have
    /// arrived, and returns them.
    pub async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let matching: Vec<ReceivedMail> = self
                .received()
                .into_iter()
                .filter(|m| m.to().contains(to) && m.subject().contains(subject))
                .collect();
            if matching.len() >= count {
                return matching;
            }
            assert!(
                Instant::now() < deadline,
                "no mail {subject:?} to {to} within 30 s; received: {:?}",
                self.received()
                    .iter()
                    .map(|m| (m.to().to_owned(), m.subject().to_owned()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
