//! `/v1/admin/resources`: API resources (RFC 8707) that OAuth tokens can be addressed to.
//! Managed with the `admin.clients.manage` permission, like the clients that use them.

use salvo::http::StatusCode;
use salvo::prelude::*;

use super::acting;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::body;
use crate::http::context::app_state;
use crate::http::guard;
use crate::http::respond;
use sigil_proto::admin::ResourceView;

use crate::service::api_resources::{self, ResourceInput};
use crate::views;

fn resource_id(req: &Request) -> ApiResult<uuid::Uuid> {
    req.param::<String>("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such API resource"))
}

#[endpoint(responses((status_code = 200, description = "Every API resource, in the success envelope", body = respond::ResourceListEnvelope)), tags("admin"), security(("bearer" = [])))]
pub async fn list_resources(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let list: Vec<ResourceView> = state
        .stores
        .resources
        .list_resources()
        .await?
        .iter()
        .map(views::resource)
        .collect();
    respond::data(res, StatusCode::OK, list);
    Ok(())
}

#[endpoint(responses((status_code = 201, description = "Registered", body = respond::ResourceEnvelope)), status_codes(201, 400, 401, 403, 409, 429, 503), tags("admin"), request_body = ResourceInput, security(("bearer" = [])))]
pub async fn create_resource(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let input: ResourceInput = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let resource = api_resources::create(&state, input, &by).await?;
    respond::data(res, StatusCode::CREATED, views::resource(&resource));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The API resource, in the success envelope", body = respond::ResourceEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The resource's id")))]
pub async fn get_resource(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    guard::authorized(depot)?;
    let resource = api_resources::get(&state, resource_id(req)?).await?;
    respond::data(res, StatusCode::OK, views::resource(&resource));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The API resource, in the success envelope", body = respond::ResourceEnvelope)), tags("admin"), request_body = ResourceInput, security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The resource's id")))]
pub async fn update_resource(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = resource_id(req)?;
    let input: ResourceInput = body::json(req).await?;
    let by = acting(&state, req, depot, principal);
    let resource = api_resources::update(&state, id, input, &by).await?;
    respond::data(res, StatusCode::OK, views::resource(&resource));
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("admin"), security(("bearer" = [])), parameters(("id" = uuid::Uuid, Path, description = "The resource's id")))]
pub async fn delete_resource(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::authorized(depot)?;
    let id = resource_id(req)?;
    api_resources::delete(&state, id, &acting(&state, req, depot, principal)).await?;
    respond::message(res, "API resource deleted");
    Ok(())
}
