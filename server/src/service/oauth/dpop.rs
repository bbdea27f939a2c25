//! DPoP (RFC 9449) at Sigil's own endpoints: the proofs sent to the token, PAR and userinfo
//! endpoints are checked here (with `sigil_keys::dpop`, the same code resource servers use),
//! each used once, and carry one of Sigil's nonces when `SIGIL_DPOP_NONCES` is on.
//!
//! Nonces are stateless: a MAC, under the key every replica shares, of the current
//! 5-minute period. Every replica hands out and accepts the same ones without a
//! store, the current period's and the one before (a nonce handed out just before the
//! period turned still works).

use sigil_keys::dpop::{
    DpopError, PROOF_LEEWAY_SECS, PROOF_MAX_AGE_SECS, Proof, ProofRequest, verify_proof,
};
use time::OffsetDateTime;

use super::OAuthError;
use crate::clock::unix;
use crate::crypto::token_digest;
use crate::error::ApiError;
use crate::state::AppState;

/// How long one nonce is handed out.
const NONCE_PERIOD_SECS: u64 = 300;
/// The request header that carries a proof.
pub const DPOP_HEADER: &str = "dpop";
/// The response header that carries a nonce.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// The nonce to hand out at `now`, when nonces are on.
pub fn current_nonce(state: &AppState, now: OffsetDateTime) -> Option<String> {
    state
        .config
        .dpop_nonces
        .then(|| nonce_of(state, unix(now) / NONCE_PERIOD_SECS))
}

fn nonce_of(state: &AppState, period: u64) -> String {
    state.cipher.tag("dpop-nonce", &period.to_be_bytes())
}

fn accepted_nonces(state: &AppState, now: OffsetDateTime) -> Vec<String> {
    if !state.config.dpop_nonces {
        return Vec::new();
    }
    let period = unix(now) / NONCE_PERIOD_SECS;
    vec![
        nonce_of(state, period),
        nonce_of(state, period.saturating_sub(1)),
    ]
}

/// The URL of one of Sigil's endpoints, as clients address it (what a proof's `htu` names).
pub fn endpoint_url(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.config.issuer)
}

/// Checks the proof (if any) that came with a request to Sigil's endpoint at `path`, and
/// remembers it so that it is refused the next time. Errors are the token endpoint's (400).
pub async fn prove(
    state: &AppState,
    proof: Option<&str>,
    method: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let proof = check(state, proof, method, path, access_token)?;
    if let Some(proof) = &proof {
        remember(state, proof).await?;
    }
    Ok(proof)
}

/// [`prove`] without remembering: for a resource, which first checks the token the proof
/// comes with (`access_token`, whose hash the proof must hold), so that proofs with made-up
/// tokens cost no store write. [`remember`] the proof then.
pub fn check(
    state: &AppState,
    proof: Option<&str>,
    method: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let Some(proof) = proof else {
        return Ok(None);
    };
    let now = state.clock.now();
    let url = endpoint_url(state, path);
    let nonces = accepted_nonces(state, now);
    let request = ProofRequest {
        method,
        url: &url,
        access_token,
        nonces: &nonces,
    };
    verify_proof(proof, &request, unix(now))
        .map(Some)
        .map_err(refusal)
}

/// A proof is good once: its `jti` is kept (per key) for as long as the proof is accepted
/// (its `iat` plus the age limit, a leeway ahead), one leeway more for clocks that differ
/// between replicas and the store, and at least a second.
pub async fn remember(state: &AppState, proof: &Proof) -> Result<(), OAuthError> {
    let now = state.clock.now();
    let key = format!(
        "dpop:{}",
        token_digest(&format!("{} {}", proof.jkt, proof.jti))
    );
    let accepted_until = proof
        .iat
        .saturating_add(PROOF_MAX_AGE_SECS)
        .saturating_add(2 * PROOF_LEEWAY_SECS);
    let forget_at = i64::try_from(accepted_until)
        .ok()
        .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .max(now + time::Duration::seconds(1));
    let first_use = state
        .stores
        .codes
        .put_new_code(&key, "1", forget_at, now)
        .await
        .map_err(ApiError::from)?;
    if first_use {
        Ok(())
    } else {
        Err(refusal(DpopError::Replayed))
    }
}

/// A refused proof in RFC 9449 terms (section 7.1 and 8): `use_dpop_nonce` asks the client
/// to try again with the nonce in the `DPoP-Nonce` header; anything else is
/// `invalid_dpop_proof`, or `invalid_token` when the token is what does not fit.
pub fn refusal(error: DpopError) -> OAuthError {
    let description = error.to_string();
    match error {
        DpopError::NonceRequired => OAuthError::bad_request("use_dpop_nonce", description),
        e if e.is_about_the_token() => OAuthError::invalid_token(description),
        _ => OAuthError::bad_request("invalid_dpop_proof", description),
    }
}

/// The same refusal at a resource (userinfo): 401 with a `DPoP` challenge.
pub fn at_resource(error: OAuthError) -> OAuthError {
    if matches!(error.error, "use_dpop_nonce" | "invalid_dpop_proof") {
        OAuthError {
            status: 401,
            ..error
        }
    } else {
        error
    }
}
