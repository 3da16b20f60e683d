//! Value types shared by every domain, parsed at the boundary so an invalid value cannot exist
//! past it.

use crate::ApiError;

/// An email address, lower-cased: one `@`, a non-empty local part, a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address (RFC 5321's path limit less the angle brackets), in bytes.
    pub const MAX_BYTES: usize = 254;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let trimmed = raw.trim();
        // Measured before any copy is made, and not echoed: a 2 MB "email" costs nothing.
        if trimmed.len() > Self::MAX_BYTES {
            return Err(ApiError::bad_input(
                field,
                format!(
                    "an email address has at most {} characters",
                    Self::MAX_BYTES
                ),
            ));
        }
        let value = trimmed.to_lowercase();
        let bad = || ApiError::bad_input(field, format!("`{trimmed}` is not an email address"));
        if value.len() > Self::MAX_BYTES
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
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

    /// The key two spellings of one mailbox share, for matching (the CRM's duplicate finder,
    /// marketing's suppression list): the policy is written once, here. The address is already
    /// lower case; a `+tag` after the local part is dropped (`ana+news@x.com` is
    /// `ana@x.com`: plus-addressing delivers to the same mailbox everywhere it is supported);
    /// Gmail also ignores dots in the local part and answers for `googlemail.com`, so
    /// `a.na@googlemail.com` is `ana@gmail.com`. Nothing else is guessed.
    pub fn match_key(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((self.0.as_str(), ""));
        let local = local.split('+').next().unwrap_or(local);
        let (local, domain) = match domain {
            "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
            _ => (local.to_owned(), domain),
        };
        // `+tag@x.com` has no mailbox before the tag: keep the address as given.
        if local.is_empty() {
            return self.0.clone();
        }
        format!("{local}@{domain}")
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
        let long = format!("{}@company.com", "a".repeat(2_000_000));
        let err = EmailAddress::parse("email", &long).unwrap_err();
        assert_eq!(err.message(), "an email address has at most 254 characters");
        let longest = format!("{}@company.com", "a".repeat(254 - 12));
        assert!(EmailAddress::parse("email", &longest).is_ok());
        assert!(EmailAddress::parse("email", &format!("a{longest}")).is_err());
    }

    #[test]
    fn match_keys_follow_one_written_policy() {
        for (given, key) in [
            ("Ana@Example.com", "ana@example.com"),
            ("ana+newsletter@example.com", "ana@example.com"),
            ("ana+a+b@example.com", "ana@example.com"),
            ("a.na@example.com", "a.na@example.com"),
            ("A.Na+x@GMail.com", "ana@gmail.com"),
            ("a.n.a@googlemail.com", "ana@gmail.com"),
            ("+only@example.com", "+only@example.com"),
        ] {
            let email = EmailAddress::parse("e", given).unwrap();
            assert_eq!(email.match_key(), key, "{given}");
        }
    }
}
