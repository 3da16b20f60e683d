//! The events this subgraph publishes on `erp.marketing.events` through its outbox. Every
//! envelope carries the kit's `id` (UUIDv7), `tenant_id`, `occurred_at`, `schema_version` (1)
//! and `aggregate_id`. No personal data travels in them: contacts are named by id (CRM links
//! its person through `crm_person_id`), never by address, with one exception:
//! `form.submitted` carries what the person typed into a web form, because its consumer (CRM)
//! files it as a lead and has no other way to learn it.

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
/// An A/B test's winner was chosen (by its rate after the wait, or by hand); the rest of the
/// audience is sent the winner ([`CampaignWinnerChosen`]).
pub const CAMPAIGN_WINNER_CHOSEN: &str = "campaign.winner_chosen";
/// A message was handed to the relay (feeds the funnel in analytics).
pub const MESSAGE_SENT: &str = "message.sent";
/// The provider reported a message bounced (`class` hard or soft) ([`MessageReported`]).
pub const MESSAGE_BOUNCED: &str = "message.bounced";
/// The recipient reported a message as spam ([`MessageReported`]): the complaint rate.
pub const MESSAGE_COMPLAINED: &str = "message.complained";
/// A website's form submission was accepted: CRM creates a lead (or adds it to the open lead
/// of the same address) ([`FormSubmitted`]).
pub const FORM_SUBMITTED: &str = "form.submitted";
/// A social post was scheduled (or rescheduled by a retry) ([`SocialPostChanged`]).
pub const SOCIAL_POST_SCHEDULED: &str = "social_post.scheduled";
/// A social post's channel published it ([`SocialPostChanged`], `external_id` set).
pub const SOCIAL_POST_PUBLISHED: &str = "social_post.published";
/// A social post's channel refused it, or its publisher vanished mid-hand-off
/// ([`SocialPostChanged`], `failure_reason` set).
pub const SOCIAL_POST_FAILED: &str = "social_post.failed";

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

/// Payload of `campaign.winner_chosen`, aggregate: the campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignWinnerChosen {
    pub campaign_id: String,
    pub variant_id: String,
    /// `A`, `B`, ...
    pub label: String,
    /// `open_rate`, `click_rate` or `manual`.
    pub chosen_by: String,
    /// How many held messages were queued with the winner.
    pub released: i64,
}

/// Payload of `message.sent`, aggregate: the message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageSent {
    pub message_id: String,
    pub campaign_id: String,
    pub contact_id: String,
}

/// Payload of `message.bounced` and `message.complained`, aggregate: the message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageReported {
    pub message_id: String,
    pub campaign_id: String,
    pub contact_id: String,
    /// `hard`, `soft` or `complaint`.
    pub class: String,
}

/// Payload of `form.submitted` (schema version 1), aggregate: the submission. The values as
/// submitted (trimmed; the address normalised to lower case); absent fields are `null`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormSubmitted {
    pub submission_id: String,
    pub form_id: String,
    pub form_name: String,
    /// The marketing contact the submission was filed under.
    pub contact_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// As typed (marketing upper-cases it on the contact).
    pub country: Option<String>,
    pub message: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// Whether the consent to marketing e-mail was ticked (logged in marketing).
    pub consent_granted: bool,
    /// The version of the consent wording shown, when consent was granted.
    pub consent_wording_version: Option<String>,
}

/// Payload of the `social_post.*` events, aggregate: the post.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SocialPostChanged {
    pub post_id: String,
    pub account_id: String,
    /// `x`, `linkedin`, `facebook`, `instagram` or `mastodon`.
    pub channel: String,
    pub campaign_id: Option<String>,
    pub status: String,
    /// When it is due (Unix milliseconds), for `social_post.scheduled`.
    pub scheduled_at: Option<i64>,
    /// The network's id of the post, for `social_post.published`.
    pub external_id: Option<String>,
    /// Why it failed, for `social_post.failed`.
    pub failure_reason: Option<String>,
}
