//! Payroll's policy (what an hour of overtime pays) and expense claims reimbursed through
//! payroll, in GraphQL.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use super::scalars::{decimal, DateTime, Decimal};
use super::{actor, finance};
use crate::app::payroll_inputs::QueuedReimbursement;
use crate::domain::money::format_minor;
use crate::domain::payroll::PayrollPolicy as DomainPolicy;

/// What an hour of overtime pays: formulas read `hourly_rate` (the annual salary / the
/// working hours of a year), `overtime_hours` (approved in the period, from the employee's
/// closed attendance period) and `overtime_multiplier`.
#[derive(SimpleObject)]
pub struct PayrollPolicy {
    /// The multiple of the hourly rate an hour of overtime pays (1.5 unless set).
    pub overtime_multiplier: Decimal,
    /// The working hours of a year (2080 unless set).
    pub annual_hours: i64,
}

impl From<DomainPolicy> for PayrollPolicy {
    fn from(policy: DomainPolicy) -> Self {
        let text = format_minor(policy.overtime_multiplier_ppm, 6);
        let text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
        Self {
            overtime_multiplier: decimal(text),
            annual_hours: policy.annual_hours,
        }
    }
}

/// Where a claim queued for payroll is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollReimbursementState {
    /// Waiting for the next regular run (none calculated with it yet).
    Queued,
    /// A calculated run pays it once it posts.
    InRun,
    /// Its run posted: the claim is paid.
    Paid,
}

/// An approved expense claim reimbursed through payroll.
pub struct PayrollReimbursement(QueuedReimbursement);

/// An approved expense claim reimbursed through payroll.
#[Object]
impl PayrollReimbursement {
    /// The expense claim.
    async fn expense_id(&self) -> ID {
        ID(self.0.row.expense_id.clone())
    }

    /// The claimant.
    async fn employee_id(&self) -> ID {
        ID(self.0.row.employee_id.clone())
    }

    /// The run that pays it, once one is calculated with it.
    async fn run_id(&self) -> Option<ID> {
        self.0.row.run_id.clone().map(ID)
    }

    /// Queued, in a calculated run, or paid by its posted run.
    async fn state(&self) -> PayrollReimbursementState {
        match (&self.0.row.run_id, self.0.claim_state.as_str()) {
            (_, "paid") => PayrollReimbursementState::Paid,
            (Some(_), _) => PayrollReimbursementState::InRun,
            (None, _) => PayrollReimbursementState::Queued,
        }
    }

    /// The user who queued it.
    async fn queued_by(&self) -> &str {
        &self.0.row.queued_by
    }

    /// When it was queued.
    async fn queued_at(&self) -> DateTime {
        self.0.row.queued_at.into()
    }
}

#[derive(Default)]
pub struct PayrollInputsQuery;

#[Object]
impl PayrollInputsQuery {
    /// The payroll policy (the defaults until one is set).
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_policy(&self, ctx: &Context<'_>) -> Result<PayrollPolicy> {
        let actor = actor(ctx)?;
        Ok(finance(ctx)?.payroll_policy(&actor.tenant).await?.into())
    }

    /// An expense claim's reimbursement through payroll, if it is queued for one.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_reimbursement(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The expense claim.")] expense_id: ID,
    ) -> Result<Option<PayrollReimbursement>> {
        let actor = actor(ctx)?;
        Ok(finance(ctx)?
            .expense_reimbursement(&actor.tenant, &expense_id)
            .await?
            .map(PayrollReimbursement))
    }
}

/// The payroll policy to set.
#[derive(InputObject)]
pub struct SetPayrollPolicyInput {
    /// The multiple of the hourly rate an hour of overtime pays, from 1 to 10 (e.g. "1.5").
    pub overtime_multiplier: Decimal,
    /// The working hours of a year the hourly rate divides the annual salary by (1 to 8784).
    pub annual_hours: i64,
}

/// The payroll policy set.
#[derive(SimpleObject)]
pub struct PayrollPolicyPayload {
    /// The policy now.
    pub policy: PayrollPolicy,
}

/// The approved expense claim to reimburse through payroll.
#[derive(InputObject)]
pub struct ReimburseExpenseThroughPayrollInput {
    /// The approved expense claim.
    pub expense_id: ID,
}

/// The claim queued for payroll.
#[derive(SimpleObject)]
pub struct PayrollReimbursementPayload {
    /// Its reimbursement through payroll.
    pub reimbursement: PayrollReimbursement,
}

#[derive(Default)]
pub struct PayrollInputsMutation;

#[Object]
impl PayrollInputsMutation {
    /// Sets the payroll policy. BAD_PAYROLL_POLICY out of range.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn set_payroll_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The overtime multiplier and the working hours of a year.")]
        input: SetPayrollPolicyInput,
    ) -> Result<PayrollPolicyPayload> {
        let actor = actor(ctx)?;
        let policy = finance(ctx)?
            .set_payroll_policy(
                &actor,
                &input.overtime_multiplier.to_string(),
                input.annual_hours,
            )
            .await?;
        Ok(PayrollPolicyPayload {
            policy: policy.into(),
        })
    }

    /// Queues an approved expense claim to be reimbursed by the next regular payroll run (a
    /// non-taxable REIMBURSEMENT line on the employee's payslip) instead of by the bank:
    /// posting the run settles the claim, and `payExpenseClaim` refuses it from now on
    /// (EXPENSE_QUEUED_FOR_PAYROLL). EXPENSE_STATE unless the claim is approved;
    /// EXPENSE_QUEUED_FOR_PAYROLL when it is queued already; FOREIGN_EXPENSE_NOT_THROUGH_PAYROLL
    /// for a claim in a foreign currency (reimbursed by the bank, `payExpenseClaim`).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn reimburse_expense_through_payroll(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The approved claim.")] input: ReimburseExpenseThroughPayrollInput,
    ) -> Result<PayrollReimbursementPayload> {
        let actor = actor(ctx)?;
        let queued = finance(ctx)?
            .reimburse_expense_through_payroll(&actor, &input.expense_id)
            .await?;
        Ok(PayrollReimbursementPayload {
            reimbursement: PayrollReimbursement(queued),
        })
    }
}
