//! TOTP (RFC 6238): 6 digits, 30 s steps, one step of skew either way, and no code accepted
//! twice (the last accepted step is stored and only later steps are accepted).

use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
pub const SKEW: u8 = 1;

fn totp(secret_base32: &str, issuer: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(u16::from(SKEW))
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::try_from_base32(secret_base32).ok()?)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .ok()
}

/// A new random secret (160 bits, base32).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    Secret::from(bytes).to_base32()
}

/// The `otpauth://` URI an authenticator app scans.
pub fn provisioning_uri(secret_base32: &str, issuer: &str, account: &str) -> Option<String> {
    totp(secret_base32, issuer, account).and_then(|t| t.to_url().ok())
}

/// The code for `unix_seconds` (for tests and software authenticators).
pub fn code_at(secret_base32: &str, unix_seconds: u64) -> Option<String> {
    totp(secret_base32, "erp", "user").map(|t| t.generate(unix_seconds).to_string())
}

/// The time step `code` belongs to, if it is valid at `now` (within the skew) and later than
/// `last_used_step`.
pub fn accept(
    secret_base32: &str,
    code: &str,
    now_unix_seconds: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let generator = totp(secret_base32, "erp", "user")?;
    let current = now_unix_seconds / STEP_SECONDS;
    let skew = u64::from(SKEW);
    (current.saturating_sub(skew)..=current + skew).find(|step| {
        last_used_step.is_none_or(|last| *step > last)
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                generator
                    .generate(step * STEP_SECONDS)
                    .to_string()
                    .as_bytes(),
                code.as_bytes(),
            )
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_within_skew_and_never_twice() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = accept(&secret, &code, now, None).unwrap();
        assert_eq!(step, now / 30);
        assert_eq!(
            accept(&secret, &code, now, Some(step)),
            None,
            "replay refused"
        );
        let previous = code_at(&secret, now - 30).unwrap();
        assert!(
            accept(&secret, &previous, now, None).is_some(),
            "one step of skew"
        );
        let old = code_at(&secret, now - 90).unwrap();
        assert_eq!(accept(&secret, &old, now, None), None, "too old");
        assert_eq!(accept(&secret, "12345", now, None), None);
        assert_eq!(accept(&secret, "abcdef", now, None), None);
        let uri = provisioning_uri(&secret, "ERP", "rahul@company.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/ERP:rahul%40company.com?secret="),
            "{uri}"
        );
    }
}
