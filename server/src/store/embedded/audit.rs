//! Audit events in the embedded store, keyed by a time-ordered id so that a reverse scan is
//! newest first.

use async_trait::async_trait;
use redb::{ReadTransaction, ReadableTable};

use super::tables::AUDIT;
use super::{EmbeddedStore, decode, put_json};
use crate::store::{AuditEvent, AuditFilter, AuditStore, StoreResult};

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let event = event.clone();
        self.write(move |txn| put_json(&mut txn.open_table(AUDIT)?, &event.id, &event))
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let filter = filter.clone();
        self.scan(move |txn| audit_scan(txn, &filter, limit)).await
    }

    async fn count_audit(&self, filter: &AuditFilter) -> StoreResult<u64> {
        let filter = filter.clone();
        self.scan(move |txn| Ok(audit_scan(txn, &filter, usize::MAX)?.len() as u64))
            .await
    }
}

/// Newest first, filtered, at most `limit`.
fn audit_scan(
    txn: &ReadTransaction,
    filter: &AuditFilter,
    limit: usize,
) -> StoreResult<Vec<AuditEvent>> {
    let audit = txn.open_table(AUDIT)?;
    let mut out = Vec::new();
    for row in audit.iter()?.rev() {
        let (_, bytes) = row?;
        let event: AuditEvent = decode(bytes.value())?;
        if filter.matches(&event) {
            out.push(event);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}
