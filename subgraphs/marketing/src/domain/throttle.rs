//! Sending limits: a tenant's messages per minute and messages per recipient domain per
//! minute (mailbox providers throttle or block a sender that floods one of their domains),
//! and each sending provider's rate per second and per hour and its daily cap (what the
//! relay account allows).
//!
//! A window is a whole second, minute, hour or UTC day since the Unix epoch. Each message
//! handed off takes one slot of every window that applies to it (the provider's day, hour
//! and second, the recipient domain's minute, the tenant's minute); a message that finds one
//! full is deferred to the start of that window's successor, never dropped. The longest
//! window is checked first, so a message over its daily cap waits for the next day rather
//! than retrying every second.

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

    /// The slots a message to `address` takes, one for each limit set.
    pub fn slots(&self, address: &str) -> Vec<Slot> {
        let mut slots = Vec::new();
        if let Some(cap) = self.per_domain_per_minute {
            slots.push(Slot {
                scope: domain_scope(address),
                limit: LimitKind::DomainMinute,
                cap,
            });
        }
        if let Some(rate) = self.per_minute {
            slots.push(Slot {
                scope: TENANT_SCOPE.to_owned(),
                limit: LimitKind::TenantMinute,
                cap: rate,
            });
        }
        slots
    }
}

/// The highest provider limit (a second, an hour or a day of a large relay account).
pub const MAX_PROVIDER_LIMIT: i32 = 100_000_000;
/// A provider's name: 1 to 64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
pub const MAX_PROVIDER_NAME_LEN: usize = 64;

/// How long a sending window lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowUnit {
    Second,
    Minute,
    Hour,
    /// A UTC day.
    Day,
}

impl WindowUnit {
    pub fn millis(self) -> i64 {
        match self {
            WindowUnit::Second => 1_000,
            WindowUnit::Minute => 60_000,
            WindowUnit::Hour => 3_600_000,
            WindowUnit::Day => 86_400_000,
        }
    }

    /// The window of a time (Unix milliseconds), counted in this unit since the epoch.
    pub fn window_of(self, now_ms: i64) -> i64 {
        now_ms.div_euclid(self.millis())
    }

    /// When the window after `window` starts (Unix milliseconds).
    pub fn next_start(self, window: i64) -> i64 {
        (window + 1) * self.millis()
    }
}

/// Which limit a slot counts against (and, for a deferred message, which one deferred it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    TenantMinute,
    DomainMinute,
    ProviderSecond,
    ProviderHour,
    ProviderDay,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::TenantMinute => "tenant_minute",
            LimitKind::DomainMinute => "domain_minute",
            LimitKind::ProviderSecond => "provider_second",
            LimitKind::ProviderHour => "provider_hour",
            LimitKind::ProviderDay => "provider_day",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            LimitKind::TenantMinute,
            LimitKind::DomainMinute,
            LimitKind::ProviderSecond,
            LimitKind::ProviderHour,
            LimitKind::ProviderDay,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }

    pub fn unit(self) -> WindowUnit {
        match self {
            LimitKind::TenantMinute | LimitKind::DomainMinute => WindowUnit::Minute,
            LimitKind::ProviderSecond => WindowUnit::Second,
            LimitKind::ProviderHour => WindowUnit::Hour,
            LimitKind::ProviderDay => WindowUnit::Day,
        }
    }
}

/// One slot a message takes: the counter's scope, the limit it counts against, its cap per
/// window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub scope: String,
    pub limit: LimitKind,
    pub cap: i32,
}

/// The scope prefix of every provider slot (`provider:<id>:<unit>`).
pub const PROVIDER_SCOPE_PREFIX: &str = "provider:";

/// A sending provider's limits, checked; `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProviderLimits {
    pub per_second: Option<i32>,
    pub per_hour: Option<i32>,
    pub per_day: Option<i32>,
}

impl ProviderLimits {
    /// Limits as staff entered them: each 1 to [`MAX_PROVIDER_LIMIT`] or absent
    /// (SENDING_LIMIT_INVALID, the field named). A daily cap below the hourly rate is allowed:
    /// the cap binds first.
    pub fn parse(
        per_second: Option<i32>,
        per_hour: Option<i32>,
        per_day: Option<i32>,
    ) -> ApiResult<Self> {
        for (field, value) in [
            ("perSecond", per_second),
            ("perHour", per_hour),
            ("perDay", per_day),
        ] {
            if value.is_some_and(|v| !(1..=MAX_PROVIDER_LIMIT).contains(&v)) {
                return Err(ApiError::rule(
                    reasons::SENDING_LIMIT_INVALID,
                    format!("a provider's limit is 1 to {MAX_PROVIDER_LIMIT} messages"),
                )
                .on_field(field));
            }
        }
        Ok(Self {
            per_second,
            per_hour,
            per_day,
        })
    }

    /// The slots a message through provider `provider_id` takes, the longest window first.
    pub fn slots(&self, provider_id: &str) -> Vec<Slot> {
        [
            (LimitKind::ProviderDay, self.per_day, "day"),
            (LimitKind::ProviderHour, self.per_hour, "hour"),
            (LimitKind::ProviderSecond, self.per_second, "second"),
        ]
        .into_iter()
        .filter_map(|(limit, cap, unit)| {
            cap.map(|cap| Slot {
                scope: format!("{PROVIDER_SCOPE_PREFIX}{provider_id}:{unit}"),
                limit,
                cap,
            })
        })
        .collect()
    }
}

/// A provider's name (trimmed, lower-case), or the error on `name`.
pub fn provider_name(name: &str) -> ApiResult<String> {
    let name = name.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= MAX_PROVIDER_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::bad_input(
            "name",
            format!(
                "a provider's name is 1 to {MAX_PROVIDER_NAME_LEN} characters of a-z, 0-9, `-`, `_`, `.`"
            ),
        ))
    }
}

/// The slot scope of a recipient's domain (`domain:example.com`, lower-case).
pub fn domain_scope(address: &str) -> String {
    let domain = address.rsplit_once('@').map_or(address, |(_, d)| d);
    format!("domain:{}", domain.to_ascii_lowercase())
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
        let scopes = |slots: Vec<Slot>| -> Vec<(String, i32)> {
            slots.into_iter().map(|s| (s.scope, s.cap)).collect()
        };
        assert_eq!(
            scopes(limits.slots("ana@Mail.Example.COM")),
            vec![
                ("domain:mail.example.com".to_owned(), 2),
                ("tenant".to_owned(), 10)
            ]
        );
        assert!(SendingLimits::default().slots("a@b.example").is_empty());
    }

    #[test]
    fn provider_limits_are_checked_and_take_the_longest_window_first() {
        let reason = |r: ApiResult<ProviderLimits>| r.unwrap_err().reason();
        assert_eq!(
            reason(ProviderLimits::parse(Some(0), None, None)),
            Some(reasons::SENDING_LIMIT_INVALID)
        );
        assert_eq!(
            reason(ProviderLimits::parse(
                None,
                None,
                Some(MAX_PROVIDER_LIMIT + 1)
            )),
            Some(reasons::SENDING_LIMIT_INVALID)
        );
        let limits = ProviderLimits::parse(Some(10), None, Some(5)).unwrap();
        let slots = limits.slots("prv1");
        assert_eq!(
            slots
                .iter()
                .map(|s| (s.scope.as_str(), s.limit, s.cap))
                .collect::<Vec<_>>(),
            vec![
                ("provider:prv1:day", LimitKind::ProviderDay, 5),
                ("provider:prv1:second", LimitKind::ProviderSecond, 10),
            ]
        );
        assert_eq!(provider_name(" SES-eu ").unwrap(), "ses-eu");
        assert!(provider_name("").is_err());
        assert!(provider_name("has space").is_err());
        for kind in [LimitKind::TenantMinute, LimitKind::ProviderDay] {
            assert_eq!(LimitKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn windows_of_each_unit() {
        // 1970-01-02 00:00:00.500 UTC is in day 1, hour 24, second 86400.
        let t = 86_400_500;
        assert_eq!(WindowUnit::Day.window_of(t), 1);
        assert_eq!(WindowUnit::Hour.window_of(t), 24);
        assert_eq!(WindowUnit::Second.window_of(t), 86_400);
        assert_eq!(WindowUnit::Day.next_start(1), 2 * 86_400_000);
        assert_eq!(WindowUnit::Second.next_start(86_400), 86_401_000);
    }

    #[test]
    fn windows_are_unix_minutes() {
        let minute = WindowUnit::Minute;
        assert_eq!(minute.window_of(0), 0);
        assert_eq!(minute.window_of(59_999), 0);
        assert_eq!(minute.window_of(60_000), 1);
        assert_eq!(minute.next_start(minute.window_of(61_234)), 120_000);
    }
}
