//! Shifts and their assignments, attendance corrections with approval, and voided punches
//! (a correction replaces a day's punches without deleting them).

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
            .create_table(
                Table::create()
                    .table(Alias::new("shifts"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("name").string().not_null())
                    // Wall-clock `HH:MM` in `time_zone`; an end before the start crosses midnight.
                    .col(col("start_time").string().not_null())
                    .col(col("end_time").string().not_null())
                    .col(col("grace_minutes").integer().not_null())
                    .col(col("half_day_minutes").integer().not_null())
                    .col(col("full_day_minutes").integer().not_null())
                    // Bit 0 is Monday.
                    .col(col("working_days").integer().not_null())
                    // IANA name, e.g. `Asia/Kolkata`.
                    .col(col("time_zone").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_shifts_tenant_name")
                    .table(Alias::new("shifts"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("name"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("shift_assignments"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    // `employee` or `department` (the department's default).
                    .col(col("target_kind").string().not_null())
                    .col(col("target_id").string().not_null())
                    .col(col("shift_id").string().not_null())
                    // `YYYY-MM-DD`: the assignment applies from this day until a later one.
                    .col(col("effective_from").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_shift_assignments_target_from")
                    .table(Alias::new("shift_assignments"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("target_kind"))
                    .col(Alias::new("target_id"))
                    .col(Alias::new("effective_from"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("attendance_corrections"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    .col(col("day").string().not_null())
                    // `missed_punch`, `wrong_time` or `other`.
                    .col(col("kind").string().not_null())
                    // Unix milliseconds of the corrected check-in and check-out.
                    .col(col("check_in_at").big_integer().not_null())
                    .col(col("check_out_at").big_integer().not_null())
                    .col(col("reason").string().not_null())
                    // `pending`, `approved` or `rejected`.
                    .col(col("status").string().not_null())
                    .col(col("requested_by").string().not_null())
                    .col(col("decided_by").string().null())
                    .col(col("decision_note").string().null())
                    .col(col("created_at").big_integer().not_null())
                    .col(col("decided_at").big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_attendance_corrections_employee_day")
                    .table(Alias::new("attendance_corrections"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("employee_id"))
                    .col(Alias::new("day"))
                    .to_owned(),
            )
            .await?;
        // The correction that replaced a punch; replaced punches stay for the audit trail.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("punches"))
                    .add_column(col("voided_by").string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("punches"))
                    .drop_column(Alias::new("voided_by"))
                    .to_owned(),
            )
            .await?;
        for table in ["attendance_corrections", "shift_assignments", "shifts"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
