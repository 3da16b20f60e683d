//! The outbox of a document store (MongoDB, or an embedded store of documents): one document
//! per event, written in the same transaction (or journal record) as the change it reports,
//! and published by the kit's relay through the store's `OutboxSource`. PMO and any other
//! document domain store this one shape (`<domain>_outbox`).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{topic_for, DeadLetter, EventEnvelope, InboxError, InboxStore};
use crate::ApiError;

/// The document stored for an event in a document store's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxDocument {
    /// The envelope id (UUIDv7: time-ordered, so `_id` order is publish order).
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub topic: String,
    pub event_type: String,
    /// The envelope as JSON, published as it is.
    pub envelope: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

impl OutboxDocument {
    /// The pending document of `event`, for the topic of `domain` (`erp.<domain>.events`).
    pub fn new(domain: &str, event: &EventEnvelope) -> Result<Self, ApiError> {
        Ok(Self {
            id: event.id.to_string(),
            tenant_id: event.tenant_id.clone(),
            topic: topic_for(domain),
            event_type: event.event_type.clone(),
            envelope: serde_json::to_string(event).map_err(ApiError::internal)?,
            created_at: Utc::now().timestamp_millis(),
            published_at: None,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        })
    }
}

/// The inbox of a document store: what a consumer group handled, recorded in the same atomic
/// write (MongoDB transaction, embedded journal record) as the effect of handling it.
///
/// A document store has no open transaction to lend a handler the way a SQL inbox lends its
/// `WriteTransaction`, so the handler leaves its effect in a [`DocumentWrite`] and the store
/// writes that effect and the inbox record together when the consumer commits
/// ([`DocumentInboxStore::write_handled`]). [`DocumentInbox`] adapts such a store to the
/// consumer's [`super::InboxStore`].
#[async_trait::async_trait]
pub trait DocumentInboxStore: Send + Sync + 'static {
    /// What a handler leaves for the store to write with the record.
    type Effect: Send;

    /// Whether `group` already handled `event` (or dead-lettered it).
    async fn handled(&self, group: &str, event: &EventEnvelope) -> Result<bool, InboxError>;

    /// Records `event` as handled by `group` and writes `effect`, in ONE atomic write; false,
    /// and nothing written, when the record exists already (a concurrent delivery won).
    async fn write_handled(
        &self,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
        effect: Option<Self::Effect>,
    ) -> Result<bool, InboxError>;

    /// Keeps `letter`; false when the group has a dead letter with its key already.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError>;
}

/// The write a handler of a document store's consumer fills: at most one effect, written with
/// the inbox record at commit.
pub struct DocumentWrite<E> {
    effect: Option<E>,
    record: Option<(String, String, EventEnvelope)>,
}

impl<E> DocumentWrite<E> {
    /// The effect of handling the event (replaces an earlier one of this write).
    pub fn set_effect(&mut self, effect: E) {
        self.effect = Some(effect);
    }

    /// The effect set so far.
    pub fn effect(&self) -> Option<&E> {
        self.effect.as_ref()
    }
}

/// A [`DocumentInboxStore`] as the consumer's [`super::InboxStore`].
#[derive(Clone)]
pub struct DocumentInbox<S>(pub S);

#[async_trait::async_trait]
impl<S: DocumentInboxStore> InboxStore for DocumentInbox<S> {
    type Write = DocumentWrite<S::Effect>;

    async fn begin(&self) -> Result<Self::Write, InboxError> {
        Ok(DocumentWrite {
            effect: None,
            record: None,
        })
    }

    async fn seen(
        &self,
        _write: &mut Self::Write,
        group: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        self.0.handled(group, event).await
    }

    /// Deferred to the commit, where the store refuses a second record of the same key (the
    /// effect is then not written either).
    async fn record(
        &self,
        write: &mut Self::Write,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        write.record = Some((group.to_owned(), topic.to_owned(), event.clone()));
        Ok(true)
    }

    async fn commit(&self, write: Self::Write) -> Result<(), InboxError> {
        let Some((group, topic, event)) = write.record else {
            // Nothing recorded: nothing to write (the consumer records every handled event).
            return Ok(());
        };
        self.0
            .write_handled(&group, &topic, &event, write.effect)
            .await
            .map(|_| ())
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        self.0.dead_letter(letter).await
    }
}
