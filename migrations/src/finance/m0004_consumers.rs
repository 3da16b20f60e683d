//! What finance's event consumers need: the kit's inbox and dead letters (`finance_inbox`,
//! `finance_dead_letters`, created by `crate::inbox::CreateInbox` in the migrator) and the
//! billing rates that turn approved PMO timesheets into invoice lines.

use sea_orm_migration::prelude::*;

use super::{create, drop, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "finance_billing_rates",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("project_id", Text, NOT_NULL),
                    ("partner_id", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    // Per hour, minor units: the snapshot each billed line keeps.
                    ("hourly_rate", BigInt, NOT_NULL),
                    ("account_id", Text, NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "project_id"],
            )],
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["finance_billing_rates"]).await
    }
}
