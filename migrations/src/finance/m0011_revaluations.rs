//! Foreign-currency revaluations: one row per tenant and date (the unique index makes a date
//! revalued once, even under concurrent requests), with the revaluation entry and its reversal
//! on the first day of the next period (both NULL when nothing open differed), and the gains
//! and losses it booked in base minor units.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["finance_revaluations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![table(
            "finance_revaluations",
            &[
                ("id", Text, NOT_NULL),
                ("tenant_id", Text, NOT_NULL),
                ("revaluation_date", Date, NOT_NULL),
                ("reversal_date", Date, NOT_NULL),
                ("entry_id", Text, NULL),
                ("reversal_entry_id", Text, NULL),
                ("gain", BigInt, NOT_NULL),
                ("loss", BigInt, NOT_NULL),
                ("document_count", Int, NOT_NULL),
                ("created_by", Text, NOT_NULL),
                ("created_at", Timestamp, NOT_NULL),
            ],
            &["id"],
        )];
        let indexes = vec![index(
            "ux_finance_revaluations_date",
            "finance_revaluations",
            &["tenant_id", "revaluation_date"],
            true,
        )];
        create(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
