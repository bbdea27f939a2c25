//! Sigil's signing keys: RSA key pairs, RFC 7638 key ids, JWK / JWKS documents, RS256 signing
//! and strict verification; DPoP proofs ([`dpop`]) for resource servers and Sigil itself.
//!
//! This crate knows nothing about HTTP or storage. Relying services use [`Verifier`] (built from
//! a [`JwkSet`]) to check Sigil's tokens offline.

pub mod dpop;
mod error;
mod jwk;
mod keypair;
mod party;
#[cfg(feature = "client")]
mod remote;
mod sign;
mod verify;

pub use error::KeyError;
pub use jwk::{Jwk, JwkSet};
pub use keypair::{KeyPair, KeySize};
pub use party::{PARTY_SIGNING_ALGORITHMS, PartyKeys};
#[cfg(feature = "client")]
pub use remote::{CONNECT_TIMEOUT, FETCH_TIMEOUT, RemoteError, RemoteJwks, STALE_LIMIT};
/// The token claims live in the wire-types crate; re-exported so relying services need one
/// dependency.
pub use sigil_proto::claims::{
    ACCESS_TOKEN_TYP, AccessClaims, Audience, Confirmation, IdClaims, UserClaims,
};
pub use sign::Signer;
pub use verify::{Verified, Verifier, VerifyError, VerifyOptions, unverified_claims};

/// The only signature algorithm Sigil issues and accepts.
pub const ALGORITHM: &str = "RS256";
