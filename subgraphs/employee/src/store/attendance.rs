//! Attendance persistence: locations and punches, idempotent by the client's punch key.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::{employee, location, punch};
use super::pages::pages_per_parent;
use super::EmployeeStore;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::shift::attendance_of;
use super::shift::entities::correction;
use crate::domain::attendance::{check_sequence, GeoPoint, Geofence, PunchKind};
use crate::domain::org::{chain_of_command, RuleError, RuleResult, MAX_CHAIN};
use crate::domain::shift::{attendance_day, check_correction, DailyAttendance};
use crate::events;
use erp_kit::pagination::{keyset_page, PageRequest};

/// A punch as a device sends it.
#[derive(Debug, Clone)]
pub struct PunchRequest {
    pub kind: PunchKind,
    pub punch_key: String,
    pub source: String,
    pub ip: Option<String>,
    pub point: Option<GeoPoint>,
    pub location_id: Option<String>,
}

/// What a live board receives after a punch or an applied correction (the subscriptions'
/// `AttendanceEvent` and `AttendanceStatusUpdate` read it). It carries the person's recomputed
/// day, so a board shows the new status without asking back.
#[derive(Debug, Serialize)]
pub struct LiveUpdate<'a> {
    /// The punch, or the applied correction.
    pub punch_id: &'a str,
    pub employee_id: &'a str,
    pub department_id: Option<&'a str>,
    /// `in`, `out` or `correction`.
    pub kind: &'a str,
    /// Unix milliseconds.
    pub at: i64,
    pub source: Option<&'a str>,
    pub location_id: Option<&'a str>,
    /// Missing when the day could not be computed (the punch itself is still announced).
    #[serde(flatten)]
    pub status: Option<LiveStatus<'a>>,
}

/// The person's day after the change, as a live board shows it.
#[derive(Debug, Serialize)]
pub struct LiveStatus<'a> {
    pub display_name: &'a str,
    pub day: NaiveDate,
    pub status: &'static str,
    pub first_in: Option<i64>,
    pub last_out: Option<i64>,
    pub late_minutes: i64,
    pub worked_minutes: i64,
    pub checked_in: bool,
}

/// The live status of `employee` from their computed day, or none (logged) when it failed.
fn live_status<'a>(
    employee: &'a employee::Model,
    computed: ApiResult<DailyAttendance>,
) -> Option<LiveStatus<'a>> {
    match computed {
        Ok(a) => Some(LiveStatus {
            display_name: &employee.display_name,
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

/// The live-board channel of a tenant's attendance (Redis pub/sub across replicas).
pub fn attendance_channel(tenant: &TenantId) -> String {
    format!("attendance:{tenant}")
}

impl EmployeeStore {
    pub async fn create_location(
        &self,
        tenant: &TenantId,
        name: &str,
        fence: Geofence,
    ) -> ApiResult<location::Model> {
        location::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            latitude: Set(fence.latitude),
            longitude: Set(fence.longitude),
            radius_meters: Set(fence.radius_meters as i32),
            created_at: Set(chrono::Utc::now().timestamp_millis()),
        }
        .insert(self.db())
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict(format!("a location named `{name}` exists"))
            }
            other => other,
        })
    }

    /// The employee record of a logged-in user.
    pub async fn employee_of_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> ApiResult<employee::Model> {
        employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::UserId.eq(user_id))
            .one(self.db())
            .await?
            .ok_or_else(|| ApiError::Forbidden("no employee record is linked to this user".into()))
    }

    /// Records a punch. The same punch key again returns the punch already recorded (a kiosk
    /// resync never duplicates), with `false` for "not new".
    pub async fn record_punch(
        &self,
        tenant: &TenantId,
        employee: &employee::Model,
        request: PunchRequest,
    ) -> ApiResult<(punch::Model, bool)> {
        let now = chrono::Utc::now();
        // The punch belongs to the attendance day of the employee's shift (a night shift's
        // check-out after midnight closes the day it started). Read BEFORE the transaction:
        // `shifts_on` reads through the pool, and a transaction waiting for a second pooled
        // connection deadlocks the pool when every connection is a waiting transaction (the
        // check-in peak did exactly that).
        let shift = self
            .shifts_on(tenant, &[employee], now.date_naive())
            .await?
            .remove(&employee.id);
        let attendance_day = attendance_day(shift.as_ref().map(|s| &s.rules), now);
        let day = attendance_day.to_string();
        let txn = begin_write(self.db()).await?;
        // One read for both what the punch must be checked against: a punch already recorded
        // under this key (a resync), and the day's punches so far (the sequence, and the live
        // status after commit without reading them again).
        let mut day_punches = punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(
                Condition::any()
                    .add(punch::Column::PunchKey.eq(request.punch_key.as_str()))
                    .add(
                        Condition::all()
                            .add(punch::Column::EmployeeId.eq(employee.id.as_str()))
                            .add(punch::Column::Day.eq(day.as_str()))
                            .add(punch::Column::VoidedBy.is_null()),
                    ),
            )
            .order_by_asc(punch::Column::At)
            .all(&txn)
            .await?;
        if let Some(existing) = day_punches
            .iter()
            .find(|p| p.punch_key == request.punch_key)
        {
            if existing.employee_id != employee.id || existing.kind != request.kind.as_str() {
                return Err(ApiError::Conflict(
                    "this punch key was used for another punch".into(),
                ));
            }
            return Ok((existing.clone(), false));
        }
        if let Some(location_id) = &request.location_id {
            let location = location::Entity::find_by_id(location_id.clone())
                .filter(location::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?
                .ok_or_else(|| ApiError::bad_input("locationId", "no such location"))?;
            let point = request.point.ok_or_else(|| {
                ApiError::bad_input(
                    "latitude",
                    "a punch at a location needs the device position",
                )
            })?;
            let fence = Geofence {
                latitude: location.latitude,
                longitude: location.longitude,
                radius_meters: f64::from(location.radius_meters),
            };
            if !fence.contains(point) {
                return Err(ApiError::Forbidden(format!(
                    "the device is outside the geofence of `{}`",
                    location.name
                )));
            }
        }
        check_sequence(
            day_punches.last().map(|p| PunchKind::from_db(&p.kind)),
            request.kind,
        )?;
        let model = punch::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            employee_id: Set(employee.id.clone()),
            kind: Set(request.kind.as_str().to_owned()),
            at: Set(now.timestamp_millis()),
            day: Set(day),
            source: Set(request.source),
            ip: Set(request.ip),
            latitude: Set(request.point.map(|p| p.latitude)),
            longitude: Set(request.point.map(|p| p.longitude)),
            location_id: Set(request.location_id),
            punch_key: Set(request.punch_key),
            voided_by: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            // A concurrent resync of the same punch won the insert.
            ApiError::Conflict(_) => {
                ApiError::Conflict("this punch is being recorded already".into())
            }
            other => other,
        })?;
        let event_type = match request.kind {
            PunchKind::In => events::CHECKED_IN,
            PunchKind::Out => events::CHECKED_OUT,
        };
        let event = EventEnvelope::new(
            tenant,
            event_type,
            &employee.id,
            events::PunchRecorded {
                punch_id: &model.id,
                employee_id: &employee.id,
                department_id: employee.department_id.as_deref(),
                at: model.at,
                source: &model.source,
                location_id: model.location_id.as_deref(),
            },
        )
        .map_err(ApiError::internal)?
        .with_actor(employee.user_id.clone().unwrap_or_default());
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        day_punches.push(model.clone());
        let shift_of_day = if attendance_day == now.date_naive() {
            Ok(shift)
        } else {
            // A night shift's check-out after midnight: the day it closes may have had
            // another shift (an assignment from today on).
            self.shifts_on(tenant, &[employee], attendance_day)
                .await
                .map(|mut shifts| shifts.remove(&employee.id))
        };
        let status = match shift_of_day {
            Ok(shift) => self
                .on_leave(tenant, &[employee], attendance_day)
                .await
                .map(|on_leave| {
                    attendance_of(
                        shift.as_ref(),
                        attendance_day,
                        &day_punches,
                        on_leave.contains(&employee.id),
                        chrono::Utc::now().timestamp_millis(),
                    )
                }),
            Err(err) => Err(err),
        };
        let live = LiveUpdate {
            punch_id: &model.id,
            employee_id: &employee.id,
            department_id: employee.department_id.as_deref(),
            kind: request.kind.as_str(),
            at: model.at,
            source: Some(&model.source),
            location_id: model.location_id.as_deref(),
            status: live_status(employee, status),
        };
        self.publish_live(tenant, &live).await;
        Ok((model, true))
    }

    /// Live boards: best effort after commit (the event in the outbox is the durable record).
    pub async fn publish_live(&self, tenant: &TenantId, live: &LiveUpdate<'_>) {
        let message = match serde_json::to_vec(live) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "attendance live update not encoded");
                return;
            }
        };
        if let Err(err) = self
            .cache()
            .publish(&attendance_channel(tenant), &message)
            .await
        {
            tracing::warn!(error = %err, "attendance live update not published");
        }
    }

    /// An employee's punches of one day, in time order.
    pub async fn punches_of_day(
        &self,
        tenant: &TenantId,
        employee_id: &str,
        day: &str,
    ) -> ApiResult<Vec<punch::Model>> {
        Ok(punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(punch::Column::EmployeeId.eq(employee_id))
            .filter(punch::Column::Day.eq(day))
            .filter(punch::Column::VoidedBy.is_null())
            .order_by_asc(punch::Column::At)
            .all(self.db())
            .await?)
    }
}

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

/// Who decides a correction.
#[derive(Debug, Clone)]
pub struct Approver<'a> {
    pub user_id: &'a str,
    /// The approver's own employee record, when they have one.
    pub employee_id: Option<&'a str>,
    pub hr_admin: bool,
}

/// Filters of a correction list.
#[derive(Debug, Clone, Default)]
pub struct CorrectionFilter {
    /// Only these employees' corrections (`None`: the whole tenant).
    pub employee_ids: Option<Vec<String>>,
    pub status: Option<&'static str>,
}

impl EmployeeStore {
    /// Records a correction request; publishes `attendance.correction_requested`. One pending
    /// request per employee and day (CONFLICT, reason CORRECTION_PENDING).
    pub async fn request_correction(
        &self,
        tenant: &TenantId,
        requester: &str,
        employee: &employee::Model,
        request: CorrectionRequest,
    ) -> RuleResult<correction::Model> {
        let now = Utc::now();
        let shift = self
            .shifts_on(tenant, &[employee], request.day)
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
        let txn = begin_write(self.db()).await?;
        let pending = correction::Entity::find()
            .filter(correction::Column::TenantId.eq(tenant.as_str()))
            .filter(correction::Column::EmployeeId.eq(employee.id.as_str()))
            .filter(correction::Column::Day.eq(day.as_str()))
            .filter(correction::Column::Status.eq("pending"))
            .one(&txn)
            .await?;
        if pending.is_some() {
            return Err(RuleError::rule(
                ApiError::Conflict(format!(
                    "a correction of {day} is already waiting for a decision"
                )),
                "CORRECTION_PENDING",
            ));
        }
        let model = correction::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            employee_id: Set(employee.id.clone()),
            day: Set(day),
            kind: Set(request.kind.to_owned()),
            check_in_at: Set(request.check_in.timestamp_millis()),
            check_out_at: Set(request.check_out.timestamp_millis()),
            reason: Set(request.reason),
            status: Set("pending".into()),
            requested_by: Set(requester.to_owned()),
            decided_by: Set(None),
            decision_note: Set(None),
            created_at: Set(now.timestamp_millis()),
            decided_at: Set(None),
        }
        .insert(&txn)
        .await?;
        let event = EventEnvelope::new(
            tenant,
            events::CORRECTION_REQUESTED,
            &employee.id,
            serde_json::json!({
                "correction_id": model.id,
                "employee_id": employee.id,
                "manager_id": employee.manager_id,
                "day": model.day,
                "kind": model.kind,
                "check_in_at": model.check_in_at,
                "check_out_at": model.check_out_at,
            }),
        )
        .map_err(ApiError::internal)?
        .with_actor(requester);
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Approves or rejects a pending correction. The approver is above the employee in the
    /// reporting line or HR (`hr:admin`), never the employee themself. An approval replaces
    /// the day's punches (kept, marked voided) by the corrected check-in and check-out, with
    /// `attendance.corrected`, in one transaction.
    pub async fn decide_correction(
        &self,
        tenant: &TenantId,
        approver: &Approver<'_>,
        correction_id: &str,
        approve: bool,
        note: Option<String>,
    ) -> RuleResult<(correction::Model, employee::Model)> {
        let txn = begin_write(self.db()).await?;
        let found = correction::Entity::find_by_id(correction_id.to_owned())
            .filter(correction::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::NotFound("attendance correction".into()))?;
        let subject = employee::Entity::find_by_id(found.employee_id.clone())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::internal("a correction's employee is missing"))?;
        if approver.employee_id == Some(subject.id.as_str()) {
            return Err(RuleError::rule(
                ApiError::Forbidden("nobody decides their own attendance correction".into()),
                "SELF_APPROVAL",
            ));
        }
        if found.status != "pending" {
            return Err(RuleError::rule(
                ApiError::Conflict(format!("the correction is already {}", found.status)),
                "ALREADY_DECIDED",
            ));
        }
        let is_manager = match approver.employee_id {
            Some(me) => {
                // The reporting line above the employee, read in this transaction.
                let mut managers: HashMap<String, Option<String>> = HashMap::new();
                let mut next = subject.manager_id.clone();
                while let Some(id) = next.take() {
                    if managers.contains_key(&id) || managers.len() >= MAX_CHAIN {
                        break;
                    }
                    let manager = employee::Entity::find_by_id(id.clone())
                        .filter(employee::Column::TenantId.eq(tenant.as_str()))
                        .one(&txn)
                        .await?;
                    next = manager.and_then(|m| m.manager_id);
                    managers.insert(id, next.clone());
                }
                chain_of_command(&subject.id, |e| {
                    if e == subject.id {
                        subject.manager_id.clone()
                    } else {
                        managers.get(e).cloned().flatten()
                    }
                })
                .iter()
                .any(|above| above == me)
            }
            None => false,
        };
        if !(is_manager || approver.hr_admin) {
            return Err(RuleError::rule(
                ApiError::Forbidden(
                    "only the employee's managers or HR decide their corrections".into(),
                ),
                "NOT_APPROVER",
            ));
        }
        let now = Utc::now().timestamp_millis();
        let status = if approve { "approved" } else { "rejected" };
        let updated = correction::Entity::update_many()
            .col_expr(correction::Column::Status, Expr::value(status))
            .col_expr(
                correction::Column::DecidedBy,
                Expr::value(approver.user_id.to_owned()),
            )
            .col_expr(correction::Column::DecisionNote, Expr::value(note.clone()))
            .col_expr(correction::Column::DecidedAt, Expr::value(now))
            .filter(correction::Column::Id.eq(found.id.as_str()))
            .filter(correction::Column::Status.eq("pending"))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            // A concurrent decision won.
            return Err(RuleError::rule(
                ApiError::Conflict("the correction was decided meanwhile".into()),
                "ALREADY_DECIDED",
            ));
        }
        let event = if approve {
            let voided = punch::Entity::update_many()
                .col_expr(punch::Column::VoidedBy, Expr::value(found.id.clone()))
                .filter(punch::Column::TenantId.eq(tenant.as_str()))
                .filter(punch::Column::EmployeeId.eq(subject.id.as_str()))
                .filter(punch::Column::Day.eq(found.day.as_str()))
                .filter(punch::Column::VoidedBy.is_null())
                .exec(&txn)
                .await?
                .rows_affected;
            for (kind, at) in [
                (PunchKind::In, found.check_in_at),
                (PunchKind::Out, found.check_out_at),
            ] {
                punch::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    tenant_id: Set(tenant.as_str().to_owned()),
                    employee_id: Set(subject.id.clone()),
                    kind: Set(kind.as_str().to_owned()),
                    at: Set(at),
                    day: Set(found.day.clone()),
                    source: Set("correction".into()),
                    ip: Set(None),
                    latitude: Set(None),
                    longitude: Set(None),
                    location_id: Set(None),
                    punch_key: Set(format!("correction:{}:{}", found.id, kind.as_str())),
                    voided_by: Set(None),
                }
                .insert(&txn)
                .await?;
            }
            EventEnvelope::new(
                tenant,
                events::ATTENDANCE_CORRECTED,
                &subject.id,
                serde_json::json!({
                    "correction_id": found.id,
                    "employee_id": subject.id,
                    "day": found.day,
                    "check_in_at": found.check_in_at,
                    "check_out_at": found.check_out_at,
                    "voided_punches": voided,
                }),
            )
        } else {
            EventEnvelope::new(
                tenant,
                events::CORRECTION_REJECTED,
                &subject.id,
                serde_json::json!({
                    "correction_id": found.id,
                    "employee_id": subject.id,
                    "day": found.day,
                }),
            )
        }
        .map_err(ApiError::internal)?
        .with_actor(approver.user_id);
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
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
                    status: live_status(&subject, status),
                };
                self.publish_live(tenant, &live).await;
            }
        }
        Ok((decided, subject))
    }

    pub async fn correction(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<correction::Model>> {
        Ok(correction::Entity::find_by_id(id.to_owned())
            .filter(correction::Column::TenantId.eq(tenant.as_str()))
            .one(self.db())
            .await?)
    }

    /// One page of corrections, oldest request first.
    pub async fn list_corrections(
        &self,
        tenant: &TenantId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<correction::Model>> {
        let mut query =
            correction::Entity::find().filter(correction::Column::TenantId.eq(tenant.as_str()));
        if let Some(ids) = &filter.employee_ids {
            query = query.filter(correction::Column::EmployeeId.is_in(ids.iter().cloned()));
        }
        if let Some(status) = filter.status {
            query = query.filter(correction::Column::Status.eq(status));
        }
        Ok(keyset_page(query, correction::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// One page of each employee's corrections (only those in `status` when given), oldest
    /// first, in one query for all of them.
    pub async fn corrections_pages(
        &self,
        tenant: &TenantId,
        employee_ids: &[String],
        status: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<HashMap<String, Vec<correction::Model>>> {
        let mut filter = Condition::all().add(correction::Column::TenantId.eq(tenant.as_str()));
        if let Some(status) = status {
            filter = filter.add(correction::Column::Status.eq(status));
        }
        pages_per_parent::<correction::Entity, _>(
            self.db(),
            filter,
            correction::Column::EmployeeId,
            employee_ids,
            correction::Column::Id,
            page,
            |row| Some(row.employee_id.as_str()),
        )
        .await
    }
}
