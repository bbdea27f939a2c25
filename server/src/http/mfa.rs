//! `/v1/auth/mfa/*`.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;

use super::auth::answer_with_tokens;
use super::body;
use super::context::{app_state, client_info};
use super::respond;
use super::users::authenticated;
use crate::error::ApiResult;
use crate::service::mfa;

#[endpoint(responses((status_code = 200, description = "The secret, QR code and backup codes, shown once", body = respond::EnrolmentEnvelope)), tags("mfa"), security(("bearer" = [])))]
pub async fn setup(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = authenticated(&state, req).await?;
    let enrolment = mfa::setup(&state, &principal, &client_info(req, depot, &state)).await?;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::OK,
        "Scan the QR code, then confirm with a code from the app. Keep the backup codes safe: they are shown once.",
        enrolment,
    );
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CodeBody {
    code: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("mfa"), request_body = CodeBody, security(("bearer" = [])))]
pub async fn verify(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = authenticated(&state, req).await?;
    let b: CodeBody = body::json(req).await?;
    mfa::verify(&state, &principal, b.code, &client_info(req, depot, &state)).await?;
    respond::message(res, "MFA is now enabled");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChallengeBody {
    mfa_token: Option<String>,
    code: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Tokens and the user, in the success envelope", body = respond::TokensEnvelope)), tags("mfa"), request_body = ChallengeBody)]
pub async fn challenge(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: ChallengeBody = body::json(req).await?;
    let issued = mfa::challenge(
        &state,
        b.mfa_token,
        b.code,
        &client_info(req, depot, &state),
    )
    .await?;
    answer_with_tokens(&state, res, &issued, "Login successful");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DisableBody {
    password: Option<String>,
    code: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("mfa"), request_body = DisableBody, security(("bearer" = [])))]
pub async fn disable(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = authenticated(&state, req).await?;
    let b: DisableBody = body::json(req).await?;
    mfa::disable(
        &state,
        &principal,
        b.password,
        b.code,
        &client_info(req, depot, &state),
    )
    .await?;
    respond::message(res, "MFA is now disabled");
    Ok(())
}

#[endpoint(responses((status_code = 200, description = "New backup codes, shown once", body = respond::BackupCodesEnvelope)), tags("mfa"), request_body = CodeBody, security(("bearer" = [])))]
pub async fn backup_codes(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = authenticated(&state, req).await?;
    let b: CodeBody = body::json(req).await?;
    let codes =
        mfa::regenerate_backup_codes(&state, &principal, b.code, &client_info(req, depot, &state))
            .await?;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::OK,
        "New backup codes; the old ones no longer work. They are shown once.",
        BackupCodesView {
            backup_codes: codes,
        },
    );
    Ok(())
}

/// Fresh backup codes; the old ones stop working.
#[derive(serde::Serialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCodesView {
    backup_codes: Vec<String>,
}
