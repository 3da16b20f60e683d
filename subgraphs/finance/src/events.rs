//! The events this subgraph publishes on `erp.finance.events` through its outbox, and (once the
//! kit's consumer is wired) the handlers of the events it consumes.
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
