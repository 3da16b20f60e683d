//! Employee domain types and rules: pure, no GraphQL, no database.
//! Values are parsed at the boundary, so an invalid one cannot exist past it.

use chrono::NaiveDate;

use erp_kit::ApiError;

/// A person's display name: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ApiError::bad_input(field, "the name must not be empty"));
        }
        if trimmed.chars().count() > 200 {
            return Err(ApiError::bad_input(
                field,
                "the name is longer than 200 characters",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ApiError::bad_input(
                field,
                "the name contains control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use erp_kit::types::EmailAddress;

/// An employee number: 1 to 32 of `A-Z a-z 0-9 - _`, unique in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeNumber(String);

impl EmployeeNumber {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let value = raw.trim();
        if value.is_empty()
            || value.len() > 32
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::bad_input(
                field,
                "an employee number is 1 to 32 letters, digits, `-` or `_`",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an employee is in their employment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmploymentStatus {
    Active,
    OnLeave,
    Terminated,
}

impl EmploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmploymentStatus::Active => "active",
            EmploymentStatus::OnLeave => "on_leave",
            EmploymentStatus::Terminated => "terminated",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "active" => Some(EmploymentStatus::Active),
            "on_leave" => Some(EmploymentStatus::OnLeave),
            "terminated" => Some(EmploymentStatus::Terminated),
            _ => None,
        }
    }
}

/// A validated hire.
#[derive(Debug, Clone)]
pub struct NewHire {
    pub employee_number: EmployeeNumber,
    pub display_name: DisplayName,
    pub work_email: EmailAddress,
    pub personal_email: Option<EmailAddress>,
    pub date_of_birth: Option<NaiveDate>,
    pub title: Option<String>,
    pub department_id: Option<String>,
    pub manager_id: Option<String>,
    pub user_id: Option<String>,
    pub hired_on: NaiveDate,
}

/// Date rules of a hire: nobody is born after their hiring, and a person hired is at least 14.
pub fn check_hire_dates(
    hired_on: NaiveDate,
    date_of_birth: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(), ApiError> {
    if hired_on > today + chrono::Days::new(366) {
        return Err(ApiError::bad_input(
            "hiredOn",
            "the hiring date is more than a year in the future",
        ));
    }
    if let Some(born) = date_of_birth {
        if born >= hired_on {
            return Err(ApiError::bad_input(
                "dateOfBirth",
                "the date of birth must be before the hiring date",
            ));
        }
        if hired_on.years_since(born).unwrap_or(0) < 14 {
            return Err(ApiError::bad_input(
                "dateOfBirth",
                "an employee must be at least 14 years old when hired",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            DisplayName::parse("n", "  Rahul Verma ").unwrap().as_str(),
            "Rahul Verma"
        );
        assert!(DisplayName::parse("n", "   ").is_err());
        assert!(DisplayName::parse("n", &"x".repeat(201)).is_err());
        assert!(DisplayName::parse("n", "a\u{0}b").is_err());
    }

    #[test]
    fn parses_employee_numbers() {
        assert!(EmployeeNumber::parse("n", "E-0001").is_ok());
        assert!(EmployeeNumber::parse("n", "").is_err());
        assert!(EmployeeNumber::parse("n", "E 1").is_err());
        assert!(EmployeeNumber::parse("n", &"9".repeat(33)).is_err());
    }

    #[test]
    fn hire_dates() {
        let today = date(2026, 11, 25);
        assert!(check_hire_dates(date(2026, 12, 1), Some(date(1990, 1, 1)), today).is_ok());
        assert!(check_hire_dates(date(2028, 1, 1), None, today).is_err());
        assert!(check_hire_dates(date(2026, 1, 1), Some(date(2026, 1, 1)), today).is_err());
        assert!(check_hire_dates(date(2026, 1, 1), Some(date(2015, 1, 1)), today).is_err());
    }
}
