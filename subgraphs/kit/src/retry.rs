//! The retry loop of a transaction script whose conditional write may find the facts it read
//! changed by a concurrent change (document stores: PMO, operations). The script reads its
//! facts, applies its rule and writes conditionally; a write that finds its facts changed
//! sends the script back to read them again, a few times, before the caller gets CONFLICT:
//!
//! ```ignore
//! let mut attempts = Attempts::new();
//! while attempts.next().await {
//!     // read, decide, write conditionally; `continue` when stale, `return` when written
//! }
//! Err(collided())
//! ```

use std::time::Duration;

use crate::ApiError;

/// How often a script reads its facts again after its conditional write found them changed,
/// before the caller gets CONFLICT.
pub const MAX_ATTEMPTS: u32 = 5;

/// The attempts of one transaction script.
#[derive(Debug)]
pub struct Attempts(u32);

impl Default for Attempts {
    fn default() -> Self {
        Self::new()
    }
}

impl Attempts {
    pub fn new() -> Self {
        Self(0)
    }

    /// Whether to try (again); pauses a little before a retry, longer each time.
    pub async fn next(&mut self) -> bool {
        if self.0 >= MAX_ATTEMPTS {
            return false;
        }
        if self.0 > 0 {
            tokio::time::sleep(Duration::from_millis(5 * u64::from(self.0))).await;
        }
        self.0 += 1;
        true
    }

    /// Whether this is the first attempt (what the caller saw is what the script read).
    pub fn first(&self) -> bool {
        self.0 == 1
    }
}

/// A change that kept colliding with concurrent changes of the same records: CONFLICT, and
/// the caller tries again.
pub fn collided() -> ApiError {
    ApiError::Conflict("the change collided with a concurrent one; retry".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_script_gets_max_attempts_then_stops() {
        let mut attempts = Attempts::new();
        let mut tried = 0;
        while attempts.next().await {
            if tried == 0 {
                assert!(attempts.first());
            } else {
                assert!(!attempts.first());
            }
            tried += 1;
        }
        assert_eq!(tried, MAX_ATTEMPTS);
        assert!(!attempts.next().await);
        assert_eq!(collided().code(), crate::ErrorCode::Conflict);
    }
}
