//! Request bodies: JSON only, at most 64 KiB, every failure a 400 in the envelope.

use salvo::http::ParseError;
use salvo::prelude::*;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

fn is_json(req: &Request) -> bool {
    req.content_type().is_some_and(|mime| {
        mime.subtype() == salvo::http::mime::JSON || mime.suffix() == Some(salvo::http::mime::JSON)
    })
}

async fn read(req: &mut Request) -> ApiResult<&[u8]> {
    req.payload_with_max_size(MAX_BODY_BYTES)
        .await
        .map(|bytes| bytes.as_ref())
        .map_err(|e| match e {
            ParseError::PayloadTooLarge => {
                ApiError::bad_request("The request body is larger than 64 KiB")
            }
            _ => ApiError::bad_request("The request body could not be read"),
        })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // serde would also read a struct from a JSON array; every body here is an object.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid: {e}")))
}

/// A required JSON body.
pub async fn json<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    if !is_json(req) {
        return Err(ApiError::bad_request(
            "The request body must be JSON (Content-Type: application/json)",
        ));
    }
    parse(read(req).await?)
}

/// A JSON body that may be absent altogether (then `T::default()`).
pub async fn optional_json<T: DeserializeOwned + Default>(req: &mut Request) -> ApiResult<T> {
    let has_type = req.content_type().is_some();
    if has_type && !is_json(req) {
        return Err(ApiError::bad_request(
            "The request body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = read(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !has_type {
        return Err(ApiError::bad_request(
            "The request body must be JSON (Content-Type: application/json)",
        ));
    }
    parse(bytes)
}
