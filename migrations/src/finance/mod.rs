//! The finance domain's schema: the ledger (m0001), receivables and payables (m0002), expenses
//! and the directory of people it learns from the employee subgraph (m0003), its consumers'
//! inbox and billing rates (m0004), the CRM quotes it has invoiced (m0005), payroll (m0006),
//! one entry per fixed-asset source (m0007), foreign-currency documents' rates and base
//! amounts (m0008), payroll's leavers and loans (m0009), the default chart's later accounts added to
//! tenants set up before them (m0010), foreign-currency revaluations (m0011), payroll's
//! overtime, policy and expense reimbursements (m0012), the CRM clients' renames and merges
//! finance follows (m0013), the running control totals analytics reconciles with (m0014),
//! the project of an expense claim (m0015), the overtime minutes each payroll run accounted
//! for (m0016), the revision of an employee-month's overtime (m0017).
//!
//! Tables are declared with a compact column list (`Col`), the same on PostgreSQL and SQLite.
//! Money columns are BIGINT minor units; there is no floating-point column anywhere.

mod m0001_ledger;
mod m0002_documents;
mod m0003_expenses;
mod m0004_consumers;
mod m0005_quote_invoices;
mod m0006_payroll;
mod m0007_asset_entry_sources;
mod m0008_foreign_documents;
mod m0009_payroll_exits_loans;
mod m0010_default_chart_backfill;
mod m0011_revaluations;
mod m0012_payroll_overtime_reimbursements;
mod m0013_crm_client_merges;
mod m0014_control_totals_fx;
mod m0015_expense_projects;
mod m0016_payroll_overtime_paid;
mod m0017_payroll_overtime_revisions;

use sea_orm_migration::prelude::*;

use crate::inbox::CreateInbox;
use crate::outbox::CreateOutbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migration_table_name() -> DynIden {
        Alias::new("finance_migrations").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox {
                domain: "finance",
                name: "m0000_finance_outbox",
            }),
            Box::new(m0001_ledger::Migration),
            Box::new(m0002_documents::Migration),
            Box::new(m0003_expenses::Migration),
            Box::new(CreateInbox {
                domain: "finance",
                name: "m0004_finance_inbox",
            }),
            Box::new(m0004_consumers::Migration),
            Box::new(m0005_quote_invoices::Migration),
            Box::new(m0006_payroll::Migration),
            Box::new(m0007_asset_entry_sources::Migration),
            Box::new(m0008_foreign_documents::Migration),
            Box::new(m0009_payroll_exits_loans::Migration),
            Box::new(m0010_default_chart_backfill::Migration),
            Box::new(m0011_revaluations::Migration),
            Box::new(m0012_payroll_overtime_reimbursements::Migration),
            Box::new(m0013_crm_client_merges::Migration),
            Box::new(m0014_control_totals_fx::Migration),
            Box::new(m0015_expense_projects::Migration),
            Box::new(m0016_payroll_overtime_paid::Migration),
            Box::new(m0017_payroll_overtime_revisions::Migration),
        ]
    }
}

/// A column's type.
#[derive(Clone, Copy)]
enum Ty {
    /// Ids, codes, names, currency codes.
    Text,
    /// Money in minor units, counters, scaled rates.
    BigInt,
    Int,
    Date,
    Bool,
    Timestamp,
}

/// One column: name, type, nullable.
type Col = (&'static str, Ty, bool);

const NOT_NULL: bool = false;
const NULL: bool = true;

fn table(name: &str, columns: &[Col], primary_key: &[&str]) -> TableCreateStatement {
    let mut create = Table::create();
    create.table(Alias::new(name)).if_not_exists();
    for &(column, ty, nullable) in columns {
        let mut def = ColumnDef::new(Alias::new(column));
        match ty {
            Ty::Text => def.string(),
            Ty::BigInt => def.big_integer(),
            Ty::Int => def.integer(),
            Ty::Date => def.date(),
            Ty::Bool => def.boolean(),
            Ty::Timestamp => def.timestamp_with_time_zone(),
        };
        if nullable {
            def.null();
        } else {
            def.not_null();
        }
        create.col(&mut def);
    }
    let mut key = Index::create();
    for column in primary_key {
        key.col(Alias::new(*column));
    }
    create.primary_key(&mut key);
    create.to_owned()
}

fn index(name: &str, table: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table)).if_not_exists();
    for column in columns {
        index.col(Alias::new(*column));
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

async fn create(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for statement in tables {
        manager.create_table(statement).await?;
    }
    for statement in indexes {
        manager.create_index(statement).await?;
    }
    Ok(())
}

async fn drop(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for name in tables {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(*name))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
