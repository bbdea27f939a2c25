//! The first administrator, created on an empty store (SPEC section 3).

use rand::Rng;
use rand::seq::SliceRandom;
use zeroize::Zeroizing;

use super::accounts::{NewUser, create_user};
use crate::domain::{Email, Password, PasswordContext, Role, UserStatus, Username};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

pub const BOOTSTRAP_ADMIN_USERNAME: &str = "admin";

/// What happened at start-up.
#[derive(Debug)]
pub enum Bootstrap {
    /// The store already had users.
    NotNeeded,
    /// Created with the configured password.
    Created { email: String },
    /// Created with a generated password, to be shown once.
    Generated {
        email: String,
        password: Zeroizing<String>,
    },
}

/// 24 characters from all four classes; far above the policy's zxcvbn threshold.
pub fn generate_password() -> Zeroizing<String> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"!#%+-=?@^_~";
    let mut rng = rand::rng();
    let mut pick = |set: &[u8]| char::from(set[rng.random_range(0..set.len())]);
    let mut chars: Vec<char> = [UPPER, LOWER, DIGIT, SYMBOL].map(&mut pick).to_vec();
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    while chars.len() < 24 {
        chars.push(pick(&all));
    }
    chars.shuffle(&mut rand::rng());
    Zeroizing::new(chars.into_iter().collect())
}

pub async fn ensure_admin(state: &AppState) -> ApiResult<Bootstrap> {
    if state.stores.users.count_users().await? > 0 {
        return Ok(Bootstrap::NotNeeded);
    }
    let email = Email::parse(&state.config.bootstrap_admin_email)
        .map_err(|e| ApiError::validation(vec![e]))?;
    let username =
        Username::parse(BOOTSTRAP_ADMIN_USERNAME).map_err(|e| ApiError::validation(vec![e]))?;
    let (password, generated) = match &state.config.bootstrap_admin_password {
        Some(configured) => (Zeroizing::new(configured.expose().to_owned()), false),
        None => (generate_password(), true),
    };
    let context = PasswordContext {
        username: username.as_str(),
        email: email.as_str(),
    };
    let parsed = Password::parse("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", password.clone(), context)
        .map_err(|e| ApiError::validation(vec![e]))?;
    let created = create_user(
        state,
        NewUser {
            email,
            username,
            password: parsed,
            first_name: None,
            last_name: None,
            phone: None,
            status: UserStatus::Active,
            // The operator chose this address; there is nobody to click a link yet.
            email_verified: true,
            roles: vec![Role::Admin],
        },
    )
    .await;
    let user = match created {
        Ok(user) => user,
        // Another replica sharing the store created it first.
        Err(e) if matches!(e.code, ErrorCode::UsernameExists | ErrorCode::EmailExists) => {
            return Ok(Bootstrap::NotNeeded);
        }
        Err(e) => return Err(e),
    };
    tracing::info!(event = "bootstrap.admin_created", user_id = %user.id, "created the bootstrap admin");
    Ok(if generated {
        Bootstrap::Generated {
            email: user.email,
            password,
        }
    } else {
        Bootstrap::Created { email: user.email }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated passwords always satisfy the registration policy.
    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..20 {
            let password = generate_password();
            let context = PasswordContext {
                username: "admin",
                email: "admin@sigil.local",
            };
            assert!(Password::parse("p", password, context).is_ok());
        }
    }
}
