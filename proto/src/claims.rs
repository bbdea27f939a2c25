//! The claims of Sigil's access tokens (RFC 9068) and ID tokens (OIDC Core), typed for the
//! issuer and relying services. Claim names are the registered ones, so snake_case.

use serde::{Deserialize, Serialize};

/// The JOSE `typ` of an access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// An `aud` claim: one audience as a string, several as an array (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// One audience stays a string on the wire, so single-audience verifiers keep working.
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 {
            Self::One(list.remove(0))
        } else {
            Self::Many(list)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let items: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        items.iter().map(String::as_str)
    }

    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    /// True when any audience here is one of `accepted`.
    pub fn intersects(&self, accepted: &[String]) -> bool {
        self.iter().any(|a| accepted.iter().any(|ok| ok == a))
    }
}

/// Claims of a Sigil access token. User tokens carry the session (`sid`), the roles and how
/// and when the user authenticated; `client_credentials` tokens name only the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user id, or the client id for `client_credentials` tokens.
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The client the token was issued to; `sigil` for Sigil's own REST API.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The key the token is bound to (RFC 9449 DPoP): only requests carrying a proof signed
    /// by it may use the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// The RFC 7638 thumbprint of the key a DPoP-bound token is bound to.
    pub fn bound_key(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

/// A `cnf` claim (RFC 7800) naming a DPoP key by its thumbprint (RFC 9449 section 6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// What the granted scopes release about the user (OIDC Core section 5.1): the ID token and
/// the userinfo answer carry the same set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserClaims {
    pub sub: String,
    /// `profile`: given and family name joined, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `profile`: Unix seconds of the last profile change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
    /// `email`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `phone`, when the user has one; Sigil does not verify phone numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// `roles`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// Claims of a Sigil ID token: who signed in, for which client, when and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    #[serde(flatten)]
    pub user: UserClaims,
    /// The client id.
    pub aud: Audience,
    pub azp: String,
    pub exp: u64,
    pub iat: u64,
    pub auth_time: u64,
    pub amr: Vec<String>,
    /// `urn:sigil:mfa` when the sign-in used a second factor; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub sid: String,
    /// Binds the ID token to the access token issued with it.
    pub at_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One audience is a string on the wire, several an array; both read back.
    #[test]
    fn audience_wire_shapes() {
        let one = Audience::from_list(vec!["https://api.example".into()]);
        assert_eq!(
            serde_json::to_value(&one).ok(),
            Some(serde_json::json!("https://api.example"))
        );
        let many = Audience::from_list(vec!["a".into(), "b".into()]);
        assert_eq!(
            serde_json::to_value(&many).ok(),
            Some(serde_json::json!(["a", "b"]))
        );
        let back: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap_or(Audience::Many(vec![]));
        assert!(back.contains("b") && !back.contains("c"));
        assert!(back.intersects(&["x".into(), "a".into()]));
        assert!(!one.intersects(&["a".into()]));
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    /// The user's claims sit at the top level of the ID token, and only those released.
    #[test]
    fn id_token_is_flat() {
        let claims = IdClaims {
            iss: "https://id.example".into(),
            user: UserClaims {
                sub: "u1".into(),
                email: Some("a@example.com".into()),
                email_verified: Some(true),
                ..UserClaims::default()
            },
            aud: Audience::One("web".into()),
            azp: "web".into(),
            exp: 2,
            iat: 1,
            auth_time: 1,
            amr: vec!["pwd".into()],
            acr: None,
            sid: "s".into(),
            at_hash: "h".into(),
            nonce: None,
        };
        let wire = serde_json::to_value(&claims).unwrap();
        assert_eq!(wire["sub"], "u1");
        assert_eq!(wire["email_verified"], true);
        assert!(wire.get("name").is_none() && wire.get("nonce").is_none());
        assert!(wire.get("acr").is_none());
        let back: IdClaims = serde_json::from_value(wire).unwrap();
        assert_eq!(back, claims);
    }
}
