//! Users and roles: their lifecycle, the names they carry, the invitation and deactivation rules.

use erp_kit::ApiError;

use super::scopes;
use super::violation::Violation;

/// A user's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Invited, no password yet.
    Invited,
    Active,
    /// Cannot log in; every session was revoked.
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }

    /// The stored form; anything unknown is the safe answer, deactivated.
    pub fn from_db(value: &str) -> Self {
        match value {
            "invited" => UserStatus::Invited,
            "active" => UserStatus::Active,
            _ => UserStatus::Deactivated,
        }
    }
}

/// A person's display name: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_input(
                "name",
                "a name has 1 to 200 characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role's name: trimmed, 1 to 100 characters (unique in its tenant: the store enforces it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::bad_input(
                "name",
                "a role name has 1 to 100 characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The permissions a role grants: registered scopes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions(Vec<String>);

impl Permissions {
    pub fn parse(requested: Vec<String>) -> Result<Self, Violation> {
        if let Some(unknown) = requested.iter().find(|p| scopes::find(p).is_none()) {
            return Err(Violation::UnknownScope {
                scope: unknown.clone(),
            });
        }
        Ok(Self(requested))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Whether the invitation a token found can still be accepted at `now_ms`: only by a user who
/// is still invited, before it expires.
pub fn check_invitation(
    status: UserStatus,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<(), Violation> {
    if status != UserStatus::Invited {
        return Err(Violation::InvitationInvalid);
    }
    match expires_at_ms {
        Some(at) if at > now_ms => Ok(()),
        _ => Err(Violation::InvitationExpired),
    }
}

/// Whether `actor` may deactivate `user_id` (an administrator locking themselves out would leave
/// a tenant without one).
pub fn check_can_deactivate(actor: &str, user_id: &str) -> Result<(), Violation> {
    if actor == user_id {
        return Err(Violation::SelfDeactivation);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"x".repeat(200)).is_ok());
        assert!(UserName::parse(&"x".repeat(201)).is_err());
        assert_eq!(RoleName::parse(" Ops ").unwrap().as_str(), "Ops");
        assert!(RoleName::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn permissions_are_registered_scopes_only() {
        let granted = Permissions::parse(vec!["task:start".into(), "user:read".into()]).unwrap();
        assert_eq!(granted.as_slice(), ["task:start", "user:read"]);
        assert_eq!(
            Permissions::parse(vec!["task:start".into(), "make:coffee".into()]),
            Err(Violation::UnknownScope {
                scope: "make:coffee".into()
            })
        );
    }

    #[test]
    fn an_invitation_works_once_and_only_before_it_expires() {
        assert_eq!(check_invitation(UserStatus::Invited, Some(2), 1), Ok(()));
        assert_eq!(
            check_invitation(UserStatus::Invited, Some(1), 1),
            Err(Violation::InvitationExpired)
        );
        assert_eq!(
            check_invitation(UserStatus::Invited, None, 1),
            Err(Violation::InvitationExpired)
        );
        assert_eq!(
            check_invitation(UserStatus::Active, Some(2), 1),
            Err(Violation::InvitationInvalid),
            "accepted already"
        );
        assert_eq!(
            check_invitation(UserStatus::Deactivated, Some(2), 1),
            Err(Violation::InvitationInvalid),
            "withdrawn"
        );
    }

    #[test]
    fn nobody_deactivates_themselves() {
        assert_eq!(
            check_can_deactivate("u1", "u1"),
            Err(Violation::SelfDeactivation)
        );
        assert_eq!(check_can_deactivate("u1", "u2"), Ok(()));
        assert_eq!(
            UserStatus::from_db("something else"),
            UserStatus::Deactivated
        );
        assert_eq!(
            UserStatus::from_db(UserStatus::Invited.as_str()),
            UserStatus::Invited
        );
    }
}
