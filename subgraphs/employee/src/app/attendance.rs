//! Attendance: locations with their geofences, check-in / check-out (idempotent by the
//! device's punch key), corrections of a day and their decision, and the live boards' feed.

use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::BoxStream;

use erp_kit::db::begin_write;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::org::is_above;
use super::shift::attendance_of;
use super::{already_exists, event, now_ms, Employee};
use crate::domain::attendance::{
    check_correction_decider, check_sequence, AttendanceRule, GeoPoint, Geofence, PunchKind,
};
use crate::domain::shift::{attendance_day, check_correction, DailyAttendance};
use crate::events::{self, attendance_channel, LiveStatus, LiveUpdate};
use crate::store::attendance::{self as store, CorrectionFilter, NewCorrection, NewPunch};
use crate::store::entities::{attendance_correction as correction, employee, location, punch};
use crate::store::{leave, people};

/// A punch as a device sends it (each value already parsed).
#[derive(Debug, Clone)]
pub struct PunchRequest {
    pub kind: PunchKind,
    pub punch_key: String,
    pub source: String,
    pub ip: Option<String>,
    pub point: Option<GeoPoint>,
    pub location_id: Option<String>,
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
        let assigned = event(
            tenant,
            events::LOCATION_ASSIGNED,
            &model.id,
            actor,
            serde_json::json!({ "employee_id": model.id, "location_id": model.location_id }),
        )?;
        self.outbox.enqueue(&txn, &assigned).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Records the caller's punch (a check-in or a check-out): the caller's employee record,
    /// their shift (the attendance day the punch belongs to: a night shift's check-out after
    /// midnight closes the day it started), then in one transaction the day's punches (a
    /// resync of the same punch key returns the punch recorded, with `false` for "not new"),
    /// the geofence (of the location the punch names, else of the person's assigned one), the
    /// in/out sequence, the punch and its event; after commit the live
    /// boards get the person's recomputed day. Six statements on the way (the check-in peak's
    /// hot path): keep it so.
    pub async fn record_punch(
        &self,
        tenant: &TenantId,
        user_id: &str,
        request: PunchRequest,
    ) -> ApiResult<(punch::Model, bool)> {
        let employee = self.own_record(tenant, user_id).await?;
        let now = Utc::now();
        // Read BEFORE the transaction: a transaction waiting for a second pooled connection
        // deadlocks the pool when every connection is a waiting transaction (the check-in peak
        // did exactly that).
        let shift = self
            .shifts_on(tenant, &[&employee], now.date_naive())
            .await?
            .remove(&employee.id);
        let attendance_day = attendance_day(shift.as_ref().map(|s| &s.rules), now);
        let day = attendance_day.to_string();
        let txn = begin_write(&self.db).await?;
        // One read for both what the punch must be checked against: a punch already recorded
        // under this key (a resync), and the day's punches so far (the sequence, and the live
        // status after commit without reading them again).
        let mut day_punches =
            store::punches_for_new_punch(&txn, tenant, &request.punch_key, &employee.id, &day)
                .await?;
        if let Some(existing) = day_punches
            .iter()
            .find(|p| p.punch_key == request.punch_key)
        {
            if existing.employee_id != employee.id || existing.kind != request.kind.as_str() {
                return Err(AttendanceRule::PunchKeyReused.into());
            }
            return Ok((existing.clone(), false));
        }
        // The location the punch names, else the one the person is assigned: leaving
        // `locationId` out does not skip the geofence.
        let fenced_at = request
            .location_id
            .clone()
            .or_else(|| employee.location_id.clone());
        if let Some(location_id) = &fenced_at {
            let location = store::location(&txn, tenant, location_id)
                .await?
                .ok_or_else(|| ApiError::bad_input("locationId", "no such location"))?;
            let point = request.point.ok_or_else(|| {
                ApiError::bad_input(
                    "latitude",
                    format!(
                        "a punch at `{}` needs the device position (latitude and longitude)",
                        location.name
                    ),
                )
            })?;
            let fence = Geofence {
                latitude: location.latitude,
                longitude: location.longitude,
                radius_meters: f64::from(location.radius_meters),
            };
            if !fence.contains(point) {
                return Err(AttendanceRule::OutsideGeofence {
                    location: location.name,
                }
                .into());
            }
        }
        check_sequence(
            day_punches.last().map(|p| PunchKind::from_db(&p.kind)),
            request.kind,
        )?;
        let new = NewPunch {
            id: crate::store::new_id(),
            employee_id: employee.id.clone(),
            kind: request.kind,
            at: now.timestamp_millis(),
            day,
            source: request.source,
            ip: request.ip,
            point: request.point,
            // The location whose geofence the punch passed.
            location_id: fenced_at,
            punch_key: request.punch_key,
        };
        let model =
            store::insert_punch(&txn, tenant, new)
                .await
                .map_err(|err| match ApiError::from(err) {
                    // A concurrent resync of the same punch won the insert.
                    ApiError::Conflict(_) => AttendanceRule::PunchInProgress.into(),
                    other => other,
                })?;
        let event_type = match request.kind {
            PunchKind::In => events::CHECKED_IN,
            PunchKind::Out => events::CHECKED_OUT,
        };
        let recorded = event(
            tenant,
            event_type,
            &employee.id,
            employee.user_id.as_deref().unwrap_or_default(),
            events::PunchRecorded {
                punch_id: &model.id,
                employee_id: &employee.id,
                department_id: employee.department_id.as_deref(),
                at: model.at,
                source: &model.source,
                location_id: model.location_id.as_deref(),
            },
        )?;
        self.outbox.enqueue(&txn, &recorded).await?;
        self.commit(txn).await?;
        day_punches.push(model.clone());
        let shift_of_day = if attendance_day == now.date_naive() {
            Ok(shift)
        } else {
            // A night shift's check-out after midnight: the day it closes may have had
            // another shift (an assignment from today on).
            self.shifts_on(tenant, &[&employee], attendance_day)
                .await
                .map(|mut shifts| shifts.remove(&employee.id))
        };
        let status = match shift_of_day {
            Ok(shift) => leave::on_leave(
                &self.db,
                tenant,
                std::slice::from_ref(&employee.id),
                attendance_day,
            )
            .await
            .map_err(ApiError::from)
            .map(|on_leave| {
                attendance_of(
                    shift.as_ref(),
                    attendance_day,
                    &day_punches,
                    on_leave.contains(&employee.id),
                    Utc::now().timestamp_millis(),
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
            status: live_status(&employee, status),
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
        let requested = event(
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
        self.commit(txn).await?;
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
            let voided =
                store::void_punches_of_day(&txn, tenant, &subject.id, &found.day, &found.id)
                    .await?;
            for (kind, at) in [
                (PunchKind::In, found.check_in_at),
                (PunchKind::Out, found.check_out_at),
            ] {
                let corrected = NewPunch {
                    id: crate::store::new_id(),
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
            event(
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
            event(
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
        self.commit(txn).await?;
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
