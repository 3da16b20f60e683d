//! The marketing domain's schema: contacts with their consent records, topics and the
//! suppression list of salted address hashes; behaviour events; segments with their stored
//! membership and static lists; templates, campaigns and the message table that is both the
//! send queue (leases) and the once-per-(campaign, contact) send key (m0001); the outbox and
//! the kit's data keys (the per-tenant HMAC key of the address hashes and of the signed links);
//! web forms and their submissions (m0002); the provider's bounce and complaint reports on
//! each message (m0003); the consumer's inbox and the CRM leads each campaign brought, with
//! their conversion (m0004); double opt-in after forms, per-tenant webhook secrets and
//! sending limits (m0005); A/B tests of campaigns: their variants, the test share, the
//! winner (m0006); journeys, their enrolments (once per contact, leased like messages) and
//! each step's outcome (m0007); the origins allowed to post a tenant's forms from a script
//! (m0008); sending providers with a rate per second and per hour and a daily cap, the
//! provider of a campaign, the limit that deferred a message (m0009); social channel accounts,
//! posts (their own publishing queue: leases, hand-off, attempts) and the CRM leads each post
//! brought (m0010); when, by whom and why a channel account was disabled (m0011); the named SMTP
//! relay a sending provider goes through (m0012).
//!
//! Times are BIGINT Unix milliseconds, the same on PostgreSQL and SQLite. The column helpers are
//! the CRM migrations' (same conventions).

mod m0001_marketing;
mod m0002_forms;
mod m0003_mail_events;
mod m0004_conversions;
mod m0005_opt_in_secrets_throttle;
mod m0006_ab_variants;
mod m0007_journeys;
mod m0008_form_origins;
mod m0009_providers_journey_versions;
mod m0010_social_posts;
mod m0011_channel_account_disabled;
mod m0012_provider_relays;

use sea_orm_migration::prelude::*;

use crate::inbox::CreateInbox;
use crate::outbox::CreateOutbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migration_table_name() -> DynIden {
        Alias::new("marketing_migrations").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox {
                domain: "marketing",
                name: "m0000_marketing_outbox",
            }),
            Box::new(m0001_marketing::Migration),
            Box::new(m0002_forms::Migration),
            Box::new(m0003_mail_events::Migration),
            Box::new(CreateInbox {
                domain: "marketing",
                name: "m0004_marketing_inbox",
            }),
            Box::new(m0004_conversions::Migration),
            Box::new(m0005_opt_in_secrets_throttle::Migration),
            Box::new(m0006_ab_variants::Migration),
            Box::new(m0007_journeys::Migration),
            Box::new(m0008_form_origins::Migration),
            Box::new(m0009_providers_journey_versions::Migration),
            Box::new(m0010_social_posts::Migration),
            Box::new(m0011_channel_account_disabled::Migration),
            Box::new(m0012_provider_relays::Migration),
        ]
    }
}
