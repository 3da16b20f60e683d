//! Payroll's final settlement and loans.
//!
//! `finance_payroll_exits`: the last working day of each leaver, learnt from the employee
//! subgraph's `employee.exit_scheduled` (state `scheduled`) and `employee.left` (`left`); a
//! cancelled scheduled exit deletes its row. The run of the period holding that day pays the
//! leaver pro rata; later periods' regular runs leave them out.
//!
//! `finance_payroll_loans` and `finance_payroll_loan_repayments`: loans and salary advances
//! granted to employees, repaid by a deduction on each regular run's slip. A repayment is
//! `pending` while its run is open, `posted` once the run posts (only posted repayments lower
//! the outstanding balance) and `cancelled` with its run. Amounts are sealed cells, as every
//! person's pay is.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_payroll_exits",
    "finance_payroll_loans",
    "finance_payroll_loan_repayments",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![
            table(
                "finance_payroll_exits",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("last_working_day", Date, NOT_NULL),
                    // scheduled | left
                    ("state", Text, NOT_NULL),
                    ("reason", Text, NOT_NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "employee_id"],
            ),
            table(
                "finance_payroll_loans",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("principal_sealed", Text, NOT_NULL),
                    ("instalment_sealed", Text, NOT_NULL),
                    // The first period (`YYYY-MM`) an instalment is deducted in.
                    ("start_period", Text, NOT_NULL),
                    // The receivable the loan was booked to (the repayments credit it).
                    ("account_id", Text, NOT_NULL),
                    // open | closed
                    ("state", Text, NOT_NULL),
                    ("grant_entry_id", Text, NOT_NULL),
                    ("note", Text, NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                    ("closed_at", Timestamp, NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_loan_repayments",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("loan_id", Text, NOT_NULL),
                    ("run_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("period", Text, NOT_NULL),
                    ("amount_sealed", Text, NOT_NULL),
                    // Why less than the instalment due was deducted (NET_PAY_LIMIT), if so.
                    ("reason", Text, NULL),
                    // pending | posted | cancelled
                    ("state", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["loan_id", "run_id"],
            ),
        ];
        let indexes = vec![
            index(
                "ix_finance_payroll_loans_employee",
                "finance_payroll_loans",
                &["tenant_id", "employee_id"],
                false,
            ),
            index(
                "ix_finance_payroll_loan_repayments_run",
                "finance_payroll_loan_repayments",
                &["tenant_id", "run_id"],
                false,
            ),
        ];
        create(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
