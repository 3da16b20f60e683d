//! Clients: companies and people (a person may work for a company client), their status
//! (`prospect -> active -> churned`, a churned client may come back), addresses and tax ids.

use erp_kit::{ApiError, ApiResult, Reason, RuleViolation};

use super::reasons;

/// A company or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    Company,
    Person,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Company => "company",
            ClientKind::Person => "person",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "company" => Some(ClientKind::Company),
            "person" => Some(ClientKind::Person),
            _ => None,
        }
    }
}

/// Where a client stands with the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientStatus {
    /// Not buying yet.
    Prospect,
    /// Buying.
    Active,
    /// Stopped buying.
    Churned,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Prospect => "prospect",
            ClientStatus::Active => "active",
            ClientStatus::Churned => "churned",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "prospect" => Some(ClientStatus::Prospect),
            "active" => Some(ClientStatus::Active),
            "churned" => Some(ClientStatus::Churned),
            _ => None,
        }
    }

    /// `prospect -> active -> churned`; a prospect lost before buying is churned too, and a
    /// churned client who buys again is active. Nothing goes back to prospect.
    pub fn change_to(self, to: ClientStatus) -> Result<ClientStatus, ClientTransition> {
        use ClientStatus::*;
        match (self, to) {
            (Prospect, Active) | (Prospect, Churned) | (Active, Churned) | (Churned, Active) => {
                Ok(to)
            }
            _ => Err(ClientTransition { from: self, to }),
        }
    }
}

/// A client status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTransition {
    pub from: ClientStatus,
    pub to: ClientStatus,
}

impl RuleViolation for ClientTransition {
    fn reason(&self) -> Reason {
        reasons::CLIENT_TRANSITION_NOT_ALLOWED
    }

    fn message(&self) -> String {
        format!(
            "a {} client cannot become {} (prospect -> active -> churned, churned -> active)",
            self.from.as_str(),
            self.to.as_str()
        )
    }

    fn field(&self) -> Option<&'static str> {
        Some("status")
    }
}

/// A required, trimmed text of 1 to `max` characters.
pub fn required_text(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ApiError::bad_input(field, format!("`{field}` is required")));
    }
    if text.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` is at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// An optional text: blank is none.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match raw.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => required_text(field, text, max).map(Some),
    }
}

/// A tax id (VAT number, EIN, GSTIN...): upper case letters and digits with `-`, `.`, `/` or
/// spaces between them, 3 to 32 characters; stored without the spaces.
pub fn parse_tax_id(field: &str, raw: &str) -> ApiResult<String> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    let valid = (3..=32).contains(&compact.chars().count())
        && compact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/'))
        && compact.chars().any(|c| c.is_ascii_digit());
    if valid {
        Ok(compact)
    } else {
        Err(ApiError::bad_input(
            field,
            "a tax id is 3 to 32 letters and digits (with `-`, `.` or `/`), with at least one digit",
        ))
    }
}

/// An ISO 3166-1 alpha-2 country code in upper case (`DE`, `IN`, `US`).
pub fn parse_country(field: &str, raw: &str) -> ApiResult<String> {
    let code = raw.trim().to_uppercase();
    if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(ApiError::bad_input(
            field,
            "a country is an ISO 3166-1 alpha-2 code such as DE or IN",
        ))
    }
}

/// What an address is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Billing,
    Shipping,
    Office,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Billing => "billing",
            AddressKind::Shipping => "shipping",
            AddressKind::Office => "office",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "billing" => Some(AddressKind::Billing),
            "shipping" => Some(AddressKind::Shipping),
            "office" => Some(AddressKind::Office),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_lifecycle() {
        use ClientStatus::*;
        assert_eq!(Prospect.change_to(Active), Ok(Active));
        assert_eq!(Active.change_to(Churned), Ok(Churned));
        assert_eq!(Churned.change_to(Active), Ok(Active));
        assert_eq!(Prospect.change_to(Churned), Ok(Churned));
        for (from, to) in [
            (Active, Prospect),
            (Churned, Prospect),
            (Active, Active),
            (Prospect, Prospect),
        ] {
            let refused = from.change_to(to).unwrap_err();
            assert_eq!(refused.reason().name(), "CLIENT_TRANSITION_NOT_ALLOWED");
        }
    }

    #[test]
    fn tax_ids_and_countries() {
        assert_eq!(
            parse_tax_id("t", " de 123 456 789 ").unwrap(),
            "DE123456789"
        );
        assert_eq!(parse_tax_id("t", "12-3456789").unwrap(), "12-3456789");
        for bad in ["", "ab", "ABCDEF", "12#45", &"1".repeat(33)] {
            assert!(parse_tax_id("t", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_country("c", "de").unwrap(), "DE");
        assert!(parse_country("c", "DEU").is_err());
        assert!(parse_country("c", "1A").is_err());
    }

    #[test]
    fn texts() {
        assert_eq!(required_text("n", "  Acme ", 10).unwrap(), "Acme");
        assert!(required_text("n", "  ", 10).is_err());
        assert!(required_text("n", "abcdefghijk", 10).is_err());
        assert_eq!(optional_text("n", Some(" "), 10).unwrap(), None);
    }
}
