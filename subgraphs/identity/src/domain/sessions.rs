//! Sessions: a family of one-time refresh tokens, each exchanged once for the next.

use super::violation::Violation;

/// The stored state of one refresh token, as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTokenState {
    pub expires_at_ms: i64,
    pub used: bool,
    pub revoked: bool,
}

/// What presenting a refresh token at `now_ms` leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// Exchange it (if the conditional claim wins: a concurrent exchange may have used it).
    Exchange,
    /// It was used before: it leaked; revoke its whole family.
    Reused,
}

/// The rule for a presented refresh token: a revoked or expired one is refused; a used one
/// means it leaked (every holder but one is an attacker), so the session ends.
pub fn present(token: RefreshTokenState, now_ms: i64) -> Result<Presented, Violation> {
    if token.revoked || token.expires_at_ms <= now_ms {
        return Err(Violation::RefreshTokenInvalid);
    }
    Ok(if token.used {
        Presented::Reused
    } else {
        Presented::Exchange
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(used: bool, revoked: bool) -> RefreshTokenState {
        RefreshTokenState {
            expires_at_ms: 100,
            used,
            revoked,
        }
    }

    #[test]
    fn a_token_is_exchanged_once_and_its_reuse_is_detected() {
        assert_eq!(present(token(false, false), 99), Ok(Presented::Exchange));
        assert_eq!(present(token(true, false), 99), Ok(Presented::Reused));
    }

    #[test]
    fn expired_and_revoked_tokens_are_refused() {
        assert_eq!(
            present(token(false, false), 100),
            Err(Violation::RefreshTokenInvalid)
        );
        assert_eq!(
            present(token(true, true), 99),
            Err(Violation::RefreshTokenInvalid),
            "a revoked family stays revoked, reused or not"
        );
    }
}
