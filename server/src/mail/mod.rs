//! Outgoing mail: rendered from templates, queued, and delivered by a background task with
//! retries, so a slow or broken SMTP server never holds up a request.
//!
//! Without `SIGIL_SMTP_URL` mails are written to `DATA_DIR/outbox/*.eml` and their link is
//! logged (development only). The queue is in memory: mails still queued when the process
//! dies are lost, and users ask again (resend verification, forgot password).

mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use minijinja::context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::MailConfig;
use crate::domain::UserRecord;
use crate::templates::Templates;

pub use transport::Transport;

const QUEUE_CAPACITY: usize = 1024;
const ATTEMPTS: u32 = 5;

/// The mails Sigil sends.
#[derive(Debug, Clone)]
pub enum MailKind {
    VerifyEmail {
        link: String,
        valid_for: String,
    },
    ResetPassword {
        link: String,
    },
    PasswordChanged {
        at: OffsetDateTime,
    },
    NewSignIn {
        browser: String,
        os: String,
        device: String,
        ip: String,
        at: OffsetDateTime,
    },
    AccountLocked {
        until: OffsetDateTime,
    },
    /// Two-factor sign-in was turned on: the user hears of it in case it was not them.
    MfaEnabled {
        at: OffsetDateTime,
    },
}

impl MailKind {
    fn template(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::ResetPassword { .. } => "reset_password",
            Self::PasswordChanged { .. } => "password_changed",
            Self::NewSignIn { .. } => "new_sign_in",
            Self::AccountLocked { .. } => "account_locked",
            Self::MfaEnabled { .. } => "mfa_enabled",
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "Confirm your email address",
            Self::ResetPassword { .. } => "Reset your password",
            Self::PasswordChanged { .. } => "Your password was changed",
            Self::NewSignIn { .. } => "New sign-in to your account",
            Self::AccountLocked { .. } => "Your account was locked",
            Self::MfaEnabled { .. } => "Two-factor sign-in was turned on",
        }
    }

    /// The link a development outbox logs (none for notices).
    fn link(&self) -> Option<&str> {
        match self {
            Self::VerifyEmail { link, .. } | Self::ResetPassword { link } => Some(link),
            _ => None,
        }
    }
}

fn when(at: OffsetDateTime) -> String {
    at.format(&Rfc2822).unwrap_or_default()
}

struct Outgoing {
    message: Message,
    kind: &'static str,
    link: Option<String>,
}

/// Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
    /// Whether the latest delivery succeeded (true until one fails), for `/health`.
    delivering: Arc<AtomicBool>,
    from: Mailbox,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// Starts the delivery task; [`MailWorker::flush`] ends it.
    pub fn start(
        config: &MailConfig,
        transport: Transport,
        templates: Arc<Templates>,
    ) -> Result<(Self, MailWorker), String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("SIGIL_MAIL_FROM: {e}"))?;
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (stop, stopped) = oneshot::channel();
        let delivering = Arc::new(AtomicBool::new(true));
        let worker = MailWorker {
            stop,
            handle: tokio::spawn(deliver(rx, stopped, transport, delivering.clone())),
        };
        Ok((
            Self {
                queue,
                delivering,
                from,
                templates,
            },
            worker,
        ))
    }

    /// False when the latest delivery failed for good, or the queue is full or closed.
    pub fn is_healthy(&self) -> bool {
        self.delivering.load(Ordering::Relaxed)
            && self.queue.capacity() > 0
            && !self.queue.is_closed()
    }

    /// Renders and queues a mail to the user. Never waits: if the queue is full the mail is
    /// dropped and an error logged.
    pub fn send(&self, user: &UserRecord, kind: MailKind) {
        match self.build(user, &kind) {
            Ok(message) => {
                let outgoing = Outgoing {
                    message,
                    kind: kind.template(),
                    link: kind.link().map(str::to_owned),
                };
                if self.queue.try_send(outgoing).is_err() {
                    tracing::error!(kind = kind.template(), user_id = %user.id, "mail queue full or closed; mail dropped");
                }
            }
            Err(e) => tracing::error!(kind = kind.template(), error = %e, "building a mail failed"),
        }
    }

    fn build(&self, user: &UserRecord, kind: &MailKind) -> Result<Message, String> {
        let username = user.username.as_str();
        let ctx = match kind {
            MailKind::VerifyEmail { link, valid_for } => {
                context! { username, link, valid_for }
            }
            MailKind::ResetPassword { link } => context! { username, link },
            MailKind::PasswordChanged { at } => context! { username, at => when(*at) },
            MailKind::NewSignIn {
                browser,
                os,
                device,
                ip,
                at,
            } => context! { username, browser, os, device, ip, at => when(*at) },
            MailKind::AccountLocked { until } => context! { username, until => when(*until) },
            MailKind::MfaEnabled { at } => context! { username, at => when(*at) },
        };
        let name = kind.template();
        let text = self
            .templates
            .render(&format!("mail/{name}.txt"), &ctx)
            .map_err(|e| e.to_string())?;
        let html = self
            .templates
            .render(&format!("mail/{name}.html"), &ctx)
            .map_err(|e| e.to_string())?;
        let to: Mailbox = user.email.parse().map_err(|e| format!("recipient: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(kind.subject())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }
}

/// The delivery task.
pub struct MailWorker {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl MailWorker {
    /// Delivers what is still queued (one attempt each), then ends the task; gives up after
    /// `timeout`.
    pub async fn flush(self, timeout: Duration) {
        let _ = self.stop.send(());
        if tokio::time::timeout(timeout, self.handle).await.is_err() {
            tracing::warn!("mail queue not flushed in time; queued mails are lost");
        }
    }
}

async fn deliver(
    mut rx: mpsc::Receiver<Outgoing>,
    mut stopped: oneshot::Receiver<()>,
    transport: Transport,
    delivering: Arc<AtomicBool>,
) {
    loop {
        tokio::select! {
            mail = rx.recv() => match mail {
                Some(mail) => {
                    let sent = deliver_one(&transport, mail, ATTEMPTS).await;
                    delivering.store(sent, Ordering::Relaxed);
                }
                None => return,
            },
            _ = &mut stopped => break,
        }
    }
    while let Ok(mail) = rx.try_recv() {
        deliver_one(&transport, mail, 1).await;
    }
}

/// Whether the mail went out within `attempts`.
async fn deliver_one(transport: &Transport, mail: Outgoing, attempts: u32) -> bool {
    let mut delay = Duration::from_secs(1);
    {
        for attempt in 1..=attempts {
            match transport.deliver(&mail.message).await {
                Ok(place) => {
                    match (&place, &mail.link) {
                        (Some(path), Some(link)) => {
                            tracing::info!(kind = mail.kind, path = %path.display(), %link, "mail written to the outbox (SIGIL_SMTP_URL is unset)")
                        }
                        (Some(path), None) => {
                            tracing::info!(kind = mail.kind, path = %path.display(), "mail written to the outbox")
                        }
                        (None, _) => tracing::info!(kind = mail.kind, "mail sent"),
                    }
                    return true;
                }
                Err(e) if attempt < attempts => {
                    tracing::warn!(kind = mail.kind, attempt, error = %e, "mail delivery failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(kind = mail.kind, error = %e, "mail delivery failed; giving up");
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind renders into a two-part mail with its subject.
    #[tokio::test]
    async fn builds_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Arc::new(Templates::load().unwrap());
        let config = MailConfig {
            smtp_url: None,
            from: "Sigil <no-reply@example.com>".into(),
        };
        let (mailer, _worker) =
            Mailer::start(&config, Transport::outbox(dir.path()).unwrap(), templates).unwrap();
        let user = UserRecord::sample("ada@example.com", "ada");
        let now = OffsetDateTime::now_utc();
        for kind in [
            MailKind::VerifyEmail {
                link: "https://id/verify?token=t".into(),
                valid_for: "24 hours".into(),
            },
            MailKind::ResetPassword {
                link: "https://id/reset?token=t".into(),
            },
            MailKind::PasswordChanged { at: now },
            MailKind::NewSignIn {
                browser: "Firefox".into(),
                os: "Linux".into(),
                device: "pc".into(),
                ip: "192.0.2.1".into(),
                at: now,
            },
            MailKind::AccountLocked { until: now },
            MailKind::MfaEnabled { at: now },
        ] {
            let message = mailer.build(&user, &kind).unwrap();
            let raw = String::from_utf8(message.formatted()).unwrap();
            assert!(
                raw.contains(&format!("Subject: {}", kind.subject())),
                "{raw}"
            );
            assert!(raw.contains("multipart/alternative"));
            assert!(raw.contains("To: ada@example.com"));
        }
    }
}
