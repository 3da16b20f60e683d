//! Batched fact writes: the consumer hands each event's facts to a [`FactWriter`], and one task
//! inserts them about once per second (or as soon as `max_rows` wait), as ClickHouse's
//! maintainers advise (many small inserts end in TOO_MANY_PARTS). A failed insert is retried
//! with backoff, holding its batch; meanwhile the channel fills and the consumer waits
//! (back-pressure), so nothing is dropped.
//!
//! After each insert the writer announces, per tenant, the days its facts touched on the
//! cache's pub/sub channel [`facts_channel`] (every replica's live tiles listen).
//!
//! The consumer settles an event once its facts are in the writer, not in the store: a crash in
//! the second before a flush loses those facts until the events are replayed (the facts
//! collapse under replay, so replaying is always safe).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use erp_kit::cache::SharedCache;

use super::{SharedFacts, StoredFact};
use crate::domain::facts::Fact;

/// The pub/sub channel announcing new facts of `tenant`.
pub fn facts_channel(prefix: &str, tenant: &str) -> String {
    format!("{prefix}:analytics:facts:{tenant}")
}

/// What [`facts_channel`] carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FactsChanged {
    /// `YYYY-MM-DD` days the new facts fall on.
    pub days: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// A batch is inserted when this many facts wait...
    pub max_rows: usize,
    /// ...or this long after its first fact arrived.
    pub interval: Duration,
    /// Facts (in events' batches) the channel holds before the consumer waits.
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            interval: Duration::from_secs(1),
            queue: 10_000,
        }
    }
}

/// Hands facts to the writer task. Cloned freely.
#[derive(Clone)]
pub struct FactWriter {
    tx: mpsc::Sender<Vec<StoredFact>>,
}

/// The writer task; dropping every [`FactWriter`] flushes what waits and ends it.
pub struct WriterTask(Option<tokio::task::JoinHandle<()>>);

impl WriterTask {
    /// Waits until the facts handed so far are stored (the writers must be dropped first).
    pub async fn finish(mut self) {
        if let Some(task) = self.0.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WriterTask {
    fn drop(&mut self) {
        // Not aborted: it ends by itself once the writers are gone, after its last flush.
        self.0.take();
    }
}

impl FactWriter {
    pub fn spawn(
        store: SharedFacts,
        cache: SharedCache,
        prefix: String,
        config: WriterConfig,
    ) -> (Self, WriterTask) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let task = tokio::spawn(run(store, cache, prefix, config, rx));
        (Self { tx }, WriterTask(Some(task)))
    }

    /// Queues one event's facts; waits while the writer is behind. Err: the writer is gone.
    pub async fn push(&self, facts: Vec<Fact>) -> Result<(), String> {
        let ingested_ms = Utc::now().timestamp_millis();
        let stored = facts
            .into_iter()
            .map(|fact| StoredFact { fact, ingested_ms })
            .collect();
        self.tx
            .send(stored)
            .await
            .map_err(|_| "the fact writer stopped".to_owned())
    }
}

async fn run(
    store: SharedFacts,
    cache: SharedCache,
    prefix: String,
    config: WriterConfig,
    mut rx: mpsc::Receiver<Vec<StoredFact>>,
) {
    let mut buffer: Vec<StoredFact> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + config.interval;
    loop {
        let received = if buffer.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                received = rx.recv() => received,
                _ = tokio::time::sleep_until(deadline) => {
                    flush(&store, &cache, &prefix, &mut buffer).await;
                    continue;
                }
            }
        };
        match received {
            Some(facts) => {
                if buffer.is_empty() {
                    deadline = tokio::time::Instant::now() + config.interval;
                }
                buffer.extend(facts);
                if buffer.len() >= config.max_rows {
                    flush(&store, &cache, &prefix, &mut buffer).await;
                }
            }
            None => {
                flush(&store, &cache, &prefix, &mut buffer).await;
                return;
            }
        }
    }
}

/// Inserts the buffer (retrying until it is stored), then announces it.
async fn flush(
    store: &SharedFacts,
    cache: &SharedCache,
    prefix: &str,
    buffer: &mut Vec<StoredFact>,
) {
    if buffer.is_empty() {
        return;
    }
    let mut failures: u32 = 0;
    while let Err(err) = store.insert(buffer).await {
        failures += 1;
        let wait = Duration::from_millis(200)
            .saturating_mul(2u32.saturating_pow(failures.min(6)))
            .min(Duration::from_secs(10));
        tracing::warn!(error = %err, facts = buffer.len(), failures, "fact insert failed, will retry");
        tokio::time::sleep(wait).await;
    }
    let mut touched: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for stored in buffer.iter() {
        touched
            .entry(stored.fact.tenant_id.as_str())
            .or_default()
            .insert(stored.fact.day.as_str());
    }
    for (tenant, days) in touched {
        let message = FactsChanged {
            days: days.into_iter().map(str::to_owned).collect(),
        };
        if let Ok(bytes) = serde_json::to_vec(&message) {
            // Best effort: a tile that misses it updates with the next change.
            if let Err(err) = cache.publish(&facts_channel(prefix, tenant), &bytes).await {
                tracing::warn!(error = %err, "facts announcement not published");
            }
        }
    }
    buffer.clear();
}
