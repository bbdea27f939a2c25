//! Per-request plumbing: the request id, the state, security headers and the access log.

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use salvo::http::HeaderValue;
use salvo::prelude::*;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::service::ClientInfo;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, as sent in `X-Request-Id` and the error envelope.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Puts the application state into every request's depot.
pub struct InjectState(pub AppState);

#[async_trait]
impl Handler for InjectState {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        _res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        depot.insert_typed(self.0.clone());
    }
}

pub fn app_state(depot: &Depot) -> ApiResult<AppState> {
    depot
        .get_typed::<AppState>()
        .cloned()
        .map_err(|_| ApiError::internal("application state missing from depot"))
}

pub fn request_id(depot: &Depot) -> String {
    depot
        .get_typed::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The client's address: the socket peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. An untrusted peer's
/// `X-Forwarded-For` is ignored, so it cannot pick its own rate-limit bucket.
///
/// `None` when a trusted proxy forwarded an entry that is not an address (`unknown`,
/// garbage): the client is then unknown, and rate limits and the admin allowlist refuse it.
/// Falling back to the proxy's own address would put every client in one bucket and let
/// them all pass an allowlist that names the proxy.
pub fn client_ip(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote_addr().ip()?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = forwarded_address(hop)?;
        if !is_trusted(&client) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:4711`, `2001:db8::1`, `[2001:db8::1]`
/// or `[2001:db8::1]:4711` (some proxies add the port).
fn forwarded_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

pub fn client_info(req: &Request, depot: &Depot, state: &AppState) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req, &state.config.trusted_proxies).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
        request_id: Some(request_id(depot)).filter(|id| !id.is_empty()),
    }
}

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// Runs around every request, matched or not: assigns the request id, sets the security
/// headers of SPEC section 7 and writes one access-log line.
#[handler]
pub async fn request_context(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let id = Uuid::new_v4().to_string();
    depot.insert_typed(RequestId(id.clone()));
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Swagger UI starts itself with an inline script; only its pages get this allowance.
    if req.uri().path().starts_with("/swagger-ui") {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        );
    }
    if depot
        .get_typed::<AppState>()
        .is_ok_and(|s| s.config.issuer_is_https)
    {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }

    let started = Instant::now();
    let method = method_label(req.method());
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    ctrl.call_next(req, depot, res)
        .instrument(span.clone())
        .await;
    let status = res.status_code.map_or(200, |s| s.as_u16());
    if let Ok(state) = depot.get_typed::<AppState>() {
        // Draining: every client and balancer drops this connection after the response,
        // so none is left idle to race the final close (HTTP/2 has no such header).
        if state.lifecycle.is_draining() && req.version() < salvo::http::Version::HTTP_2 {
            res.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
        }
        // The route template, never the raw path: ids stay out of the label set.
        let route = match req.matched_path() {
            "" if status == 404 || status == 405 => "unmatched".to_owned(),
            path => format!("/{path}"),
        };
        let status_text = status.to_string();
        state
            .metrics
            .http_requests
            .with_label_values(&[method, route.as_str(), status_text.as_str()])
            .inc();
        state
            .metrics
            .http_duration
            .with_label_values(&[method, route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            method,
            path,
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
}

/// The standard methods by name, anything else as `OTHER`: a client must not be able to
/// grow the metric set by making methods up.
fn method_label(method: &salvo::http::Method) -> &'static str {
    use salvo::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
