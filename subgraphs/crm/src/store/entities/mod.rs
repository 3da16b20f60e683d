//! The sea-orm models of the CRM's tables (migrations/src/crm/).

pub mod activity;
pub mod address;
pub mod assignment_rule;
pub mod audit;
pub mod client;
pub mod lead;
pub mod merge;
pub mod opportunity;
pub mod pipeline;
pub mod price_list;
pub mod price_list_item;
pub mod proposal;
pub mod proposal_section;
pub mod quote;
pub mod quote_line;
pub mod quote_version;
pub mod scoring_rule;
pub mod settings;
pub mod stage;
pub mod team_member;
