//! Billing approved time: a PMO project's billing rate (customer, hourly rate), and the use case
//! the `timesheet.approved` consumer runs: each project's billable hours of an approved
//! timesheet become a line of the project's draft invoice, at the rate of the moment (a
//! snapshot: a later rate change does not alter it), billed at most once (invariant F14: the
//! line carries `timesheet:<id>:<project>` under a unique key).

use erp_kit::{ApiError, ApiResult, TenantId};
use serde::{Deserialize, Serialize};

use super::documents::{template_line, LineRequest};
use super::{new_id, Actor, Finance};
use crate::domain::invoice::DocumentKind;
use crate::domain::money::{format_minor, round_div, Currency, Money, Quantity};
use crate::domain::FinanceViolation;
use crate::store::billing as store;
use crate::store::documents as documents_store;
use crate::store::entities::{billing_rate, document};

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
                time_entry_id: Some(key),
            };
            let draft = match store::open_draft(txn, tenant, &project.project_id, &rate.partner_id)
                .await?
            {
                Some(draft) => draft,
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
            documents_store::replace_lines(txn, tenant, &draft.id, rows)
                .await
                .map_err(|err| super::unique_as(err, FinanceViolation::TimeEntryAlreadyBilled))?;
            documents_store::update_draft(
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
            touched.push(draft.id);
        }
        Ok(touched)
    }
}
