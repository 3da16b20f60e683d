use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{check_entry, check_key, Cache, CacheError};

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// The embedded mode's cache: a map with expiry and broadcast channels.
#[derive(Default)]
pub struct InProcessCache {
    entries: Mutex<HashMap<String, Entry>>,
    channels: Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>,
}

impl InProcessCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn channel(&self, name: &str) -> broadcast::Sender<Vec<u8>> {
        self.channels
            .lock()
            .entry(name.to_owned())
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    }
}

#[async_trait::async_trait]
impl Cache for InProcessCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        check_key(key)?;
        let now = Instant::now();
        let mut entries = self.entries.lock();
        match entries.get(key) {
            Some(entry) if entry.live(now) => Ok(Some(entry.value.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        check_entry(key, value)?;
        self.entries.lock().insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: ttl.map(|ttl| Instant::now() + ttl),
            },
        );
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        check_entry(key, value)?;
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.get(key).is_some_and(|entry| entry.live(now)) {
            return Ok(false);
        }
        entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: ttl.map(|ttl| now + ttl),
            },
        );
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        check_key(key)?;
        let now = Instant::now();
        Ok(self
            .entries
            .lock()
            .remove(key)
            .is_some_and(|entry| entry.live(now)))
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), CacheError> {
        check_entry(channel, message)?;
        let _ = self.channel(channel).send(message.to_vec());
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, CacheError> {
        check_key(channel)?;
        Ok(BroadcastStream::new(self.channel(channel).subscribe())
            .filter_map(|item| async move { item.ok() })
            .boxed())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}
