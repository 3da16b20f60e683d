//! Domain events: the envelope, the bus they travel on, the transactional outbox that makes
//! "the write happened" and "its event will be published" one atomic fact, and the consumers
//! that act on other domains' events exactly once (an inbox beside the effect).
//!
//! Producing: write the change and [`Outbox::enqueue`] its envelope in one transaction; the
//! domain's [`OutboxRelay`] publishes it to `erp.<domain>.events`.
//!
//! Consuming (the recipe is in the [`consumer`] module's docs): a [`Consumer`] reads topics
//! for a consumer group (Kafka in production, the in-process log buses embedded), runs an
//! [`EventHandler`] inside the inbox store's atomic write (for a relational domain the
//! [`SqlInbox`]: a [`crate::db::begin_write`] transaction) and records the event in the
//! domain's `<domain>_inbox` table in that same write, so a redelivered event is skipped.
//! Failing events are retried with exponential backoff and then kept in
//! `<domain>_dead_letters`.

pub mod consumer;
#[cfg(test)]
mod consumer_tests;
mod document;
mod durable;
pub mod inbox;
mod kafka;
mod log;
mod memory;
mod outbox;

pub use consumer::{
    Consumer, ConsumerConfig, ConsumerHandle, ConsumerMetrics, ConsumerOptions, ConsumerStats,
    EventHandler, HandlerError, LagReader,
};
pub use document::{DocumentInbox, DocumentInboxStore, DocumentWrite, OutboxDocument};
pub use durable::{DurableBus, SqliteLog, DEFAULT_RETENTION};
pub use inbox::{DeadLetter, FailureKind, InboxError, InboxStore, SqlInbox};
pub use kafka::{KafkaBus, KafkaConfig};
pub use log::{EventLog, LogBus, LogRecord, Positions};
pub use memory::{InProcessBus, MemoryLog, MEMORY_LOG_CAPACITY};
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

    /// An event about `aggregate_id` by `actor`, as a use case records it: a payload that does
    /// not serialise is an INTERNAL error of the caller's request.
    pub fn by_actor(
        tenant: &TenantId,
        event_type: &str,
        aggregate_id: &str,
        actor: &str,
        payload: impl Serialize,
    ) -> Result<Self, crate::ApiError> {
        Ok(Self::new(tenant, event_type, aggregate_id, payload)
            .map_err(crate::ApiError::internal)?
            .with_actor(actor))
    }

    /// The payload as the consumer's type of it. A payload that does not fit is an event this
    /// consumer can never handle: as a [`HandlerError`] it goes straight to the dead letters.
    pub fn decode_payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_value(self.payload.clone()).map_err(|err| {
            HandlerError::rejected(format!(
                "the payload of {} v{} does not decode: {err}",
                self.event_type, self.schema_version
            ))
        })
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
    #[error("this bus ({0}) keeps no positions for consumer groups")]
    NoConsumerGroups(&'static str),
}

/// One message as a consumer receives it, not yet decoded (an undecodable one is dead-lettered
/// by the consumer, never dropped).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    /// The Kafka partition; 0 on the in-process log buses (one log per topic).
    pub partition: i32,
    /// The message's offset in its partition (the log buses: its sequence number).
    pub offset: i64,
    /// `tenant:aggregate`, when the producer set one.
    pub key: Option<String>,
    pub payload: Vec<u8>,
}

impl Delivery {
    /// Identifies the message itself (not its content): `topic/partition@offset`.
    pub fn position(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// How far a consumer group is behind on one partition: messages after its committed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub lag: i64,
}

/// A consumer group's subscription to topics, with positions the consumer moves itself: a
/// message counts as consumed once [`Subscription::settle`] is called for it (after its effect
/// committed), and settled positions become the group's once [`Subscription::commit`] writes
/// them. Whatever was not committed is delivered again after a restart or a rebalance (the
/// consumer's inbox skips what it already did).
#[async_trait::async_trait]
pub trait Subscription: Send + Sync {
    /// The next message (waits for one). Cancel-safe: a cancelled call loses nothing.
    async fn next(&mut self) -> Result<Delivery, BusError>;

    /// Marks `delivery` done; the group's position may move past it at the next commit.
    fn settle(&mut self, delivery: &Delivery);

    /// Writes the settled positions as the group's committed ones.
    async fn commit(&mut self) -> Result<(), BusError>;

    /// The group's lag per partition, as far as the bus knows it.
    async fn lag(&self) -> Vec<PartitionLag>;

    /// Gives up the settled positions not yet committed, as a crash would: nothing more is
    /// committed, not even while the subscription closes (a Kafka consumer leaving its group
    /// commits its stored offsets otherwise).
    fn abandon(&mut self) {}
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

    /// A subscription of consumer group `group` to `topics` with positions it commits itself
    /// (see [`Subscription`]); a group new to a topic starts at its oldest retained message.
    async fn consume(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let _ = (topics, group);
        Err(BusError::NoConsumerGroups(self.kind()))
    }

    /// A short name for logs and metrics (`kafka`, `in-process`).
    fn kind(&self) -> &'static str;
}

pub type SharedBus = Arc<dyn EventBus>;
