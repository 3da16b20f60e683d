//! People: the values of an employee record (names, numbers, compensation) parsed at the
//! boundary, so an invalid one cannot exist past it, and the rules of a hire.

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

/// An annual salary: a decimal amount with at most two decimals, and an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salary {
    pub amount: String,
    pub currency: String,
}

impl Salary {
    pub fn parse(amount: &str, currency: &str) -> Result<Self, ApiError> {
        let amount = amount.trim();
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let valid = !whole.is_empty()
            && whole.len() <= 12
            && whole.chars().all(|c| c.is_ascii_digit())
            && fraction.len() <= 2
            && fraction.chars().all(|c| c.is_ascii_digit())
            && !(amount.contains('.') && fraction.is_empty());
        if !valid {
            return Err(ApiError::bad_input(
                "annualSalary",
                "a salary is a positive decimal with at most two decimals, e.g. 85000.00",
            ));
        }
        let currency = currency.trim();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::bad_input(
                "currency",
                "a currency is an ISO 4217 code, e.g. EUR",
            ));
        }
        Ok(Self {
            amount: amount.to_owned(),
            currency: currency.to_owned(),
        })
    }
}

/// A bank account number (IBAN or local format): 5 to 34 letters and digits, spaces removed.
pub fn parse_bank_account(raw: &str) -> Result<String, ApiError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if compact.len() < 5
        || compact.len() > 34
        || !compact.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::bad_input(
            "bankAccount",
            "a bank account is 5 to 34 letters and digits",
        ));
    }
    Ok(compact)
}

/// A tax id (PAN, SSN, ...): 4 to 20 letters and digits once spaces and dashes are removed;
/// upper-cased, so the blind index matches however it is typed.
pub fn parse_tax_id(raw: &str) -> Result<String, ApiError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    if compact.len() < 4
        || compact.len() > 20
        || !compact.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::bad_input(
            "taxId",
            "a tax id is 4 to 20 letters and digits",
        ));
    }
    Ok(compact)
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
    fn sensitive_values() {
        assert!(Salary::parse("85000.00", "EUR").is_ok());
        assert!(Salary::parse("85000", "INR").is_ok());
        for bad in ["-1", "1.234", "abc", "", "1.", "1234567890123"] {
            assert!(Salary::parse(bad, "EUR").is_err(), "{bad}");
        }
        assert!(Salary::parse("1", "eur").is_err());
        assert_eq!(parse_tax_id("abcde-1234 f").unwrap(), "ABCDE1234F");
        assert!(parse_tax_id("x").is_err());
        assert_eq!(
            parse_bank_account("de89 3704 0044 0532 0130 00").unwrap(),
            "DE89370400440532013000"
        );
        assert!(parse_bank_account("12").is_err());
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
