//! Identity rules: pure functions and types, no GraphQL, no database.

pub mod lockout;
pub mod password;
pub mod scopes;
pub mod secrets;
pub mod totp;

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

    pub fn from_db(value: &str) -> Self {
        match value {
            "invited" => UserStatus::Invited,
            "active" => UserStatus::Active,
            _ => UserStatus::Deactivated,
        }
    }
}
