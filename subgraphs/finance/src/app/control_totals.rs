//! Control totals for analytics' reconciliation: with each posted customer invoice, finance
//! publishes its own total of the invoice's day (`control_total.published`, source `invoices`:
//! how many invoices are posted with that date and their base totals' sum), in the posting
//! transaction, through the outbox. The newest total of a day is the one that counts; a day's
//! total is published again whenever an invoice of that date is posted, so it is never stale
//! and nothing has to run on a schedule. The day's total is a running one (one row per tenant,
//! day and base currency, advanced by an upsert in the posting transaction): publishing it
//! costs the same on a day of ten invoices as on a day of ten thousand.

use chrono::NaiveDate;
use serde::Serialize;

use erp_kit::ApiResult;

use super::{Actor, Finance};
use crate::events;
use crate::store::control_totals as store;

/// The control total of posted customer invoices.
pub const INVOICES_SOURCE: &str = "invoices";

/// Payload of `control_total.published` (schema version 1).
#[derive(Debug, Serialize)]
pub struct ControlTotalPublished<'a> {
    /// What is counted (`invoices`).
    pub source: &'a str,
    /// The records' own date (an invoice's date).
    pub day: NaiveDate,
    /// How many.
    pub count: i64,
    /// Their sum, in minor units of `currency`.
    pub amount: i64,
    /// The tenant's base currency.
    pub currency: &'a str,
}

impl Finance {
    /// Adds the invoice just posted (dated `day`, worth `base_total` minor units of the base
    /// currency) to its day's control total and enqueues the new total, in the posting
    /// transaction `txn` (after the invoice was posted and numbered). Credit notes are not
    /// invoices: they count in no day's total (analytics' facts count invoices alone).
    pub(crate) async fn enqueue_invoice_control_total<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        day: NaiveDate,
        base_currency: &str,
        base_total: i64,
    ) -> ApiResult<()> {
        self.enqueue_invoices_control_total(txn, actor, day, base_currency, 1, base_total)
            .await
    }

    /// [`Finance::enqueue_invoice_control_total`] for `records` invoices of one day posted
    /// together (a batch of postings), worth `base_total` in all: one upsert, one event.
    pub(crate) async fn enqueue_invoices_control_total<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        day: NaiveDate,
        base_currency: &str,
        records: i64,
        base_total: i64,
    ) -> ApiResult<()> {
        let (count, amount) = store::add_to_day(
            txn,
            &actor.tenant,
            INVOICES_SOURCE,
            day,
            base_currency,
            records,
            base_total,
        )
        .await?;
        self.enqueue(
            txn,
            actor,
            events::CONTROL_TOTAL_PUBLISHED,
            &format!("{INVOICES_SOURCE}:{day}"),
            ControlTotalPublished {
                source: INVOICES_SOURCE,
                day,
                count,
                amount,
                currency: base_currency,
            },
        )
        .await
    }
}
