//! Closed attendance periods: an employee's month of attendance approved for payroll by a
//! manager above them or HR, with the minutes worked and the overtime computed from its days
//! (`attendance.period_closed` carries them to payroll). A period is closed once; its days are
//! no longer corrected.

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
                    .table(Alias::new("attendance_periods"))
                    .if_not_exists()
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    // `YYYY-MM`
                    .col(col("period").string().not_null())
                    .col(col("worked_minutes").big_integer().not_null())
                    .col(col("overtime_minutes").big_integer().not_null())
                    .col(col("closed_by").string().not_null())
                    // Unix milliseconds.
                    .col(col("closed_at").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("employee_id"))
                            .col(Alias::new("period")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("attendance_periods"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
