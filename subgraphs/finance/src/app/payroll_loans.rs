//! Loans and salary advances repaid through payroll (rules in `crate::domain::payroll_loans`).
//!
//! Granting a loan posts it (loans receivable debited, the bank credited) and records it, in
//! one idempotent transaction. Each regular run deducts the instalments (`calculate_payroll_run`
//! reserves them as `pending` repayments); posting the run makes them `posted`, which is what
//! lowers the balance, and closes a loan repaid in full; cancelling the run drops them and
//! reopens the loan. The run's entry credits the loans receivable account with the
//! repayments, so the ledger stays balanced. Principal, instalment and repayments are sealed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::ledger::Posting;
use super::payroll::{LOANS, REPAYMENTS};
use super::{new_id, Actor, Finance, Outcome};
use crate::domain::ledger::{AccountKind, ProposedLine, Side};
use crate::domain::money::{Currency, Money};
use crate::domain::payroll::Period;
use crate::domain::payroll_loans::{check_loan_terms, repayment_schedule};
use crate::domain::{parse_optional_text, parse_text, FinanceViolation};
use crate::store::entities::payroll::{loan, loan_repayment};
use crate::store::payroll as store;

/// The chart's account of the loans to employees: added the first time a loan is granted (so
/// tenants set up before loans existed get it too).
pub const LOANS_RECEIVABLE_CODE: &str = "1300";

/// `source_kind` of a loan's grant entry (`source_id` = the loan).
pub const LOAN_SOURCE: &str = "payroll_loan";

/// A loan to grant, as requested (amounts as decimal text in the payroll currency).
#[derive(Debug, Clone, Serialize)]
pub struct LoanRequest {
    pub employee_id: String,
    pub principal: String,
    pub instalment: String,
    /// The first period (`YYYY-MM`) an instalment is deducted in.
    pub start_period: String,
    pub note: Option<String>,
    /// The bank account the loan is paid out from (default: the settings' bank account).
    pub bank_account_id: Option<String>,
    /// The grant's date (default: today).
    pub date: Option<NaiveDate>,
}

/// One repayment of a loan, opened.
#[derive(Debug, Clone)]
pub struct RepaymentView {
    pub run_id: String,
    pub period: String,
    pub amount: i64,
    /// pending | posted | cancelled
    pub state: String,
    /// Why less than due was deducted (`NET_PAY_LIMIT`), if so.
    pub reason: Option<String>,
}

/// A loan, opened for a payroll reader: its terms, its balance, its repayments and the
/// instalments still to come.
#[derive(Debug, Clone)]
pub struct LoanView {
    pub loan: loan::Model,
    pub principal: i64,
    pub instalment: i64,
    /// Σ repayments of posted runs.
    pub repaid: i64,
    /// principal - repaid.
    pub outstanding: i64,
    pub repayments: Vec<RepaymentView>,
    /// (period, amount) still to come after the repayments of open runs.
    pub schedule: Vec<(String, i64)>,
}

/// The loans a run deducts, per employee: (loan, instalment, outstanding) oldest first.
pub type LoansDue = BTreeMap<String, Vec<(loan::Model, i64, i64)>>;

fn repayment_key(loan_id: &str, run_id: &str) -> String {
    format!("{loan_id}:{run_id}")
}

impl Finance {
    async fn open_minor(
        &self,
        tenant: &TenantId,
        table: &str,
        column: &str,
        row: &str,
        sealed: &str,
    ) -> ApiResult<i64> {
        self.open(tenant, table, column, row, sealed)
            .await?
            .parse()
            .map_err(ApiError::internal)
    }

    /// A loan's principal and instalment, opened.
    async fn loan_terms(&self, tenant: &TenantId, loan: &loan::Model) -> ApiResult<(i64, i64)> {
        let principal = self
            .open_minor(tenant, LOANS, "principal", &loan.id, &loan.principal_sealed)
            .await?;
        let instalment = self
            .open_minor(
                tenant,
                LOANS,
                "instalment",
                &loan.id,
                &loan.instalment_sealed,
            )
            .await?;
        Ok((principal, instalment))
    }

    async fn open_repayment(
        &self,
        tenant: &TenantId,
        row: &loan_repayment::Model,
    ) -> ApiResult<i64> {
        self.open_minor(
            tenant,
            REPAYMENTS,
            "amount",
            &repayment_key(&row.loan_id, &row.run_id),
            &row.amount_sealed,
        )
        .await
    }

    /// Grants a loan: checks the terms (BAD_LOAN_TERMS), that payroll knows the employee
    /// (PAYROLL_EMPLOYEE_UNKNOWN) and that they do not leave before the first instalment
    /// (PAYROLL_EMPLOYEE_LEFT); posts loans receivable (1300, added on the first loan) against
    /// the bank and records the loan, in one idempotent transaction.
    pub async fn grant_payroll_loan(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: LoanRequest,
    ) -> ApiResult<Outcome> {
        let tenant = actor.tenant.clone();
        let employee = parse_text("employeeId", &request.employee_id)?;
        let note = parse_optional_text("note", request.note.as_deref())?;
        let start = Period::parse(&request.start_period)?;
        let settings = self.require_set_up(&self.db, &tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let principal = Money::parse(&request.principal, currency)?.minor();
        let instalment = Money::parse(&request.instalment, currency)?.minor();
        check_loan_terms(principal, instalment)?;
        self.ensure_payroll_keys(&tenant).await?;
        let id = new_id();
        let principal_sealed = self
            .seal(&tenant, LOANS, "principal", &id, &principal.to_string())
            .await?;
        let instalment_sealed = self
            .seal(&tenant, LOANS, "instalment", &id, &instalment.to_string())
            .await?;
        self.idempotent(
            &tenant,
            idempotency_key,
            "grantPayrollLoan",
            &request,
            async |txn| {
                if store::person(txn, &tenant, &employee)
                    .await?
                    .is_none_or(|p| p.salary_sealed.is_none())
                {
                    return Err(FinanceViolation::PayrollEmployeeUnknown.into());
                }
                if let Some(exit) = store::exit_of(txn, &tenant, &employee).await? {
                    if exit.last_working_day < start.starts_on {
                        return Err(
                            FinanceViolation::PayrollEmployeeLeft(exit.last_working_day).into()
                        );
                    }
                }
                let bank = self
                    .payroll_bank_account(
                        txn,
                        &tenant,
                        request.bank_account_id.clone(),
                        &settings.default_bank_account_id,
                    )
                    .await?
                    .id;
                // Added to the chart on the first loan (tenants set up earlier get it too).
                let receivable = self
                    .payroll_account(
                        txn,
                        &tenant,
                        LOANS_RECEIVABLE_CODE,
                        "Loans to employees",
                        AccountKind::Asset,
                    )
                    .await?;
                let amount = Money::from_minor(principal, currency)?;
                let posted = self
                    .post_lines(
                        txn,
                        actor,
                        Posting {
                            journal_id: settings.bank_journal_id.clone(),
                            date: request.date.unwrap_or_else(super::today),
                            memo: Some(format!("Loan to employee {employee}")),
                            source_kind: LOAN_SOURCE,
                            source_id: Some(id.clone()),
                            reverses_id: None,
                            allow_control: false,
                        },
                        vec![
                            ProposedLine::new(&receivable, Side::Debit, amount),
                            ProposedLine::new(&bank, Side::Credit, amount),
                        ],
                    )
                    .await?;
                store::insert_loan(
                    txn,
                    loan::Model {
                        id: id.clone(),
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: employee.clone(),
                        currency: currency.code().to_owned(),
                        principal_sealed: principal_sealed.clone(),
                        instalment_sealed: instalment_sealed.clone(),
                        start_period: start.label(),
                        account_id: receivable,
                        state: "open".into(),
                        grant_entry_id: posted.id.clone(),
                        note: note.clone(),
                        created_by: actor.user_id.clone(),
                        created_at: chrono::Utc::now(),
                        closed_at: None,
                    },
                )
                .await?;
                Ok(id.clone())
            },
        )
        .await
    }

    /// The open loans a run of `period` deducts, per employee, with each one's instalment and
    /// what it still owes: the principal less the repayments of posted runs and those other
    /// open runs reserved (this run's own earlier calculation does not count).
    pub(super) async fn loans_due(
        &self,
        tenant: &TenantId,
        run_id: &str,
        period: &Period,
    ) -> ApiResult<LoansDue> {
        let loans = store::open_loans_until(&self.db, tenant, &period.label()).await?;
        if loans.is_empty() {
            return Ok(LoansDue::new());
        }
        let ids = loans.iter().map(|l| l.id.clone()).collect();
        let mut taken: BTreeMap<String, i64> = BTreeMap::new();
        for row in store::repayments_of(&self.db, tenant, ids).await? {
            let counts = row.state == "posted" || (row.state == "pending" && row.run_id != run_id);
            if counts {
                *taken.entry(row.loan_id.clone()).or_default() +=
                    self.open_repayment(tenant, &row).await?;
            }
        }
        let mut due = LoansDue::new();
        for loan in loans {
            let (principal, instalment) = self.loan_terms(tenant, &loan).await?;
            let outstanding = principal - taken.get(&loan.id).copied().unwrap_or(0);
            due.entry(loan.employee_id.clone())
                .or_default()
                .push((loan, instalment, outstanding));
        }
        Ok(due)
    }

    /// Closes the loans of a run's repayments that posted runs repaid in full, and reopens
    /// those a cancelled run's repayments no longer repay.
    pub(super) async fn refresh_loans_of_run<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        run_id: &str,
    ) -> ApiResult<()> {
        let loan_ids: Vec<String> = store::repayments_of_run(txn, tenant, run_id)
            .await?
            .into_iter()
            .map(|r| r.loan_id)
            .collect();
        if loan_ids.is_empty() {
            return Ok(());
        }
        let mut repaid: BTreeMap<String, i64> = BTreeMap::new();
        for row in store::repayments_of(txn, tenant, loan_ids.clone()).await? {
            if row.state == "posted" {
                *repaid.entry(row.loan_id.clone()).or_default() +=
                    self.open_repayment(tenant, &row).await?;
            }
        }
        for loan_id in loan_ids {
            let loan = store::loan(txn, tenant, &loan_id)
                .await?
                .ok_or_else(|| ApiError::internal("a repaid loan vanished"))?;
            let (principal, _) = self.loan_terms(tenant, &loan).await?;
            let outstanding = principal - repaid.get(&loan.id).copied().unwrap_or(0);
            match (outstanding <= 0, loan.state.as_str()) {
                (true, "open") => {
                    store::set_loan_state(txn, tenant, &loan.id, "closed", Some(chrono::Utc::now()))
                        .await?
                }
                (false, "closed") => {
                    store::set_loan_state(txn, tenant, &loan.id, "open", None).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Opens loans for a payroll reader: terms, balance, repayments and the schedule to come.
    async fn loan_views(
        &self,
        tenant: &TenantId,
        loans: Vec<loan::Model>,
    ) -> ApiResult<Vec<LoanView>> {
        if loans.is_empty() {
            return Ok(Vec::new());
        }
        let ids = loans.iter().map(|l| l.id.clone()).collect();
        // A leaver's loan has no instalment to come after their last period.
        let last_days: BTreeMap<String, NaiveDate> = store::exits(&self.db, tenant)
            .await?
            .into_iter()
            .map(|e| (e.employee_id, e.last_working_day))
            .collect();
        let mut repayments: BTreeMap<String, Vec<RepaymentView>> = BTreeMap::new();
        for row in store::repayments_of(&self.db, tenant, ids).await? {
            let amount = self.open_repayment(tenant, &row).await?;
            repayments
                .entry(row.loan_id.clone())
                .or_default()
                .push(RepaymentView {
                    run_id: row.run_id,
                    period: row.period,
                    amount,
                    state: row.state,
                    reason: row.reason,
                });
        }
        let mut views = Vec::with_capacity(loans.len());
        for loan in loans {
            let (principal, instalment) = self.loan_terms(tenant, &loan).await?;
            let history = repayments.remove(&loan.id).unwrap_or_default();
            let sum = |state: &str| -> i64 {
                history
                    .iter()
                    .filter(|r| r.state == state)
                    .map(|r| r.amount)
                    .sum()
            };
            let repaid = sum("posted");
            let reserved = sum("pending");
            // The schedule starts after the latest period a live run deducted in.
            let after = history
                .iter()
                .filter(|r| r.state != "cancelled")
                .map(|r| r.period.as_str())
                .max()
                .map(Period::parse)
                .transpose()?
                .and_then(|p| p.next());
            let first = match after {
                Some(next) if next.label() > loan.start_period => next,
                _ => Period::parse(&loan.start_period)?,
            };
            let left_before = last_days
                .get(&loan.employee_id)
                .is_some_and(|day| *day < first.starts_on);
            let schedule = if loan.state == "open" && !left_before {
                repayment_schedule(principal - repaid - reserved, instalment, first)
            } else {
                Vec::new()
            };
            views.push(LoanView {
                principal,
                instalment,
                repaid,
                outstanding: principal - repaid,
                repayments: history,
                schedule,
                loan,
            });
        }
        Ok(views)
    }

    /// A page of the tenant's loans (of one employee when given), oldest first.
    pub async fn payroll_loan_page(
        &self,
        tenant: &TenantId,
        employee_id: Option<&str>,
        page: &erp_kit::pagination::PageRequest,
    ) -> ApiResult<Vec<LoanView>> {
        let rows = store::loan_page(&self.db, tenant, employee_id, page).await?;
        self.loan_views(tenant, rows).await
    }

    pub async fn payroll_loan(&self, tenant: &TenantId, loan_id: &str) -> ApiResult<LoanView> {
        let row = store::loan(&self.db, tenant, loan_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("payroll loan".into()))?;
        self.loan_views(tenant, vec![row])
            .await?
            .pop()
            .ok_or_else(|| ApiError::NotFound("payroll loan".into()))
    }
}
