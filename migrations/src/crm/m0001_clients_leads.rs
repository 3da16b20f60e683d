//! Clients (companies and people) with addresses, leads with their activities, the duplicate
//! finder's name tokens, scoring and assignment rules, the audit trail, merges and the
//! tenant's CRM settings.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "crm_clients",
    "crm_addresses",
    "crm_leads",
    "crm_activities",
    "crm_name_tokens",
    "crm_scoring_rules",
    "crm_assignment_rules",
    "crm_audit",
    "crm_merges",
    "crm_settings",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "crm_clients",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        // `company` or `person`; a person may belong to a company client.
                        ("kind", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // The duplicate finder's keys (domain/matching.rs).
                        ("name_key", Text, NOT_NULL),
                        ("email", Text, NULL),
                        ("email_key", Text, NULL),
                        ("phone", Text, NULL),
                        ("phone_key", Text, NULL),
                        ("website", Text, NULL),
                        ("domain", Text, NULL),
                        ("tax_id", Text, NULL),
                        ("status", Text, NOT_NULL),
                        ("company_id", Text, NULL),
                        ("owner_id", Text, NULL),
                        // The key of an import's rows (a CRM the data came from).
                        ("external_id", Text, NULL),
                        // Set when merged into another client: kept, hidden, reversible.
                        ("merged_into_id", Text, NULL),
                        ("version", BigInt, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_addresses",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("client_id", Text, NOT_NULL),
                        ("kind", Text, NOT_NULL),
                        ("line1", Text, NOT_NULL),
                        ("line2", Text, NULL),
                        ("city", Text, NOT_NULL),
                        ("region", Text, NULL),
                        ("postal_code", Text, NULL),
                        // ISO 3166-1 alpha-2.
                        ("country", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_leads",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("person_name", Text, NOT_NULL),
                        ("company_name", Text, NULL),
                        ("title", Text, NULL),
                        ("name_key", Text, NOT_NULL),
                        ("email", Text, NULL),
                        ("email_key", Text, NULL),
                        ("phone", Text, NULL),
                        ("phone_key", Text, NULL),
                        ("website", Text, NULL),
                        ("domain", Text, NULL),
                        ("source", Text, NOT_NULL),
                        ("utm_source", Text, NULL),
                        ("utm_medium", Text, NULL),
                        ("utm_campaign", Text, NULL),
                        ("utm_term", Text, NULL),
                        ("utm_content", Text, NULL),
                        ("territory", Text, NULL),
                        ("owner_id", Text, NULL),
                        ("score", Int, NOT_NULL),
                        ("status", Text, NOT_NULL),
                        ("disqualify_reason", Text, NULL),
                        ("converted_client_id", Text, NULL),
                        ("converted_contact_id", Text, NULL),
                        ("converted_opportunity_id", Text, NULL),
                        ("converted_at", BigInt, NULL),
                        ("external_id", Text, NULL),
                        ("merged_into_id", Text, NULL),
                        ("version", BigInt, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_activities",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        // call, email, meeting, task, note
                        ("kind", Text, NOT_NULL),
                        ("subject", Text, NOT_NULL),
                        ("notes", LongText, NULL),
                        ("due_at", BigInt, NULL),
                        ("completed_at", BigInt, NULL),
                        ("lead_id", Text, NULL),
                        ("client_id", Text, NULL),
                        ("opportunity_id", Text, NULL),
                        ("owner_id", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                // The words of a record's name, for the duplicate finder's similar names:
                // candidates share a word, then their trigram similarity decides.
                table(
                    "crm_name_tokens",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("token", Text, NOT_NULL),
                        // `lead` or `client`
                        ("record_kind", Text, NOT_NULL),
                        ("record_id", Text, NOT_NULL),
                    ],
                    &["tenant_id", "token", "record_kind", "record_id"],
                ),
                table(
                    "crm_scoring_rules",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("criterion", Text, NOT_NULL),
                        ("value", Text, NULL),
                        ("points", Int, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_assignment_rules",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // round_robin, territory, capacity
                        ("strategy", Text, NOT_NULL),
                        ("territory", Text, NULL),
                        // JSON array of user ids, in turn order.
                        ("members", LongText, NOT_NULL),
                        ("capacity", Int, NULL),
                        ("priority", Int, NOT_NULL),
                        // Round robin: the member whose turn is next.
                        ("next_turn", BigInt, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_audit",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("entity_kind", Text, NOT_NULL),
                        ("entity_id", Text, NOT_NULL),
                        ("action", Text, NOT_NULL),
                        ("actor", Text, NOT_NULL),
                        ("at", BigInt, NOT_NULL),
                        // JSON: from/to states, stages, reasons.
                        ("detail", LongText, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_merges",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        // `client` or `lead`
                        ("record_kind", Text, NOT_NULL),
                        ("source_id", Text, NOT_NULL),
                        ("target_id", Text, NOT_NULL),
                        ("actor", Text, NOT_NULL),
                        ("at", BigInt, NOT_NULL),
                        // JSON: the ids re-parented per child table (what an undo moves back).
                        ("moved", LongText, NOT_NULL),
                        ("undone_at", BigInt, NULL),
                        ("undone_by", Text, NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_settings",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        // IANA time zone of the tenant's calendar (quote expiry).
                        ("time_zone", Text, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id"],
                ),
            ],
            vec![
                index("crm_clients", "tenant", &["tenant_id", "id"], false),
                index("crm_clients", "email", &["tenant_id", "email_key"], false),
                index("crm_clients", "phone", &["tenant_id", "phone_key"], false),
                index("crm_clients", "domain", &["tenant_id", "domain"], false),
                index("crm_clients", "name", &["tenant_id", "name_key"], false),
                index(
                    "crm_clients",
                    "owner",
                    &["tenant_id", "owner_id", "id"],
                    false,
                ),
                index(
                    "crm_clients",
                    "company",
                    &["tenant_id", "company_id"],
                    false,
                ),
                index(
                    "crm_clients",
                    "external",
                    &["tenant_id", "kind", "external_id"],
                    true,
                ),
                index(
                    "crm_addresses",
                    "client",
                    &["tenant_id", "client_id"],
                    false,
                ),
                index("crm_leads", "tenant", &["tenant_id", "id"], false),
                index("crm_leads", "email", &["tenant_id", "email_key"], false),
                index("crm_leads", "phone", &["tenant_id", "phone_key"], false),
                index("crm_leads", "domain", &["tenant_id", "domain"], false),
                index("crm_leads", "name", &["tenant_id", "name_key"], false),
                index(
                    "crm_leads",
                    "owner",
                    &["tenant_id", "owner_id", "status"],
                    false,
                ),
                index("crm_leads", "external", &["tenant_id", "external_id"], true),
                index("crm_activities", "lead", &["tenant_id", "lead_id"], false),
                index(
                    "crm_activities",
                    "client",
                    &["tenant_id", "client_id"],
                    false,
                ),
                index(
                    "crm_activities",
                    "opportunity",
                    &["tenant_id", "opportunity_id"],
                    false,
                ),
                index(
                    "crm_name_tokens",
                    "record",
                    &["tenant_id", "record_kind", "record_id"],
                    false,
                ),
                index("crm_scoring_rules", "tenant", &["tenant_id"], false),
                index(
                    "crm_assignment_rules",
                    "tenant",
                    &["tenant_id", "priority"],
                    false,
                ),
                index(
                    "crm_audit",
                    "entity",
                    &["tenant_id", "entity_kind", "entity_id", "at"],
                    false,
                ),
                index("crm_merges", "tenant", &["tenant_id", "id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
