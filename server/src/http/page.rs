//! Rendering for every hosted HTML page, and the one error type their handlers return:
//! [`PageError`] renders as a message page, so a handler says `?` where a JSON handler would.

use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;

use super::context::app_state;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Why a hosted page cannot go on; written as a message page with a fitting status.
#[derive(Debug)]
pub enum PageError {
    /// Said in so many words.
    Message {
        status: StatusCode,
        heading: &'static str,
        text: String,
    },
    /// A refusal from a service, worded for people.
    Api(ApiError),
    /// The form's CSRF token does not match the browser's: an old tab or a forged post.
    Expired,
}

pub type PageResult = Result<(), PageError>;

impl PageError {
    pub fn bad_request(heading: &'static str, text: &str) -> Self {
        Self::Message {
            status: StatusCode::BAD_REQUEST,
            heading,
            text: text.to_owned(),
        }
    }

    /// A form that arrived without what it needs.
    pub fn incomplete_form() -> Self {
        Self::bad_request("That did not work", "The form was incomplete.")
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

#[async_trait]
impl Writer for PageError {
    async fn write(self, _req: &mut Request, depot: &mut Depot, res: &mut Response) {
        let Ok(state) = app_state(depot) else {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Plain("Something went wrong."));
            return;
        };
        match self {
            Self::Message {
                status,
                heading,
                text,
            } => message(&state, res, status, heading, &text),
            Self::Api(err) => failure(&state, res, &err),
            Self::Expired => message(
                &state,
                res,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.",
            ),
        }
    }
}

/// A page from its template, never cached (pages carry CSRF tokens and personal data).
pub fn html(
    state: &AppState,
    res: &mut Response,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) {
    match state.templates.render(name, ctx) {
        Ok(page) => {
            res.status_code(status);
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            res.render(Text::Html(page));
        }
        Err(e) => {
            tracing::error!(error = %e, page = name, "rendering a page failed");
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Plain("Something went wrong."));
        }
    }
}

pub fn message(
    state: &AppState,
    res: &mut Response,
    status: StatusCode,
    heading: &str,
    text: &str,
) {
    let failed = !status.is_success();
    html(
        state,
        res,
        status,
        "pages/message.html",
        minijinja::context! { heading, message => text, failed },
    );
}

fn failure(state: &AppState, res: &mut Response, err: &ApiError) {
    if let Some(cause) = &err.internal {
        tracing::error!(%cause, "internal error");
    }
    let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let heading = match err.code {
        ErrorCode::TokenGone => "This link has expired",
        ErrorCode::LinkNotFound => "This link is not valid",
        ErrorCode::ServiceUnavailable => "Please try again shortly",
        _ => "That did not work",
    };
    message(state, res, status, heading, &err.message);
}
