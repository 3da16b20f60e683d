//! Price lists, quotes with their versions and lines, proposals with their sections.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "crm_price_lists",
    "crm_price_list_items",
    "crm_quotes",
    "crm_quote_versions",
    "crm_quote_lines",
    "crm_proposals",
    "crm_proposal_sections",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "crm_price_lists",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("currency", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_price_list_items",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("price_list_id", Text, NOT_NULL),
                        ("code", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("unit_price_minor", BigInt, NOT_NULL),
                        // Basis points: 1900 = 19 %.
                        ("tax_rate_bp", Int, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_quotes",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("number", Text, NOT_NULL),
                        ("client_id", Text, NOT_NULL),
                        ("opportunity_id", Text, NULL),
                        ("price_list_id", Text, NULL),
                        ("owner_id", Text, NOT_NULL),
                        ("currency", Text, NOT_NULL),
                        // The newest version (the one a client can still act on).
                        ("current_version", Int, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_quote_versions",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("quote_id", Text, NOT_NULL),
                        ("version", Int, NOT_NULL),
                        // draft, sent, accepted, declined, superseded, converted (expired is
                        // a sent version past its valid-until day, computed on read).
                        ("status", Text, NOT_NULL),
                        ("valid_until", Date, NOT_NULL),
                        ("terms", LongText, NULL),
                        ("subtotal_minor", BigInt, NOT_NULL),
                        ("discount_minor", BigInt, NOT_NULL),
                        ("tax_minor", BigInt, NOT_NULL),
                        ("total_minor", BigInt, NOT_NULL),
                        // SHA-256 of the version as sent (what an acceptance binds).
                        ("content_hash", Text, NULL),
                        ("sent_at", BigInt, NULL),
                        ("decided_at", BigInt, NULL),
                        ("decided_by", Text, NULL),
                        ("decision_note", Text, NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_quote_lines",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("version_id", Text, NOT_NULL),
                        ("position", Int, NOT_NULL),
                        ("item_id", Text, NULL),
                        ("code", Text, NULL),
                        ("description", Text, NOT_NULL),
                        // Thousandths of a unit: 1500 = 1.5.
                        ("quantity_milli", BigInt, NOT_NULL),
                        ("unit_price_minor", BigInt, NOT_NULL),
                        ("discount_bp", Int, NOT_NULL),
                        ("tax_rate_bp", Int, NOT_NULL),
                        ("optional", Bool, NOT_NULL),
                        ("selected", Bool, NOT_NULL),
                        ("net_minor", BigInt, NOT_NULL),
                        ("discount_minor", BigInt, NOT_NULL),
                        ("tax_minor", BigInt, NOT_NULL),
                        ("total_minor", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_proposals",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("client_id", Text, NOT_NULL),
                        ("opportunity_id", Text, NULL),
                        ("owner_id", Text, NOT_NULL),
                        ("title", Text, NOT_NULL),
                        // draft, sent, accepted, rejected
                        ("status", Text, NOT_NULL),
                        ("content_hash", Text, NULL),
                        ("sent_at", BigInt, NULL),
                        ("decided_at", BigInt, NULL),
                        ("decided_by", Text, NULL),
                        ("decision_note", Text, NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_proposal_sections",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("proposal_id", Text, NOT_NULL),
                        ("position", Int, NOT_NULL),
                        ("title", Text, NOT_NULL),
                        ("body", LongText, NOT_NULL),
                        ("quote_id", Text, NULL),
                    ],
                    &["id"],
                ),
            ],
            vec![
                index("crm_price_lists", "tenant", &["tenant_id", "id"], false),
                index(
                    "crm_price_list_items",
                    "code",
                    &["tenant_id", "price_list_id", "code"],
                    true,
                ),
                index("crm_quotes", "tenant", &["tenant_id", "id"], false),
                index("crm_quotes", "number", &["tenant_id", "number"], true),
                index("crm_quotes", "client", &["tenant_id", "client_id"], false),
                index(
                    "crm_quotes",
                    "opportunity",
                    &["tenant_id", "opportunity_id"],
                    false,
                ),
                index(
                    "crm_quote_versions",
                    "quote",
                    &["tenant_id", "quote_id", "version"],
                    true,
                ),
                index(
                    "crm_quote_lines",
                    "version",
                    &["tenant_id", "version_id", "position"],
                    false,
                ),
                index("crm_proposals", "tenant", &["tenant_id", "id"], false),
                index(
                    "crm_proposals",
                    "client",
                    &["tenant_id", "client_id"],
                    false,
                ),
                index(
                    "crm_proposal_sections",
                    "proposal",
                    &["tenant_id", "proposal_id", "position"],
                    false,
                ),
                index(
                    "crm_proposal_sections",
                    "quote",
                    &["tenant_id", "quote_id"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
