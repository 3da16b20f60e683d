//! Passwords: Argon2id at (at least) the OWASP minimum cost, m=19456 KiB, t=2, p=1.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use erp_kit::ApiError;

use super::violation::Violation;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    // The parameters are constants within Argon2's bounds.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password that meets the policy (length only, as NIST SP 800-63B advises).
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let length = raw.chars().count();
        if length < MIN_LENGTH {
            return Err(Violation::PasswordTooShort {
                min_chars: MIN_LENGTH,
            });
        }
        if length > MAX_LENGTH {
            return Err(Violation::PasswordTooLong {
                max_chars: MAX_LENGTH,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn hash(&self) -> Result<String, ApiError> {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(ApiError::internal)
    }
}

/// Refuses a login password no account can have (longer than [`MAX_LENGTH`]) before any work
/// is done with it: the byte length is checked first (a 2 MB string is not even scanned).
pub fn check_candidate(candidate: &str) -> Result<(), ApiError> {
    // A character is at most 4 bytes in UTF-8.
    if candidate.len() > MAX_LENGTH * 4 || candidate.chars().count() > MAX_LENGTH {
        return Err(ApiError::bad_input(
            "password",
            format!("a password has at most {MAX_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// Checks `candidate` against a stored PHC hash (slow on purpose: run it on the blocking pool).
pub fn verify(candidate: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            hasher()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, checked when the account does not exist so that an unknown
/// email costs the same time as a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        NewPassword(uuid::Uuid::new_v4().to_string())
            .hash()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let password = NewPassword::parse("correct horse battery").unwrap();
        let hash = password.hash().unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify("correct horse battery", &hash));
        assert!(!verify("wrong horse battery", &hash));
        assert!(!verify("x", "not a hash"));
        assert!(matches!(
            NewPassword::parse("short"),
            Err(Violation::PasswordTooShort { .. })
        ));
        assert!(NewPassword::parse(&"x".repeat(256)).is_ok());
        assert!(matches!(
            NewPassword::parse(&"x".repeat(257)),
            Err(Violation::PasswordTooLong { .. })
        ));
    }

    #[test]
    fn a_login_password_longer_than_any_account_can_have_is_refused() {
        assert!(check_candidate(&"é".repeat(256)).is_ok());
        let err = check_candidate(&"x".repeat(257)).unwrap_err();
        assert_eq!(err.message(), "a password has at most 256 characters");
        assert!(check_candidate(&"x".repeat(2_000_000)).is_err());
    }
}
