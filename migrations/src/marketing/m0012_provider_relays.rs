//! A sending provider's own SMTP relay (m0012).
//!
//! - `mkt_providers.relay`: the name of one of the deployment's named relays
//!   (`ERP_SMTP_RELAYS`) a provider's messages go through; NULL (every provider there is): the
//!   deployment's default relay (`ERP_SMTP_URL`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("mkt_providers"))
                    .add_column(ColumnDef::new(Alias::new("relay")).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("mkt_providers"))
                    .drop_column(Alias::new("relay"))
                    .to_owned(),
            )
            .await
    }
}
