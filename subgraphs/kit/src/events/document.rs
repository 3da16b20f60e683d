//! The outbox of a document store (MongoDB, or an embedded store of documents): one document
//! per event, written in the same transaction (or journal record) as the change it reports,
//! and published by the kit's relay through the store's `OutboxSource`. PMO and any other
//! document domain store this one shape (`<domain>_outbox`).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{topic_for, EventEnvelope};
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
