//! The CRM's accepted quotes finance has drafted an invoice for: one row per quote (whichever
//! of its versions came first), written in the consumer's transaction beside the invoice, so a
//! quote is invoiced at most once however often, or in whatever version order, its
//! `quote.accepted` arrives. The invoice's own `reference` becomes its number on posting, so
//! the quote is remembered here, not there.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![table(
                "finance_quote_invoices",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("quote_id", Text, NOT_NULL),
                    // The quote's number (`Q-000042`) and the version the invoice copies.
                    ("quote_number", Text, NOT_NULL),
                    ("quote_version", Int, NOT_NULL),
                    ("document_id", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "quote_id"],
            )],
            vec![index(
                "ux_finance_quote_invoices_document",
                "finance_quote_invoices",
                &["tenant_id", "document_id"],
                true,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["finance_quote_invoices"]).await
    }
}
