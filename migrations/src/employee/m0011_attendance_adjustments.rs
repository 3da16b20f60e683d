//! Adjustments of closed attendance: an authorised correction (`attendance:admin`, with a
//! reason) of one day of a month already closed for payroll, and possibly already paid. The
//! day's punches are replaced (the old ones kept, voided by the adjustment), the closed
//! period's totals move by the day's difference and its `revision` counts the adjustments;
//! `attendance.period_adjusted` carries the new totals to payroll, which settles the
//! difference on its next regular run (the posted slip is never edited).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("attendance_periods"))
                    .add_column(col("revision").big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("attendance_adjustments"))
                    .if_not_exists()
                    .col(col("tenant_id").string().not_null())
                    .col(col("id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    // `YYYY-MM`, closed.
                    .col(col("period").string().not_null())
                    // `YYYY-MM-DD`
                    .col(col("day").string().not_null())
                    // Unix milliseconds.
                    .col(col("check_in_at").big_integer().not_null())
                    .col(col("check_out_at").big_integer().not_null())
                    .col(col("reason").text().not_null())
                    // The period's revision this adjustment made (1, 2, ...).
                    .col(col("revision").big_integer().not_null())
                    // The day's minutes before and after, and the period's totals after.
                    .col(col("day_worked_before").big_integer().not_null())
                    .col(col("day_worked_after").big_integer().not_null())
                    .col(col("day_overtime_before").big_integer().not_null())
                    .col(col("day_overtime_after").big_integer().not_null())
                    .col(col("period_worked_minutes").big_integer().not_null())
                    .col(col("period_overtime_minutes").big_integer().not_null())
                    .col(col("adjusted_by").string().not_null())
                    .col(col("adjusted_at").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_attendance_adjustments_revision")
                    .table(Alias::new("attendance_adjustments"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("employee_id"))
                    .col(Alias::new("period"))
                    .col(Alias::new("revision"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("attendance_adjustments"))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("attendance_periods"))
                    .drop_column(Alias::new("revision"))
                    .to_owned(),
            )
            .await
    }
}
