//! Every marketing table (one migration: the domain is new).

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "mkt_contacts",
    "mkt_consents",
    "mkt_opt_ins",
    "mkt_topics",
    "mkt_contact_topics",
    "mkt_suppressions",
    "mkt_behaviour",
    "mkt_segments",
    "mkt_segment_refs",
    "mkt_list_members",
    "mkt_segment_members",
    "mkt_templates",
    "mkt_campaigns",
    "mkt_messages",
    "mkt_transactional",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        crate::data_keys::create(manager, "marketing_data_keys").await?;
        create(
            manager,
            vec![
                table(
                    "mkt_contacts",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        // The CRM person this contact is (a CRM `Client` id of kind person).
                        ("crm_person_id", Text, NULL),
                        // The normalised address; NULL once erased.
                        ("email", Text, NULL),
                        // HMAC of the normalised address under the tenant's index key: what
                        // suppression is checked on across duplicate contacts. NULL once erased
                        // (the hash then lives on in mkt_suppressions only).
                        ("address_hash", Text, NULL),
                        ("first_name", Text, NULL),
                        ("last_name", Text, NULL),
                        ("country", Text, NULL),
                        // pending, subscribed, unsubscribed, erased
                        ("status", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                        ("erased_at", BigInt, NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_consents",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        ("purpose", Text, NOT_NULL),
                        ("lawful_basis", Text, NOT_NULL),
                        ("source", Text, NOT_NULL),
                        ("wording_version", Text, NOT_NULL),
                        // false: a withdrawal (an unsubscribe is logged as one)
                        ("granted", Bool, NOT_NULL),
                        // who recorded it: a staff user id, or `contact` for the contact's own act
                        ("actor", Text, NOT_NULL),
                        ("recorded_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_opt_ins",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        ("purpose", Text, NOT_NULL),
                        ("wording_version", Text, NOT_NULL),
                        ("source", Text, NOT_NULL),
                        ("requested_at", BigInt, NOT_NULL),
                        ("confirmed_at", BigInt, NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_topics",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("key", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "key"],
                ),
                table(
                    "mkt_contact_topics",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        ("topic", Text, NOT_NULL),
                        ("subscribed", Bool, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "contact_id", "topic"],
                ),
                table(
                    "mkt_suppressions",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("address_hash", Text, NOT_NULL),
                        // unsubscribed, erased, hard_bounce, complaint
                        ("reason", Text, NOT_NULL),
                        ("source", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "address_hash"],
                ),
                table(
                    "mkt_behaviour",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        // opened, clicked
                        ("kind", Text, NOT_NULL),
                        ("campaign_id", Text, NULL),
                        ("url", LongText, NULL),
                        ("at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_segments",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // dynamic (a filter tree) or static (a list)
                        ("kind", Text, NOT_NULL),
                        // the filter tree as JSON (dynamic segments)
                        ("filter", LongText, NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_segment_refs",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("segment_id", Text, NOT_NULL),
                        ("ref_segment_id", Text, NOT_NULL),
                    ],
                    &["tenant_id", "segment_id", "ref_segment_id"],
                ),
                table(
                    "mkt_list_members",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("segment_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        ("added_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "segment_id", "contact_id"],
                ),
                table(
                    "mkt_segment_members",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("segment_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                    ],
                    &["tenant_id", "segment_id", "contact_id"],
                ),
                table(
                    "mkt_templates",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // bulk or transactional
                        ("kind", Text, NOT_NULL),
                        ("subject", Text, NOT_NULL),
                        ("html", LongText, NOT_NULL),
                        ("text", LongText, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_campaigns",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("template_id", Text, NOT_NULL),
                        ("segment_id", Text, NOT_NULL),
                        // only contacts subscribed to this topic, when set
                        ("topic", Text, NULL),
                        // draft, scheduled, sending, paused, sent, cancelled
                        ("status", Text, NOT_NULL),
                        ("scheduled_at", BigInt, NULL),
                        ("started_at", BigInt, NULL),
                        ("finished_at", BigInt, NULL),
                        ("version", Int, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_messages",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("campaign_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        // queued, leased, handed_off, sent, skipped, failed
                        ("status", Text, NOT_NULL),
                        ("lease_until", BigInt, NULL),
                        ("leased_by", Text, NULL),
                        ("attempts", Int, NOT_NULL),
                        ("skip_reason", Text, NULL),
                        ("error", LongText, NULL),
                        ("queued_at", BigInt, NOT_NULL),
                        ("handed_off_at", BigInt, NULL),
                        ("sent_at", BigInt, NULL),
                        ("opened_at", BigInt, NULL),
                        ("clicked_at", BigInt, NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_transactional",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("template_id", Text, NOT_NULL),
                        ("address_hash", Text, NOT_NULL),
                        ("sent_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
            ],
            vec![
                index(
                    "mkt_contacts",
                    "hash",
                    &["tenant_id", "address_hash"],
                    false,
                ),
                index(
                    "mkt_contacts",
                    "crm",
                    &["tenant_id", "crm_person_id"],
                    false,
                ),
                index(
                    "mkt_consents",
                    "contact",
                    &["tenant_id", "contact_id"],
                    false,
                ),
                index(
                    "mkt_behaviour",
                    "contact",
                    &["tenant_id", "contact_id"],
                    false,
                ),
                index(
                    "mkt_segment_members",
                    "contact",
                    &["tenant_id", "contact_id"],
                    false,
                ),
                // The send key: at most one message per (campaign, contact), ever.
                index(
                    "mkt_messages",
                    "send_key",
                    &["tenant_id", "campaign_id", "contact_id"],
                    true,
                ),
                index("mkt_messages", "queue", &["status", "lease_until"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await?;
        drop(manager, &["marketing_data_keys"]).await
    }
}
