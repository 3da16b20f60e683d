//! Receivables and payables through GraphQL: partners, payment terms, invoices, credit notes
//! and vendor bills, payments and allocations, recurring schedules, ageing, the subledger
//! reconciliation, and cash (position, cash-flow statement, forecast).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::ledger::{base_currency, Account, JournalEntry};
use super::loaders::{
    DocumentLinesLoader, DocumentLoader, EntryLoader, InvoiceQuoteLoader, PartnerLoader,
    ProjectInvoicesLoader,
};
use super::scalars::{
    currency_code, decimal, money, stored_money, Date, DateTime, Decimal, KitCurrency, Money,
};
use super::{actor, finance, load_one};
use crate::app::cash::{self, Ledger};
use crate::app::documents::{
    AllocateRequest, AllocationRequest, CreditNoteRequest, DeletedDraft, DocumentRequest,
    DraftSide, LineRequest, PartnerKind as AppPartnerKind, PartnerRequest, PaymentRequest,
    ScheduleRequest, TermRequest, UpdateRequest,
};
use crate::domain::invoice::{
    is_overdue, open_instalments, DocumentKind as DomainKind, DocumentStatus,
};
use crate::domain::money::{Percent, Quantity};
use crate::store::documents::DocumentFilter;
use crate::store::entities::{
    allocation, document, document_line, partner, payment, payment_term, quote_invoice,
};

type Page<T> = Connection<String, T, EmptyFields, EmptyFields>;

/// A customer or a vendor.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PartnerKind {
    /// Invoiced; pays us.
    Customer,
    /// Bills us; we pay.
    Vendor,
}

/// What a document is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InvoiceKind {
    /// A customer invoice (receivable).
    Invoice,
    /// A customer credit note: cancels all or part of a posted invoice.
    CreditNote,
    /// A vendor bill (payable).
    Bill,
}

impl InvoiceKind {
    fn stored(text: &str) -> Self {
        match DomainKind::from_stored(text) {
            Some(DomainKind::CreditNote) => InvoiceKind::CreditNote,
            Some(DomainKind::Bill) => InvoiceKind::Bill,
            _ => InvoiceKind::Invoice,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit_note",
            InvoiceKind::Bill => "bill",
        }
    }
}

/// Where a document is in its life (`overdue` is a separate, derived flag).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InvoiceStatus {
    /// Editable; not numbered, nothing posted.
    Draft,
    /// Numbered and posted; nothing settled yet.
    Posted,
    /// Part of it is settled by payments or credit notes.
    PartiallyPaid,
    /// Fully settled.
    Paid,
}

/// Money in or out.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PaymentDirection {
    /// Received from a customer: settles invoices.
    Inbound,
    /// Paid to a vendor: settles bills.
    Outbound,
}

impl PaymentDirection {
    fn as_str(self) -> &'static str {
        match self {
            PaymentDirection::Inbound => "inbound",
            PaymentDirection::Outbound => "outbound",
        }
    }
}

/// A customer or a vendor.
pub struct Partner(pub partner::Model);

/// A customer or a vendor.
#[Object(requires_scopes = "finance:read")]
impl Partner {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Customer or vendor.
    async fn kind(&self) -> PartnerKind {
        if self.0.kind == "vendor" {
            PartnerKind::Vendor
        } else {
            PartnerKind::Customer
        }
    }

    /// The partner's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The CRM client this customer is, when linked.
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.clone().map(ID)
    }

    /// The default payment term of its documents.
    async fn payment_term(&self, ctx: &Context<'_>) -> Result<Option<PaymentTerm>> {
        let Some(id) = &self.0.payment_term_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .payment_term_of(&tenant, id)
            .await?
            .map(PaymentTerm))
    }
}

/// A payment term: how a document's total is split into instalments.
pub struct PaymentTerm(pub payment_term::Model);

/// One instalment of a payment term.
#[derive(SimpleObject)]
pub struct TermInstalment {
    /// The share of the total, in percent (a decimal string).
    pub share: Decimal,
    /// Days after the document date it falls due.
    pub days: i32,
}

/// A payment term: how a document's total is split into instalments.
#[Object(requires_scopes = "finance:read")]
impl PaymentTerm {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The term's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its instalments, in order; the shares add up to 100.
    async fn instalments(&self) -> Result<Vec<TermInstalment>> {
        Ok(crate::app::documents::stored_term(&self.0.lines)?
            .into_iter()
            .map(|line| TermInstalment {
                share: decimal(line.share.to_decimal_string()),
                days: line.days as i32,
            })
            .collect())
    }
}

/// One line of a document.
pub struct InvoiceLine(pub document_line::Model, pub String);

/// One line of a document.
#[Object(requires_scopes = "finance:read")]
impl InvoiceLine {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The line's position on the document, from 1.
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }

    /// What is invoiced.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The income (invoice) or expense (bill) account it posts to.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(
            load_one::<super::loaders::AccountLoader>(ctx, &self.0.account_id)
                .await?
                .map(Account),
        )
    }

    /// A decimal with up to 3 decimals.
    async fn quantity(&self) -> Decimal {
        decimal(Quantity::from_milli(self.0.quantity_milli).to_decimal_string())
    }

    /// The price of one unit, before discount and tax.
    async fn unit_price(&self) -> Money {
        stored_money(self.0.unit_price, &self.1)
    }

    /// The discount in percent (a decimal string).
    async fn discount(&self) -> Decimal {
        decimal(Percent::from_ppm(self.0.discount_ppm).to_decimal_string())
    }

    /// The tax applied, if any.
    async fn tax_id(&self) -> Option<ID> {
        self.0.tax_id.clone().map(ID)
    }

    /// Quantity x price x (1 - discount), rounded: what the line posts (untaxed).
    async fn subtotal(&self) -> Money {
        stored_money(self.0.subtotal, &self.1)
    }

    /// The line's own tax rounded per line (under global rounding the document's tax may
    /// differ from their sum by the rounding).
    async fn tax(&self) -> Money {
        stored_money(self.0.tax_amount, &self.1)
    }

    /// The PMO project of the line.
    async fn project(&self) -> Option<Project> {
        self.0.project_id.clone().map(|id| Project { id: ID(id) })
    }

    /// The PMO time entry the line bills (each is billed at most once).
    async fn time_entry_id(&self) -> Option<ID> {
        self.0.time_entry_id.clone().map(ID)
    }
}

/// A due date and what is due on it.
#[derive(SimpleObject)]
pub struct Instalment {
    /// When the instalment is due.
    pub due_date: Date,
    /// The instalment's amount (the instalments add up to the invoice's total).
    pub amount: Money,
    /// What is still open of it (settlements fill the earliest instalments first).
    pub open: Money,
}

/// A customer invoice, a customer credit note, or a vendor bill.
pub struct Invoice(pub document::Model);

/// The CRM quote an invoice copies: the version the client accepted.
pub struct InvoicedQuote(pub quote_invoice::Model);

/// The accepted CRM quote an invoice was drafted from: the quote and the version whose lines,
/// discounts and taxes it copies.
#[Object(requires_scopes = "finance:read")]
impl InvoicedQuote {
    /// The CRM quote's id.
    async fn quote_id(&self) -> ID {
        ID(self.0.quote_id.clone())
    }

    /// The tenant's quote number (`Q-000042`).
    async fn number(&self) -> &str {
        &self.0.quote_number
    }

    /// The accepted version the invoice's lines copy.
    async fn version(&self) -> i32 {
        self.0.quote_version
    }
}

/// A customer invoice, a customer credit note, or a vendor bill: `draft -> posted (numbered)
/// -> partially paid -> paid`, overdue when a due date passed with something open; never
/// cancelled (a credit note credits it).
#[Object(requires_scopes = "finance:read")]
impl Invoice {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Customer invoice, credit note or vendor bill.
    async fn kind(&self) -> InvoiceKind {
        InvoiceKind::stored(&self.0.kind)
    }

    /// Draft, posted, partially paid or paid (whether it is late is `overdue`, derived).
    async fn status(&self) -> InvoiceStatus {
        match DocumentStatus::derive(self.0.posted, self.0.total, self.0.settled) {
            DocumentStatus::Draft => InvoiceStatus::Draft,
            DocumentStatus::Posted => InvoiceStatus::Posted,
            DocumentStatus::PartiallyPaid => InvoiceStatus::PartiallyPaid,
            DocumentStatus::Paid => InvoiceStatus::Paid,
        }
    }

    /// Posted, something open, and an open instalment's due date before today.
    async fn overdue(&self, ctx: &Context<'_>) -> Result<bool> {
        let status = DocumentStatus::derive(self.0.posted, self.0.total, self.0.settled);
        if !matches!(
            status,
            DocumentStatus::Posted | DocumentStatus::PartiallyPaid
        ) {
            return Ok(false);
        }
        let parts = self.instalment_parts(ctx).await?;
        let earliest = open_instalments(&parts, self.0.settled)
            .first()
            .map(|(due, _)| *due);
        Ok(is_overdue(status, earliest, crate::app::today()))
    }

    /// The number in its series for the fiscal year (None while a draft).
    async fn number(&self) -> Option<i64> {
        self.0.number
    }

    /// `INV/2026/00042`, `CN/...`, `BILL/...` (None while a draft).
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }

    /// The customer (invoices, credit notes) or vendor (bills).
    async fn partner(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        Ok(load_one::<PartnerLoader>(ctx, &self.0.partner_id)
            .await?
            .map(Partner))
    }

    /// The document's date (its entry's date once posted).
    async fn date(&self) -> Date {
        Date(self.0.document_date)
    }

    /// The due date without a payment term (with one, see `instalments`).
    async fn due_date(&self) -> Date {
        Date(self.0.due_date)
    }

    /// The document's currency: the base currency or one with an exchange rate on its date.
    async fn currency(&self) -> KitCurrency {
        currency_code(&self.0.currency)
    }

    /// The rate (base units per unit of `currency`) the document was posted at; None in the
    /// base currency and while a draft.
    async fn exchange_rate(&self) -> Option<Decimal> {
        exchange_rate(&self.0.currency, self.0.rate_nano)
    }

    /// The total in the base currency, computed once at posting (None while a draft).
    async fn base_total(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        if !self.0.posted {
            return Ok(None);
        }
        Ok(Some(stored_money(
            self.0.base_total,
            &base_currency(ctx).await?,
        )))
    }

    /// What is still open of the booked base total (what the control account holds for the
    /// document; zero once settled, whatever the rates did; None while a draft).
    async fn base_outstanding(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        if !self.0.posted {
            return Ok(None);
        }
        Ok(Some(stored_money(
            self.0.base_total - self.0.base_settled,
            &base_currency(ctx).await?,
        )))
    }

    /// The document's lines, in order.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<InvoiceLine>> {
        Ok(load_one::<DocumentLinesLoader>(ctx, &self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|line| InvoiceLine(line, self.0.currency.clone()))
            .collect())
    }

    /// The total before tax.
    async fn untaxed(&self) -> Money {
        stored_money(self.0.untaxed, &self.0.currency)
    }

    /// The tax of all lines, rounded by the company's policy (per line or globally).
    async fn tax(&self) -> Money {
        stored_money(self.0.tax, &self.0.currency)
    }

    /// The amount owed: the lines' subtotals plus the tax.
    async fn total(&self) -> Money {
        stored_money(self.0.total, &self.0.currency)
    }

    /// What payments and credit notes settled (the sum of its allocations).
    async fn settled(&self) -> Money {
        stored_money(self.0.settled, &self.0.currency)
    }

    /// Total minus settled (zero for a draft: nothing is owed yet).
    async fn outstanding(&self) -> Money {
        let open = if self.0.posted {
            self.0.total - self.0.settled
        } else {
            0
        };
        stored_money(open, &self.0.currency)
    }

    /// The instalments of its payment term (one without a term), once posted.
    async fn instalments(&self, ctx: &Context<'_>) -> Result<Vec<Instalment>> {
        let parts = self.instalment_parts(ctx).await?;
        let open = open_instalments(&parts, self.0.settled);
        Ok(parts
            .into_iter()
            .map(|(due, amount)| {
                let remaining = open
                    .iter()
                    .find(|(d, _)| *d == due)
                    .map(|(_, a)| *a)
                    .unwrap_or(0)
                    .min(amount);
                Instalment {
                    due_date: Date(due),
                    amount: stored_money(amount, &self.0.currency),
                    open: stored_money(remaining, &self.0.currency),
                }
            })
            .collect())
    }

    /// The payments and credit notes that settled it, oldest first.
    async fn allocations(&self, ctx: &Context<'_>) -> Result<Vec<Allocation>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?
            .allocations_of(&tenant, vec![self.0.id.clone()], vec![])
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.document_id == self.0.id)
            .map(|row| Allocation(row, self.0.currency.clone()))
            .collect())
    }

    /// The invoice a credit note credits.
    async fn credited_invoice(&self, ctx: &Context<'_>) -> Result<Option<Invoice>> {
        match &self.0.credited_document_id {
            Some(id) => Ok(load_one::<DocumentLoader>(ctx, id).await?.map(Invoice)),
            None => Ok(None),
        }
    }

    /// The journal entry its posting made.
    async fn entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        match &self.0.entry_id {
            Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
            None => Ok(None),
        }
    }

    /// The PMO project it bills (federated).
    async fn project(&self) -> Option<Project> {
        self.0.project_id.clone().map(|id| Project { id: ID(id) })
    }

    /// The accepted CRM quote this invoice was drafted from (null for any other invoice).
    async fn quote(&self, ctx: &Context<'_>) -> Result<Option<InvoicedQuote>> {
        Ok(load_one::<InvoiceQuoteLoader>(ctx, &self.0.id)
            .await?
            .map(InvoicedQuote))
    }

    /// The department dimension.
    async fn department_id(&self) -> Option<ID> {
        self.0.department_id.clone().map(ID)
    }

    /// The note printed on the document.
    async fn memo(&self) -> Option<&str> {
        self.0.memo.as_deref()
    }

    /// The recurring schedule that generated it, and for which month.
    async fn recurring_schedule_id(&self) -> Option<ID> {
        self.0.recurring_schedule_id.clone().map(ID)
    }

    /// The first day of the month a recurring schedule generated it for.
    async fn recurring_period(&self) -> Option<Date> {
        self.0.recurring_period.map(Date)
    }

    /// When the draft was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When it was posted (and numbered); none while a draft.
    async fn posted_at(&self) -> Option<DateTime> {
        self.0.posted_at.map(DateTime::from)
    }
}

impl Invoice {
    async fn instalment_parts(&self, ctx: &Context<'_>) -> Result<Vec<(chrono::NaiveDate, i64)>> {
        if !self.0.posted {
            return Ok(Vec::new());
        }
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?
            .instalments_of(&tenant, vec![self.0.id.clone()])
            .await?;
        if rows.is_empty() {
            return Ok(vec![(self.0.due_date, self.0.total)]);
        }
        Ok(rows.into_iter().map(|r| (r.due_date, r.amount)).collect())
    }
}

/// A settlement of a document by a payment or a credit note.
pub struct Allocation(pub allocation::Model, pub String);

/// A settlement of a document by a payment or a credit note.
#[Object(requires_scopes = "finance:read")]
impl Allocation {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The part of the payment applied to the invoice (positive).
    async fn amount(&self) -> Money {
        stored_money(self.0.amount, &self.1)
    }

    /// What the allocation cleared of the document's booked base amount (base currency).
    async fn base_amount(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(self.0.base_amount, &base_currency(ctx).await?))
    }

    /// The realised exchange difference (base currency): what the payment or credit note is
    /// worth for this allocation at its own rate minus `baseAmount` (zero in the base
    /// currency; for receivables a positive difference is a gain, for payables a loss).
    async fn exchange_difference(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(
            self.0.exchange_difference,
            &base_currency(ctx).await?,
        ))
    }

    /// The entry that posted the exchange difference, if any.
    async fn exchange_entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        match &self.0.exchange_entry_id {
            Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
            None => Ok(None),
        }
    }

    /// The document settled.
    async fn invoice(&self, ctx: &Context<'_>) -> Result<Option<Invoice>> {
        Ok(load_one::<DocumentLoader>(ctx, &self.0.document_id)
            .await?
            .map(Invoice))
    }

    /// The payment, when a payment settled it.
    async fn payment_id(&self) -> Option<ID> {
        self.0.payment_id.clone().map(ID)
    }

    /// The credit note, when a credit note settled it.
    async fn credit_note(&self, ctx: &Context<'_>) -> Result<Option<Invoice>> {
        match &self.0.credit_note_id {
            Some(id) => Ok(load_one::<DocumentLoader>(ctx, id).await?.map(Invoice)),
            None => Ok(None),
        }
    }

    /// When the allocation was made.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A payment received or made.
pub struct Payment(pub payment::Model);

/// A payment received from a customer or made to a vendor, posted to a bank account.
#[Object(requires_scopes = "finance:read")]
impl Payment {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Received from a customer (`INBOUND`) or paid to a vendor (`OUTBOUND`).
    async fn direction(&self) -> PaymentDirection {
        if self.0.direction == "outbound" {
            PaymentDirection::Outbound
        } else {
            PaymentDirection::Inbound
        }
    }

    /// The customer or vendor.
    async fn partner(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        Ok(load_one::<PartnerLoader>(ctx, &self.0.partner_id)
            .await?
            .map(Partner))
    }

    /// The day the money moved.
    async fn date(&self) -> Date {
        Date(self.0.payment_date)
    }

    /// The payment's amount (positive).
    async fn amount(&self) -> Money {
        stored_money(self.0.amount, &self.0.currency)
    }

    /// What is allocated to documents (never more than `amount`).
    async fn allocated(&self) -> Money {
        stored_money(self.0.allocated, &self.0.currency)
    }

    /// What is left to allocate.
    async fn unallocated(&self) -> Money {
        stored_money(self.0.amount - self.0.allocated, &self.0.currency)
    }

    /// The payment's currency.
    async fn currency(&self) -> KitCurrency {
        currency_code(&self.0.currency)
    }

    /// The rate (base units per unit of `currency`) the payment was posted at; None in the
    /// base currency.
    async fn exchange_rate(&self) -> Option<Decimal> {
        exchange_rate(&self.0.currency, self.0.rate_nano)
    }

    /// The amount in the base currency, computed once at posting.
    async fn base_amount(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(self.0.base_amount, &base_currency(ctx).await?))
    }

    /// The bank account the money went through.
    async fn bank_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(
            load_one::<super::loaders::AccountLoader>(ctx, &self.0.bank_account_id)
                .await?
                .map(Account),
        )
    }

    /// Its allocations, oldest first.
    async fn allocations(&self, ctx: &Context<'_>) -> Result<Vec<Allocation>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?
            .allocations_of(&tenant, vec![], vec![self.0.id.clone()])
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.payment_id.as_deref() == Some(self.0.id.as_str()))
            .map(|row| Allocation(row, self.0.currency.clone()))
            .collect())
    }

    /// The bank entry it posted.
    async fn entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        Ok(load_one::<EntryLoader>(ctx, &self.0.entry_id)
            .await?
            .map(JournalEntry))
    }

    /// The payment's note.
    async fn memo(&self) -> Option<&str> {
        self.0.memo.as_deref()
    }
}

/// One partner's open amounts by days past due.
#[derive(SimpleObject)]
pub struct PartnerAgeing {
    /// The customer or vendor.
    pub partner: Partner,
    /// Not yet due.
    pub current: Money,
    /// 1 to 30 days late.
    pub days1_to30: Money,
    /// 31 to 60 days late.
    pub days31_to60: Money,
    /// 61 to 90 days late.
    pub days61_to90: Money,
    /// More than 90 days late.
    pub over90: Money,
    /// Everything open.
    pub total: Money,
    /// Payments not yet allocated to a document.
    pub unallocated: Money,
}

/// Open receivables or payables by partner and days past due.
#[derive(SimpleObject)]
pub struct AgeingReport {
    /// The day the ages are counted to.
    pub as_of: Date,
    /// One row per partner with anything outstanding.
    pub partners: Vec<PartnerAgeing>,
    /// Everything outstanding, all partners and buckets together.
    pub total: Money,
}

/// A partner whose control-account balance differs from its documents.
#[derive(SimpleObject)]
pub struct ReconciliationMismatch {
    /// The partner whose balances differ.
    pub partner_id: ID,
    /// The partner's balance on the control account's lines.
    pub control: Money,
    /// The partner's outstanding amount on its documents.
    pub subledger: Money,
}

/// The control account against its subledger (open documents minus unallocated payments).
#[derive(SimpleObject)]
pub struct SubledgerReconciliation {
    /// The control account's balance (receivables as debits, payables as credits).
    pub control_balance: Money,
    /// The sum of the open documents' outstanding amounts.
    pub subledger_balance: Money,
    /// They are equal for every partner.
    pub balanced: bool,
    /// The partners whose two balances differ (none when balanced).
    pub mismatches: Vec<ReconciliationMismatch>,
}

/// One bank account's balance.
#[derive(SimpleObject)]
pub struct BankBalance {
    /// The bank (or cash) account.
    pub account: Account,
    /// Its balance on the day, in the base currency.
    pub balance: Money,
}

/// Cash per bank account at the end of a day.
#[derive(SimpleObject)]
pub struct CashPosition {
    /// The day of the position (inclusive).
    pub as_of: Date,
    /// Each bank or cash account with its balance.
    pub accounts: Vec<BankBalance>,
    /// All bank and cash accounts together.
    pub total: Money,
}

/// What moved cash, and how much.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CashFlowSource {
    /// Customer and vendor payments.
    Payments,
    /// Reimbursed expense claims.
    ExpenseReimbursements,
    /// Manual entries on bank accounts.
    Manual,
    /// Reversals of entries on bank accounts.
    Reversals,
    /// Anything else.
    Other,
}

/// One line of the cash-flow statement.
#[derive(SimpleObject)]
pub struct CashFlowLine {
    /// What moved the cash (payments, expense reimbursements, manual entries, reversals, other).
    pub source: CashFlowSource,
    /// Cash received from this source in the range.
    pub inflow: Money,
    /// Cash paid to this source in the range (positive).
    pub outflow: Money,
}

/// Cash movements over a range (direct method).
#[derive(SimpleObject)]
pub struct CashFlowStatement {
    /// The first day of the range.
    pub from: Date,
    /// The last day of the range.
    pub to: Date,
    /// Cash at the end of the day before `from`.
    pub opening: Money,
    /// The movements by source.
    pub lines: Vec<CashFlowLine>,
    /// Cash at the end of `to`.
    pub closing: Money,
}

/// One week of the forecast.
#[derive(SimpleObject)]
pub struct ForecastWeek {
    /// The first day of the week.
    pub starts_on: Date,
    /// The week's last day.
    pub ends_on: Date,
    /// Open invoice instalments and recurring invoices expected in.
    pub inflow: Money,
    /// Open bill instalments expected out.
    pub outflow: Money,
    /// Cash expected at the end of the week.
    pub closing: Money,
}

/// Cash today plus open receivables and payables by due date, week by week.
#[derive(SimpleObject)]
pub struct CashForecast {
    /// The day the forecast starts from (its opening cash is the position on that day).
    pub as_of: Date,
    /// Cash at the end of `asOf` (actuals).
    pub opening: Money,
    /// One row per week of the horizon, in order.
    pub weeks: Vec<ForecastWeek>,
}

fn ageing_report(report: cash::Ageing) -> AgeingReport {
    let currency = report.currency;
    let money = |minor| money(minor, currency);
    let total = report.partners.iter().map(|p| p.open()).sum();
    AgeingReport {
        as_of: Date(report.as_of),
        total: money(total),
        partners: report
            .partners
            .into_iter()
            .map(|row| PartnerAgeing {
                current: money(row.buckets[0]),
                days1_to30: money(row.buckets[1]),
                days31_to60: money(row.buckets[2]),
                days61_to90: money(row.buckets[3]),
                over90: money(row.buckets[4]),
                total: money(row.open()),
                unallocated: money(row.unallocated),
                partner: Partner(row.partner),
            })
            .collect(),
    }
}

fn reconciliation(report: cash::Reconciliation) -> SubledgerReconciliation {
    let currency = report.currency;
    SubledgerReconciliation {
        control_balance: money(report.control_balance, currency),
        subledger_balance: money(report.subledger_balance, currency),
        balanced: report.mismatches.is_empty(),
        mismatches: report
            .mismatches
            .into_iter()
            .map(|(partner, control, subledger)| ReconciliationMismatch {
                partner_id: ID(partner),
                control: money(control, currency),
                subledger: money(subledger, currency),
            })
            .collect(),
    }
}

#[derive(Default)]
pub struct DocumentQuery;

#[Object]
impl DocumentQuery {
    /// Customers and vendors in creation order; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    async fn partners(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only customers or only vendors.")] kind: Option<PartnerKind>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<Partner>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let kind = kind.map(|k| match k {
            PartnerKind::Customer => "customer",
            PartnerKind::Vendor => "vendor",
        });
        let rows = finance(ctx)?.partner_page(&tenant, kind, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Partner).collect(),
            |p| p.0.id.clone(),
        )))
    }

    /// One partner.
    #[graphql(requires_scopes = "finance:read")]
    async fn partner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner's id.")] id: ID,
    ) -> Result<Option<Partner>> {
        Ok(load_one::<PartnerLoader>(ctx, &id).await?.map(Partner))
    }

    /// The payment terms.
    #[graphql(requires_scopes = "finance:read")]
    async fn payment_terms(&self, ctx: &Context<'_>) -> Result<Option<Vec<PaymentTerm>>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?.payment_terms_of(&tenant).await?;
        Ok(Some(rows.into_iter().map(PaymentTerm).collect()))
    }

    /// Invoices, credit notes and bills in creation order, filtered; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    #[allow(clippy::too_many_arguments)]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these kinds (default: all).")] kinds: Option<Vec<InvoiceKind>>,
        #[graphql(desc = "Only this partner's.")] partner_id: Option<ID>,
        #[graphql(desc = "Only this project's.")] project_id: Option<ID>,
        #[graphql(desc = "Only posted documents with something outstanding.")] open: Option<bool>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<Invoice>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = DocumentFilter {
            kinds: kinds
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceKind::as_str)
                .collect(),
            partner_id: partner_id.map(|id| id.0),
            project_id: project_id.map(|id| id.0),
            posted: None,
            open: open.unwrap_or(false),
            ..Default::default()
        };
        let rows = finance(ctx)?.document_page(&tenant, &filter, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Invoice).collect(),
            |d| d.0.id.clone(),
        )))
    }

    /// One invoice, credit note or bill.
    #[graphql(requires_scopes = "finance:read")]
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's id.")] id: ID,
    ) -> Result<Option<Invoice>> {
        Ok(load_one::<DocumentLoader>(ctx, &id).await?.map(Invoice))
    }

    /// Payments in creation order; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this partner's.")] partner_id: Option<ID>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<Payment>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = finance(ctx)?
            .payment_page(&tenant, partner_id.as_ref().map(|id| id.as_str()), &page)
            .await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Payment).collect(),
            |p| p.0.id.clone(),
        )))
    }

    /// One payment.
    #[graphql(requires_scopes = "finance:read")]
    async fn payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment's id.")] id: ID,
    ) -> Result<Option<Payment>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?.payment_of(&tenant, &id).await?.map(Payment))
    }

    /// Open customer invoices by customer and days past due at `asOf` (AR ageing).
    #[graphql(requires_scopes = "finance:read")]
    async fn aged_receivables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day ages are counted to.")] as_of: Date,
    ) -> Result<Option<AgeingReport>> {
        let tenant = ctx.tenant()?;
        Ok(Some(ageing_report(
            finance(ctx)?
                .ageing(&tenant, Ledger::Receivables, as_of.0)
                .await?,
        )))
    }

    /// Open vendor bills by vendor and days past due at `asOf` (AP ageing).
    #[graphql(requires_scopes = "finance:read")]
    async fn aged_payables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day ages are counted to.")] as_of: Date,
    ) -> Result<Option<AgeingReport>> {
        let tenant = ctx.tenant()?;
        Ok(Some(ageing_report(
            finance(ctx)?
                .ageing(&tenant, Ledger::Payables, as_of.0)
                .await?,
        )))
    }

    /// The receivables control account against open invoices and unallocated receipts.
    #[graphql(requires_scopes = "finance:read")]
    async fn receivables_reconciliation(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<SubledgerReconciliation>> {
        let tenant = ctx.tenant()?;
        Ok(Some(reconciliation(
            finance(ctx)?
                .reconcile(&tenant, Ledger::Receivables)
                .await?,
        )))
    }

    /// The payables control account against open bills and unallocated payments.
    #[graphql(requires_scopes = "finance:read")]
    async fn payables_reconciliation(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<SubledgerReconciliation>> {
        let tenant = ctx.tenant()?;
        Ok(Some(reconciliation(
            finance(ctx)?.reconcile(&tenant, Ledger::Payables).await?,
        )))
    }

    /// Cash per bank account at the end of `asOf`.
    #[graphql(requires_scopes = "finance:read")]
    async fn cash_position(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day.")] as_of: Date,
    ) -> Result<Option<CashPosition>> {
        let tenant = ctx.tenant()?;
        let position = finance(ctx)?.cash_position(&tenant, as_of.0).await?;
        let currency = position.currency;
        let total = position.accounts.iter().map(|(_, b)| b).sum();
        Ok(Some(CashPosition {
            as_of: Date(position.as_of),
            total: money(total, currency),
            accounts: position
                .accounts
                .into_iter()
                .map(|(account, balance)| BankBalance {
                    account: Account(account),
                    balance: money(balance, currency),
                })
                .collect(),
        }))
    }

    /// Cash movements over `[from, to]` by source, between opening and closing cash.
    #[graphql(requires_scopes = "finance:read")]
    async fn cash_flow_statement(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day.")] from: Date,
        #[graphql(desc = "The last day.")] to: Date,
    ) -> Result<Option<CashFlowStatement>> {
        let tenant = ctx.tenant()?;
        let statement = finance(ctx)?
            .cash_flow_statement(&tenant, from.0, to.0)
            .await?;
        let currency = statement.currency;
        let mut lines: Vec<CashFlowLine> = Vec::new();
        for (source, inflow, outflow) in statement.lines {
            let source = match source.as_str() {
                "payment" => CashFlowSource::Payments,
                "expense_payment" => CashFlowSource::ExpenseReimbursements,
                "manual" => CashFlowSource::Manual,
                "reversal" => CashFlowSource::Reversals,
                _ => CashFlowSource::Other,
            };
            match lines.iter_mut().find(|l| l.source == source) {
                Some(line) => {
                    line.inflow = money(parse_minor(&line.inflow) + inflow, currency);
                    line.outflow = money(parse_minor(&line.outflow) + outflow, currency);
                }
                None => lines.push(CashFlowLine {
                    source,
                    inflow: money(inflow, currency),
                    outflow: money(outflow, currency),
                }),
            }
        }
        Ok(Some(CashFlowStatement {
            from: Date(statement.from),
            to: Date(statement.to),
            opening: money(statement.opening, currency),
            closing: money(statement.closing, currency),
            lines,
        }))
    }

    /// Cash expected week by week from `asOf`: today's cash plus open invoice instalments and
    /// recurring invoices in, open bill instalments out (overdue ones in the first week).
    #[graphql(requires_scopes = "finance:read")]
    async fn cash_forecast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day of the forecast (actuals up to its end).")] as_of: Date,
        #[graphql(desc = "How many weeks, 1 to 104 (default 13).")] weeks: Option<i32>,
    ) -> Result<Option<CashForecast>> {
        let tenant = ctx.tenant()?;
        let weeks = weeks.unwrap_or(13);
        if !(1..=104).contains(&weeks) {
            return Err(ApiError::bad_input("weeks", "a forecast covers 1 to 104 weeks").into());
        }
        let forecast = finance(ctx)?
            .cash_forecast(&tenant, as_of.0, weeks as u32)
            .await?;
        let currency = forecast.currency;
        Ok(Some(CashForecast {
            as_of: Date(forecast.as_of),
            opening: money(forecast.opening, currency),
            weeks: forecast
                .buckets
                .into_iter()
                .map(|b| ForecastWeek {
                    starts_on: Date(b.starts_on),
                    ends_on: Date(b.ends_on),
                    inflow: money(b.inflow, currency),
                    outflow: money(b.outflow, currency),
                    closing: money(b.closing, currency),
                })
                .collect(),
        }))
    }
}

/// The minor units of a `Money` amount (for summing rows of one statement).
fn parse_minor(money: &Money) -> i64 {
    money.minor()
}

/// A new customer or vendor.
#[derive(InputObject)]
pub struct CreatePartnerInput {
    /// Customer or vendor.
    pub kind: PartnerKind,
    /// 1 to 500 characters.
    pub name: String,
    /// The CRM client this customer is.
    // A client merged away resolves to the survivor of its merge (`Finance::create_partner`).
    pub client_id: Option<ID>,
    /// The default payment term of its documents.
    pub payment_term_id: Option<ID>,
}

/// The partner created.
#[derive(SimpleObject)]
pub struct CreatePartnerPayload {
    /// The partner created.
    pub partner: Partner,
}

/// One instalment of a new payment term.
#[derive(InputObject)]
pub struct TermInstalmentInput {
    /// The share in percent, a decimal string with up to 4 decimals; shares add up to 100.
    pub share: Decimal,
    /// Days after the document date (0 to 3650).
    pub days: i32,
}

/// A new payment term.
#[derive(InputObject)]
pub struct CreatePaymentTermInput {
    /// The term's name (1 to 500 characters), e.g. `30 days`.
    pub name: String,
    /// In order; the shares add up to exactly 100 (`INSTALMENTS_NOT_100`).
    pub instalments: Vec<TermInstalmentInput>,
}

/// The payment term created.
#[derive(SimpleObject)]
pub struct CreatePaymentTermPayload {
    /// The payment term created.
    pub payment_term: PaymentTerm,
}

/// One line of a document.
#[derive(InputObject)]
pub struct InvoiceLineInput {
    /// 1 to 500 characters.
    pub description: String,
    /// Default: the settings' income account (invoices) or expense account (bills); never a
    /// control account.
    pub account_id: Option<ID>,
    /// A positive decimal with at most 3 decimals (e.g. hours: `"7.5"`).
    pub quantity: Decimal,
    /// A decimal string of the document's currency, at most its decimals.
    pub unit_price: Decimal,
    /// A percentage, default `"0"`.
    pub discount: Option<Decimal>,
    /// The tax on the line; none for no tax.
    pub tax_id: Option<ID>,
    /// The PMO project of the line (default: the document's).
    pub project_id: Option<ID>,
    /// The PMO time entry the line bills: each is billed at most once
    /// (`TIME_ENTRY_ALREADY_BILLED`).
    pub time_entry_id: Option<ID>,
}

impl From<InvoiceLineInput> for LineRequest {
    fn from(line: InvoiceLineInput) -> Self {
        LineRequest {
            description: line.description,
            account_id: line.account_id.map(|id| id.0),
            quantity: line.quantity.to_string(),
            unit_price: line.unit_price.to_string(),
            discount: line.discount.map(|d| d.to_string()),
            tax_id: line.tax_id.map(|id| id.0),
            project_id: line.project_id.map(|id| id.0),
            time_entry_id: line.time_entry_id.map(|id| id.0),
        }
    }
}

/// A new draft invoice (or bill).
#[derive(InputObject)]
pub struct CreateInvoiceInput {
    /// A customer (invoices) or a vendor (bills).
    pub partner_id: ID,
    /// The document's date (its entry's date once posted).
    pub date: Date,
    /// Default: 30 days after `date` (a payment term's instalments override it).
    pub due_date: Option<Date>,
    /// The base currency, or a currency with an exchange rate in force on `date`
    /// (NO_EXCHANGE_RATE otherwise; DOCUMENT_CURRENCY when the tenant keeps no rate for it).
    /// Amounts have the currency's decimals (JPY 0, KWD 3).
    pub currency: KitCurrency,
    /// A note printed on the document (1 to 500 characters).
    pub memo: Option<String>,
    /// The PMO project it bills.
    pub project_id: Option<ID>,
    /// The department the document is booked to (a dimension of its entry lines).
    pub department_id: Option<ID>,
    /// Default: the partner's.
    pub payment_term_id: Option<ID>,
    /// At least one.
    pub lines: Vec<InvoiceLineInput>,
}

/// The draft created or changed.
#[derive(SimpleObject)]
pub struct InvoicePayload {
    /// The document as it is now.
    pub invoice: Invoice,
}

/// Changes to a draft (`NOT_DRAFT` once posted).
#[derive(InputObject)]
pub struct UpdateInvoiceInput {
    /// The draft document.
    pub invoice_id: ID,
    /// A new date; unchanged when left out.
    pub date: Option<Date>,
    /// A new due date; unchanged when left out.
    pub due_date: Option<Date>,
    /// A new note; unchanged when left out.
    pub memo: Option<String>,
    /// Replaces every line.
    pub lines: Option<Vec<InvoiceLineInput>>,
}

/// Deleting a draft customer invoice or credit note.
#[derive(InputObject)]
pub struct DeleteDraftInvoiceInput {
    /// The draft invoice or credit note (`NOT_DRAFT` once posted).
    pub invoice_id: ID,
}

/// Deleting a draft vendor bill.
#[derive(InputObject)]
pub struct DeleteDraftBillInput {
    /// The draft bill (`NOT_DRAFT` once posted).
    pub bill_id: ID,
}

/// A deleted draft.
#[derive(SimpleObject)]
pub struct DeleteDraftPayload {
    /// The id the draft had (asking for it now answers `NOT_FOUND`).
    pub deleted_id: ID,
    /// The time entries its lines billed (`timeEntryId`: approved PMO timesheets' line keys
    /// `timesheet:<id>:<project>`, or time entries named by hand), billable again: a later
    /// invoice bills each once.
    pub released_time_entry_ids: Vec<ID>,
}

impl From<DeletedDraft> for DeleteDraftPayload {
    fn from(deleted: DeletedDraft) -> Self {
        DeleteDraftPayload {
            deleted_id: ID(deleted.id),
            released_time_entry_ids: deleted.released_time_entries.into_iter().map(ID).collect(),
        }
    }
}

/// A new draft credit note against a posted invoice.
#[derive(InputObject)]
pub struct CreateCreditNoteInput {
    /// The posted invoice (or bill) the credit note cancels, in whole or in part.
    pub invoice_id: ID,
    /// The credit note's date (not on or before the lock date).
    pub date: Date,
    /// A note printed on the credit note (1 to 500 characters).
    pub memo: Option<String>,
    /// Default: every line of the invoice (a full credit). The total may not exceed what is
    /// still open on the invoice (`CREDIT_EXCEEDS_INVOICE`).
    pub lines: Option<Vec<InvoiceLineInput>>,
}

/// Posting a draft.
#[derive(InputObject)]
pub struct PostInvoiceInput {
    /// 1 to 200 characters: the same key replays the answer; with another document it is
    /// refused (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: String,
    /// The draft invoice, credit note or bill.
    pub invoice_id: ID,
}

/// The posted document.
#[derive(SimpleObject)]
pub struct PostInvoicePayload {
    /// The posted document, with its number.
    pub invoice: Invoice,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// A part of a payment allocated to a document.
#[derive(InputObject)]
pub struct AllocationInput {
    /// A posted invoice (inbound payments) or bill (outbound) of the same partner.
    pub invoice_id: ID,
    /// A positive decimal string, at most what the document still owes.
    pub amount: Decimal,
}

/// A payment received or made.
#[derive(InputObject)]
pub struct RecordPaymentInput {
    /// See `PostInvoiceInput.idempotencyKey`.
    pub idempotency_key: String,
    /// Received from a customer (`INBOUND`) or paid to a vendor (`OUTBOUND`).
    pub direction: PaymentDirection,
    /// A customer (inbound) or vendor (outbound).
    pub partner_id: ID,
    /// The day the money moved (not on or before the lock date).
    pub date: Date,
    /// The base currency, or a currency with an exchange rate in force on `date` (the
    /// documents it is allocated to are in this currency).
    pub currency: KitCurrency,
    /// A positive decimal string.
    pub amount: Decimal,
    /// Default: the settings' bank account.
    pub bank_account_id: Option<ID>,
    /// A note on the payment (1 to 500 characters).
    pub memo: Option<String>,
    /// Together at most `amount` (`OVER_ALLOCATION`); the rest stays unallocated.
    pub allocations: Option<Vec<AllocationInput>>,
}

/// The payment.
#[derive(SimpleObject)]
pub struct PaymentPayload {
    /// The payment as it is now.
    pub payment: Payment,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// Allocating what a payment has left.
#[derive(InputObject)]
pub struct AllocatePaymentInput {
    /// See `PostInvoiceInput.idempotencyKey`.
    pub idempotency_key: String,
    /// The posted payment whose unallocated amount is spread.
    pub payment_id: ID,
    /// Together at most what the payment has left (`OVER_ALLOCATION`), even with concurrent
    /// allocations.
    pub allocations: Vec<AllocationInput>,
}

/// A PMO project's billing: its approved hours are invoiced to `customerId` at `hourlyRate`.
#[derive(InputObject)]
pub struct SetProjectBillingRateInput {
    /// The PMO project.
    pub project_id: ID,
    /// The customer invoiced.
    pub customer_id: ID,
    /// The base currency.
    pub currency: KitCurrency,
    /// Per hour, a positive decimal string; each billed line keeps the rate of its moment.
    pub hourly_rate: Decimal,
    /// The income account of the lines (default: the settings').
    pub account_id: Option<ID>,
}

/// A project's billing rate.
#[derive(SimpleObject)]
pub struct ProjectBillingRate {
    /// The PMO project (federated).
    pub project: Project,
    /// The customer billed for the project's time.
    pub customer_id: ID,
    /// The rate of one hour from now on (billed lines keep the rate they were billed at).
    pub hourly_rate: Money,
}

/// The rate set.
#[derive(SimpleObject)]
pub struct SetProjectBillingRatePayload {
    /// The billing rate now in force.
    pub billing_rate: ProjectBillingRate,
}

/// A monthly recurring invoice.
#[derive(InputObject)]
pub struct CreateRecurringScheduleInput {
    /// The customer invoiced.
    pub partner_id: ID,
    /// The schedule's name (1 to 500 characters), e.g. `Support contract`.
    pub name: String,
    /// The base currency, or a currency the tenant keeps exchange rates for: each invoice is
    /// converted at the rate in force on its own date when it posts (generating one whose date
    /// has no rate yet is `NO_EXCHANGE_RATE`).
    pub currency: KitCurrency,
    /// The invoice's day of the month (1 to 31; shorter months use their last day).
    pub day_of_month: i32,
    /// The first month is this day's.
    pub starts_on: Date,
    /// The last day an invoice may be generated for; none for no end.
    pub ends_on: Option<Date>,
    /// The lines of every generated invoice.
    pub lines: Vec<InvoiceLineInput>,
}

/// A recurring schedule.
#[derive(SimpleObject)]
pub struct RecurringSchedulePayload {
    /// The schedule's id.
    pub id: ID,
    /// The schedule's name.
    pub name: String,
}

/// Generating the recurring invoices due.
#[derive(InputObject)]
pub struct GenerateRecurringInvoicesInput {
    /// Every month up to this day's is generated (once: a month already generated is skipped).
    pub as_of: Date,
    /// Post them too (numbered, entries posted). Default false: drafts.
    pub post: Option<bool>,
}

/// What a recurring run created (nothing when re-run for the same months).
#[derive(SimpleObject)]
pub struct GenerateRecurringInvoicesPayload {
    /// The draft invoices created by this run (none when every period was already generated).
    pub created: Vec<Invoice>,
}

async fn invoice_by_id(ctx: &Context<'_>, id: &str) -> Result<Invoice> {
    let tenant = ctx.tenant()?;
    finance(ctx)?
        .document_of(&tenant, id)
        .await?
        .map(Invoice)
        .ok_or_else(|| ApiError::NotFound("invoice".into()).into())
}

async fn payment_by_id(ctx: &Context<'_>, id: &str) -> Result<Payment> {
    let tenant = ctx.tenant()?;
    finance(ctx)?
        .payment_of(&tenant, id)
        .await?
        .map(Payment)
        .ok_or_else(|| ApiError::NotFound("payment".into()).into())
}

fn allocations(input: Option<Vec<AllocationInput>>) -> Vec<AllocationRequest> {
    input
        .unwrap_or_default()
        .into_iter()
        .map(|a| AllocationRequest {
            document_id: a.invoice_id.0,
            amount: a.amount.to_string(),
        })
        .collect()
}

fn document_request(kind: &'static str, input: CreateInvoiceInput) -> DocumentRequest {
    DocumentRequest {
        kind,
        partner_id: input.partner_id.0,
        date: input.date.0,
        due_date: input.due_date.map(|d| d.0),
        currency: input.currency.code().to_owned(),
        memo: input.memo,
        project_id: input.project_id.map(|id| id.0),
        department_id: input.department_id.map(|id| id.0),
        payment_term_id: input.payment_term_id.map(|id| id.0),
        lines: input.lines.into_iter().map(LineRequest::from).collect(),
    }
}

#[derive(Default)]
pub struct DocumentMutation;

#[Object]
impl DocumentMutation {
    /// Adds a customer or vendor.
    #[graphql(requires_scopes = "finance:write")]
    async fn create_partner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer or vendor.")] input: CreatePartnerInput,
    ) -> Result<Option<CreatePartnerPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_partner(
                &actor,
                PartnerRequest {
                    kind: match input.kind {
                        PartnerKind::Customer => AppPartnerKind::Customer,
                        PartnerKind::Vendor => AppPartnerKind::Vendor,
                    },
                    name: input.name,
                    client_id: input.client_id.map(|id| id.0),
                    payment_term_id: input.payment_term_id.map(|id| id.0),
                },
            )
            .await?;
        let partner = finance(ctx)?
            .partner_of(&actor.tenant, &id)
            .await?
            .ok_or_else(|| ApiError::internal("the new partner vanished"))?;
        Ok(Some(CreatePartnerPayload {
            partner: Partner(partner),
        }))
    }

    /// Adds a payment term.
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_payment_term(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The term's name and instalments.")] input: CreatePaymentTermInput,
    ) -> Result<Option<CreatePaymentTermPayload>> {
        let actor = actor(ctx)?;
        let mut instalments = Vec::with_capacity(input.instalments.len());
        for line in input.instalments {
            if !(0..=3650).contains(&line.days) {
                return Err(ApiError::bad_input(
                    "days",
                    "an instalment falls due 0 to 3650 days after the document",
                )
                .into());
            }
            instalments.push((line.share.to_string(), line.days as u32));
        }
        let id = finance(ctx)?
            .create_payment_term(
                &actor,
                TermRequest {
                    name: input.name,
                    instalments,
                },
            )
            .await?;
        let term = finance(ctx)?
            .payment_term_of(&actor.tenant, &id)
            .await?
            .ok_or_else(|| ApiError::internal("the new term vanished"))?;
        Ok(Some(CreatePaymentTermPayload {
            payment_term: PaymentTerm(term),
        }))
    }

    /// Drafts a customer invoice (nothing posted or numbered until `postInvoice`).
    #[graphql(requires_scopes = "finance:write")]
    async fn create_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner, dates and lines of the document.")]
        input: CreateInvoiceInput,
    ) -> Result<Option<InvoicePayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_document(&actor, document_request("invoice", input))
            .await?;
        Ok(Some(InvoicePayload {
            invoice: invoice_by_id(ctx, &id).await?,
        }))
    }

    /// Drafts a vendor bill (matched against purchase orders later by operations).
    #[graphql(requires_scopes = "finance:write")]
    async fn create_bill(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner, dates and lines of the document.")]
        input: CreateInvoiceInput,
    ) -> Result<Option<InvoicePayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_document(&actor, document_request("bill", input))
            .await?;
        Ok(Some(InvoicePayload {
            invoice: invoice_by_id(ctx, &id).await?,
        }))
    }

    /// Changes a draft invoice, credit note or bill (`NOT_DRAFT` once posted: credit it instead).
    #[graphql(requires_scopes = "finance:write")]
    async fn update_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft and what changes.")] input: UpdateInvoiceInput,
    ) -> Result<Option<InvoicePayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .update_document(
                &actor,
                UpdateRequest {
                    document_id: input.invoice_id.0,
                    date: input.date.map(|d| d.0),
                    due_date: input.due_date.map(|d| d.0),
                    memo: input.memo,
                    lines: input
                        .lines
                        .map(|lines| lines.into_iter().map(LineRequest::from).collect()),
                },
            )
            .await?;
        Ok(Some(InvoicePayload {
            invoice: invoice_by_id(ctx, &id).await?,
        }))
    }

    /// Deletes a draft customer invoice or credit note with its lines (a draft has no number
    /// yet: no gap in any series). The time entries its lines billed are billable again, and
    /// an invoice's deletion publishes `invoice.draft_deleted` in the same transaction (its
    /// billed time is no longer work in progress). `NOT_DRAFT` once posted (credit it
    /// instead), `RECURRING_DRAFT` for a recurring schedule's invoice, `NOT_FOUND` for an
    /// unknown id (also a second deletion), BAD_USER_INPUT for a vendor bill. A CRM quote's
    /// draft stays its quote's invoice: the quote is not drafted again.
    #[graphql(requires_scopes = "finance:write")]
    async fn delete_draft_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft to delete.")] input: DeleteDraftInvoiceInput,
    ) -> Result<Option<DeleteDraftPayload>> {
        let actor = actor(ctx)?;
        let deleted = finance(ctx)?
            .delete_draft(&actor, &input.invoice_id, DraftSide::Receivable)
            .await?;
        Ok(Some(deleted.into()))
    }

    /// Deletes a draft vendor bill with its lines (no number taken, no entry posted: nothing
    /// else changes). `NOT_DRAFT` once posted, `NOT_FOUND` for an unknown id (also a second
    /// deletion), BAD_USER_INPUT for a customer invoice or credit note.
    #[graphql(requires_scopes = "finance:write")]
    async fn delete_draft_bill(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft bill to delete.")] input: DeleteDraftBillInput,
    ) -> Result<Option<DeleteDraftPayload>> {
        let actor = actor(ctx)?;
        let deleted = finance(ctx)?
            .delete_draft(&actor, &input.bill_id, DraftSide::Payable)
            .await?;
        Ok(Some(deleted.into()))
    }

    /// Drafts a credit note against a posted invoice: the only way to cancel one.
    #[graphql(requires_scopes = "finance:write")]
    async fn create_credit_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice to credit and the lines of the credit note.")]
        input: CreateCreditNoteInput,
    ) -> Result<Option<InvoicePayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_credit_note(
                &actor,
                CreditNoteRequest {
                    invoice_id: input.invoice_id.0,
                    date: input.date.0,
                    memo: input.memo,
                    lines: input
                        .lines
                        .map(|lines| lines.into_iter().map(LineRequest::from).collect()),
                },
            )
            .await?;
        Ok(Some(InvoicePayload {
            invoice: invoice_by_id(ctx, &id).await?,
        }))
    }

    /// Posts a draft invoice, credit note or bill: numbered in its series (`INV`, `CN`, `BILL`)
    /// per fiscal year inside the posting transaction, its journal entry posted, its
    /// instalments set; a credit note settles its invoice. Posts once (`NOT_DRAFT`);
    /// `NOT_FOUND` for a draft deleted, also by a deletion that committed while this posting
    /// waited for it.
    #[graphql(requires_scopes = "finance:write")]
    async fn post_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft to post and an idempotency key.")] input: PostInvoiceInput,
    ) -> Result<Option<PostInvoicePayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .post_document_queued(&actor, &input.idempotency_key, &input.invoice_id)
            .await?;
        Ok(Some(PostInvoicePayload {
            invoice: invoice_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Records a payment received (INBOUND, from a customer) or made (OUTBOUND, to a vendor),
    /// posts it to the bank and allocates it to documents.
    #[graphql(requires_scopes = "finance:write")]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment, its allocations and an idempotency key.")]
        input: RecordPaymentInput,
    ) -> Result<Option<PaymentPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .record_payment(
                &actor,
                &input.idempotency_key,
                PaymentRequest {
                    direction: input.direction.as_str(),
                    partner_id: input.partner_id.0,
                    date: input.date.0,
                    currency: input.currency.code().to_owned(),
                    amount: input.amount.to_string(),
                    bank_account_id: input.bank_account_id.map(|id| id.0),
                    memo: input.memo,
                    allocations: allocations(input.allocations),
                },
            )
            .await?;
        Ok(Some(PaymentPayload {
            payment: payment_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Allocates what a payment has left to open documents of its partner.
    #[graphql(requires_scopes = "finance:write")]
    async fn allocate_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment, its allocations and an idempotency key.")]
        input: AllocatePaymentInput,
    ) -> Result<Option<PaymentPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .allocate_payment(
                &actor,
                &input.idempotency_key,
                AllocateRequest {
                    payment_id: input.payment_id.0,
                    allocations: allocations(Some(input.allocations)),
                },
            )
            .await?;
        Ok(Some(PaymentPayload {
            payment: payment_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Sets how a PMO project's approved hours are invoiced: every `timesheet.approved` event
    /// adds its billable hours to the project's draft invoice at this rate, once per timesheet.
    #[graphql(requires_scopes = "finance:write")]
    async fn set_project_billing_rate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, its customer and the hourly rate.")]
        input: SetProjectBillingRateInput,
    ) -> Result<Option<SetProjectBillingRatePayload>> {
        let actor = actor(ctx)?;
        let row = finance(ctx)?
            .set_billing_rate(
                &actor,
                crate::app::billing::BillingRateRequest {
                    project_id: input.project_id.0,
                    customer_id: input.customer_id.0,
                    currency: input.currency.code().to_owned(),
                    hourly_rate: input.hourly_rate.to_string(),
                    account_id: input.account_id.map(|id| id.0),
                },
            )
            .await?;
        Ok(Some(SetProjectBillingRatePayload {
            billing_rate: ProjectBillingRate {
                project: Project {
                    id: ID(row.project_id),
                },
                customer_id: ID(row.partner_id),
                hourly_rate: stored_money(row.hourly_rate, &row.currency),
            },
        }))
    }

    /// Adds a monthly recurring invoice for a customer.
    #[graphql(requires_scopes = "finance:write")]
    async fn create_recurring_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer, the lines and the months to invoice.")]
        input: CreateRecurringScheduleInput,
    ) -> Result<Option<RecurringSchedulePayload>> {
        let actor = actor(ctx)?;
        let name = input.name.clone();
        let id = finance(ctx)?
            .create_recurring_schedule(
                &actor,
                ScheduleRequest {
                    partner_id: input.partner_id.0,
                    name: input.name,
                    currency: input.currency.code().to_owned(),
                    day_of_month: input.day_of_month.clamp(0, 99) as u32,
                    starts_on: input.starts_on.0,
                    ends_on: input.ends_on.map(|d| d.0),
                    lines: input.lines.into_iter().map(LineRequest::from).collect(),
                },
            )
            .await?;
        Ok(Some(RecurringSchedulePayload { id: ID(id), name }))
    }

    /// Generates the recurring invoices due by `asOf`, each (schedule, month) once: a re-run,
    /// or two runs at once, create nothing twice.
    #[graphql(requires_scopes = "finance:write")]
    async fn generate_recurring_invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day up to which periods are due.")]
        input: GenerateRecurringInvoicesInput,
    ) -> Result<Option<GenerateRecurringInvoicesPayload>> {
        let actor = actor(ctx)?;
        let ids = finance(ctx)?
            .generate_recurring(&actor, input.as_of.0, input.post.unwrap_or(false))
            .await?;
        let mut created = Vec::with_capacity(ids.len());
        for id in ids {
            created.push(invoice_by_id(ctx, &id).await?);
        }
        Ok(Some(GenerateRecurringInvoicesPayload { created }))
    }
}

/// A PMO project (owned by the PMO subgraph).
pub struct Project {
    pub id: ID,
}

// Described as PMO, its owner, describes it (the supergraph keeps one description); finance
// adds its invoices.
/// A project: client work or internal, with members in project roles, boards, sprints and
/// tasks.
#[Object]
impl Project {
    /// Stable id.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The customer invoices billing the project, newest first (at most 100).
    #[graphql(requires_scopes = "finance:read")]
    async fn invoices(&self, ctx: &Context<'_>) -> Result<Option<Vec<Invoice>>> {
        Ok(Some(
            load_one::<ProjectInvoicesLoader>(ctx, &self.id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(Invoice)
                .collect(),
        ))
    }
}

/// A stored rate as the decimal people read (None in the base currency).
pub(super) fn exchange_rate(currency: &str, rate_nano: Option<i64>) -> Option<Decimal> {
    let currency = crate::domain::money::Currency::parse(currency).ok()?;
    rate_nano.map(|nano| {
        decimal(crate::domain::fx::ExchangeRate::from_nano(currency, nano).to_decimal_string())
    })
}
