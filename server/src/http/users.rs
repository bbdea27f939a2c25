//! `/v1/users/me`.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;

use super::context::{app_state, client_info};
use super::respond;
use super::{body, guard};
use crate::error::ApiResult;
use crate::service::accounts::{self, ProfileInput};
use crate::service::devices;
use crate::views;

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::UserEnvelope)), tags("users"), security(("bearer" = [])))]
pub async fn me(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let principal = guard::principal(depot)?;
    respond::data(res, StatusCode::OK, views::user(&principal.user));
    Ok(())
}

#[derive(Deserialize, Default, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileBody {
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 100))]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 100))]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 20, pattern = "^[0-9+ ().-]*$"))]
    phone: Option<Option<String>>,
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::UserEnvelope)), tags("users"), request_body = ProfileBody, security(("bearer" = [])))]
pub async fn update_me(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: ProfileBody = body::json(req).await?;
    let user = accounts::update_profile(
        &state,
        principal.user.id,
        ProfileInput {
            first_name: b.first_name,
            last_name: b.last_name,
            phone: b.phone,
        },
    )
    .await?;
    respond::data_with_message(
        res,
        StatusCode::OK,
        "Profile updated successfully",
        views::user(&user),
    );
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "The signed-in user's sessions, in the success envelope", body = respond::SessionListEnvelope)), tags("users"), security(("bearer" = [])))]
pub async fn sessions(depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let list = devices::list(&state, principal).await?;
    respond::data(res, StatusCode::OK, list);
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("users"), security(("bearer" = [])), parameters(("id" = String, Path, description = "The id")))]
pub async fn revoke_session(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let id: String = req.param("id").unwrap_or_default();
    devices::revoke(&state, principal, &id, &client_info(req, depot, &state)).await?;
    respond::message(res, "Session terminated successfully");
    Ok(())
}

#[derive(Deserialize, Default, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    password: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("users"), request_body = DeleteBody, security(("bearer" = [])))]
pub async fn delete_me(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: DeleteBody = body::optional_json(req).await?;
    accounts::delete_account(
        &state,
        &client_info(req, depot, &state),
        &principal.user,
        b.password.map(zeroize::Zeroizing::new),
    )
    .await?;
    respond::message(res, "Account deleted");
    Ok(())
}
