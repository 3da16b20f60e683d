//! Shifts, their assignment (to an employee, or as a department's default), and the daily
//! attendance computed from a day's punches under the shift that applies.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime};

use erp_kit::db::begin_write;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{already_exists, event, now_ms, Employee};
use crate::domain::attendance::PunchKind;
use crate::domain::shift::{
    daily_attendance, DailyAttendance, ShiftRules, ShiftTarget, WorkingDays,
};
use crate::events;
use crate::store::entities::{employee, punch, shift, shift_assignment};
use crate::store::{attendance as punches, leave, people, shift as store};

/// A stored shift with its parsed rules.
#[derive(Debug, Clone)]
pub struct AppliedShift {
    pub model: shift::Model,
    pub rules: ShiftRules,
}

/// Whose shift is asked for: an employee and their department (whose default shift applies
/// when the employee has none of their own).
#[derive(Debug, Clone, Copy)]
pub struct ShiftSubject<'a> {
    pub employee_id: &'a str,
    pub department_id: Option<&'a str>,
}

impl<'a> From<&'a employee::Model> for ShiftSubject<'a> {
    fn from(employee: &'a employee::Model) -> Self {
        Self {
            employee_id: &employee.id,
            department_id: employee.department_id.as_deref(),
        }
    }
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
        let created = event(
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
        self.commit(txn).await?;
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
        let assigned = event(
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
        self.commit(txn).await?;
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
        let on_leave = leave::on_leave(&self.db, tenant, &ids, day).await?;
        let mut punches = punches::punches_on(&self.db, tenant, &ids, &day.to_string()).await?;
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
