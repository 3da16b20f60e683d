//! Brute-force protection, Keycloak-like: after a few failures an account is locked for a time
//! that grows with every further failure, up to a cap; failures are forgotten after a quiet
//! window. There is no permanent lockout (that would hand attackers a denial of service).

use std::time::Duration;

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
}
