//! Expense claims: categories with policies (caps, receipts), `draft -> submitted ->
//! approved | refused (reason) -> paid` exactly once, approved by the claimant's manager (or a
//! finance administrator), never by the claimant. Approval posts the expense against the
//! employee's reimbursement account; payment posts the reimbursement from the bank.
//!
//! A claim may be in a foreign currency (one the tenant keeps rates for): each line is worth
//! its amount at the rate of its own day, which is what its category's cap holds when the cap
//! is in the base currency. The approval fixes the base amounts once (each line's rate and
//! base amount, the claim's base total) and posts them in the base currency. The
//! reimbursement pays the claim's total at the payment day's rate, in the base currency,
//! clearing the booked base total: the difference is a realised exchange gain (4950) or loss
//! (6950) in the same entry. A foreign claim is not reimbursed through payroll
//! (FOREIGN_EXPENSE_NOT_THROUGH_PAYROLL): payroll pays booked base amounts and posts no
//! exchange difference.
//!
//! Who manages whom comes from finance's directory of people, which the employee subgraph's
//! events feed ([`Finance::apply_employee_event`]; wired to a durable consumer once the kit has
//! one).

use std::collections::HashMap;

use chrono::NaiveDate;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};
use serde::{Deserialize, Serialize};

use super::documents::exchange_accounts;
use super::ledger::Posting;
use super::{new_id, today, Actor, Finance, Outcome};
use crate::domain::expense::{
    check_approver, check_cap, check_line, reimbursement_difference, transition, BaseValue,
    CategoryPolicy, ExpenseAction, ExpenseState,
};
use crate::domain::ledger::{AccountRole, Party, ProposedLine, Side};
use crate::domain::money::{format_minor, Currency, Money};
use crate::domain::{parse_code, parse_optional_text, parse_text, FinanceViolation};
use crate::events;
use crate::store::entities::{expense, expense_category, expense_line, person};
use crate::store::expenses as store;

#[derive(Debug, Clone, Serialize)]
pub struct CategoryRequest {
    pub code: String,
    pub name: String,
    pub account_id: String,
    /// The most one line may claim, in `cap_currency`.
    pub cap: Option<String>,
    pub cap_currency: Option<String>,
    pub receipt_required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimLineRequest {
    pub category_id: String,
    pub spent_on: NaiveDate,
    pub description: String,
    pub amount: String,
    pub receipt_ref: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimRequest {
    pub title: String,
    pub currency: String,
    pub lines: Vec<ClaimLineRequest>,
}

/// Payload of `expense.approved` (schema version 1).
#[derive(Debug, Serialize)]
pub struct ExpenseApproved<'a> {
    pub expense_id: &'a str,
    pub employee_id: &'a str,
    pub approved_by: &'a str,
    /// The claim's currency (a foreign one since issue 17).
    pub currency: &'a str,
    /// Minor units of `currency`.
    pub total: i64,
    pub entry_id: &'a str,
    /// The tenant's base currency (additive).
    pub base_currency: &'a str,
    /// The claim in minor units of `base_currency`, as its approval posted it (additive).
    pub base_total: i64,
}

/// The employee subgraph's events finance reads (schema version 1; unknown fields ignored).
#[derive(Debug, Deserialize)]
struct EmployeeChanged {
    employee_id: String,
    #[serde(default)]
    display_name: Option<String>,
    /// The identity user the employee logs in as (carried by `employee.hired` when linked).
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    manager_id: Option<String>,
}

impl Finance {
    pub async fn create_expense_category(
        &self,
        actor: &Actor,
        request: CategoryRequest,
    ) -> ApiResult<String> {
        let code = parse_code("code", &request.code)?;
        let name = parse_text("name", &request.name)?;
        let cap = match (&request.cap, &request.cap_currency) {
            (Some(cap), Some(currency)) => {
                let currency = Currency::parse(currency)?;
                let cap = Money::parse(cap, currency)?;
                if !cap.is_positive() {
                    return Err(FinanceViolation::AmountOutOfRange.into());
                }
                Some(cap)
            }
            (None, None) => None,
            _ => {
                return Err(ApiError::bad_input(
                    "cap",
                    "a cap is an amount and a currency",
                ))
            }
        };
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let facts = self
                .account_facts(txn, &tenant, vec![request.account_id.clone()])
                .await?;
            match facts.get(&request.account_id) {
                None => {
                    return Err(
                        FinanceViolation::AccountNotFound(request.account_id.clone()).into(),
                    )
                }
                Some(account) if account.role.is_control() => {
                    return Err(
                        FinanceViolation::ControlAccountReserved(account.code.clone()).into(),
                    )
                }
                Some(_) => {}
            }
            let id = new_id();
            store::insert_category(
                txn,
                expense_category::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    code,
                    name,
                    account_id: request.account_id.clone(),
                    cap_minor: cap.map(|c| c.minor()),
                    cap_currency: cap.map(|c| c.currency().code().to_owned()),
                    receipt_required: request.receipt_required,
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map_err(|err| super::unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(id)
        })
        .await
    }

    /// Drafts a claim for the caller (who must be an employee finance knows).
    pub async fn create_expense_claim(
        &self,
        actor: &Actor,
        request: ClaimRequest,
    ) -> ApiResult<String> {
        self.write(async |txn| self.create_expense_claim_in(txn, actor, &request).await)
            .await
    }

    /// [`Finance::create_expense_claim`] inside the caller's transaction.
    pub(crate) async fn create_expense_claim_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        request: &ClaimRequest,
    ) -> ApiResult<String> {
        let title = parse_text("title", &request.title)?;
        let currency = Currency::parse(&request.currency)?;
        if request.lines.is_empty() {
            return Err(ApiError::bad_input(
                "lines",
                "a claim has at least one line",
            ));
        }
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(txn, &tenant).await?;
        let base = Currency::parse(&settings.base_currency)?;
        let foreign = base.code() != currency.code();
        let claimant = store::person_by_user(txn, &tenant, &actor.user_id)
            .await?
            .ok_or(FinanceViolation::UnknownEmployee)?;
        let categories: HashMap<String, expense_category::Model> = store::categories(txn, &tenant)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let id = new_id();
        let mut total = 0i64;
        let mut lines = Vec::with_capacity(request.lines.len());
        for (index, line) in request.lines.iter().enumerate() {
            let category = categories
                .get(&line.category_id)
                .ok_or_else(|| ApiError::NotFound("expense category".into()))?;
            let amount = Money::parse(&line.amount, currency)?;
            let receipt = parse_optional_text("receiptRef", line.receipt_ref.as_deref())?;
            // A foreign line is capped by its value on its day (fixed later, at approval).
            let base_value = if foreign {
                let rate = self
                    .rate_in_force(txn, &tenant, &settings, currency, line.spent_on)
                    .await?;
                Some(BaseValue {
                    amount: rate.convert(amount, base)?,
                    rate,
                })
            } else {
                None
            };
            check_line(&policy(category)?, amount, base_value, receipt.as_deref())?;
            total = total
                .checked_add(amount.minor())
                .ok_or(FinanceViolation::AmountOutOfRange)?;
            lines.push(expense_line::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                expense_id: id.clone(),
                line_no: index as i32 + 1,
                category_id: category.id.clone(),
                spent_on: line.spent_on,
                description: parse_text("description", &line.description)?,
                amount: amount.minor(),
                receipt_ref: receipt,
                rate_nano: None,
                base_amount: (!foreign).then_some(amount.minor()),
            });
        }
        Money::from_minor(total, currency)?;
        store::insert_claim(
            txn,
            expense::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                employee_id: claimant.employee_id.clone(),
                claimant_user_id: actor.user_id.clone(),
                title,
                currency: currency.code().into(),
                total,
                state: ExpenseState::Draft.as_str().into(),
                submitted_at: None,
                decided_by: None,
                decided_at: None,
                refusal_reason: None,
                approved_entry_id: None,
                paid_entry_id: None,
                paid_at: None,
                created_at: chrono::Utc::now(),
                base_total: (!foreign).then_some(total),
                paid_base: None,
            },
            lines,
        )
        .await?;
        Ok(id)
    }

    /// The claimant submits their draft for approval.
    pub async fn submit_expense_claim(&self, actor: &Actor, claim_id: &str) -> ApiResult<String> {
        self.write(async |txn| self.submit_expense_claim_in(txn, actor, claim_id).await)
            .await
    }

    /// [`Finance::submit_expense_claim`] inside the caller's transaction.
    pub(crate) async fn submit_expense_claim_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        claim_id: &str,
    ) -> ApiResult<String> {
        let tenant = actor.tenant.clone();
        let claim = self.claim(txn, &tenant, claim_id).await?;
        if claim.claimant_user_id != actor.user_id {
            return Err(ApiError::Forbidden(
                "only the claimant submits a claim".into(),
            ));
        }
        self.move_claim(
            txn,
            &tenant,
            &claim,
            ExpenseAction::Submit,
            store::Transition {
                submitted: true,
                ..Default::default()
            },
        )
        .await?;
        Ok(claim.id)
    }

    /// The claimant's manager (or a finance administrator) approves a submitted claim: its
    /// expense is posted against the employee's reimbursement account (idempotent).
    pub async fn approve_expense_claim(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        claim_id: &str,
    ) -> ApiResult<Outcome> {
        self.approve_expense_claim_on(actor, idempotency_key, claim_id, today())
            .await
    }

    /// [`Finance::approve_expense_claim`], the expense posted on `date` (today for a live
    /// approval; the day it happened for an imported history).
    pub async fn approve_expense_claim_on(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        claim_id: &str,
        date: NaiveDate,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            claim_id: &'a str,
        }
        let tenant = actor.tenant.clone();
        self.idempotent(
            &tenant,
            idempotency_key,
            "approveExpenseClaim",
            &Request { claim_id },
            async |txn| {
                self.approve_expense_claim_in(txn, actor, claim_id, date)
                    .await
            },
        )
        .await
    }

    /// The approval inside the caller's transaction.
    pub(crate) async fn approve_expense_claim_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        claim_id: &str,
        date: NaiveDate,
    ) -> ApiResult<String> {
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(txn, &tenant).await?;
        let claim = self.claim(txn, &tenant, claim_id).await?;
        self.check_decider(txn, &tenant, actor, &claim).await?;
        let state = stored_state(&claim)?;
        transition(state, ExpenseAction::Approve)?;
        let currency = Currency::parse(&claim.currency)?;
        let categories: HashMap<String, expense_category::Model> = store::categories(txn, &tenant)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let lines = store::lines_of(txn, &tenant, vec![claim.id.clone()]).await?;
        let party = Party::Employee(claim.employee_id.clone());
        let base = Currency::parse(&settings.base_currency)?;
        let foreign = base.code() != currency.code();
        let mut entry = Vec::with_capacity(lines.len() + 1);
        // A foreign claim's lines at their days' rates, fixed now: (line, rate, base amount).
        let mut bases = Vec::new();
        let mut base_total = 0i64;
        for line in &lines {
            let category = categories
                .get(&line.category_id)
                .ok_or_else(|| ApiError::internal("an expense line's category vanished"))?;
            let amount = Money::from_minor(line.amount, currency)?;
            let (booked, label) = if foreign {
                let rate = self
                    .rate_in_force(txn, &tenant, &settings, currency, line.spent_on)
                    .await?;
                let value = rate.convert(amount, base)?;
                // The base amount fixed now is the one the cap holds (a rate corrected since
                // the claim was drafted may put the line over it).
                check_cap(
                    &policy(category)?,
                    amount,
                    Some(BaseValue {
                        amount: value,
                        rate,
                    }),
                )?;
                bases.push((line.id.clone(), rate.nano(), value.minor()));
                let label = format!(
                    "{} ({} {} at {})",
                    line.description,
                    format_minor(line.amount, u32::from(currency.exponent())),
                    currency.code(),
                    rate.to_decimal_string()
                );
                (value, label)
            } else {
                (amount, line.description.clone())
            };
            base_total = base_total
                .checked_add(booked.minor())
                .ok_or(FinanceViolation::AmountOutOfRange)?;
            entry.push(
                ProposedLine::new(&category.account_id, Side::Debit, booked)
                    .with_party(Some(party.clone()))
                    .with_label(label),
            );
        }
        entry.push(
            ProposedLine::new(
                &settings.employee_payable_account_id,
                Side::Credit,
                Money::from_minor(base_total, base)?,
            )
            .with_party(Some(party))
            .with_label(claim.title.clone()),
        );
        let posted = self
            .post_lines(
                txn,
                actor,
                Posting {
                    journal_id: settings.general_journal_id.clone(),
                    date,
                    memo: Some(format!("Expense claim: {}", claim.title)),
                    source_kind: "expense",
                    source_id: Some(claim.id.clone()),
                    reverses_id: None,
                    allow_control: false,
                },
                entry,
            )
            .await?;
        self.move_claim(
            txn,
            &tenant,
            &claim,
            ExpenseAction::Approve,
            store::Transition {
                decided_by: Some(actor.user_id.clone()),
                approved_entry_id: Some(posted.id.clone()),
                base_total: Some(base_total),
                ..Default::default()
            },
        )
        .await?;
        store::set_line_bases(txn, &tenant, bases).await?;
        self.enqueue(
            txn,
            actor,
            events::EXPENSE_APPROVED,
            &claim.id,
            ExpenseApproved {
                expense_id: &claim.id,
                employee_id: &claim.employee_id,
                approved_by: &actor.user_id,
                currency: &claim.currency,
                total: claim.total,
                entry_id: &posted.id,
                base_currency: &settings.base_currency,
                base_total,
            },
        )
        .await?;
        Ok(claim.id.clone())
    }

    /// The claimant's manager (or a finance administrator) refuses a submitted claim, saying why.
    pub async fn refuse_expense_claim(
        &self,
        actor: &Actor,
        claim_id: &str,
        reason: &str,
    ) -> ApiResult<String> {
        let reason = parse_text("reason", reason)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let claim = self.claim(txn, &tenant, claim_id).await?;
            self.check_decider(txn, &tenant, actor, &claim).await?;
            self.move_claim(
                txn,
                &tenant,
                &claim,
                ExpenseAction::Refuse,
                store::Transition {
                    decided_by: Some(actor.user_id.clone()),
                    refusal_reason: Some(reason.clone()),
                    ..Default::default()
                },
            )
            .await?;
            Ok(claim.id)
        })
        .await
    }

    /// Reimburses an approved claim from a bank account, exactly once (a second payment is
    /// EXPENSE_ALREADY_PAID, also when two race).
    pub async fn pay_expense_claim(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        claim_id: &str,
        bank_account_id: Option<String>,
        date: Option<NaiveDate>,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            claim_id: &'a str,
            bank_account_id: &'a Option<String>,
            date: Option<NaiveDate>,
        }
        let tenant = actor.tenant.clone();
        let request = Request {
            claim_id,
            bank_account_id: &bank_account_id,
            date,
        };
        self.idempotent(
            &tenant,
            idempotency_key,
            "payExpenseClaim",
            &request,
            async |txn| {
                self.pay_expense_claim_in(
                    txn,
                    actor,
                    claim_id,
                    bank_account_id.clone(),
                    date.unwrap_or_else(today),
                )
                .await
            },
        )
        .await
    }

    /// The reimbursement inside the caller's transaction, posted on `date`.
    pub(crate) async fn pay_expense_claim_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        claim_id: &str,
        bank_account_id: Option<String>,
        date: NaiveDate,
    ) -> ApiResult<String> {
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(txn, &tenant).await?;
        let claim = self.claim(txn, &tenant, claim_id).await?;
        transition(stored_state(&claim)?, ExpenseAction::Pay)?;
        self.check_not_queued_for_payroll(txn, &tenant, &claim.id)
            .await?;
        let bank = bank_account_id
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
        // The claim row is claimed first, so a second payment racing this one stops here.
        self.move_claim(
            txn,
            &tenant,
            &claim,
            ExpenseAction::Pay,
            store::Transition::default(),
        )
        .await?;
        let currency = Currency::parse(&claim.currency)?;
        let base = Currency::parse(&settings.base_currency)?;
        let booked = Money::from_minor(claim.base_total.unwrap_or(claim.total), base)?;
        let mut lines =
            vec![
                ProposedLine::new(&settings.employee_payable_account_id, Side::Debit, booked)
                    .with_party(Some(Party::Employee(claim.employee_id.clone()))),
            ];
        let paid = if base.code() == currency.code() {
            lines.push(ProposedLine::new(&bank, Side::Credit, booked));
            booked
        } else {
            // Paid in the base currency at the payment day's rate; the difference to what the
            // approval booked is realised now.
            let rate = self
                .rate_in_force(txn, &tenant, &settings, currency, date)
                .await?;
            let paid = rate.convert(Money::from_minor(claim.total, currency)?, base)?;
            lines.push(
                ProposedLine::new(&bank, Side::Credit, paid).with_label(format!(
                    "{} {} at {}",
                    format_minor(claim.total, u32::from(currency.exponent())),
                    currency.code(),
                    rate.to_decimal_string()
                )),
            );
            if let Some(difference) = reimbursement_difference(booked.minor(), paid.minor()) {
                let (code, side, label) = if difference.gain {
                    (
                        exchange_accounts::GAIN,
                        Side::Credit,
                        "realised exchange gain",
                    )
                } else {
                    (
                        exchange_accounts::LOSS,
                        Side::Debit,
                        "realised exchange loss",
                    )
                };
                lines.push(
                    ProposedLine::new(
                        &self.exchange_account(txn, &tenant, code).await?,
                        side,
                        Money::from_minor(difference.amount, base)?,
                    )
                    .with_label(label),
                );
            }
            paid
        };
        let posted = self
            .post_lines(
                txn,
                actor,
                Posting {
                    journal_id: settings.bank_journal_id.clone(),
                    date,
                    memo: Some(format!("Reimbursement: {}", claim.title)),
                    source_kind: "expense_payment",
                    source_id: Some(claim.id.clone()),
                    reverses_id: None,
                    allow_control: false,
                },
                lines,
            )
            .await?;
        let recorded = store::transition(
            txn,
            &tenant,
            &claim.id,
            ExpenseState::Paid.as_str(),
            ExpenseState::Paid.as_str(),
            store::Transition {
                paid_entry_id: Some(posted.id),
                paid_base: Some(paid.minor()),
                ..Default::default()
            },
        )
        .await
        .map_err(|err| super::unique_as(err, FinanceViolation::ExpenseAlreadyPaid))?;
        if !recorded {
            return Err(ApiError::internal("a paid claim vanished"));
        }
        Ok(claim.id.clone())
    }

    /// Whether payroll may reimburse the claim: not a foreign one (payroll pays booked base
    /// amounts and posts no realised exchange difference; the bank reimbursement does).
    pub(crate) async fn check_reimbursable_through_payroll<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        claim: &expense::Model,
    ) -> ApiResult<()> {
        let settings = self.require_set_up(txn, tenant).await?;
        if claim.currency != settings.base_currency {
            return Err(FinanceViolation::ForeignExpenseNotThroughPayroll(
                Currency::parse(&claim.currency)?.code(),
            )
            .into());
        }
        Ok(())
    }

    /// Applies an employee-subgraph event to finance's directory of people (in its own write;
    /// the consumer uses [`Finance::apply_employee_event_in`] inside its inbox transaction).
    pub async fn apply_employee_event(&self, event: &EventEnvelope) -> ApiResult<()> {
        self.write(async |txn| self.apply_employee_event_in(txn, event).await)
            .await
    }

    /// `employee.hired` (with its user and manager) and `employee.manager_changed` update the
    /// directory; other events are ignored. Idempotent: applying an event twice leaves the same
    /// directory.
    pub async fn apply_employee_event_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        event: &EventEnvelope,
    ) -> ApiResult<()> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let change: EmployeeChanged = serde_json::from_value(event.payload.clone())
            .map_err(|err| ApiError::bad_input("payload", err.to_string()))?;
        match event.event_type.as_str() {
            "employee.hired" => {
                store::upsert_person(
                    txn,
                    person::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: change.employee_id.clone(),
                        user_id: change.user_id.clone(),
                        manager_employee_id: change.manager_id.clone(),
                        display_name: change.display_name.clone().unwrap_or_default(),
                        updated_at: chrono::Utc::now(),
                    },
                )
                .await?;
            }
            "employee.manager_changed" => {
                store::set_manager(
                    txn,
                    &tenant,
                    &change.employee_id,
                    change.manager_id.as_deref(),
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn claim<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<expense::Model> {
        store::claim(txn, tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("expense claim".into()))
    }

    /// Nobody decides their own claim; the claimant's manager does, or a finance administrator.
    async fn check_decider<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        actor: &Actor,
        claim: &expense::Model,
    ) -> ApiResult<()> {
        let claimant = store::person(txn, tenant, &claim.employee_id).await?;
        let manager_user = match claimant.and_then(|p| p.manager_employee_id) {
            Some(manager) => store::person(txn, tenant, &manager)
                .await?
                .and_then(|m| m.user_id),
            None => None,
        };
        check_approver(
            &claim.claimant_user_id,
            &actor.user_id,
            manager_user.as_deref(),
            actor.finance_admin,
        )?;
        Ok(())
    }

    /// Applies a life-cycle step: the domain says whether it is allowed, the conditional update
    /// makes it happen once.
    async fn move_claim<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        claim: &expense::Model,
        action: ExpenseAction,
        change: store::Transition,
    ) -> ApiResult<()> {
        let from = stored_state(claim)?;
        let to = transition(from, action)?;
        if !store::transition(txn, tenant, &claim.id, from.as_str(), to.as_str(), change).await? {
            // Another request moved it first: report the step against its state now.
            let now = self.claim(txn, tenant, &claim.id).await?;
            transition(stored_state(&now)?, action)?;
            return Err(FinanceViolation::ExpenseState {
                state: stored_state(&now)?.as_str(),
                action: "changed concurrently",
            }
            .into());
        }
        Ok(())
    }
}

fn stored_state(claim: &expense::Model) -> ApiResult<ExpenseState> {
    ExpenseState::from_stored(&claim.state)
        .ok_or_else(|| ApiError::internal(format!("expense state {}", claim.state)))
}

fn policy(category: &expense_category::Model) -> ApiResult<CategoryPolicy> {
    let cap = match (category.cap_minor, &category.cap_currency) {
        (Some(minor), Some(code)) => Some(Money::from_minor(minor, Currency::parse(code)?)?),
        _ => None,
    };
    Ok(CategoryPolicy {
        code: category.code.clone(),
        cap,
        receipt_required: category.receipt_required,
    })
}
