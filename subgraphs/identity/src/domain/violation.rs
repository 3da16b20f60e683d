//! The identity rules' reasons, and [`Violation`], the error of a broken rule (this file imports
//! nothing else of the crate: every rule file imports it).

use erp_kit::{Reason, RuleViolation};

erp_kit::reasons! {
    pub mod reasons {
        /// The email is already a user's login name (emails are unique across tenants).
        EMAIL_IN_USE => Conflict,
        /// The tenant has a role of that name.
        ROLE_NAME_TAKEN => Conflict,
        /// A permission is not a scope of the registry (the `scopes` query lists them).
        UNKNOWN_SCOPE => BadUserInput,
        /// The role is not one of the caller's tenant's roles.
        ROLE_NOT_FOUND => BadUserInput,
        /// The user is not one of the caller's tenant's users.
        USER_NOT_FOUND => BadUserInput,
        /// Administrators cannot deactivate themselves.
        SELF_DEACTIVATION => BadUserInput,
        /// The password is shorter than 12 or longer than 256 characters.
        PASSWORD_POLICY => BadUserInput,
        /// The invitation token is unknown, or the invitation was already accepted or withdrawn.
        INVITATION_INVALID => BadUserInput,
        /// The invitation is older than its validity (7 days by default).
        INVITATION_EXPIRED => BadUserInput,
        /// The email or password is wrong (the same answer for an unknown email and for an account that cannot log in).
        INVALID_CREDENTIALS => Unauthenticated,
        /// Too many failed logins for this email, or wrong second factors for this account (counted across login attempts: a right password does not reset them): retry after `retryAfter` seconds (the wait doubles with each further failure, up to 15 minutes). Every step of a login answers it while the lock lasts.
        ACCOUNT_LOCKED => RateLimited,
        /// Too many failed logins from this client address: retry after `retryAfter` seconds.
        ADDRESS_BLOCKED => RateLimited,
        /// Another step of a login of this account is being checked right now: retry after `retryAfter` seconds (the steps of one account are checked one at a time, so that parallel guesses count as serial ones do).
        ATTEMPT_IN_PROGRESS => RateLimited,
        /// The brute-force protection cannot read or record failed attempts right now (its store is unreachable): the login is refused rather than let through unprotected; retry later.
        LOCKOUT_UNAVAILABLE => Internal,
        /// The `mfaToken` is unknown, expired (5 minutes), already used, replaced by a newer login of the same user (one login attempt at a time), or ended by too many wrong second factors: log in again.
        MFA_SESSION_INVALID => Unauthenticated,
        /// The user has no second factor yet: enrol one (TOTP or a security key) to finish the login.
        ENROLLMENT_REQUIRED => Forbidden,
        /// The user has a second factor already: verify it (enrolling is only for a user without one; an enrolment that finishes after another one did is refused too).
        FACTOR_ALREADY_ENROLLED => Forbidden,
        /// The second factor chosen (TOTP, a security key) is not enrolled for this user.
        FACTOR_NOT_ENROLLED => BadUserInput,
        /// A finishing MFA step came before its beginning (confirm TOTP enrolment, finish a WebAuthn registration or login).
        MFA_STEP_NOT_STARTED => BadUserInput,
        /// The TOTP code, recovery code or security-key response is wrong or was already used.
        SECOND_FACTOR_REJECTED => Unauthenticated,
        /// The refresh token is unknown, expired or revoked, or its user can no longer log in.
        REFRESH_TOKEN_INVALID => Unauthenticated,
        /// The refresh token was already used once: it leaked, so its whole session is revoked; log in again.
        REFRESH_TOKEN_REUSED => Unauthenticated,
    }
}

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    Webauthn,
    RecoveryCode,
}

impl Factor {
    /// The method name clients see in `LoginChallenge.methods` and audit events carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Webauthn => "webauthn",
            Factor::RecoveryCode => "recovery_code",
        }
    }

    /// What the user hands in for this factor (messages, audit events).
    pub fn proof(self) -> &'static str {
        match self {
            Factor::Totp => "code",
            Factor::Webauthn => "security key response",
            Factor::RecoveryCode => "recovery code",
        }
    }
}

/// An MFA step that needs an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaStep {
    TotpEnrollment,
    WebauthnRegistration,
    WebauthnLogin,
}

/// A broken identity rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    EmailInUse,
    RoleNameTaken { name: String },
    UnknownScope { scope: String },
    RoleNotFound,
    UserNotFound,
    SelfDeactivation,
    PasswordTooShort { min_chars: usize },
    PasswordTooLong { max_chars: usize },
    InvitationInvalid,
    InvitationExpired,
    InvalidCredentials,
    MfaSessionInvalid,
    EnrollmentRequired,
    FactorAlreadyEnrolled,
    FactorNotEnrolled(Factor),
    MfaStepNotStarted(MfaStep),
    SecondFactorRejected(Factor),
    RefreshTokenInvalid,
    RefreshTokenReused,
    LockoutUnavailable,
}

impl RuleViolation for Violation {
    fn reason(&self) -> Reason {
        match self {
            Violation::EmailInUse => reasons::EMAIL_IN_USE,
            Violation::RoleNameTaken { .. } => reasons::ROLE_NAME_TAKEN,
            Violation::UnknownScope { .. } => reasons::UNKNOWN_SCOPE,
            Violation::RoleNotFound => reasons::ROLE_NOT_FOUND,
            Violation::UserNotFound => reasons::USER_NOT_FOUND,
            Violation::SelfDeactivation => reasons::SELF_DEACTIVATION,
            Violation::PasswordTooShort { .. } | Violation::PasswordTooLong { .. } => {
                reasons::PASSWORD_POLICY
            }
            Violation::InvitationInvalid => reasons::INVITATION_INVALID,
            Violation::InvitationExpired => reasons::INVITATION_EXPIRED,
            Violation::InvalidCredentials => reasons::INVALID_CREDENTIALS,
            Violation::MfaSessionInvalid => reasons::MFA_SESSION_INVALID,
            Violation::EnrollmentRequired => reasons::ENROLLMENT_REQUIRED,
            Violation::FactorAlreadyEnrolled => reasons::FACTOR_ALREADY_ENROLLED,
            Violation::FactorNotEnrolled(_) => reasons::FACTOR_NOT_ENROLLED,
            Violation::MfaStepNotStarted(_) => reasons::MFA_STEP_NOT_STARTED,
            Violation::SecondFactorRejected(_) => reasons::SECOND_FACTOR_REJECTED,
            Violation::RefreshTokenInvalid => reasons::REFRESH_TOKEN_INVALID,
            Violation::RefreshTokenReused => reasons::REFRESH_TOKEN_REUSED,
            Violation::LockoutUnavailable => reasons::LOCKOUT_UNAVAILABLE,
        }
    }

    fn message(&self) -> String {
        match self {
            Violation::EmailInUse => "this email is already in use".into(),
            Violation::RoleNameTaken { name } => format!("a role named `{name}` exists"),
            Violation::UnknownScope { scope } => format!("`{scope}` is not a registered scope"),
            Violation::RoleNotFound => "no such role".into(),
            Violation::UserNotFound => "no such user".into(),
            Violation::SelfDeactivation => "you cannot deactivate yourself".into(),
            Violation::PasswordTooShort { min_chars } => {
                format!("a password has at least {min_chars} characters")
            }
            Violation::PasswordTooLong { max_chars } => {
                format!("a password has at most {max_chars} characters")
            }
            Violation::InvitationInvalid => "the invitation is unknown or was already used".into(),
            Violation::InvitationExpired => {
                "the invitation expired: ask an administrator for a new one".into()
            }
            Violation::InvalidCredentials => "the email or password is wrong".into(),
            Violation::MfaSessionInvalid => {
                "the login attempt expired or is unknown: log in again".into()
            }
            Violation::EnrollmentRequired => "enrol a second factor first".into(),
            Violation::FactorAlreadyEnrolled => {
                "a second factor is already enrolled: verify it instead".into()
            }
            Violation::FactorNotEnrolled(Factor::Webauthn) => {
                "no security key is registered for this user".into()
            }
            Violation::FactorNotEnrolled(_) => "TOTP is not enrolled for this user".into(),
            Violation::MfaStepNotStarted(MfaStep::TotpEnrollment) => {
                "start the TOTP enrolment first".into()
            }
            Violation::MfaStepNotStarted(MfaStep::WebauthnRegistration) => {
                "start the WebAuthn registration first".into()
            }
            Violation::MfaStepNotStarted(MfaStep::WebauthnLogin) => {
                "start the WebAuthn login first".into()
            }
            Violation::SecondFactorRejected(factor) => {
                format!("the {} is wrong or was already used", factor.proof())
            }
            Violation::RefreshTokenInvalid => "the refresh token is not valid".into(),
            Violation::RefreshTokenReused => {
                "this refresh token was already used: the session is revoked, log in again".into()
            }
            Violation::LockoutUnavailable => {
                "logins are unavailable: the protection against password guessing cannot be checked right now; retry later".into()
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Violation::UnknownScope { .. } => Some("permissions"),
            Violation::RoleNotFound => Some("roleId"),
            Violation::UserNotFound | Violation::SelfDeactivation => Some("userId"),
            Violation::PasswordTooShort { .. } | Violation::PasswordTooLong { .. } => {
                Some("password")
            }
            Violation::InvitationInvalid | Violation::InvitationExpired => Some("inviteToken"),
            Violation::FactorNotEnrolled(Factor::Webauthn) | Violation::MfaStepNotStarted(_) => {
                Some("mfaToken")
            }
            Violation::FactorNotEnrolled(_) => Some("code"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use erp_kit::ErrorCode;

    #[test]
    fn every_violation_keeps_the_code_it_had_before_reasons() {
        let cases = [
            (Violation::EmailInUse, ErrorCode::Conflict),
            (
                Violation::RoleNameTaken { name: "x".into() },
                ErrorCode::Conflict,
            ),
            (
                Violation::UnknownScope { scope: "x".into() },
                ErrorCode::BadUserInput,
            ),
            (Violation::SelfDeactivation, ErrorCode::BadUserInput),
            (Violation::InvitationInvalid, ErrorCode::BadUserInput),
            (Violation::InvalidCredentials, ErrorCode::Unauthenticated),
            (Violation::FactorAlreadyEnrolled, ErrorCode::Forbidden),
            (Violation::EnrollmentRequired, ErrorCode::Forbidden),
            (
                Violation::SecondFactorRejected(Factor::Totp),
                ErrorCode::Unauthenticated,
            ),
            (Violation::RefreshTokenReused, ErrorCode::Unauthenticated),
        ];
        for (violation, code) in cases {
            assert_eq!(violation.reason().code(), code, "{violation:?}");
        }
        assert_eq!(reasons::ACCOUNT_LOCKED.code(), ErrorCode::RateLimited);
        assert_eq!(reasons::ADDRESS_BLOCKED.code(), ErrorCode::RateLimited);
    }

    #[test]
    fn messages_name_what_was_handed_in_and_fields_the_input() {
        assert_eq!(
            Violation::SecondFactorRejected(Factor::RecoveryCode).message(),
            "the recovery code is wrong or was already used"
        );
        assert_eq!(
            Violation::FactorNotEnrolled(Factor::Webauthn).field(),
            Some("mfaToken")
        );
        assert_eq!(
            Violation::FactorNotEnrolled(Factor::Totp).field(),
            Some("code")
        );
        let error: erp_kit::ApiError = Violation::RoleNotFound.into();
        assert_eq!(error.reason(), Some(reasons::ROLE_NOT_FOUND));
        assert_eq!(error.code(), ErrorCode::BadUserInput);
    }

    #[test]
    fn the_catalogue_lists_every_reason_once() {
        let mut names: Vec<&str> = reasons::ALL.iter().map(|r| r.name()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(names.contains(&"REFRESH_TOKEN_REUSED"));
    }
}
