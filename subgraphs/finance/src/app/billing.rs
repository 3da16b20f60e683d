//! Billing approved time: a PMO project's billing rate (customer, hourly rate), and the use case
//! the `timesheet.approved` consumer runs: each project's billable hours of an approved
//! timesheet become a line of the project's draft invoice, at the rate of the moment (a
//! snapshot: a later rate change does not alter it), billed at most once (invariant F14: the
//! line carries `timesheet:<id>:<project>` under a unique key). And the use case the
//! `quote.accepted` consumer runs: a CRM quote accepted by the client becomes a draft customer
//! invoice copying the accepted snapshot (lines, discounts, taxes, currency), once per quote.

use erp_kit::{ApiError, ApiResult, TenantId};
use serde::{Deserialize, Serialize};

use super::documents::{template_line, LineRequest, PartnerKind, DEFAULT_DUE_DAYS};
use super::{new_id, Actor, Finance};
use crate::domain::invoice::DocumentKind;
use crate::domain::money::{format_minor, round_div, Currency, Money, Quantity};
use crate::domain::FinanceViolation;
use crate::store::billing as store;
use crate::store::documents as documents_store;
use crate::store::entities::{billing_rate, document, partner, quote_invoice};

#[derive(Debug, Clone, Serialize)]
pub struct BillingRateRequest {
    pub project_id: String,
    pub customer_id: String,
    pub currency: String,
    /// Per hour, a decimal string of `currency`.
    pub hourly_rate: String,
    /// The income account of the lines (default: the settings').
    pub account_id: Option<String>,
}

/// Payload of PMO's `timesheet.approved` (schema version 1), the part finance reads.
#[derive(Debug, Clone, Deserialize)]
pub struct TimesheetApproved {
    pub timesheet_id: String,
    pub user_id: String,
    /// ISO week, e.g. `2026-W02`.
    pub week: String,
    #[serde(default)]
    pub projects: Vec<ProjectHours>,
}

/// One project's hours in an approved timesheet.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectHours {
    pub project_id: String,
    #[serde(default)]
    pub billable_seconds: i64,
}

/// Payload of `timesheet.billed` (schema version 1): one approved timesheet's billable hours
/// of one project, as finance put them on the project's draft invoice. Analytics counts the
/// line as work in progress at the bill rate until the invoice `invoice_id` is posted.
#[derive(Debug, Serialize)]
pub struct TimesheetBilled<'a> {
    pub timesheet_id: &'a str,
    pub project_id: &'a str,
    /// The login whose time it is.
    pub user_id: &'a str,
    /// The approved ISO week, e.g. `2026-W02`.
    pub week: &'a str,
    /// The draft invoice the line is on (its id stays the invoice's once posted).
    pub invoice_id: &'a str,
    /// The line's unique key (`timesheet:<id>:<project>`).
    pub line_key: &'a str,
    pub billable_seconds: i64,
    /// Thousandths of an hour, as invoiced.
    pub quantity_milli: i64,
    /// The project's rate per hour (the snapshot the line keeps), minor units of `currency`.
    pub hourly_rate: i64,
    /// ISO 4217: the billing rate's (the tenant's base currency).
    pub currency: &'a str,
    /// The line's subtotal (quantity x rate, rounded as finance rounds it), minor units.
    pub amount: i64,
}

/// Payload of the CRM's `quote.accepted` (schema version 1), the part finance reads: the
/// accepted version's snapshot (an invoice copies it, never a price list).
#[derive(Debug, Clone, Deserialize)]
pub struct QuoteAccepted {
    pub quote_id: String,
    /// The tenant's quote number (`Q-000042`).
    pub number: String,
    pub version: i32,
    /// The CRM client the quote is for (finance's customer partner carries it as `clientId`).
    pub client_id: String,
    pub client_name: String,
    /// ISO 4217.
    pub currency: String,
    #[serde(default)]
    pub terms: Option<String>,
    pub lines: Vec<AcceptedLine>,
    /// The selected lines' net (quantity x unit price), before discounts; minor units.
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    /// Who accepted, as they signed.
    pub accepted_by: String,
}

/// One line of an accepted quote.
#[derive(Debug, Clone, Deserialize)]
pub struct AcceptedLine {
    pub description: String,
    /// Thousandths of a unit (1500 = 1.5).
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    /// Basis points (1000 = 10 %).
    pub discount_bp: i32,
    pub tax_rate_bp: i32,
    /// An optional line the client did not choose is not invoiced.
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "selected_by_default")]
    pub selected: bool,
}

fn selected_by_default() -> bool {
    true
}

/// Basis points (1/100 of a percent) as a percentage string (`1000` -> `"10.00"`).
fn percent_of_bp(bp: i32) -> String {
    format_minor(i64::from(bp), 2)
}

/// Who writes what the consumers write.
const BILLING_ACTOR: &str = "system:finance-billing";

impl Finance {
    /// Sets (or replaces) a project's billing rate.
    pub async fn set_billing_rate(
        &self,
        actor: &Actor,
        request: BillingRateRequest,
    ) -> ApiResult<billing_rate::Model> {
        let currency = Currency::parse(&request.currency)?;
        let rate = Money::parse(&request.hourly_rate, currency)?;
        if !rate.is_positive() {
            return Err(FinanceViolation::AmountOutOfRange.into());
        }
        let project = request.project_id.trim().to_owned();
        if project.is_empty() || project.len() > 200 {
            return Err(ApiError::bad_input(
                "projectId",
                "a project id has 1 to 200 characters",
            ));
        }
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            if settings.base_currency != currency.code() {
                return Err(FinanceViolation::DocumentCurrency(
                    Currency::parse(&settings.base_currency)?.code(),
                )
                .into());
            }
            self.partner_of_kind(txn, &tenant, &request.customer_id, DocumentKind::Invoice)
                .await?;
            if let Some(account) = &request.account_id {
                let facts = self
                    .account_facts(txn, &tenant, vec![account.clone()])
                    .await?;
                match facts.get(account) {
                    None => return Err(FinanceViolation::AccountNotFound(account.clone()).into()),
                    Some(f) if f.role.is_control() => {
                        return Err(FinanceViolation::ControlAccountReserved(f.code.clone()).into())
                    }
                    Some(_) => {}
                }
            }
            let row = billing_rate::Model {
                tenant_id: tenant.as_str().to_owned(),
                project_id: project.clone(),
                partner_id: request.customer_id.clone(),
                currency: currency.code().into(),
                hourly_rate: rate.minor(),
                account_id: request.account_id.clone(),
                updated_at: chrono::Utc::now(),
            };
            store::upsert_rate(txn, row.clone()).await?;
            Ok(row)
        })
        .await
    }

    /// Bills an approved timesheet inside the consumer's transaction: one line per project
    /// with billable hours and a billing rate, on the project's draft invoice (created when
    /// there is none). Projects without a rate are not billed. Returns the invoices touched.
    pub async fn bill_approved_timesheet<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        approved: &TimesheetApproved,
    ) -> ApiResult<Vec<String>> {
        let mut touched = Vec::new();
        for project in &approved.projects {
            if project.billable_seconds <= 0 {
                continue;
            }
            let Some(rate) = store::rate(txn, tenant, &project.project_id).await? else {
                continue;
            };
            let settings = self.require_set_up(txn, tenant).await?;
            let currency = Currency::parse(&rate.currency)?;
            // Hours with three decimals (a second is 0.000278 h: rounded to the thousandth).
            let milli_hours = round_div(i128::from(project.billable_seconds) * 1000, 3600) as i64;
            if milli_hours <= 0 {
                continue;
            }
            let key = format!("timesheet:{}:{}", approved.timesheet_id, project.project_id);
            if store::already_billed(txn, tenant, &key).await? {
                continue;
            }
            let line = LineRequest {
                description: format!("Approved time {} ({})", approved.week, approved.user_id),
                account_id: rate.account_id.clone(),
                quantity: Quantity::from_milli(milli_hours).to_decimal_string(),
                unit_price: format_minor(rate.hourly_rate, u32::from(currency.exponent())),
                discount: None,
                tax_id: None,
                project_id: Some(project.project_id.clone()),
                time_entry_id: Some(key.clone()),
            };
            let draft = match store::open_draft(txn, tenant, &project.project_id, &rate.partner_id)
                .await?
            {
                // The draft's row first (a posting's and a deletion's lock order), then the draft
                // and its lines as they are now: another billing that added its line meanwhile
                // has committed, and its line is kept (read before the lock, it was written
                // over). A draft posted or deleted since it was found fails this billing, which
                // the consumer retries (onto the project's next draft).
                Some(found) => {
                    if !documents_store::lock_draft(txn, tenant, &found.id).await? {
                        return Err(ApiError::internal(
                            "the project's draft invoice was posted or deleted while time was billed on it",
                        ));
                    }
                    documents_store::document(txn, tenant, &found.id)
                        .await?
                        .ok_or_else(|| ApiError::internal("a locked draft vanished"))?
                }
                None => {
                    let today = super::today();
                    let draft = document::Model {
                        id: new_id(),
                        tenant_id: tenant.as_str().to_owned(),
                        kind: DocumentKind::Invoice.as_str().into(),
                        partner_id: rate.partner_id.clone(),
                        posted: false,
                        number: None,
                        reference: None,
                        document_date: today,
                        due_date: today + chrono::Duration::days(30),
                        currency: currency.code().into(),
                        untaxed: 0,
                        tax: 0,
                        total: 0,
                        settled: 0,
                        credited_document_id: None,
                        entry_id: None,
                        project_id: Some(project.project_id.clone()),
                        department_id: None,
                        memo: Some(format!("Time billing, project {}", project.project_id)),
                        payment_term_id: None,
                        recurring_schedule_id: None,
                        recurring_period: None,
                        created_by: BILLING_ACTOR.into(),
                        created_at: chrono::Utc::now(),
                        posted_at: None,
                        rate_nano: None,
                        base_total: 0,
                        base_settled: 0,
                    };
                    documents_store::insert_document(txn, draft.clone()).await?;
                    draft
                }
            };
            let mut lines: Vec<LineRequest> =
                documents_store::lines_of(txn, tenant, vec![draft.id.clone()])
                    .await?
                    .iter()
                    .map(|stored| LineRequest {
                        time_entry_id: stored.time_entry_id.clone(),
                        ..template_line(stored, currency)
                    })
                    .collect();
            lines.push(line);
            let (rows, totals) = self
                .document_lines(
                    txn,
                    tenant,
                    &settings,
                    &draft.id,
                    DocumentKind::Invoice,
                    currency,
                    &lines,
                )
                .await?;
            // The new line's subtotal as finance computed it: what analytics counts as work in
            // progress until the invoice is posted.
            let billed = rows
                .iter()
                .find(|row| row.time_entry_id.as_deref() == Some(key.as_str()))
                .map(|row| row.subtotal)
                .ok_or_else(|| ApiError::internal("the billed line vanished from its draft"))?;
            // Still a draft: its row is locked (or was inserted) by this transaction.
            let still_draft = documents_store::update_draft(
                txn,
                tenant,
                &draft.id,
                draft.document_date,
                draft.due_date,
                draft.memo.clone(),
                totals.untaxed,
                totals.tax,
                totals.total,
            )
            .await?;
            if !still_draft {
                return Err(ApiError::internal(
                    "the project's draft invoice was posted or deleted while time was billed on it",
                ));
            }
            documents_store::replace_lines(txn, tenant, &draft.id, rows)
                .await
                .map_err(|err| super::unique_as(err, FinanceViolation::TimeEntryAlreadyBilled))?;
            let system = Actor {
                tenant: tenant.clone(),
                user_id: BILLING_ACTOR.into(),
                finance_admin: false,
            };
            self.enqueue(
                txn,
                &system,
                crate::events::TIMESHEET_BILLED,
                &key,
                TimesheetBilled {
                    timesheet_id: &approved.timesheet_id,
                    project_id: &project.project_id,
                    user_id: &approved.user_id,
                    week: &approved.week,
                    invoice_id: &draft.id,
                    line_key: &key,
                    billable_seconds: project.billable_seconds,
                    quantity_milli: milli_hours,
                    hourly_rate: rate.hourly_rate,
                    currency: currency.code(),
                    amount: billed,
                },
            )
            .await?;
            touched.push(draft.id);
        }
        Ok(touched)
    }

    /// Drafts the customer invoice of an accepted CRM quote inside the consumer's
    /// transaction, exactly as accepted: the client's own customer partner (created, keyed by
    /// the client id, the first time finance sees the client; never a merged-away client's
    /// partner a merge mapped to it), the selected lines with their
    /// quantities, prices, discounts and the finance tax of each line's rate, in the quote's
    /// currency (the base currency or one with a rate today: DOCUMENT_CURRENCY or NO_EXCHANGE_RATE
    /// otherwise). The totals finance computes must be
    /// the accepted ones (QUOTE_NOT_INVOICEABLE otherwise). A quote is invoiced once: a later
    /// `quote.accepted` of the same quote (a redelivery under a new id, another version)
    /// changes nothing. Returns the drafted invoice, `None` when the quote already had one.
    pub async fn invoice_accepted_quote<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        accepted: &QuoteAccepted,
    ) -> ApiResult<Option<String>> {
        if store::quote_invoice(txn, tenant, &accepted.quote_id)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let settings = self.require_set_up(txn, tenant).await?;
        let currency = self
            .trading_currency(txn, tenant, &settings, &accepted.currency, super::today())
            .await?;
        let exponent = u32::from(currency.exponent());
        let taxes = crate::store::ledger::taxes(txn, tenant).await?;
        let mut lines = Vec::with_capacity(accepted.lines.len());
        for line in accepted
            .lines
            .iter()
            .filter(|line| !line.optional || line.selected)
        {
            let tax_id = if line.tax_rate_bp == 0 {
                None
            } else {
                // The quote's rate is exclusive of tax: the finance tax of that rate, added on top.
                let rate_ppm = i64::from(line.tax_rate_bp) * 100;
                let tax = taxes
                    .iter()
                    .filter(|tax| tax.rate_ppm == rate_ppm && !tax.included)
                    .min_by(|a, b| a.code.cmp(&b.code))
                    .ok_or_else(|| {
                        FinanceViolation::QuoteNotInvoiceable(format!(
                            "no tax of {} % (not included in the price) is set up for the line `{}`",
                            percent_of_bp(line.tax_rate_bp),
                            line.description
                        ))
                    })?;
                Some(tax.id.clone())
            };
            lines.push(LineRequest {
                description: line.description.clone(),
                account_id: None,
                quantity: Quantity::from_milli(line.quantity_milli).to_decimal_string(),
                unit_price: format_minor(line.unit_price_minor, exponent),
                discount: (line.discount_bp != 0).then(|| percent_of_bp(line.discount_bp)),
                tax_id,
                project_id: None,
                time_entry_id: None,
            });
        }
        let id = new_id();
        let (rows, totals) = self
            .document_lines(
                txn,
                tenant,
                &settings,
                &id,
                DocumentKind::Invoice,
                currency,
                &lines,
            )
            .await?;
        let accepted_untaxed = accepted.subtotal_minor - accepted.discount_minor;
        if (totals.untaxed, totals.tax, totals.total)
            != (accepted_untaxed, accepted.tax_minor, accepted.total_minor)
        {
            return Err(FinanceViolation::QuoteNotInvoiceable(format!(
                "finance computes {} untaxed, {} tax, {} total; the quote was accepted at {}, {}, {}",
                format_minor(totals.untaxed, exponent),
                format_minor(totals.tax, exponent),
                format_minor(totals.total, exponent),
                format_minor(accepted_untaxed, exponent),
                format_minor(accepted.tax_minor, exponent),
                format_minor(accepted.total_minor, exponent),
            ))
            .into());
        }
        let customer = match self
            .own_customer_of_client(txn, tenant, &accepted.client_id)
            .await?
        {
            Some(customer) => customer,
            None => {
                let customer = partner::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    kind: PartnerKind::Customer.as_str().into(),
                    name: accepted.client_name.chars().take(500).collect(),
                    client_id: Some(accepted.client_id.clone()),
                    payment_term_id: None,
                    created_at: chrono::Utc::now(),
                };
                documents_store::insert_partner(txn, customer.clone()).await?;
                customer
            }
        };
        let today = super::today();
        let mut memo = format!(
            "Quote {} version {}, accepted by {}",
            accepted.number, accepted.version, accepted.accepted_by
        );
        if let Some(terms) = accepted.terms.as_deref().filter(|t| !t.trim().is_empty()) {
            memo.push_str(&format!(" ({})", terms.trim()));
        }
        let memo: String = memo.chars().take(500).collect();
        documents_store::insert_document(
            txn,
            document::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                kind: DocumentKind::Invoice.as_str().into(),
                partner_id: customer.id.clone(),
                posted: false,
                number: None,
                reference: None,
                document_date: today,
                due_date: today + chrono::Duration::days(DEFAULT_DUE_DAYS),
                currency: currency.code().into(),
                untaxed: totals.untaxed,
                tax: totals.tax,
                total: totals.total,
                settled: 0,
                credited_document_id: None,
                entry_id: None,
                project_id: None,
                department_id: None,
                memo: Some(memo),
                payment_term_id: customer.payment_term_id.clone(),
                recurring_schedule_id: None,
                recurring_period: None,
                created_by: BILLING_ACTOR.into(),
                created_at: chrono::Utc::now(),
                posted_at: None,
                rate_nano: None,
                base_total: 0,
                base_settled: 0,
            },
        )
        .await?;
        documents_store::replace_lines(txn, tenant, &id, rows).await?;
        store::insert_quote_invoice(
            txn,
            quote_invoice::Model {
                tenant_id: tenant.as_str().to_owned(),
                quote_id: accepted.quote_id.clone(),
                quote_number: accepted.number.clone(),
                quote_version: accepted.version,
                document_id: id.clone(),
                created_at: chrono::Utc::now(),
            },
        )
        .await?;
        Ok(Some(id))
    }
}
