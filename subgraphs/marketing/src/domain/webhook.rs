//! The mail provider's bounce and complaint webhook: how a call is authenticated and what it
//! carries.
//!
//! The provider signs each call with the shared secret: `X-Erp-Webhook-Timestamp` is the Unix
//! second it signed at, `X-Erp-Webhook-Signature` is `v1=<hex HMAC-SHA256(secret,
//! "<timestamp>.<body>")>` (several `v1=` values, comma-separated, while the provider rotates
//! its secret; any one matching is enough). The timestamp is inside the signed text, so a
//! captured call cannot be re-dated; a call older (or newer) than the tolerance is refused,
//! which bounds how long a captured call could be replayed, and the app refuses a repeat of
//! the same signature within that window.
//!
//! The body: `{"events": [{"type": "bounce" | "complaint", "tenant": ..., "email": ...,
//! "messageId"?: ..., "status"?: "5.1.1", "diagnostic"?: ..., "autoSubmitted"?: ...}]}`, 1 to
//! [`MAX_EVENTS`] events.
//!
//! Each tenant has its own secret and URL (`/marketing/webhooks/<tenant>/mail-events`): the
//! URL names the tenant, its secret verifies the call, and an event may not name another
//! tenant. A rotation keeps the previous secret verifying for an overlap, so the provider can
//! switch without losing calls. The deployment-wide secret of the legacy URL
//! (`/marketing/webhooks/mail-events`, deprecated) is believed for any tenant in the body.

use erp_kit::webhook::Refusal;
use serde::Deserialize;

use erp_kit::{ApiError, ApiResult};

use super::contact::EmailAddress;
use super::reasons;

pub use erp_kit::webhook::{new_secret, sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
/// The largest body a call may have.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;
/// The most events in one call.
pub const MAX_EVENTS: usize = 100;
/// How far a call's timestamp may be from now (seconds), either way (clock skew).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The longest overlap a rotation may give the previous secret (seconds): a week.
pub const MAX_ROTATION_OVERLAP_SECS: i64 = 7 * 24 * 3600;

/// A rotation's overlap (seconds, 0 to [`MAX_ROTATION_OVERLAP_SECS`]), or
/// WEBHOOK_ROTATION_INVALID.
pub fn rotation_overlap(secs: i64) -> ApiResult<i64> {
    if !(0..=MAX_ROTATION_OVERLAP_SECS).contains(&secs) {
        return Err(ApiError::rule(
            reasons::WEBHOOK_ROTATION_INVALID,
            format!(
                "the previous secret verifies 0 to {MAX_ROTATION_OVERLAP_SECS} s after a rotation"
            ),
        )
        .on_field("overlapSeconds"));
    }
    Ok(secs)
}

/// Checks a call: the timestamp readable, one of the signatures the HMAC of
/// `"<timestamp>.<body>"` (compared in constant time), the timestamp within `tolerance_secs` of
/// `now_secs`. Answers the first matching signature (the call's replay key).
/// WEBHOOK_SIGNATURE_INVALID, or WEBHOOK_TIMESTAMP_STALE for a genuine but old call.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> ApiResult<String> {
    verify_any(
        &[secret],
        timestamp,
        signature,
        body,
        now_secs,
        tolerance_secs,
    )
}

/// [`verify`] under any of `secrets` (a tenant's current secret and, during a rotation's
/// overlap, the previous one): the kit's check, worded with marketing's reasons.
pub fn verify_any(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> ApiResult<String> {
    erp_kit::webhook::verify_any(
        secrets,
        timestamp,
        signature,
        body,
        now_secs,
        tolerance_secs,
    )
    .map_err(|refusal| match refusal {
        Refusal::Signature(_) => {
            ApiError::rule(reasons::WEBHOOK_SIGNATURE_INVALID, refusal.message())
        }
        Refusal::Stale { .. } => {
            ApiError::rule(reasons::WEBHOOK_TIMESTAMP_STALE, refusal.message())
        }
    })
}

/// What a reported event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailEventKind {
    /// A delivery failure: classified by its status and diagnostic (domain/bounce.rs).
    Bounce,
    /// The recipient reported the message as spam.
    Complaint,
}

/// One reported event, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEvent {
    pub kind: MailEventKind,
    pub tenant: String,
    pub email: EmailAddress,
    pub message_id: Option<String>,
    pub status: Option<String>,
    pub diagnostic: String,
    pub auto_submitted: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    tenant: Option<String>,
    email: String,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    diagnostic: Option<String>,
    #[serde(default)]
    auto_submitted: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    events: Vec<RawEvent>,
}

fn payload_invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::WEBHOOK_PAYLOAD_INVALID, message)
}

fn bounded(at: &str, name: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(payload_invalid(format!(
                "{at}.{name} is over {max} characters or has control characters"
            )))
        }
        other => Ok(other),
    }
}

/// The events of a (verified) body, every one checked before any is acted on: a body that is
/// not the documented JSON, no event or more than [`MAX_EVENTS`], an unknown type, an empty
/// tenant, a bad address, an over-long field: WEBHOOK_PAYLOAD_INVALID (or INVALID_EMAIL).
pub fn parse_events(body: &[u8]) -> ApiResult<Vec<MailEvent>> {
    parse_events_for(body, None)
}

/// [`parse_events`] of a call to a tenant's own webhook URL: an event's `tenant` may be left
/// out (it is the URL's) and may not name another (WEBHOOK_PAYLOAD_INVALID: a tenant's
/// secret speaks for that tenant only).
pub fn parse_events_for(body: &[u8], url_tenant: Option<&str>) -> ApiResult<Vec<MailEvent>> {
    let raw: RawBody = serde_json::from_slice(body)
        .map_err(|err| payload_invalid(format!("the body is not a mail event batch: {err}")))?;
    if raw.events.is_empty() || raw.events.len() > MAX_EVENTS {
        return Err(payload_invalid(format!(
            "a call carries 1 to {MAX_EVENTS} events"
        )));
    }
    raw.events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let at = format!("events[{index}]");
            let kind = match event.kind.as_str() {
                "bounce" => MailEventKind::Bounce,
                "complaint" => MailEventKind::Complaint,
                other => {
                    return Err(payload_invalid(format!(
                        "{at}.type `{other}` is neither `bounce` nor `complaint`"
                    )))
                }
            };
            let tenant = match (bounded(&at, "tenant", event.tenant, 100)?, url_tenant) {
                (Some(named), Some(url)) if named != url => {
                    return Err(payload_invalid(format!(
                        "{at}.tenant is not the tenant of this webhook URL"
                    )))
                }
                (Some(named), _) => named,
                (None, Some(url)) => url.to_owned(),
                (None, None) => return Err(payload_invalid(format!("{at}.tenant is empty"))),
            };
            Ok(MailEvent {
                kind,
                tenant,
                email: EmailAddress::parse(&event.email)?,
                message_id: bounded(&at, "messageId", event.message_id, 100)?,
                status: bounded(&at, "status", event.status, 16)?,
                diagnostic: bounded(&at, "diagnostic", event.diagnostic, 1000)?.unwrap_or_default(),
                auto_submitted: bounded(&at, "autoSubmitted", event.auto_submitted, 100)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec-test";

    fn reason(err: ApiError) -> &'static str {
        err.reason().map(|r| r.name()).unwrap_or("")
    }

    #[test]
    fn a_signed_call_verifies_and_a_changed_one_does_not() {
        let body = br#"{"events":[]}"#;
        let signature = sign(SECRET, 1_000, body);
        assert!(signature.starts_with("v1=") && signature.len() == 67);
        let ok = verify(SECRET, Some("1000"), Some(&signature), body, 1_100, 300).unwrap();
        assert_eq!(format!("v1={ok}"), signature);
        // Several signatures (a rotation): any one matching is enough.
        let both = format!("v1={}, {signature}", "0".repeat(64));
        assert!(verify(SECRET, Some("1000"), Some(&both), body, 1_000, 300).is_ok());
        let refused = |ts: Option<&str>, sig: Option<&str>, body: &[u8], now: i64| {
            reason(verify(SECRET, ts, sig, body, now, 300).unwrap_err())
        };
        assert_eq!(
            refused(Some("1000"), Some(&signature), b"{}", 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        assert_eq!(
            refused(Some("1001"), Some(&signature), body, 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        assert_eq!(
            refused(None, Some(&signature), body, 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        assert_eq!(
            refused(Some("1000"), None, body, 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        assert_eq!(
            refused(Some("1000"), Some("v1=zz"), body, 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        let other = sign(b"another secret", 1_000, body);
        assert_eq!(
            refused(Some("1000"), Some(&other), body, 1_000),
            "WEBHOOK_SIGNATURE_INVALID"
        );
        assert_eq!(
            refused(Some("1000"), Some(&signature), body, 1_301),
            "WEBHOOK_TIMESTAMP_STALE"
        );
        assert_eq!(
            refused(Some("1000"), Some(&signature), body, 699),
            "WEBHOOK_TIMESTAMP_STALE"
        );
    }

    #[test]
    fn events_are_checked_before_any_is_used() {
        let events = parse_events(
            br#"{"events":[{"type":"bounce","tenant":"t1","email":"A@B.example","status":"5.1.1","messageId":"m1"},{"type":"complaint","tenant":"t1","email":"c@d.example"}]}"#,
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].email.as_str(), "a@b.example");
        assert_eq!(events[0].message_id.as_deref(), Some("m1"));
        assert_eq!(events[1].kind, MailEventKind::Complaint);
        let refused = |body: &str| reason(parse_events(body.as_bytes()).unwrap_err());
        assert_eq!(refused("not json"), "WEBHOOK_PAYLOAD_INVALID");
        assert_eq!(refused(r#"{"events":[]}"#), "WEBHOOK_PAYLOAD_INVALID");
        assert_eq!(
            refused(r#"{"events":[{"type":"open","tenant":"t","email":"a@b.example"}]}"#),
            "WEBHOOK_PAYLOAD_INVALID"
        );
        assert_eq!(
            refused(r#"{"events":[{"type":"bounce","tenant":" ","email":"a@b.example"}]}"#),
            "WEBHOOK_PAYLOAD_INVALID"
        );
        assert_eq!(
            refused(r#"{"events":[{"type":"bounce","tenant":"t","email":"nope"}]}"#),
            "INVALID_EMAIL"
        );
        assert_eq!(
            refused(
                r#"{"events":[{"type":"bounce","tenant":"t","email":"a@b.example","extra":1}]}"#
            ),
            "WEBHOOK_PAYLOAD_INVALID"
        );
        let many = format!(
            r#"{{"events":[{}]}}"#,
            vec![r#"{"type":"bounce","tenant":"t","email":"a@b.example"}"#; MAX_EVENTS + 1]
                .join(",")
        );
        assert_eq!(refused(&many), "WEBHOOK_PAYLOAD_INVALID");
    }
}
