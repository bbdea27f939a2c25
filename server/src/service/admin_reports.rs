//! The admin API's read-only views: the audit trail, paged by cursor, and the dashboard
//! numbers.

use std::collections::HashMap;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::admin::field;
use crate::domain::UserStatus;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditFilter, UserQuery};

/// Audit query parameters as received.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditParams {
    pub user: Option<String>,
    #[serde(rename = "type")]
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

fn time_param(name: &str, value: &Option<String>) -> ApiResult<Option<OffsetDateTime>> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| OffsetDateTime::parse(v, &Rfc3339).map_err(|_| field(name, "an RFC 3339 time")))
        .transpose()
}

/// One page of audit events (newest first) and the cursor of the next page.
pub async fn audit(
    state: &AppState,
    params: &AuditParams,
) -> ApiResult<(Vec<AuditEvent>, Option<String>)> {
    let limit = match params.limit.as_deref().filter(|v| !v.is_empty()) {
        None => 50,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| field("limit", "from 1 to 100"))?,
    };
    let filter = AuditFilter {
        user_id: params
            .user
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<Uuid>().map_err(|_| field("user", "a user id")))
            .transpose()?,
        action: params.action.clone().filter(|a| !a.is_empty()),
        since: time_param("since", &params.since)?,
        until: time_param("until", &params.until)?,
        before_id: params.cursor.clone().filter(|c| !c.is_empty()),
    };
    let mut events = state.stores.audit.list_audit(&filter, limit + 1).await?;
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map(|e| e.id.clone())
    });
    Ok((events, next.flatten()))
}

pub use sigil_proto::admin::Stats;

pub async fn stats(state: &AppState) -> ApiResult<Stats> {
    let now = state.clock.now();
    let mut users = HashMap::new();
    let mut total = 0;
    for status in [
        UserStatus::Pending,
        UserStatus::Active,
        UserStatus::Suspended,
        UserStatus::Deleted,
    ] {
        let query = UserQuery {
            status: Some(status),
            limit: 1,
            ..UserQuery::default()
        };
        let (_, count) = state.stores.users.list_users(&query).await?;
        total += count;
        users.insert(status.as_str().to_owned(), count);
    }
    users.insert("total".to_owned(), total);
    let count = |action: &str, since: time::Duration| {
        let filter = AuditFilter {
            action: Some(action.to_owned()),
            since: Some(now - since),
            ..AuditFilter::default()
        };
        async move { state.stores.audit.count_audit(&filter).await }
    };
    let hour = time::Duration::hours(1);
    let day = time::Duration::days(1);
    Ok(Stats {
        users,
        active_sessions: state.stores.sessions.count_sessions(now).await?,
        logins_last_hour: count("login.succeeded", hour).await?,
        logins_last_day: count("login.succeeded", day).await?,
        failures_last_hour: count("login.failed", hour).await?,
        failures_last_day: count("login.failed", day).await?,
        lockouts_last_day: count("account.locked", day).await?,
        generated_at: now,
    })
}
