//! Signing-key rotation (edge-security.md): a new key is published in the JWKS at least one JWKS
//! cache TTL before it signs (so every verifier has it before the first token it signed
//! arrives), and the keys signing until then stay published until the longest token lifetime
//! plus the TTL has passed (so every token they signed can be verified until it expires).

use std::time::Duration;

/// When a key published at a rotation starts signing, and when the keys it replaces leave the
/// JWKS (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub activates_at: i64,
    pub retire_previous_at: i64,
}

impl Rotation {
    pub fn at(now_ms: i64, jwks_ttl: Duration, token_ttl: Duration) -> Self {
        let activates_at = now_ms + jwks_ttl.as_millis() as i64;
        Self {
            activates_at,
            retire_previous_at: activates_at + (token_ttl + jwks_ttl).as_millis() as i64,
        }
    }
}

/// The key that signs at `now_ms`: the newest of the active ones (published keys whose time
/// has not come yet do not sign).
pub fn signer_at<K>(keys: &[K], activates_at: impl Fn(&K) -> i64, now_ms: i64) -> Option<&K> {
    keys.iter()
        .filter(|key| activates_at(key) <= now_ms)
        .max_by_key(|key| activates_at(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_signs_after_one_jwks_ttl_and_the_old_ones_outlive_their_tokens() {
        let rotation = Rotation::at(1_000, Duration::from_secs(300), Duration::from_secs(900));
        assert_eq!(rotation.activates_at, 301_000);
        assert_eq!(rotation.retire_previous_at, 301_000 + 1_200_000);
    }

    #[test]
    fn the_newest_active_key_signs() {
        let keys = [("old", 0), ("current", 10), ("next", 20)];
        let kid = |now| signer_at(&keys, |k| k.1, now).map(|k| k.0);
        assert_eq!(kid(15), Some("current"));
        assert_eq!(kid(20), Some("next"));
        assert_eq!(
            signer_at(&keys[2..], |k| k.1, 15),
            None,
            "published, not yet signing"
        );
    }
}
