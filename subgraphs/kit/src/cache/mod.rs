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
    /// A key (or channel name) or value over [`MAX_KEY_BYTES`] / [`MAX_VALUE_BYTES`]: refused
    /// before it reaches the backend.
    #[error("a cache {what} of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
}

/// The longest key or channel name the cache takes. Keys are built from identifiers and
/// hashes; one longer than this was built from unbounded input (an attacker's 2 MB login name
/// would otherwise become a 2 MB Redis key per request).
pub const MAX_KEY_BYTES: usize = 1024;

/// The largest value or message the cache takes (every value stored today is a few KB at most).
pub const MAX_VALUE_BYTES: usize = 512 * 1024;

/// Refuses a key over [`MAX_KEY_BYTES`]. Every backend checks before it does any work.
pub fn check_key(key: &str) -> Result<(), CacheError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(CacheError::TooLarge {
            what: "key",
            size: key.len(),
            limit: MAX_KEY_BYTES,
        });
    }
    Ok(())
}

/// Refuses a key over [`MAX_KEY_BYTES`] or a value over [`MAX_VALUE_BYTES`].
pub fn check_entry(key: &str, value: &[u8]) -> Result<(), CacheError> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(CacheError::TooLarge {
            what: "value",
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Every backend refuses a key over [`MAX_KEY_BYTES`] and a value over [`MAX_VALUE_BYTES`]
/// with [`CacheError::TooLarge`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversize_keys_and_values_are_refused_and_nothing_is_stored() {
        let cache = InProcessCache::new();
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let big_value = vec![0u8; MAX_VALUE_BYTES + 1];
        let too_large =
            |result: Result<(), CacheError>| matches!(result, Err(CacheError::TooLarge { .. }));
        assert!(too_large(cache.set(&long_key, b"x", None).await));
        assert!(too_large(cache.set("key", &big_value, None).await));
        assert!(matches!(
            cache.set_if_absent(&long_key, b"x", None).await,
            Err(CacheError::TooLarge { what: "key", .. })
        ));
        assert!(matches!(
            cache.get(&long_key).await,
            Err(CacheError::TooLarge { what: "key", .. })
        ));
        assert!(matches!(
            cache.publish("channel", &big_value).await,
            Err(CacheError::TooLarge { what: "value", .. })
        ));
        assert_eq!(cache.get("key").await.unwrap(), None, "nothing stored");
        // At the limits, both are taken.
        let key = "k".repeat(MAX_KEY_BYTES);
        cache
            .set(&key, &vec![1u8; MAX_VALUE_BYTES], None)
            .await
            .unwrap();
        assert_eq!(
            cache.get(&key).await.unwrap().map(|v| v.len()),
            Some(MAX_VALUE_BYTES)
        );
    }
}
