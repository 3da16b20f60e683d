//! Documents and payments in a foreign currency: the rate each was posted at and its amounts in
//! the base currency, computed once at posting and stored (never converted again); what each
//! allocation cleared in the base currency and the realised exchange difference it posted.
//! Rows written before this migration are all in the base currency: their base amounts are
//! their amounts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, nullable): BIGINT columns; the NOT NULL ones default to 0.
const COLUMNS: &[(&str, &str, bool)] = &[
    // The rate (nano-units of base per unit) the document's entry was posted at; NULL in the
    // base currency or while a draft.
    ("finance_documents", "rate_nano", true),
    // The control-account amount of the posted entry, in base minor units.
    ("finance_documents", "base_total", false),
    // The part of `base_total` that allocations have cleared.
    ("finance_documents", "base_settled", false),
    ("finance_payments", "rate_nano", true),
    // The bank amount of the payment's entry, in base minor units.
    ("finance_payments", "base_amount", false),
    // The part of `base_amount` allocated to documents.
    ("finance_payments", "base_allocated", false),
    // The document's booked base amount the allocation cleared.
    ("finance_allocations", "base_amount", false),
    // The payment's (or credit note's) base amount for the allocation minus `base_amount`:
    // the realised exchange difference, posted in `exchange_entry_id`.
    ("finance_allocations", "exchange_difference", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for &(table, column, nullable) in COLUMNS {
            let mut def = ColumnDef::new(Alias::new(column));
            def.big_integer();
            if nullable {
                def.null();
            } else {
                def.not_null().default(0);
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("finance_allocations"))
                    .add_column(
                        ColumnDef::new(Alias::new("exchange_entry_id"))
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE finance_documents SET base_total = total, base_settled = settled WHERE posted",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE finance_payments SET base_amount = amount, base_allocated = allocated",
        )
        .await?;
        db.execute_unprepared("UPDATE finance_allocations SET base_amount = amount")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut columns: Vec<(&str, &str)> = COLUMNS.iter().map(|&(t, c, _)| (t, c)).collect();
        columns.push(("finance_allocations", "exchange_entry_id"));
        for (table, column) in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
