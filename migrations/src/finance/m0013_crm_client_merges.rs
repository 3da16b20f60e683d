//! What finance keeps of the CRM's clients to follow their renames and merges (the consumer of
//! `client.updated`, `client.merged` and `client.merge_undone`):
//!
//! - `finance_crm_clients`: the newest version of each CRM client finance has applied (an
//!   older `client.updated` arriving late renames nothing);
//! - `finance_client_merges`: one row per CRM merge: the customer partners it moved to the
//!   survivor with the client id and name each had (what an undo gives back), or a merge
//!   known undone before it arrived (then it moves nothing). Posted documents and lines are
//!   never touched: the partner's mapping to a CRM client moves, not the ledger.

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
            vec![
                table(
                    "finance_crm_clients",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("client_id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // The CRM client's version (`client.updated` carries it).
                        ("version", BigInt, NOT_NULL),
                        ("updated_at", Timestamp, NOT_NULL),
                    ],
                    &["tenant_id", "client_id"],
                ),
                table(
                    "finance_client_merges",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("merge_id", Text, NOT_NULL),
                        ("source_client_id", Text, NOT_NULL),
                        ("target_client_id", Text, NOT_NULL),
                        // `merged` or `undone`.
                        ("state", Text, NOT_NULL),
                        // JSON: [{ "partner_id", "client_id", "name" }] as they were before.
                        ("moved", Text, NOT_NULL),
                        ("merged_at", Timestamp, NULL),
                        ("undone_at", Timestamp, NULL),
                    ],
                    &["tenant_id", "merge_id"],
                ),
            ],
            vec![index(
                "ix_finance_client_merges_source",
                "finance_client_merges",
                &["tenant_id", "source_client_id", "state"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["finance_client_merges", "finance_crm_clients"]).await
    }
}
