//! Payroll's overtime, policy and expense reimbursements.
//!
//! `finance_payroll_overtime`: the approved overtime of each employee per period, in minutes,
//! learnt from the employee subgraph's `attendance.period_closed` (a period closed again
//! replaces its row). Formulas read it as `overtime_hours`.
//!
//! `finance_payroll_policy`: the tenant's overtime multiplier (ppm: 1.5 x is 1,500,000) and the
//! working hours of a year the hourly rate divides the annual salary by; no row: the defaults.
//!
//! `finance_payroll_reimbursements`: approved expense claims to be reimbursed through payroll
//! instead of by a bank payment. `run_id` is the regular run that pays the claim (reserved when
//! the run is calculated, released when it is recalculated without it or cancelled); the claim
//! is paid when that run posts.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_payroll_overtime",
    "finance_payroll_policy",
    "finance_payroll_reimbursements",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![
            table(
                "finance_payroll_overtime",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    // `YYYY-MM`
                    ("period", Text, NOT_NULL),
                    ("overtime_minutes", BigInt, NOT_NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "employee_id", "period"],
            ),
            table(
                "finance_payroll_policy",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("overtime_multiplier_ppm", BigInt, NOT_NULL),
                    ("annual_hours", BigInt, NOT_NULL),
                    ("updated_by", Text, NOT_NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id"],
            ),
            table(
                "finance_payroll_reimbursements",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("expense_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("run_id", Text, NULL),
                    ("queued_by", Text, NOT_NULL),
                    ("queued_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "expense_id"],
            ),
        ];
        let indexes = vec![
            index(
                "ix_finance_payroll_overtime_period",
                "finance_payroll_overtime",
                &["tenant_id", "period"],
                false,
            ),
            index(
                "ix_finance_payroll_reimbursements_run",
                "finance_payroll_reimbursements",
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
