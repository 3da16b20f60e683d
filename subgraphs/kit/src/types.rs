//! Value types shared by every domain, parsed at the boundary so an invalid value cannot exist
//! past it.

use crate::ApiError;

/// An email address, lower-cased: one `@`, a non-empty local part, a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let value = raw.trim().to_lowercase();
        let bad =
            || ApiError::bad_input(field, format!("`{}` is not an email address", raw.trim()));
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_emails() {
        assert_eq!(
            EmailAddress::parse("e", " Rahul@Company.com ")
                .unwrap()
                .as_str(),
            "rahul@company.com"
        );
        for bad in [
            "",
            "rahul",
            "@company.com",
            "rahul@company",
            "a@b@c.com",
            "a b@c.com",
            "a@.com",
            "a@c..com",
        ] {
            assert!(EmailAddress::parse("e", bad).is_err(), "{bad}");
        }
    }
}
