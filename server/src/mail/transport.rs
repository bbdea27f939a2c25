use std::path::{Path, PathBuf};

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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

    /// Delivers one formatted mail; for the outbox, returns the file written. The outbox
    /// names the file after the mail's id (written whole, then renamed into place), so a
    /// second delivery of the same mail replaces the first.
    pub async fn deliver(
        &self,
        id: &str,
        envelope: &Envelope,
        eml: &[u8],
    ) -> Result<Option<PathBuf>, String> {
        match self {
            Self::Smtp(smtp) => smtp
                .send_raw(envelope, eml)
                .await
                .map(|_| None)
                .map_err(|e| e.to_string()),
            Self::Outbox(dir) => {
                let path = dir.join(format!("{id}.eml"));
                let partial = dir.join(format!(".{id}.eml.partial"));
                tokio::fs::write(&partial, eml)
                    .await
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
                tokio::fs::rename(&partial, &path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Some(path))
            }
        }
    }
}
