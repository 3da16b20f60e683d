//! Idempotency keys (invariant F7): every money-moving mutation takes one. The same key with
//! the same payload replays the stored result; the same key with another payload is refused.
//! The payload is compared through its fingerprint: SHA-256 of the operation name and the
//! request's canonical JSON (object keys sorted), so field order does not matter.

use super::FinanceViolation;

/// A checked key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, FinanceViolation> {
        let key = raw.trim();
        if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
            return Err(FinanceViolation::BadIdempotencyKey);
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fingerprint of one request of `operation`.
pub fn fingerprint(operation: &str, request: &serde_json::Value) -> String {
    let mut text = String::from(operation);
    text.push('\n');
    write_canonical(request, &mut text);
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text.as_bytes(),
    ))
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What a stored key answers for a new request with `fingerprint`: the stored result to replay,
/// or IDEMPOTENCY_KEY_REUSED.
pub fn replay(
    stored_operation: &str,
    stored_fingerprint: &str,
    stored_result: &str,
    operation: &str,
    fingerprint: &str,
) -> Result<String, FinanceViolation> {
    if stored_operation == operation && stored_fingerprint == fingerprint {
        Ok(stored_result.to_owned())
    } else {
        Err(FinanceViolation::IdempotencyKeyReused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fingerprint_ignores_key_order_but_not_values() {
        let a = fingerprint("post", &json!({"a": 1, "b": {"c": "x", "d": [1, 2]}}));
        let b = fingerprint("post", &json!({"b": {"d": [1, 2], "c": "x"}, "a": 1}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("post", &json!({"a": 2, "b": {"c": "x", "d": [1, 2]}}))
        );
        assert_ne!(
            a,
            fingerprint("other", &json!({"a": 1, "b": {"c": "x", "d": [1, 2]}}))
        );
        assert_ne!(
            a,
            fingerprint("post", &json!({"a": 1, "b": {"c": "x", "d": [2, 1]}}))
        );
    }

    #[test]
    fn same_key_same_payload_replays_and_another_payload_is_refused() {
        assert_eq!(
            replay("post", "f1", "entry-1", "post", "f1").unwrap(),
            "entry-1"
        );
        assert_eq!(
            replay("post", "f1", "entry-1", "post", "f2"),
            Err(FinanceViolation::IdempotencyKeyReused)
        );
        assert_eq!(
            replay("post", "f1", "entry-1", "pay", "f1"),
            Err(FinanceViolation::IdempotencyKeyReused)
        );
        assert!(IdempotencyKey::parse("  ").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(201)).is_err());
        assert_eq!(IdempotencyKey::parse(" k1 ").unwrap().as_str(), "k1");
    }
}
