//! Domain events: the envelope, the bus they travel on, and the transactional outbox that makes
//! "the write happened" and "its event will be published" one atomic fact.

mod kafka;
mod memory;
mod outbox;

pub use kafka::{KafkaBus, KafkaConfig};
pub use memory::InProcessBus;
pub use outbox::{
    ClaimedBatch, Outbox, OutboxRelay, OutboxSource, PassOutcome, PendingEvent, RelayConfig,
    RelayHandle, SourceError, SqlBatch, SqlOutbox, Wake, PARKED,
};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tenant::TenantId;

/// One domain event as it travels on the bus. Consumers deduplicate on `id` (delivery is
/// at-least-once) and branch on `event_type` + `schema_version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventEnvelope {
    /// Unique, time-ordered (UUIDv7).
    pub id: Uuid,
    /// `employee.hired`, `leave.approved`, `timer.started`, ...
    pub event_type: String,
    /// The version of `payload`'s shape for this `event_type`.
    pub schema_version: u16,
    pub tenant_id: String,
    /// The entity the event is about; also the partition key, so one entity's events stay ordered.
    pub aggregate_id: String,
    pub occurred_at: DateTime<Utc>,
    /// Who caused it (a user id), when a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub payload: serde_json::Value,
}

impl EventEnvelope {
    pub fn new(
        tenant: &TenantId,
        event_type: impl Into<String>,
        aggregate_id: impl Into<String>,
        payload: impl Serialize,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            tenant_id: tenant.as_str().to_owned(),
            aggregate_id: aggregate_id.into(),
            occurred_at: Utc::now(),
            actor: None,
            payload: serde_json::to_value(payload)?,
        })
    }

    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }
}

/// The Kafka topic of a domain's events.
pub fn topic_for(domain: &str) -> String {
    format!("erp.{domain}.events")
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("the event could not be encoded: {0}")]
    Encode(String),
}

/// Publishes envelopes to topics and lets consumers (in a consumer group) read them.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Returns once the broker has acknowledged the event.
    async fn publish(&self, topic: &str, event: &EventEnvelope) -> Result<(), BusError>;

    /// A stream of the events on `topics` for consumer group `group` (each group sees each event).
    async fn subscribe(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<BoxStream<'static, EventEnvelope>, BusError>;

    /// A short name for logs and metrics (`kafka`, `in-process`).
    fn kind(&self) -> &'static str;
}

pub type SharedBus = Arc<dyn EventBus>;
