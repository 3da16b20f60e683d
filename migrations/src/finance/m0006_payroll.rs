//! Payroll, inside finance (it posts into the same ledger in the same transaction): finance's
//! field-cipher keys, the sealed pay facts learnt from the employee subgraph's events, salary
//! components, structures and their effective-dated assignments, tax slabs, additional salary,
//! runs, payslips and the per-employee failure report.
//!
//! Amounts, bank accounts and tax ids of people are sealed cells (`*_sealed`): no column holds a
//! person's pay in clear. One payslip per (employee, period, run type) among live runs:
//! `slot` is '' while the slip's run is live and the run's id once it is cancelled.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_payroll_people",
    "finance_payroll_leave_types",
    "finance_payroll_leave",
    "finance_payroll_components",
    "finance_payroll_structures",
    "finance_payroll_structure_components",
    "finance_payroll_assignments",
    "finance_payroll_tax_slabs",
    "finance_payroll_additional",
    "finance_payroll_settings",
    "finance_payroll_runs",
    "finance_payroll_open_periods",
    "finance_payroll_slips",
    "finance_payroll_failures",
    "finance_data_keys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        crate::data_keys::create(manager, "finance_data_keys").await?;
        let tables = vec![
            table(
                "finance_payroll_people",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("hired_on", Date, NULL),
                    ("currency", Text, NULL),
                    ("salary_sealed", Text, NULL),
                    ("bank_account_sealed", Text, NULL),
                    ("tax_id_sealed", Text, NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "employee_id"],
            ),
            table(
                "finance_payroll_leave_types",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("leave_type_id", Text, NOT_NULL),
                    ("paid", Bool, NOT_NULL),
                ],
                &["tenant_id", "leave_type_id"],
            ),
            table(
                "finance_payroll_leave",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("request_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("leave_type_id", Text, NOT_NULL),
                    ("start_date", Date, NOT_NULL),
                    ("end_date", Date, NOT_NULL),
                    // Thousandths of a working day.
                    ("milli_days", BigInt, NOT_NULL),
                ],
                &["tenant_id", "request_id"],
            ),
            table(
                "finance_payroll_components",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("kind", Text, NOT_NULL),
                    // fixed | percent | formula | income_tax
                    ("rule", Text, NOT_NULL),
                    ("amount_minor", BigInt, NULL),
                    ("percent_ppm", BigInt, NULL),
                    ("percent_of", Text, NULL),
                    ("formula", Text, NULL),
                    ("account_id", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_structures",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_structure_components",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("structure_id", Text, NOT_NULL),
                    ("position", Int, NOT_NULL),
                    ("component_id", Text, NOT_NULL),
                ],
                &["structure_id", "position"],
            ),
            table(
                "finance_payroll_assignments",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("structure_id", Text, NOT_NULL),
                    ("effective_from", Date, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_tax_slabs",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("fiscal_year", Text, NOT_NULL),
                    ("position", Int, NOT_NULL),
                    ("from_minor", BigInt, NOT_NULL),
                    ("rate_ppm", BigInt, NOT_NULL),
                ],
                &["tenant_id", "fiscal_year", "position"],
            ),
            table(
                "finance_payroll_additional",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("period", Text, NOT_NULL),
                    // The run type that pays it (regular, or an off-cycle bonus run).
                    ("run_type", Text, NOT_NULL),
                    ("component_id", Text, NOT_NULL),
                    ("amount_sealed", Text, NOT_NULL),
                    ("note", Text, NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_settings",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("payable_account_id", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id"],
            ),
            table(
                "finance_payroll_runs",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("period", Text, NOT_NULL),
                    ("run_type", Text, NOT_NULL),
                    ("state", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("slip_count", Int, NOT_NULL),
                    ("failed_count", Int, NOT_NULL),
                    // The run's totals per component (sealed JSON).
                    ("totals_sealed", Text, NULL),
                    ("bank_file_sealed", Text, NULL),
                    ("bank_file_format", Text, NULL),
                    ("entry_id", Text, NULL),
                    ("payment_entry_id", Text, NULL),
                    ("reversal_entry_id", Text, NULL),
                    ("created_by", Text, NOT_NULL),
                    ("calculated_by", Text, NULL),
                    ("approved_by", Text, NULL),
                    ("created_at", Timestamp, NOT_NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            // The open or posted run of each (period, run type): its primary key is the "one
            // run at a time" rule, also when two requests race.
            table(
                "finance_payroll_open_periods",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("period", Text, NOT_NULL),
                    ("run_type", Text, NOT_NULL),
                    ("run_id", Text, NOT_NULL),
                ],
                &["tenant_id", "period", "run_type"],
            ),
            table(
                "finance_payroll_slips",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("run_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("period", Text, NOT_NULL),
                    ("run_type", Text, NOT_NULL),
                    ("slot", Text, NOT_NULL),
                    // draft | submitted | paid | cancelled
                    ("state", Text, NOT_NULL),
                    ("amounts_sealed", Text, NOT_NULL),
                    ("bank_account_sealed", Text, NOT_NULL),
                    // A keyed hash (the tenant's index key) of the slip's canonical amounts: the
                    // same inputs give the same fingerprint, and it reveals nothing.
                    ("fingerprint", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payroll_failures",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("run_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("reason", Text, NOT_NULL),
                    ("message", Text, NOT_NULL),
                ],
                &["run_id", "employee_id"],
            ),
        ];
        let indexes = vec![
            index(
                "ux_finance_payroll_components_code",
                "finance_payroll_components",
                &["tenant_id", "code"],
                true,
            ),
            index(
                "ux_finance_payroll_structures_code",
                "finance_payroll_structures",
                &["tenant_id", "code"],
                true,
            ),
            index(
                "ux_finance_payroll_assignments_from",
                "finance_payroll_assignments",
                &["tenant_id", "employee_id", "effective_from"],
                true,
            ),
            index(
                "ix_finance_payroll_additional_period",
                "finance_payroll_additional",
                &["tenant_id", "period"],
                false,
            ),
            index(
                "ix_finance_payroll_leave_employee",
                "finance_payroll_leave",
                &["tenant_id", "employee_id", "start_date"],
                false,
            ),
            index(
                "ix_finance_payroll_runs_period",
                "finance_payroll_runs",
                &["tenant_id", "period"],
                false,
            ),
            index(
                "ux_finance_payroll_slips_one_per_period",
                "finance_payroll_slips",
                &["tenant_id", "employee_id", "period", "run_type", "slot"],
                true,
            ),
            index(
                "ix_finance_payroll_slips_run",
                "finance_payroll_slips",
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
