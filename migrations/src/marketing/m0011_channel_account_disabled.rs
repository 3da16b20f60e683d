//! Disabled social channel accounts (m0011).
//!
//! - `mkt_channel_accounts.disabled_at`, `disabled_by`, `disabled_reason`: when, by whom and
//!   why an account was disabled (all NULL while it is enabled: every account there is). A
//!   disabled account's posts are not scheduled or retried; disabling took its scheduled posts
//!   back to draft in the same transaction.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "mkt_channel_accounts";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new(Alias::new("disabled_at"))
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("disabled_by"))
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("disabled_reason"))
                .text()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(TABLE))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["disabled_reason", "disabled_by", "disabled_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(TABLE))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
