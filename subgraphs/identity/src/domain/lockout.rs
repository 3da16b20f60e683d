//! Brute-force protection, Keycloak-like: after a few failures an account is locked for a time
//! that grows with every further failure, up to a cap; failures are forgotten after a quiet
//! window. There is no permanent lockout (that would hand attackers a denial of service).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use erp_kit::Reason;

use super::violation::reasons;

#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lockout.
    pub free_failures: u32,
    /// The first lockout; doubles with each further failure.
    pub base_wait: Duration,
    pub max_wait: Duration,
    /// Failures older than this are forgotten.
    pub reset_after: Duration,
    /// Failed logins per client IP within `reset_after` before that IP is refused for
    /// `max_wait` (many accounts from one address).
    pub per_ip_limit: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_wait: Duration::from_secs(30),
            max_wait: Duration::from_secs(15 * 60),
            reset_after: Duration::from_secs(12 * 3600),
            per_ip_limit: 100,
        }
    }
}

impl LockoutPolicy {
    /// How long the account is locked after `failures` consecutive failures.
    pub fn wait_after(&self, failures: u32) -> Option<Duration> {
        if failures < self.free_failures {
            return None;
        }
        let doublings = (failures - self.free_failures).min(16);
        Some((self.base_wait * 2u32.pow(doublings)).min(self.max_wait))
    }

    /// `record` after one more failed login counted by `counter` at `now_ms`.
    pub fn after_failure(
        &self,
        counter: Counter,
        mut record: FailureRecord,
        now_ms: i64,
    ) -> FailureRecord {
        record.failures = record.failures.saturating_add(1);
        let wait = match counter {
            Counter::Account | Counter::SecondFactor => self.wait_after(record.failures),
            Counter::Address => (record.failures >= self.per_ip_limit).then_some(self.max_wait),
        };
        if let Some(wait) = wait {
            record.locked_until = now_ms + wait.as_millis() as i64;
        }
        record
    }
}

/// What a failed login counts against: the login name (an account, known or not, so the lockout
/// reveals nothing), the client address (many accounts tried from one place), or the user's
/// second factor (wrong TOTP codes, recovery codes, security-key responses: counted per user
/// across every login attempt, and NOT forgotten when the password is right again, so knowing
/// the password does not buy a fresh allowance of guesses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Account,
    Address,
    SecondFactor,
}

impl Counter {
    /// The reason a lock by this counter answers with (both of an account's counters lock the
    /// account).
    pub fn reason(self) -> Reason {
        match self {
            Counter::Account | Counter::SecondFactor => reasons::ACCOUNT_LOCKED,
            Counter::Address => reasons::ADDRESS_BLOCKED,
        }
    }
}

/// Recent failures of one counter and the lock they caused (kept where every replica sees it,
/// forgotten after `reset_after`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub failures: u32,
    /// Unix milliseconds; 0 when never locked.
    pub locked_until: i64,
}

impl FailureRecord {
    /// Whole seconds until the lock ends (rounded up), when it is locked at `now_ms`.
    pub fn retry_after_secs(&self, now_ms: i64) -> Option<u64> {
        (self.locked_until > now_ms).then(|| ((self.locked_until - now_ms) as u64).div_ceil(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.wait_after(4), None);
        assert_eq!(policy.wait_after(5), Some(Duration::from_secs(30)));
        assert_eq!(policy.wait_after(6), Some(Duration::from_secs(60)));
        assert_eq!(policy.wait_after(7), Some(Duration::from_secs(120)));
        assert_eq!(policy.wait_after(40), Some(Duration::from_secs(900)));
    }

    #[test]
    fn an_account_locks_after_its_free_failures_and_an_address_at_its_limit() {
        let policy = LockoutPolicy {
            free_failures: 2,
            per_ip_limit: 3,
            ..LockoutPolicy::default()
        };
        let now = 1_000_000;
        let mut account = FailureRecord::default();
        account = policy.after_failure(Counter::Account, account, now);
        assert_eq!(account.retry_after_secs(now), None);
        account = policy.after_failure(Counter::Account, account, now);
        assert_eq!(account.retry_after_secs(now), Some(30));
        assert_eq!(
            account.retry_after_secs(now + 29_001),
            Some(1),
            "rounded up"
        );
        assert_eq!(account.retry_after_secs(now + 30_000), None, "expired");

        let mut address = FailureRecord::default();
        for _ in 0..2 {
            address = policy.after_failure(Counter::Address, address, now);
        }
        assert_eq!(address.retry_after_secs(now), None);
        address = policy.after_failure(Counter::Address, address, now);
        assert_eq!(address.retry_after_secs(now), Some(900), "the longest wait");
        assert_eq!(Counter::Address.reason(), reasons::ADDRESS_BLOCKED);
    }

    #[test]
    fn wrong_second_factors_lock_the_account_with_a_growing_wait() {
        let policy = LockoutPolicy {
            free_failures: 3,
            ..LockoutPolicy::default()
        };
        let now = 1_000_000;
        let mut record = FailureRecord::default();
        for _ in 0..2 {
            record = policy.after_failure(Counter::SecondFactor, record, now);
        }
        assert_eq!(record.retry_after_secs(now), None);
        let waits: Vec<Option<u64>> = (0..3)
            .map(|_| {
                record = policy.after_failure(Counter::SecondFactor, record.clone(), now);
                record.retry_after_secs(now)
            })
            .collect();
        assert_eq!(waits, [Some(30), Some(60), Some(120)], "doubling");
        assert_eq!(Counter::SecondFactor.reason(), reasons::ACCOUNT_LOCKED);
    }
}
