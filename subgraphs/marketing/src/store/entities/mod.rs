//! The sea-orm models of the marketing tables (migrations/src/marketing/).

pub mod behaviour;
pub mod campaign;
pub mod consent;
pub mod contact;
pub mod contact_topic;
pub mod conversion;
pub mod enrollment;
pub mod form;
pub mod form_origin;
pub mod form_submission;
pub mod journey;
pub mod journey_step;
pub mod list_member;
pub mod message;
pub mod opt_in;
pub mod segment;
pub mod segment_member;
pub mod segment_ref;
pub mod send_slot;
pub mod sending_limit;
pub mod suppression;
pub mod template;
pub mod topic;
pub mod transactional;
pub mod variant;
pub mod webhook_secret;
