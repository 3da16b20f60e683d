//! Attendance: locations with their geofences, check-in / check-out (idempotent by the
//! device's punch key), corrections of a day and their decision, and the live boards' feed.
//!
//! Shifts, their assignment (to an employee, or as a department's default), and the daily
//! attendance computed from a day's punches under the shift that applies.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use futures::stream::BoxStream;

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::org::is_above;
pub use super::punch_queue::PunchRequest;
use super::punch_queue::{PendingPunch, RecordedPunch};
use super::{already_exists, now_ms, Employee};
pub use super::{AppliedShift, ShiftSubject};
use crate::domain::attendance::{
    check_corrected_punches, check_correction, check_correction_decider, check_period_closer,
    daily_attendance, overtime_minutes, AttendancePeriod, AttendanceRule, DailyAttendance,
    Geofence, PunchKind, ShiftRules, ShiftTarget, WorkingDays,
};
use crate::events::{self, attendance_channel, LiveStatus, LiveUpdate};
use crate::store::attendance::{
    self as store, attendance_adjustment, attendance_period, location, punch, shift,
    shift_assignment, CorrectionFilter, NewCorrection, NewPunch,
};
use crate::store::entities::{attendance_correction as correction, employee};
use crate::store::people;

/// A requested correction of one day (each value already parsed).
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    pub day: NaiveDate,
    /// `missed_punch`, `wrong_time` or `other`.
    pub kind: &'static str,
    pub check_in: DateTime<Utc>,
    pub check_out: DateTime<Utc>,
    pub reason: String,
}

/// An authorised correction of one day of a closed month (each value already parsed).
#[derive(Debug, Clone)]
pub struct AdjustmentRequest {
    pub employee_id: String,
    pub day: NaiveDate,
    pub check_in: DateTime<Utc>,
    pub check_out: DateTime<Utc>,
    pub reason: String,
}

/// Who decides a correction.
#[derive(Debug, Clone)]
pub struct Approver<'a> {
    pub user_id: &'a str,
    /// The approver's own employee record, when they have one.
    pub employee_id: Option<&'a str>,
    pub hr_admin: bool,
}

/// The live status of `employee` from their computed day, or none (logged) when it failed.
fn live_status<'a>(
    display_name: &'a str,
    computed: ApiResult<DailyAttendance>,
) -> Option<LiveStatus<'a>> {
    match computed {
        Ok(a) => Some(LiveStatus {
            display_name,
            day: a.day,
            status: a.status.as_str(),
            first_in: a.first_in,
            last_out: a.last_out,
            late_minutes: a.late_minutes,
            worked_minutes: a.worked_minutes,
            checked_in: a.checked_in,
        }),
        Err(err) => {
            tracing::warn!(error = ?err, "live status not computed");
            None
        }
    }
}

impl Employee {
    /// Creates a work location with its geofence.
    pub async fn create_location(
        &self,
        tenant: &TenantId,
        name: &str,
        fence: Geofence,
    ) -> ApiResult<location::Model> {
        store::insert_location(&self.db, tenant, name, fence, now_ms())
            .await
            .map_err(already_exists(format!("a location named `{name}` exists")))
    }

    /// Gives an employee the work location whose geofence every punch of theirs is checked
    /// against (`None` clears it); records `employee.location_assigned`, in one transaction.
    pub async fn assign_location(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        location_id: Option<&str>,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        let found = people::employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        if let Some(location_id) = location_id {
            if store::location(&txn, tenant, location_id).await?.is_none() {
                return Err(ApiError::bad_input("locationId", "no such location"));
            }
        }
        let model = store::update_employee_location(&txn, found, location_id, Utc::now()).await?;
        let assigned = EventEnvelope::by_actor(
            tenant,
            events::LOCATION_ASSIGNED,
            &model.id,
            actor,
            serde_json::json!({ "employee_id": model.id, "location_id": model.location_id }),
        )?;
        self.outbox.enqueue(&txn, &assigned).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Records the caller's punch (a check-in or a check-out): the caller's employee record,
    /// their shift (the attendance day the punch belongs to: a night shift's check-out after
    /// midnight closes the day it started), then the punch queue writes it with the punches
    /// waiting beside it in one transaction ([`super::punch_queue`]: a resync of the same
    /// punch key returns the punch recorded, with `false` for "not new"; the geofence of the
    /// location the punch names, else of the person's assigned one; the in/out sequence; the
    /// punch and its event); once durable, the live boards get the person's recomputed day.
    /// Six statements per punch alone, fewer per punch in a batch (the check-in peak's hot
    /// path): keep it so.
    pub async fn record_punch(
        &self,
        tenant: &TenantId,
        user_id: &str,
        request: PunchRequest,
    ) -> ApiResult<(punch::Model, bool)> {
        let now = Utc::now();
        let kind = request.kind;
        // Written by the punch queue's writer with the other punches waiting (group commit):
        // it reads the caller's employee record and shift (the attendance day the punch
        // belongs to) for the whole batch; answered once durable.
        let recorded = self
            .queue_punch(PendingPunch {
                tenant: tenant.clone(),
                user_id: user_id.to_owned(),
                at: now,
                request,
            })
            .await?;
        if !recorded.new {
            return Ok((recorded.model, false));
        }
        let RecordedPunch {
            employee,
            shift,
            attendance_day,
            model,
            day_punches,
            on_leave,
            ..
        } = recorded;
        let subject = ShiftSubject {
            employee_id: &employee.id,
            department_id: employee.department_id.as_deref(),
        };
        let shift_of_day = if attendance_day == now.date_naive() {
            Ok(shift)
        } else {
            // A night shift's check-out after midnight: the day it closes may have had
            // another shift (an assignment from today on).
            self.shifts_of(tenant, &[subject], attendance_day)
                .await
                .map(|mut shifts| shifts.remove(&employee.id))
        };
        let status = match (shift_of_day, on_leave) {
            (Ok(shift), Some(on_leave)) => Ok(attendance_of(
                shift.as_ref(),
                attendance_day,
                &day_punches,
                on_leave,
                Utc::now().timestamp_millis(),
            )),
            (Ok(_), None) => Err(ApiError::internal("the leave of the day was not read")),
            (Err(err), _) => Err(err),
        };
        let live = LiveUpdate {
            punch_id: &model.id,
            employee_id: &employee.id,
            department_id: employee.department_id.as_deref(),
            kind: kind.as_str(),
            at: model.at,
            source: Some(&model.source),
            location_id: model.location_id.as_deref(),
            status: live_status(&employee.display_name, status),
        };
        self.publish_live(tenant, &live).await;
        Ok((model, true))
    }

    /// Live boards: best effort after commit (the event in the outbox is the durable record).
    async fn publish_live(&self, tenant: &TenantId, live: &LiveUpdate<'_>) {
        let message = match serde_json::to_vec(live) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "attendance live update not encoded");
                return;
            }
        };
        if let Err(err) = self
            .cache
            .publish(&attendance_channel(tenant), &message)
            .await
        {
            tracing::warn!(error = %err, "attendance live update not published");
        }
    }

    /// The tenant's live attendance updates ([`LiveUpdate`] as JSON), from every replica.
    pub async fn attendance_updates(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<BoxStream<'static, Vec<u8>>> {
        self.cache
            .subscribe(&attendance_channel(tenant))
            .await
            .map_err(ApiError::internal)
    }

    /// Records the caller's request to correct one of their days; publishes
    /// `attendance.correction_requested`. One pending request per employee and day
    /// (CONFLICT, CORRECTION_PENDING).
    pub async fn request_correction(
        &self,
        tenant: &TenantId,
        requester: &str,
        request: CorrectionRequest,
    ) -> ApiResult<correction::Model> {
        let employee = self.own_record(tenant, requester).await?;
        let now = Utc::now();
        let shift = self
            .shifts_on(tenant, &[&employee], request.day)
            .await?
            .remove(&employee.id);
        check_correction(
            shift.as_ref().map(|s| &s.rules),
            request.day,
            request.check_in,
            request.check_out,
            now,
        )?;
        let day = request.day.to_string();
        let txn = begin_write(&self.db).await?;
        self.check_day_open(&txn, tenant, &employee.id, request.day)
            .await?;
        if store::pending_correction(&txn, tenant, &employee.id, &day)
            .await?
            .is_some()
        {
            return Err(AttendanceRule::CorrectionPending { day }.into());
        }
        let model = store::insert_correction(
            &txn,
            tenant,
            NewCorrection {
                employee_id: employee.id.clone(),
                day,
                kind: request.kind,
                check_in_at: request.check_in.timestamp_millis(),
                check_out_at: request.check_out.timestamp_millis(),
                reason: request.reason,
                requested_by: requester.to_owned(),
                created_at: now.timestamp_millis(),
            },
        )
        .await?;
        let requested = EventEnvelope::by_actor(
            tenant,
            events::CORRECTION_REQUESTED,
            &employee.id,
            requester,
            serde_json::json!({
                "correction_id": model.id,
                "employee_id": employee.id,
                "manager_id": employee.manager_id,
                "day": model.day,
                "kind": model.kind,
                "check_in_at": model.check_in_at,
                "check_out_at": model.check_out_at,
            }),
        )?;
        self.outbox.enqueue(&txn, &requested).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Approves or rejects a pending correction. The approver is above the employee in the
    /// reporting line or HR (`hr:admin`), never the employee themself. An approval replaces
    /// the day's punches (kept, marked voided) by the corrected check-in and check-out, with
    /// `attendance.corrected`, in one transaction; the live boards get the recomputed day.
    pub async fn decide_correction(
        &self,
        tenant: &TenantId,
        approver: &Approver<'_>,
        correction_id: &str,
        approve: bool,
        note: Option<String>,
    ) -> ApiResult<(correction::Model, employee::Model)> {
        let txn = begin_write(&self.db).await?;
        let found = store::correction(&txn, tenant, correction_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("attendance correction".into()))?;
        let subject = people::employee(&txn, tenant, &found.employee_id)
            .await?
            .ok_or_else(|| ApiError::internal("a correction's employee is missing"))?;
        let is_self = approver.employee_id == Some(subject.id.as_str());
        // The reporting line above the employee, read in this transaction (only when it
        // decides anything).
        let is_manager = match approver.employee_id {
            Some(me) if !is_self && found.status == "pending" => {
                is_above(&txn, tenant, me, &subject).await?
            }
            _ => false,
        };
        check_correction_decider(is_self, is_manager, approver.hr_admin, &found.status)?;
        let now = now_ms();
        let status = if approve { "approved" } else { "rejected" };
        if !store::decide_pending_correction(
            &txn,
            tenant,
            &found.id,
            status,
            approver.user_id,
            note.clone(),
            now,
        )
        .await?
        {
            return Err(AttendanceRule::DecidedMeanwhile.into());
        }
        let decided_event = if approve {
            if let Ok(day) = found.day.parse::<NaiveDate>() {
                self.check_day_open(&txn, tenant, &subject.id, day).await?;
            }
            let voided =
                store::void_punches_of_day(&txn, tenant, &subject.id, &found.day, &found.id)
                    .await?;
            for (kind, at) in [
                (PunchKind::In, found.check_in_at),
                (PunchKind::Out, found.check_out_at),
            ] {
                let corrected = NewPunch {
                    id: erp_kit::db::new_id(),
                    employee_id: subject.id.clone(),
                    kind,
                    at,
                    day: found.day.clone(),
                    source: "correction".into(),
                    ip: None,
                    point: None,
                    location_id: None,
                    punch_key: format!("correction:{}:{}", found.id, kind.as_str()),
                };
                store::insert_punch(&txn, tenant, corrected).await?;
            }
            EventEnvelope::by_actor(
                tenant,
                events::ATTENDANCE_CORRECTED,
                &subject.id,
                approver.user_id,
                serde_json::json!({
                    "correction_id": found.id,
                    "employee_id": subject.id,
                    "day": found.day,
                    "check_in_at": found.check_in_at,
                    "check_out_at": found.check_out_at,
                    "voided_punches": voided,
                }),
            )?
        } else {
            EventEnvelope::by_actor(
                tenant,
                events::CORRECTION_REJECTED,
                &subject.id,
                approver.user_id,
                serde_json::json!({
                    "correction_id": found.id,
                    "employee_id": subject.id,
                    "day": found.day,
                }),
            )?
        };
        self.outbox.enqueue(&txn, &decided_event).await?;
        self.outbox.commit(txn).await?;
        let decided = correction::Model {
            status: status.to_owned(),
            decided_by: Some(approver.user_id.to_owned()),
            decision_note: note,
            decided_at: Some(now),
            ..found
        };
        if approve {
            if let Ok(day) = decided.day.parse::<NaiveDate>() {
                let status = self
                    .day_attendance(tenant, &subject, day, Utc::now().timestamp_millis())
                    .await
                    .map(|computed| computed.attendance);
                let live = LiveUpdate {
                    punch_id: &decided.id,
                    employee_id: &subject.id,
                    department_id: subject.department_id.as_deref(),
                    kind: "correction",
                    at: now,
                    source: None,
                    location_id: None,
                    status: live_status(&subject.display_name, status),
                };
                self.publish_live(tenant, &live).await;
            }
        }
        Ok((decided, subject))
    }

    /// Locations by id (one query).
    pub async fn locations_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, location::Model>> {
        Ok(store::locations_by_ids(&self.db, tenant, ids).await?)
    }

    pub async fn correction(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<correction::Model>> {
        Ok(store::correction(&self.db, tenant, id).await?)
    }

    /// One page of corrections, oldest request first.
    pub async fn list_corrections(
        &self,
        tenant: &TenantId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<correction::Model>> {
        Ok(store::list_corrections(&self.db, tenant, filter, page).await?)
    }

    /// One page of each employee's corrections (only those in `status` when given), oldest
    /// first, in one query for all of them.
    pub async fn corrections_pages(
        &self,
        tenant: &TenantId,
        employee_ids: &[String],
        status: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<std::collections::HashMap<String, Vec<correction::Model>>> {
        Ok(store::corrections_pages(&self.db, tenant, employee_ids, status, page).await?)
    }
}

/// People a bulk close computes together (their days read a day at a time for all of them).
const CLOSE_CHUNK: usize = 500;

/// What a bulk close of a month did: the periods it closed, and the employees it left open
/// with the rule that kept each open, both by employee id.
#[derive(Debug, Clone)]
pub struct PeriodsClosing {
    /// `YYYY-MM`.
    pub period: String,
    pub closed: Vec<attendance_period::Model>,
    pub skipped: Vec<SkippedPeriod>,
}

/// An employee's period a bulk close left open, and why.
#[derive(Debug, Clone)]
pub struct SkippedPeriod {
    pub employee_id: String,
    pub rule: AttendanceRule,
}

/// One employee's computed day, the shift it was computed under, and the punches it counts.
#[derive(Debug, Clone)]
pub struct ComputedDay {
    pub shift: Option<AppliedShift>,
    pub attendance: DailyAttendance,
    pub punches: Vec<punch::Model>,
}

/// The rules of a stored shift (stored values were checked when the shift was created).
pub fn rules_of(model: &shift::Model) -> ApiResult<ShiftRules> {
    let clock = |raw: &str| {
        NaiveTime::parse_from_str(raw, "%H:%M")
            .map_err(|_| ApiError::internal(format!("shift {} has a bad time `{raw}`", model.id)))
    };
    Ok(ShiftRules {
        start: clock(&model.start_time)?,
        end: clock(&model.end_time)?,
        grace_minutes: model.grace_minutes.max(0) as u32,
        half_day_minutes: model.half_day_minutes.max(0) as u32,
        full_day_minutes: model.full_day_minutes.max(0) as u32,
        working_days: WorkingDays::from_bits(model.working_days),
        time_zone: model.time_zone.parse().map_err(|_| {
            ApiError::internal(format!(
                "shift {} has a bad time zone `{}`",
                model.id, model.time_zone
            ))
        })?,
    })
}

/// The attendance of `day` from the punches it counts (in time order) under `shift`.
pub fn attendance_of(
    shift: Option<&AppliedShift>,
    day: NaiveDate,
    punches: &[punch::Model],
    on_leave: bool,
    now_ms: i64,
) -> DailyAttendance {
    let timeline: Vec<(PunchKind, i64)> = punches
        .iter()
        .map(|p| (PunchKind::from_db(&p.kind), p.at))
        .collect();
    daily_attendance(shift.map(|s| &s.rules), day, &timeline, on_leave, now_ms)
}

impl Employee {
    /// Creates a shift; publishes `shift.created`.
    pub async fn create_shift(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        rules: &ShiftRules,
    ) -> ApiResult<shift::Model> {
        let txn = begin_write(&self.db).await?;
        let model = store::insert_shift(&txn, tenant, name, rules, now_ms())
            .await
            .map_err(already_exists(format!("a shift named `{name}` exists")))?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::SHIFT_CREATED,
            &model.id,
            actor,
            serde_json::json!({
                "shift_id": model.id,
                "name": model.name,
                "start_time": model.start_time,
                "end_time": model.end_time,
                "time_zone": model.time_zone,
            }),
        )?;
        self.outbox.enqueue(&txn, &created).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Assigns a shift from `effective_from` on; publishes `shift.assigned`. One assignment per
    /// target and day (CONFLICT, ALREADY_EXISTS, otherwise).
    pub async fn assign_shift(
        &self,
        tenant: &TenantId,
        actor: &str,
        shift_id: &str,
        target: &ShiftTarget,
        effective_from: NaiveDate,
    ) -> ApiResult<shift_assignment::Model> {
        let txn = begin_write(&self.db).await?;
        if store::shift(&txn, tenant, shift_id).await?.is_none() {
            return Err(ApiError::bad_input("shiftId", "no such shift"));
        }
        let target_exists = match target {
            ShiftTarget::Employee(id) => people::employee(&txn, tenant, id).await?.is_some(),
            ShiftTarget::Department(id) => people::department(&txn, tenant, id).await?.is_some(),
        };
        if !target_exists {
            let (field, what) = match target {
                ShiftTarget::Employee(_) => ("employeeId", "no such employee"),
                ShiftTarget::Department(_) => ("departmentId", "no such department"),
            };
            return Err(ApiError::bad_input(field, what));
        }
        let model =
            store::insert_assignment(&txn, tenant, shift_id, target, effective_from, now_ms())
                .await
                .map_err(already_exists(format!(
                    "a shift is already assigned from {effective_from}: assign from another day"
                )))?;
        let assigned = EventEnvelope::by_actor(
            tenant,
            events::SHIFT_ASSIGNED,
            target.id(),
            actor,
            serde_json::json!({
                "shift_id": shift_id,
                "target_kind": target.kind(),
                "target_id": target.id(),
                "effective_from": model.effective_from,
            }),
        )?;
        self.outbox.enqueue(&txn, &assigned).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    pub async fn shift(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<shift::Model>> {
        Ok(store::shift(&self.db, tenant, id).await?)
    }

    pub async fn list_shifts(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<shift::Model>> {
        Ok(store::list_shifts(&self.db, tenant, page).await?)
    }

    /// The shift of each employee on `day`: their own latest assignment effective by then,
    /// else their department's. One query for any number of employees.
    pub async fn shifts_on(
        &self,
        tenant: &TenantId,
        employees: &[&employee::Model],
        day: NaiveDate,
    ) -> ApiResult<HashMap<String, AppliedShift>> {
        let subjects: Vec<ShiftSubject<'_>> =
            employees.iter().map(|e| ShiftSubject::from(*e)).collect();
        self.shifts_of(tenant, &subjects, day).await
    }

    /// [`Self::shifts_on`] for people known by their ids only (a DataLoader's keys).
    pub async fn shifts_of(
        &self,
        tenant: &TenantId,
        employees: &[ShiftSubject<'_>],
        day: NaiveDate,
    ) -> ApiResult<HashMap<String, AppliedShift>> {
        if employees.is_empty() {
            return Ok(HashMap::new());
        }
        let employee_ids: Vec<&str> = employees.iter().map(|e| e.employee_id).collect();
        let department_ids: Vec<&str> = employees.iter().filter_map(|e| e.department_id).collect();
        let assignments =
            store::assignments_by(&self.db, tenant, &employee_ids, &department_ids, day).await?;
        // Oldest effective first: the latest effective assignment of a target wins.
        let mut latest: HashMap<(String, String), Option<shift::Model>> = HashMap::new();
        for (assignment, shift) in assignments {
            latest.insert((assignment.target_kind, assignment.target_id), shift);
        }
        let mut applied = HashMap::new();
        for employee in employees {
            let own = latest.get(&("employee".to_owned(), employee.employee_id.to_owned()));
            let department = employee
                .department_id
                .and_then(|d| latest.get(&("department".to_owned(), d.to_owned())));
            if let Some(model) = own.or(department).and_then(Option::as_ref) {
                applied.insert(
                    employee.employee_id.to_owned(),
                    AppliedShift {
                        model: model.clone(),
                        rules: rules_of(model)?,
                    },
                );
            }
        }
        Ok(applied)
    }

    /// The computed attendance of `day` for each employee (punches replaced by a correction
    /// are left out). Three queries for any number of employees.
    pub async fn days_attendance(
        &self,
        tenant: &TenantId,
        employees: &[&employee::Model],
        day: NaiveDate,
        now_ms: i64,
    ) -> ApiResult<HashMap<String, ComputedDay>> {
        if employees.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = employees.iter().map(|e| e.id.clone()).collect();
        let shifts = self.shifts_on(tenant, employees, day).await?;
        let on_leave = store::on_leave(&self.db, tenant, &ids, day).await?;
        let mut punches = store::punches_on(&self.db, tenant, &ids, &day.to_string()).await?;
        Ok(employees
            .iter()
            .map(|employee| {
                let shift = shifts.get(&employee.id).cloned();
                let punches = punches.remove(&employee.id).unwrap_or_default();
                let attendance = attendance_of(
                    shift.as_ref(),
                    day,
                    &punches,
                    on_leave.contains(&employee.id),
                    now_ms,
                );
                (
                    employee.id.clone(),
                    ComputedDay {
                        shift,
                        attendance,
                        punches,
                    },
                )
            })
            .collect())
    }

    /// The computed attendance of one employee on `day`.
    pub async fn day_attendance(
        &self,
        tenant: &TenantId,
        employee: &employee::Model,
        day: NaiveDate,
        now_ms: i64,
    ) -> ApiResult<ComputedDay> {
        self.days_attendance(tenant, &[employee], day, now_ms)
            .await?
            .remove(&employee.id)
            .ok_or_else(|| ApiError::internal("the computed day went missing"))
    }

    /// One page (`limit + 1` rows, keyset on the id) of the people a board shows: the
    /// employed ones, of one department or all, and only `visible` ones when given.
    pub async fn board_employees(
        &self,
        tenant: &TenantId,
        department_id: Option<&str>,
        visible: Option<&[String]>,
        page: &PageRequest,
    ) -> ApiResult<Vec<employee::Model>> {
        Ok(people::employed_page(&self.db, tenant, department_id, visible, page).await?)
    }
}

impl Employee {
    /// Closes an employee's month of attendance once it is over (approved for payroll): the
    /// minutes worked and the overtime of each day computed under the shift that applied
    /// ([`overtime_minutes`]), recorded with `attendance.period_closed` in one transaction.
    /// Closed by a manager above the employee or HR, never by the employee (FORBIDDEN,
    /// SELF_APPROVAL / NOT_APPROVER); once (CONFLICT, ATTENDANCE_PERIOD_CLOSED); after its last
    /// day (BAD_USER_INPUT, PERIOD_NOT_OVER). Its days are no longer corrected.
    pub async fn close_attendance_period(
        &self,
        tenant: &TenantId,
        approver: &Approver<'_>,
        employee_id: &str,
        period: &str,
    ) -> ApiResult<attendance_period::Model> {
        let period = AttendancePeriod::parse(period)?;
        period.check_over(Utc::now().date_naive())?;
        let subject = people::employee(&self.db, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("employee".into()))?;
        let is_self = approver.employee_id == Some(subject.id.as_str());
        let is_manager = match approver.employee_id {
            Some(me) if !is_self => is_above(&self.db, tenant, me, &subject).await?,
            _ => false,
        };
        check_period_closer(is_self, is_manager, approver.hr_admin)?;
        let label = period.label();
        if store::closed_period(&self.db, tenant, &subject.id, &label)
            .await?
            .is_some()
        {
            return Err(AttendanceRule::PeriodClosed { period: label }.into());
        }
        // Every day of a period that is over is final: computed as of now.
        let now = now_ms();
        let (mut worked, mut overtime) = (0i64, 0i64);
        for day in period.days() {
            let computed = self.day_attendance(tenant, &subject, day, now).await?;
            worked += computed.attendance.worked_minutes;
            overtime += overtime_minutes(
                computed.shift.as_ref().map(|s| &s.rules),
                &computed.attendance,
            );
        }
        let row = attendance_period::Model {
            tenant_id: tenant.as_str().to_owned(),
            employee_id: subject.id.clone(),
            period: label.clone(),
            worked_minutes: worked,
            overtime_minutes: overtime,
            closed_by: approver.user_id.to_owned(),
            closed_at: now,
            revision: 0,
        };
        let txn = begin_write(&self.db).await?;
        if !store::insert_closed_period(&txn, row.clone()).await? {
            return Err(AttendanceRule::PeriodClosed { period: label }.into());
        }
        let closed = EventEnvelope::by_actor(
            tenant,
            events::ATTENDANCE_PERIOD_CLOSED,
            &subject.id,
            approver.user_id,
            events::AttendancePeriodClosed {
                employee_id: &subject.id,
                period: &label,
                starts_on: period.starts_on,
                ends_on: period.ends_on,
                worked_minutes: worked,
                overtime_minutes: overtime,
                closed_by: approver.user_id,
            },
        )?;
        self.outbox.enqueue(&txn, &closed).await?;
        self.outbox.commit(txn).await?;
        Ok(row)
    }

    /// Closes a month of attendance for every employee of a department (or of the whole
    /// company) at once: HR only (FORBIDDEN, NOT_APPROVER otherwise). Each employee employed in
    /// the month is either closed (the same minutes and event as
    /// [`Self::close_attendance_period`]) or reported skipped with the rule that kept it open:
    /// closed already (ATTENDANCE_PERIOD_CLOSED), the month not over (PERIOD_NOT_OVER), the
    /// caller's own period (SELF_APPROVAL). Every close and its `attendance.period_closed`
    /// (one per employee-month) is written in ONE transaction; a rerun closes only what is
    /// still open, so it is idempotent.
    pub async fn close_attendance_periods(
        &self,
        tenant: &TenantId,
        approver: &Approver<'_>,
        department_id: Option<&str>,
        period: &str,
    ) -> ApiResult<PeriodsClosing> {
        let period = AttendancePeriod::parse(period)?;
        if !approver.hr_admin {
            return Err(AttendanceRule::NotPeriodCloser.into());
        }
        if let Some(department_id) = department_id {
            if people::department(&self.db, tenant, department_id)
                .await?
                .is_none()
            {
                return Err(ApiError::bad_input("departmentId", "no such department"));
            }
        }
        let label = period.label();
        let candidates = store::employed_in(
            &self.db,
            tenant,
            department_id,
            period.starts_on,
            period.ends_on,
        )
        .await?;
        let closed_before = store::closed_in_period(&self.db, tenant, &label).await?;
        let not_over = period.check_over(Utc::now().date_naive()).err();
        let mut skipped = Vec::new();
        let mut to_close = Vec::new();
        for employee in candidates {
            let is_self = approver.employee_id == Some(employee.id.as_str());
            let rule = if closed_before.contains(&employee.id) {
                Some(AttendanceRule::PeriodClosed {
                    period: label.clone(),
                })
            } else if let Some(not_over) = &not_over {
                Some(not_over.clone())
            } else {
                check_period_closer(is_self, false, approver.hr_admin).err()
            };
            match rule {
                Some(rule) => skipped.push(SkippedPeriod {
                    employee_id: employee.id,
                    rule,
                }),
                None => to_close.push(employee),
            }
        }
        // Every day of a period that is over is final: computed as of now, a day at a time
        // for a chunk of people (three queries per day and chunk, never per person).
        let now = now_ms();
        let mut rows = Vec::with_capacity(to_close.len());
        for chunk in to_close.chunks(CLOSE_CHUNK) {
            let people: Vec<&employee::Model> = chunk.iter().collect();
            // (worked, overtime) minutes by employee id.
            let mut minutes: HashMap<String, (i64, i64)> = HashMap::new();
            for day in period.days() {
                for (employee_id, computed) in
                    self.days_attendance(tenant, &people, day, now).await?
                {
                    let overtime = overtime_minutes(
                        computed.shift.as_ref().map(|s| &s.rules),
                        &computed.attendance,
                    );
                    let entry = minutes.entry(employee_id).or_default();
                    entry.0 += computed.attendance.worked_minutes;
                    entry.1 += overtime;
                }
            }
            for employee in chunk {
                let (worked, overtime) = minutes.get(&employee.id).copied().unwrap_or((0, 0));
                rows.push(attendance_period::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    employee_id: employee.id.clone(),
                    period: label.clone(),
                    worked_minutes: worked,
                    overtime_minutes: overtime,
                    closed_by: approver.user_id.to_owned(),
                    closed_at: now,
                    revision: 0,
                });
            }
        }
        if rows.is_empty() {
            return Ok(PeriodsClosing {
                period: label,
                closed: Vec::new(),
                skipped,
            });
        }
        let txn = begin_write(&self.db).await?;
        let inserted = store::insert_closed_periods(&txn, rows.clone()).await?;
        let (closed, raced): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| inserted.contains(&row.employee_id));
        let events = closed
            .iter()
            .map(|row| {
                EventEnvelope::by_actor(
                    tenant,
                    events::ATTENDANCE_PERIOD_CLOSED,
                    &row.employee_id,
                    approver.user_id,
                    events::AttendancePeriodClosed {
                        employee_id: &row.employee_id,
                        period: &label,
                        starts_on: period.starts_on,
                        ends_on: period.ends_on,
                        worked_minutes: row.worked_minutes,
                        overtime_minutes: row.overtime_minutes,
                        closed_by: approver.user_id,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.outbox.enqueue_many(&txn, &events).await?;
        self.outbox.commit(txn).await?;
        // A single close of the same employee-month committed between the read and the write.
        skipped.extend(raced.into_iter().map(|row| SkippedPeriod {
            employee_id: row.employee_id,
            rule: AttendanceRule::PeriodClosed {
                period: label.clone(),
            },
        }));
        skipped.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
        Ok(PeriodsClosing {
            period: label,
            closed,
            skipped,
        })
    }

    /// Corrects one day of an employee's closed month (approved for payroll, possibly paid):
    /// an attendance admin's decision with a reason, never the employee's own (FORBIDDEN,
    /// SELF_APPROVAL); only for a closed month (CONFLICT, ATTENDANCE_PERIOD_OPEN: an open
    /// month is corrected by request and approval). The day's punches are replaced by the
    /// corrected check-in and check-out (the old ones kept, voided by the adjustment), the
    /// period's totals move by the day's difference (computed under the day's shift, as the
    /// close computed it), its revision counts one more, and `attendance.period_adjusted`
    /// carries the new totals to payroll: all in one transaction. Payroll never edits a
    /// posted slip: its next regular run settles the difference, labelled with the month.
    pub async fn adjust_closed_day(
        &self,
        tenant: &TenantId,
        approver: &Approver<'_>,
        request: AdjustmentRequest,
    ) -> ApiResult<attendance_adjustment::Model> {
        let subject = people::employee(&self.db, tenant, &request.employee_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("employee".into()))?;
        if approver.employee_id == Some(subject.id.as_str()) {
            return Err(AttendanceRule::SelfAdjustment.into());
        }
        let now = Utc::now();
        let day = request.day;
        let shift = self
            .shifts_on(tenant, &[&subject], day)
            .await?
            .remove(&subject.id);
        let rules = shift.as_ref().map(|s| &s.rules);
        check_corrected_punches(rules, day, request.check_in, request.check_out, now)?;
        let label = AttendancePeriod::of(day).label();
        let day_text = day.to_string();
        let ids = [subject.id.clone()];
        let txn = begin_write(&self.db).await?;
        // First: counts the adjustment on the closed period and holds its row until commit.
        let period = store::next_period_revision(&txn, tenant, &subject.id, &label)
            .await?
            .ok_or_else(|| AttendanceRule::PeriodOpen {
                period: label.clone(),
            })?;
        let on_leave = store::on_leave(&txn, tenant, &ids, day)
            .await?
            .contains(&subject.id);
        let punches = store::punches_on(&txn, tenant, &ids, &day_text)
            .await?
            .remove(&subject.id)
            .unwrap_or_default();
        let now_ms = now.timestamp_millis();
        let before = attendance_of(shift.as_ref(), day, &punches, on_leave, now_ms);
        let id = erp_kit::db::new_id();
        store::void_punches_of_day(&txn, tenant, &subject.id, &day_text, &id).await?;
        let mut corrected = Vec::with_capacity(2);
        for (kind, at) in [
            (PunchKind::In, request.check_in.timestamp_millis()),
            (PunchKind::Out, request.check_out.timestamp_millis()),
        ] {
            let punch = NewPunch {
                id: erp_kit::db::new_id(),
                employee_id: subject.id.clone(),
                kind,
                at,
                day: day_text.clone(),
                source: "adjustment".into(),
                ip: None,
                point: None,
                location_id: None,
                punch_key: format!("adjustment:{id}:{}", kind.as_str()),
            };
            corrected.push(store::insert_punch(&txn, tenant, punch).await?);
        }
        let after = attendance_of(shift.as_ref(), day, &corrected, on_leave, now_ms);
        let (overtime_before, overtime_after) = (
            overtime_minutes(rules, &before),
            overtime_minutes(rules, &after),
        );
        let worked_delta = after.worked_minutes - before.worked_minutes;
        let overtime_delta = overtime_after - overtime_before;
        // The close summed the same days' minutes; never below zero should a day have been
        // computed differently since (a shift assigned back-dated).
        let row = attendance_adjustment::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: id.clone(),
            employee_id: subject.id.clone(),
            period: label.clone(),
            day: day_text.clone(),
            check_in_at: request.check_in.timestamp_millis(),
            check_out_at: request.check_out.timestamp_millis(),
            reason: request.reason,
            revision: period.revision,
            day_worked_before: before.worked_minutes,
            day_worked_after: after.worked_minutes,
            day_overtime_before: overtime_before,
            day_overtime_after: overtime_after,
            period_worked_minutes: (period.worked_minutes + worked_delta).max(0),
            period_overtime_minutes: (period.overtime_minutes + overtime_delta).max(0),
            adjusted_by: approver.user_id.to_owned(),
            adjusted_at: now_ms,
        };
        store::insert_adjustment(&txn, row.clone()).await?;
        let adjusted = EventEnvelope::by_actor(
            tenant,
            events::ATTENDANCE_PERIOD_ADJUSTED,
            &subject.id,
            approver.user_id,
            events::AttendancePeriodAdjusted {
                adjustment_id: &row.id,
                employee_id: &subject.id,
                period: &label,
                day: &day_text,
                revision: row.revision,
                worked_minutes: row.period_worked_minutes,
                overtime_minutes: row.period_overtime_minutes,
                worked_delta_minutes: worked_delta,
                overtime_delta_minutes: overtime_delta,
                adjusted_by: approver.user_id,
            },
        )?;
        self.outbox.enqueue(&txn, &adjusted).await?;
        self.outbox.commit(txn).await?;
        Ok(row)
    }

    /// Refuses a correction of a day whose attendance period is closed for the employee.
    async fn check_day_open(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        employee_id: &str,
        day: NaiveDate,
    ) -> ApiResult<()> {
        let period = AttendancePeriod::of(day).label();
        if store::closed_period(db, tenant, employee_id, &period)
            .await?
            .is_some()
        {
            return Err(AttendanceRule::PeriodClosed { period }.into());
        }
        Ok(())
    }
}
