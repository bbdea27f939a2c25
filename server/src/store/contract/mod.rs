//! The storage contract: what every backend must do, as cases that take a
//! [`Stores`](super::Stores) and know nothing about the backend behind it. `sigil-tests` runs
//! every case against every deployment (`tests/api/store_conformance.rs`), through the
//! latency decorator; a new backend passes the same cases.
//!
//! Built with the `contract` feature only. This is test code compiled as a library, so a
//! failed expectation panics, as in any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod mail;
mod records;
mod sessions;
mod tokens;
mod users;

pub use mail::*;
pub use records::*;
pub use sessions::*;
pub use tokens::*;
pub use users::*;
