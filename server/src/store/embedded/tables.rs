//! The redb tables. Records are JSON, so a new optional field needs no migration.

use redb::{MultimapTableDefinition, TableDefinition, WriteTransaction};

use crate::store::StoreResult;

pub(super) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
pub(super) const USERS_BY_EMAIL: TableDefinition<&str, &str> =
    TableDefinition::new("users_by_email");
pub(super) const USERS_BY_USERNAME: TableDefinition<&str, &str> =
    TableDefinition::new("users_by_username");
pub(super) const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("signing_keys");
pub(super) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
pub(super) const USER_SESSIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_sessions");
/// Refresh token digest -> the session it was issued for, current or rotated out.
pub(super) const REFRESH: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_tokens");
/// Blocked access-token id -> Unix time it expires.
pub(super) const BLOCKED_JTI: TableDefinition<&str, u64> = TableDefinition::new("blocked_jti");
/// One-time token digest -> token record.
pub(super) const ONE_TIME_TOKENS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("one_time_tokens");
/// Time-ordered event id -> audit event.
pub(super) const AUDIT: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_events");
/// Client id -> client record.
pub(super) const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("oauth_clients");
/// `user id/client id` -> granted scopes (JSON list).
pub(super) const CONSENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("consents");
pub(super) const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("api_resources");
/// Resource identifier -> id: makes identifiers unique.
pub(super) const RESOURCE_IDENTIFIERS: TableDefinition<&str, &str> =
    TableDefinition::new("api_resource_identifiers");
/// Single-use code key -> (value, Unix time it expires).
pub(super) const MAIL_QUEUE: TableDefinition<&str, &[u8]> = TableDefinition::new("mail_queue");
pub(super) const CODES: TableDefinition<&str, (&str, i64)> = TableDefinition::new("codes");
/// Rate-limit counters, kept here before they moved to memory (`store::counters`); files
/// written then still hold the table, and opening them drops it.
const LEGACY_RATE_LIMITS: TableDefinition<&str, (u64, i64)> = TableDefinition::new("rate_limits");

/// Creates every table, so that read transactions never meet a missing one, and drops retired
/// ones.
pub(super) fn create_all(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(USERS)?;
    txn.open_table(USERS_BY_EMAIL)?;
    txn.open_table(USERS_BY_USERNAME)?;
    txn.open_table(KEYS)?;
    txn.open_table(SESSIONS)?;
    txn.open_multimap_table(USER_SESSIONS)?;
    txn.open_table(REFRESH)?;
    txn.open_table(BLOCKED_JTI)?;
    txn.open_table(ONE_TIME_TOKENS)?;
    txn.open_table(AUDIT)?;
    txn.delete_table(LEGACY_RATE_LIMITS)?;
    txn.open_table(CODES)?;
    txn.open_table(CLIENTS)?;
    txn.open_table(CONSENTS)?;
    txn.open_table(RESOURCES)?;
    txn.open_table(RESOURCE_IDENTIFIERS)?;
    txn.open_table(MAIL_QUEUE)?;
    Ok(())
}
