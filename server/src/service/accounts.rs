//! Registration, profile and password changes.

use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{ClientInfo, lockout, verification};
use crate::audit::{self, Audit, AuditAction};
use crate::domain::{
    Email, Password, PasswordContext, ProfileUpdate, Role, UserRecord, UserStatus, Username,
};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldCode, FieldError};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::GuardedUpdate;

const NAME_MAX: usize = 100;
const PHONE_MAX: usize = 20;

/// A registration as received, before validation.
#[derive(Debug, Default)]
pub struct Registration {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

/// A trimmed optional text field of at most `max` characters; problems go to `errors`.
pub fn optional_text_field(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    optional_text(field, value, max, errors)
}

fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    if value.chars().count() > max {
        errors.push(FieldError::coded(
            FieldCode::FieldTooLong,
            field,
            format!("Must be at most {max} characters"),
        ));
        return None;
    }
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "Must not contain control characters",
        ));
        return None;
    }
    Some(value)
}

fn phone(value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = optional_text("phone", value, PHONE_MAX, errors)?;
    let ok = value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !ok {
        errors.push(FieldError::new(
            "phone",
            "May contain only digits, spaces and + - ( ) .",
        ));
        return None;
    }
    Some(value)
}

/// Validates every field (all problems reported at once) and creates the user.
pub async fn register(
    state: &AppState,
    input: Registration,
    client: &ClientInfo,
) -> ApiResult<UserRecord> {
    let mut errors = Vec::new();
    let email = match input.email.as_deref() {
        Some(e) => Email::parse(e).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::required("email"));
            None
        }
    };
    let username = match input.username.as_deref() {
        Some(u) => Username::parse(u).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::required("username"));
            None
        }
    };
    let password = match input.password {
        Some(p) => Password::parse(
            "password",
            p,
            PasswordContext {
                username: username.as_ref().map_or("", Username::as_str),
                email: email.as_ref().map_or("", Email::as_str),
            },
        )
        .map_err(|e| errors.push(e))
        .ok(),
        None => {
            errors.push(FieldError::required("password"));
            None
        }
    };
    let first_name = optional_text("firstName", input.first_name, NAME_MAX, &mut errors);
    let last_name = optional_text("lastName", input.last_name, NAME_MAX, &mut errors);
    let phone = phone(input.phone, &mut errors);
    let (Some(email), Some(username), Some(password), true) =
        (email, username, password, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };

    let status = if state.config.require_email_verification {
        UserStatus::Pending
    } else {
        UserStatus::Active
    };
    let user = create_user(
        state,
        NewUser {
            email,
            username,
            password,
            first_name,
            last_name,
            phone,
            status,
            email_verified: false,
            roles: vec![Role::User],
        },
    )
    .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::UserRegistered, user.id),
    )
    .await;
    // The link is mailed whether or not verification is required: it sets emailVerified.
    verification::send_verification(state, &user).await?;
    Ok(user)
}

/// A validated user about to be stored.
pub struct NewUser {
    pub email: Email,
    pub username: Username,
    pub password: Password,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub status: UserStatus,
    pub email_verified: bool,
    pub roles: Vec<Role>,
}

pub async fn create_user(state: &AppState, new: NewUser) -> ApiResult<UserRecord> {
    let password_hash = state.hasher.hash(new.password.into_inner()).await?;
    let now = state.clock.now();
    let user = UserRecord {
        id: Uuid::new_v4(),
        email: new.email.as_str().to_owned(),
        email_normalized: new.email.normalized().to_owned(),
        username: new.username.as_str().to_owned(),
        username_normalized: new.username.normalized().to_owned(),
        password_hash,
        first_name: new.first_name,
        last_name: new.last_name,
        phone: new.phone,
        status: new.status,
        email_verified: new.email_verified,
        roles: new.roles,
        failed_logins: 0,
        last_failed_login: None,
        locked_until: None,
        created_at: now,
        updated_at: now,
        last_login: None,
        password_changed_at: now,
        known_devices: Vec::new(),
        mfa: Default::default(),
    };
    state.stores.users.insert_user(&user).await?;
    Ok(user)
}

/// Profile fields as received: absent = unchanged, `null` or "" = cleared.
#[derive(Debug, Default)]
pub struct ProfileInput {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

pub async fn update_profile(
    state: &AppState,
    user_id: Uuid,
    input: ProfileInput,
) -> ApiResult<UserRecord> {
    let mut errors = Vec::new();
    let update = ProfileUpdate {
        first_name: input
            .first_name
            .map(|v| optional_text("firstName", v, NAME_MAX, &mut errors)),
        last_name: input
            .last_name
            .map(|v| optional_text("lastName", v, NAME_MAX, &mut errors)),
        phone: input.phone.map(|v| phone(v, &mut errors)),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    state
        .stores
        .users
        .update_profile(user_id, &update, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))
}

/// Changes the password after checking the current one, and signs out every other session.
pub async fn change_password(
    state: &AppState,
    client: &ClientInfo,
    user: &UserRecord,
    current_session: &str,
    current: Option<Zeroizing<String>>,
    new: Option<Zeroizing<String>>,
) -> ApiResult<()> {
    let (current, new) = match (current, new) {
        (Some(current), Some(new)) => (current, new),
        (current, new) => {
            let missing = [
                (
                    current.is_none(),
                    "currentPassword",
                    "Current password is required",
                ),
                (new.is_none(), "newPassword", "New password is required"),
            ];
            let errors = missing
                .into_iter()
                .filter(|(absent, _, _)| *absent)
                .map(|(_, field, _)| FieldError::required(field))
                .collect();
            return Err(ApiError::validation(errors));
        }
    };
    lockout::check_password(
        state,
        user,
        current.clone(),
        client,
        AuditAction::ReauthenticationFailed,
        ApiError::new(
            ErrorCode::InvalidCredentials,
            "The current password is incorrect",
        ),
    )
    .await?;
    if *current == *new {
        return Err(ApiError::validation(vec![FieldError::new(
            "newPassword",
            "The new password must differ from the current one",
        )]));
    }
    let new = Password::parse(
        "newPassword",
        new,
        PasswordContext {
            username: &user.username,
            email: &user.email,
        },
    )
    .map_err(|e| ApiError::validation(vec![e]))?;
    let hash = state.hasher.hash(new.into_inner()).await?;
    let now: OffsetDateTime = state.clock.now();
    state
        .stores
        .users
        .set_password_hash(user.id, &hash, true, now)
        .await?;
    let revoked = state
        .stores
        .sessions
        .revoke_user_sessions(user.id, Some(current_session))
        .await?;
    state
        .mailer
        .send(user, MailKind::PasswordChanged { at: now })
        .await;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::PasswordChanged, user.id)
            .details(serde_json::json!({ "sessionsRevoked": revoked.len() })),
    )
    .await;
    Ok(())
}

/// Deletes the caller's account after checking the password: the status becomes `deleted`
/// (the email and username stay taken, so nobody can impersonate the old account) and every
/// session ends.
pub async fn delete_account(
    state: &AppState,
    client: &ClientInfo,
    user: &UserRecord,
    password: Option<Zeroizing<String>>,
) -> ApiResult<()> {
    let password =
        password.ok_or_else(|| ApiError::validation(vec![FieldError::required("password")]))?;
    lockout::check_password(
        state,
        user,
        password,
        client,
        AuditAction::ReauthenticationFailed,
        ApiError::invalid_credentials(),
    )
    .await?;
    let now = state.clock.now();
    let deleted = state
        .stores
        .users
        .update_user_keeping_an_admin(
            user.id,
            std::sync::Arc::new(move |u: &mut UserRecord| {
                u.status = UserStatus::Deleted;
                u.updated_at = now;
            }),
        )
        .await?;
    if deleted == GuardedUpdate::LastAdmin {
        return Err(ApiError::new(
            ErrorCode::LastAdmin,
            "You are the last active admin: make someone else admin before deleting your account",
        ));
    }
    let revoked = state
        .stores
        .sessions
        .revoke_user_sessions(user.id, None)
        .await?;
    audit::record(
        state,
        client,
        Audit::by_user(AuditAction::AccountDeleted, user.id)
            .details(serde_json::json!({ "sessionsRevoked": revoked.len() })),
    )
    .await;
    Ok(())
}
