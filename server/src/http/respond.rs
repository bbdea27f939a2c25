//! The SPEC envelope: one place renders success bodies and one renders errors.

use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::request_id;
use sigil_proto::{Envelope, ErrorBody, ErrorEnvelope};

use crate::error::{ApiError, ErrorCode};
use crate::service::sessions::IssuedTokens;
use crate::state::AppState;

/// `{"success": true, "data": ...}` with the given status.
pub fn data<T: Serialize + Send>(res: &mut Response, status: StatusCode, data: T) {
    res.status_code(status);
    res.render(Json(Envelope::data(data)));
}

pub fn data_with_message<T: Serialize + Send>(
    res: &mut Response,
    status: StatusCode,
    message: &'static str,
    data: T,
) {
    res.status_code(status);
    res.render(Json(Envelope::with_message(message, Some(data))));
}

pub fn message(res: &mut Response, message: &'static str) {
    res.status_code(StatusCode::OK);
    res.render(Json(Envelope::<()>::with_message(message, None)));
}

/// A sign-in, MFA challenge or refresh: the tokens in the envelope, the refresh token also in
/// its cookie, and nothing cached.
pub fn tokens(state: &AppState, res: &mut Response, issued: &IssuedTokens, message: &'static str) {
    let max_age = (issued.session.expires_at - state.clock.now()).whole_seconds();
    super::cookies::set_refresh(state, res, issued.refresh_token.clone(), max_age);
    res.headers_mut().insert(
        "cache-control",
        salvo::http::HeaderValue::from_static("no-store"),
    );
    data_with_message(res, StatusCode::OK, message, crate::views::tokens(issued));
}

pub fn render_error(err: &ApiError, depot: &Depot, res: &mut Response) {
    if let Some(cause) = &err.internal {
        tracing::error!(%cause, "internal error");
    }
    let status =
        StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(rate) = &err.rate {
        set_rate_headers(res, rate);
    }
    let retry_after = err.retry_after.map(|d| d.as_secs().max(1));
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        res.headers_mut().insert("retry-after", value);
    }
    let timestamp = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    res.status_code(status);
    res.render(Json(ErrorEnvelope {
        success: false,
        error: ErrorBody {
            code: err.code.as_str().to_owned(),
            message: err.message.clone(),
            details: err
                .details
                .iter()
                .map(|d| sigil_proto::FieldError {
                    field: d.field.clone(),
                    message: d.message.clone(),
                    code: d.code.as_str().to_owned(),
                })
                .collect(),
            retry_after,
            mfa_token: err.mfa_token.as_deref().map(str::to_owned),
        },
        timestamp,
        request_id: request_id(depot),
    }));
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix seconds).
pub fn set_rate_headers(res: &mut Response, rate: &crate::store::RateDecision) {
    for (name, value) in [
        ("x-ratelimit-limit", rate.limit.to_string()),
        ("x-ratelimit-remaining", rate.remaining.to_string()),
        (
            "x-ratelimit-reset",
            rate.reset_at.unix_timestamp().to_string(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, value);
        }
    }
}

#[async_trait]
impl Writer for ApiError {
    async fn write(self, _req: &mut Request, depot: &mut Depot, res: &mut Response) {
        render_error(&self, depot, res);
    }
}

/// Errors no handler rendered (unknown route, wrong method, a caught panic) still answer in
/// the envelope.
#[handler]
pub async fn envelope_for_bare_errors(depot: &mut Depot, res: &mut Response, ctrl: &mut FlowCtrl) {
    let status = res.status_code.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::NotFound, "No such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::MethodNotAllowed,
            "This endpoint does not support that method",
        ),
        s if s.is_client_error() => ApiError::bad_request("The request could not be processed"),
        _ => ApiError::internal(format!("unhandled response status {status}")),
    };
    render_error(&err, depot, res);
    ctrl.skip_rest();
}

/// A success envelope carrying `$data`, for the OpenAPI document only: handlers render the
/// real body with [`data`] / [`data_with_message`].
macro_rules! envelope {
    ($(#[$doc:meta])* $name:ident, $data:ty) => {
        $(#[$doc])*
        #[derive(Serialize, salvo::oapi::ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            /// Always true.
            success: bool,
            message: Option<String>,
            data: $data,
        }
    };
}

envelope!(UserEnvelope, sigil_proto::users::UserView);
envelope!(RegisteredEnvelope, sigil_proto::users::RegisteredView);
envelope!(AdminUserListEnvelope, sigil_proto::users::UserPage);
envelope!(
    /// A sign-in, MFA challenge or refresh.
    TokensEnvelope,
    sigil_proto::users::TokensView
);
envelope!(AdminUserEnvelope, sigil_proto::users::AdminUserView);
envelope!(ClientEnvelope, sigil_proto::admin::ClientView);
envelope!(ResourceEnvelope, sigil_proto::admin::ResourceView);
envelope!(ResourceListEnvelope, Vec<sigil_proto::admin::ResourceView>);
envelope!(ClientListEnvelope, Vec<sigil_proto::admin::ClientView>);
envelope!(SessionListEnvelope, Vec<sigil_proto::users::SessionView>);
envelope!(
    AdminSessionListEnvelope,
    Vec<sigil_proto::users::AdminSessionView>
);
envelope!(RevokedEnvelope, sigil_proto::users::RevokedView);
envelope!(AuditEnvelope, sigil_proto::admin::AuditPage);
envelope!(StatsEnvelope, sigil_proto::admin::Stats);
envelope!(KeyListEnvelope, Vec<sigil_proto::admin::KeyInfo>);
envelope!(EnrolmentEnvelope, sigil_proto::mfa::Enrolment);
envelope!(BackupCodesEnvelope, sigil_proto::mfa::BackupCodesView);

/// The success envelope without data, for the OpenAPI document.
#[derive(Serialize, salvo::oapi::ToSchema)]
#[allow(dead_code)]
pub struct MessageEnvelope {
    /// Always true.
    success: bool,
    message: String,
}

impl salvo::oapi::EndpointOutRegister for ApiError {
    fn register(components: &mut salvo::oapi::Components, operation: &mut salvo::oapi::Operation) {
        use salvo::oapi::ToSchema;
        let schema = ErrorEnvelope::to_schema(components);
        for (status, description) in [
            ("400", "Invalid input (VALIDATION_ERROR)"),
            (
                "401",
                "Not authenticated, or the token or credentials are refused",
            ),
            (
                "403",
                "Not allowed (INSUFFICIENT_PERMISSIONS, ACCOUNT_SUSPENDED, ...)",
            ),
            ("404", "Not found"),
            ("409", "Conflict (EMAIL_EXISTS, USERNAME_EXISTS)"),
            ("423", "Account locked (ACCOUNT_LOCKED, with retryAfter)"),
            ("429", "Rate limited (with Retry-After and X-RateLimit-*)"),
            (
                "503",
                "A backing store is unavailable (SERVICE_UNAVAILABLE)",
            ),
        ] {
            operation.responses.insert(
                status,
                salvo::oapi::Response::new(description).add_content(
                    "application/json",
                    salvo::oapi::Content::new(schema.clone()),
                ),
            );
        }
    }
}
