//! Leave: types, policies and holidays (HR), requests with their approval chain (the
//! employee's manager, then HR), cancellation, balance adjustments, accrual runs and the
//! year-end close. Every write runs in one transaction with its outbox event. Writes that move a
//! balance lock the employee's row first (PostgreSQL `FOR UPDATE`; SQLite serialises writers),
//! so two concurrent requests cannot both spend the same days or both pass the overlap check.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Weekday};
use sea_orm::{ConnectionTrait, DbErr};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{already_exists, no_employee_record, now_ms, Employee};
use crate::domain::leave::{
    accrual_for_period, balance, check_balance, check_cancel, check_overlap,
    check_request_against_type, close_year, count_leave_days, decide, initial_status, to_days,
    weekend_from_db, weekend_to_db, AccrualFrequency, AccrualPeriod, ActorFacts, DayHalf, Decision,
    LeaveError, LeaveResult, LeaveSpan, LeaveStatus, LeaveTypeRules, LedgerKind, RequestFacts,
    WorkCalendar, DEFAULT_WEEKEND,
};
use crate::domain::{reasons, EmploymentStatus};
use crate::events;
use crate::store::entities::{
    employee, leave_assignment as assignment, leave_holiday as holiday, leave_ledger as ledger,
    leave_policy as policy, leave_policy_line as policy_line, leave_request as request, leave_type,
};
use crate::store::leave::{self as store, LedgerEntry, NewRequest, RequestFilter};
use crate::store::{attendance, people};

// A store error inside a leave use case is the kit's (INTERNAL, or CONFLICT for a unique
// violation); the conversion lives here, out of the pure domain.
impl From<DbErr> for LeaveError {
    fn from(err: DbErr) -> Self {
        LeaveError::Api(err.into())
    }
}

/// A validated leave type.
#[derive(Debug, Clone)]
pub struct NewLeaveType {
    pub code: String,
    pub name: String,
    pub rules: LeaveTypeRules,
}

/// One line of a policy: what a leave type earns per period and how much carries over a year.
#[derive(Debug, Clone)]
pub struct NewPolicyLine {
    pub leave_type_id: String,
    pub accrual_amount: i64,
    pub carry_forward_max: i64,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: String,
    pub frequency: AccrualFrequency,
    pub prorate_joiners: bool,
    pub weekend: Vec<Weekday>,
    pub lines: Vec<NewPolicyLine>,
}

/// A validated request of the caller.
#[derive(Debug, Clone)]
pub struct NewLeaveRequest {
    pub leave_type_id: String,
    pub span: LeaveSpan,
    pub reason: Option<String>,
}

/// HR's correction of a balance (amount in hundredths of a day, either sign).
#[derive(Debug, Clone)]
pub struct BalanceAdjustment {
    pub employee_id: String,
    pub leave_type_id: String,
    pub amount: i64,
    pub reason: String,
}

/// Who acts on a request: the user, their employee record if any, and whether they are HR.
#[derive(Debug, Clone)]
pub struct LeaveActor {
    pub user_id: String,
    pub employee_id: Option<String>,
    pub is_hr: bool,
}

impl LeaveActor {
    pub fn facts(&self) -> ActorFacts<'_> {
        ActorFacts {
            employee_id: self.employee_id.as_deref(),
            is_hr: self.is_hr,
        }
    }

    /// The actor's own employee id: FORBIDDEN (NO_EMPLOYEE_RECORD) without one.
    pub fn own_employee(&self) -> ApiResult<&str> {
        self.employee_id.as_deref().ok_or_else(no_employee_record)
    }
}

/// One balance of an employee.
#[derive(Debug, Clone)]
pub struct BalanceRow {
    pub leave_type: leave_type::Model,
    /// The sum of the ledger.
    pub balance: i64,
    /// Days held by pending requests.
    pub pending: i64,
}

/// What an accrual run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Entries written by this run.
    pub created: u64,
    /// Entries an earlier run had already written (the run is idempotent).
    pub already_posted: u64,
    /// Total amount written, in hundredths of a day.
    pub amount: i64,
}

/// What a year close wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearCloseOutcome {
    /// Balances closed by this run.
    pub balances_closed: u64,
    /// Balances an earlier run had closed.
    pub already_closed: u64,
    pub carried_forward: i64,
    pub lapsed: i64,
}

/// The status of a stored request (an unknown value reads as cancelled: it allows nothing).
pub fn status_of(model: &request::Model) -> LeaveStatus {
    LeaveStatus::from_db(&model.status).unwrap_or(LeaveStatus::Cancelled)
}

/// The span a stored request covers.
pub fn span_of(model: &request::Model) -> LeaveSpan {
    LeaveSpan {
        start: model.start_date,
        end: model.end_date,
        start_half: model.start_half.as_deref().and_then(DayHalf::from_db),
        end_half: model.end_half.as_deref().and_then(DayHalf::from_db),
    }
}

/// A leave type's rules as the domain sees them.
pub fn rules_of(model: &leave_type::Model) -> LeaveTypeRules {
    LeaveTypeRules {
        paid: model.paid,
        allows_half_day: model.allows_half_day,
        requires_approval: model.requires_approval,
        max_consecutive: model.max_consecutive,
        allow_negative_balance: model.allow_negative_balance,
    }
}

/// What the approval chain's rules know of a stored request.
pub fn facts_of(model: &request::Model) -> RequestFacts<'_> {
    RequestFacts {
        status: status_of(model),
        employee_id: &model.employee_id,
        manager_id: model.manager_id.as_deref(),
        start: model.start_date,
    }
}

/// The payload of the leave request events (schema version 1).
fn request_event(
    tenant: &TenantId,
    event_type: &str,
    model: &request::Model,
    actor: &str,
) -> ApiResult<EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        event_type,
        &model.id,
        actor,
        events::LeaveRequestEvent {
            request_id: &model.id,
            employee_id: &model.employee_id,
            leave_type_id: &model.leave_type_id,
            start_date: model.start_date,
            end_date: model.end_date,
            start_half: model.start_half.as_deref(),
            end_half: model.end_half.as_deref(),
            days: to_days(model.days),
            status: &model.status,
            comment: model.decision_comment.as_deref(),
        },
    )
}

/// The sum of an employee's ledger for one leave type.
async fn ledger_balance(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: &str,
) -> Result<i64, DbErr> {
    Ok(balance(
        store::ledger_amounts(db, tenant, employee_id, leave_type_id).await?,
    ))
}

/// The days an employee's pending requests of one type hold.
async fn pending_days(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: &str,
) -> Result<i64, DbErr> {
    Ok(
        store::pending_requests_of(db, tenant, employee_id, Some(leave_type_id))
            .await?
            .into_iter()
            .map(|r| r.days)
            .sum(),
    )
}

/// The employee's weekly rest days (their policy's, or Saturday and Sunday) and the holidays
/// of the tenant-wide calendar and their location's within the span.
async fn work_calendar(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    span: &LeaveSpan,
) -> Result<WorkCalendar, DbErr> {
    let assigned = store::assignment_of(db, tenant, employee_id).await?;
    let mut weekend = DEFAULT_WEEKEND.to_vec();
    let mut calendars = vec![String::new()];
    if let Some(assigned) = assigned {
        if let Some(policy) = store::policy(db, tenant, &assigned.policy_id).await? {
            weekend = weekend_from_db(&policy.weekend_days);
        }
        calendars.extend(assigned.holiday_location_id);
    }
    let holidays = store::holidays_between(db, tenant, calendars, span.start, span.end).await?;
    Ok(WorkCalendar { weekend, holidays })
}

/// Whether the employee's manager (if any) is still employed.
async fn has_active_manager(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee: &employee::Model,
) -> Result<bool, DbErr> {
    let Some(manager_id) = &employee.manager_id else {
        return Ok(false);
    };
    let manager = people::employee(db, tenant, manager_id).await?;
    Ok(manager.is_some_and(|m| m.status != EmploymentStatus::Terminated.as_str()))
}

/// The usage of an approved paid request: its days, on its first day, once per request.
async fn insert_usage(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    model: &request::Model,
    actor: &str,
) -> Result<ledger::Model, DbErr> {
    store::insert_entry(
        db,
        tenant,
        LedgerEntry {
            employee_id: &model.employee_id,
            leave_type_id: &model.leave_type_id,
            kind: LedgerKind::Usage,
            amount: -model.days,
            effective_on: model.start_date,
            reason: None,
            request_id: Some(&model.id),
            period: Some(model.id.clone()),
            created_by: actor,
            created_at: now_ms(),
        },
    )
    .await
}

impl Employee {
    /// Creates a leave type (its code unique in the tenant); publishes `leave.type_created`.
    pub async fn create_leave_type(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewLeaveType,
    ) -> ApiResult<leave_type::Model> {
        let txn = begin_write(&self.db).await?;
        let model =
            store::insert_leave_type(&txn, tenant, &new.code, &new.name, &new.rules, now_ms())
                .await
                .map_err(already_exists(format!(
                    "a leave type with code `{}` exists",
                    new.code
                )))?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::LEAVE_TYPE_CREATED,
            &model.id,
            actor,
            serde_json::json!({ "leave_type_id": model.id, "code": model.code, "paid": model.paid }),
        )?;
        self.outbox.enqueue(&txn, &created).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Creates a policy with its lines (every line's leave type must exist in the tenant, each
    /// once); publishes `leave.policy_created`.
    pub async fn create_leave_policy(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewPolicy,
    ) -> ApiResult<(policy::Model, Vec<policy_line::Model>)> {
        let txn = begin_write(&self.db).await?;
        let type_ids: HashSet<&str> = new.lines.iter().map(|l| l.leave_type_id.as_str()).collect();
        if type_ids.len() != new.lines.len() {
            return Err(ApiError::bad_input(
                "lines",
                "a leave type appears twice in the policy",
            ));
        }
        let found =
            store::leave_types_by_ids(&txn, tenant, type_ids.iter().map(|s| s.to_string())).await?;
        if found.len() != type_ids.len() {
            return Err(ApiError::bad_input("lines", "no such leave type"));
        }
        let model = store::insert_policy(
            &txn,
            tenant,
            &new.name,
            new.frequency,
            new.prorate_joiners,
            weekend_to_db(&new.weekend),
            now_ms(),
        )
        .await
        .map_err(already_exists(format!(
            "a leave policy named `{}` exists",
            new.name
        )))?;
        let mut lines = Vec::new();
        for line in &new.lines {
            lines.push(
                store::insert_policy_line(
                    &txn,
                    tenant,
                    &model.id,
                    &line.leave_type_id,
                    line.accrual_amount,
                    line.carry_forward_max,
                )
                .await?,
            );
        }
        let created = EventEnvelope::by_actor(
            tenant,
            events::LEAVE_POLICY_CREATED,
            &model.id,
            actor,
            serde_json::json!({ "policy_id": model.id, "name": model.name, "accrual": model.accrual }),
        )?;
        self.outbox.enqueue(&txn, &created).await?;
        self.outbox.commit(txn).await?;
        Ok((model, lines))
    }

    /// A policy with its lines.
    pub async fn leave_policy(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<(policy::Model, Vec<policy_line::Model>)>> {
        let Some(model) = store::policy(&self.db, tenant, id).await? else {
            return Ok(None);
        };
        let lines = store::policy_lines(&self.db, tenant, [id.to_owned()])
            .await?
            .remove(id)
            .unwrap_or_default();
        Ok(Some((model, lines)))
    }

    /// Puts an employee on a policy (replacing the previous one), with the location whose
    /// holiday calendar applies to them; publishes `leave.policy_assigned`.
    pub async fn assign_leave_policy(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        policy_id: &str,
        holiday_location_id: Option<String>,
    ) -> ApiResult<assignment::Model> {
        let txn = begin_write(&self.db).await?;
        let employee = people::lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        if store::policy(&txn, tenant, policy_id).await?.is_none() {
            return Err(ApiError::bad_input("policyId", "no such leave policy"));
        }
        if let Some(location_id) = &holiday_location_id {
            if attendance::location(&txn, tenant, location_id)
                .await?
                .is_none()
            {
                return Err(ApiError::bad_input("holidayLocationId", "no such location"));
            }
        }
        let existing = store::assignment_of(&txn, tenant, &employee.id).await?;
        let model = store::save_assignment(
            &txn,
            tenant,
            existing,
            &employee.id,
            policy_id,
            holiday_location_id,
            now_ms(),
        )
        .await?;
        let assigned = EventEnvelope::by_actor(
            tenant,
            events::LEAVE_POLICY_ASSIGNED,
            &employee.id,
            actor,
            serde_json::json!({ "employee_id": employee.id, "policy_id": model.policy_id }),
        )?;
        self.outbox.enqueue(&txn, &assigned).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Adds a holiday to the tenant-wide calendar (no location) or a location's; publishes
    /// `holiday.added`.
    pub async fn add_holiday(
        &self,
        tenant: &TenantId,
        actor: &str,
        day: NaiveDate,
        name: &str,
        location_id: Option<String>,
    ) -> ApiResult<holiday::Model> {
        let txn = begin_write(&self.db).await?;
        if let Some(location_id) = &location_id {
            if attendance::location(&txn, tenant, location_id)
                .await?
                .is_none()
            {
                return Err(ApiError::bad_input("locationId", "no such location"));
            }
        }
        let model = store::insert_holiday(
            &txn,
            tenant,
            location_id.unwrap_or_default(),
            day,
            name,
            now_ms(),
        )
        .await
        .map_err(already_exists(format!(
            "this calendar already has a holiday on {day}"
        )))?;
        let added = EventEnvelope::by_actor(
            tenant,
            events::HOLIDAY_ADDED,
            &model.id,
            actor,
            serde_json::json!({
                "holiday_id": model.id,
                "day": model.day,
                "name": model.name,
                "location_id": (!model.calendar.is_empty()).then_some(&model.calendar),
            }),
        )?;
        self.outbox.enqueue(&txn, &added).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Requests leave for `employee_id`: counts the working days, checks the type's rules,
    /// the overlap with the employee's pending and approved requests and the balance (minus
    /// what pending requests hold), then records the request, its `leave.requested` event,
    /// and when the type needs no approval its usage and `leave.approved`.
    pub async fn request_leave(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        new: NewLeaveRequest,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(&self.db).await?;
        let employee = people::lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(no_employee_record)?;
        if employee.status == EmploymentStatus::Terminated.as_str() {
            return Err(ApiError::rule(
                reasons::FORMER_EMPLOYEE,
                "a former employee cannot request leave",
            )
            .into());
        }
        if new.span.start < employee.hired_on {
            return Err(ApiError::bad_input(
                "startDate",
                "the leave starts before the employee was hired",
            )
            .into());
        }
        let leave_type = store::leave_type(&txn, tenant, &new.leave_type_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("leaveTypeId", "no such leave type"))?;
        let rules = rules_of(&leave_type);
        let calendar = work_calendar(&txn, tenant, &employee.id, &new.span).await?;
        let days = count_leave_days(&new.span, &calendar);
        check_request_against_type(&new.span, days, &rules)?;

        let active = store::active_requests(&txn, tenant, &employee.id, &new.span).await?;
        check_overlap(
            &new.span,
            active.iter().map(|r| (r.id.as_str(), span_of(r))),
        )?;

        let managed = has_active_manager(&txn, tenant, &employee).await?;
        let status = initial_status(rules.requires_approval, managed);
        if rules.paid {
            let ledger = ledger_balance(&txn, tenant, &employee.id, &leave_type.id).await?;
            let pending = pending_days(&txn, tenant, &employee.id, &leave_type.id).await?;
            check_balance(ledger - pending, days, rules.allow_negative_balance)?;
        }
        let model = store::insert_request(
            &txn,
            tenant,
            NewRequest {
                employee_id: employee.id.clone(),
                leave_type_id: leave_type.id.clone(),
                span: new.span,
                days,
                reason: new.reason,
                status,
                // The manager approves the first step and sees the request (also one approved
                // as made); an inactive manager is skipped (the request goes to HR).
                manager_id: if managed {
                    employee.manager_id.clone()
                } else {
                    None
                },
                created_at: now_ms(),
            },
        )
        .await?;
        self.outbox
            .enqueue(
                &txn,
                &request_event(tenant, events::LEAVE_REQUESTED, &model, actor)?,
            )
            .await?;
        if status == LeaveStatus::Approved {
            if rules.paid {
                insert_usage(&txn, tenant, &model, actor).await?;
            }
            self.outbox
                .enqueue(
                    &txn,
                    &request_event(tenant, events::LEAVE_APPROVED, &model, actor)?,
                )
                .await?;
        }
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Approves or rejects the current step of a request. The final approval checks the
    /// balance again (adjustments may have happened since) and records the usage.
    pub async fn decide_leave(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        request_id: &str,
        decision: Decision,
        comment: Option<String>,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(&self.db).await?;
        let current = store::lock_request(&txn, tenant, request_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("leave request".into()))?;
        let next = decide(&facts_of(&current), &actor.facts(), decision)?;
        let leave_type = store::leave_type(&txn, tenant, &current.leave_type_id)
            .await?
            .ok_or_else(|| ApiError::internal("a leave request's type is missing"))?;
        let now = now_ms();
        let (model, event_type) = match (decision, next) {
            (Decision::Approve, LeaveStatus::PendingHr) => (
                store::record_manager_approval(&txn, current, &actor.user_id, comment, now).await?,
                events::LEAVE_MANAGER_APPROVED,
            ),
            (Decision::Approve, _) => {
                if leave_type.paid {
                    let ledger =
                        ledger_balance(&txn, tenant, &current.employee_id, &leave_type.id).await?;
                    check_balance(ledger, current.days, leave_type.allow_negative_balance)?;
                }
                (
                    store::record_decision(&txn, current, next, &actor.user_id, comment, now)
                        .await?,
                    events::LEAVE_APPROVED,
                )
            }
            (Decision::Reject, _) => (
                store::record_decision(&txn, current, next, &actor.user_id, comment, now).await?,
                events::LEAVE_REJECTED,
            ),
        };
        if next == LeaveStatus::Approved && leave_type.paid {
            insert_usage(&txn, tenant, &model, &actor.user_id).await?;
        }
        self.outbox
            .enqueue(
                &txn,
                &request_event(tenant, event_type, &model, &actor.user_id)?,
            )
            .await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Cancels the caller's own request before it starts; an approved one gives its days back
    /// with a `reversal` entry. Publishes `leave.cancelled`.
    pub async fn cancel_leave(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        request_id: &str,
        today: NaiveDate,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(&self.db).await?;
        let current = store::lock_request(&txn, tenant, request_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("leave request".into()))?;
        let reverse = check_cancel(&facts_of(&current), &actor.facts(), today)?;
        let model = store::record_cancellation(&txn, current, now_ms()).await?;
        if reverse {
            // The usage entry exists only for paid types; give back exactly what it took.
            if let Some(usage) =
                store::usage_of(&txn, tenant, &model.employee_id, &model.id).await?
            {
                store::insert_entry(
                    &txn,
                    tenant,
                    LedgerEntry {
                        employee_id: &model.employee_id,
                        leave_type_id: &model.leave_type_id,
                        kind: LedgerKind::Reversal,
                        amount: -usage.amount,
                        effective_on: model.start_date,
                        reason: Some("cancelled leave".into()),
                        request_id: Some(&model.id),
                        period: Some(model.id.clone()),
                        created_by: &actor.user_id,
                        created_at: now_ms(),
                    },
                )
                .await?;
            }
        }
        self.outbox
            .enqueue(
                &txn,
                &request_event(tenant, events::LEAVE_CANCELLED, &model, &actor.user_id)?,
            )
            .await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// HR's manual correction of a balance, with its reason. A deduction may not take the
    /// balance below zero unless the type allows it. Publishes `leave.balance_adjusted`.
    pub async fn adjust_leave_balance(
        &self,
        tenant: &TenantId,
        actor: &str,
        adjustment: BalanceAdjustment,
        today: NaiveDate,
    ) -> LeaveResult<ledger::Model> {
        let BalanceAdjustment {
            employee_id,
            leave_type_id,
            amount,
            reason,
        } = adjustment;
        let txn = begin_write(&self.db).await?;
        let employee = people::lock_employee(&txn, tenant, &employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let leave_type = store::leave_type(&txn, tenant, &leave_type_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("leaveTypeId", "no such leave type"))?;
        if !leave_type.paid {
            return Err(ApiError::bad_input(
                "leaveTypeId",
                "an unpaid leave type has no balance to adjust",
            )
            .into());
        }
        if amount < 0 {
            let current = ledger_balance(&txn, tenant, &employee.id, &leave_type.id).await?;
            check_balance(current, -amount, leave_type.allow_negative_balance)?;
        }
        let entry = store::insert_entry(
            &txn,
            tenant,
            LedgerEntry {
                employee_id: &employee.id,
                leave_type_id: &leave_type.id,
                kind: LedgerKind::Adjustment,
                amount,
                effective_on: today,
                reason: Some(reason.clone()),
                request_id: None,
                period: None,
                created_by: actor,
                created_at: now_ms(),
            },
        )
        .await?;
        let adjusted = EventEnvelope::by_actor(
            tenant,
            events::LEAVE_BALANCE_ADJUSTED,
            &employee.id,
            actor,
            serde_json::json!({
                "employee_id": employee.id,
                "leave_type_id": leave_type.id,
                "days": to_days(amount),
                "reason": reason,
            }),
        )?;
        self.outbox.enqueue(&txn, &adjusted).await?;
        self.outbox.commit(txn).await?;
        Ok(entry)
    }

    /// Posts the accrual of `period` for every employee on a policy of that frequency:
    /// once per employee, leave type and period (a second run writes nothing), prorated for
    /// joiners when the policy says so, nothing for people hired after the period or gone.
    pub async fn run_leave_accrual(
        &self,
        tenant: &TenantId,
        actor: &str,
        period: AccrualPeriod,
    ) -> ApiResult<RunOutcome> {
        let txn = begin_write(&self.db).await?;
        let policies = store::policies_accruing(&txn, tenant, period.frequency()).await?;
        let lines = store::policy_lines(&txn, tenant, policies.keys().cloned()).await?;
        let assignments =
            store::assignments(&txn, tenant, Some(policies.keys().cloned().collect())).await?;
        let assigned_ids: Vec<String> = assignments.iter().map(|a| a.employee_id.clone()).collect();
        let employees = people::employees_by_ids(&txn, tenant, &assigned_ids).await?;
        let key = period.key();
        let posted = store::accruals_posted(&txn, tenant, &key).await?;
        let mut outcome = RunOutcome::default();
        let mut rows = Vec::new();
        let reason = format!("accrual {key}");
        let now = now_ms();
        for assigned in &assignments {
            let (Some(policy), Some(employee)) = (
                policies.get(&assigned.policy_id),
                employees.get(&assigned.employee_id),
            ) else {
                continue;
            };
            if employee.status == EmploymentStatus::Terminated.as_str() {
                continue;
            }
            for line in lines.get(&policy.id).into_iter().flatten() {
                let amount = accrual_for_period(
                    line.accrual_amount,
                    period,
                    employee.hired_on,
                    policy.prorate_joiners,
                );
                if amount == 0 {
                    continue;
                }
                if posted.contains(&(employee.id.clone(), line.leave_type_id.clone())) {
                    outcome.already_posted += 1;
                    continue;
                }
                outcome.created += 1;
                outcome.amount += amount;
                rows.push(LedgerEntry {
                    employee_id: &employee.id,
                    leave_type_id: &line.leave_type_id,
                    kind: LedgerKind::Accrual,
                    amount,
                    effective_on: period.first_day(),
                    reason: Some(reason.clone()),
                    request_id: None,
                    period: Some(key.clone()),
                    created_by: actor,
                    created_at: now,
                });
            }
        }
        store::insert_entries(&txn, tenant, rows).await?;
        if outcome.created > 0 {
            let accrued = EventEnvelope::by_actor(
                tenant,
                events::LEAVE_ACCRUED,
                &format!("accrual:{key}"),
                actor,
                serde_json::json!({
                    "period": key,
                    "entries": outcome.created,
                    "days": to_days(outcome.amount),
                }),
            )?;
            self.outbox.enqueue(&txn, &accrued).await?;
        }
        self.outbox.commit(txn).await?;
        Ok(outcome)
    }

    /// Closes a leave year for every employee on a policy: each positive balance at the
    /// year's last day expires (an `expiry` entry) and up to the policy's cap comes back on
    /// the next year's first day (a `carry_forward` entry). Once per balance and year.
    pub async fn close_leave_year(
        &self,
        tenant: &TenantId,
        actor: &str,
        year: i32,
    ) -> ApiResult<YearCloseOutcome> {
        let period = AccrualPeriod::Year { year };
        let (year_end, next_year) = (
            period.last_day(),
            AccrualPeriod::Year { year: year + 1 }.first_day(),
        );
        let key = period.key();
        let txn = begin_write(&self.db).await?;
        let assignments = store::assignments(&txn, tenant, None).await?;
        let lines = store::policy_lines(
            &txn,
            tenant,
            assignments.iter().map(|a| a.policy_id.clone()),
        )
        .await?;
        let mut balances: HashMap<(String, String), i64> = HashMap::new();
        let mut closed: HashSet<(String, String)> = HashSet::new();
        for entry in store::ledger_until(&txn, tenant, year_end).await? {
            let pair = (entry.employee_id, entry.leave_type_id);
            if entry.kind == LedgerKind::Expiry.as_str()
                && entry.period.as_deref() == Some(key.as_str())
            {
                closed.insert(pair.clone());
            }
            *balances.entry(pair).or_default() += entry.amount;
        }
        let mut outcome = YearCloseOutcome::default();
        // (employee, leave type, kind, amount, effective on, reason) of the entries to write.
        let mut planned: Vec<(String, String, LedgerKind, i64, NaiveDate, String)> = Vec::new();
        for assigned in &assignments {
            for line in lines.get(&assigned.policy_id).into_iter().flatten() {
                let pair = (assigned.employee_id.clone(), line.leave_type_id.clone());
                if closed.contains(&pair) {
                    outcome.already_closed += 1;
                    continue;
                }
                let Some(end) = close_year(
                    balances.get(&pair).copied().unwrap_or(0),
                    line.carry_forward_max,
                ) else {
                    continue;
                };
                outcome.balances_closed += 1;
                outcome.carried_forward += end.carried;
                outcome.lapsed += end.lapsed();
                planned.push((
                    pair.0.clone(),
                    pair.1.clone(),
                    LedgerKind::Expiry,
                    -end.closed,
                    year_end,
                    format!("year end {key}"),
                ));
                if end.carried > 0 {
                    planned.push((
                        pair.0,
                        pair.1,
                        LedgerKind::CarryForward,
                        end.carried,
                        next_year,
                        format!("carried from {key}"),
                    ));
                }
            }
        }
        let now = now_ms();
        let rows = planned
            .iter()
            .map(
                |(employee_id, leave_type_id, kind, amount, effective_on, reason)| LedgerEntry {
                    employee_id,
                    leave_type_id,
                    kind: *kind,
                    amount: *amount,
                    effective_on: *effective_on,
                    reason: Some(reason.clone()),
                    request_id: None,
                    period: Some(key.clone()),
                    created_by: actor,
                    created_at: now,
                },
            )
            .collect();
        store::insert_entries(&txn, tenant, rows).await?;
        if outcome.balances_closed > 0 {
            let closed_event = EventEnvelope::by_actor(
                tenant,
                events::LEAVE_YEAR_CLOSED,
                &format!("year:{key}"),
                actor,
                serde_json::json!({
                    "year": year,
                    "balances": outcome.balances_closed,
                    "carried_forward_days": to_days(outcome.carried_forward),
                    "lapsed_days": to_days(outcome.lapsed),
                }),
            )?;
            self.outbox.enqueue(&txn, &closed_event).await?;
        }
        self.outbox.commit(txn).await?;
        Ok(outcome)
    }

    /// An employee's balance of every leave type of the tenant, with what pending requests
    /// hold.
    pub async fn leave_balances(
        &self,
        tenant: &TenantId,
        employee_id: &str,
    ) -> ApiResult<Vec<BalanceRow>> {
        let types = store::all_leave_types(&self.db, tenant).await?;
        let mut amounts: HashMap<String, Vec<i64>> = HashMap::new();
        for entry in store::ledger_of(&self.db, tenant, employee_id).await? {
            amounts
                .entry(entry.leave_type_id)
                .or_default()
                .push(entry.amount);
        }
        let mut pending: HashMap<String, i64> = HashMap::new();
        for held in store::pending_requests_of(&self.db, tenant, employee_id, None).await? {
            *pending.entry(held.leave_type_id).or_default() += held.days;
        }
        let mut rows: Vec<BalanceRow> = types
            .into_iter()
            .map(|leave_type| BalanceRow {
                balance: balance(amounts.remove(&leave_type.id).unwrap_or_default()),
                pending: if leave_type.paid {
                    pending.get(&leave_type.id).copied().unwrap_or(0)
                } else {
                    0
                },
                leave_type,
            })
            .collect();
        rows.sort_by(|a, b| a.leave_type.code.cmp(&b.leave_type.code));
        Ok(rows)
    }

    /// One page of an employee's ledger, optionally of one leave type, in entry order.
    pub async fn leave_ledger(
        &self,
        tenant: &TenantId,
        employee_id: &str,
        leave_type_id: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<ledger::Model>> {
        Ok(store::ledger_page(&self.db, tenant, employee_id, leave_type_id, page).await?)
    }

    /// A request of the tenant.
    pub async fn leave_request(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<request::Model>> {
        Ok(store::leave_request(&self.db, tenant, id).await?)
    }

    /// One page of requests, newest last (ids are time-ordered).
    pub async fn list_leave_requests(
        &self,
        tenant: &TenantId,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<request::Model>> {
        Ok(store::list_requests(&self.db, tenant, filter, page).await?)
    }

    /// One page of the requests waiting for the actor: the manager step of their reports'
    /// requests and, for HR, the HR step of everybody else's.
    pub async fn pending_leave_approvals(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        page: &PageRequest,
    ) -> ApiResult<Vec<request::Model>> {
        Ok(store::waiting_for(
            &self.db,
            tenant,
            actor.employee_id.as_deref(),
            actor.is_hr,
            page,
        )
        .await?)
    }

    /// The tenant's leave types, one page in creation order.
    pub async fn list_leave_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<leave_type::Model>> {
        Ok(store::list_leave_types(&self.db, tenant, page).await?)
    }

    /// Leave types by id (one query).
    pub async fn leave_types_by_ids(
        &self,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = String>,
    ) -> ApiResult<HashMap<String, leave_type::Model>> {
        Ok(store::leave_types_by_ids(&self.db, tenant, ids).await?)
    }

    /// Holidays of one year, of the tenant-wide calendar and (when given) one location's.
    pub async fn list_holidays(
        &self,
        tenant: &TenantId,
        year: i32,
        location_id: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<holiday::Model>> {
        Ok(store::list_holidays(&self.db, tenant, year, location_id, page).await?)
    }
}
