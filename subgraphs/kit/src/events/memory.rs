//! The in-process bus of the embedded mode: one process, no broker.

use std::collections::HashMap;

use futures::stream::BoxStream;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{BusError, EventBus, EventEnvelope};

const CAPACITY: usize = 4096;

/// Topics are broadcast channels; every subscriber sees every event published after it subscribed.
#[derive(Default)]
pub struct InProcessBus {
    topics: Mutex<HashMap<String, broadcast::Sender<EventEnvelope>>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn sender(&self, topic: &str) -> broadcast::Sender<EventEnvelope> {
        self.topics
            .lock()
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .clone()
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, topic: &str, event: &EventEnvelope) -> Result<(), BusError> {
        // No subscriber is not an error: the event is simply not wanted by anybody yet.
        let _ = self.sender(topic).send(event.clone());
        Ok(())
    }

    async fn subscribe(
        &self,
        topics: &[&str],
        _group: &str,
    ) -> Result<BoxStream<'static, EventEnvelope>, BusError> {
        let streams = topics
            .iter()
            .map(|topic| BroadcastStream::new(self.sender(topic).subscribe()))
            .collect::<Vec<_>>();
        Ok(futures::stream::select_all(streams)
            .filter_map(|item| async move { item.ok() })
            .boxed())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}
