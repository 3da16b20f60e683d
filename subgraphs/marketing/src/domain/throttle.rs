//! Sending limits: a tenant's messages per minute and messages per recipient domain per
//! minute (mailbox providers throttle or block a sender that floods one of their domains).
//!
//! A minute window is a Unix minute. Each message handed off takes one slot of the tenant's
//! window and one of its recipient domain's; a message that finds either window full is
//! deferred to the next window's start, never dropped.

use erp_kit::{ApiError, ApiResult};

use super::reasons;

/// The highest limit that can be set (a minute's worth of a large relay).
pub const MAX_PER_MINUTE: i32 = 1_000_000;

/// The slot scope of the tenant's own rate.
pub const TENANT_SCOPE: &str = "tenant";

/// A tenant's sending limits, checked; `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendingLimits {
    pub per_minute: Option<i32>,
    pub per_domain_per_minute: Option<i32>,
}

impl SendingLimits {
    /// Limits as staff entered them: each 1 to [`MAX_PER_MINUTE`] or absent
    /// (SENDING_LIMIT_INVALID, the field named), and a domain cap no higher than the rate
    /// (a cap above it would never bind).
    pub fn parse(per_minute: Option<i32>, per_domain_per_minute: Option<i32>) -> ApiResult<Self> {
        for (field, value) in [
            ("perMinute", per_minute),
            ("perDomainPerMinute", per_domain_per_minute),
        ] {
            if value.is_some_and(|v| !(1..=MAX_PER_MINUTE).contains(&v)) {
                return Err(ApiError::rule(
                    reasons::SENDING_LIMIT_INVALID,
                    format!("a sending limit is 1 to {MAX_PER_MINUTE} messages a minute"),
                )
                .on_field(field));
            }
        }
        if let (Some(rate), Some(cap)) = (per_minute, per_domain_per_minute) {
            if cap > rate {
                return Err(ApiError::rule(
                    reasons::SENDING_LIMIT_INVALID,
                    "the per-domain cap is at most the tenant's rate",
                )
                .on_field("perDomainPerMinute"));
            }
        }
        Ok(Self {
            per_minute,
            per_domain_per_minute,
        })
    }

    /// The slots a message to `address` takes: (scope, limit) for each limit set.
    pub fn slots(&self, address: &str) -> Vec<(String, i32)> {
        let mut slots = Vec::new();
        if let Some(cap) = self.per_domain_per_minute {
            slots.push((domain_scope(address), cap));
        }
        if let Some(rate) = self.per_minute {
            slots.push((TENANT_SCOPE.to_owned(), rate));
        }
        slots
    }
}

/// The slot scope of a recipient's domain (`domain:example.com`, lower-case).
pub fn domain_scope(address: &str) -> String {
    let domain = address.rsplit_once('@').map_or(address, |(_, d)| d);
    format!("domain:{}", domain.to_ascii_lowercase())
}

/// The minute window of a time (Unix milliseconds).
pub fn window_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000)
}

/// When the window after `window` starts (Unix milliseconds): a deferred message waits until
/// then.
pub fn next_window_start(window: i64) -> i64 {
    (window + 1) * 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_name_their_slots() {
        let reason = |r: ApiResult<SendingLimits>| r.unwrap_err().reason();
        assert_eq!(
            reason(SendingLimits::parse(Some(0), None)),
            Some(reasons::SENDING_LIMIT_INVALID)
        );
        assert_eq!(
            reason(SendingLimits::parse(None, Some(MAX_PER_MINUTE + 1))),
            Some(reasons::SENDING_LIMIT_INVALID)
        );
        assert_eq!(
            reason(SendingLimits::parse(Some(5), Some(6))),
            Some(reasons::SENDING_LIMIT_INVALID)
        );
        let limits = SendingLimits::parse(Some(10), Some(2)).unwrap();
        assert_eq!(
            limits.slots("ana@Mail.Example.COM"),
            vec![
                ("domain:mail.example.com".to_owned(), 2),
                ("tenant".to_owned(), 10)
            ]
        );
        assert!(SendingLimits::default().slots("a@b.example").is_empty());
    }

    #[test]
    fn windows_are_unix_minutes() {
        assert_eq!(window_of(0), 0);
        assert_eq!(window_of(59_999), 0);
        assert_eq!(window_of(60_000), 1);
        assert_eq!(next_window_start(window_of(61_234)), 120_000);
    }
}
