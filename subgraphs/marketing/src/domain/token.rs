//! Signed links: the one-click unsubscribe (RFC 8058), the double opt-in confirmation and the
//! tracking links carry their claims in the clear, signed with an HMAC under the tenant's key
//! (the app computes the tag; this module only shapes and reads the token).
//!
//! A token is `<payload>.<tag>`: the payload is the claims as JSON in unpadded base64url, the
//! tag the HMAC of the payload text in unpadded base64url. The tenant is in the claims (the
//! POST has no session), which is why the tag must verify before anything is believed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::reasons;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    Unsubscribe,
    /// The way back after an unsubscribe: the contact's own re-opt-in.
    Resubscribe,
    ConfirmOptIn,
    Open,
    Click,
}

/// The claims of a signed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "p")]
    pub purpose: LinkPurpose,
    #[serde(rename = "t")]
    pub tenant: String,
    #[serde(rename = "c")]
    pub contact_id: String,
    /// The campaign (unsubscribe, tracking) or the opt-in request (confirmation).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The target of a click link.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Unix seconds after which the link is refused.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// The payload text of `claims` (what the tag signs).
pub fn payload(claims: &LinkClaims) -> String {
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The tag text as it goes into a token (any base64 alphabet in, unpadded base64url out).
pub fn url_safe_tag(tag: &str) -> String {
    tag.trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// The token of `claims` signed by `tag` (computed over [`payload`]).
pub fn token(payload: &str, tag: &str) -> String {
    format!("{payload}.{}", url_safe_tag(tag))
}

fn invalid(message: &str) -> ApiError {
    ApiError::rule(reasons::TOKEN_INVALID, message.to_owned())
}

/// A token read but not yet verified: its claims, the payload text and the tag to check.
#[derive(Debug)]
pub struct UnverifiedToken {
    pub claims: LinkClaims,
    pub payload: String,
    pub tag: String,
}

/// Splits and decodes a token; the caller recomputes the tag over `payload` and compares it
/// with [`tags_equal`] before trusting the claims.
pub fn read(token: &str) -> ApiResult<UnverifiedToken> {
    let (payload, tag) = token
        .split_once('.')
        .ok_or_else(|| invalid("the link is not a signed link"))?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid("the link is not a signed link"))?;
    let claims: LinkClaims =
        serde_json::from_slice(&json).map_err(|_| invalid("the link is not a signed link"))?;
    Ok(UnverifiedToken {
        claims,
        payload: payload.to_owned(),
        tag: tag.to_owned(),
    })
}

/// Compares two tags in time independent of where they differ.
pub fn tags_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The genuine claims whatever their expiry (the caller decides how an expired link is
/// answered), or TOKEN_INVALID when the tag does not match or the purpose is another.
pub fn verify_signature(
    token: UnverifiedToken,
    expected_tag: &str,
    purpose: LinkPurpose,
) -> ApiResult<LinkClaims> {
    if !tags_equal(&token.tag, &url_safe_tag(expected_tag)) {
        return Err(invalid("the link's signature does not verify"));
    }
    if token.claims.purpose != purpose {
        return Err(invalid("the link is not for this action"));
    }
    Ok(token.claims)
}

/// Whether genuine claims have expired at `now_secs`.
pub fn expired(claims: &LinkClaims, now_secs: i64) -> bool {
    claims.expires_at < now_secs
}

/// The verified claims, or TOKEN_INVALID when the tag does not match, the purpose is another
/// or the link expired.
pub fn verify(
    token: UnverifiedToken,
    expected_tag: &str,
    purpose: LinkPurpose,
    now_secs: i64,
) -> ApiResult<LinkClaims> {
    let claims = verify_signature(token, expected_tag, purpose)?;
    if expired(&claims, now_secs) {
        return Err(invalid("the link has expired"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> LinkClaims {
        LinkClaims {
            purpose: LinkPurpose::Unsubscribe,
            tenant: "t1".into(),
            contact_id: "c1".into(),
            reference: Some("m1".into()),
            url: None,
            expires_at,
        }
    }

    #[test]
    fn a_token_round_trips_and_checks_tag_purpose_and_expiry() {
        let payload = payload(&claims(100));
        let tag = "ab+/cd==";
        let token = token(&payload, tag);
        assert!(!token.contains('+') && !token.contains('='));
        let ok = verify(read(&token).unwrap(), tag, LinkPurpose::Unsubscribe, 99).unwrap();
        assert_eq!(ok, claims(100));
        let reason = |r: ApiResult<LinkClaims>| r.unwrap_err().reason();
        assert_eq!(
            reason(verify(
                read(&token).unwrap(),
                "ab+/ce==",
                LinkPurpose::Unsubscribe,
                99
            )),
            Some(reasons::TOKEN_INVALID)
        );
        assert_eq!(
            reason(verify(read(&token).unwrap(), tag, LinkPurpose::Click, 99)),
            Some(reasons::TOKEN_INVALID)
        );
        assert_eq!(
            reason(verify(
                read(&token).unwrap(),
                tag,
                LinkPurpose::Unsubscribe,
                101
            )),
            Some(reasons::TOKEN_INVALID)
        );
        assert!(read("garbage").is_err());
        assert!(read("e30.x").is_err());
    }
}
