//! The events this subgraph publishes on `erp.finance.events` through its outbox (their
//! payloads are declared beside the use cases that write them), and the consumer groups of the
//! events it consumes (their handlers: `consumers.rs`).
//!
//! Every envelope carries the kit's `id` (UUIDv7), `tenant_id`, `occurred_at` and
//! `schema_version`; consumers deduplicate on the id.

pub const DOMAIN: &str = "finance";

/// A journal entry was posted (every posting: manual, reversal or a document's).
pub const JOURNAL_POSTED: &str = "journal.posted";
/// A customer invoice was posted (numbered, its entry posted).
pub const INVOICE_POSTED: &str = "invoice.posted";
/// A customer payment was received (posted to the bank).
pub const PAYMENT_RECEIVED: &str = "payment.received";
/// An expense claim was approved (its expense posted against the employee's reimbursement).
pub const EXPENSE_APPROVED: &str = "expense.approved";
/// A vendor bill was posted (numbered, its entry posted): analytics counts it as its project's
/// direct cost.
pub const BILL_POSTED: &str = "bill.posted";
/// An approved timesheet's billable hours of one project went on the project's draft invoice
/// at the project's billing rate of the moment (billing consumer, in the consumer's
/// transaction): work in progress at the bill rate until that invoice is posted. Payload
/// [`crate::app::billing::TimesheetBilled`].
pub const TIMESHEET_BILLED: &str = "timesheet.billed";
/// A draft invoice was deleted before it was posted (nothing numbered, no entry): the
/// `timesheet.billed` lines it held are no longer on an invoice, so analytics stops counting
/// them as work in progress (from the day of the deletion). Payload [`InvoiceDraftDeleted`].
/// Enqueued by `deleteDraftInvoice` ([`crate::app::Finance::delete_draft`]) in the deleting
/// transaction; analytics consumes it.
pub const INVOICE_DRAFT_DELETED: &str = "invoice.draft_deleted";
/// Finance's own total of a day's records, for analytics' reconciliation (source `invoices`:
/// the posted customer invoices of an invoice date, count and base-currency sum), enqueued
/// with each `invoice.posted` in the same transaction ([`crate::app::control_totals`]).
pub const CONTROL_TOTAL_PUBLISHED: &str = "control_total.published";

/// A payroll run was posted (its one summarised entry); payload: ids and counts, no amounts.
pub const PAYROLL_POSTED: &str = "payroll.posted";
/// A posted payroll run was cancelled (its entry reversed).
pub const PAYROLL_CANCELLED: &str = "payroll.cancelled";
/// A payroll run was paid (its bank file generated, the payment posted).
pub const PAYROLL_PAID: &str = "payroll.paid";
/// A payslip is visible to its employee (after the run's posting committed); no amounts.
pub const PAYSLIP_PUBLISHED: &str = "payslip.published";
/// A posted (or, `reversal: true`, cancelled) run's employer cost per payslip, for analytics:
/// the slips' ids and costs sealed in transit (`sealed_for_analytics`), in parts of at most
/// [`crate::app::payroll::COST_PART_SLIPS`] slips. Enqueued with `payroll.posted` (and
/// `payroll.cancelled`) in the same transaction.
pub const PAYROLL_COST_POSTED: &str = "payroll.cost_posted";

/// The consumer group that keeps finance's directory of people.
pub const ORG_GROUP: &str = "erp.finance.org";
/// The consumer group that bills approved timesheets.
pub const BILLING_GROUP: &str = "erp.finance.billing";
/// The consumer group that drafts invoices from the CRM's accepted quotes (and follows the
/// CRM clients' renames and merges on its customer partners).
pub const QUOTE_GROUP: &str = "erp.finance.quotes";
/// The CRM's: a client changed, a rename among them (its partners take the name).
pub const CLIENT_UPDATED: &str = "client.updated";
/// The CRM's: a client was merged into another (its partners are mapped to the survivor).
pub const CLIENT_MERGED: &str = "client.merged";
/// The CRM's: a merge was undone (the partners it moved are mapped back).
pub const CLIENT_MERGE_UNDONE: &str = "client.merge_undone";
/// The consumer group reading ops' asset events (depreciation lines, disposals).
pub const ASSET_GROUP: &str = "erp.finance.assets";
/// The consumer group that keeps payroll's sealed pay facts and leave without pay.
pub const PAYROLL_GROUP: &str = "erp.finance.payroll";

/// The payload of [`INVOICE_DRAFT_DELETED`] (schema version 1).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InvoiceDraftDeleted {
    /// The deleted draft (what `timesheet.billed` named as `invoice_id`).
    pub invoice_id: String,
    /// Its project, for a project's time-billing draft.
    pub project_id: Option<String>,
    /// The time entries its lines billed, released (billable again): the `timesheet.billed`
    /// line keys (`timesheet:<id>:<project>`) and any time entry a line drafted by hand named.
    pub line_keys: Vec<String>,
}
