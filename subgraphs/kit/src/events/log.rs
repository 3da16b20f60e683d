//! The buses of the one-process mode: an append-only log of every published event with a
//! committed position per consumer group and topic, so that a consumer receives what was
//! published while it was not running, as a Kafka consumer group does. The log lives in memory
//! ([`super::InProcessBus`]: within one process's life) or in a SQLite file
//! ([`super::DurableBus`]: across restarts); the bus and its subscriptions are written once,
//! over [`EventLog`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::watch;

use super::{BusError, Delivery, EventBus, EventEnvelope, PartitionLag, Subscription};

/// One published event in a log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Ascending in publish order across the whole log, from 1.
    pub seq: i64,
    pub topic: String,
    /// `tenant:aggregate`.
    pub key: String,
    /// The envelope as JSON.
    pub payload: Vec<u8>,
}

/// Per topic, the sequence number of the last record consumed (0: none yet).
pub type Positions = BTreeMap<String, i64>;

/// Where a log bus keeps its events and its groups' positions.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// The bus's [`EventBus::kind`].
    const KIND: &'static str;

    /// Appends one event; returns its sequence number once it is kept.
    async fn append(&self, topic: &str, key: &str, payload: &[u8]) -> Result<i64, BusError>;

    /// Up to `limit` records of the topics of `after`, each after its topic's position, oldest
    /// first.
    async fn read(&self, after: &Positions, limit: u64) -> Result<Vec<LogRecord>, BusError>;

    /// The committed positions of `group` on `topics` (0 where it has none).
    async fn positions(&self, group: &str, topics: &[String]) -> Result<Positions, BusError>;

    /// Records `positions` as the committed ones of `group`.
    async fn commit(&self, group: &str, positions: &Positions) -> Result<(), BusError>;

    /// Per topic, how many records are after its position.
    async fn backlog(&self, after: &Positions) -> Result<Positions, BusError>;

    /// Changes whenever a record is appended (its value: the last sequence number).
    fn appended(&self) -> watch::Receiver<i64>;
}

/// How many records a subscription reads at a time.
const READ_BATCH: u64 = 256;

/// A bus over an [`EventLog`]: publishing appends, consumer groups read from their positions.
pub struct LogBus<L: EventLog> {
    log: Arc<L>,
}

impl<L: EventLog> LogBus<L> {
    pub fn over(log: L) -> Self {
        Self { log: Arc::new(log) }
    }

    /// The log (for tests and diagnostics).
    pub fn log(&self) -> &L {
        &self.log
    }

    /// Appends raw bytes as if a producer had published them (tests of consumers that must
    /// survive a message that is not an event envelope).
    pub async fn publish_raw(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        self.log.append(topic, key, payload).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl<L: EventLog> EventBus for LogBus<L> {
    async fn publish(&self, topic: &str, event: &EventEnvelope) -> Result<(), BusError> {
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Encode(e.to_string()))?;
        let key = format!("{}:{}", event.tenant_id, event.aggregate_id);
        self.log.append(topic, &key, &payload).await.map(|_| ())
    }

    /// The group's events from its position, each committed as it is handed over.
    async fn subscribe(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<BoxStream<'static, EventEnvelope>, BusError> {
        let subscription = LogSubscription::open(self.log.clone(), topics, group).await?;
        let stream = futures::stream::unfold(subscription, |mut subscription| async move {
            loop {
                let delivery = match subscription.next().await {
                    Ok(delivery) => delivery,
                    // The log's sender lives as long as the bus; a failed read is retried.
                    Err(err) => {
                        tracing::warn!(error = %err, "event log read failed");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                };
                subscription.settle(&delivery);
                if let Err(err) = subscription.commit().await {
                    tracing::warn!(error = %err, "event log position not committed");
                }
                match serde_json::from_slice::<EventEnvelope>(&delivery.payload) {
                    Ok(event) => return Some((event, subscription)),
                    Err(_) => tracing::warn!(
                        position = %delivery.position(),
                        "skipping a message that is not an event envelope"
                    ),
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn consume(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(
            LogSubscription::open(self.log.clone(), topics, group).await?,
        ))
    }

    fn kind(&self) -> &'static str {
        L::KIND
    }
}

/// A group's subscription to a log: reads ahead in batches, commits what was settled.
struct LogSubscription<L: EventLog> {
    log: Arc<L>,
    group: String,
    /// What the log records as the group's positions.
    committed: Positions,
    /// Past the last settled delivery.
    settled: Positions,
    /// Past the last record read into `buffer`.
    read: Positions,
    buffer: VecDeque<LogRecord>,
    appended: watch::Receiver<i64>,
}

impl<L: EventLog> LogSubscription<L> {
    async fn open(log: Arc<L>, topics: &[&str], group: &str) -> Result<Self, BusError> {
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let committed = log.positions(group, &topics).await?;
        let appended = log.appended();
        Ok(Self {
            group: group.to_owned(),
            settled: committed.clone(),
            read: committed.clone(),
            committed,
            buffer: VecDeque::new(),
            appended,
            log,
        })
    }
}

#[async_trait::async_trait]
impl<L: EventLog> Subscription for LogSubscription<L> {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                return Ok(Delivery {
                    topic: record.topic,
                    partition: 0,
                    offset: record.seq,
                    key: Some(record.key),
                    payload: record.payload,
                });
            }
            // Seen before reading: an append during the read wakes the wait below.
            self.appended.borrow_and_update();
            // Cancel-safe: nothing changes before the read returns.
            let records = self.log.read(&self.read, READ_BATCH).await?;
            if records.is_empty() {
                self.appended
                    .changed()
                    .await
                    .map_err(|_| BusError::Unavailable("the event log was closed".into()))?;
                continue;
            }
            for record in records {
                if let Some(position) = self.read.get_mut(&record.topic) {
                    *position = (*position).max(record.seq);
                }
                self.buffer.push_back(record);
            }
        }
    }

    fn settle(&mut self, delivery: &Delivery) {
        if let Some(position) = self.settled.get_mut(&delivery.topic) {
            *position = (*position).max(delivery.offset);
        }
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        if self.settled == self.committed {
            return Ok(());
        }
        self.log.commit(&self.group, &self.settled).await?;
        self.committed = self.settled.clone();
        Ok(())
    }

    async fn lag(&self) -> Vec<PartitionLag> {
        match self.log.backlog(&self.committed).await {
            Ok(backlog) => backlog
                .into_iter()
                .map(|(topic, lag)| PartitionLag {
                    topic,
                    partition: 0,
                    lag,
                })
                .collect(),
            Err(err) => {
                tracing::warn!(error = %err, group = %self.group, "event log backlog unknown");
                Vec::new()
            }
        }
    }
}
