use zeroize::Zeroizing;

use crate::error::{FieldCode, FieldError};

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;
/// No valid password is longer than this in bytes (128 characters of up to 4 bytes).
pub const PASSWORD_MAX_BYTES: usize = PASSWORD_MAX * 4;

/// What a new password must not contain or resemble.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    pub username: &'a str,
    pub email: &'a str,
}

/// A new password that passed the policy of SPEC section 4: 12-128 characters with upper and
/// lower case letters, a digit and a symbol, not containing the username or the email's local
/// part, and zxcvbn score 3 or more. Wiped from memory when dropped.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn parse(
        field: &str,
        input: Zeroizing<String>,
        context: PasswordContext<'_>,
    ) -> Result<Self, FieldError> {
        let err =
            |message: &str| FieldError::coded(FieldCode::InvalidPasswordStrength, field, message);
        let len = input.chars().count();
        if len < PASSWORD_MIN {
            return Err(FieldError::coded(
                FieldCode::FieldTooShort,
                field,
                "Password must be at least 12 characters",
            ));
        }
        // Checked before zxcvbn, whose cost grows quickly with the length.
        if len > PASSWORD_MAX {
            return Err(FieldError::coded(
                FieldCode::FieldTooLong,
                field,
                "Password must be at most 128 characters",
            ));
        }
        let has_upper = input.chars().any(char::is_uppercase);
        let has_lower = input.chars().any(char::is_lowercase);
        let has_digit = input.chars().any(|c| c.is_ascii_digit());
        let has_symbol = input
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if !(has_upper && has_lower && has_digit && has_symbol) {
            return Err(err(
                "Password must include an uppercase letter, a lowercase letter, a digit and a symbol",
            ));
        }
        let lowered = input.to_lowercase();
        let local_part = context.email.split('@').next().unwrap_or_default();
        for personal in [context.username, local_part] {
            if personal.len() >= 3 && lowered.contains(&personal.to_lowercase()) {
                return Err(err("Password must not contain your username or email"));
            }
        }
        let inputs: Vec<&str> = [context.username, context.email, local_part]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if zxcvbn::zxcvbn(&input, &inputs).score() < zxcvbn::Score::Three {
            return Err(err("Password is too easy to guess"));
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> Zeroizing<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<Password, FieldError> {
        Password::parse(
            "password",
            Zeroizing::new(password.to_owned()),
            PasswordContext {
                username: "johndoe",
                email: "john.smith@example.com",
            },
        )
    }

    /// A long mixed password passes; each rule has a failing example.
    #[test]
    fn policy() {
        assert!(check("Correct-Horse-42-Battery").is_ok());
        assert!(check("Sh0rt!").is_err(), "too short");
        assert!(
            check(&format!("Aa1!{}", "x".repeat(125))).is_err(),
            "too long"
        );
        assert!(check("alllowercase-42-battery").is_err(), "no upper");
        assert!(check("ALLUPPER-42-BATTERY").is_err(), "no lower");
        assert!(check("No-Digits-Here-Battery").is_err(), "no digit");
        assert!(check("NoSymbols42Battery").is_err(), "no symbol");
        assert!(check("Password123!").is_err(), "weak per zxcvbn");
        assert!(check("My-johndoe-Pass-77").is_err(), "contains username");
        assert!(
            check("Xx-john.smith-Zz-77").is_err(),
            "contains email local part"
        );
    }

    /// Unicode counts in characters, not bytes, and a 10 KB input is refused cheaply.
    #[test]
    fn unicode_and_huge_inputs() {
        assert!(check("Ünïcödé-Pässwörd-42").is_ok());
        assert!(check(&"Aa1!".repeat(2560)).is_err());
    }
}
