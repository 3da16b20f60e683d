//! Indexes for keyset pages read straight from the database: the attendance board and the
//! employee list page through a tenant's employees in id order, and each employee's direct
//! reports are paged per manager in id order (one query for a whole list of managers).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Employees {
    Table,
    Id,
    TenantId,
    ManagerId,
}

/// Superseded by `ix_employees_tenant_manager_id`, which serves the same lookups and the order.
const OLD_MANAGER_INDEX: &str = "ix_employees_tenant_manager";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_employees_tenant_id")
                    .table(Employees::Table)
                    .col(Employees::TenantId)
                    .col(Employees::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_employees_tenant_manager_id")
                    .table(Employees::Table)
                    .col(Employees::TenantId)
                    .col(Employees::ManagerId)
                    .col(Employees::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_MANAGER_INDEX)
                    .table(Employees::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD_MANAGER_INDEX)
                    .table(Employees::Table)
                    .col(Employees::TenantId)
                    .col(Employees::ManagerId)
                    .to_owned(),
            )
            .await?;
        for name in ["ix_employees_tenant_manager_id", "ix_employees_tenant_id"] {
            manager
                .drop_index(Index::drop().name(name).table(Employees::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
