use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Registered, email not verified yet.
    Pending,
    Active,
    Suspended,
    Deleted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

/// A user as stored. `password_hash` is a PHC string (argon2id) and never leaves the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub email_normalized: String,
    pub username: String,
    pub username_normalized: String,
    pub password_hash: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub status: UserStatus,
    pub email_verified: bool,
    pub roles: Vec<Role>,
    /// Failed logins since the last success or lock.
    pub failed_logins: u32,
    /// The latest counted failure; kept after a success, as a record for admins.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_failed_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub password_changed_at: OffsetDateTime,
    /// Fingerprints of devices that signed in before, for "new sign-in" notices.
    #[serde(default)]
    pub known_devices: Vec<String>,
    #[serde(default)]
    pub mfa: Mfa,
}

/// A backup code, stored as the SHA-256 digest of its normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCode {
    pub digest: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

/// TOTP multi-factor state. Secrets are sealed with AES-256-GCM under the encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mfa {
    pub enabled: bool,
    /// The active secret (base32), sealed.
    pub secret_sealed: Option<String>,
    pub backup_codes: Vec<BackupCode>,
    /// The highest TOTP time step accepted so far: a code is accepted once.
    pub last_totp_step: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub enabled_at: Option<OffsetDateTime>,
    /// Enrolment in progress: a secret and codes that become active on the first valid code.
    pub pending_secret_sealed: Option<String>,
    pub pending_backup_codes: Vec<BackupCode>,
}

impl UserRecord {
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// Profile fields a user may change themselves. `None` leaves a field as it is; `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

impl ProfileUpdate {
    pub fn apply(&self, user: &mut UserRecord) {
        if let Some(v) = &self.first_name {
            user.first_name.clone_from(v);
        }
        if let Some(v) = &self.last_name {
            user.last_name.clone_from(v);
        }
        if let Some(v) = &self.phone {
            user.phone.clone_from(v);
        }
    }
}

#[cfg(test)]
impl UserRecord {
    /// An active user for unit tests.
    pub fn sample(email: &str, username: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: Uuid::new_v4(),
            email: email.into(),
            email_normalized: email.to_ascii_lowercase(),
            username: username.into(),
            username_normalized: username.to_ascii_lowercase(),
            password_hash: String::new(),
            first_name: None,
            last_name: None,
            phone: None,
            status: UserStatus::Active,
            email_verified: true,
            roles: vec![Role::User],
            failed_logins: 0,
            last_failed_login: None,
            locked_until: None,
            created_at: now,
            updated_at: now,
            last_login: None,
            password_changed_at: now,
            known_devices: Vec::new(),
            mfa: Mfa::default(),
        }
    }
}
