//! Batched fact writes: the consumer hands each event's facts to a [`FactWriter`], and one task
//! inserts them about once per second (or as soon as `max_rows` wait), as ClickHouse's
//! maintainers advise (many small inserts end in TOO_MANY_PARTS). A failed insert keeps its
//! batch and is tried again after a backoff; a full batch that cannot be stored stops the
//! writer taking more (the channel fills and the consumer waits: back-pressure), so nothing is
//! dropped and memory stays bounded.
//!
//! One writer task per process and store: every insert of the consumer (and of the replayer)
//! goes through it, one batch at a time. The ClickHouse store's time-entry rollup relies on
//! that order within the process (its look-up of the stored versions and its rows are one
//! turn, see `ClickHouseStore`); across replicas, one entity's events come from one partition.
//!
//! After each insert the writer announces, per tenant, the days its facts touched on the
//! cache's pub/sub channel [`facts_channel`] (every replica's live tiles listen).
//!
//! The consumer acknowledges nothing before it is stored: its positions are settled and
//! committed only after [`FactWriter::flush`] stored every fact handed so far (the inbox
//! [defers its writes](erp_kit::events::InboxStore::defers_writes)). A crash between handling
//! and storing loses nothing: the events are delivered again, and their facts collapse into
//! whatever was stored already.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

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

/// What the writer task is asked.
enum Command {
    /// One event's facts, to store with the next batch.
    Facts(Vec<StoredFact>),
    /// Store every fact handed so far now; answers whether they are stored.
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Hands facts to the writer task. Cloned freely.
#[derive(Clone)]
pub struct FactWriter {
    tx: mpsc::Sender<Command>,
}

/// The writer task; dropping every [`FactWriter`] flushes what waits and ends it.
pub struct WriterTask {
    task: Option<tokio::task::JoinHandle<()>>,
    counts: Arc<WriterCounts>,
}

/// What the writer counts (operators' logs, tests).
#[derive(Default)]
struct WriterCounts {
    /// Inserts that failed (each batch was tried again).
    failed_inserts: AtomicU64,
    /// [`FactWriter::flush`] calls answered "not stored" (the consumer held its positions).
    failed_flushes: AtomicU64,
}

impl WriterTask {
    /// Waits until the facts handed so far are stored (the writers must be dropped first).
    pub async fn finish(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops at once, as a crash would: the facts not stored yet are lost (their events were
    /// not acknowledged, so they come again).
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Inserts that failed so far (each was tried again later).
    pub fn failed_inserts(&self) -> u64 {
        self.counts.failed_inserts.load(Ordering::Relaxed)
    }

    /// Flushes answered "not stored" so far: each time the consumer was about to commit its
    /// positions and kept them, since its events' facts were not stored.
    pub fn failed_flushes(&self) -> u64 {
        self.counts.failed_flushes.load(Ordering::Relaxed)
    }
}

impl Drop for WriterTask {
    fn drop(&mut self) {
        // Not aborted: it ends by itself once the writers are gone, after its last flush.
        self.task.take();
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
        let counts = Arc::new(WriterCounts::default());
        let batch = Batch {
            store,
            cache,
            prefix,
            facts: Vec::new(),
            failures: 0,
            counts: counts.clone(),
        };
        let task = tokio::spawn(run(batch, config, rx));
        (
            Self { tx },
            WriterTask {
                task: Some(task),
                counts,
            },
        )
    }

    /// Queues one event's facts; waits while the writer is behind. Err: the writer is gone.
    pub async fn push(&self, facts: Vec<Fact>) -> Result<(), String> {
        let ingested_ms = Utc::now().timestamp_millis();
        let stored = facts
            .into_iter()
            .map(|fact| StoredFact { fact, ingested_ms })
            .collect();
        self.tx
            .send(Command::Facts(stored))
            .await
            .map_err(|_| "the fact writer stopped".to_owned())
    }

    /// Stores every fact queued so far (one insert attempt); Err: they are not stored yet.
    pub async fn flush(&self) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Flush(reply))
            .await
            .map_err(|_| "the fact writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the fact writer stopped".to_owned())?
    }
}

/// The facts waiting to be inserted, and where they go.
struct Batch {
    store: SharedFacts,
    cache: SharedCache,
    prefix: String,
    facts: Vec<StoredFact>,
    /// Consecutive failed inserts (the backoff grows with them).
    failures: u32,
    counts: Arc<WriterCounts>,
}

impl Batch {
    fn backoff(&self) -> Duration {
        Duration::from_millis(200)
            .saturating_mul(2u32.saturating_pow(self.failures.min(6)))
            .min(Duration::from_secs(10))
    }

    /// One insert of the waiting facts, then their announcement; on failure they wait on.
    async fn store(&mut self) -> Result<(), String> {
        if self.facts.is_empty() {
            return Ok(());
        }
        if let Err(err) = self.store.insert(&self.facts).await {
            self.failures += 1;
            self.counts.failed_inserts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, facts = self.facts.len(), failures = self.failures, "fact insert failed, will retry");
            return Err(format!("facts not stored: {err}"));
        }
        self.failures = 0;
        self.announce().await;
        self.facts.clear();
        Ok(())
    }

    /// Tells the live tiles which days of which tenants the stored facts touched.
    async fn announce(&self) {
        let mut touched: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for stored in &self.facts {
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
                if let Err(err) = self
                    .cache
                    .publish(&facts_channel(&self.prefix, tenant), &bytes)
                    .await
                {
                    tracing::warn!(error = %err, "facts announcement not published");
                }
            }
        }
    }
}

async fn run(mut batch: Batch, config: WriterConfig, mut rx: mpsc::Receiver<Command>) {
    let mut deadline = tokio::time::Instant::now() + config.interval;
    loop {
        // A full batch is stored before more is taken: the channel fills, the consumer waits.
        while batch.facts.len() >= config.max_rows {
            if batch.store().await.is_err() {
                tokio::time::sleep(batch.backoff()).await;
            }
        }
        let command = if batch.facts.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                command = rx.recv() => command,
                _ = tokio::time::sleep_until(deadline) => {
                    if batch.store().await.is_err() {
                        deadline = tokio::time::Instant::now() + batch.backoff();
                    }
                    continue;
                }
            }
        };
        match command {
            Some(Command::Facts(facts)) => {
                if batch.facts.is_empty() {
                    deadline = tokio::time::Instant::now() + config.interval;
                }
                batch.facts.extend(facts);
            }
            Some(Command::Flush(reply)) => {
                let stored = batch.store().await;
                if stored.is_err() {
                    batch.counts.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    deadline = tokio::time::Instant::now() + batch.backoff();
                }
                let _ = reply.send(stored);
            }
            None => {
                // Every writer is gone (a graceful stop): store what is left, however long it
                // takes.
                while batch.store().await.is_err() {
                    tokio::time::sleep(batch.backoff()).await;
                }
                return;
            }
        }
    }
}
