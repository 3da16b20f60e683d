//! Sensitive employee fields, sealed by the kit's FieldCipher, and the tenant data keys.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::data_keys::create(manager, "employee_data_keys").await?;
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            "salary_sealed",
            "salary_currency",
            "bank_account_sealed",
            "tax_id_sealed",
            "tax_id_index",
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("employees"))
                        .add_column(ColumnDef::new(Alias::new(column)).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_employees_tenant_tax_index")
                    .table(Alias::new("employees"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("tax_id_index"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("employee_data_keys"))
                    .to_owned(),
            )
            .await
    }
}
