//! Receivables and payables: partners and payment terms, documents (customer invoices, credit
//! notes, vendor bills) from draft to posted, payments with their allocations, recurring
//! schedules.
//!
//! A document posts once (its draft row is claimed first), is numbered in its own series per
//! fiscal year inside the posting transaction, and posts its journal entry through the ledger's
//! one write path. A posted invoice is never cancelled: a credit note credits it. Outstanding
//! amounts come from allocations (payments and credit notes), bounded under concurrency by the
//! store's conditional updates (invariant F8).
//!
//! Documents and payments are in the base currency or in a foreign currency with an exchange
//! rate in force on their date: a foreign posting stores the rate it used and its base amounts
//! once (invariant F4). An allocation clears the document's booked base amount (in proportion;
//! the allocation that settles it clears the exact rest) and posts the difference to what the
//! settlement is worth at its own rate as a realised exchange gain or loss, in the same
//! transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use erp_kit::{ApiError, ApiResult, TenantId};
use serde::{Deserialize, Serialize};

use super::ledger::Posting;
use super::{new_id, Actor, Finance, Outcome};
use crate::domain::fx::{base_share, spread, ExchangeRate};
use crate::domain::invoice::{
    check_credit, check_draft, check_term, due_periods, instalments, period_invoice_date,
    DocumentKind, TermLine,
};
use crate::domain::ledger::{AccountFacts, AccountRole, Dimensions, Party, ProposedLine, Side};
use crate::domain::money::{Currency, Money, Percent, Quantity};
use crate::domain::payment::{
    check_allocations, realised_difference, ControlLedger, OpenDocument, PaymentDirection,
    RealisedDifference,
};
use crate::domain::period::open_year_for;
use crate::domain::tax::{compute, PricedLine, TaxRate, TaxRounding, Totals};
use crate::domain::{parse_optional_text, parse_text, FinanceViolation};
use crate::events;
use crate::store::documents as store;
use crate::store::entities::{
    allocation, document, document_line, entry, instalment, partner, payment, payment_term,
    recurring_schedule, settings,
};
use crate::store::ledger as ledger_store;

/// The operation name a posting's idempotency key is stored under.
pub(crate) const POST_DOCUMENT: &str = "postDocument";

/// What a posting's idempotency key fingerprints (alone or in a batch alike).
#[derive(Serialize)]
pub(crate) struct PostDocumentRequest<'a> {
    pub document_id: &'a str,
}

/// A customer or vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartnerKind {
    Customer,
    Vendor,
}

impl PartnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerKind::Customer => "customer",
            PartnerKind::Vendor => "vendor",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PartnerRequest {
    pub kind: PartnerKind,
    pub name: String,
    pub client_id: Option<String>,
    pub payment_term_id: Option<String>,
}

/// A payment term: instalments as (share in percent, days after the document date).
#[derive(Debug, Clone, Serialize)]
pub struct TermRequest {
    pub name: String,
    pub instalments: Vec<(String, u32)>,
}

/// A document line as requested (also the template line of a recurring schedule).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineRequest {
    pub description: String,
    /// Default: the settings' income account (invoices, credit notes) or expense account (bills).
    pub account_id: Option<String>,
    /// A positive decimal with at most 3 decimals (hours, units).
    pub quantity: String,
    /// A decimal string of the document's currency.
    pub unit_price: String,
    /// A percentage, default 0.
    pub discount: Option<String>,
    pub tax_id: Option<String>,
    pub project_id: Option<String>,
    /// A PMO time entry this line bills (billed at most once).
    pub time_entry_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentRequest {
    pub kind: &'static str,
    pub partner_id: String,
    pub date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: String,
    pub memo: Option<String>,
    pub project_id: Option<String>,
    pub department_id: Option<String>,
    pub payment_term_id: Option<String>,
    pub lines: Vec<LineRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateRequest {
    pub document_id: String,
    pub date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub memo: Option<String>,
    pub lines: Option<Vec<LineRequest>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreditNoteRequest {
    pub invoice_id: String,
    pub date: NaiveDate,
    pub memo: Option<String>,
    /// Default: every line of the invoice (a full credit).
    pub lines: Option<Vec<LineRequest>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocationRequest {
    pub document_id: String,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentRequest {
    pub direction: &'static str,
    pub partner_id: String,
    pub date: NaiveDate,
    pub currency: String,
    pub amount: String,
    pub bank_account_id: Option<String>,
    pub memo: Option<String>,
    pub allocations: Vec<AllocationRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocateRequest {
    pub payment_id: String,
    pub allocations: Vec<AllocationRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRequest {
    pub partner_id: String,
    pub name: String,
    pub currency: String,
    pub day_of_month: u32,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub lines: Vec<LineRequest>,
}

/// Payload of `bill.posted` (schema version 1): a posted vendor bill, for analytics'
/// profitability (a project's direct costs).
#[derive(Debug, Serialize)]
pub struct BillPosted<'a> {
    pub bill_id: &'a str,
    pub reference: &'a str,
    pub vendor_id: &'a str,
    pub date: NaiveDate,
    pub currency: &'a str,
    /// Minor units.
    pub total: i64,
    pub project_id: Option<&'a str>,
    pub entry_id: &'a str,
    /// The tenant's base currency and the total in it at the bill's booked rate.
    pub base_currency: &'a str,
    /// Minor units of `base_currency`.
    pub base_total: i64,
}

/// Payload of `invoice.posted` (schema version 1).
#[derive(Debug, Serialize)]
pub struct InvoicePosted<'a> {
    pub invoice_id: &'a str,
    pub reference: &'a str,
    pub customer_id: &'a str,
    pub date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: &'a str,
    /// Minor units.
    pub total: i64,
    pub project_id: Option<&'a str>,
    pub entry_id: &'a str,
    /// The CRM client the customer is (null for a customer created in finance only).
    pub client_id: Option<&'a str>,
    /// The tenant's base currency and the total in it at the invoice's booked rate (equal to
    /// `total` for an invoice in the base currency): what analytics sums across currencies.
    pub base_currency: &'a str,
    /// Minor units of `base_currency`.
    pub base_total: i64,
}

/// Payload of `payment.received` (schema version 1).
#[derive(Debug, Serialize)]
pub struct PaymentReceived<'a> {
    pub payment_id: &'a str,
    pub customer_id: &'a str,
    pub date: NaiveDate,
    pub currency: &'a str,
    /// Minor units.
    pub amount: i64,
    pub allocated: i64,
    pub entry_id: &'a str,
}

/// Which documents a draft deletion is for: the customer's (invoices and credit notes,
/// `deleteDraftInvoice`) or the vendor's (bills, `deleteDraftBill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftSide {
    Receivable,
    Payable,
}

impl DraftSide {
    fn holds(self, kind: DocumentKind) -> bool {
        match self {
            DraftSide::Receivable => kind != DocumentKind::Bill,
            DraftSide::Payable => kind == DocumentKind::Bill,
        }
    }

    fn what(self) -> &'static str {
        match self {
            DraftSide::Receivable => "invoice",
            DraftSide::Payable => "bill",
        }
    }

    fn field(self) -> &'static str {
        match self {
            DraftSide::Receivable => "invoiceId",
            DraftSide::Payable => "billId",
        }
    }

    fn other_side(self) -> &'static str {
        match self {
            DraftSide::Receivable => "a vendor bill is deleted with deleteDraftBill",
            DraftSide::Payable => {
                "a customer invoice or credit note is deleted with deleteDraftInvoice"
            }
        }
    }
}

/// A deleted draft: its id and the time entries its lines billed (billable again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedDraft {
    pub id: String,
    pub released_time_entries: Vec<String>,
}

/// The default days to the due date without a payment term.
pub(crate) const DEFAULT_DUE_DAYS: i64 = 30;

/// The chart's accounts for realised exchange differences, by code (in the default chart).
pub mod exchange_accounts {
    pub const GAIN: &str = "4950";
    pub const LOSS: &str = "6950";
}

impl Finance {
    pub async fn create_partner(
        &self,
        actor: &Actor,
        request: PartnerRequest,
    ) -> ApiResult<String> {
        let name = parse_text("name", &request.name)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            if let Some(term) = &request.payment_term_id {
                store::payment_term(txn, &tenant, term)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("payment term".into()))?;
            }
            // A CRM client merged away is its survivor now (the CRM answers its id with the
            // survivor, and moved its records there): a partner created for it belongs to the
            // survivor, as a merged-away client's accepted quote is invoiced to the survivor.
            let client_id = match &request.client_id {
                Some(client_id) => Some(self.surviving_client(txn, &tenant, client_id).await?),
                None => None,
            };
            let id = new_id();
            store::insert_partner(
                txn,
                partner::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    kind: request.kind.as_str().into(),
                    name,
                    client_id,
                    payment_term_id: request.payment_term_id.clone(),
                    created_at: chrono::Utc::now(),
                },
            )
            .await?;
            Ok(id)
        })
        .await
    }

    pub async fn create_payment_term(
        &self,
        actor: &Actor,
        request: TermRequest,
    ) -> ApiResult<String> {
        let name = parse_text("name", &request.name)?;
        let lines = parse_term(&request.instalments)?;
        let stored = lines
            .iter()
            .map(|line| format!("{}:{}", line.share.ppm(), line.days))
            .collect::<Vec<_>>()
            .join(",");
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let id = new_id();
            store::insert_payment_term(
                txn,
                payment_term::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    name,
                    lines: stored,
                    created_at: chrono::Utc::now(),
                },
            )
            .await?;
            Ok(id)
        })
        .await
    }

    /// Creates a draft document (nothing is posted or numbered yet).
    pub async fn create_document(
        &self,
        actor: &Actor,
        request: DocumentRequest,
    ) -> ApiResult<String> {
        self.write(async |txn| self.create_document_in(txn, actor, &request).await)
            .await
    }

    /// [`Finance::create_document`] inside the caller's transaction.
    pub(crate) async fn create_document_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        request: &DocumentRequest,
    ) -> ApiResult<String> {
        let kind = DocumentKind::from_stored(request.kind)
            .ok_or_else(|| ApiError::internal("document kind"))?;
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(txn, &tenant).await?;
        let currency = self
            .trading_currency(txn, &tenant, &settings, &request.currency, request.date)
            .await?;
        let partner = self
            .partner_of_kind(txn, &tenant, &request.partner_id, kind)
            .await?;
        let term_id = request
            .payment_term_id
            .clone()
            .or_else(|| partner.payment_term_id.clone());
        if let Some(term) = &term_id {
            store::payment_term(txn, &tenant, term)
                .await?
                .ok_or_else(|| ApiError::NotFound("payment term".into()))?;
        }
        let id = new_id();
        let (lines, totals) = self
            .document_lines(txn, &tenant, &settings, &id, kind, currency, &request.lines)
            .await?;
        store::insert_document(
            txn,
            document::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                kind: kind.as_str().into(),
                partner_id: partner.id.clone(),
                posted: false,
                number: None,
                reference: None,
                document_date: request.date,
                due_date: request
                    .due_date
                    .unwrap_or(request.date + Duration::days(DEFAULT_DUE_DAYS)),
                currency: currency.code().into(),
                untaxed: totals.untaxed,
                tax: totals.tax,
                total: totals.total,
                settled: 0,
                credited_document_id: None,
                entry_id: None,
                project_id: request.project_id.clone(),
                department_id: request.department_id.clone(),
                memo,
                payment_term_id: term_id,
                recurring_schedule_id: None,
                recurring_period: None,
                created_by: actor.user_id.clone(),
                created_at: chrono::Utc::now(),
                posted_at: None,
                rate_nano: None,
                base_total: 0,
                base_settled: 0,
            },
        )
        .await?;
        store::replace_lines(txn, &tenant, &id, lines)
            .await
            .map_err(|err| super::unique_as(err, FinanceViolation::TimeEntryAlreadyBilled))?;
        Ok(id)
    }

    /// Changes a draft (NOT_DRAFT once posted: a posted document is credited, never edited).
    pub async fn update_document(
        &self,
        actor: &Actor,
        request: UpdateRequest,
    ) -> ApiResult<String> {
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            // The draft's row first (a posting's, a deletion's and a billing's lock order), then
            // the draft as it is now: what the edit leaves unchanged (its date, memo, totals) is
            // what a billing or another edit that committed meanwhile wrote, not an older copy.
            if !store::lock_draft(txn, &tenant, &request.document_id).await? {
                return Err(no_longer_a_draft(txn, &tenant, &request.document_id).await?);
            }
            let current = store::document(txn, &tenant, &request.document_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
            check_draft(current.posted, "document")?;
            let kind = stored_kind(&current)?;
            let currency = Currency::parse(&current.currency)?;
            let (rows, untaxed, tax, total) = match &request.lines {
                Some(lines) => {
                    let (rows, totals) = self
                        .document_lines(txn, &tenant, &settings, &current.id, kind, currency, lines)
                        .await?;
                    (Some(rows), totals.untaxed, totals.tax, totals.total)
                }
                None => (None, current.untaxed, current.tax, current.total),
            };
            let date = request.date.unwrap_or(current.document_date);
            if date != current.document_date {
                // A foreign document's new date needs a rate too.
                self.trading_currency(txn, &tenant, &settings, &current.currency, date)
                    .await?;
            }
            let due = request.due_date.unwrap_or(current.due_date);
            let updated = store::update_draft(
                txn,
                &tenant,
                &current.id,
                date,
                due,
                memo.or(current.memo.clone()),
                untaxed,
                tax,
                total,
            )
            .await?;
            // Locked above: still the draft it was.
            if !updated {
                return Err(match store::document(txn, &tenant, &current.id).await? {
                    None => ApiError::NotFound("invoice".into()),
                    Some(_) => FinanceViolation::NotDraft("document").into(),
                });
            }
            if let Some(rows) = rows {
                store::replace_lines(txn, &tenant, &current.id, rows)
                    .await
                    .map_err(|err| {
                        super::unique_as(err, FinanceViolation::TimeEntryAlreadyBilled)
                    })?;
            }
            Ok(current.id.clone())
        })
        .await
    }

    /// Deletes a draft of `side` with its lines, in one transaction: the time entries its lines
    /// billed are released (billable again: a later invoice bills each once), and a customer
    /// invoice's deletion enqueues `invoice.draft_deleted` in the same transaction. A draft
    /// has no number yet (numbers are taken at posting), so no series gets a gap. NOT_FOUND
    /// for an unknown id (or another tenant's), BAD_USER_INPUT for a document of the other
    /// side, NOT_DRAFT once posted (a posted document is credited), RECURRING_DRAFT for a
    /// recurring schedule's invoice (its month would be generated again). A CRM quote's
    /// draft stays the quote's invoice (a quote is invoiced once: a redelivery drafts nothing).
    pub async fn delete_draft(
        &self,
        actor: &Actor,
        document_id: &str,
        side: DraftSide,
    ) -> ApiResult<DeletedDraft> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let current = store::document(txn, &tenant, document_id)
                .await?
                .ok_or_else(|| ApiError::NotFound(side.what().into()))?;
            let kind = stored_kind(&current)?;
            if !side.holds(kind) {
                return Err(ApiError::bad_input(side.field(), side.other_side()));
            }
            check_draft(current.posted, side.what())?;
            if current.recurring_schedule_id.is_some() {
                return Err(FinanceViolation::RecurringDraft.into());
            }
            // The row first (a posting's lock order): a posting that claimed it meanwhile has
            // committed (no draft any more) or rolled back (still one) by the time this runs.
            if !store::delete_draft(txn, &tenant, &current.id).await? {
                return Err(match store::document(txn, &tenant, &current.id).await? {
                    None => ApiError::NotFound(side.what().into()),
                    Some(_) => FinanceViolation::NotDraft(side.what()).into(),
                });
            }
            // The lines as they are now, read after the row's lock: a line the billing
            // consumer added meanwhile (it locks the draft's row first too) is released with
            // the others.
            let released: Vec<String> = store::lines_of(txn, &tenant, vec![current.id.clone()])
                .await?
                .into_iter()
                .filter_map(|line| line.time_entry_id)
                .collect();
            store::delete_lines(txn, &tenant, &current.id).await?;
            if kind == DocumentKind::Invoice {
                self.enqueue(
                    txn,
                    actor,
                    events::INVOICE_DRAFT_DELETED,
                    &current.id,
                    events::InvoiceDraftDeleted {
                        invoice_id: current.id.clone(),
                        project_id: current.project_id.clone(),
                        line_keys: released.clone(),
                    },
                )
                .await?;
            }
            Ok(DeletedDraft {
                id: current.id.clone(),
                released_time_entries: released,
            })
        })
        .await
    }

    /// Drafts a credit note against a posted invoice (by default for all its lines).
    pub async fn create_credit_note(
        &self,
        actor: &Actor,
        request: CreditNoteRequest,
    ) -> ApiResult<String> {
        self.write(async |txn| self.create_credit_note_in(txn, actor, &request).await)
            .await
    }

    /// [`Finance::create_credit_note`] inside the caller's transaction.
    pub(crate) async fn create_credit_note_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        request: &CreditNoteRequest,
    ) -> ApiResult<String> {
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(txn, &tenant).await?;
        let invoice = store::document(txn, &tenant, &request.invoice_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
        if stored_kind(&invoice)? != DocumentKind::Invoice || !invoice.posted {
            return Err(ApiError::bad_input(
                "invoiceId",
                "a credit note credits a posted customer invoice",
            ));
        }
        // A foreign invoice's credit note posts at the rate of its own date.
        let currency = self
            .trading_currency(txn, &tenant, &settings, &invoice.currency, request.date)
            .await?;
        let lines = match &request.lines {
            Some(lines) => lines.clone(),
            None => store::lines_of(txn, &tenant, vec![invoice.id.clone()])
                .await?
                .into_iter()
                .map(|line| template_line(&line, currency))
                .collect(),
        };
        let id = new_id();
        let (rows, totals) = self
            .document_lines(
                txn,
                &tenant,
                &settings,
                &id,
                DocumentKind::CreditNote,
                currency,
                &lines,
            )
            .await?;
        check_credit(invoice.total - invoice.settled, totals.total)?;
        store::insert_document(
            txn,
            document::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                kind: DocumentKind::CreditNote.as_str().into(),
                partner_id: invoice.partner_id.clone(),
                posted: false,
                number: None,
                reference: None,
                document_date: request.date,
                due_date: request.date,
                currency: invoice.currency.clone(),
                untaxed: totals.untaxed,
                tax: totals.tax,
                total: totals.total,
                settled: 0,
                credited_document_id: Some(invoice.id.clone()),
                entry_id: None,
                project_id: invoice.project_id.clone(),
                department_id: invoice.department_id.clone(),
                memo: memo.or_else(|| {
                    invoice
                        .reference
                        .as_ref()
                        .map(|r| format!("Credit note for {r}"))
                }),
                payment_term_id: None,
                recurring_schedule_id: None,
                recurring_period: None,
                created_by: actor.user_id.clone(),
                created_at: chrono::Utc::now(),
                posted_at: None,
                rate_nano: None,
                base_total: 0,
                base_settled: 0,
            },
        )
        .await?;
        store::replace_lines(txn, &tenant, &id, rows).await?;
        Ok(id)
    }

    /// Posts a draft document (idempotent): numbered, its entry posted, its instalments set;
    /// a credit note settles its invoice.
    pub async fn post_document(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        document_id: &str,
    ) -> ApiResult<Outcome> {
        self.idempotent(
            &actor.tenant,
            idempotency_key,
            POST_DOCUMENT,
            &PostDocumentRequest { document_id },
            async |txn| {
                self.post_document_in(txn, actor, document_id).await?;
                Ok(document_id.to_owned())
            },
        )
        .await
    }

    /// The posting of a draft, inside the caller's transaction.
    pub(crate) async fn post_document_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        document_id: &str,
    ) -> ApiResult<document::Model> {
        let tenant = &actor.tenant;
        let settings = self.require_set_up(txn, tenant).await?;
        let draft = store::document(txn, tenant, document_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
        check_draft(draft.posted, "document")?;
        // The draft row is locked first (lock order: document, sequence, journal, balances).
        if !store::claim_draft(txn, tenant, &draft.id).await? {
            return Err(no_longer_a_draft(txn, tenant, &draft.id).await?);
        }
        // Read again now that the row is ours: the claim waited for an edit in flight (a new
        // date, due date or payment term), which the entry and instalments must follow.
        let draft = store::document(txn, tenant, &draft.id)
            .await?
            .ok_or_else(|| ApiError::internal("a claimed draft is gone"))?;
        let kind = stored_kind(&draft)?;
        let currency = Currency::parse(&draft.currency)?;
        let lines = store::lines_of(txn, tenant, vec![draft.id.clone()]).await?;
        let requests: Vec<LineRequest> = lines.iter().map(|l| template_line(l, currency)).collect();
        let (computed, totals) = self
            .document_lines(txn, tenant, &settings, &draft.id, kind, currency, &requests)
            .await?;
        for (stored, computed) in lines.iter().zip(&computed) {
            store::set_line_amounts(
                txn,
                tenant,
                &stored.id,
                computed.subtotal,
                computed.tax_amount,
            )
            .await?;
        }
        let years = self.fiscal_years_in(txn, tenant).await?;
        let year = open_year_for(&years, settings.lock_date, draft.document_date)?;
        // Read before the number is taken (see `next_number`).
        let tax_accounts: HashMap<String, String> = ledger_store::taxes(txn, tenant)
            .await?
            .into_iter()
            .map(|tax| (tax.id, tax.account_id))
            .collect();
        // Analytics reads profitability per CRM client: an invoice's customer's client, if any.
        let client_id = match kind {
            DocumentKind::Invoice => store::partner(txn, tenant, &draft.partner_id)
                .await?
                .and_then(|customer| customer.client_id),
            _ => None,
        };
        let number = ledger_store::next_number(txn, tenant, kind.series(), &year.id).await?;
        let reference = format!("{}/{}/{number:05}", kind.series(), year.name);

        let mut settled = 0;
        let mut credited: Option<document::Model> = None;
        if kind == DocumentKind::CreditNote {
            let invoice_id = draft
                .credited_document_id
                .clone()
                .ok_or_else(|| ApiError::internal("a credit note without its invoice"))?;
            let invoice = store::document(txn, tenant, &invoice_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
            check_credit(invoice.total - invoice.settled, totals.total)?;
            if !store::add_settlement(txn, tenant, &invoice.id, totals.total).await? {
                return Err(FinanceViolation::CreditExceedsInvoice.into());
            }
            // A credit note is settled by what it credits (its allocation is written once its
            // own entry, hence its base amount, is posted).
            settled = totals.total;
            credited = Some(invoice);
        }

        let numbered = document::Model {
            reference: Some(reference.clone()),
            ..draft.clone()
        };
        let entry_lines = document_entry(
            &settings,
            &numbered,
            kind,
            currency,
            &computed,
            &totals,
            &tax_accounts,
        )?;
        let journal_id = match kind {
            DocumentKind::Bill => settings.purchase_journal_id.clone(),
            _ => settings.sales_journal_id.clone(),
        };
        let entry = self
            .post_lines_read(
                txn,
                actor,
                (&settings, &years),
                Posting {
                    journal_id,
                    date: draft.document_date,
                    memo: Some(reference.clone()),
                    source_kind: kind.as_str(),
                    source_id: Some(draft.id.clone()),
                    reverses_id: None,
                    allow_control: true,
                },
                entry_lines,
            )
            .await?;
        let base = Currency::parse(&settings.base_currency)?;
        let base_total = base_amount_of(&entry, Money::from_minor(totals.total, currency)?, base)?;
        let base_settled = if settled == totals.total {
            base_total
        } else {
            0
        };
        store::set_posted(
            txn,
            tenant,
            &draft.id,
            store::Posted {
                number,
                reference: &reference,
                entry_id: &entry.id,
                untaxed: totals.untaxed,
                tax: totals.tax,
                total: totals.total,
                settled,
                rate_nano: entry.rate_nano,
                base_total,
                base_settled,
            },
        )
        .await?;
        if let Some(invoice) = credited {
            // The credit note clears the invoice's booked base amount; what it is worth at its
            // own rate differs when the rate moved: a realised difference.
            let invoice_base = self
                .clear_document_base(txn, tenant, &invoice.id, totals.total)
                .await?;
            let difference =
                realised_difference(ControlLedger::Receivables, base_total, invoice_base);
            let exchange_entry = self
                .post_exchange_differences(
                    txn,
                    actor,
                    &settings,
                    Party::Customer(invoice.partner_id.clone()),
                    draft.document_date.max(invoice.document_date),
                    ("credit_note", &draft.id),
                    difference
                        .map(|d| (invoice.reference.clone().unwrap_or_default(), d))
                        .into_iter()
                        .collect(),
                )
                .await?;
            store::insert_allocations(
                txn,
                vec![allocation::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    payment_id: None,
                    credit_note_id: Some(draft.id.clone()),
                    document_id: invoice.id.clone(),
                    amount: totals.total,
                    created_at: chrono::Utc::now(),
                    base_amount: invoice_base,
                    exchange_difference: base_total - invoice_base,
                    exchange_entry_id: exchange_entry,
                }],
            )
            .await?;
        }
        if kind != DocumentKind::CreditNote {
            let term = match &draft.payment_term_id {
                Some(id) => store::payment_term(txn, tenant, id)
                    .await?
                    .map(|term| stored_term(&term.lines))
                    .transpose()?
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let parts = instalments(totals.total, draft.document_date, &term, draft.due_date);
            store::insert_instalments(
                txn,
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(seq, (due_date, amount))| instalment::Model {
                        document_id: draft.id.clone(),
                        seq: seq as i32 + 1,
                        tenant_id: tenant.as_str().to_owned(),
                        due_date,
                        amount,
                    })
                    .collect(),
            )
            .await?;
        }
        if kind == DocumentKind::Invoice {
            self.enqueue(
                txn,
                actor,
                events::INVOICE_POSTED,
                &draft.id,
                InvoicePosted {
                    invoice_id: &draft.id,
                    reference: &reference,
                    customer_id: &draft.partner_id,
                    date: draft.document_date,
                    due_date: draft.due_date,
                    currency: &draft.currency,
                    total: totals.total,
                    project_id: draft.project_id.as_deref(),
                    entry_id: &entry.id,
                    client_id: client_id.as_deref(),
                    base_currency: &settings.base_currency,
                    base_total,
                },
            )
            .await?;
            self.enqueue_invoice_control_total(
                txn,
                actor,
                draft.document_date,
                &settings.base_currency,
                base_total,
            )
            .await?;
        }
        if kind == DocumentKind::Bill {
            self.enqueue(
                txn,
                actor,
                events::BILL_POSTED,
                &draft.id,
                BillPosted {
                    bill_id: &draft.id,
                    reference: &reference,
                    vendor_id: &draft.partner_id,
                    date: draft.document_date,
                    currency: &draft.currency,
                    total: totals.total,
                    project_id: draft.project_id.as_deref(),
                    entry_id: &entry.id,
                    base_currency: &settings.base_currency,
                    base_total,
                },
            )
            .await?;
        }
        store::document(txn, tenant, &draft.id)
            .await?
            .ok_or_else(|| ApiError::internal("the posted document vanished"))
    }

    /// Records a payment received from a customer (INBOUND) or made to a vendor (OUTBOUND),
    /// posts it to the bank, and allocates it to open documents (idempotent).
    pub async fn record_payment(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: PaymentRequest,
    ) -> ApiResult<Outcome> {
        let direction = PaymentDirection::from_stored(request.direction)
            .ok_or_else(|| ApiError::internal("payment direction"))?;
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let tenant = actor.tenant.clone();
        self.idempotent(
            &tenant,
            idempotency_key,
            "recordPayment",
            &request,
            async |txn| {
                let settings = self.require_set_up(txn, &tenant).await?;
                let currency = self
                    .trading_currency(txn, &tenant, &settings, &request.currency, request.date)
                    .await?;
                let amount = Money::parse(&request.amount, currency)?;
                if !amount.is_positive() {
                    return Err(FinanceViolation::AmountOutOfRange.into());
                }
                let (partner_kind, control) = match direction {
                    PaymentDirection::Inbound => (
                        DocumentKind::Invoice,
                        settings.receivable_account_id.clone(),
                    ),
                    PaymentDirection::Outbound => {
                        (DocumentKind::Bill, settings.payable_account_id.clone())
                    }
                };
                let partner = self
                    .partner_of_kind(txn, &tenant, &request.partner_id, partner_kind)
                    .await?;
                let bank = request
                    .bank_account_id
                    .clone()
                    .unwrap_or_else(|| settings.default_bank_account_id.clone());
                let facts = self.account_facts(txn, &tenant, vec![bank.clone()]).await?;
                match facts.get(&bank) {
                    None => return Err(FinanceViolation::AccountNotFound(bank).into()),
                    Some(account) if account.role != AccountRole::Bank => {
                        return Err(ApiError::bad_input("bankAccountId", "not a bank account"))
                    }
                    Some(_) => {}
                }
                let party = party_of(&partner)?;
                let (bank_side, control_side) = match direction {
                    PaymentDirection::Inbound => (Side::Debit, Side::Credit),
                    PaymentDirection::Outbound => (Side::Credit, Side::Debit),
                };
                let id = new_id();
                let entry = self
                    .post_lines(
                        txn,
                        actor,
                        Posting {
                            journal_id: settings.bank_journal_id.clone(),
                            date: request.date,
                            memo: memo
                                .clone()
                                .or_else(|| Some(format!("Payment {}", partner.name))),
                            source_kind: "payment",
                            source_id: Some(id.clone()),
                            reverses_id: None,
                            allow_control: true,
                        },
                        vec![
                            ProposedLine::new(&bank, bank_side, amount),
                            ProposedLine::new(&control, control_side, amount)
                                .with_party(Some(party)),
                        ],
                    )
                    .await?;
                let row = payment::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    direction: direction.as_str().into(),
                    partner_id: partner.id.clone(),
                    payment_date: request.date,
                    currency: currency.code().into(),
                    amount: amount.minor(),
                    allocated: 0,
                    bank_account_id: bank,
                    entry_id: entry.id.clone(),
                    memo,
                    created_by: actor.user_id.clone(),
                    created_at: chrono::Utc::now(),
                    rate_nano: entry.rate_nano,
                    base_amount: base_amount_of(
                        &entry,
                        amount,
                        Currency::parse(&settings.base_currency)?,
                    )?,
                    base_allocated: 0,
                };
                store::insert_payment(txn, row.clone()).await?;
                let allocated = self
                    .allocate_in(txn, actor, &row, &request.allocations)
                    .await?;
                if direction == PaymentDirection::Inbound {
                    self.enqueue(
                        txn,
                        actor,
                        events::PAYMENT_RECEIVED,
                        &id,
                        PaymentReceived {
                            payment_id: &id,
                            customer_id: &partner.id,
                            date: request.date,
                            currency: currency.code(),
                            amount: amount.minor(),
                            allocated,
                            entry_id: &entry.id,
                        },
                    )
                    .await?;
                }
                Ok(id)
            },
        )
        .await
    }

    /// Allocates what a payment has left to open documents (idempotent).
    pub async fn allocate_payment(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: AllocateRequest,
    ) -> ApiResult<Outcome> {
        let tenant = actor.tenant.clone();
        self.idempotent(
            &tenant,
            idempotency_key,
            "allocatePayment",
            &request,
            async |txn| {
                let payment = store::payment(txn, &tenant, &request.payment_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("payment".into()))?;
                self.allocate_in(txn, actor, &payment, &request.allocations)
                    .await?;
                Ok(payment.id)
            },
        )
        .await
    }

    /// Allocates inside the caller's transaction: the domain's checks first (for a precise
    /// reason), then the store's conditional updates, which hold the bounds against concurrent
    /// allocations (payment row first, then documents in id order). Returns the total.
    async fn allocate_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        payment: &payment::Model,
        requests: &[AllocationRequest],
    ) -> ApiResult<i64> {
        if requests.is_empty() {
            return Ok(0);
        }
        let tenant = &actor.tenant;
        let currency = Currency::parse(&payment.currency)?;
        let mut amounts: BTreeMap<String, i64> = BTreeMap::new();
        for request in requests {
            let amount = Money::parse(&request.amount, currency)?;
            if !amount.is_positive() {
                return Err(FinanceViolation::AmountOutOfRange.into());
            }
            *amounts.entry(request.document_id.clone()).or_default() += amount.minor();
        }
        let documents =
            store::documents_by_ids(txn, tenant, amounts.keys().cloned().collect()).await?;
        let by_id: HashMap<&str, &document::Model> =
            documents.iter().map(|d| (d.id.as_str(), d)).collect();
        let expected_kind = match PaymentDirection::from_stored(&payment.direction) {
            Some(PaymentDirection::Outbound) => DocumentKind::Bill,
            _ => DocumentKind::Invoice,
        };
        let mut checked = Vec::with_capacity(amounts.len());
        for (id, amount) in &amounts {
            let document = by_id
                .get(id.as_str())
                .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
            if stored_kind(document)? != expected_kind || !document.posted {
                return Err(FinanceViolation::AllocationMismatch("kind").into());
            }
            checked.push((
                OpenDocument {
                    id: document.id.clone(),
                    reference: document.reference.clone().unwrap_or_default(),
                    party_id: document.partner_id.clone(),
                    currency: document.currency.clone(),
                    outstanding: document.total - document.settled,
                },
                *amount,
            ));
        }
        let total = check_allocations(
            &payment.partner_id,
            &payment.currency,
            currency.exponent(),
            payment.amount - payment.allocated,
            &checked,
        )?;
        if !store::add_allocated(txn, tenant, &payment.id, total).await? {
            // Another allocation of this payment committed in between.
            let fresh = store::payment(txn, tenant, &payment.id).await?;
            let left = fresh.map(|p| p.amount - p.allocated).unwrap_or(0);
            return Err(FinanceViolation::OverAllocation {
                unallocated: crate::domain::money::format_minor(
                    left,
                    u32::from(currency.exponent()),
                ),
                requested: crate::domain::money::format_minor(
                    total,
                    u32::from(currency.exponent()),
                ),
            }
            .into());
        }
        // The payment row is held by the update above: its base amounts are current. What the
        // allocated part is worth at the payment's rate, spread over the documents.
        let held = store::payment(txn, tenant, &payment.id)
            .await?
            .ok_or_else(|| ApiError::internal("the allocated payment vanished"))?;
        let payment_base = base_share(
            total,
            held.amount,
            held.base_amount,
            held.allocated - total,
            held.base_allocated,
        );
        store::add_base_allocated(txn, tenant, &payment.id, payment_base).await?;
        let settlement_bases = spread(
            &checked
                .iter()
                .map(|(document, amount)| (document.id.clone(), *amount))
                .collect::<Vec<_>>(),
            payment_base,
        );
        let (ledger, party) = match expected_kind {
            DocumentKind::Bill => (
                ControlLedger::Payables,
                Party::Vendor(payment.partner_id.clone()),
            ),
            _ => (
                ControlLedger::Receivables,
                Party::Customer(payment.partner_id.clone()),
            ),
        };
        let now = chrono::Utc::now();
        let mut date = payment.payment_date;
        let mut rows = Vec::with_capacity(checked.len());
        let mut differences = Vec::new();
        for ((document, amount), (_, settlement_base)) in checked.into_iter().zip(settlement_bases)
        {
            if !store::add_settlement(txn, tenant, &document.id, amount).await? {
                return Err(FinanceViolation::AllocationExceedsOutstanding {
                    invoice: document.reference,
                }
                .into());
            }
            let document_base = self
                .clear_document_base(txn, tenant, &document.id, amount)
                .await?;
            if let Some(booked) = by_id.get(document.id.as_str()) {
                date = date.max(booked.document_date);
            }
            if let Some(difference) = realised_difference(ledger, settlement_base, document_base) {
                differences.push((document.reference.clone(), difference));
            }
            rows.push(allocation::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                payment_id: Some(payment.id.clone()),
                credit_note_id: None,
                document_id: document.id,
                amount,
                created_at: now,
                base_amount: document_base,
                exchange_difference: settlement_base - document_base,
                exchange_entry_id: None,
            });
        }
        let exchange_entry = self
            .post_exchange_differences(
                txn,
                actor,
                &self.require_set_up(txn, tenant).await?,
                party,
                date,
                ("payment", &payment.id),
                differences,
            )
            .await?;
        for row in &mut rows {
            if row.exchange_difference != 0 {
                row.exchange_entry_id = exchange_entry.clone();
            }
        }
        store::insert_allocations(txn, rows).await?;
        Ok(total)
    }

    /// Adds what `amount` (just settled on the document, whose row the settlement holds)
    /// clears of its booked base amount; returns it.
    async fn clear_document_base<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        document_id: &str,
        amount: i64,
    ) -> ApiResult<i64> {
        let held = store::document(txn, tenant, document_id)
            .await?
            .ok_or_else(|| ApiError::internal("the settled document vanished"))?;
        let cleared = base_share(
            amount,
            held.total,
            held.base_total,
            held.settled - amount,
            held.base_settled,
        );
        store::add_base_settlement(txn, tenant, document_id, cleared).await?;
        Ok(cleared)
    }

    /// Posts realised exchange differences as one base-currency entry in the general journal:
    /// per settled document a line on the control account (with the partner) bringing its
    /// base balance to what was cleared, against the chart's exchange gain and loss accounts.
    /// Returns the entry, None when there is no difference.
    #[allow(clippy::too_many_arguments)]
    async fn post_exchange_differences<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        settings: &settings::Model,
        party: Party,
        date: NaiveDate,
        (source_kind, source_id): (&'static str, &str),
        differences: Vec<(String, RealisedDifference)>,
    ) -> ApiResult<Option<String>> {
        if differences.is_empty() {
            return Ok(None);
        }
        let base = Currency::parse(&settings.base_currency)?;
        let control = match party {
            Party::Vendor(_) => &settings.payable_account_id,
            _ => &settings.receivable_account_id,
        };
        let chart = ledger_store::all_accounts(txn, &actor.tenant).await?;
        let by_code = |code: &'static str| -> ApiResult<String> {
            chart
                .iter()
                .find(|account| account.code == code)
                .map(|account| account.id.clone())
                .ok_or_else(|| FinanceViolation::ExchangeAccountMissing(code).into())
        };
        let money = |minor: i64| Money::from_minor(minor, base).map_err(ApiError::from);
        let (mut gains, mut losses) = (0i64, 0i64);
        let mut lines = Vec::with_capacity(differences.len() + 2);
        for (reference, difference) in &differences {
            lines.push(
                ProposedLine::new(control, difference.control_side, money(difference.amount)?)
                    .with_party(Some(party.clone()))
                    .with_label(format!("exchange difference {reference}")),
            );
            if difference.gain {
                gains += difference.amount;
            } else {
                losses += difference.amount;
            }
        }
        if gains > 0 {
            lines.push(
                ProposedLine::new(
                    &by_code(exchange_accounts::GAIN)?,
                    Side::Credit,
                    money(gains)?,
                )
                .with_label("realised exchange gain"),
            );
        }
        if losses > 0 {
            lines.push(
                ProposedLine::new(
                    &by_code(exchange_accounts::LOSS)?,
                    Side::Debit,
                    money(losses)?,
                )
                .with_label("realised exchange loss"),
            );
        }
        let entry = self
            .post_lines(
                txn,
                actor,
                Posting {
                    journal_id: settings.general_journal_id.clone(),
                    date,
                    memo: Some("Realised exchange difference".into()),
                    source_kind,
                    source_id: Some(source_id.to_owned()),
                    reverses_id: None,
                    allow_control: true,
                },
                lines,
            )
            .await?;
        Ok(Some(entry.id))
    }

    /// The id of the chart's exchange gain or loss account (`exchange_accounts`):
    /// EXCHANGE_ACCOUNT_MISSING when the chart has no account under the code.
    pub(crate) async fn exchange_account<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        code: &'static str,
    ) -> ApiResult<String> {
        ledger_store::all_accounts(txn, tenant)
            .await?
            .into_iter()
            .find(|account| account.code == code)
            .map(|account| account.id)
            .ok_or_else(|| FinanceViolation::ExchangeAccountMissing(code).into())
    }

    /// The rate of a foreign `currency` in force on `date` (a claim line's day, a payment's):
    /// DOCUMENT_CURRENCY when the tenant keeps no rate for it, NO_EXCHANGE_RATE when none is
    /// in force on the day.
    pub(crate) async fn rate_in_force<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        settings: &settings::Model,
        currency: Currency,
        date: NaiveDate,
    ) -> ApiResult<ExchangeRate> {
        self.trading_currency(txn, tenant, settings, currency.code(), date)
            .await?;
        let stored = ledger_store::rate_on(txn, tenant, currency.code(), date)
            .await?
            .ok_or(FinanceViolation::NoExchangeRate {
                currency: currency.code(),
                date,
            })?;
        Ok(ExchangeRate::from_nano(currency, stored.rate_nano))
    }

    /// The currency of an invoice, bill or payment dated `date`: the base currency, or a
    /// currency with an exchange rate in force on that day (NO_EXCHANGE_RATE when its rates
    /// start later, DOCUMENT_CURRENCY when the tenant keeps none for it).
    pub(crate) async fn trading_currency<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        settings: &settings::Model,
        requested: &str,
        date: NaiveDate,
    ) -> ApiResult<Currency> {
        let currency = Currency::parse(requested)?;
        if currency.code() == settings.base_currency
            || ledger_store::rate_on(txn, tenant, currency.code(), date)
                .await?
                .is_some()
        {
            return Ok(currency);
        }
        if ledger_store::rates(txn, tenant, Some(currency.code()))
            .await?
            .is_empty()
        {
            return Err(FinanceViolation::NoRatesForCurrency {
                base: Currency::parse(&settings.base_currency)?.code(),
                currency: currency.code(),
            }
            .into());
        }
        Err(FinanceViolation::NoExchangeRate {
            currency: currency.code(),
            date,
        }
        .into())
    }

    pub async fn create_recurring_schedule(
        &self,
        actor: &Actor,
        request: ScheduleRequest,
    ) -> ApiResult<String> {
        let name = parse_text("name", &request.name)?;
        if !(1..=31).contains(&request.day_of_month) {
            return Err(ApiError::bad_input(
                "dayOfMonth",
                "a day of the month is 1 to 31",
            ));
        }
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            let currency = self
                .schedule_currency(txn, &tenant, &settings, &request.currency)
                .await?;
            self.partner_of_kind(txn, &tenant, &request.partner_id, DocumentKind::Invoice)
                .await?;
            // The template must make a valid invoice now, not fail every month later.
            self.document_lines(
                txn,
                &tenant,
                &settings,
                "template",
                DocumentKind::Invoice,
                currency,
                &request.lines,
            )
            .await?;
            let id = new_id();
            store::insert_schedule(
                txn,
                recurring_schedule::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    partner_id: request.partner_id.clone(),
                    name,
                    currency: currency.code().into(),
                    day_of_month: request.day_of_month as i32,
                    starts_on: request.starts_on,
                    ends_on: request.ends_on,
                    lines: serde_json::to_string(&request.lines).map_err(ApiError::internal)?,
                    created_at: chrono::Utc::now(),
                },
            )
            .await?;
            Ok(id)
        })
        .await
    }

    /// Generates every recurring invoice due by `as_of` that does not exist yet (posting them
    /// when `post`). One invoice per (schedule, period), enforced by a unique key: running it
    /// again, or twice at once, creates nothing new. Returns the ids created.
    pub async fn generate_recurring(
        &self,
        actor: &Actor,
        as_of: NaiveDate,
        post: bool,
    ) -> ApiResult<Vec<String>> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            let mut created = Vec::new();
            for schedule in store::schedules(txn, &tenant).await? {
                let template: Vec<LineRequest> =
                    serde_json::from_str(&schedule.lines).map_err(ApiError::internal)?;
                let currency = Currency::parse(&schedule.currency)?;
                let partner = self
                    .partner_of_kind(txn, &tenant, &schedule.partner_id, DocumentKind::Invoice)
                    .await?;
                for period in due_periods(schedule.starts_on, schedule.ends_on, as_of) {
                    let date = period_invoice_date(period, schedule.day_of_month as u32);
                    // A foreign schedule's invoice needs the rate of its own date (its base
                    // amounts are computed at that rate when it posts, and stored):
                    // NO_EXCHANGE_RATE until the rate is set, nothing generated.
                    self.trading_currency(txn, &tenant, &settings, &schedule.currency, date)
                        .await?;
                    let id = new_id();
                    let (lines, totals) = self
                        .document_lines(
                            txn,
                            &tenant,
                            &settings,
                            &id,
                            DocumentKind::Invoice,
                            currency,
                            &template,
                        )
                        .await?;
                    let inserted = store::insert_document(
                        txn,
                        document::Model {
                            id: id.clone(),
                            tenant_id: tenant.as_str().to_owned(),
                            kind: DocumentKind::Invoice.as_str().into(),
                            partner_id: partner.id.clone(),
                            posted: false,
                            number: None,
                            reference: None,
                            document_date: date,
                            due_date: date + Duration::days(DEFAULT_DUE_DAYS),
                            currency: currency.code().into(),
                            untaxed: totals.untaxed,
                            tax: totals.tax,
                            total: totals.total,
                            settled: 0,
                            credited_document_id: None,
                            entry_id: None,
                            project_id: None,
                            department_id: None,
                            memo: Some(format!("{} {}", schedule.name, period.format("%Y-%m"))),
                            payment_term_id: partner.payment_term_id.clone(),
                            recurring_schedule_id: Some(schedule.id.clone()),
                            recurring_period: Some(period),
                            created_by: actor.user_id.clone(),
                            created_at: chrono::Utc::now(),
                            posted_at: None,
                            rate_nano: None,
                            base_total: 0,
                            base_settled: 0,
                        },
                    )
                    .await?;
                    if !inserted {
                        continue;
                    }
                    store::replace_lines(txn, &tenant, &id, lines).await?;
                    if post {
                        self.post_document_in(txn, actor, &id).await?;
                    }
                    created.push(id);
                }
            }
            Ok(created)
        })
        .await
    }

    /// The currency of a recurring schedule: the base currency, or a currency the tenant keeps
    /// exchange rates for (each generated invoice is converted at the rate of its own date,
    /// which may not be set yet when the schedule is made: DOCUMENT_CURRENCY only when the
    /// tenant has no rate at all for it).
    async fn schedule_currency<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        settings: &settings::Model,
        requested: &str,
    ) -> ApiResult<Currency> {
        let currency = Currency::parse(requested)?;
        if currency.code() != settings.base_currency
            && ledger_store::rates(txn, tenant, Some(currency.code()))
                .await?
                .is_empty()
        {
            return Err(FinanceViolation::NoRatesForCurrency {
                base: Currency::parse(&settings.base_currency)?.code(),
                currency: currency.code(),
            }
            .into());
        }
        Ok(currency)
    }

    /// A partner of the kind a document needs (customers for invoices and credit notes, vendors
    /// for bills).
    pub(crate) async fn partner_of_kind<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        id: &str,
        kind: DocumentKind,
    ) -> ApiResult<partner::Model> {
        let partner = store::partner(txn, tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("partner".into()))?;
        let expected = match kind {
            DocumentKind::Bill => PartnerKind::Vendor,
            _ => PartnerKind::Customer,
        };
        if partner.kind != expected.as_str() {
            return Err(FinanceViolation::WrongPartnerKind(expected.as_str()).into());
        }
        Ok(partner)
    }

    /// Parses a document's lines and computes its totals under the company's tax policy.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn document_lines<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        settings: &settings::Model,
        document_id: &str,
        kind: DocumentKind,
        currency: Currency,
        lines: &[LineRequest],
    ) -> ApiResult<(Vec<document_line::Model>, Totals)> {
        if lines.is_empty() {
            return Err(ApiError::bad_input(
                "lines",
                "a document has at least one line",
            ));
        }
        let taxes: HashMap<String, crate::store::entities::tax::Model> =
            ledger_store::taxes(txn, tenant)
                .await?
                .into_iter()
                .map(|tax| (tax.id.clone(), tax))
                .collect();
        let default_account = match kind {
            DocumentKind::Bill => &settings.default_expense_account_id,
            _ => &settings.default_income_account_id,
        };
        let accounts = self
            .account_facts(
                txn,
                tenant,
                lines
                    .iter()
                    .map(|l| {
                        l.account_id
                            .clone()
                            .unwrap_or_else(|| default_account.clone())
                    })
                    .collect(),
            )
            .await?;
        price_lines(
            tenant,
            settings,
            (&taxes, &accounts),
            document_id,
            kind,
            currency,
            lines,
        )
    }
}

/// A document's lines priced under the company's tax policy, with the taxes and account facts
/// read already (a batch of postings reads them once): the line rows and the totals.
#[allow(clippy::too_many_arguments)]
pub(crate) fn price_lines(
    tenant: &TenantId,
    settings: &settings::Model,
    (taxes, accounts): (
        &HashMap<String, crate::store::entities::tax::Model>,
        &BTreeMap<String, AccountFacts>,
    ),
    document_id: &str,
    kind: DocumentKind,
    currency: Currency,
    lines: &[LineRequest],
) -> ApiResult<(Vec<document_line::Model>, Totals)> {
    if lines.is_empty() {
        return Err(ApiError::bad_input(
            "lines",
            "a document has at least one line",
        ));
    }
    let default_account = match kind {
        DocumentKind::Bill => &settings.default_expense_account_id,
        _ => &settings.default_income_account_id,
    };
    let mut priced = Vec::with_capacity(lines.len());
    for line in lines {
        parse_text("description", &line.description)?;
        let account = line
            .account_id
            .clone()
            .unwrap_or_else(|| default_account.clone());
        match accounts.get(&account) {
            None => return Err(FinanceViolation::AccountNotFound(account).into()),
            Some(facts) if facts.role.is_control() => {
                return Err(FinanceViolation::ControlAccountReserved(facts.code.clone()).into())
            }
            Some(_) => {}
        }
        let tax = match &line.tax_id {
            None => None,
            Some(id) => {
                let tax = taxes
                    .get(id)
                    .ok_or_else(|| ApiError::NotFound("tax".into()))?;
                Some(TaxRate {
                    id: tax.id.clone(),
                    rate: Percent::from_ppm(tax.rate_ppm),
                    included: tax.included,
                })
            }
        };
        priced.push(PricedLine {
            unit_price: Money::parse(&line.unit_price, currency)?,
            quantity: Quantity::parse(&line.quantity)?,
            discount: match &line.discount {
                Some(text) => Percent::parse("discount", text, 100)?,
                None => Percent::zero(),
            },
            tax,
        });
    }
    let rounding = TaxRounding::from_stored(&settings.tax_rounding).unwrap_or(TaxRounding::Global);
    let totals = compute(currency, &priced, rounding)?;
    let rows = lines
        .iter()
        .zip(&priced)
        .enumerate()
        .map(|(index, (line, priced))| document_line::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            document_id: document_id.to_owned(),
            line_no: index as i32 + 1,
            description: line.description.trim().to_owned(),
            account_id: line
                .account_id
                .clone()
                .unwrap_or_else(|| default_account.clone()),
            quantity_milli: priced.quantity.milli(),
            unit_price: priced.unit_price.minor(),
            discount_ppm: priced.discount.ppm(),
            tax_id: line.tax_id.clone(),
            subtotal: totals.line_subtotals[index],
            tax_amount: totals.line_taxes[index],
            project_id: line.project_id.clone(),
            time_entry_id: line.time_entry_id.clone(),
        })
        .collect();
    Ok((rows, totals))
}

/// The journal entry of a document: the partner's control account on one side for the total,
/// each line's account and each tax's account on the other, the rounding residual to the
/// rounding account. Invoices debit the receivable; credit notes and bills mirror it.
pub(crate) fn document_entry(
    settings: &settings::Model,
    document: &document::Model,
    kind: DocumentKind,
    currency: Currency,
    lines: &[document_line::Model],
    totals: &Totals,
    tax_accounts: &HashMap<String, String>,
) -> ApiResult<Vec<ProposedLine>> {
    let (control, partner_side) = match kind {
        DocumentKind::Invoice => (&settings.receivable_account_id, Side::Debit),
        DocumentKind::CreditNote => (&settings.receivable_account_id, Side::Credit),
        DocumentKind::Bill => (&settings.payable_account_id, Side::Credit),
    };
    let line_side = partner_side.opposite();
    let party = match kind {
        DocumentKind::Bill => Party::Vendor(document.partner_id.clone()),
        _ => Party::Customer(document.partner_id.clone()),
    };
    let money = |minor: i64| Money::from_minor(minor, currency).map_err(ApiError::from);
    let mut entry = vec![
        ProposedLine::new(control, partner_side, money(totals.total)?)
            .with_party(Some(party))
            .with_label(document.reference.clone().unwrap_or_default()),
    ];
    for line in lines {
        if line.subtotal == 0 {
            continue;
        }
        entry.push(
            ProposedLine::new(&line.account_id, line_side, money(line.subtotal)?)
                .with_label(line.description.clone())
                .with_dimensions(Dimensions {
                    project_id: line
                        .project_id
                        .clone()
                        .or_else(|| document.project_id.clone()),
                    department_id: document.department_id.clone(),
                    client_id: None,
                }),
        );
    }
    for tax in &totals.taxes {
        if tax.amount == 0 {
            continue;
        }
        let account = tax_accounts
            .get(&tax.tax_id)
            .ok_or_else(|| ApiError::internal(format!("tax {} has no account", tax.tax_id)))?;
        entry.push(ProposedLine::new(account, line_side, money(tax.amount)?).with_label("tax"));
    }
    if totals.rounding_residual != 0 {
        let side = if totals.rounding_residual > 0 {
            line_side
        } else {
            partner_side
        };
        entry.push(
            ProposedLine::new(
                &settings.rounding_account_id,
                side,
                money(totals.rounding_residual.abs())?,
            )
            .with_label("tax rounding"),
        );
    }
    Ok(entry)
}

/// What `amount` was booked at in the base currency by `entry` (the rate it stored; the
/// amount itself in the base currency): the same conversion the entry's control line got.
fn base_amount_of(entry: &entry::Model, amount: Money, base: Currency) -> ApiResult<i64> {
    match entry.rate_nano {
        None => Ok(amount.minor()),
        Some(nano) => Ok(ExchangeRate::from_nano(amount.currency(), nano)
            .convert(amount, base)?
            .minor()),
    }
}

pub(crate) fn stored_kind(document: &document::Model) -> ApiResult<DocumentKind> {
    DocumentKind::from_stored(&document.kind)
        .ok_or_else(|| ApiError::internal(format!("document kind {}", document.kind)))
}

fn party_of(partner: &partner::Model) -> ApiResult<Party> {
    match partner.kind.as_str() {
        "customer" => Ok(Party::Customer(partner.id.clone())),
        "vendor" => Ok(Party::Vendor(partner.id.clone())),
        other => Err(ApiError::internal(format!("partner kind {other}"))),
    }
}

/// A stored line as a request (credit notes copy invoices, without the time entries they
/// billed; posting recomputes).
pub(crate) fn template_line(line: &document_line::Model, currency: Currency) -> LineRequest {
    LineRequest {
        description: line.description.clone(),
        account_id: Some(line.account_id.clone()),
        quantity: Quantity::from_milli(line.quantity_milli).to_decimal_string(),
        unit_price: crate::domain::money::format_minor(
            line.unit_price,
            u32::from(currency.exponent()),
        ),
        discount: Some(Percent::from_ppm(line.discount_ppm).to_decimal_string()),
        tax_id: line.tax_id.clone(),
        project_id: line.project_id.clone(),
        time_entry_id: None,
    }
}

fn parse_term(instalments: &[(String, u32)]) -> ApiResult<Vec<TermLine>> {
    let lines = instalments
        .iter()
        .map(|(share, days)| {
            Ok(TermLine {
                share: Percent::parse("share", share, 100)?,
                days: *days,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    check_term(&lines)?;
    Ok(lines)
}

/// A stored term: `ppm:days,ppm:days`.
pub(crate) fn stored_term(text: &str) -> ApiResult<Vec<TermLine>> {
    text.split(',')
        .map(|part| {
            let (ppm, days) = part
                .split_once(':')
                .ok_or_else(|| ApiError::internal("payment term"))?;
            Ok(TermLine {
                share: Percent::from_ppm(ppm.parse().map_err(ApiError::internal)?),
                days: days.parse().map_err(ApiError::internal)?,
            })
        })
        .collect()
}

/// Why a draft's row could not be claimed or locked: posted by a writer that committed first
/// (NOT_DRAFT), or deleted by a deletion that did (NOT_FOUND, as when the deletion came before
/// the read).
async fn no_longer_a_draft<C: sea_orm::ConnectionTrait>(
    txn: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<ApiError> {
    Ok(match store::document(txn, tenant, id).await? {
        None => ApiError::NotFound("invoice".into()),
        Some(_) => FinanceViolation::NotDraft("document").into(),
    })
}
