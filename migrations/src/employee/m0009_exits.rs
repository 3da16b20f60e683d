//! Employee exits: the last working day, the reason (a closed set), notes, who recorded the
//! exit and when, and when it took effect (`left_at`: the status became `terminated` and
//! `employee.left` was published). A scheduled exit has a last working day and no `left_at`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Employees {
    Table,
    LastWorkingDay,
    ExitReason,
    ExitNotes,
    ExitRecordedBy,
    ExitRecordedAt,
    LeftAt,
}

/// The scheduler's scan: exits due (a last working day, not yet in effect).
const DUE_INDEX: &str = "ix_employees_last_working_day";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new(Employees::LastWorkingDay)
                .date()
                .null()
                .to_owned(),
            ColumnDef::new(Employees::ExitReason)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Employees::ExitNotes)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Employees::ExitRecordedBy)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Employees::ExitRecordedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Employees::LeftAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Employees::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(DUE_INDEX)
                    .table(Employees::Table)
                    .col(Employees::LastWorkingDay)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(DUE_INDEX)
                    .table(Employees::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Employees::LeftAt,
            Employees::ExitRecordedAt,
            Employees::ExitRecordedBy,
            Employees::ExitNotes,
            Employees::ExitReason,
            Employees::LastWorkingDay,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Employees::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
