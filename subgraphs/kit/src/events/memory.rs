//! The in-process bus of one process without a broker: its log is kept in memory, so a
//! consumer group started late still receives what was published earlier in the process's
//! life (up to [`MEMORY_LOG_CAPACITY`] events per topic), but nothing survives a restart. The
//! one-process mode (`erp-os all`) uses the [`super::DurableBus`] instead.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::log::{EventLog, LogBus, LogRecord, Positions};
use super::BusError;

/// The events kept per topic; older ones are dropped (a consumer that far behind skips them,
/// with a warning).
pub const MEMORY_LOG_CAPACITY: usize = 10_000;

/// The bus of tests and of a subgraph binary started without `KAFKA_BROKERS`.
pub type InProcessBus = LogBus<MemoryLog>;

impl LogBus<MemoryLog> {
    pub fn new() -> Self {
        Self::over(MemoryLog::new(MEMORY_LOG_CAPACITY))
    }
}

impl Default for LogBus<MemoryLog> {
    fn default() -> Self {
        Self::new()
    }
}

/// A log in memory.
pub struct MemoryLog {
    state: Mutex<MemoryState>,
    appended: watch::Sender<i64>,
    capacity: usize,
}

#[derive(Default)]
struct MemoryState {
    last_seq: i64,
    topics: HashMap<String, VecDeque<LogRecord>>,
    /// (group, topic) -> position.
    positions: HashMap<(String, String), i64>,
}

impl MemoryLog {
    /// A log keeping at most `capacity` events per topic.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(MemoryState::default()),
            appended: watch::channel(0).0,
            capacity: capacity.max(1),
        }
    }
}

/// The records of `records` after `position`, in order (records are in ascending `seq`).
fn after(records: &VecDeque<LogRecord>, position: i64) -> impl Iterator<Item = &LogRecord> {
    let start = records.partition_point(|record| record.seq <= position);
    records.range(start..)
}

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    const KIND: &'static str = "in-process";

    async fn append(&self, topic: &str, key: &str, payload: &[u8]) -> Result<i64, BusError> {
        let seq = {
            let mut state = self.state.lock();
            state.last_seq += 1;
            let seq = state.last_seq;
            let records = state.topics.entry(topic.to_owned()).or_default();
            if records.len() == self.capacity {
                if let Some(dropped) = records.pop_front() {
                    tracing::warn!(
                        topic,
                        seq = dropped.seq,
                        "in-process event log full: oldest event dropped"
                    );
                }
            }
            records.push_back(LogRecord {
                seq,
                topic: topic.to_owned(),
                key: key.to_owned(),
                payload: payload.to_vec(),
            });
            seq
        };
        self.appended.send_replace(seq);
        Ok(seq)
    }

    async fn read(&self, positions: &Positions, limit: u64) -> Result<Vec<LogRecord>, BusError> {
        let state = self.state.lock();
        let mut records: Vec<LogRecord> = positions
            .iter()
            .filter_map(|(topic, position)| {
                state
                    .topics
                    .get(topic)
                    .map(|records| after(records, *position))
            })
            .flat_map(|records| records.take(limit as usize).cloned())
            .collect();
        records.sort_by_key(|record| record.seq);
        records.truncate(limit as usize);
        Ok(records)
    }

    async fn positions(&self, group: &str, topics: &[String]) -> Result<Positions, BusError> {
        let state = self.state.lock();
        Ok(topics
            .iter()
            .map(|topic| {
                let position = state
                    .positions
                    .get(&(group.to_owned(), topic.clone()))
                    .copied()
                    .unwrap_or(0);
                (topic.clone(), position)
            })
            .collect())
    }

    async fn commit(&self, group: &str, positions: &Positions) -> Result<(), BusError> {
        let mut state = self.state.lock();
        for (topic, position) in positions {
            state
                .positions
                .insert((group.to_owned(), topic.clone()), *position);
        }
        Ok(())
    }

    async fn backlog(&self, positions: &Positions) -> Result<Positions, BusError> {
        let state = self.state.lock();
        Ok(positions
            .iter()
            .map(|(topic, position)| {
                let behind = state
                    .topics
                    .get(topic)
                    .map_or(0, |records| after(records, *position).count());
                (topic.clone(), behind as i64)
            })
            .collect())
    }

    fn appended(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }
}
