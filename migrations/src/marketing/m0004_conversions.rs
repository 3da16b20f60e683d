//! Conversions (m0004): the CRM leads a campaign brought (a lead whose `utm_campaign` is the
//! campaign's id, learnt from CRM's `lead.created`) and when each converted (`lead.converted`):
//! the funnel's last stage. The consumer's inbox is created beside it (mod.rs).

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "mkt_conversions",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    // The CRM lead.
                    ("lead_id", Text, NOT_NULL),
                    ("campaign_id", Text, NOT_NULL),
                    ("created_at", BigInt, NOT_NULL),
                    ("converted_at", BigInt, NULL),
                ],
                &["tenant_id", "lead_id"],
            )],
            vec![index(
                "mkt_conversions",
                "campaign",
                &["tenant_id", "campaign_id"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["mkt_conversions"]).await
    }
}
