//! Key-value cache and pub/sub: Redis in production, in-process in the embedded mode.
//!
//! Live features (attendance boards, running timers) publish on a channel here so that every
//! replica's subscribers receive every event.

mod durable;
mod memory;
mod redis_cache;

pub use durable::DurableCache;
pub use memory::InProcessCache;
pub use redis_cache::RedisCache;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the cache is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Sets `key`; with a `ttl` the key expires by itself.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Sets `key` only if it does not exist; true when this call set it (idempotency keys, locks).
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError>;
    /// Deletes `key`; true when it existed.
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;
    /// Publishes `message` to every subscriber of `channel`, on every replica.
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), CacheError>;
    /// The messages published on `channel` from now on.
    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, CacheError>;
    /// Answers when the backend is reachable (readiness).
    async fn ping(&self) -> Result<(), CacheError>;
    fn kind(&self) -> &'static str;
}

pub type SharedCache = Arc<dyn Cache>;
