//! Receivables and payables: partners (customers and vendors), payment terms, documents
//! (invoices, credit notes, vendor bills) with their lines and instalments, payments and their
//! allocations, recurring schedules.
//!
//! What the database guarantees besides the application: a document's number is unique in its
//! series; a recurring schedule generates one document per period (unique `(schedule, period)`,
//! invariant F7); a PMO time entry is billed at most once (unique `time_entry_id`, F14).

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_partners",
    "finance_payment_terms",
    "finance_documents",
    "finance_document_lines",
    "finance_instalments",
    "finance_payments",
    "finance_allocations",
    "finance_recurring_schedules",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![
            table(
                "finance_partners",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("kind", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("client_id", Text, NULL),
                    ("payment_term_id", Text, NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_payment_terms",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    // "share_ppm:days,share_ppm:days": a short, total list.
                    ("lines", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_documents",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("kind", Text, NOT_NULL),
                    ("partner_id", Text, NOT_NULL),
                    ("posted", Bool, NOT_NULL),
                    ("number", BigInt, NULL),
                    ("reference", Text, NULL),
                    ("document_date", Date, NOT_NULL),
                    ("due_date", Date, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("untaxed", BigInt, NOT_NULL),
                    ("tax", BigInt, NOT_NULL),
                    ("total", BigInt, NOT_NULL),
                    // Allocations of payments and credit notes: outstanding = total - settled.
                    ("settled", BigInt, NOT_NULL),
                    ("credited_document_id", Text, NULL),
                    ("entry_id", Text, NULL),
                    ("project_id", Text, NULL),
                    ("department_id", Text, NULL),
                    ("memo", Text, NULL),
                    ("payment_term_id", Text, NULL),
                    ("recurring_schedule_id", Text, NULL),
                    ("recurring_period", Date, NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                    ("posted_at", Timestamp, NULL),
                ],
                &["id"],
            ),
            table(
                "finance_document_lines",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("document_id", Text, NOT_NULL),
                    ("line_no", Int, NOT_NULL),
                    ("description", Text, NOT_NULL),
                    ("account_id", Text, NOT_NULL),
                    ("quantity_milli", BigInt, NOT_NULL),
                    ("unit_price", BigInt, NOT_NULL),
                    ("discount_ppm", BigInt, NOT_NULL),
                    ("tax_id", Text, NULL),
                    ("subtotal", BigInt, NOT_NULL),
                    ("tax_amount", BigInt, NOT_NULL),
                    ("project_id", Text, NULL),
                    ("time_entry_id", Text, NULL),
                ],
                &["id"],
            ),
            table(
                "finance_instalments",
                &[
                    ("document_id", Text, NOT_NULL),
                    ("seq", Int, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("due_date", Date, NOT_NULL),
                    ("amount", BigInt, NOT_NULL),
                ],
                &["document_id", "seq"],
            ),
            table(
                "finance_payments",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("direction", Text, NOT_NULL),
                    ("partner_id", Text, NOT_NULL),
                    ("payment_date", Date, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("amount", BigInt, NOT_NULL),
                    ("allocated", BigInt, NOT_NULL),
                    ("bank_account_id", Text, NOT_NULL),
                    ("entry_id", Text, NOT_NULL),
                    ("memo", Text, NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_allocations",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("payment_id", Text, NULL),
                    ("credit_note_id", Text, NULL),
                    ("document_id", Text, NOT_NULL),
                    ("amount", BigInt, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_recurring_schedules",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("partner_id", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("day_of_month", Int, NOT_NULL),
                    ("starts_on", Date, NOT_NULL),
                    ("ends_on", Date, NULL),
                    // The template lines, as the createInvoice input's lines (JSON).
                    ("lines", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
        ];
        let indexes = vec![
            index(
                "ix_finance_partners_kind",
                "finance_partners",
                &["tenant_id", "kind", "id"],
                false,
            ),
            index(
                "ux_finance_documents_reference",
                "finance_documents",
                &["tenant_id", "reference"],
                true,
            ),
            index(
                "ux_finance_documents_recurring",
                "finance_documents",
                &["tenant_id", "recurring_schedule_id", "recurring_period"],
                true,
            ),
            index(
                "ix_finance_documents_partner",
                "finance_documents",
                &["tenant_id", "kind", "partner_id"],
                false,
            ),
            index(
                "ix_finance_documents_project",
                "finance_documents",
                &["tenant_id", "project_id"],
                false,
            ),
            index(
                "ix_finance_document_lines_document",
                "finance_document_lines",
                &["document_id", "line_no"],
                false,
            ),
            index(
                "ux_finance_document_lines_time_entry",
                "finance_document_lines",
                &["tenant_id", "time_entry_id"],
                true,
            ),
            index(
                "ix_finance_instalments_due",
                "finance_instalments",
                &["tenant_id", "due_date"],
                false,
            ),
            index(
                "ix_finance_payments_partner",
                "finance_payments",
                &["tenant_id", "partner_id"],
                false,
            ),
            index(
                "ix_finance_allocations_document",
                "finance_allocations",
                &["tenant_id", "document_id"],
                false,
            ),
            index(
                "ix_finance_allocations_payment",
                "finance_allocations",
                &["tenant_id", "payment_id"],
                false,
            ),
        ];
        create(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
