//! Running timers in the cache (Redis in production): one key per person, so "at most one timer
//! per person" is a `SET NX`, and a timer outlives any restart of the service.

use erp_kit::cache::SharedCache;
use erp_kit::{ApiError, TenantId};

use crate::domain::timer::Timer;

#[derive(Clone)]
pub struct TimerStore {
    cache: SharedCache,
    prefix: String,
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("timer cache: {err}"))
}

impl TimerStore {
    /// `prefix` namespaces the keys in a shared Redis (`pmo` by default).
    pub fn new(cache: SharedCache, prefix: impl Into<String>) -> Self {
        Self {
            cache,
            prefix: prefix.into(),
        }
    }

    fn key(&self, tenant: &TenantId, user_id: &str) -> String {
        format!("{}:timer:{}:{}", self.prefix, tenant.as_str(), user_id)
    }

    /// What namespaces this store's keys (and the live channels) in a shared cache.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The cache (its pub/sub carries the live notifications).
    pub fn cache(&self) -> &SharedCache {
        &self.cache
    }

    pub async fn get(&self, tenant: &TenantId, user_id: &str) -> Result<Option<Timer>, ApiError> {
        let Some(raw) = self
            .cache
            .get(&self.key(tenant, user_id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("undecodable timer: {e}")))
    }

    /// Stores a new timer unless the person already has one; false when they do.
    pub async fn create(&self, tenant: &TenantId, timer: &Timer) -> Result<bool, ApiError> {
        let raw = serde_json::to_vec(timer).map_err(ApiError::internal)?;
        self.cache
            .set_if_absent(&self.key(tenant, &timer.user_id), &raw, None)
            .await
            .map_err(unavailable)
    }

    /// Replaces the person's timer (pause, resume).
    pub async fn replace(&self, tenant: &TenantId, timer: &Timer) -> Result<(), ApiError> {
        let raw = serde_json::to_vec(timer).map_err(ApiError::internal)?;
        self.cache
            .set(&self.key(tenant, &timer.user_id), &raw, None)
            .await
            .map_err(unavailable)
    }

    pub async fn remove(&self, tenant: &TenantId, user_id: &str) -> Result<bool, ApiError> {
        self.cache
            .delete(&self.key(tenant, user_id))
            .await
            .map_err(unavailable)
    }
}
