//! Outgoing mail: rendered from templates, queued in the store, and delivered by a
//! background task with retries, so a slow or broken SMTP server never holds up a request and
//! neither a crash nor a restart loses a mail.
//!
//! A request queues its mail before it is answered (the queue is a durable write); the
//! delivery task of any replica claims due mails, sends each and removes it once sent. Each
//! mail is sent at least once: one whose delivery was cut off by a crash is sent again when
//! its lease runs out (`mail::delivery`), with the same `Message-ID` (the mail's id), which
//! receiving systems use to recognise a duplicate; the development outbox writes the same
//! file again.
//!
//! Without `SIGIL_SMTP_URL` mails are written to `DATA_DIR/outbox/<id>.eml` and their link is
//! logged (development only).

mod delivery;
mod transport;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use minijinja::context;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::MailConfig;
use crate::crypto::Cipher;
use crate::domain::UserRecord;
use crate::store::{MailQueueStore, QueuedMail};
use crate::templates::Templates;

pub use delivery::MailWorker;
pub use transport::Transport;

/// The purpose a queued mail is sealed under (the cipher's associated data).
const SEAL_PURPOSE: &str = "mail-queue";

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

/// What the queue holds of a mail, sealed: enough to send it without rendering it again.
#[derive(Serialize, Deserialize)]
struct Sealed {
    from: String,
    to: String,
    /// The whole RFC 5322 message, base64.
    eml: String,
    /// The link the development outbox logs.
    link: Option<String>,
}

/// Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct Mailer {
    queue: Arc<dyn MailQueueStore>,
    cipher: Cipher,
    clock: Arc<dyn Clock>,
    /// Wakes the delivery task when a mail was queued.
    queued: Arc<Notify>,
    /// Whether the latest delivery attempt succeeded (true until one fails), for `/health`.
    delivering: Arc<AtomicBool>,
    from: Mailbox,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// What the mailer works with besides its configuration.
pub struct MailDeps {
    pub queue: Arc<dyn MailQueueStore>,
    pub cipher: Cipher,
    pub clock: Arc<dyn Clock>,
    pub templates: Arc<Templates>,
}

impl Mailer {
    /// A mailer that queues; mails go out once some process runs
    /// [`Mailer::start_delivery`] on the same store.
    pub fn new(config: &MailConfig, deps: MailDeps) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("SIGIL_MAIL_FROM: {e}"))?;
        Ok(Self {
            queue: deps.queue,
            cipher: deps.cipher,
            clock: deps.clock,
            queued: Arc::new(Notify::new()),
            delivering: Arc::new(AtomicBool::new(true)),
            from,
            templates: deps.templates,
        })
    }

    /// Starts the delivery task; [`MailWorker::flush`] ends it.
    pub fn start_delivery(&self, transport: Transport) -> MailWorker {
        MailWorker::start(self.clone(), transport)
    }

    /// False when the latest delivery attempt failed.
    pub fn is_healthy(&self) -> bool {
        self.delivering.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Renders the mail and queues it for delivery; returns once it is queued. A mail that
    /// cannot be rendered or queued (the store is down) is logged and dropped: the request
    /// that sent it has done its own work, and the user can ask again.
    pub async fn send(&self, user: &UserRecord, kind: MailKind) {
        let id = Uuid::new_v4().simple().to_string();
        let mail = match self.seal(user, &kind, &id) {
            Ok(mail) => mail,
            Err(e) => {
                tracing::error!(kind = kind.template(), error = %e, "building a mail failed");
                return;
            }
        };
        match self.queue.enqueue_mail(&mail).await {
            Ok(()) => self.queued.notify_one(),
            Err(e) => {
                tracing::error!(kind = kind.template(), user_id = %user.id, error = %e, "queueing a mail failed; mail dropped")
            }
        }
    }

    fn seal(&self, user: &UserRecord, kind: &MailKind, id: &str) -> Result<QueuedMail, String> {
        let message = self.build(user, kind, id)?;
        let sealed = Sealed {
            from: self.from.email.to_string(),
            to: user.email.clone(),
            eml: STANDARD.encode(message.formatted()),
            link: kind.link().map(str::to_owned),
        };
        let json = serde_json::to_vec(&sealed).map_err(|e| e.to_string())?;
        let now = self.clock.now();
        Ok(QueuedMail {
            id: id.to_owned(),
            kind: kind.template().to_owned(),
            sealed: self
                .cipher
                .seal(&json, SEAL_PURPOSE)
                .map_err(|e| e.to_string())?,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            leased_until: None,
        })
    }

    fn open(&self, mail: &QueuedMail) -> Result<Sealed, String> {
        let json = self
            .cipher
            .open(&mail.sealed, SEAL_PURPOSE)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    }

    fn build(&self, user: &UserRecord, kind: &MailKind, id: &str) -> Result<Message, String> {
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
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind renders into a two-part mail with its subject and its id.
    #[tokio::test]
    async fn builds_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Arc::new(Templates::load().unwrap());
        let config = MailConfig {
            smtp_url: None,
            from: "Sigil <no-reply@example.com>".into(),
        };
        let store = crate::store::EmbeddedStore::open(&dir.path().join("mail.redb")).unwrap();
        let deps = MailDeps {
            queue: Arc::new(store),
            cipher: Cipher::from_base64(&Cipher::generate_key()).unwrap(),
            clock: Arc::new(crate::clock::SystemClock),
            templates,
        };
        let mailer = Mailer::new(&config, deps).unwrap();
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
            let message = mailer.build(&user, &kind, "m1").unwrap();
            let raw = String::from_utf8(message.formatted()).unwrap();
            assert!(
                raw.contains(&format!("Subject: {}", kind.subject())),
                "{raw}"
            );
            assert!(raw.contains("multipart/alternative"));
            assert!(raw.contains("To: ada@example.com"));
            assert!(raw.contains("Message-ID: <m1@example.com>"), "{raw}");
        }
    }
}
