//! The second step of every login: what it asks for, and when an attempt ends.

use serde::{Deserialize, Serialize};

use super::violation::{Factor, Violation};

/// Wrong second factors one login attempt may make before it ends (log in again).
pub const MAX_FAILURES: u32 = 5;

/// Recovery codes issued with the first second factor (each works once).
pub const RECOVERY_CODES: usize = 10;

/// What a login attempt between password and second factor may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Prove an enrolled factor.
    Verify,
    /// Enrol a first factor (nothing else: a password alone never logs in).
    Enroll,
}

impl Purpose {
    /// The purpose of a login by a user with `enrolled` factors.
    pub fn for_factors(enrolled: &[Factor]) -> Self {
        if enrolled.is_empty() {
            Purpose::Enroll
        } else {
            Purpose::Verify
        }
    }

    /// Whether an attempt of this purpose may take a step that needs `wanted`.
    pub fn require(self, wanted: Purpose) -> Result<(), Violation> {
        match (self, wanted) {
            (have, want) if have == want => Ok(()),
            (_, Purpose::Enroll) => Err(Violation::FactorAlreadyEnrolled),
            (_, Purpose::Verify) => Err(Violation::EnrollmentRequired),
        }
    }
}

/// The methods a login challenge offers: the enrolled factors, and recovery codes when there is
/// one (they come with the first enrolment); nothing when a first factor must be enrolled.
pub fn challenge_methods(enrolled: &[Factor]) -> Vec<String> {
    let mut methods: Vec<String> = enrolled.iter().map(|f| f.as_str().to_owned()).collect();
    if Purpose::for_factors(enrolled) == Purpose::Verify {
        methods.push(Factor::RecoveryCode.as_str().to_owned());
    }
    methods
}

/// Whether an attempt with `failures` wrong second factors is over.
pub fn attempt_exhausted(failures: u32) -> bool {
    failures >= MAX_FAILURES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_without_a_factor_can_only_enrol() {
        assert_eq!(Purpose::for_factors(&[]), Purpose::Enroll);
        assert!(challenge_methods(&[]).is_empty());
        assert_eq!(
            Purpose::Enroll.require(Purpose::Verify),
            Err(Violation::EnrollmentRequired)
        );
        assert_eq!(Purpose::Enroll.require(Purpose::Enroll), Ok(()));
    }

    #[test]
    fn an_enrolled_user_verifies_or_uses_a_recovery_code() {
        let enrolled = [Factor::Totp, Factor::Webauthn];
        assert_eq!(Purpose::for_factors(&enrolled), Purpose::Verify);
        assert_eq!(
            challenge_methods(&enrolled),
            ["totp", "webauthn", "recovery_code"]
        );
        assert_eq!(
            challenge_methods(&[Factor::Webauthn]),
            ["webauthn", "recovery_code"]
        );
        assert_eq!(
            Purpose::Verify.require(Purpose::Enroll),
            Err(Violation::FactorAlreadyEnrolled)
        );
    }

    #[test]
    fn an_attempt_ends_after_five_wrong_factors() {
        assert!(!attempt_exhausted(4));
        assert!(attempt_exhausted(5));
    }
}
