//! HTTP: the router is a pure function of the state; handlers are thin (extract, call a
//! service, map the result).

mod auth;
mod body;
mod context;
mod health;
mod mfa;
mod pages;
mod rate_limit;
mod respond;
mod users;
mod views;
mod wellknown;

use salvo::catcher::Catcher;
use salvo::prelude::*;

use crate::service::rate_limit::Bucket;
use crate::state::AppState;

pub use context::REQUEST_ID_HEADER;

pub fn service(state: AppState) -> Service {
    let limited = |bucket| rate_limit::RateLimited(bucket);
    let cors = cors(&state.config.cors_origins);
    let router = Router::new()
        .hoop(context::InjectState(state))
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
                        .push(Router::with_path("change-password").put(auth::change_password))
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
                                .push(Router::with_path("setup").post(mfa::setup))
                                .push(Router::with_path("verify").post(mfa::verify))
                                .push(Router::with_path("challenge").post(mfa::challenge))
                                .push(Router::with_path("disable").post(mfa::disable))
                                .push(Router::with_path("backup-codes").post(mfa::backup_codes)),
                        ),
                )
                .push(
                    Router::with_path("users/me")
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
                .get(pages::verify_email_form)
                .post(pages::verify_email_submit),
        )
        .push(
            Router::with_path("reset-password")
                .hoop(limited(Bucket::PasswordReset))
                .get(pages::reset_password_form)
                .post(pages::reset_password_submit),
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
    let mut service = Service::new(router)
        .hoop(context::request_context)
        .hoop(salvo::catch_panic::CatchPanic::new());
    if let Some(cors) = cors {
        service = service.hoop(cors);
    }
    service.catcher(Catcher::default().hoop(respond::envelope_for_bare_errors))
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
            .allow_headers(vec!["authorization", "content-type"])
            .expose_headers(vec![
                salvo::http::HeaderName::from_static("x-request-id"),
                salvo::http::HeaderName::from_static("x-ratelimit-limit"),
                salvo::http::HeaderName::from_static("x-ratelimit-remaining"),
                salvo::http::HeaderName::from_static("x-ratelimit-reset"),
                salvo::http::HeaderName::from_static("retry-after"),
            ])
            .allow_credentials(true)
            .max_age(600)
            .into_handler(),
    )
}
