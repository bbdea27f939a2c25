//! HTTP: the router is a pure function of the state; handlers are thin (extract, call a
//! service, map the result).

mod admin;
mod auth;
mod body;
mod context;
mod cookies;
mod csrf;
mod flow;
mod guard;
mod health;
mod hosted;
mod mfa;
mod oauth;
mod page;
mod pages;
#[cfg(feature = "pprof")]
mod profiler;
mod rate_limit;
mod respond;
pub(crate) mod schema_values;
mod users;
mod wellknown;

use salvo::catcher::Catcher;
use salvo::oapi::OpenApi;
use salvo::oapi::security::{Http, HttpAuthScheme, SecurityScheme};
use salvo::oapi::swagger_ui::SwaggerUi;
use salvo::prelude::*;

use guard::{Authenticate, require};

use crate::domain::Permission;
use crate::service::rate_limit::Bucket;
use crate::state::AppState;

pub use context::REQUEST_ID_HEADER;
#[cfg(feature = "fuzzing")]
pub use oauth::fuzzing;
#[cfg(feature = "pprof")]
pub use profiler::service as profiler_service;

pub fn service(state: AppState) -> Service {
    let limited = |bucket| rate_limit::RateLimited(bucket);
    let cors = cors(&state.config.cors_origins);
    let metrics_here = state.config.metrics_listen.is_none();
    let swagger_ui = state.config.swagger_ui;
    let inject = context::InjectState(state);
    let mut router = Router::new();
    if metrics_here {
        router = router.push(metrics_route());
    }
    let router = router
        // Outside the general budget, like /health: the seed's probes use it.
        .push(Router::with_path("v1/health").get(health::health))
        .push(
            Router::with_path("v1")
                .hoop(limited(Bucket::General))
                .push(
                    Router::with_path("auth")
                        .push(
                            Router::with_path("register")
                                .hoop(limited(Bucket::Register))
                                .post(auth::register),
                        )
                        .push(
                            Router::with_path("login")
                                .hoop(limited(Bucket::Login))
                                .post(auth::login),
                        )
                        .push(Router::with_path("refresh").post(auth::refresh))
                        .push(Router::with_path("logout").post(auth::logout))
                        .push(
                            Router::with_path("change-password")
                                .hoop(Authenticate)
                                .put(auth::change_password),
                        )
                        .push(Router::with_path("verify-email").post(auth::verify_email))
                        .push(
                            Router::with_path("resend-verification")
                                .hoop(limited(Bucket::Register))
                                .post(auth::resend_verification),
                        )
                        .push(
                            Router::with_path("forgot-password")
                                .hoop(limited(Bucket::PasswordReset))
                                .post(auth::forgot_password),
                        )
                        .push(
                            Router::with_path("reset-password")
                                .hoop(limited(Bucket::PasswordReset))
                                .post(auth::reset_password),
                        )
                        .push(
                            Router::with_path("mfa")
                                .push(Router::with_path("challenge").post(mfa::challenge))
                                .push(
                                    Router::new()
                                        .hoop(Authenticate)
                                        .push(Router::with_path("setup").post(mfa::setup))
                                        .push(Router::with_path("verify").post(mfa::verify))
                                        .push(Router::with_path("disable").post(mfa::disable))
                                        .push(
                                            Router::with_path("backup-codes")
                                                .post(mfa::backup_codes),
                                        ),
                                ),
                        ),
                )
                .push(admin_routes())
                .push(
                    Router::with_path("users/me")
                        .hoop(Authenticate)
                        .get(users::me)
                        .put(users::update_me)
                        .delete(users::delete_me)
                        .push(
                            Router::with_path("sessions")
                                .get(users::sessions)
                                .push(Router::with_path("{id}").delete(users::revoke_session)),
                        ),
                ),
        )
        .push(
            Router::with_path("verify-email")
                .hoop(limited(Bucket::Browser))
                .get(pages::verify_email_form)
                .post(pages::verify_email_submit),
        )
        .push(
            Router::with_path("reset-password")
                .hoop(limited(Bucket::PasswordReset))
                .get(pages::reset_password_form)
                .post(pages::reset_password_submit),
        )
        .push(
            Router::with_path("forgot-password")
                .hoop(limited(Bucket::PasswordReset))
                .get(pages::forgot_password_form)
                .post(pages::forgot_password_submit),
        )
        .push(
            Router::with_path("login")
                .hoop(limited(Bucket::Browser))
                .get(hosted::login_form)
                .push(
                    Router::new()
                        .hoop(limited(Bucket::Login))
                        .post(hosted::login_submit),
                )
                .push(
                    Router::with_path("mfa")
                        .hoop(limited(Bucket::Login))
                        .post(hosted::mfa_submit),
                ),
        )
        .push(
            Router::with_path("consent")
                .hoop(limited(Bucket::Browser))
                .post(hosted::consent_submit),
        )
        .push(
            Router::with_path("oauth2")
                .hoop(oauth::offer_dpop_nonce)
                .push(
                    Router::with_path("authorize")
                        .hoop(limited(Bucket::Browser))
                        .get(oauth::authorize_endpoint)
                        .post(oauth::authorize_endpoint)
                        .push(Router::with_path("resume").get(hosted::resume)),
                )
                .push(Router::with_path("token").post(oauth::token_endpoint))
                .push(Router::with_path("par").post(oauth::par_endpoint))
                .push(
                    Router::with_path("userinfo")
                        .get(oauth::userinfo_endpoint)
                        .post(oauth::userinfo_endpoint),
                )
                .push(Router::with_path("introspect").post(oauth::introspect_endpoint))
                .push(Router::with_path("revoke").post(oauth::revoke_endpoint))
                .push(
                    Router::with_path("logout")
                        .hoop(limited(Bucket::Browser))
                        .get(oauth::logout_form)
                        .post(oauth::logout_submit),
                ),
        )
        .push(Router::with_path("assets/sigil.css").get(pages::stylesheet))
        .push(
            Router::with_path(".well-known")
                .push(Router::with_path("openid-configuration").get(wellknown::discovery))
                .push(Router::with_path("jwks.json").get(wellknown::jwks)),
        )
        .push(
            Router::with_path("health")
                .get(health::health)
                .push(Router::with_path("live").get(health::live))
                .push(Router::with_path("ready").get(health::ready)),
        );
    let doc = OpenApi::new("Sigil", env!("CARGO_PKG_VERSION"))
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer).bearer_format("JWT")),
        )
        .merge_router(&router);
    let mut router = router.push(doc.into_router("/openapi.json"));
    // Swagger UI starts itself with inline scripts (its pages get a CSP of their own):
    // deployments that want no such page at all switch it off.
    if swagger_ui {
        router = router.push(SwaggerUi::new("/openapi.json").into_router("/swagger-ui"));
    }
    let mut service = Service::new(router)
        .hoop(inject)
        .hoop(context::request_context)
        .hoop(salvo::catch_panic::CatchPanic::new());
    if let Some(cors) = cors {
        service = service.hoop(cors);
    }
    service.catcher(Catcher::default().hoop(respond::envelope_for_bare_errors))
}

/// `/v1/admin`: the IP allowlist, then the caller, then the permission each route names.
fn admin_routes() -> Router {
    use Permission::*;
    let with = |permission| Router::new().hoop(require(permission));
    Router::with_path("admin")
        .hoop(admin::allowlist)
        .hoop(Authenticate)
        .push(
            Router::with_path("users")
                .push(with(AdminUsersRead).get(admin::list_users))
                .push(with(AdminUsersWrite).post(admin::create_user))
                .push(
                    Router::with_path("{id}")
                        .push(with(AdminUsersRead).get(admin::get_user))
                        .push(
                            with(AdminUsersWrite)
                                .put(admin::update_user)
                                .delete(admin::delete_user),
                        )
                        .push(
                            with(AdminUsersWrite)
                                .push(Router::with_path("unlock").post(admin::unlock_user))
                                .push(Router::with_path("reset-mfa").post(admin::reset_user_mfa)),
                        )
                        .push(
                            Router::with_path("sessions")
                                .push(with(AdminUsersRead).get(admin::user_sessions))
                                .push(
                                    with(AdminSessionsManage).delete(admin::revoke_user_sessions),
                                ),
                        ),
                ),
        )
        .push(Router::with_path("audit").push(with(AdminAuditRead).get(admin::audit_events)))
        .push(Router::with_path("stats").push(with(AdminUsersRead).get(admin::stats)))
        .push(
            with(AdminKeysManage).push(
                Router::with_path("keys")
                    .get(admin::list_keys)
                    .push(Router::with_path("rotate").post(admin::rotate_keys)),
            ),
        )
        .push(
            with(AdminClientsManage)
                .push(
                    Router::with_path("clients")
                        .get(admin::list_clients)
                        .post(admin::create_client)
                        .push(
                            Router::with_path("{id}")
                                .get(admin::get_client)
                                .put(admin::update_client)
                                .delete(admin::delete_client)
                                .push(
                                    Router::with_path("rotate-secret")
                                        .post(admin::rotate_client_secret),
                                ),
                        ),
                )
                // API resources are managed with clients: both decide who gets which tokens.
                .push(
                    Router::with_path("resources")
                        .get(admin::list_resources)
                        .post(admin::create_resource)
                        .push(
                            Router::with_path("{id}")
                                .get(admin::get_resource)
                                .put(admin::update_resource)
                                .delete(admin::delete_resource),
                        ),
                ),
        )
}

fn metrics_route() -> Router {
    Router::with_path("metrics").get(health::metrics)
}

/// `/metrics` alone, for `SIGIL_METRICS_LISTEN`.
pub fn metrics_service(state: AppState) -> Service {
    side_service(metrics_route(), state)
}

/// A listener apart from the public one: request ids, security headers and the error
/// envelope, but none of the public routes.
fn side_service(router: Router, state: AppState) -> Service {
    Service::new(router)
        .hoop(context::InjectState(state))
        .hoop(context::request_context)
        .catcher(Catcher::default().hoop(respond::envelope_for_bare_errors))
}

/// CORS for the configured origins only; none configured, no CORS headers at all.
fn cors(origins: &[String]) -> Option<salvo::cors::CorsHandler> {
    use salvo::cors::Cors;
    use salvo::http::Method;
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<&str> = origins.iter().map(String::as_str).collect();
    Some(
        Cors::new()
            .allow_origin(origins)
            .allow_methods(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(vec!["authorization", "content-type", "dpop"])
            .expose_headers(vec![
                salvo::http::HeaderName::from_static("x-request-id"),
                salvo::http::HeaderName::from_static("x-ratelimit-limit"),
                salvo::http::HeaderName::from_static("x-ratelimit-remaining"),
                salvo::http::HeaderName::from_static("x-ratelimit-reset"),
                salvo::http::HeaderName::from_static("retry-after"),
                salvo::http::HeaderName::from_static("dpop-nonce"),
                salvo::http::HeaderName::from_static("www-authenticate"),
            ])
            .allow_credentials(true)
            .max_age(600)
            .into_handler(),
    )
}
