//! One journal entry per fixed-asset source, enforced by the database: at most one entry per
//! (tenant, `asset_depreciation`, `<asset>:<period>`) and per (tenant, `asset_disposal`,
//! `<asset>`). Finance's asset consumer checks for the entry before posting; two deliveries of
//! the same fact in concurrent transactions both pass that check, and this index makes the
//! second one's insert fail (the consumer then leaves it as a no-op).
//!
//! Partial (only those two source kinds): other sources, a reversal or a payment, may post
//! several entries for one source id. PostgreSQL and SQLite both have partial unique indexes.
//! Posted entries cannot be deleted (m0001's triggers) and a reversal leaves the copy in place,
//! so a database that already holds two entries of one asset source (the race this closes)
//! refuses this migration until the copy is repaired by hand; the failure names the index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ux_finance_entries_asset_source";
const TABLE: &str = "finance_entries";

/// The `source_kind`s of finance's asset postings (`erp_finance::app::assets`).
const ASSET_SOURCES: [&str; 2] = ["asset_depreciation", "asset_disposal"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Alias::new(TABLE))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("source_kind"))
                    .col(Alias::new("source_id"))
                    .unique()
                    .if_not_exists()
                    .and_where(Expr::col(Alias::new("source_kind")).is_in(ASSET_SOURCES))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Alias::new(TABLE))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
