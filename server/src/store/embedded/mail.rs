//! The mail queue in the embedded store, by mail id. The queue is short (mails leave it once
//! delivered), so claims scan it.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::tables::MAIL_QUEUE;
use super::{EmbeddedStore, get_json, put_json, scan_json};
use crate::store::{MailQueueStore, QueuedMail, StoreResult};

#[async_trait]
impl MailQueueStore for EmbeddedStore {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        let mail = mail.clone();
        self.write(move |txn| put_json(&mut txn.open_table(MAIL_QUEUE)?, &mail.id, &mail))
            .await
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<QueuedMail>> {
        // Most polls find nothing due: answer those from a read, without a commit.
        let any_due = self
            .read(move |txn| {
                let queue = scan_json::<QueuedMail>(&txn.open_table(MAIL_QUEUE)?)?;
                Ok(queue.iter().any(|(_, mail)| mail.claimable(now)))
            })
            .await?;
        if !any_due {
            return Ok(Vec::new());
        }
        self.write(move |txn| {
            let mut queue = txn.open_table(MAIL_QUEUE)?;
            let mut due: Vec<QueuedMail> = scan_json::<QueuedMail>(&queue)?
                .into_iter()
                .map(|(_, mail)| mail)
                .filter(|mail| mail.claimable(now))
                .collect();
            due.sort_by_key(|mail| mail.next_attempt_at);
            due.truncate(limit);
            for mail in &mut due {
                mail.leased_until = Some(lease_until);
                put_json(&mut queue, &mail.id, mail)?;
            }
            Ok(due)
        })
        .await
    }

    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |txn| {
            let mut queue = txn.open_table(MAIL_QUEUE)?;
            if let Some(mut mail) = get_json::<QueuedMail>(&queue, &id)? {
                mail.attempts = attempts;
                mail.next_attempt_at = next_attempt_at;
                mail.leased_until = None;
                put_json(&mut queue, &id, &mail)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_mail(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |txn| {
            txn.open_table(MAIL_QUEUE)?.remove(id.as_str())?;
            Ok(())
        })
        .await
    }
}
