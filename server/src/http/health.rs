//! Health for operators and probes (SPEC section 8).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::app_state;
use crate::error::ApiResult;
use crate::state::AppState;

/// Whether the store answers a cheap query right now.
async fn store_up(state: &AppState) -> bool {
    state.stores.users.count_users().await.is_ok()
}

#[handler]
pub async fn health(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let up = store_up(&state).await;
    let store = if up { "up" } else { "down" };
    res.status_code(if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    res.render(Json(json!({
        "status": if up { "healthy" } else { "unhealthy" },
        "timestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": state.started_at.elapsed().as_secs(),
        "storage": state.stores.description,
        // The embedded store plays both parts until the MongoDB and Redis backends exist.
        "services": { "database": store, "redis": store, "email": "disabled" },
    })));
    Ok(())
}

#[handler]
pub async fn live(res: &mut Response) {
    res.render(Json(json!({ "status": "alive" })));
}

#[handler]
pub async fn ready(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let up = store_up(&state).await;
    res.status_code(if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    res.render(Json(json!({ "ready": up })));
    Ok(())
}
