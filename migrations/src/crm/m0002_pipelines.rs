//! Pipelines with their stages, opportunities, and the per-owner totals of open opportunities
//! per stage and currency that the board sums over the owners a viewer may see.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "crm_pipelines",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // What the pipeline sells: `new business`, `renewal`, `services`...
                        ("opportunity_type", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_stages",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("pipeline_id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("position", Int, NOT_NULL),
                        // 0 to 100.
                        ("probability", Int, NOT_NULL),
                        ("rotting_days", Int, NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                table(
                    "crm_opportunities",
                    &[
                        ("id", Text, NOT_NULL),
                        ("tenant_id", Text, NOT_NULL),
                        ("pipeline_id", Text, NOT_NULL),
                        ("stage_id", Text, NOT_NULL),
                        ("client_id", Text, NOT_NULL),
                        ("contact_id", Text, NULL),
                        ("lead_id", Text, NULL),
                        ("name", Text, NOT_NULL),
                        ("amount_minor", BigInt, NOT_NULL),
                        ("currency", Text, NOT_NULL),
                        ("expected_close", Date, NULL),
                        ("owner_id", Text, NOT_NULL),
                        // open, won, lost
                        ("status", Text, NOT_NULL),
                        ("lost_reason", Text, NULL),
                        ("closed_at", BigInt, NULL),
                        ("stage_entered_at", BigInt, NOT_NULL),
                        ("version", BigInt, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["id"],
                ),
                // Σ of open opportunities per (stage, owner, currency), kept in the
                // transaction of every change (the board's totals, C2).
                table(
                    "crm_stage_totals",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("pipeline_id", Text, NOT_NULL),
                        ("stage_id", Text, NOT_NULL),
                        ("owner_id", Text, NOT_NULL),
                        ("currency", Text, NOT_NULL),
                        ("open_count", BigInt, NOT_NULL),
                        ("open_amount_minor", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "stage_id", "owner_id", "currency"],
                ),
            ],
            vec![
                index("crm_pipelines", "tenant", &["tenant_id", "id"], false),
                index(
                    "crm_stages",
                    "pipeline",
                    &["tenant_id", "pipeline_id", "position"],
                    false,
                ),
                index("crm_opportunities", "tenant", &["tenant_id", "id"], false),
                // The board's cards: a stage's open opportunities in id order (with and
                // without the owner filter of the row rules).
                index(
                    "crm_opportunities",
                    "stage",
                    &["tenant_id", "stage_id", "status", "id"],
                    false,
                ),
                index(
                    "crm_opportunities",
                    "stage_owner",
                    &["tenant_id", "stage_id", "status", "owner_id", "id"],
                    false,
                ),
                index(
                    "crm_opportunities",
                    "client",
                    &["tenant_id", "client_id"],
                    false,
                ),
                index(
                    "crm_opportunities",
                    "contact",
                    &["tenant_id", "contact_id"],
                    false,
                ),
                index(
                    "crm_opportunities",
                    "owner",
                    &["tenant_id", "owner_id", "id"],
                    false,
                ),
                index(
                    "crm_stage_totals",
                    "pipeline",
                    &["tenant_id", "pipeline_id"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(
            manager,
            &[
                "crm_pipelines",
                "crm_stages",
                "crm_opportunities",
                "crm_stage_totals",
            ],
        )
        .await
    }
}
