use std::path::{Path, PathBuf};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

/// Where mails go: an SMTP server, or `.eml` files in a directory.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

impl Transport {
    /// From `smtp://` (plain, or STARTTLS with `?tls=required`) or `smtps://` (implicit TLS)
    /// URLs, with optional `user:password@`.
    pub fn smtp(url: &str) -> Result<Self, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SIGIL_SMTP_URL: {e}"))?;
        Ok(Self::Smtp(builder.build()))
    }

    pub fn outbox(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self::Outbox(dir.to_owned()))
    }

    /// Delivers one mail; for the outbox, returns the file written.
    pub async fn deliver(&self, message: &Message) -> Result<Option<PathBuf>, String> {
        match self {
            Self::Smtp(smtp) => smtp
                .send(message.clone())
                .await
                .map(|_| None)
                .map_err(|e| e.to_string()),
            Self::Outbox(dir) => {
                let name = format!(
                    "{}-{}.eml",
                    time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
                    Uuid::new_v4().simple()
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Some(path))
            }
        }
    }
}
