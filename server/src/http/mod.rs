//! HTTP: the router is a pure function of the state; handlers are thin (extract, call a
//! service, map the result).

mod auth;
mod body;
mod context;
mod health;
mod respond;
mod users;
mod views;
mod wellknown;

use salvo::catcher::Catcher;
use salvo::prelude::*;

use crate::state::AppState;

pub use context::REQUEST_ID_HEADER;

pub fn service(state: AppState) -> Service {
    let router = Router::new()
        .hoop(context::InjectState(state))
        .push(
            Router::with_path("v1")
                .push(
                    Router::with_path("auth")
                        .push(Router::with_path("register").post(auth::register))
                        .push(Router::with_path("login").post(auth::login))
                        .push(Router::with_path("refresh").post(auth::refresh))
                        .push(Router::with_path("logout").post(auth::logout))
                        .push(Router::with_path("change-password").put(auth::change_password)),
                )
                .push(
                    Router::with_path("users/me")
                        .get(users::me)
                        .put(users::update_me),
                ),
        )
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
    Service::new(router)
        .hoop(context::request_context)
        .hoop(salvo::catch_panic::CatchPanic::new())
        .catcher(Catcher::default().hoop(respond::envelope_for_bare_errors))
}
