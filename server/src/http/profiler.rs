//! CPU profiles for operators, in the gzipped protobuf format of `go tool pprof`, on a
//! listener of their own (`SIGIL_PPROF_LISTEN`) so they are never reachable through the public
//! one. Built only with the `pprof` cargo feature.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use pprof::protos::Message;
use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// Samples per second: the rate `go tool pprof` assumes by default.
const FREQUENCY: i32 = 100;
const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 300;

/// The profiler samples the whole process through one signal timer, so one profile at a time.
static PROFILING: AtomicBool = AtomicBool::new(false);

pub fn service(state: AppState) -> Service {
    super::side_service(Router::with_path("debug/pprof/profile").get(profile), state)
}

fn seconds(req: &Request) -> Result<u64, ApiError> {
    let Some(text) = req.query::<String>("seconds") else {
        return Ok(DEFAULT_SECONDS);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(ApiError::validation(vec![FieldError::new(
            "seconds",
            format!("must be a whole number from 1 to {MAX_SECONDS}"),
        )])),
    }
}

/// `GET /debug/pprof/profile?seconds=N`, as Go's `net/http/pprof` serves it.
#[handler]
async fn profile(req: &mut Request, res: &mut Response) -> ApiResult<()> {
    let seconds = seconds(req)?;
    if PROFILING.swap(true, Ordering::AcqRel) {
        return Err(ApiError::unavailable(
            "Another CPU profile is being taken; try again after it",
        )
        .with_retry_after(Duration::from_secs(seconds)));
    }
    tracing::info!(seconds, "taking a CPU profile");
    // The sampler's guard is not Send; it lives on a blocking thread for the whole window.
    let captured = tokio::task::spawn_blocking(move || capture(Duration::from_secs(seconds))).await;
    PROFILING.store(false, Ordering::Release);
    let bytes = captured
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    res.status_code(StatusCode::OK);
    let headers = res.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        "content-disposition",
        HeaderValue::from_static("attachment; filename=\"profile.pb.gz\""),
    );
    res.write_body(bytes).map_err(ApiError::internal)?;
    Ok(())
}

fn capture(window: Duration) -> Result<Vec<u8>, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        // Unwinding through these from a signal handler can deadlock (pprof-rs README).
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("start profiler: {e}"))?;
    std::thread::sleep(window);
    let protobuf = guard
        .report()
        .build()
        .and_then(|report| report.pprof())
        .map_err(|e| format!("build profile: {e}"))?;
    drop(guard);
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&protobuf.encode_to_vec())
        .and_then(|()| gzip.finish())
        .map_err(|e| format!("compress profile: {e}"))
}
