//! Random secrets (refresh tokens, MFA session tokens, invite tokens, recovery codes) and the
//! hashes stored instead of them.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG failing is not something a caller can cause or recover from.
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a high-entropy secret (enough for tokens: they cannot be guessed offline).
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Letters and digits nobody mistakes for one another.
const UNAMBIGUOUS: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// `n` random characters of [`UNAMBIGUOUS`] (close to uniform: 256 % 31 = 8, a bias far below
/// what a guess could use).
fn unambiguous(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    bytes
        .iter()
        .map(|b| UNAMBIGUOUS[*b as usize % UNAMBIGUOUS.len()] as char)
        .collect()
}

/// A recovery code: 10 characters from an unambiguous alphabet, shown as `xxxxx-xxxxx`.
pub fn recovery_code() -> String {
    let chars = unambiguous(10);
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A generated password (the one-process mode's demo users): 20 unambiguous characters
/// (about 99 bits), shown as `xxxxx-xxxxx-xxxxx-xxxxx`.
pub fn random_password() -> String {
    let chars = unambiguous(20);
    format!(
        "{}-{}-{}-{}",
        &chars[..5],
        &chars[5..10],
        &chars[10..15],
        &chars[15..]
    )
}

/// The prefix of a stored recovery-code hash that is keyed: `k1.` + HMAC-SHA256, under a
/// server-side key, of the code's SHA-256 (a database alone does not let anyone search the
/// codes offline). Rows of earlier versions hold the bare SHA-256; they are keyed at start.
pub const KEYED_HASH_PREFIX: &str = "k1.";

/// Whether a stored recovery-code hash is keyed (see [`KEYED_HASH_PREFIX`]).
pub fn is_keyed_hash(stored: &str) -> bool {
    stored.starts_with(KEYED_HASH_PREFIX)
}

/// The stored form of a recovery code's keyed hash (`keyed` is the HMAC, base64).
pub fn keyed_hash(keyed: &str) -> String {
    format!("{KEYED_HASH_PREFIX}{keyed}")
}

/// Normalises a typed recovery code (case, spaces, dash) before hashing.
pub fn normalize_recovery_code(typed: &str) -> String {
    let compact: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if compact.len() == 10 {
        format!("{}-{}", &compact[..5], &compact[5..])
    } else {
        compact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
        assert_eq!(hash_token("a"), hash_token("a"));
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            code
        );
        assert!(is_keyed_hash(&keyed_hash("abc")));
        let password = random_password();
        assert_eq!(password.len(), 23);
        assert_ne!(password, random_password());
        assert!(super::super::password::NewPassword::parse(&password).is_ok());
        assert!(!is_keyed_hash(&hash_token(&code)), "base64url has no dot");
    }
}
