//! Audit events in MongoDB: collection `audit_events`, purged by a TTL index after the
//! retention period.

use async_trait::async_trait;
use bson::{DateTime, doc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MongoStore, bson_time, collect, corrupt, mongo_err};
use crate::store::{AuditEvent, AuditFilter, AuditStore, StoreError, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AuditDoc {
    #[serde(rename = "_id")]
    id: String,
    at: DateTime,
    action: String,
    actor_id: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: bson::Bson,
    purge_at: DateTime,
}

impl AuditDoc {
    fn into_event(self) -> StoreResult<AuditEvent> {
        let id = |v: Option<String>| -> StoreResult<Option<Uuid>> {
            v.map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("audit user id: {e}")))
            })
            .transpose()
        };
        Ok(AuditEvent {
            actor_id: id(self.actor_id)?,
            target_id: id(self.target_id)?,
            id: self.id,
            at: self.at.to_time_0_3(),
            action: self.action,
            ip: self.ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            details: self.details.into_relaxed_extjson(),
        })
    }
}
#[async_trait]
impl AuditStore for MongoStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let details = bson::to_bson(&event.details).map_err(corrupt)?;
        let doc = AuditDoc {
            id: event.id.clone(),
            at: bson_time(event.at),
            action: event.action.clone(),
            actor_id: event.actor_id.map(|u| u.to_string()),
            target_id: event.target_id.map(|u| u.to_string()),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            request_id: event.request_id.clone(),
            details,
            purge_at: bson_time(event.at + self.audit_retention),
        };
        self.audit.insert_one(doc).await?;
        Ok(())
    }

    async fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64> {
        self.audit
            .count_documents(audit_filter(filter))
            .await
            .map_err(mongo_err)
    }

    async fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let query = audit_filter(filter);
        let docs = self
            .audit
            .find(query)
            .sort(doc! { "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await?;
        let docs = collect(docs).await?;
        docs.into_iter().map(AuditDoc::into_event).collect()
    }
}

/// The MongoDB filter of an audit query.
fn audit_filter(filter: &AuditFilter) -> bson::Document {
    let mut query = doc! {};
    if let Some(user) = filter.user_id {
        let user = user.to_string();
        query.insert(
            "$or",
            vec![doc! { "actor_id": &user }, doc! { "target_id": &user }],
        );
    }
    if let Some(action) = &filter.action {
        query.insert("action", action);
    }
    let mut at = doc! {};
    if let Some(since) = filter.since {
        at.insert("$gte", bson_time(since));
    }
    if let Some(until) = filter.until {
        at.insert("$lt", bson_time(until));
    }
    if !at.is_empty() {
        query.insert("at", at);
    }
    if let Some(before) = &filter.before_id {
        query.insert("_id", doc! { "$lt": before });
    }
    query
}
