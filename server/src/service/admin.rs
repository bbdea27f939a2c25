//! The rules of the admin API: listing and changing users, their sessions, key rotation (the
//! audit trail and the dashboard numbers are `admin_reports`). Callers check permissions;
//! every change here is audited by them.

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::accounts::{NewUser, create_user, optional_text_field};
use super::principal::Principal;
use super::reauth;
use crate::audit::{Acting, AuditAction};
use crate::domain::{Email, Password, PasswordContext, Role, UserRecord, UserStatus, Username};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::state::AppState;
use crate::store::{GuardedUpdate, SessionRecord, UserQuery, UserSort};

pub const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 20;

pub(super) fn field(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new(name, message)])
}

fn parse_status(text: &str) -> ApiResult<UserStatus> {
    match text {
        "pending" => Ok(UserStatus::Pending),
        "active" => Ok(UserStatus::Active),
        "suspended" => Ok(UserStatus::Suspended),
        "deleted" => Ok(UserStatus::Deleted),
        _ => Err(field("status", "pending, active, suspended or deleted")),
    }
}

fn parse_role(text: &str) -> ApiResult<Role> {
    match text {
        "user" => Ok(Role::User),
        "moderator" => Ok(Role::Moderator),
        "admin" => Ok(Role::Admin),
        _ => Err(field("role", "user, moderator or admin")),
    }
}

/// The list query as received.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserListParams {
    pub page: Option<String>,
    pub limit: Option<String>,
    pub status: Option<String>,
    pub role: Option<String>,
    pub search: Option<String>,
    pub sort: Option<String>,
}

pub use sigil_proto::Pagination;

pub fn parse_list(params: &UserListParams) -> ApiResult<(UserQuery, u64)> {
    let number = |name: &str, value: &Option<String>, default: u64| -> ApiResult<u64> {
        match value.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| field(name, "must be a whole number from 1")),
        }
    };
    let page = number("page", &params.page, 1)?;
    // The seed caps the page size rather than refusing a larger one; `pagination.limit` in
    // the answer says what was applied.
    let limit = number("limit", &params.limit, DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
    let (descending, sort_name) = match params.sort.as_deref() {
        Some(s) if s.starts_with('-') => (true, &s[1..]),
        Some(s) => (false, s),
        None => (true, "createdAt"),
    };
    let sort = match sort_name {
        "createdAt" => UserSort::CreatedAt,
        "email" => UserSort::Email,
        "username" => UserSort::Username,
        "lastLogin" => UserSort::LastLogin,
        _ => {
            return Err(field(
                "sort",
                "createdAt, email, username or lastLogin, - for descending",
            ));
        }
    };
    let search = params
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    if search.as_deref().is_some_and(|s| s.chars().count() > 100) {
        return Err(field("search", "at most 100 characters"));
    }
    Ok((
        UserQuery {
            status: params
                .status
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(parse_status)
                .transpose()?,
            role: params
                .role
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(parse_role)
                .transpose()?,
            search,
            sort,
            descending,
            offset: (page - 1).saturating_mul(limit),
            limit,
        },
        page,
    ))
}

pub async fn list_users(
    state: &AppState,
    params: &UserListParams,
) -> ApiResult<(Vec<UserRecord>, Pagination)> {
    let (query, page) = parse_list(params)?;
    let (users, total) = state.stores.users.list_users(&query).await?;
    Ok((
        users,
        Pagination {
            page,
            limit: query.limit,
            total,
            pages: total.div_ceil(query.limit),
        },
    ))
}

pub async fn get_user(state: &AppState, id: Uuid) -> ApiResult<UserRecord> {
    state
        .stores
        .users
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))
}

/// The user an admin or moderator is about to act on, if the rank rule lets them: 404 for
/// an unknown id, 403 for a user above the actor's rank. Every change to a user goes through
/// here.
async fn target(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<UserRecord> {
    let user = get_user(state, id).await?;
    if by.may_act_on(&user.roles) {
        Ok(user)
    } else {
        Err(above_rank())
    }
}

fn above_rank() -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientPermissions,
        "You may act only on users of your own rank or below",
    )
}

/// The roles as sent, checked, sorted, without repeats, none above the actor's rank.
fn parse_roles(names: &[String], by: &Acting) -> ApiResult<Vec<Role>> {
    if names.is_empty() {
        return Err(field("roles", "at least one role"));
    }
    let mut roles: Vec<Role> = names
        .iter()
        .map(|n| parse_role(n))
        .collect::<ApiResult<_>>()?;
    roles.sort();
    roles.dedup();
    if !by.may_act_on(&roles) {
        return Err(above_rank());
    }
    Ok(roles)
}

/// What an admin may change on a user; absent fields stay.
#[derive(Debug, Default, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 100))]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 100))]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sigil_proto::double_option")]
    #[salvo(schema(max_length = 20, pattern = "^[0-9+ ().-]*$"))]
    pub phone: Option<Option<String>>,
    #[salvo(schema(value_type = Option<crate::http::schema_values::UserStatusValue>))]
    pub status: Option<String>,
    #[salvo(schema(value_type = Option<Vec<crate::http::schema_values::RoleValue>>, min_items = 1))]
    pub roles: Option<Vec<String>>,
    pub email_verified: Option<bool>,
    /// The acting admin's own current password: a role change needs it unless the admin
    /// signed in within `SIGIL_REAUTHENTICATION_WINDOW`.
    #[serde(default)]
    pub password: Option<String>,
}

/// An admin's change to a user; changing roles needs the admin's re-authentication.
pub async fn change_user(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    mut input: UserUpdate,
    by: &Acting,
) -> ApiResult<UserRecord> {
    let password = input.password.take().map(Zeroizing::new);
    if input.roles.is_some() {
        reauth::require(state, actor, password, &by.client).await?;
    }
    let changes = serde_json::json!({
        "status": input.status,
        "roles": input.roles,
        "emailVerified": input.email_verified,
    });
    let user = update_user(state, id, input, by).await?;
    by.record(state, AuditAction::AdminUserUpdated, Some(id), changes)
        .await;
    Ok(user)
}

async fn update_user(
    state: &AppState,
    id: Uuid,
    input: UserUpdate,
    by: &Acting,
) -> ApiResult<UserRecord> {
    target(state, id, by).await?;
    // One's own account is suspended or deleted by another admin (or the command line), or
    // deleted through `DELETE /v1/users/me`, which asks for the password: an admin token alone
    // does not end its own account. Stepping down (roles) is allowed while another admin stays.
    if by.actor == Some(id) && input.status.is_some() {
        return Err(ApiError::bad_request(
            "You cannot change your own status here; ask another admin, or delete your account through /v1/users/me",
        ));
    }
    let mut errors = Vec::new();
    let first_name = input
        .first_name
        .map(|v| optional_text_field("firstName", v, 100, &mut errors));
    let last_name = input
        .last_name
        .map(|v| optional_text_field("lastName", v, 100, &mut errors));
    let phone = input
        .phone
        .map(|v| optional_text_field("phone", v, 20, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let status = input.status.as_deref().map(parse_status).transpose()?;
    let roles = input
        .roles
        .map(|names| parse_roles(&names, by))
        .transpose()?;
    let now = state.clock.now();
    let email_verified = input.email_verified;
    let outcome = state
        .stores
        .users
        .update_user_keeping_an_admin(
            id,
            Arc::new(move |u: &mut UserRecord| {
                if let Some(v) = &first_name {
                    u.first_name.clone_from(v);
                }
                if let Some(v) = &last_name {
                    u.last_name.clone_from(v);
                }
                if let Some(v) = &phone {
                    u.phone.clone_from(v);
                }
                if let Some(s) = status {
                    u.status = s;
                }
                if let Some(r) = &roles {
                    u.roles.clone_from(r);
                }
                if let Some(v) = email_verified {
                    u.email_verified = v;
                }
                u.updated_at = now;
            }),
        )
        .await?;
    let updated = match outcome {
        GuardedUpdate::Updated(user) => user,
        GuardedUpdate::NotFound => {
            return Err(ApiError::new(ErrorCode::UserNotFound, "User not found"));
        }
        GuardedUpdate::LastAdmin => {
            return Err(ApiError::bad_request(
                "This is the last active admin; make someone else admin first",
            ));
        }
    };
    // Suspension or deletion ends every session at once.
    if matches!(updated.status, UserStatus::Suspended | UserStatus::Deleted) {
        state.stores.sessions.revoke_user_sessions(id, None).await?;
    }
    Ok(updated)
}

pub async fn delete_user(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<UserRecord> {
    let deletion = UserUpdate {
        status: Some("deleted".into()),
        ..UserUpdate::default()
    };
    let user = update_user(state, id, deletion, by).await?;
    by.record(
        state,
        AuditAction::AdminUserDeleted,
        Some(id),
        serde_json::json!({}),
    )
    .await;
    Ok(user)
}

pub async fn unlock(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<UserRecord> {
    target(state, id, by).await?;
    let user = state
        .stores
        .users
        .unlock(id, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))?;
    by.record(
        state,
        AuditAction::AdminUserUnlocked,
        Some(id),
        serde_json::json!({}),
    )
    .await;
    Ok(user)
}

/// Turns MFA off (lost authenticator); the user can enrol again.
pub async fn reset_mfa(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<UserRecord> {
    target(state, id, by).await?;
    let now = state.clock.now();
    let user = state
        .stores
        .users
        .update_user(
            id,
            Arc::new(move |u: &mut UserRecord| {
                u.mfa = Default::default();
                u.updated_at = now;
            }),
        )
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "User not found"))?;
    by.record(
        state,
        AuditAction::AdminUserMfaReset,
        Some(id),
        serde_json::json!({}),
    )
    .await;
    Ok(user)
}

pub async fn sessions(state: &AppState, id: Uuid) -> ApiResult<Vec<SessionRecord>> {
    get_user(state, id).await?;
    Ok(state
        .stores
        .sessions
        .list_sessions(id, state.clock.now())
        .await?)
}

pub async fn revoke_sessions(state: &AppState, id: Uuid, by: &Acting) -> ApiResult<Vec<String>> {
    target(state, id, by).await?;
    let revoked = state.stores.sessions.revoke_user_sessions(id, None).await?;
    let details = serde_json::json!({ "sessions": revoked.len() });
    by.record(
        state,
        AuditAction::AdminUserSessionsRevoked,
        Some(id),
        details,
    )
    .await;
    Ok(revoked)
}

/// A user an admin creates: active and verified unless said otherwise.
#[derive(Debug, Default, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUserInput {
    #[salvo(schema(required = true, nullable = false, format = "email", max_length = 255))]
    pub email: Option<String>,
    #[salvo(schema(
        required = true,
        nullable = false,
        min_length = 3,
        max_length = 50,
        pattern = "^[A-Za-z0-9_-]+$"
    ))]
    pub username: Option<String>,
    #[salvo(schema(required = true, nullable = false, min_length = 12, max_length = 128))]
    pub password: Option<String>,
    #[salvo(schema(max_length = 100))]
    pub first_name: Option<String>,
    #[salvo(schema(max_length = 100))]
    pub last_name: Option<String>,
    #[salvo(schema(max_length = 20, pattern = "^[0-9+ ().-]*$"))]
    pub phone: Option<String>,
    #[salvo(schema(value_type = Option<Vec<crate::http::schema_values::RoleValue>>, min_items = 1))]
    pub roles: Option<Vec<String>>,
    #[salvo(schema(value_type = Option<crate::http::schema_values::UserStatusValue>))]
    pub status: Option<String>,
    pub email_verified: Option<bool>,
}

/// Creates a user (audited as `admin.user.created`, whoever asks: the API or the CLI).
pub async fn create(state: &AppState, input: NewUserInput, by: &Acting) -> ApiResult<UserRecord> {
    let mut errors = Vec::new();
    let email = Email::parse(input.email.as_deref().unwrap_or(""))
        .map_err(|e| errors.push(e))
        .ok();
    let username = Username::parse(input.username.as_deref().unwrap_or(""))
        .map_err(|e| errors.push(e))
        .ok();
    let password = Password::parse(
        "password",
        Zeroizing::new(input.password.unwrap_or_default()),
        PasswordContext {
            username: username.as_ref().map_or("", Username::as_str),
            email: email.as_ref().map_or("", Email::as_str),
        },
    )
    .map_err(|e| errors.push(e))
    .ok();
    let first_name = optional_text_field("firstName", input.first_name, 100, &mut errors);
    let last_name = optional_text_field("lastName", input.last_name, 100, &mut errors);
    let phone = optional_text_field("phone", input.phone, 20, &mut errors);
    let (Some(email), Some(username), Some(password), true) =
        (email, username, password, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    let roles = match input.roles {
        Some(names) if !names.is_empty() => parse_roles(&names, by)?,
        _ => vec![Role::User],
    };
    let status = input
        .status
        .as_deref()
        .map(parse_status)
        .transpose()?
        .unwrap_or(UserStatus::Active);
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
            email_verified: input.email_verified.unwrap_or(true),
            roles,
        },
    )
    .await?;
    by.record(
        state,
        AuditAction::AdminUserCreated,
        Some(user.id),
        serde_json::json!({ "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>() }),
    )
    .await;
    Ok(user)
}

/// Rotates the signing keys now (audited as `admin.keys.rotated`, whoever asks); answers the
/// key ring as it is afterwards.
pub async fn rotate_keys(
    state: &AppState,
    revoke_current: bool,
    by: &Acting,
) -> ApiResult<Vec<crate::keyring::KeyInfo>> {
    let now = state.clock.now();
    state
        .keyring
        .rotate_now(revoke_current, now)
        .await
        .map_err(ApiError::internal)?;
    by.record(
        state,
        AuditAction::AdminKeysRotated,
        None,
        serde_json::json!({ "revokeCurrent": revoke_current }),
    )
    .await;
    state.keyring.list(now).await.map_err(ApiError::internal)
}
