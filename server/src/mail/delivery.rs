//! The delivery task: claims due mails from the queue, sends them, and reschedules the
//! failures with exponential backoff.
//!
//! A claim holds a mail for [`LEASE`]; a task that dies mid-send leaves it to the next claim
//! after that, which is how a mail survives a crash in the middle of its delivery (and why
//! it may then arrive twice, with one `Message-ID`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::Address;
use lettre::address::Envelope;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Mailer, Sealed, Transport};
use crate::store::QueuedMail;

/// How long a claimed mail is held by the task that claimed it; longer than an SMTP
/// exchange may take (lettre gives up after 60 s).
const LEASE: Duration = Duration::from_secs(120);
/// Mails claimed at once.
const BATCH: usize = 16;
/// How often the queue is looked at when nothing woke the task: retries come due, and other
/// replicas' mails are everyone's.
const POLL: Duration = Duration::from_secs(1);
/// The wait after the first failure; doubles with each further one, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// A mail still undelivered this long after it was queued is dropped: its links have
/// expired (a verification link lasts 24 hours at most by default, a reset link an hour).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delivery task.
pub struct MailWorker {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl MailWorker {
    pub(super) fn start(mailer: Mailer, transport: Transport) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            stop,
            handle: tokio::spawn(deliver_forever(mailer, transport, stopped)),
        }
    }

    /// Delivers what is due now (one attempt each), then ends the task; gives up after
    /// `timeout`. What is left stays queued for the next start or another replica.
    pub async fn flush(self, timeout: Duration) {
        let _ = self.stop.send(());
        if tokio::time::timeout(timeout, self.handle).await.is_err() {
            tracing::warn!("mail queue not flushed in time; the rest is sent after a restart");
        }
    }
}

async fn deliver_forever(mailer: Mailer, transport: Transport, mut stopped: oneshot::Receiver<()>) {
    loop {
        let batch_was_full = deliver_due(&mailer, &transport).await;
        if batch_was_full {
            continue;
        }
        tokio::select! {
            _ = mailer.queued.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut stopped => break,
        }
    }
    deliver_due(&mailer, &transport).await;
}

/// One claim and an attempt at each mail it took; whether the claim took a full batch.
async fn deliver_due(mailer: &Mailer, transport: &Transport) -> bool {
    let now = mailer.clock.now();
    let due = match mailer.queue.claim_mail(now, now + LEASE, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "the mail queue cannot be read; trying again");
            return false;
        }
    };
    let full = due.len() == BATCH;
    for mail in due {
        attempt(mailer, transport, mail).await;
    }
    full
}

async fn attempt(mailer: &Mailer, transport: &Transport, mail: QueuedMail) {
    let kind = mail.kind.as_str();
    let sent = match mailer.open(&mail) {
        Ok(sealed) => send(transport, &mail.id, &sealed).await,
        Err(e) => {
            // Sealed under another key, or damaged: it can never be sent.
            tracing::error!(kind, mail_id = %mail.id, error = %e, "a queued mail cannot be opened; dropped");
            remove(mailer, &mail).await;
            return;
        }
    };
    mailer.delivering.store(sent.is_ok(), Ordering::Relaxed);
    match sent {
        Ok(()) => remove(mailer, &mail).await,
        Err(e) => {
            let attempts = mail.attempts.saturating_add(1);
            let now = mailer.clock.now();
            if now - mail.created_at >= GIVE_UP_AFTER {
                tracing::error!(kind, mail_id = %mail.id, attempts, error = %e, "mail delivery failed; giving up");
                remove(mailer, &mail).await;
                return;
            }
            let wait = backoff(attempts);
            if let Err(store) = mailer
                .queue
                .retry_mail(&mail.id, attempts, now + wait)
                .await
            {
                // The lease still runs out, so the mail is retried then.
                tracing::warn!(kind, mail_id = %mail.id, error = %store, "rescheduling a mail failed");
            }
            tracing::warn!(kind, mail_id = %mail.id, attempt = attempts, retry_in_s = wait.as_secs(), error = %e, "mail delivery failed; retrying");
        }
    }
}

async fn send(transport: &Transport, id: &str, sealed: &Sealed) -> Result<(), String> {
    let from: Address = sealed.from.parse().map_err(|e| format!("sender: {e}"))?;
    let to: Address = sealed.to.parse().map_err(|e| format!("recipient: {e}"))?;
    let envelope = Envelope::new(Some(from), vec![to]).map_err(|e| e.to_string())?;
    let eml = STANDARD.decode(&sealed.eml).map_err(|e| e.to_string())?;
    match transport.deliver(id, &envelope, &eml).await? {
        Some(path) => match &sealed.link {
            Some(link) => {
                tracing::info!(mail_id = %id, path = %path.display(), %link, "mail written to the outbox (SIGIL_SMTP_URL is unset)")
            }
            None => {
                tracing::info!(mail_id = %id, path = %path.display(), "mail written to the outbox")
            }
        },
        None => tracing::info!(mail_id = %id, "mail sent"),
    }
    Ok(())
}

/// Removes a delivered or hopeless mail; if that fails, the mail is sent again later, which
/// at-least-once allows.
async fn remove(mailer: &Mailer, mail: &QueuedMail) {
    if let Err(e) = mailer.queue.remove_mail(&mail.id).await {
        tracing::warn!(mail_id = %mail.id, error = %e, "removing a sent mail from the queue failed; it may be sent again");
    }
}

fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
