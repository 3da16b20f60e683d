//! Brute-force protection of every login step: the failure counters (in the cache, shared by
//! the replicas, keyed by a hash of the login name, the client address or the user id), the
//! locks they cause, and one check at a time per account.
//!
//! It fails closed: when the counters cannot be read or written the login is refused
//! (LOCKOUT_UNAVAILABLE), never let through unprotected.

use std::future::Future;
use std::time::Duration;

use erp_kit::{ApiError, ApiResult};

use super::{now_ms, Identity};
use crate::domain::lockout::{Counter, FailureRecord};
use crate::domain::{reasons, secrets, Violation};

/// How long a step may hold its account's turn before the turn is taken back (a replica that
/// died mid-step must not block the account for longer).
const TURN_TTL: Duration = Duration::from_secs(30);

/// What a counter counts for: its kind and its subject (already a hash or an identifier, never
/// raw input).
#[derive(Debug, Clone)]
pub(super) struct Subject {
    counter: Counter,
    key: String,
}

impl Subject {
    /// The account whose login name is `email` (known or not; normalised, as
    /// `EmailAddress::as_str` or a stored user's email): a hash of it, so no key holds what a
    /// client typed.
    pub fn account(email: &str) -> Self {
        Self {
            counter: Counter::Account,
            key: secrets::hash_token(email),
        }
    }

    /// A client address (an `IpAddr` as text: bounded).
    pub fn address(ip: &str) -> Self {
        Self {
            counter: Counter::Address,
            key: ip.to_owned(),
        }
    }

    /// A user's second factor.
    pub fn second_factor(user_id: &str) -> Self {
        Self {
            counter: Counter::SecondFactor,
            key: user_id.to_owned(),
        }
    }

    /// The counter's name in the cache (under the deployment's prefix).
    fn name(&self) -> String {
        let kind = match self.counter {
            Counter::Account => "fail",
            Counter::Address => "ipfail",
            Counter::SecondFactor => "mfafail",
        };
        format!("{kind}:{}", self.key)
    }
}

fn unavailable(err: erp_kit::cache::CacheError) -> ApiError {
    tracing::error!(error = %err, "lockout counters unavailable: refusing the login step");
    Violation::LockoutUnavailable.into()
}

impl Identity {
    fn counter_key(&self, subject: &Subject) -> String {
        self.cache_key(&subject.name())
    }

    async fn failures(&self, subject: &Subject) -> ApiResult<FailureRecord> {
        let bytes = self
            .cache
            .get(&self.counter_key(subject))
            .await
            .map_err(unavailable)?;
        // A record this version cannot read counts as none (it expires on its own).
        Ok(bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// Refuses the step while any of `subjects` is locked.
    pub(super) async fn check_not_locked(&self, subjects: &[Subject]) -> ApiResult<()> {
        let now = now_ms();
        for subject in subjects {
            if let Some(retry_after) = self.failures(subject).await?.retry_after_secs(now) {
                return Err(ApiError::rate_limited(
                    subject.counter.reason(),
                    retry_after,
                ));
            }
        }
        Ok(())
    }

    /// Counts one failure against each of `subjects`; an error when it cannot be recorded.
    pub(super) async fn record_failure(&self, subjects: &[Subject]) -> ApiResult<()> {
        for subject in subjects {
            let record = self.config.lockout.after_failure(
                subject.counter,
                self.failures(subject).await?,
                now_ms(),
            );
            let bytes = serde_json::to_vec(&record).map_err(ApiError::internal)?;
            self.cache
                .set(
                    &self.counter_key(subject),
                    &bytes,
                    Some(self.config.lockout.reset_after),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Forgets the failures of `subject` (after a success). A failure to forget only leaves
    /// the count where it was.
    pub(super) async fn forget_failures(&self, subject: &Subject) {
        if let Err(err) = self.cache.delete(&self.counter_key(subject)).await {
            tracing::warn!(error = %err, "lockout counter not reset");
        }
    }

    /// Runs `step` (a check of a password or a second factor, with its counting) as the only
    /// step of its account in flight on every replica: without this, many guesses sent at
    /// once would all be checked before the first failure was counted. A step that finds
    /// another in flight is refused at once (ATTEMPT_IN_PROGRESS, retry after a second).
    pub(super) async fn one_at_a_time<T>(
        &self,
        account: &Subject,
        step: impl Future<Output = ApiResult<T>>,
    ) -> ApiResult<T> {
        let key = self.cache_key(&format!("turn:{}", account.name()));
        let taken = self
            .cache
            .set_if_absent(&key, b"1", Some(TURN_TTL))
            .await
            .map_err(unavailable)?;
        if !taken {
            return Err(ApiError::rate_limited(reasons::ATTEMPT_IN_PROGRESS, 1));
        }
        let outcome = step.await;
        if let Err(err) = self.cache.delete(&key).await {
            // The turn ends by itself after TURN_TTL.
            tracing::warn!(error = %err, "login turn not released");
        }
        outcome
    }
}
