//! What this subgraph consumes: every domain's events (topics `erp.<domain>.events`), through
//! the kit's durable consumer, into facts.
//!
//! The consumer's "inbox" is the facts themselves: each fact carries (tenant, kind, entity,
//! version, event id) and the store keeps the highest version per entity, so an event handled
//! twice (a redelivery, a replay of the whole topic) changes nothing. [`FactInbox`] therefore
//! never skips an event: it turns the handler's facts into one batched write (the consumer
//! commits the events' positions only once the batch is stored), and keeps dead letters in the
//! store. An event whose payload breaks its contract is dead-lettered at once
//! (never a crash, never a stuck partition); a message that is not an envelope too (the kit).
//! A sealed part that does not open is retried first (the key service may be down) and
//! dead-lettered as `failed` after the consumer's attempts.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use erp_kit::crypto::KeyEncryptionKey;

use erp_kit::events::{
    DeadLetter, EventEnvelope, EventHandler, HandlerError, InboxError, InboxStore,
};

use crate::domain::facts::{self, Fact};
use crate::store::writer::FactWriter;
use crate::store::SharedFacts;

pub use crate::domain::DOMAIN;

/// The consumer group that turns events into facts.
pub const FACTS_GROUP: &str = "erp.analytics.facts";

/// The domains whose topics are read (each `erp.<domain>.events`).
pub const SOURCE_DOMAINS: &[&str] = &["employee", "pmo", "finance", "crm", "ops", "marketing"];

/// The topics of [`SOURCE_DOMAINS`].
pub fn source_topics() -> Vec<String> {
    SOURCE_DOMAINS
        .iter()
        .map(|domain| erp_kit::events::topic_for(domain))
        .collect()
}

/// Turns the events analytics reads into facts ([`facts::facts_of`]), opening what an event
/// seals for analytics (payroll's employer costs) with the key-encryption key the domains
/// share for values in transit.
pub struct FactsHandler {
    transit: Arc<dyn KeyEncryptionKey>,
}

impl FactsHandler {
    pub fn new(transit: Arc<dyn KeyEncryptionKey>) -> Self {
        Self { transit }
    }
}

#[async_trait::async_trait]
impl EventHandler<Vec<Fact>> for FactsHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        facts::ingests(&event.event_type)
    }

    async fn handle(
        &self,
        write: &mut Vec<Fact>,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let sealed = facts::sealed_part(event).map_err(|err| HandlerError::rejected(err.0))?;
        let opened = match sealed {
            Some(sealed) => Some(
                erp_kit::crypto::open_in_transit(
                    self.transit.as_ref(),
                    &sealed.context,
                    &sealed.sealed,
                )
                .await
                // Another key, another event's value or an altered one never opens here; but a
                // key service that is down (a KMS outage) fails the same way, and must not
                // cost the event: retried with backoff, dead-lettered only after the
                // consumer's attempts (`failed`, not `rejected`).
                .map_err(|_| {
                    HandlerError::failed(format!(
                        "{}: `sealed_for_analytics` does not open with this service's key \
                         (sealed under another key, for another event, or altered)",
                        event.event_type
                    ))
                })?,
            ),
            None => None,
        };
        let made = facts::facts_of(event, opened.as_ref().map(|text| text.as_str()))
            .map_err(|err| HandlerError::rejected(err.0))?;
        write.extend(made);
        Ok(())
    }
}

/// The consumer's store: facts go to the batched writer, dead letters to the fact store.
pub struct FactInbox {
    writer: FactWriter,
    store: SharedFacts,
}

impl FactInbox {
    pub fn new(writer: FactWriter, store: SharedFacts) -> Self {
        Self { writer, store }
    }
}

fn inbox_error(err: crate::store::StoreError) -> InboxError {
    if err.unavailable {
        InboxError::unavailable(err.message)
    } else {
        InboxError::failed(err.message)
    }
}

#[async_trait::async_trait]
impl InboxStore for FactInbox {
    type Write = Vec<Fact>;

    async fn begin(&self) -> Result<Vec<Fact>, InboxError> {
        Ok(Vec::new())
    }

    /// Never: a fact written again merges into itself (the versioned facts are the inbox).
    async fn seen(
        &self,
        _write: &mut Vec<Fact>,
        _group: &str,
        _event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        Ok(false)
    }

    async fn record(
        &self,
        _write: &mut Vec<Fact>,
        _group: &str,
        _topic: &str,
        _event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        Ok(true)
    }

    /// Hands the facts to the batched writer: stored at its next insert, which
    /// [`flush`](InboxStore::flush) forces before the events' positions are committed.
    async fn commit(&self, write: Vec<Fact>) -> Result<(), InboxError> {
        if write.is_empty() {
            return Ok(());
        }
        self.writer
            .push(write)
            .await
            .map_err(InboxError::unavailable)
    }

    fn defers_writes(&self) -> bool {
        true
    }

    async fn flush(&self) -> Result<(), InboxError> {
        self.writer.flush().await.map_err(InboxError::unavailable)
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        self.store.dead_letter(letter).await.map_err(inbox_error)
    }

    async fn purge_handled(&self, _before: DateTime<Utc>) -> Result<(), InboxError> {
        Ok(())
    }
}
