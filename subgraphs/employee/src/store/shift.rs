//! Shifts, their assignment to employees (or as a department's default), and the daily
//! attendance computed from punches under the shift that applies.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveTime};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::{department, employee, punch};
use super::leave::entities::request as leave_request;
use super::EmployeeStore;
use crate::domain::attendance::PunchKind;
use crate::domain::leave::LeaveStatus;
use crate::domain::org::RuleError;
use crate::domain::shift::{daily_attendance, DailyAttendance, ShiftRules, WorkingDays};
use crate::domain::EmploymentStatus;
use crate::events;

pub mod entities {
    pub mod shift {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "shifts")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub name: String,
            pub start_time: String,
            pub end_time: String,
            pub grace_minutes: i32,
            pub half_day_minutes: i32,
            pub full_day_minutes: i32,
            pub working_days: i32,
            pub time_zone: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod shift_assignment {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "shift_assignments")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub target_kind: String,
            pub target_id: String,
            pub shift_id: String,
            pub effective_from: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::shift::Entity",
                from = "Column::ShiftId",
                to = "super::shift::Column::Id"
            )]
            Shift,
        }

        impl Related<super::shift::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Shift.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod correction {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "attendance_corrections")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub employee_id: String,
            pub day: String,
            pub kind: String,
            pub check_in_at: i64,
            pub check_out_at: i64,
            pub reason: String,
            pub status: String,
            pub requested_by: String,
            pub decided_by: Option<String>,
            pub decision_note: Option<String>,
            pub created_at: i64,
            pub decided_at: Option<i64>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entities::{shift, shift_assignment};

impl From<sea_orm::DbErr> for RuleError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

/// Who a shift is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftTarget {
    Employee(String),
    /// The default of every employee of the department without their own assignment.
    Department(String),
}

impl ShiftTarget {
    fn kind(&self) -> &'static str {
        match self {
            ShiftTarget::Employee(_) => "employee",
            ShiftTarget::Department(_) => "department",
        }
    }

    fn id(&self) -> &str {
        match self {
            ShiftTarget::Employee(id) | ShiftTarget::Department(id) => id,
        }
    }
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

impl EmployeeStore {
    /// Creates a shift; publishes `shift.created`.
    pub async fn create_shift(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        rules: &ShiftRules,
    ) -> ApiResult<shift::Model> {
        let txn = begin_write(self.db()).await?;
        let model = shift::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            start_time: Set(rules.start.format("%H:%M").to_string()),
            end_time: Set(rules.end.format("%H:%M").to_string()),
            grace_minutes: Set(rules.grace_minutes as i32),
            half_day_minutes: Set(rules.half_day_minutes as i32),
            full_day_minutes: Set(rules.full_day_minutes as i32),
            working_days: Set(rules.working_days.bits()),
            time_zone: Set(rules.time_zone.name().to_owned()),
            created_at: Set(chrono::Utc::now().timestamp_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("a shift named `{name}` exists")),
            other => other,
        })?;
        let event = EventEnvelope::new(
            tenant,
            events::SHIFT_CREATED,
            &model.id,
            serde_json::json!({
                "shift_id": model.id,
                "name": model.name,
                "start_time": model.start_time,
                "end_time": model.end_time,
                "time_zone": model.time_zone,
            }),
        )
        .map_err(ApiError::internal)?
        .with_actor(actor);
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    pub async fn shift(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<shift::Model>> {
        Ok(shift::Entity::find_by_id(id.to_owned())
            .filter(shift::Column::TenantId.eq(tenant.as_str()))
            .one(self.db())
            .await?)
    }

    pub async fn list_shifts(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<shift::Model>> {
        let query = shift::Entity::find().filter(shift::Column::TenantId.eq(tenant.as_str()));
        Ok(keyset_page(query, shift::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// Assigns a shift from `effective_from` on; publishes `shift.assigned`. One assignment per
    /// target and day (CONFLICT otherwise).
    pub async fn assign_shift(
        &self,
        tenant: &TenantId,
        actor: &str,
        shift_id: &str,
        target: &ShiftTarget,
        effective_from: NaiveDate,
    ) -> ApiResult<shift_assignment::Model> {
        let txn = begin_write(self.db()).await?;
        if shift::Entity::find_by_id(shift_id.to_owned())
            .filter(shift::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_input("shiftId", "no such shift"));
        }
        let target_exists = match target {
            ShiftTarget::Employee(id) => employee::Entity::find_by_id(id.clone())
                .filter(employee::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?
                .is_some(),
            ShiftTarget::Department(id) => department::Entity::find_by_id(id.clone())
                .filter(department::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?
                .is_some(),
        };
        if !target_exists {
            let (field, what) = match target {
                ShiftTarget::Employee(_) => ("employeeId", "no such employee"),
                ShiftTarget::Department(_) => ("departmentId", "no such department"),
            };
            return Err(ApiError::bad_input(field, what));
        }
        let model = shift_assignment::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            target_kind: Set(target.kind().to_owned()),
            target_id: Set(target.id().to_owned()),
            shift_id: Set(shift_id.to_owned()),
            effective_from: Set(effective_from.to_string()),
            created_at: Set(chrono::Utc::now().timestamp_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!(
                "a shift is already assigned from {effective_from}: assign from another day"
            )),
            other => other,
        })?;
        let event = EventEnvelope::new(
            tenant,
            events::SHIFT_ASSIGNED,
            target.id(),
            serde_json::json!({
                "shift_id": shift_id,
                "target_kind": target.kind(),
                "target_id": target.id(),
                "effective_from": model.effective_from,
            }),
        )
        .map_err(ApiError::internal)?
        .with_actor(actor);
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// The shift of each employee on `day`: their own latest assignment effective by then,
    /// else their department's. Two queries for any number of employees.
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
        // Each assignment with its shift in one query (on the check-in path and in every
        // batch of the board and the loaders).
        let assignments = shift_assignment::Entity::find()
            .find_also_related(shift::Entity)
            .filter(shift_assignment::Column::TenantId.eq(tenant.as_str()))
            .filter(shift_assignment::Column::EffectiveFrom.lte(day.to_string()))
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(shift_assignment::Column::TargetKind.eq("employee"))
                            .add(shift_assignment::Column::TargetId.is_in(employee_ids)),
                    )
                    .add(
                        Condition::all()
                            .add(shift_assignment::Column::TargetKind.eq("department"))
                            .add(shift_assignment::Column::TargetId.is_in(department_ids)),
                    ),
            )
            .order_by_asc(shift_assignment::Column::EffectiveFrom)
            .all(self.db())
            .await?;
        // Ascending order: the latest effective assignment of a target wins.
        let mut latest: HashMap<(String, String), Option<shift::Model>> = HashMap::new();
        for (assignment, shift) in assignments {
            latest.insert(
                (assignment.target_kind, assignment.target_id),
                shift.filter(|s| s.tenant_id == tenant.as_str()),
            );
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
        let shifts = self.shifts_on(tenant, employees, day).await?;
        let on_leave = self.on_leave(tenant, employees, day).await?;
        let mut punches: HashMap<String, Vec<punch::Model>> = HashMap::new();
        for row in punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(punch::Column::EmployeeId.is_in(employees.iter().map(|e| e.id.clone())))
            .filter(punch::Column::Day.eq(day.to_string()))
            .filter(punch::Column::VoidedBy.is_null())
            .order_by_asc(punch::Column::At)
            .all(self.db())
            .await?
        {
            punches
                .entry(row.employee_id.clone())
                .or_default()
                .push(row);
        }
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

    /// One page (`limit + 1` rows, keyset on the id) of the active employees a board shows:
    /// of one department or all, and only `visible` ones when given.
    pub async fn board_employees(
        &self,
        tenant: &TenantId,
        department_id: Option<&str>,
        visible: Option<&[String]>,
        page: &PageRequest,
    ) -> ApiResult<Vec<employee::Model>> {
        let mut query = employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::Status.ne(EmploymentStatus::Terminated.as_str()));
        if let Some(department_id) = department_id {
            query = query.filter(employee::Column::DepartmentId.eq(department_id));
        }
        if let Some(visible) = visible {
            if visible.is_empty() {
                return Ok(Vec::new());
            }
            query = query.filter(employee::Column::Id.is_in(visible.iter().cloned()));
        }
        Ok(keyset_page(query, employee::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// Which of the employees have approved leave (whole or half day) covering `day`.
    pub async fn on_leave(
        &self,
        tenant: &TenantId,
        employees: &[&employee::Model],
        day: NaiveDate,
    ) -> ApiResult<HashSet<String>> {
        Ok(leave_request::Entity::find()
            .select_only()
            .column(leave_request::Column::EmployeeId)
            .filter(leave_request::Column::TenantId.eq(tenant.as_str()))
            .filter(leave_request::Column::EmployeeId.is_in(employees.iter().map(|e| e.id.clone())))
            .filter(leave_request::Column::Status.eq(LeaveStatus::Approved.as_str()))
            .filter(leave_request::Column::StartDate.lte(day))
            .filter(leave_request::Column::EndDate.gte(day))
            .into_tuple::<String>()
            .all(self.db())
            .await?
            .into_iter()
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
}
