//! The revision of an employee-month's approved overtime finance holds: 0 from
//! `attendance.period_closed`, then each `attendance.period_adjusted` (an authorised
//! correction of a day of the closed month) carries the next. A fact of a lower revision than
//! the one held is stale (delivered late or again) and changes nothing, so the newest
//! correction wins whatever the order the events arrive in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("finance_payroll_overtime"))
                    .add_column(
                        ColumnDef::new(Alias::new("revision"))
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("finance_payroll_overtime"))
                    .drop_column(Alias::new("revision"))
                    .to_owned(),
            )
            .await
    }
}
