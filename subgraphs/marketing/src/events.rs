//! The events this subgraph publishes on `erp.marketing.events` through its outbox. Every
//! envelope carries the kit's `id` (UUIDv7), `tenant_id`, `occurred_at`, `schema_version` (1)
//! and `aggregate_id`. No personal data travels in them: contacts are named by id (CRM links
//! its person through `crm_person_id`), never by address.

use serde::{Deserialize, Serialize};

pub const DOMAIN: &str = "marketing";

pub const CONTACT_CREATED: &str = "contact.created";
/// The contact unsubscribed (one-click, or a withdrawal recorded by staff): CRM flags the person.
pub const CONTACT_UNSUBSCRIBED: &str = "contact.unsubscribed";
/// The contact confirmed their (re-)subscription by double opt-in.
pub const CONTACT_SUBSCRIBED: &str = "contact.subscribed";
/// The contact's personal data was erased (GDPR); only a salted hash stays, suppressed.
pub const CONTACT_ERASED: &str = "contact.erased";
pub const CAMPAIGN_STATUS_CHANGED: &str = "campaign.status_changed";
/// A message was handed to the relay (feeds the funnel in analytics).
pub const MESSAGE_SENT: &str = "message.sent";

/// Payload of the `contact.*` events, aggregate: the contact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactChanged {
    pub contact_id: String,
    pub crm_person_id: Option<String>,
    pub status: String,
}

/// Payload of `campaign.status_changed`, aggregate: the campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignStatusChanged {
    pub campaign_id: String,
    pub from: String,
    pub to: String,
}

/// Payload of `message.sent`, aggregate: the message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageSent {
    pub message_id: String,
    pub campaign_id: String,
    pub contact_id: String,
}
