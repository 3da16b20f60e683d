//! Attendance: locations, punches (idempotent by the client's punch key) and corrections.
//!
//! Shifts and their assignments to employees (or as a department's default).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, Set,
};

use erp_kit::db::insert_chunked;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{attendance_correction as correction, employee};
use super::pages::pages_per_parent;
use crate::domain::attendance::{GeoPoint, Geofence, PunchKind, ShiftRules, ShiftTarget};

// The models of the feature's tables, beside the queries that use them.
/// `locations`: a work location with its geofence.
pub mod location {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "locations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub latitude: f64,
        pub longitude: f64,
        pub radius_meters: i32,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `punches`: a check-in or check-out, idempotent by the client's punch key.
pub mod punch {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "punches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub employee_id: String,
        pub kind: String,
        pub at: i64,
        pub day: String,
        pub source: String,
        pub ip: Option<String>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub location_id: Option<String>,
        pub punch_key: String,
        /// The approved correction that replaced this punch (kept for the audit trail).
        pub voided_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `shifts`: a shift: start, end, grace window, day thresholds, working days, time zone.
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

/// `shift_assignments`: a shift assigned to an employee, or as a department's default, from a day on.
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

/// The caller's employee record as a punch needs it: who they are, their department (whose
/// default shift applies) and their assigned location (whose geofence applies).
#[derive(Debug, Clone, FromQueryResult)]
pub struct Puncher {
    pub id: String,
    pub user_id: Option<String>,
    pub display_name: String,
    pub department_id: Option<String>,
    pub location_id: Option<String>,
    /// Whether they may still punch: `employees.status`, the last working day of an exit and
    /// whether it took effect.
    pub status: String,
    pub last_working_day: Option<chrono::NaiveDate>,
    pub left_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The employee records linked to `user_ids` (the punch writer's first read for a batch of
/// callers), by user id, with the columns a punch uses (the check-in's hot path: the rest of
/// the row, sealed fields included, is not read).
pub async fn punchers_of_users(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_ids: &[&str],
) -> Result<HashMap<String, Puncher>, DbErr> {
    let query = Query::select()
        .columns(
            [
                "id",
                "user_id",
                "display_name",
                "department_id",
                "location_id",
                "status",
                "last_working_day",
                "left_at",
            ]
            .map(Alias::new),
        )
        .from(Alias::new("employees"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("user_id")).is_in(user_ids.iter().copied()))
        .to_owned();
    Ok(
        Puncher::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|p| p.user_id.clone().map(|user| (user, p)))
            .collect(),
    )
}

/// How `leave_requests.status` stores an approved request (`LeaveStatus::Approved`; a unit
/// test keeps the two equal).
const LEAVE_APPROVED: &str = "approved";

/// Which of the employees have approved leave (whole or half day) covering `day`.
pub async fn on_leave(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_ids: &[String],
    day: NaiveDate,
) -> Result<HashSet<String>, DbErr> {
    let query = Query::select()
        .column(Alias::new("employee_id"))
        .from(Alias::new("leave_requests"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("employee_id")).is_in(employee_ids.iter().cloned()))
        .and_where(Expr::col(Alias::new("status")).eq(LEAVE_APPROVED))
        .and_where(Expr::col(Alias::new("start_date")).lte(day))
        .and_where(Expr::col(Alias::new("end_date")).gte(day))
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&query))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "employee_id"))
        .collect()
}

/// A punch to write (each value already checked).
#[derive(Debug, Clone)]
pub struct NewPunch {
    pub id: String,
    pub employee_id: String,
    pub kind: PunchKind,
    /// Unix milliseconds.
    pub at: i64,
    /// The attendance day it belongs to (`YYYY-MM-DD`).
    pub day: String,
    pub source: String,
    pub ip: Option<String>,
    pub point: Option<GeoPoint>,
    pub location_id: Option<String>,
    pub punch_key: String,
}

impl NewPunch {
    /// The row this punch is written as.
    pub fn to_model(&self, tenant: &TenantId) -> punch::Model {
        punch::Model {
            id: self.id.clone(),
            tenant_id: tenant.as_str().to_owned(),
            employee_id: self.employee_id.clone(),
            kind: self.kind.as_str().to_owned(),
            at: self.at,
            day: self.day.clone(),
            source: self.source.clone(),
            ip: self.ip.clone(),
            latitude: self.point.map(|p| p.latitude),
            longitude: self.point.map(|p| p.longitude),
            location_id: self.location_id.clone(),
            punch_key: self.punch_key.clone(),
            voided_by: None,
        }
    }

    fn into_active(self, tenant: &TenantId) -> punch::ActiveModel {
        punch::ActiveModel {
            id: Set(self.id),
            tenant_id: Set(tenant.as_str().to_owned()),
            employee_id: Set(self.employee_id),
            kind: Set(self.kind.as_str().to_owned()),
            at: Set(self.at),
            day: Set(self.day),
            source: Set(self.source),
            ip: Set(self.ip),
            latitude: Set(self.point.map(|p| p.latitude)),
            longitude: Set(self.point.map(|p| p.longitude)),
            location_id: Set(self.location_id),
            punch_key: Set(self.punch_key),
            voided_by: Set(None),
        }
    }
}

/// A requested correction to write.
#[derive(Debug, Clone)]
pub struct NewCorrection {
    pub employee_id: String,
    pub day: String,
    pub kind: &'static str,
    pub check_in_at: i64,
    pub check_out_at: i64,
    pub reason: String,
    pub requested_by: String,
    pub created_at: i64,
}

/// Filters of a correction list.
#[derive(Debug, Clone, Default)]
pub struct CorrectionFilter {
    /// Only these employees' corrections (`None`: the whole tenant).
    pub employee_ids: Option<Vec<String>>,
    pub status: Option<&'static str>,
}

pub async fn insert_location(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
    fence: Geofence,
    now_ms: i64,
) -> Result<location::Model, DbErr> {
    location::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        latitude: Set(fence.latitude),
        longitude: Set(fence.longitude),
        radius_meters: Set(fence.radius_meters as i32),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn location(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<location::Model>, DbErr> {
    location::Entity::find_by_id(id.to_owned())
        .filter(location::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// Gives `found` the work location whose geofence its punches are checked against (or none).
pub async fn update_employee_location(
    db: &impl ConnectionTrait,
    found: employee::Model,
    location_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<employee::Model, DbErr> {
    let mut active: employee::ActiveModel = found.into();
    active.location_id = Set(location_id.map(str::to_owned));
    active.updated_at = Set(now);
    active.update(db).await
}

/// Locations by id (one query).
pub async fn locations_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, location::Model>, DbErr> {
    Ok(location::Entity::find()
        .filter(location::Column::TenantId.eq(tenant.as_str()))
        .filter(location::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect())
}

/// Every location of the tenant.
pub async fn all_locations(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<location::Model>, DbErr> {
    location::Entity::find()
        .filter(location::Column::TenantId.eq(tenant.as_str()))
        .all(db)
        .await
}

/// In ONE read, what new punches are checked against: the punches already recorded under
/// `punch_keys` (resyncs), and each (employee, attendance day)'s punches so far (not voided),
/// in time order.
pub async fn punches_for_new_punches(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    punch_keys: &[&str],
    days: &[(&str, &str)],
) -> Result<Vec<punch::Model>, DbErr> {
    let mut wanted =
        Condition::any().add(punch::Column::PunchKey.is_in(punch_keys.iter().copied()));
    for (employee_id, day) in days {
        wanted = wanted.add(
            Condition::all()
                .add(punch::Column::EmployeeId.eq(*employee_id))
                .add(punch::Column::Day.eq(*day))
                .add(punch::Column::VoidedBy.is_null()),
        );
    }
    punch::Entity::find()
        .filter(punch::Column::TenantId.eq(tenant.as_str()))
        .filter(wanted)
        .order_by_asc(punch::Column::At)
        .all(db)
        .await
}

pub async fn insert_punch(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: NewPunch,
) -> Result<punch::Model, DbErr> {
    new.into_active(tenant).insert(db).await
}

/// Rows per punch INSERT (13 columns: well under SQLite's and PostgreSQL's bind-parameter
/// limits).
const PUNCH_BATCH: usize = 1_000;

/// Writes punches with multi-row INSERTs, skipping those whose punch key the tenant holds
/// already; answers how many were written.
pub async fn insert_punches_skipping_known(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    punches: Vec<NewPunch>,
) -> Result<u64, DbErr> {
    let known = OnConflict::columns([punch::Column::TenantId, punch::Column::PunchKey])
        .do_nothing()
        .to_owned();
    let rows = punches.into_iter().map(|p| p.into_active(tenant));
    insert_chunked(db, punch::Entity, rows, PUNCH_BATCH, Some(known)).await
}

/// The employees' punches of `day` that count (not voided), in time order, by employee.
pub async fn punches_on(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_ids: &[String],
    day: &str,
) -> Result<HashMap<String, Vec<punch::Model>>, DbErr> {
    let mut punches: HashMap<String, Vec<punch::Model>> = HashMap::new();
    for row in punch::Entity::find()
        .filter(punch::Column::TenantId.eq(tenant.as_str()))
        .filter(punch::Column::EmployeeId.is_in(employee_ids.iter().cloned()))
        .filter(punch::Column::Day.eq(day))
        .filter(punch::Column::VoidedBy.is_null())
        .order_by_asc(punch::Column::At)
        .all(db)
        .await?
    {
        punches
            .entry(row.employee_id.clone())
            .or_default()
            .push(row);
    }
    Ok(punches)
}

/// Marks an employee's punches of `day` replaced by `correction_id` (kept for the audit
/// trail); answers how many.
pub async fn void_punches_of_day(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    day: &str,
    correction_id: &str,
) -> Result<u64, DbErr> {
    Ok(punch::Entity::update_many()
        .col_expr(
            punch::Column::VoidedBy,
            Expr::value(correction_id.to_owned()),
        )
        .filter(punch::Column::TenantId.eq(tenant.as_str()))
        .filter(punch::Column::EmployeeId.eq(employee_id))
        .filter(punch::Column::Day.eq(day))
        .filter(punch::Column::VoidedBy.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// The employee's correction of `day` waiting for a decision, if any.
pub async fn pending_correction(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    day: &str,
) -> Result<Option<correction::Model>, DbErr> {
    correction::Entity::find()
        .filter(correction::Column::TenantId.eq(tenant.as_str()))
        .filter(correction::Column::EmployeeId.eq(employee_id))
        .filter(correction::Column::Day.eq(day))
        .filter(correction::Column::Status.eq("pending"))
        .one(db)
        .await
}

pub async fn insert_correction(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: NewCorrection,
) -> Result<correction::Model, DbErr> {
    correction::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        employee_id: Set(new.employee_id),
        day: Set(new.day),
        kind: Set(new.kind.to_owned()),
        check_in_at: Set(new.check_in_at),
        check_out_at: Set(new.check_out_at),
        reason: Set(new.reason),
        status: Set("pending".into()),
        requested_by: Set(new.requested_by),
        decided_by: Set(None),
        decision_note: Set(None),
        created_at: Set(new.created_at),
        decided_at: Set(None),
    }
    .insert(db)
    .await
}

pub async fn correction(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<correction::Model>, DbErr> {
    correction::Entity::find_by_id(id.to_owned())
        .filter(correction::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// Records the decision of a correction that is still pending; answers false when it was not
/// (a concurrent decision won).
pub async fn decide_pending_correction(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    status: &str,
    decided_by: &str,
    note: Option<String>,
    decided_at: i64,
) -> Result<bool, DbErr> {
    let updated = correction::Entity::update_many()
        .col_expr(correction::Column::Status, Expr::value(status))
        .col_expr(
            correction::Column::DecidedBy,
            Expr::value(decided_by.to_owned()),
        )
        .col_expr(correction::Column::DecisionNote, Expr::value(note))
        .col_expr(correction::Column::DecidedAt, Expr::value(decided_at))
        .filter(correction::Column::TenantId.eq(tenant.as_str()))
        .filter(correction::Column::Id.eq(id))
        .filter(correction::Column::Status.eq("pending"))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// One page of corrections, oldest request first.
pub async fn list_corrections(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &CorrectionFilter,
    page: &PageRequest,
) -> Result<Vec<correction::Model>, DbErr> {
    let mut query =
        correction::Entity::find().filter(correction::Column::TenantId.eq(tenant.as_str()));
    if let Some(ids) = &filter.employee_ids {
        query = query.filter(correction::Column::EmployeeId.is_in(ids.iter().cloned()));
    }
    if let Some(status) = filter.status {
        query = query.filter(correction::Column::Status.eq(status));
    }
    keyset_page(query, correction::Column::Id, page)
        .all(db)
        .await
}

/// One page of each employee's corrections (only those in `status` when given), oldest
/// first, in one query for all of them.
pub async fn corrections_pages(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_ids: &[String],
    status: Option<&str>,
    page: &PageRequest,
) -> Result<HashMap<String, Vec<correction::Model>>, DbErr> {
    let mut filter = Condition::all().add(correction::Column::TenantId.eq(tenant.as_str()));
    if let Some(status) = status {
        filter = filter.add(correction::Column::Status.eq(status));
    }
    pages_per_parent::<correction::Entity, _>(
        db,
        filter,
        correction::Column::EmployeeId,
        employee_ids,
        correction::Column::Id,
        page,
        |row| Some(row.employee_id.as_str()),
    )
    .await
}

pub async fn insert_shift(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
    rules: &ShiftRules,
    now_ms: i64,
) -> Result<shift::Model, DbErr> {
    shift::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        start_time: Set(rules.start.format("%H:%M").to_string()),
        end_time: Set(rules.end.format("%H:%M").to_string()),
        grace_minutes: Set(rules.grace_minutes as i32),
        half_day_minutes: Set(rules.half_day_minutes as i32),
        full_day_minutes: Set(rules.full_day_minutes as i32),
        working_days: Set(rules.working_days.bits()),
        time_zone: Set(rules.time_zone.name().to_owned()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn shift(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<shift::Model>, DbErr> {
    shift::Entity::find_by_id(id.to_owned())
        .filter(shift::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn list_shifts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<shift::Model>, DbErr> {
    let query = shift::Entity::find().filter(shift::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, shift::Column::Id, page).all(db).await
}

pub async fn insert_assignment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    shift_id: &str,
    target: &ShiftTarget,
    effective_from: NaiveDate,
    now_ms: i64,
) -> Result<shift_assignment::Model, DbErr> {
    shift_assignment::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        target_kind: Set(target.kind().to_owned()),
        target_id: Set(target.id().to_owned()),
        shift_id: Set(shift_id.to_owned()),
        effective_from: Set(effective_from.to_string()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

/// The assignments effective by `day` of these employees and departments, each with its
/// shift, oldest effective first, in one query (on the check-in path and in every batch of
/// the board and the loaders).
pub async fn assignments_by(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_ids: &[&str],
    department_ids: &[&str],
    day: NaiveDate,
) -> Result<Vec<(shift_assignment::Model, Option<shift::Model>)>, DbErr> {
    let assignments = shift_assignment::Entity::find()
        .find_also_related(shift::Entity)
        .filter(shift_assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(shift_assignment::Column::EffectiveFrom.lte(day.to_string()))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(shift_assignment::Column::TargetKind.eq("employee"))
                        .add(
                            shift_assignment::Column::TargetId.is_in(employee_ids.iter().copied()),
                        ),
                )
                .add(
                    Condition::all()
                        .add(shift_assignment::Column::TargetKind.eq("department"))
                        .add(
                            shift_assignment::Column::TargetId
                                .is_in(department_ids.iter().copied()),
                        ),
                ),
        )
        .order_by_asc(shift_assignment::Column::EffectiveFrom)
        .all(db)
        .await?;
    // The joined shift is the same tenant's (ids are unique, but a row is never trusted
    // across tenants).
    Ok(assignments
        .into_iter()
        .map(|(assignment, shift)| {
            let shift = shift.filter(|s| s.tenant_id == tenant.as_str());
            (assignment, shift)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::LEAVE_APPROVED;
    use crate::domain::leave::LeaveStatus;

    #[test]
    fn on_leave_reads_the_status_an_approval_stores() {
        assert_eq!(LEAVE_APPROVED, LeaveStatus::Approved.as_str());
    }
}

/// `attendance_periods`: an employee's month of attendance, closed (approved for payroll).
pub mod attendance_period {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attendance_periods")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub employee_id: String,
        /// `YYYY-MM`
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        pub worked_minutes: i64,
        pub overtime_minutes: i64,
        pub closed_by: String,
        pub closed_at: i64,
        /// 0 when closed, one more per adjustment of one of its days.
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records a closed period; answers false when the employee's period is closed already.
pub async fn insert_closed_period(
    db: &impl ConnectionTrait,
    row: attendance_period::Model,
) -> Result<bool, DbErr> {
    let inserted = attendance_period::Entity::insert(attendance_period::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                attendance_period::Column::TenantId,
                attendance_period::Column::EmployeeId,
                attendance_period::Column::Period,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// The employee's closed period `period`, if it is closed.
pub async fn closed_period(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    period: &str,
) -> Result<Option<attendance_period::Model>, DbErr> {
    attendance_period::Entity::find()
        .filter(attendance_period::Column::TenantId.eq(tenant.as_str()))
        .filter(attendance_period::Column::EmployeeId.eq(employee_id))
        .filter(attendance_period::Column::Period.eq(period))
        .one(db)
        .await
}

/// The employees a bulk close of a month looks at: of one department or the whole tenant,
/// hired by the month's last day and not gone before its first (no last working day, or one
/// on or after it), by id.
pub async fn employed_in(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    department_id: Option<&str>,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<Vec<employee::Model>, DbErr> {
    let mut query = employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::HiredOn.lte(ends_on))
        .filter(
            Condition::any()
                .add(employee::Column::LastWorkingDay.is_null())
                .add(employee::Column::LastWorkingDay.gte(starts_on)),
        );
    if let Some(department_id) = department_id {
        query = query.filter(employee::Column::DepartmentId.eq(department_id));
    }
    query.order_by_asc(employee::Column::Id).all(db).await
}

/// The ids of the employees whose period `period` is closed already.
pub async fn closed_in_period(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    period: &str,
) -> Result<HashSet<String>, DbErr> {
    let query = Query::select()
        .column(Alias::new("employee_id"))
        .from(Alias::new("attendance_periods"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("period")).eq(period))
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&query))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "employee_id"))
        .collect()
}

/// Rows per closed-period INSERT (7 columns).
const CLOSE_BATCH: usize = 1_000;

/// Records closed periods in multi-row INSERTs, skipping those closed already (a concurrent
/// close won); answers the ids of the employees whose period this write closed.
pub async fn insert_closed_periods(
    db: &impl ConnectionTrait,
    rows: Vec<attendance_period::Model>,
) -> Result<HashSet<String>, DbErr> {
    use attendance_period::Column as C;
    let mut inserted = HashSet::new();
    for chunk in rows.chunks(CLOSE_BATCH) {
        let mut insert = Query::insert();
        insert.into_table(attendance_period::Entity).columns([
            C::TenantId,
            C::EmployeeId,
            C::Period,
            C::WorkedMinutes,
            C::OvertimeMinutes,
            C::ClosedBy,
            C::ClosedAt,
        ]);
        for row in chunk {
            insert.values_panic([
                row.tenant_id.clone().into(),
                row.employee_id.clone().into(),
                row.period.clone().into(),
                row.worked_minutes.into(),
                row.overtime_minutes.into(),
                row.closed_by.clone().into(),
                row.closed_at.into(),
            ]);
        }
        insert
            .on_conflict(
                OnConflict::columns([C::TenantId, C::EmployeeId, C::Period])
                    .do_nothing()
                    .to_owned(),
            )
            .returning_col(C::EmployeeId);
        for row in db
            .query_all(db.get_database_backend().build(&insert))
            .await?
        {
            inserted.insert(row.try_get::<String>("", "employee_id")?);
        }
    }
    Ok(inserted)
}

/// `attendance_adjustments`: an authorised correction of one day of a closed period.
pub mod attendance_adjustment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attendance_adjustments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub employee_id: String,
        /// `YYYY-MM`
        pub period: String,
        /// `YYYY-MM-DD`
        pub day: String,
        /// Unix milliseconds.
        pub check_in_at: i64,
        pub check_out_at: i64,
        pub reason: String,
        /// The period's revision this adjustment made (1, 2, ...).
        pub revision: i64,
        pub day_worked_before: i64,
        pub day_worked_after: i64,
        pub day_overtime_before: i64,
        pub day_overtime_after: i64,
        /// The period's totals after the adjustment.
        pub period_worked_minutes: i64,
        pub period_overtime_minutes: i64,
        pub adjusted_by: String,
        /// Unix milliseconds.
        pub adjusted_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Counts one more adjustment of a closed period and answers its new revision, or `None`
/// when the employee's period is not closed. The first write of an adjustment's transaction:
/// it holds the period's row until the commit, so concurrent adjustments of the same
/// employee-month read and move its totals one after the other.
pub async fn next_period_revision(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    period: &str,
) -> Result<Option<attendance_period::Model>, DbErr> {
    use attendance_period::Column as C;
    let update = Query::update()
        .table(attendance_period::Entity)
        .value(C::Revision, Expr::col(C::Revision).add(1))
        .and_where(Expr::col(C::TenantId).eq(tenant.as_str()))
        .and_where(Expr::col(C::EmployeeId).eq(employee_id))
        .and_where(Expr::col(C::Period).eq(period))
        .to_owned();
    let changed = db
        .execute(db.get_database_backend().build(&update))
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    closed_period(db, tenant, employee_id, period).await
}

/// Records an adjustment and moves its period's totals to the adjustment's.
pub async fn insert_adjustment(
    db: &impl ConnectionTrait,
    row: attendance_adjustment::Model,
) -> Result<(), DbErr> {
    use attendance_period::Column as C;
    let update = Query::update()
        .table(attendance_period::Entity)
        .value(C::WorkedMinutes, row.period_worked_minutes)
        .value(C::OvertimeMinutes, row.period_overtime_minutes)
        .and_where(Expr::col(C::TenantId).eq(row.tenant_id.as_str()))
        .and_where(Expr::col(C::EmployeeId).eq(row.employee_id.as_str()))
        .and_where(Expr::col(C::Period).eq(row.period.as_str()))
        .to_owned();
    db.execute(db.get_database_backend().build(&update)).await?;
    attendance_adjustment::Entity::insert(attendance_adjustment::ActiveModel::from(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}
