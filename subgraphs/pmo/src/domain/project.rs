//! Projects: members in project roles (what each may do), budgets in money.

use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::PmoRule;

/// A money amount in minor units (cents) with an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

impl Money {
    /// Parses a non-negative decimal with at most two fraction digits ("12500", "12500.5",
    /// "12500.50") and a three-letter currency.
    pub fn parse(field: &str, amount: &str, currency: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_input(
                field,
                format!(
                    "`{}` is not an amount like 12500.00 (at most two decimals, not negative)",
                    amount.trim()
                ),
            )
        };
        let amount = amount.trim();
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        if whole.is_empty()
            || whole.len() > 13
            || fraction.len() > 2
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !fraction.chars().all(|c| c.is_ascii_digit())
            || (amount.contains('.') && fraction.is_empty())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let minor = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .ok_or_else(bad)?;
        let currency = currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::bad_input(
                "currency",
                "the currency is a three-letter ISO 4217 code such as EUR",
            ));
        }
        Ok(Self { minor, currency })
    }

    /// A budget: an amount and its currency together, or neither.
    pub fn parse_budget(
        amount: Option<&str>,
        currency: Option<&str>,
    ) -> Result<Option<Self>, ApiError> {
        match (amount, currency) {
            (None, None) => Ok(None),
            (Some(amount), Some(currency)) => Self::parse("budget", amount, currency).map(Some),
            _ => Err(ApiError::bad_input(
                "currency",
                "give `budget` and `currency` together",
            )),
        }
    }

    /// A budget from an amount in minor units of a currency with `exponent` decimals (a won
    /// CRM deal's amount): PMO keeps cents, so JPY 5000 is 5000.00 and KWD 1.235 rounds half
    /// away from zero to 1.24. None for a negative amount or one beyond cents' range.
    pub fn from_minor_units(minor: i64, exponent: u8, currency: &str) -> Option<Self> {
        if minor < 0 {
            return None;
        }
        let minor = i128::from(minor);
        let cents = match exponent {
            0..=2 => minor.checked_mul(10i128.checked_pow(u32::from(2 - exponent))?)?,
            _ => {
                let per_cent = 10i128.checked_pow(u32::from(exponent - 2))?;
                (minor + per_cent / 2) / per_cent
            }
        };
        Some(Self {
            minor: i64::try_from(cents).ok()?,
            currency: currency.to_owned(),
        })
    }

    /// "12500.50"
    pub fn amount(&self) -> String {
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }
}

/// What a project member may do in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// Everything, including members and budget.
    Owner,
    /// Boards, members, budget and tasks.
    Manager,
    /// Tasks: create, move, depend, log time.
    Contributor,
    /// Reads only.
    Viewer,
}

impl ProjectRole {
    /// May change boards, members and the budget.
    pub fn can_manage(self) -> bool {
        matches!(self, ProjectRole::Owner | ProjectRole::Manager)
    }

    /// May create and move tasks.
    pub fn can_contribute(self) -> bool {
        !matches!(self, ProjectRole::Viewer)
    }

    /// Any member (comments, reads).
    pub fn is_member(self) -> bool {
        true
    }
}

/// A member of a project: a user of the identity service, optionally linked to an employee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub employee_id: Option<String>,
    pub role: ProjectRole,
}

/// The role of `user_id` among `members` (None: not a member).
pub fn role_of(members: &[Member], user_id: &str) -> Option<ProjectRole> {
    members
        .iter()
        .find(|m| m.user_id == user_id)
        .map(|m| m.role)
}

/// FORBIDDEN unless `role` (the caller's in the project, None when not a member) allows
/// `what`.
pub fn require_role(
    role: Option<ProjectRole>,
    allowed: fn(ProjectRole) -> bool,
    what: &str,
) -> Result<ProjectRole, ApiError> {
    match role {
        Some(role) if allowed(role) => Ok(role),
        _ => Err(ApiError::Forbidden(format!(
            "your role in this project does not allow you to {what}"
        ))),
    }
}

/// FORBIDDEN unless `user_id` is one of the members.
pub fn require_member(members: &[Member], user_id: &str) -> Result<(), ApiError> {
    match role_of(members, user_id) {
        Some(_) => Ok(()),
        None => Err(ApiError::Forbidden(
            "you are not a member of this project".into(),
        )),
    }
}

/// Only an owner makes another owner.
pub fn check_can_appoint(caller: ProjectRole, role: ProjectRole) -> Result<(), ApiError> {
    if role == ProjectRole::Owner && caller != ProjectRole::Owner {
        return Err(ApiError::Forbidden(
            "only an owner can make another owner".into(),
        ));
    }
    Ok(())
}

/// `caller` may remove `user_id` from the project: a member; an owner only by an owner, and
/// never the last owner.
pub fn check_can_remove(
    members: &[Member],
    caller: ProjectRole,
    user_id: &str,
) -> Result<(), ApiError> {
    let Some(role) = role_of(members, user_id) else {
        return Err(ApiError::bad_input(
            "userId",
            "not a member of this project",
        ));
    };
    if role == ProjectRole::Owner {
        if caller != ProjectRole::Owner {
            return Err(ApiError::Forbidden(
                "only an owner can remove an owner".into(),
            ));
        }
        let owners = members
            .iter()
            .filter(|m| m.role == ProjectRole::Owner)
            .count();
        if owners == 1 {
            return Err(PmoRule::LastOwner.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: &str, role: ProjectRole) -> Member {
        Member {
            user_id: user.into(),
            employee_id: None,
            role,
        }
    }

    #[test]
    fn parses_money() {
        assert_eq!(Money::parse("b", "12500", "eur").unwrap().minor, 1_250_000);
        assert_eq!(Money::parse("b", "1.5", "EUR").unwrap().minor, 150);
        assert_eq!(Money::parse("b", "0.05", "EUR").unwrap().amount(), "0.05");
        for bad in ["", "-1", "1.", "1.234", "1e5", "abc", "99999999999999"] {
            assert!(Money::parse("b", bad, "EUR").is_err(), "{bad}");
        }
        assert!(Money::parse("b", "1", "EURO").is_err());
        assert_eq!(Money::parse_budget(None, None).unwrap(), None);
        // A deal's amount in its currency's minor units, as cents.
        let budget = |minor, exponent| {
            Money::from_minor_units(minor, exponent, "X").map(|money| money.minor)
        };
        assert_eq!(budget(4_800_000, 2), Some(4_800_000));
        assert_eq!(budget(5_000, 0), Some(500_000));
        assert_eq!(budget(1_235, 3), Some(124));
        assert_eq!(budget(1_234, 3), Some(123));
        assert_eq!(budget(-1, 2), None);
        assert_eq!(budget(i64::MAX, 0), None);
        assert!(Money::parse_budget(Some("1"), None).is_err());
    }

    #[test]
    fn members_and_roles() {
        let members = vec![
            member("owner", ProjectRole::Owner),
            member("pm", ProjectRole::Manager),
            member("dev", ProjectRole::Contributor),
        ];
        assert_eq!(role_of(&members, "pm"), Some(ProjectRole::Manager));
        assert!(require_role(role_of(&members, "dev"), ProjectRole::can_manage, "x").is_err());
        assert!(require_role(None, ProjectRole::is_member, "x").is_err());
        assert!(check_can_appoint(ProjectRole::Manager, ProjectRole::Owner).is_err());
        assert!(check_can_remove(&members, ProjectRole::Manager, "dev").is_ok());
        assert!(check_can_remove(&members, ProjectRole::Manager, "owner").is_err());
        let last = check_can_remove(&members, ProjectRole::Owner, "owner").unwrap_err();
        assert_eq!(last.reason(), Some(super::super::reasons::LAST_OWNER));
        assert!(check_can_remove(&members, ProjectRole::Owner, "nobody").is_err());
    }
}
