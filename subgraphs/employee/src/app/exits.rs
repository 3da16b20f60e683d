//! Exits: recording an employee's departure (in effect at once for a last working day today
//! or past, scheduled otherwise), cancelling a scheduled one, and the scheduler that puts
//! scheduled exits into effect on their day. See `crate::domain::exits` for the rules.

use std::time::Duration;

use chrono::{NaiveDate, Utc};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Employee;
use crate::domain::exits::{check_cancel, check_exit, Departure, ExitState, ExitTiming};
use crate::domain::EmploymentStatus;
use crate::events;
use crate::store::entities::employee;
use crate::store::exits as store;
use crate::store::people;

/// How often the exit scheduler looks for exits due (a scheduled exit takes effect within
/// this long after the UTC day of its last working day began).
pub const EXIT_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// How many due exits one pass of the scheduler applies at most (the next pass goes on).
const EXITS_PER_PASS: u64 = 500;

/// Where `model`'s exit stands.
pub fn exit_state(model: &employee::Model) -> ExitState {
    ExitState::of(
        model.last_working_day,
        model.left_at.is_some(),
        model.status == EmploymentStatus::Terminated.as_str(),
    )
}

/// The event of an exit (`employee.left`, `employee.exit_scheduled`, `employee.exit_cancelled`).
fn exit_event(
    tenant: &TenantId,
    event_type: &str,
    actor: &str,
    model: &employee::Model,
    last_working_day: NaiveDate,
    reason: &str,
) -> ApiResult<EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        event_type,
        &model.id,
        actor,
        events::EmployeeExit {
            employee_id: &model.id,
            employee_number: &model.employee_number,
            display_name: &model.display_name,
            user_id: model.user_id.as_deref(),
            manager_id: model.manager_id.as_deref(),
            department_id: model.department_id.as_deref(),
            hired_on: model.hired_on,
            last_working_day,
            reason,
        },
    )
}

impl Employee {
    /// Records an employee's departure on `today` (UTC): the employee (locked, so two exits at
    /// once cannot both pass), the rules (none recorded yet, not before the hiring date, at most
    /// a year ahead), then in one transaction the exit and its event: `employee.left` when the
    /// last working day is today or past (the status becomes `terminated` at once),
    /// `employee.exit_scheduled` otherwise (the scheduler puts it into effect on the day).
    pub async fn record_exit(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        departure: Departure,
        today: NaiveDate,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        let found = people::lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let timing = check_exit(
            found.hired_on,
            exit_state(&found),
            departure.last_working_day,
            today,
        )?;
        let effective = timing == ExitTiming::Immediate;
        let model =
            store::record_exit(&txn, found, &departure, actor, effective, Utc::now()).await?;
        let event_type = if effective {
            events::EMPLOYEE_LEFT
        } else {
            events::EXIT_SCHEDULED
        };
        let event = exit_event(
            tenant,
            event_type,
            actor,
            &model,
            departure.last_working_day,
            departure.reason.as_str(),
        )?;
        self.outbox.enqueue(&txn, &event).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Cancels a scheduled exit (before it takes effect): CONFLICT with NO_EXIT_SCHEDULED when
    /// there is none, EXIT_ALREADY_EFFECTIVE once it took effect; records
    /// `employee.exit_cancelled`, in one transaction.
    pub async fn cancel_exit(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        let found = people::lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let state = exit_state(&found);
        check_cancel(state)?;
        let ExitState::Scheduled { last_working_day } = state else {
            return Err(ApiError::internal(
                "a cancelled exit that was not scheduled",
            ));
        };
        let reason = found.exit_reason.clone().unwrap_or_default();
        let model = store::clear_exit(&txn, found, Utc::now()).await?;
        let event = exit_event(
            tenant,
            events::EXIT_CANCELLED,
            actor,
            &model,
            last_working_day,
            &reason,
        )?;
        self.outbox.enqueue(&txn, &event).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Puts every exit due on `today` into effect, each in its own transaction with its
    /// `employee.left` (by the user who recorded the exit); answers how many took effect. Safe
    /// to run on every replica at once: an exit takes effect once.
    pub async fn apply_due_exits(&self, today: NaiveDate) -> ApiResult<usize> {
        let mut applied = 0;
        loop {
            let due = store::due_exits(&self.db, today, EXITS_PER_PASS).await?;
            let batch = due.len();
            for (tenant, id) in due {
                let tenant = TenantId::from_claim(&tenant);
                let txn = begin_write(&self.db).await?;
                let Some(model) = store::take_effect(&txn, &tenant, &id, today, Utc::now()).await?
                else {
                    continue;
                };
                let (Some(last_working_day), Some(reason)) =
                    (model.last_working_day, model.exit_reason.as_deref())
                else {
                    return Err(ApiError::internal(
                        "an exit in effect without its day or reason",
                    ));
                };
                let actor = model.exit_recorded_by.clone().unwrap_or_default();
                let event = exit_event(
                    &tenant,
                    events::EMPLOYEE_LEFT,
                    &actor,
                    &model,
                    last_working_day,
                    reason,
                )?;
                self.outbox.enqueue(&txn, &event).await?;
                self.outbox.commit(txn).await?;
                applied += 1;
            }
            if (batch as u64) < EXITS_PER_PASS {
                return Ok(applied);
            }
        }
    }

    /// Starts the exit scheduler: every [`EXIT_SCAN_INTERVAL`], the exits due on the current
    /// UTC day take effect ([`Self::apply_due_exits`]). It runs as long as the runtime does.
    pub fn spawn_exit_scheduler(&self) {
        let employee = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(EXIT_SCAN_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match employee.apply_due_exits(Utc::now().date_naive()).await {
                    Ok(0) => {}
                    Ok(applied) => tracing::info!(applied, "scheduled exits took effect"),
                    Err(err) => tracing::warn!(error = ?err, "scheduled exits not applied"),
                }
            }
        });
    }
}
