//! `finance_payroll_overtime_paid`: the overtime minutes each payroll run accounted for, by
//! employee and by the month the minutes belong to: a regular run's own month (its slip's
//! `overtime_hours`), and earlier months whose overtime was approved after their run was
//! posted (the run's adjustment lines). A month's overtime still owed is its approved minutes
//! less what runs not cancelled accounted for; a recalculation replaces its run's rows.
//!
//! The runs calculated before this table existed accounted for their month's approved minutes:
//! they are written here once, so none of it is paid again.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["finance_payroll_overtime_paid"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![table(
            "finance_payroll_overtime_paid",
            &[
                ("tenant_id", Text, NOT_NULL),
                ("run_id", Text, NOT_NULL),
                ("employee_id", Text, NOT_NULL),
                // `YYYY-MM`: the month the minutes belong to.
                ("period", Text, NOT_NULL),
                ("minutes", BigInt, NOT_NULL),
            ],
            &["tenant_id", "run_id", "employee_id", "period"],
        )];
        let indexes = vec![index(
            "ix_finance_payroll_overtime_paid_employee",
            "finance_payroll_overtime_paid",
            &["tenant_id", "employee_id", "period"],
            false,
        )];
        create(manager, tables, indexes).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO finance_payroll_overtime_paid (tenant_id, run_id, employee_id, period, minutes) \
                 SELECT s.tenant_id, s.run_id, s.employee_id, s.period, o.overtime_minutes \
                 FROM finance_payroll_slips s \
                 JOIN finance_payroll_runs r ON r.tenant_id = s.tenant_id AND r.id = s.run_id \
                 JOIN finance_payroll_overtime o ON o.tenant_id = s.tenant_id \
                   AND o.employee_id = s.employee_id AND o.period = s.period \
                 WHERE r.run_type = 'regular' AND r.state <> 'cancelled' AND o.overtime_minutes > 0",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
