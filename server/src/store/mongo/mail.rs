//! The mail queue in MongoDB: collection `mail_queue`, indexed on when each mail is due.
//! A claim is one `findOneAndUpdate` per mail, so two replicas never take the same one.

use async_trait::async_trait;
use bson::{DateTime, doc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{MongoStore, bson_time};
use crate::store::{MailQueueStore, QueuedMail, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MailDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: String,
    sealed: String,
    attempts: i64,
    created_at: DateTime,
    next_attempt_at: DateTime,
    #[serde(default)]
    leased_until: Option<DateTime>,
}

impl From<&QueuedMail> for MailDoc {
    fn from(mail: &QueuedMail) -> Self {
        Self {
            id: mail.id.clone(),
            kind: mail.kind.clone(),
            sealed: mail.sealed.clone(),
            attempts: i64::from(mail.attempts),
            created_at: bson_time(mail.created_at),
            next_attempt_at: bson_time(mail.next_attempt_at),
            leased_until: mail.leased_until.map(bson_time),
        }
    }
}

impl From<MailDoc> for QueuedMail {
    fn from(doc: MailDoc) -> Self {
        Self {
            id: doc.id,
            kind: doc.kind,
            sealed: doc.sealed,
            attempts: u32::try_from(doc.attempts).unwrap_or(u32::MAX),
            created_at: doc.created_at.to_time_0_3(),
            next_attempt_at: doc.next_attempt_at.to_time_0_3(),
            leased_until: doc.leased_until.map(DateTime::to_time_0_3),
        }
    }
}

#[async_trait]
impl MailQueueStore for MongoStore {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        self.mail.insert_one(MailDoc::from(mail)).await?;
        Ok(())
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<QueuedMail>> {
        let now = bson_time(now);
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let filter = doc! {
                "next_attempt_at": { "$lte": now },
                "$or": [{ "leased_until": null }, { "leased_until": { "$lte": now } }],
            };
            let taken = self
                .mail
                .find_one_and_update(
                    filter,
                    doc! { "$set": { "leased_until": bson_time(lease_until) } },
                )
                .sort(doc! { "next_attempt_at": 1 })
                .return_document(mongodb::options::ReturnDocument::After)
                .await?;
            match taken {
                Some(doc) => claimed.push(QueuedMail::from(doc)),
                None => break,
            }
        }
        Ok(claimed)
    }

    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.mail
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "attempts": i64::from(attempts),
                    "next_attempt_at": bson_time(next_attempt_at),
                    "leased_until": null,
                } },
            )
            .await?;
        Ok(())
    }

    async fn remove_mail(&self, id: &str) -> StoreResult<()> {
        self.mail.delete_one(doc! { "_id": id }).await?;
        Ok(())
    }
}
