//! Identity rules: types, newtypes that parse, pure rules; no GraphQL and no database types.
//!
//! A broken rule is a [`Violation`]: its reason (declared in [`violation`], `extensions.reason`
//! for the client, listed in the error catalogue through `erp_identity::reasons::ALL`) and its
//! message. A malformed input (a name too long, a string that is not an email) is the kit's plain
//! `BAD_USER_INPUT` naming the field, without a reason.

pub mod keys;
pub mod lockout;
pub mod mfa;
pub mod password;
pub mod scopes;
pub mod secrets;
pub mod sessions;
pub mod totp;
pub mod users;
pub mod violation;

pub use violation::{reasons, Factor, MfaStep, Violation};
