//! TOTP multi-factor authentication (RFC 6238 with totp-rs): enrolment with a QR code, backup
//! codes, checking a code, disabling and regenerating codes. The login's second step is in
//! `login`.
//!
//! A TOTP code is accepted once: the highest accepted time step is stored and only later
//! steps pass (±1 step of skew). Backup codes are single-use and stored as SHA-256 digests;
//! TOTP secrets are sealed with AES-256-GCM.

use std::sync::{Arc, Mutex};

use rand::Rng;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::ClientInfo;
use super::principal::Principal;
use super::rate_limit::{Bucket, check};
use super::{lockout, reauth};
use crate::audit::{self, Audit, AuditAction};
use crate::clock::unix;
use crate::crypto::token_digest;
use crate::domain::{BackupCode, Mfa, UserRecord};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::mail::MailKind;
use crate::state::AppState;

const ISSUER: &str = "Sigil";
const BACKUP_CODES: usize = 10;
/// No 0/O or 1/l/I: backup codes are read off paper.
const BACKUP_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn sealing_purpose(user: Uuid) -> String {
    format!("sigil-totp-secret:{user}")
}

fn totp(secret_base32: &str, account: &str) -> ApiResult<Totp> {
    let secret = Secret::try_from_base32(secret_base32).map_err(ApiError::internal)?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(ApiError::internal)
}

fn open_secret(state: &AppState, user: &UserRecord, sealed: &str) -> ApiResult<Zeroizing<String>> {
    let plain = state
        .cipher
        .open(sealed, &sealing_purpose(user.id))
        .map_err(ApiError::internal)?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(ApiError::internal)
}

/// `xxxx-xxxx-xxxx`: 60 bits each.
fn new_backup_codes() -> (Vec<String>, Vec<BackupCode>) {
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..BACKUP_CODES)
        .map(|_| {
            let raw: String = (0..12)
                .map(|_| char::from(BACKUP_ALPHABET[rng.random_range(0..BACKUP_ALPHABET.len())]))
                .collect();
            format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
        })
        .collect();
    let stored = codes
        .iter()
        .map(|c| BackupCode {
            digest: backup_digest(c),
            used_at: None,
        })
        .collect();
    (codes, stored)
}

fn backup_digest(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    token_digest(&normalized)
}

fn is_totp_shape(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

pub use sigil_proto::mfa::Enrolment;

/// Starts enrolment: a fresh secret and backup codes, pending until [`verify`]. Needs a
/// recent sign-in or the password.
pub async fn setup(
    state: &AppState,
    principal: &Principal,
    password: Option<Zeroizing<String>>,
    client: &ClientInfo,
) -> ApiResult<Enrolment> {
    reauth::require(state, principal, password, client).await?;
    let user = &principal.user;
    if user.mfa.enabled {
        return Err(ApiError::bad_request(
            "MFA is already enabled; disable it first to enrol a new authenticator",
        ));
    }
    let secret = Zeroizing::new(Secret::generate().to_base32());
    let generator = totp(&secret, &user.email)?;
    let otpauth_uri = generator.to_url().map_err(ApiError::internal)?;
    let qr = generator.to_qr_base64().map_err(ApiError::internal)?;
    let sealed = state
        .cipher
        .seal(secret.as_bytes(), &sealing_purpose(user.id))
        .map_err(ApiError::internal)?;
    let (codes, stored) = new_backup_codes();
    state
        .stores
        .users
        .update_user(
            user.id,
            Arc::new(move |u: &mut UserRecord| {
                u.mfa.pending_secret_sealed = Some(sealed.clone());
                u.mfa.pending_backup_codes = stored.clone();
            }),
        )
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::MfaSetupStarted, user.id),
    )
    .await;
    Ok(Enrolment {
        secret: secret.to_string(),
        otpauth_uri,
        qr_code: format!("data:image/png;base64,{qr}"),
        backup_codes: codes,
    })
}

/// How a presented code fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeCheck {
    Accepted,
    Replayed,
    Wrong,
    BackupUsed,
}

/// Checks a TOTP or backup code against the user's active factor and uses it up atomically.
pub(super) async fn use_code(
    state: &AppState,
    user: &UserRecord,
    code: &str,
) -> ApiResult<CodeCheck> {
    let code = code.trim();
    let sealed = user
        .mfa
        .secret_sealed
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::MfaNotEnabled, "MFA is not enabled"))?;
    let outcome = Arc::new(Mutex::new(CodeCheck::Wrong));
    let change: crate::store::UserChange = if is_totp_shape(code) {
        let secret = open_secret(state, user, sealed)?;
        let now = unix(state.clock.now());
        let Some(step) = totp(&secret, &user.email)?.check(code, now) else {
            return Ok(CodeCheck::Wrong);
        };
        let outcome = outcome.clone();
        Arc::new(move |u: &mut UserRecord| {
            let verdict = if step > u.mfa.last_totp_step {
                u.mfa.last_totp_step = step;
                CodeCheck::Accepted
            } else {
                CodeCheck::Replayed
            };
            if let Ok(mut o) = outcome.lock() {
                *o = verdict;
            }
        })
    } else {
        let digest = backup_digest(code);
        let at = state.clock.now();
        let outcome = outcome.clone();
        Arc::new(move |u: &mut UserRecord| {
            let verdict = match u.mfa.backup_codes.iter_mut().find(|c| c.digest == digest) {
                Some(c) if c.used_at.is_some() => CodeCheck::BackupUsed,
                Some(c) => {
                    c.used_at = Some(at);
                    CodeCheck::Accepted
                }
                None => CodeCheck::Wrong,
            };
            if let Ok(mut o) = outcome.lock() {
                *o = verdict;
            }
        })
    };
    state.stores.users.update_user(user.id, change).await?;
    let verdict = *outcome
        .lock()
        .map_err(|_| ApiError::internal("poisoned lock"))?;
    Ok(verdict)
}

pub(super) fn refusal(check: CodeCheck) -> ApiError {
    match check {
        CodeCheck::BackupUsed => ApiError::new(
            ErrorCode::MfaBackupCodeUsed,
            "This backup code was already used",
        ),
        CodeCheck::Replayed => ApiError::new(
            ErrorCode::InvalidMfaCode,
            "This code was already used; wait for the next one",
        ),
        _ => ApiError::new(ErrorCode::InvalidMfaCode, "The code is not valid"),
    }
}

pub(super) fn required_code(code: Option<String>) -> ApiResult<String> {
    code.filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::validation(vec![FieldError::required("code")]))
}

/// What a verified code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// It finished an enrolment: MFA is on from now.
    Enabled,
    /// MFA was already on and the code (TOTP or backup) is valid; it is used up.
    Confirmed,
}

/// With an enrolment pending: finishes it with a first valid code from the new authenticator
/// (and a recent sign-in or the password); the user is told by mail. With MFA already on (the
/// seed's "verify MFA code"): checks a code of the active factor, single use like at sign-in.
pub async fn verify(
    state: &AppState,
    principal: &Principal,
    code: Option<String>,
    password: Option<Zeroizing<String>>,
    client: &ClientInfo,
) -> ApiResult<Verified> {
    let code = required_code(code)?;
    let user = &principal.user;
    // The seed's MFA budget, per user: without it this endpoint would be a code oracle.
    check(state, Bucket::Mfa, &user.id.to_string()).await?;
    let Some(sealed) = user.mfa.pending_secret_sealed.as_deref() else {
        if !user.mfa.enabled {
            return Err(ApiError::new(
                ErrorCode::MfaNotEnabled,
                "MFA is not enabled; start with POST /v1/auth/mfa/setup",
            ));
        }
        return match use_code(state, user, &code).await? {
            CodeCheck::Accepted => Ok(Verified::Confirmed),
            refused => Err(refusal(refused)),
        };
    };
    reauth::require(state, principal, password, client).await?;
    let secret = open_secret(state, user, sealed)?;
    let now = state.clock.now();
    let Some(step) = totp(&secret, &user.email)?.check(code.trim(), unix(now)) else {
        return Err(refusal(CodeCheck::Wrong));
    };
    let sealed = sealed.to_owned();
    state
        .stores
        .users
        .update_user(
            user.id,
            Arc::new(move |u: &mut UserRecord| {
                if u.mfa.pending_secret_sealed.as_deref() == Some(sealed.as_str()) {
                    u.mfa = Mfa {
                        enabled: true,
                        secret_sealed: Some(sealed.clone()),
                        backup_codes: std::mem::take(&mut u.mfa.pending_backup_codes),
                        last_totp_step: step,
                        enabled_at: Some(now),
                        pending_secret_sealed: None,
                        pending_backup_codes: Vec::new(),
                    };
                }
            }),
        )
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::MfaEnabled, user.id),
    )
    .await;
    state
        .mailer
        .send(user, MailKind::MfaEnabled { at: now })
        .await;
    Ok(Verified::Enabled)
}

/// Turns MFA off; needs the password and a current code.
pub async fn disable(
    state: &AppState,
    principal: &Principal,
    password: Option<String>,
    code: Option<String>,
    client: &ClientInfo,
) -> ApiResult<()> {
    let user = &principal.user;
    if !user.mfa.enabled {
        return Err(ApiError::new(
            ErrorCode::MfaNotEnabled,
            "MFA is not enabled",
        ));
    }
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::validation(vec![FieldError::required("password")]))?;
    let code = required_code(code)?;
    lockout::check_password(
        state,
        user,
        Zeroizing::new(password),
        client,
        AuditAction::ReauthenticationFailed,
        ApiError::invalid_credentials(),
    )
    .await?;
    let verdict = use_code(state, user, &code).await?;
    if verdict != CodeCheck::Accepted {
        return Err(refusal(verdict));
    }
    state
        .stores
        .users
        .update_user(
            user.id,
            Arc::new(|u: &mut UserRecord| u.mfa = Mfa::default()),
        )
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::MfaDisabled, user.id),
    )
    .await;
    Ok(())
}

/// New backup codes (the old ones die); needs a current TOTP code and a recent sign-in or
/// the password.
pub async fn regenerate_backup_codes(
    state: &AppState,
    principal: &Principal,
    code: Option<String>,
    password: Option<Zeroizing<String>>,
    client: &ClientInfo,
) -> ApiResult<Vec<String>> {
    let user = &principal.user;
    if !user.mfa.enabled {
        return Err(ApiError::new(
            ErrorCode::MfaNotEnabled,
            "MFA is not enabled",
        ));
    }
    let code = required_code(code)?;
    if !is_totp_shape(code.trim()) {
        return Err(ApiError::validation(vec![FieldError::new(
            "code",
            "Use a code from the authenticator app, not a backup code",
        )]));
    }
    reauth::require(state, principal, password, client).await?;
    let verdict = use_code(state, user, &code).await?;
    if verdict != CodeCheck::Accepted {
        return Err(refusal(verdict));
    }
    let (codes, stored) = new_backup_codes();
    state
        .stores
        .users
        .update_user(
            user.id,
            Arc::new(move |u: &mut UserRecord| u.mfa.backup_codes = stored.clone()),
        )
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::MfaBackupCodesRegenerated, user.id),
    )
    .await;
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backup codes are 10 distinct xxxx-xxxx-xxxx codes whose digests ignore case and dashes.
    #[test]
    fn backup_codes() {
        let (codes, stored) = new_backup_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(
            codes.iter().collect::<std::collections::HashSet<_>>().len(),
            10
        );
        for (code, stored) in codes.iter().zip(&stored) {
            assert_eq!(code.len(), 14);
            assert_eq!(
                backup_digest(&code.to_uppercase().replace('-', "")),
                stored.digest
            );
        }
        assert!(is_totp_shape("012345"));
        assert!(!is_totp_shape("01234a") && !is_totp_shape("0123456"));
    }
}
