//! `/v1/auth/mfa/*`.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;

use super::context::{app_state, client_info};
use super::respond;
use super::{body, guard};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::service::mfa;
use zeroize::Zeroizing;

/// The seed's `{"type": "totp", "deviceName": ...}`; `password` re-authenticates a session
/// older than `SIGIL_REAUTHENTICATION_WINDOW`.
#[derive(Default, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SetupBody {
    #[serde(rename = "type")]
    #[salvo(schema(value_type = Option<super::schema_values::MfaTypeValue>))]
    kind: Option<String>,
    /// Accepted as the seed documents it; Sigil names no devices.
    #[allow(dead_code)]
    device_name: Option<String>,
    password: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "The secret, QR code and backup codes, shown once", body = respond::EnrolmentEnvelope)), tags("mfa"), request_body = SetupBody, security(("bearer" = [])))]
pub async fn setup(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: SetupBody = body::optional_json(req).await?;
    match b.kind.as_deref() {
        None | Some("totp") => {}
        // The seed lists sms and email; Sigil sends no SMS, and emailed codes are not built
        // (README: what is absent). Refused rather than silently enrolling TOTP instead.
        Some(kind @ ("sms" | "email")) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "type",
                format!("{kind} codes are not supported; use totp"),
            )]));
        }
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "type",
                "type must be totp",
            )]));
        }
    }
    let client = client_info(req, depot, &state);
    let enrolment = mfa::setup(&state, principal, b.password.map(Zeroizing::new), &client).await?;
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
    #[salvo(schema(required = true, nullable = false, min_length = 6, max_length = 20))]
    code: Option<String>,
    /// Accepted as the seed documents it; a user has one authenticator, so it selects nothing.
    #[allow(dead_code)]
    device_id: Option<String>,
    /// Re-authenticates a session older than `SIGIL_REAUTHENTICATION_WINDOW`.
    password: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("mfa"), request_body = CodeBody, security(("bearer" = [])))]
pub async fn verify(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: CodeBody = body::json(req).await?;
    let client = client_info(req, depot, &state);
    let password = b.password.map(Zeroizing::new);
    let message = match mfa::verify(&state, principal, b.code, password, &client).await? {
        mfa::Verified::Enabled => "MFA verified successfully; MFA is now enabled",
        mfa::Verified::Confirmed => "MFA verified successfully",
    };
    respond::message(res, message);
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChallengeBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    mfa_token: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 6, max_length = 20))]
    code: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Tokens and the user, in the success envelope", body = respond::TokensEnvelope)), tags("mfa"), request_body = ChallengeBody)]
pub async fn challenge(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: ChallengeBody = body::json(req).await?;
    let issued = crate::service::login::challenge(
        &state,
        b.mfa_token,
        b.code,
        &client_info(req, depot, &state),
    )
    .await?;
    respond::tokens(&state, res, &issued, "Login successful");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DisableBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    password: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 6, max_length = 20))]
    code: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("mfa"), request_body = DisableBody, security(("bearer" = [])))]
pub async fn disable(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: DisableBody = body::json(req).await?;
    mfa::disable(
        &state,
        principal,
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
    let principal = guard::principal(depot)?;
    let b: CodeBody = body::json(req).await?;
    let client = client_info(req, depot, &state);
    let password = b.password.map(Zeroizing::new);
    let codes = mfa::regenerate_backup_codes(&state, principal, b.code, password, &client).await?;
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    respond::data_with_message(
        res,
        StatusCode::OK,
        "New backup codes; the old ones no longer work. They are shown once.",
        sigil_proto::mfa::BackupCodesView {
            backup_codes: codes,
        },
    );
    Ok(())
}
