//! `/v1/admin/*`. Every route names the permission it needs; every change is audited.

use salvo::http::StatusCode;
use salvo::prelude::*;

mod resources;
pub use resources::{
    create_resource, delete_resource, get_resource, list_resources, update_resource,
};

use super::context::{app_state, client_info};
use super::respond;
use super::{body, guard};
use crate::views;
use sigil_proto::admin::AuditPage;
use sigil_proto::users::{AdminSessionView, RevokedView};

use crate::audit::Acting;
use crate::error::ApiResult;
use crate::service::oauth::clients::{self, ClientInput};
use crate::service::principal::Principal;
use crate::state::AppState;

/// The calling admin, for services that audit what they do.
fn acting(state: &AppState, req: &Request, depot: &Depot, principal: &Principal) -> Acting {
    Acting::admin(&principal.user, client_info(req, depot, state))
}

#[endpoint(responses((status_code = 200, description = "Every client, in the success envelope", body = respond::ClientListEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn list_clients(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let list: Vec<sigil_proto::admin::ClientView> = state
        .stores
        .clients
        .list_clients()
        .await?
        .iter()
        .map(|c| views::client(c, None))
        .collect();
    respond::data(res, StatusCode::OK, list);
    Ok(())
}

#[endpoint(responses((status_code = 201, description = "Created, with the secret of a confidential client (shown once)", body = respond::ClientEnvelope)), status_codes(201, 400, 401, 403, 404, 409, 423, 429, 503), tags("admin"), request_body = ClientInput, security(("bearer" = [])))]
pub async fn create_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let input: ClientInput = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let (client, secret) = clients::create(&state, input, &by).await?;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::CREATED,
        "Client created. Store the secret now: it is not shown again.",
        views::client(&client, secret),
    );
    Ok(())
}

fn client_id(req: &Request) -> String {
    req.param::<String>("id").unwrap_or_default()
}

#[endpoint(responses((status_code = 200, description = "The client, in the success envelope", body = respond::ClientEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = String, Path, description = "The id")))]
pub async fn get_client(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let client = clients::get(&state, &client_id(req)).await?;
    respond::data(res, StatusCode::OK, views::client(&client, None));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The client, in the success envelope", body = respond::ClientEnvelope)), tags("admin"), request_body = ClientInput, security(("bearer" = [])), parameters(("id" = String, Path, description = "The id")))]
pub async fn update_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let input: ClientInput = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let client = clients::update(&state, &client_id(req), input, &by).await?;
    respond::data(res, StatusCode::OK, views::client(&client, None));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = String, Path, description = "The id")))]
pub async fn delete_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = client_id(req);
    clients::delete(&state, &id, &acting(&state, req, depot, principal)).await?;
    respond::message(res, "Client deleted");
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The client with its new secret (shown once)", body = respond::ClientEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = String, Path, description = "The id")))]
pub async fn rotate_client_secret(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let by = acting(&state, req, depot, principal);
    let (client, secret) = clients::rotate_secret(&state, &client_id(req), &by).await?;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::OK,
        "New secret issued; the old one no longer works. Store it now: it is not shown again.",
        views::client(&client, Some(secret)),
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The key ring, newest first", body = respond::KeyListEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn list_keys(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let keys = state
        .keyring
        .list(state.clock.now())
        .await
        .map_err(crate::error::ApiError::internal)?;
    respond::data(res, StatusCode::OK, keys);
    Ok(())
}

#[derive(serde::Deserialize, Default, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    revoke_current: bool,
}

/// A new signing key: published now, signing after the pre-publication window; or, with
/// `revokeCurrent`, the active key is dropped and the new key signs at once.
#[endpoint(responses((status_code = 200, description = "The key ring after the rotation", body = respond::KeyListEnvelope)), tags("admin"), request_body = RotateBody, security(("bearer" = [])))]
pub async fn rotate_keys(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let b: RotateBody = body::optional_json(req).await?;
    let by = acting(&state, req, depot, principal);
    let keys = users_admin::rotate_keys(&state, b.revoke_current, &by).await?;
    respond::data_with_message(res, StatusCode::OK, "Key ring rotated", keys);
    Ok(())
}

/// `/v1/admin/*` only from `SIGIL_ADMIN_ALLOWED_IPS`, when set.
#[handler]
pub async fn allowlist(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let Ok(state) = app_state(depot) else { return };
    let allowed = &state.config.admin_allowed_ips;
    if allowed.is_empty() {
        return;
    }
    let ip = super::context::client_ip(req, &state.config.trusted_proxies);
    if !ip.is_some_and(|ip| allowed.iter().any(|net| net.contains(&ip))) {
        let refused = crate::error::ApiError::new(
            crate::error::ErrorCode::InsufficientPermissions,
            "The admin API does not answer this address",
        );
        super::respond::render_error(&refused, depot, res);
        ctrl.skip_rest();
    }
}

fn user_id(req: &Request) -> ApiResult<uuid::Uuid> {
    req.param::<String>("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            crate::error::ApiError::new(crate::error::ErrorCode::UserNotFound, "User not found")
        })
}

use crate::service::admin as users_admin;

#[endpoint(responses((status_code = 200, description = "A page of users", body = respond::AdminUserListEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn list_users(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let params: users_admin::UserListParams = req.parse_queries().unwrap_or_default();
    let (users, pagination) = users_admin::list_users(&state, &params).await?;
    let page = sigil_proto::users::UserPage {
        users: users.iter().map(views::admin_user).collect(),
        pagination,
    };
    respond::data(res, StatusCode::OK, page);
    Ok(())
}

#[endpoint(responses((status_code = 201, description = "Created", body = respond::AdminUserEnvelope)), status_codes(201, 400, 401, 403, 404, 409, 423, 429, 503), tags("admin"), request_body = users_admin::NewUserInput, security(("bearer" = [])))]
pub async fn create_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let input: users_admin::NewUserInput = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let user = users_admin::create(&state, input, &by).await?;
    respond::data_with_message(
        res,
        StatusCode::CREATED,
        "User created",
        views::admin_user(&user),
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::AdminUserEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn get_user(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let user = users_admin::get_user(&state, user_id(req)?).await?;
    respond::data(res, StatusCode::OK, views::admin_user(&user));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::AdminUserEnvelope)), tags("admin"), request_body = users_admin::UserUpdate, security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn update_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = user_id(req)?;
    let input: users_admin::UserUpdate = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let user = users_admin::change_user(&state, principal, id, input, &by).await?;
    respond::data_with_message(
        res,
        StatusCode::OK,
        "User updated successfully",
        views::admin_user(&user),
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn delete_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = user_id(req)?;
    users_admin::delete_user(&state, id, &acting(&state, req, depot, principal)).await?;
    respond::message(res, "User deleted; their sessions were revoked");
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::AdminUserEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn unlock_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = user_id(req)?;
    let user = users_admin::unlock(&state, id, &acting(&state, req, depot, principal)).await?;
    respond::data(res, StatusCode::OK, views::admin_user(&user));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::AdminUserEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn reset_user_mfa(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = user_id(req)?;
    let by = acting(&state, req, depot, principal);
    let user = users_admin::reset_mfa(&state, id, &by).await?;
    respond::data(res, StatusCode::OK, views::admin_user(&user));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The user's live sessions", body = respond::AdminSessionListEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn user_sessions(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let sessions = users_admin::sessions(&state, user_id(req)?).await?;
    let view: Vec<AdminSessionView> = sessions.iter().map(views::admin_session).collect();
    respond::data(res, StatusCode::OK, view);
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "How many sessions were revoked", body = respond::RevokedEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The user's id")))]
pub async fn revoke_user_sessions(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = user_id(req)?;
    let by = acting(&state, req, depot, principal);
    let revoked = users_admin::revoke_sessions(&state, id, &by).await?;
    respond::data_with_message(
        res,
        StatusCode::OK,
        "Sessions revoked",
        RevokedView {
            revoked: revoked.len() as u64,
        },
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "A page of audit events, newest first", body = respond::AuditEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn audit_events(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let params: crate::service::admin_reports::AuditParams =
        req.parse_queries().unwrap_or_default();
    let (events, next_cursor) = crate::service::admin_reports::audit(&state, &params).await?;
    respond::data(
        res,
        StatusCode::OK,
        AuditPage {
            events: events.into_iter().map(views::audit_event).collect(),
            next_cursor,
        },
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "Counts for the dashboard", body = respond::StatsEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn stats(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let numbers = crate::service::admin_reports::stats(&state).await?;
    respond::data(res, StatusCode::OK, numbers);
    Ok(())
}
