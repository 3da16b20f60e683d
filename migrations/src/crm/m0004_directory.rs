//! The team directory the row rules read, learnt from the employee subgraph's events (hires,
//! manager changes, exits): never read from the employee subgraph's tables.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "crm_team_members",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    // The identity user the employee signs in as (what owns CRM records).
                    ("user_id", Text, NULL),
                    ("manager_id", Text, NULL),
                    ("display_name", Text, NOT_NULL),
                    // False once the employee left: kept for their manager's view of their
                    // records, skipped by assignment rules.
                    ("active", Bool, NOT_NULL),
                    ("updated_at", BigInt, NOT_NULL),
                ],
                &["tenant_id", "employee_id"],
            )],
            vec![
                index("crm_team_members", "user", &["tenant_id", "user_id"], false),
                index(
                    "crm_team_members",
                    "manager",
                    &["tenant_id", "manager_id"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["crm_team_members"]).await
    }
}
