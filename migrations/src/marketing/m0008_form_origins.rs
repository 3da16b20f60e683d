//! The origins (`https://shop.example.com`) whose pages may post a tenant's web forms from a
//! script (CORS) (m0008).

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, table, Ty, NOT_NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "mkt_form_origins",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("origin", Text, NOT_NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", BigInt, NOT_NULL),
                ],
                &["tenant_id", "origin"],
            )],
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["mkt_form_origins"]).await
    }
}
