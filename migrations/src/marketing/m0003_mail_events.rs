//! What the mail provider reported about a sent message (m0003): a bounce (its class) and a
//! spam complaint, fed by the provider's signed webhook; the campaign funnel counts them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (column, is text) added to `mkt_messages`, all nullable.
const COLUMNS: [(&str, bool); 3] = [
    // hard, soft (the classifier's verdict of the latest bounce)
    ("bounce_kind", true),
    ("bounced_at", false),
    ("complained_at", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for (name, text) in COLUMNS {
            let mut column = ColumnDef::new(Alias::new(name));
            if text {
                column.string();
            } else {
                column.big_integer();
            }
            column.null();
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("mkt_messages"))
                        .add_column_if_not_exists(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("mkt_messages"))
                        .drop_column(Alias::new(name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
