//! Exits: recording an employee's departure and cancelling a scheduled one (HR, `hr:admin`).

use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::Utc;

use erp_kit::RequestContext;

use super::people::{Employee, ExitReason};
use crate::app::Employee as UseCases;
use crate::domain::exits::Departure;
use erp_kit::scalars::Date;

/// A departure to record.
#[derive(InputObject)]
pub struct RecordEmployeeExitInput {
    /// The employee who leaves.
    pub employee_id: ID,
    /// The last day they work: on or after the hiring date, at most 366 days ahead. Today or
    /// past: the exit takes effect at once; later: it is scheduled and takes effect on that day
    /// (UTC).
    pub last_working_day: Date,
    /// Why they leave.
    pub reason: ExitReason,
    /// HR's notes (at most 2,000 characters; required for OTHER). Never published in events.
    pub notes: Option<String>,
}

/// A scheduled exit to cancel.
#[derive(InputObject)]
pub struct CancelEmployeeExitInput {
    /// The employee whose scheduled exit is cancelled.
    pub employee_id: ID,
}

#[derive(Default)]
pub struct ExitMutation;

#[Object]
impl ExitMutation {
    /// Records an employee's departure. A last working day today or past takes effect at once
    /// (status TERMINATED; publishes `employee.left`); a later one is scheduled (publishes
    /// `employee.exit_scheduled`) and takes effect on that day (UTC), publishing
    /// `employee.left` then. The employee may check in until the end of their last working
    /// day. Refused: a last working day before the hiring date (BAD_USER_INPUT,
    /// EXIT_BEFORE_HIRE) or more than a year ahead (EXIT_TOO_FAR_AHEAD), an employee with an
    /// exit recorded already (CONFLICT, EXIT_ALREADY_RECORDED: cancel a scheduled one first).
    #[graphql(requires_scopes = "hr:admin")]
    async fn record_employee_exit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, the last working day, the reason and notes.")]
        input: RecordEmployeeExitInput,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let departure = Departure::parse(
            input.last_working_day.into(),
            input.reason.into(),
            input.notes.as_deref(),
        )?;
        let model = ctx
            .use_cases::<UseCases>()?
            .record_exit(
                &tenant,
                &actor,
                &input.employee_id,
                departure,
                Utc::now().date_naive(),
            )
            .await?;
        Ok(Some(Employee(model)))
    }

    /// Cancels a scheduled exit before it takes effect; publishes `employee.exit_cancelled`.
    /// CONFLICT with NO_EXIT_SCHEDULED when none is scheduled, EXIT_ALREADY_EFFECTIVE once it
    /// took effect (a return is a rehire).
    #[graphql(requires_scopes = "hr:admin")]
    async fn cancel_employee_exit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee whose scheduled exit is cancelled.")]
        input: CancelEmployeeExitInput,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let model = ctx
            .use_cases::<UseCases>()?
            .cancel_exit(&tenant, &actor, &input.employee_id)
            .await?;
        Ok(Some(Employee(model)))
    }
}
