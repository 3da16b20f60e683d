//! Departments and employees. Every table carries `tenant_id`, and every unique key and lookup
//! index starts with it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
    TenantId,
    Name,
    ParentId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Employees {
    Table,
    Id,
    TenantId,
    EmployeeNumber,
    UserId,
    DisplayName,
    WorkEmail,
    PersonalEmail,
    DateOfBirth,
    Title,
    Status,
    DepartmentId,
    ManagerId,
    HiredOn,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Departments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Departments::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Departments::TenantId).string().not_null())
                    .col(ColumnDef::new(Departments::Name).string().not_null())
                    .col(ColumnDef::new(Departments::ParentId).string().null())
                    .col(
                        ColumnDef::new(Departments::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_departments_tenant_name")
                    .table(Departments::Table)
                    .col(Departments::TenantId)
                    .col(Departments::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Employees::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Employees::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Employees::TenantId).string().not_null())
                    .col(
                        ColumnDef::new(Employees::EmployeeNumber)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Employees::UserId).string().null())
                    .col(ColumnDef::new(Employees::DisplayName).string().not_null())
                    .col(ColumnDef::new(Employees::WorkEmail).string().not_null())
                    .col(ColumnDef::new(Employees::PersonalEmail).string().null())
                    .col(ColumnDef::new(Employees::DateOfBirth).date().null())
                    .col(ColumnDef::new(Employees::Title).string().null())
                    .col(ColumnDef::new(Employees::Status).string().not_null())
                    .col(ColumnDef::new(Employees::DepartmentId).string().null())
                    .col(ColumnDef::new(Employees::ManagerId).string().null())
                    .col(ColumnDef::new(Employees::HiredOn).date().not_null())
                    .col(
                        ColumnDef::new(Employees::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Employees::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "ux_employees_tenant_number",
                vec![Employees::TenantId, Employees::EmployeeNumber],
                true,
            ),
            (
                "ux_employees_tenant_work_email",
                vec![Employees::TenantId, Employees::WorkEmail],
                true,
            ),
            (
                "ix_employees_tenant_department",
                vec![Employees::TenantId, Employees::DepartmentId, Employees::Id],
                false,
            ),
            (
                "ix_employees_tenant_manager",
                vec![Employees::TenantId, Employees::ManagerId],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Employees::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Employees::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Departments::Table).to_owned())
            .await
    }
}
