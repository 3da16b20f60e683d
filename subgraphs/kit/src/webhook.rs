//! Signed webhook calls: a provider POSTs to a tenant's URL, signing each call with the
//! tenant's shared secret. `X-Erp-Webhook-Timestamp` is the Unix second it signed at,
//! `X-Erp-Webhook-Signature` is `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` (several
//! `v1=` values, comma-separated, while the provider rotates its secret; any one matching is
//! enough). The timestamp is inside the signed text, so a captured call cannot be re-dated; a
//! call older (or newer) than the tolerance is refused, which bounds how long a captured call
//! could be replayed. Each domain words the refusals with its own reasons ([`Refusal`]).

use aws_lc_rs::hmac;

pub const TIMESTAMP_HEADER: &str = "x-erp-webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "x-erp-webhook-signature";

/// A new webhook secret: `whsec_` and 244 random bits in hex.
pub fn new_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The signature header value for `body` signed at `timestamp` (what the provider sends).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1={}", hex::encode(hmac::sign(&key, &signed)))
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No readable timestamp or signature, or no signature verifies: the message says which.
    Signature(&'static str),
    /// Genuine, but signed more than `tolerance_secs` from now.
    Stale { tolerance_secs: i64 },
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Signature(message) => (*message).to_owned(),
            Refusal::Stale { tolerance_secs } => {
                format!("the call was signed more than {tolerance_secs} s from now")
            }
        }
    }
}

/// A signature's 32 bytes from its 64 hex digits.
fn unhex(text: &str) -> Option<Vec<u8>> {
    (text.len() == 64).then(|| hex::decode(text).ok()).flatten()
}

/// Checks a call under any of `secrets` (a tenant's current secret and, during a rotation's
/// overlap, the previous one): the timestamp readable, one of the signatures the HMAC of
/// `"<timestamp>.<body>"` (compared in constant time), the timestamp within `tolerance_secs`
/// of `now_secs`. Answers the first matching signature (the call's replay key).
pub fn verify_any(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<String, Refusal> {
    let timestamp: i64 = timestamp
        .map(str::trim)
        .and_then(|t| t.parse().ok())
        .ok_or(Refusal::Signature(
            "the call has no readable X-Erp-Webhook-Timestamp",
        ))?;
    let signature = signature.ok_or(Refusal::Signature(
        "the call has no X-Erp-Webhook-Signature",
    ))?;
    let keys: Vec<hmac::Key> = secrets
        .iter()
        .map(|secret| hmac::Key::new(hmac::HMAC_SHA256, secret))
        .collect();
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let matching = signature
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .find(|candidate| {
            unhex(candidate).is_some_and(|tag| {
                keys.iter()
                    .any(|key| hmac::verify(key, &signed, &tag).is_ok())
            })
        })
        .ok_or(Refusal::Signature("the signature does not verify"))?;
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(Refusal::Stale { tolerance_secs });
    }
    Ok(matching.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_call_verifies_under_any_secret_and_in_time_only() {
        let body = b"hello";
        let signature = sign(b"new", 1_000, body);
        assert!(signature.starts_with("v1=") && signature.len() == 67);
        let secrets: [&[u8]; 2] = [b"old", b"new"];
        let ok = verify_any(&secrets, Some("1000"), Some(&signature), body, 1_100, 300).unwrap();
        assert_eq!(format!("v1={ok}"), signature);
        assert!(matches!(
            verify_any(&[b"old"], Some("1000"), Some(&signature), body, 1_000, 300),
            Err(Refusal::Signature(_))
        ));
        assert!(matches!(
            verify_any(
                &secrets,
                Some("1000"),
                Some(&signature),
                b"other",
                1_000,
                300
            ),
            Err(Refusal::Signature(_))
        ));
        assert_eq!(
            verify_any(&secrets, Some("1000"), Some(&signature), body, 1_301, 300),
            Err(Refusal::Stale {
                tolerance_secs: 300
            })
        );
    }
}
