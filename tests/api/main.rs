//! End-to-end tests over real HTTP. One binary; each test starts its own server on
//! `127.0.0.1:0` with its own data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_flow;
mod admin_api;
mod audit;
mod bad_input;
mod browser_login;
mod concurrency;
mod console;
mod drain;
mod durability;
mod faults;
mod jwks;
mod key_rotation;
mod lockout;
mod mail_flows;
mod metrics;
mod mfa;
mod oidc_flows;
mod oidc_rp;
mod oidc_rp_node;
mod openapi;
mod profiler;
mod protection;
mod reauthentication;
mod refresh;
mod replicas;
mod resource_server;
mod resources;
mod seed_api;
mod sessions;
mod store_conformance;
mod token_model;
