//! Running control totals for analytics' reconciliation: `finance_control_totals`, one row
//! per (tenant, source, day, currency) with how many records the day has and their sum in
//! minor units. Each customer invoice posting advances its day's row by an upsert in the
//! posting transaction (instead of counting the day's posted invoices under the numbering
//! lock), and publishes the row as `control_total.published`.
//!
//! The backfill writes every day that already has posted invoices: their count and the sum
//! of their base totals in the tenant's base currency, exactly what the count it replaces
//! read (posted documents of kind `invoice`; credit notes are not counted). Idempotent: a
//! day already present is left alone.
//!
//! Foreign-currency revaluations of bank balances and payments on account count them
//! (`finance_revaluations.bank_balance_count`, `payment_count`). Expense claims in a foreign
//! currency keep their base amounts, fixed once when their approval posts them:
//! `finance_expense_lines.rate_nano` and `base_amount` (each line at its day's rate),
//! `finance_expenses.base_total` and, once reimbursed in the base currency at the payment
//! day's rate, `paid_base`. Rows written before are all in the base currency: their base
//! amounts are their amounts.
//!
//! Every step is idempotent (a column added once, a backfill that writes what is missing), so
//! the migration can run again over its own result.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{create, drop, table, Ty, NOT_NULL};

/// (table, column, type, nullable): the columns added (NOT NULL ones default to 0).
const COLUMNS: &[(&str, &str, Ty, bool)] = &[
    ("finance_revaluations", "bank_balance_count", Ty::Int, false),
    ("finance_revaluations", "payment_count", Ty::Int, false),
    // Nano-units of base per unit of the claim's currency on the line's day (NULL in the
    // base currency).
    ("finance_expense_lines", "rate_nano", Ty::BigInt, true),
    // The line in base minor units (NULL until a foreign claim's approval posts it).
    ("finance_expense_lines", "base_amount", Ty::BigInt, true),
    ("finance_expenses", "base_total", Ty::BigInt, true),
    // What the reimbursement paid in base minor units.
    ("finance_expenses", "paid_base", Ty::BigInt, true),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "finance_control_totals",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    // What is counted (`invoices`).
                    ("source", Text, NOT_NULL),
                    ("day", Date, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("records", BigInt, NOT_NULL),
                    // Minor units of `currency`.
                    ("amount", BigInt, NOT_NULL),
                ],
                &["tenant_id", "source", "day", "currency"],
            )],
            vec![],
        )
        .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let placeholder = |n: usize| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        // The cast: PostgreSQL sums a BIGINT as NUMERIC.
        let backfill = format!(
            "INSERT INTO finance_control_totals (tenant_id, source, day, currency, records, amount) \
             SELECT d.tenant_id, {}, d.document_date, s.base_currency, COUNT(*), \
             CAST(COALESCE(SUM(d.base_total), 0) AS BIGINT) \
             FROM finance_documents d JOIN finance_settings s ON s.tenant_id = d.tenant_id \
             WHERE d.kind = {} AND d.posted = {} \
             AND NOT EXISTS (SELECT 1 FROM finance_control_totals c WHERE c.tenant_id = d.tenant_id \
             AND c.source = {} AND c.day = d.document_date AND c.currency = s.base_currency) \
             GROUP BY d.tenant_id, d.document_date, s.base_currency",
            placeholder(1),
            placeholder(2),
            placeholder(3),
            placeholder(4),
        );
        db.execute(Statement::from_sql_and_values(
            backend,
            backfill,
            [
                "invoices".into(),
                "invoice".into(),
                true.into(),
                "invoices".into(),
            ],
        ))
        .await?;

        // One column per statement: SQLite adds one column per ALTER TABLE.
        for &(table, column, ty, nullable) in COLUMNS {
            if manager.has_column(table, column).await? {
                continue;
            }
            let mut def = ColumnDef::new(Alias::new(column));
            match ty {
                Ty::Int => def.integer(),
                _ => def.big_integer(),
            };
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
        db.execute_unprepared(
            "UPDATE finance_expense_lines SET base_amount = amount WHERE base_amount IS NULL \
             AND rate_nano IS NULL AND expense_id IN (SELECT e.id FROM finance_expenses e \
             JOIN finance_settings s ON s.tenant_id = e.tenant_id WHERE e.currency = s.base_currency)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE finance_expenses SET base_total = total WHERE base_total IS NULL AND currency = \
             (SELECT s.base_currency FROM finance_settings s WHERE s.tenant_id = finance_expenses.tenant_id)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE finance_expenses SET paid_base = total WHERE paid_base IS NULL \
             AND paid_entry_id IS NOT NULL AND currency = (SELECT s.base_currency FROM \
             finance_settings s WHERE s.tenant_id = finance_expenses.tenant_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for &(table, column, _, _) in COLUMNS {
            if !manager.has_column(table, column).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        drop(manager, &["finance_control_totals"]).await
    }
}
