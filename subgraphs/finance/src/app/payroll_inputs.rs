//! Payroll's inputs besides pay and leave: the tenant's payroll policy (what an hour of
//! overtime pays: formulas read `hourly_rate`, `overtime_hours` and `overtime_multiplier`),
//! and approved expense claims queued to be reimbursed through payroll.
//!
//! A queued claim is not paid by the bank (`payExpenseClaim` refuses it with
//! EXPENSE_QUEUED_FOR_PAYROLL). The next regular run calculated reserves it and pays it as a
//! non-taxable REIMBURSEMENT line; posting the run debits the employees' reimbursement
//! liability the claim's approval credited and marks the claim paid; cancelling the posted run
//! reverses both and the claim waits for the next run.

use std::collections::HashSet;

use chrono::NaiveDate;
use erp_kit::db::new_id;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::payroll::PEOPLE;
use super::{Actor, Finance};
use crate::domain::money::{parse_decimal, Currency, Money};
use crate::domain::payroll::PayrollPolicy;
use crate::domain::FinanceViolation;
use crate::store::entities::payroll::{assignment, person, policy, reimbursement};
use crate::store::expenses as expense_store;
use crate::store::payroll as store;

/// A person's pay as an import (a seed, a migration) brings it: what
/// `employee.hired` and `employee.compensation_changed` would, and the structure HR assigns.
#[derive(Debug, Clone)]
pub struct ImportedPay {
    pub employee_id: String,
    pub hired_on: NaiveDate,
    /// The annual salary in minor units of `currency`.
    pub salary_minor: i64,
    pub currency: String,
    pub bank_account: String,
    pub tax_id: String,
    /// Assigned from the hire date, unless the employee has an assignment already.
    pub structure_id: String,
}

/// A claim queued for payroll, with what became of it.
#[derive(Debug, Clone)]
pub struct QueuedReimbursement {
    pub row: reimbursement::Model,
    /// The claim's state: `approved` until its run posts, then `paid`.
    pub claim_state: String,
}

impl Finance {
    /// The tenant's payroll policy (the defaults until one is set).
    pub(super) async fn payroll_policy_in<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
    ) -> ApiResult<PayrollPolicy> {
        Ok(match store::policy(conn, tenant).await? {
            Some(row) => PayrollPolicy {
                overtime_multiplier_ppm: row.overtime_multiplier_ppm,
                annual_hours: row.annual_hours,
            },
            None => PayrollPolicy::default(),
        })
    }

    pub async fn payroll_policy(&self, tenant: &TenantId) -> ApiResult<PayrollPolicy> {
        self.payroll_policy_in(&self.db, tenant).await
    }

    /// Sets the overtime multiplier (decimal text, e.g. `"1.5"`) and the working hours of a
    /// year the hourly rate divides the annual salary by; BAD_PAYROLL_POLICY out of range.
    pub async fn set_payroll_policy(
        &self,
        actor: &Actor,
        overtime_multiplier: &str,
        annual_hours: i64,
    ) -> ApiResult<PayrollPolicy> {
        // Six decimals: the multiplier in ppm.
        let overtime_multiplier_ppm =
            parse_decimal(overtime_multiplier.trim(), 6, "").map_err(|_| {
                FinanceViolation::BadPayrollPolicy("the overtime multiplier is a decimal number")
            })?;
        let policy = PayrollPolicy {
            overtime_multiplier_ppm,
            annual_hours,
        };
        policy.check()?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            store::upsert_policy(
                txn,
                policy::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    overtime_multiplier_ppm: policy.overtime_multiplier_ppm,
                    annual_hours: policy.annual_hours,
                    updated_by: actor.user_id.clone(),
                    updated_at: chrono::Utc::now(),
                },
            )
            .await?;
            Ok(policy)
        })
        .await
    }

    /// Imports a person's pay facts (sealed under finance's keys, the newest wins) and, when
    /// they have none yet, their structure from the hire date; answers whether the
    /// assignment is new (false: an earlier import made it).
    pub async fn import_payroll_person(&self, actor: &Actor, pay: ImportedPay) -> ApiResult<bool> {
        let tenant = actor.tenant.clone();
        let salary = Money::from_minor(pay.salary_minor, Currency::parse(&pay.currency)?)?;
        self.ensure_payroll_keys(&tenant).await?;
        let assigned = self
            .write(async |txn| {
                store::upsert_hired(txn, &tenant, &pay.employee_id, Some(pay.hired_on)).await?;
                self.record_pay_facts(
                    txn,
                    &tenant,
                    &pay.employee_id,
                    salary,
                    Some(&pay.bank_account),
                    Some(&pay.tax_id),
                )
                .await?;
                Ok(store::has_assignment(txn, &tenant, &pay.employee_id).await?)
            })
            .await?;
        if assigned {
            return Ok(false);
        }
        self.assign_salary_structure(actor, &pay.employee_id, &pay.structure_id, pay.hired_on)
            .await?;
        Ok(true)
    }

    /// [`Self::import_payroll_person`] for many people at once (a seed's 10,000 a chunk at a
    /// time): the same pay facts sealed the same way (under finance's keys, per person and
    /// column), written with multi-row statements in ONE transaction with the structure
    /// assigned from the hire date to those who have none yet; answers how many assignments
    /// are new. NOT_FOUND for a structure the tenant does not have (nothing written).
    pub async fn import_payroll_people(
        &self,
        actor: &Actor,
        people: &[ImportedPay],
    ) -> ApiResult<usize> {
        if people.is_empty() {
            return Ok(0);
        }
        let tenant = actor.tenant.clone();
        self.ensure_payroll_keys(&tenant).await?;
        let now = chrono::Utc::now();
        let mut rows = Vec::with_capacity(people.len());
        for pay in people {
            let salary = Money::from_minor(pay.salary_minor, Currency::parse(&pay.currency)?)?;
            let employee = pay.employee_id.as_str();
            let seal = async |column: &str, value: &str| -> ApiResult<Option<String>> {
                Ok(Some(
                    self.seal(&tenant, PEOPLE, column, employee, value).await?,
                ))
            };
            rows.push(person::Model {
                tenant_id: tenant.as_str().to_owned(),
                employee_id: employee.to_owned(),
                hired_on: Some(pay.hired_on),
                currency: Some(salary.currency().code().to_owned()),
                salary_sealed: seal("salary", &salary.minor().to_string()).await?,
                bank_account_sealed: seal("bank_account", &pay.bank_account).await?,
                tax_id_sealed: seal("tax_id", &pay.tax_id).await?,
                updated_at: now,
            });
        }
        self.write(async |txn| {
            let structures: HashSet<String> = store::structures(txn, &tenant)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            if people.iter().any(|p| !structures.contains(&p.structure_id)) {
                return Err(ApiError::NotFound("salary structure".into()));
            }
            store::upsert_people(txn, rows.clone()).await?;
            let ids: Vec<String> = people.iter().map(|p| p.employee_id.clone()).collect();
            let mut assigned = store::assigned_among(txn, &tenant, &ids).await?;
            let mut new = Vec::new();
            for pay in people {
                // Once per person, even when the import names them twice.
                if assigned.insert(pay.employee_id.clone()) {
                    new.push(assignment::Model {
                        id: new_id(),
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: pay.employee_id.clone(),
                        structure_id: pay.structure_id.clone(),
                        effective_from: pay.hired_on,
                        created_at: now,
                    });
                }
            }
            let count = new.len();
            store::insert_assignments(txn, new).await?;
            Ok(count)
        })
        .await
    }

    /// Queues an approved expense claim to be reimbursed by the next regular payroll run
    /// instead of by the bank. EXPENSE_STATE unless approved (a paid claim is paid);
    /// EXPENSE_QUEUED_FOR_PAYROLL when queued already.
    pub async fn reimburse_expense_through_payroll(
        &self,
        actor: &Actor,
        claim_id: &str,
    ) -> ApiResult<QueuedReimbursement> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let claim = expense_store::claim(txn, &tenant, claim_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("expense claim".into()))?;
            if store::reimbursement(txn, &tenant, &claim.id)
                .await?
                .is_some()
            {
                return Err(FinanceViolation::ExpenseQueuedForPayroll.into());
            }
            // Issue 17 (fin-fx): a foreign claim is reimbursed by the bank, which posts its
            // realised exchange difference.
            self.check_reimbursable_through_payroll(txn, &tenant, &claim)
                .await?;
            if claim.state != "approved" {
                let state = crate::domain::expense::ExpenseState::from_stored(&claim.state)
                    .ok_or_else(|| ApiError::internal(format!("expense state {}", claim.state)))?;
                return Err(FinanceViolation::ExpenseState {
                    state: state.as_str(),
                    action: "reimbursed through payroll",
                }
                .into());
            }
            let row = reimbursement::Model {
                tenant_id: tenant.as_str().to_owned(),
                expense_id: claim.id.clone(),
                employee_id: claim.employee_id.clone(),
                run_id: None,
                queued_by: actor.user_id.clone(),
                queued_at: chrono::Utc::now(),
            };
            if !store::insert_reimbursement(txn, row.clone()).await? {
                return Err(FinanceViolation::ExpenseQueuedForPayroll.into());
            }
            Ok(QueuedReimbursement {
                row,
                claim_state: claim.state,
            })
        })
        .await
    }

    /// A claim's queueing for payroll, if it is queued.
    pub async fn expense_reimbursement(
        &self,
        tenant: &TenantId,
        claim_id: &str,
    ) -> ApiResult<Option<QueuedReimbursement>> {
        let Some(row) = store::reimbursement(&self.db, tenant, claim_id).await? else {
            return Ok(None);
        };
        let claim_state = expense_store::claim(&self.db, tenant, claim_id)
            .await?
            .map(|claim| claim.state)
            .unwrap_or_default();
        Ok(Some(QueuedReimbursement { row, claim_state }))
    }

    /// Refuses a bank payment of a claim queued for payroll (it is paid by its run).
    pub(super) async fn check_not_queued_for_payroll<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        claim_id: &str,
    ) -> ApiResult<()> {
        if store::reimbursement(txn, tenant, claim_id).await?.is_some() {
            return Err(FinanceViolation::ExpenseQueuedForPayroll.into());
        }
        Ok(())
    }
}
