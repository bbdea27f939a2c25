//! Roles and what they may do (SPEC section 9). Routes declare the permission they need; only
//! this module knows which roles grant it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    UsersRead,
    AdminUsersRead,
    AdminUsersWrite,
    AdminSessionsManage,
    AdminClientsManage,
    AdminKeysManage,
    AdminAuditRead,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Self::UsersRead,
        Self::AdminUsersRead,
        Self::AdminUsersWrite,
        Self::AdminSessionsManage,
        Self::AdminClientsManage,
        Self::AdminKeysManage,
        Self::AdminAuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users.read",
            Self::AdminUsersRead => "admin.users.read",
            Self::AdminUsersWrite => "admin.users.write",
            Self::AdminSessionsManage => "admin.sessions.manage",
            Self::AdminClientsManage => "admin.clients.manage",
            Self::AdminKeysManage => "admin.keys.manage",
            Self::AdminAuditRead => "admin.audit.read",
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
        }
    }

    /// Moderators look after users and their sessions; only admins touch clients, keys and
    /// user records' roles.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::User => matches!(permission, UsersRead),
            Self::Moderator => matches!(
                permission,
                UsersRead | AdminUsersRead | AdminSessionsManage | AdminAuditRead
            ),
            Self::Admin => true,
        }
    }
}

/// The highest of a set of roles: what ranks a user against another.
pub fn rank(roles: &[Role]) -> Role {
    roles.iter().copied().max().unwrap_or(Role::User)
}

/// The rank rule: a role acts only on users of its own rank or below (a moderator may end a
/// moderator's sessions, never an admin's), and grants no role above its own.
pub fn may_act_on(actor: Role, target: &[Role]) -> bool {
    rank(target) <= actor
}

/// The permissions a set of roles grants, sorted and without repeats.
pub fn permissions_of(roles: &[Role]) -> Vec<Permission> {
    Permission::ALL
        .into_iter()
        .filter(|p| roles.iter().any(|r| r.grants(*p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranks order the ladder; nobody acts above their own.
    #[test]
    fn ranks() {
        assert_eq!(rank(&[]), Role::User);
        assert_eq!(rank(&[Role::User, Role::Moderator]), Role::Moderator);
        assert!(may_act_on(Role::Moderator, &[Role::User]));
        assert!(may_act_on(Role::Moderator, &[Role::Moderator]));
        assert!(!may_act_on(Role::Moderator, &[Role::User, Role::Admin]));
        assert!(may_act_on(Role::Admin, &[Role::Admin]));
    }

    /// The role ladder: each role grants at least what the one below does.
    #[test]
    fn role_permissions() {
        assert_eq!(permissions_of(&[Role::User]), vec![Permission::UsersRead]);
        let moderator = permissions_of(&[Role::Moderator]);
        assert!(moderator.contains(&Permission::AdminUsersRead));
        assert!(!moderator.contains(&Permission::AdminKeysManage));
        assert_eq!(permissions_of(&[Role::Admin]).len(), Permission::ALL.len());
        assert_eq!(
            permissions_of(&[Role::User, Role::Admin]).len(),
            Permission::ALL.len()
        );
    }
}
