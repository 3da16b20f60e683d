//! The project an expense claim is for (a PMO project id, optional): its approval posts the
//! expense lines with that project dimension and `expense.approved` carries it, so analytics
//! counts the claim as the project's direct cost. Claims filed before have none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("finance_expenses"))
                    .add_column(ColumnDef::new(Alias::new("project_id")).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("finance_expenses"))
                    .drop_column(Alias::new("project_id"))
                    .to_owned(),
            )
            .await
    }
}
