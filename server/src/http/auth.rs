//! `/v1/auth/*`: registration, login, refresh, logout, password change.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::context::{app_state, client_info};
use super::respond;
use super::{body, cookies, guard};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldCode, FieldError};
use crate::service::accounts::{self, Registration};
use crate::service::login::{self as sign_in, LoginInput};
use crate::service::principal::{Principal, authenticate, bearer_token};
use crate::service::sessions;
use crate::service::{recovery, verification};
use crate::views;

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    #[salvo(schema(required = true, nullable = false, format = "email", max_length = 255))]
    email: Option<String>,
    #[salvo(schema(
        required = true,
        nullable = false,
        min_length = 3,
        max_length = 50,
        pattern = "^[A-Za-z0-9_-]+$"
    ))]
    username: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 12, max_length = 128))]
    password: Option<String>,
    #[salvo(schema(max_length = 100))]
    first_name: Option<String>,
    #[salvo(schema(max_length = 100))]
    last_name: Option<String>,
    #[salvo(schema(max_length = 20, pattern = "^[0-9+ ().-]*$"))]
    phone: Option<String>,
}

#[endpoint(responses((status_code = 201, description = "Registered; pending until the email is verified", body = respond::RegisteredEnvelope)), status_codes(201, 400, 401, 403, 404, 409, 423, 429, 503), tags("auth"), request_body = RegisterBody)]
pub async fn register(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: RegisterBody = body::json(req).await?;
    let client = client_info(req, depot, &state);
    let user = accounts::register(
        &state,
        Registration {
            email: b.email,
            username: b.username,
            password: b.password.map(Zeroizing::new),
            first_name: b.first_name,
            last_name: b.last_name,
            phone: b.phone,
        },
        &client,
    )
    .await?;
    respond::data_with_message(
        res,
        StatusCode::CREATED,
        "User registered successfully. Please check your email for verification.",
        views::registered(&user),
    );
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginBody {
    /// The email or the username signs in; one of them is required.
    #[salvo(schema(max_length = 255))]
    email: Option<String>,
    #[salvo(schema(max_length = 255))]
    username: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    password: Option<String>,
    #[serde(default)]
    remember_me: bool,
}

#[endpoint(responses((status_code = 200, description = "Tokens and the user, in the success envelope", body = respond::TokensEnvelope)), tags("auth"), request_body = LoginBody)]
pub async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: LoginBody = body::json(req).await?;
    let issued = sign_in::login(
        &state,
        LoginInput {
            email: b.email,
            username: b.username,
            password: b.password.map(Zeroizing::new),
            remember_me: b.remember_me,
        },
        client_info(req, depot, &state),
    )
    .await?;
    respond::tokens(&state, res, &issued, "Login successful");
    Ok(())
}

#[derive(Deserialize, Default, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshBody {
    /// Optional: the refresh cookie serves when it is absent.
    #[salvo(schema(max_length = 512))]
    refresh_token: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Tokens and the user, in the success envelope", body = respond::TokensEnvelope)), tags("auth"), request_body = RefreshBody)]
pub async fn refresh(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: RefreshBody = body::optional_json(req).await?;
    let Some(token) = b.refresh_token.or_else(|| cookies::refresh(&state, req)) else {
        return Err(ApiError::missing(
            ErrorCode::MissingRefreshToken,
            vec![FieldError::coded(
                FieldCode::RequiredFieldMissing,
                "refreshToken",
                "Send the refresh token in the body or the refresh cookie",
            )],
        ));
    };
    let issued = sessions::refresh(&state, &token, &client_info(req, depot, &state)).await?;
    respond::tokens(&state, res, &issued, "Token refreshed");
    Ok(())
}

#[derive(Deserialize, Default, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogoutBody {
    #[salvo(schema(max_length = 512))]
    refresh_token: Option<String>,
    #[serde(default)]
    logout_all_devices: bool,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("auth"), request_body = LogoutBody, security(("bearer" = [])))]
pub async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: LogoutBody = body::optional_json(req).await?;
    let refresh_token = b.refresh_token.or_else(|| cookies::refresh(&state, req));
    let principal: Option<Principal> = match req.headers().get("authorization") {
        None => None,
        Some(value) => {
            let checked = match bearer_token(value.to_str().ok()) {
                Ok(token) => authenticate(&state, token).await,
                Err(e) => Err(e),
            };
            match checked {
                Ok(principal) => Some(principal),
                // An expired (or otherwise refused) access token must not keep a session
                // alive that its refresh token can end: the refresh token alone suffices.
                // A store outage still refuses (fail closed).
                Err(e) if refresh_token.is_some() && e.code != ErrorCode::ServiceUnavailable => {
                    None
                }
                Err(e) => return Err(e),
            }
        }
    };
    sessions::logout(
        &state,
        &client_info(req, depot, &state),
        principal.as_ref(),
        refresh_token.as_deref(),
        b.logout_all_devices,
    )
    .await?;
    cookies::clear_refresh(&state, res);
    respond::message(res, "Logged out successfully");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangePasswordBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    current_password: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 12, max_length = 128))]
    new_password: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("auth"), request_body = ChangePasswordBody, security(("bearer" = [])))]
pub async fn change_password(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let principal = guard::principal(depot)?;
    let b: ChangePasswordBody = body::json(req).await?;
    accounts::change_password(
        &state,
        &client_info(req, depot, &state),
        &principal.user,
        &principal.session_id,
        b.current_password.map(Zeroizing::new),
        b.new_password.map(Zeroizing::new),
    )
    .await?;
    respond::message(res, "Password changed successfully");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    token: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "The user, in the success envelope", body = respond::UserEnvelope)), tags("auth"), request_body = TokenBody)]
pub async fn verify_email(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: TokenBody = body::json(req).await?;
    let token = recovery::required("token", b.token)
        .map_err(|e| ApiError::missing(ErrorCode::MissingToken, e.details))?;
    let user = verification::verify_email(&state, &token, &client_info(req, depot, &state)).await?;
    respond::data_with_message(
        res,
        StatusCode::OK,
        "Email verified successfully",
        views::user(&user),
    );
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmailBody {
    #[salvo(schema(required = true, nullable = false, format = "email", max_length = 255))]
    email: Option<String>,
}

/// Always the same answer, at the same speed, whether or not the address has an account.
#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("auth"), request_body = EmailBody)]
pub async fn resend_verification(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: EmailBody = body::json(req).await?;
    let email = recovery::required("email", b.email)?;
    verification::resend_verification(&state, email);
    respond::message(
        res,
        "If the address belongs to an unverified account, a new link is on its way",
    );
    Ok(())
}

/// Always the same answer, at the same speed, whether or not the address has an account.
#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("auth"), request_body = EmailBody)]
pub async fn forgot_password(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: EmailBody = body::json(req).await?;
    let email = recovery::required("email", b.email)?;
    recovery::forgot_password(&state, email, client_info(req, depot, &state));
    respond::message(res, "Password reset email sent if account exists");
    Ok(())
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResetBody {
    #[salvo(schema(required = true, nullable = false, min_length = 1, max_length = 512))]
    token: Option<String>,
    /// The seed's name; `password` is still read.
    #[serde(alias = "password")]
    #[salvo(schema(required = true, nullable = false, min_length = 12, max_length = 128))]
    new_password: Option<String>,
}

#[endpoint(responses((status_code = 200, description = "Done", body = respond::MessageEnvelope)), tags("auth"), request_body = ResetBody)]
pub async fn reset_password(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> ApiResult<()> {
    let state = app_state(depot)?;
    let b: ResetBody = body::json(req).await?;
    let token = recovery::required("token", b.token)?;
    let password = Zeroizing::new(recovery::required("newPassword", b.new_password)?);
    recovery::reset_password(&state, &token, password, &client_info(req, depot, &state)).await?;
    respond::message(res, "Password reset successfully");
    Ok(())
}
