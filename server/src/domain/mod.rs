//! The rules of Sigil's data, with no storage or HTTP in them.

mod identity;
pub mod oauth;
pub mod password;
pub mod resource;
mod roles;
mod user;

pub use identity::{Email, Login, Username};
pub use oauth::{AuthMethod, ClientRecord, ClientType, GrantType, Scope};
pub use password::{Password, PasswordContext};
pub use resource::ApiResource;
pub use roles::{Permission, Role, may_act_on, permissions_of, rank};
pub use user::{BackupCode, Mfa, ProfileUpdate, UserRecord, UserStatus};
