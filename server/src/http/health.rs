//! Health for operators and probes (SPEC section 8).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::app_state;
use crate::error::ApiResult;
use crate::state::AppState;

/// Whether each store answers right now: (users and keys, sessions).
async fn stores_up(state: &AppState) -> (bool, bool) {
    let (users, sessions) = tokio::join!(state.stores.users.ping(), state.stores.sessions.ping());
    (users.is_ok(), sessions.is_ok())
}

fn word(up: bool) -> &'static str {
    if up { "healthy" } else { "unhealthy" }
}

/// The seed's health document, at `/health` and `/v1/health`: `status` is `OK` when both
/// stores answer (else `ERROR` with a 503). Mail is reported but does not fail the check:
/// tokens are served without it. Nothing about where the data lives is shown.
#[handler]
pub async fn health(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let (database, redis) = stores_up(&state).await;
    let up = database && redis;
    res.status_code(if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    res.render(Json(json!({
        "status": if up { "OK" } else { "ERROR" },
        "timestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": state.started_at.elapsed().as_secs(),
        // With the embedded store, one file plays both parts.
        "services": {
            "database": word(database),
            "redis": word(redis),
            "email": word(state.mailer.is_healthy()),
        },
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
    // A draining replica is healthy but must receive no new traffic.
    if state.lifecycle.is_draining() {
        res.status_code(StatusCode::SERVICE_UNAVAILABLE);
        res.render(Json(json!({ "ready": false, "draining": true })));
        return Ok(());
    }
    let (database, redis) = stores_up(&state).await;
    let up = database && redis;
    res.status_code(if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    res.render(Json(json!({ "ready": up })));
    Ok(())
}

/// Prometheus text exposition format.
#[handler]
pub async fn metrics(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    res.headers_mut().insert(
        "content-type",
        salvo::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.write_body(state.metrics.render())
        .map_err(crate::error::ApiError::internal)?;
    Ok(())
}
