//! `/v1/admin/*`. Every route names the permission it needs; every change is audited.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::json;

use super::body;
use super::context::{app_state, client_info};
use super::respond;
use super::users::authenticated;
use crate::audit::{self, Audit};
use crate::domain::Permission;
use crate::error::ApiResult;
use crate::service::oauth::clients::{self, ClientInput, ClientView};
use crate::service::principal::Principal;
use crate::state::AppState;

async fn admin(state: &AppState, req: &Request, permission: Permission) -> ApiResult<Principal> {
    let principal = authenticated(state, req).await?;
    principal.require(permission)?;
    Ok(principal)
}

async fn audit_admin(
    state: &AppState,
    req: &Request,
    depot: &Depot,
    principal: &Principal,
    action: &str,
    details: serde_json::Value,
) {
    let client = client_info(req, depot, state);
    audit::record(
        state,
        &client,
        Audit {
            action,
            actor: Some(principal.user.id),
            target: None,
            details,
        },
    )
    .await;
}

#[handler]
pub async fn list_clients(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    admin(&state, req, Permission::AdminClientsManage).await?;
    let list: Vec<ClientView> = state
        .stores
        .clients
        .list_clients()
        .await?
        .iter()
        .map(|c| ClientView::new(c, None))
        .collect();
    respond::data(res, StatusCode::OK, list);
    Ok(())
}

#[handler]
pub async fn create_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = admin(&state, req, Permission::AdminClientsManage).await?;
    let input: ClientInput = body::json(req).await?;
    let (client, secret) = clients::create(&state, input).await?;
    audit_admin(
        &state,
        req,
        depot,
        &principal,
        "admin.client.created",
        json!({ "clientId": client.client_id }),
    )
    .await;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::CREATED,
        "Client created. Store the secret now: it is not shown again.",
        ClientView::new(&client, secret),
    );
    Ok(())
}

fn client_id(req: &Request) -> String {
    req.param::<String>("id").unwrap_or_default()
}

#[handler]
pub async fn get_client(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    admin(&state, req, Permission::AdminClientsManage).await?;
    let client = clients::get(&state, &client_id(req)).await?;
    respond::data(res, StatusCode::OK, ClientView::new(&client, None));
    Ok(())
}

#[handler]
pub async fn update_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = admin(&state, req, Permission::AdminClientsManage).await?;
    let input: ClientInput = body::json(req).await?;
    let client = clients::update(&state, &client_id(req), input).await?;
    audit_admin(
        &state,
        req,
        depot,
        &principal,
        "admin.client.updated",
        json!({ "clientId": client.client_id }),
    )
    .await;
    respond::data(res, StatusCode::OK, ClientView::new(&client, None));
    Ok(())
}

#[handler]
pub async fn delete_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = admin(&state, req, Permission::AdminClientsManage).await?;
    let id = client_id(req);
    clients::delete(&state, &id).await?;
    audit_admin(
        &state,
        req,
        depot,
        &principal,
        "admin.client.deleted",
        json!({ "clientId": id }),
    )
    .await;
    respond::message(res, "Client deleted");
    Ok(())
}

#[handler]
pub async fn rotate_client_secret(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = admin(&state, req, Permission::AdminClientsManage).await?;
    let (client, secret) = clients::rotate_secret(&state, &client_id(req)).await?;
    audit_admin(
        &state,
        req,
        depot,
        &principal,
        "admin.client.secret_rotated",
        json!({ "clientId": client.client_id }),
    )
    .await;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::OK,
        "New secret issued; the old one no longer works. Store it now: it is not shown again.",
        ClientView::new(&client, Some(secret)),
    );
    Ok(())
}

#[handler]
pub async fn list_keys(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    admin(&state, req, Permission::AdminKeysManage).await?;
    let keys = state
        .keyring
        .list(state.clock.now())
        .await
        .map_err(crate::error::ApiError::internal)?;
    respond::data(res, StatusCode::OK, keys);
    Ok(())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    revoke_current: bool,
}

/// A new signing key: published now, signing after the pre-publication window; or, with
/// `revokeCurrent`, the active key is dropped and the new key signs at once.
#[handler]
pub async fn rotate_keys(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = admin(&state, req, Permission::AdminKeysManage).await?;
    let b: RotateBody = body::optional_json(req).await?;
    let now = state.clock.now();
    state
        .keyring
        .rotate_now(b.revoke_current, now)
        .await
        .map_err(crate::error::ApiError::internal)?;
    audit_admin(
        &state,
        req,
        depot,
        &principal,
        "admin.keys.rotated",
        json!({ "revokeCurrent": b.revoke_current }),
    )
    .await;
    let keys = state
        .keyring
        .list(now)
        .await
        .map_err(crate::error::ApiError::internal)?;
    respond::data_with_message(res, StatusCode::OK, "Key ring rotated", keys);
    Ok(())
}
