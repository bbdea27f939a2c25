use email_address::{EmailAddress, Options};

use crate::error::{FieldCode, FieldError};

const EMAIL_MAX: usize = 255;
const USERNAME_MIN: usize = 3;
const USERNAME_MAX: usize = 50;

/// A syntactically valid email address, as typed, plus its lookup form.
///
/// Decision: addresses must be ASCII (internationalised domains in their `xn--` form). Unicode
/// local parts are legal (RFC 6531) but invite lookalike accounts, and most mail systems in
/// front of an identity provider still mangle them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    original: String,
    normalized: String,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let input = input.trim();
        let err =
            |message: &str| FieldError::coded(FieldCode::InvalidEmailFormat, "email", message);
        if input.is_empty() {
            return Err(FieldError::required("email"));
        }
        if input.len() > EMAIL_MAX {
            return Err(FieldError::coded(
                FieldCode::FieldTooLong,
                "email",
                "Email must be at most 255 characters",
            ));
        }
        if !input.is_ascii() {
            return Err(err(
                "Email must use ASCII characters (IDN domains in xn-- form)",
            ));
        }
        let options = Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        let address = EmailAddress::parse_with_options(input, options)
            .map_err(|_| err("Email is not a valid address"))?;
        // RFC 5322 also allows quoted local parts and comments (`"admin"@x.test`), which
        // mail servers deliver to the same mailbox as the bare form: a second account for an
        // existing address. Only the dot-atom form is accepted.
        if !is_dot_atom(address.local_part()) {
            return Err(err(
                "Email must not use quotes, comments or other special local-part forms",
            ));
        }
        Ok(Self {
            original: input.to_owned(),
            normalized: input.to_ascii_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The case-folded form, unique across users.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// RFC 5322's dot-atom: atext runs separated by single dots.
fn is_dot_atom(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
    })
}

/// 3-50 characters of `[A-Za-z0-9_-]`, unique case-insensitively. The narrow charset is what
/// keeps lookalike (homoglyph) usernames out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    original: String,
    normalized: String,
}

impl Username {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let len = input.chars().count();
        if len == 0 {
            return Err(FieldError::required("username"));
        }
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            let code = if len < USERNAME_MIN {
                FieldCode::FieldTooShort
            } else {
                FieldCode::FieldTooLong
            };
            return Err(FieldError::coded(
                code,
                "username",
                "Username must be 3 to 50 characters",
            ));
        }
        if !input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(FieldError::coded(
                FieldCode::InvalidUsernameFormat,
                "username",
                "Username may contain only letters A-Z, digits, underscore and hyphen",
            ));
        }
        Ok(Self {
            original: input.to_owned(),
            normalized: input.to_ascii_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// How a user names themselves at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Email(String),
    Username(String),
}

impl Login {
    /// The lookup key for an email or username as typed at login. No validation beyond
    /// normalisation: a malformed identifier simply finds nobody.
    pub fn email(input: &str) -> Self {
        Self::Email(input.trim().to_ascii_lowercase())
    }

    pub fn username(input: &str) -> Self {
        Self::Username(input.trim().to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid addresses normalise to lower case; invalid ones are refused.
    #[test]
    fn emails() {
        let email = Email::parse(" Alice.Smith@Example.COM ").map(|e| e.normalized().to_owned());
        assert_eq!(email, Ok("alice.smith@example.com".to_owned()));
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "Alice <alice@example.com>",
            "alice@[127.0.0.1]",
            "ålice@example.com",
            "alice@exämple.com",
            "alice@example.com\u{0}",
            "\"alice\"@example.com",
            "\"al ice\"@example.com",
            "alice(comment)@example.com",
            ".alice@example.com",
            "al..ice@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        assert_eq!(
            Email::parse("\"alice\"@example.com").map_err(|e| e.code),
            Err(FieldCode::InvalidEmailFormat)
        );
        assert!(Email::parse("o'brien+tag@example.com").is_ok());
    }

    /// The username charset is ASCII only, so lookalikes and case variants collide.
    #[test]
    fn usernames() {
        assert_eq!(
            Username::parse("John_Doe-1").map(|u| u.normalized().to_owned()),
            Ok("john_doe-1".to_owned())
        );
        for bad in [
            "ab",
            &"a".repeat(51),
            "john doe",
            "jöhn",
            "јohn", // Cyrillic je
            "john.doe",
            "ｊｏｈｎ", // fullwidth
            "admin\u{200b}",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }
}
