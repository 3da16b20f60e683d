//! Group commit of punches (the check-in peak, issue 23): concurrent check-ins and check-outs
//! wait in a short queue that ONE writer drains, up to [`MAX_BATCH`] at a time: one read of
//! the callers' employee records, one of their shifts (the attendance day each punch belongs
//! to), then a single transaction: one read of what the punches are checked against (resyncs
//! by punch key, the day's punches of each person), one read of the geofences they name, one
//! multi-row INSERT of the punches, one multi-row INSERT of their events into the outbox, one
//! commit; after it, one read of who of them is on leave (the live boards' status).
//!
//! Each punch is still checked alone, in queue order (a person's second punch in a batch is
//! checked against their first), and its caller gets its own answer only after the commit
//! made it durable: a punch a rule refuses (a second check-in, outside the geofence, a reused
//! key) is answered with its error and left out of the write, never failing the others. When
//! the shared write itself fails (a concurrent writer of another replica recorded one of the
//! punch keys meanwhile, or the database refused a row), every punch of the batch is written
//! again alone, so only the one at fault fails. Nothing waits for a batch to fill: a punch
//! arriving while the writer is idle is written at once; while it writes, the next batch
//! gathers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{mpsc, oneshot};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{no_employee_record, AppliedShift, Employee, ShiftSubject};

use crate::domain::attendance::{
    attendance_day, check_sequence, AttendanceRule, GeoPoint, Geofence, PunchKind,
};
use crate::domain::exits::{check_punch_day, ExitState};
use crate::domain::EmploymentStatus;
use crate::events;
use crate::store::attendance::{self as store, punch, NewPunch, Puncher};

/// Punches written in one transaction at most.
pub const MAX_BATCH: usize = 64;

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

/// A caller's punch, waiting to be written.
#[derive(Debug, Clone)]
pub struct PendingPunch {
    pub tenant: TenantId,
    /// The caller: the user whose employee record punches.
    pub user_id: String,
    /// When it was punched.
    pub at: DateTime<Utc>,
    pub request: PunchRequest,
}

/// A punch whose caller's facts are read and checked: who they are, their shift, the
/// attendance day it belongs to.
struct Prepared<'a> {
    pending: &'a PendingPunch,
    employee: Puncher,
    shift: Option<AppliedShift>,
    /// `YYYY-MM-DD`.
    day: String,
}

/// A punch written (or found: a resync of a punch recorded before).
#[derive(Debug, Clone)]
pub struct RecordedPunch {
    /// The caller's employee record.
    pub employee: Puncher,
    /// The caller's shift on the day punched, if they work one.
    pub shift: Option<AppliedShift>,
    /// The attendance day the punch belongs to.
    pub attendance_day: NaiveDate,
    pub model: punch::Model,
    /// False for a resync: the punch recorded before under the same key, nothing written.
    pub new: bool,
    /// The person's punches of the day that count, this one included (for a new punch).
    pub day_punches: Vec<punch::Model>,
    /// Whether the person is on approved leave that day (for a new punch; None: not known).
    pub on_leave: Option<bool>,
    pub tenant: TenantId,
}

struct Queued {
    punch: PendingPunch,
    reply: oneshot::Sender<ApiResult<RecordedPunch>>,
}

/// The queue of punches waiting for the writer (started with the first punch; it stops when
/// the process's runtime does).
#[derive(Clone, Default)]
pub struct PunchQueue {
    sender: Arc<Mutex<Option<mpsc::Sender<Queued>>>>,
}

impl Employee {
    /// Queues `punch` for the writer and answers once it is durable (or refused).
    pub(super) async fn queue_punch(&self, punch: PendingPunch) -> ApiResult<RecordedPunch> {
        let stopped = || ApiError::internal("the punch writer stopped");
        let sender = self.punch_writer().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Queued { punch, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The process's punch writer, started with the first punch, and started again when the
    /// one before has ended (its task panicked): a dead writer must not refuse every check-in
    /// until the process restarts.
    fn punch_writer(&self) -> Option<mpsc::Sender<Queued>> {
        let mut slot = self.punches.sender.lock().ok()?;
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Some(sender.clone());
        }
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 64);
        tokio::spawn(self.clone().write_queued_punches(receiver));
        *slot = Some(sender.clone());
        Some(sender)
    }

    /// Writes `punches` together as the writer writes a batch it drained (the same checks,
    /// each its own outcome, in order), without queueing them: for a caller holding a batch
    /// already, and for tests of a batch's rules.
    pub async fn write_punches_together(
        &self,
        punches: &[PendingPunch],
    ) -> Vec<ApiResult<RecordedPunch>> {
        self.write_punches_or_each(punches).await
    }

    /// The writer: drains the queue, every punch waiting (up to [`MAX_BATCH`]) at a time.
    async fn write_queued_punches(self, mut queue: mpsc::Receiver<Queued>) {
        // `recv_many` waits for the first and takes what else is waiting, up to MAX_BATCH.
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let (punches, replies): (Vec<PendingPunch>, Vec<_>) =
                batch.drain(..).map(|q| (q.punch, q.reply)).unzip();
            let outcomes = self.write_punches_or_each(&punches).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away leaves its punch recorded (a resync finds it).
                let _ = reply.send(outcome);
            }
        }
    }

    /// One outcome per punch, in order: the batch together, or (when the shared write failed)
    /// each punch alone.
    async fn write_punches_or_each(
        &self,
        punches: &[PendingPunch],
    ) -> Vec<ApiResult<RecordedPunch>> {
        match self.write_punches(punches).await {
            Ok(outcomes) => outcomes,
            Err(err) if punches.len() == 1 => vec![Err(err)],
            Err(err) => {
                tracing::debug!(error = ?err, size = punches.len(), "punch batch written one by one");
                let mut outcomes = Vec::with_capacity(punches.len());
                for punch in punches {
                    outcomes.push(
                        match self.write_punches(std::slice::from_ref(punch)).await {
                            Ok(mut one) => one.pop().unwrap_or_else(|| {
                                Err(ApiError::internal("a punch had no outcome"))
                            }),
                            Err(err) => Err(err),
                        },
                    );
                }
                outcomes
            }
        }
    }

    /// The callers' records and shifts, read for all of `punches` before the transaction (a
    /// transaction waiting for a second pooled connection could deadlock the pool): each
    /// punch prepared, or refused (no employee record; a leaver's day after their last).
    async fn prepare_punches<'a>(
        &self,
        tenant: &TenantId,
        punches: &[&'a PendingPunch],
    ) -> ApiResult<Vec<ApiResult<Prepared<'a>>>> {
        let users: Vec<&str> = punches.iter().map(|p| p.user_id.as_str()).collect();
        let employees = store::punchers_of_users(&self.db, tenant, &users).await?;
        // Their shifts on the day punched (one read per calendar day in the batch: one, but
        // around midnight).
        let mut shifts: HashMap<(NaiveDate, String), AppliedShift> = HashMap::new();
        let mut dates: Vec<NaiveDate> = punches.iter().map(|p| p.at.date_naive()).collect();
        dates.sort();
        dates.dedup();
        for date in dates {
            let subjects: Vec<ShiftSubject<'_>> = punches
                .iter()
                .filter(|p| p.at.date_naive() == date)
                .filter_map(|p| employees.get(&p.user_id))
                .map(|e| ShiftSubject {
                    employee_id: &e.id,
                    department_id: e.department_id.as_deref(),
                })
                .collect();
            for (employee_id, shift) in self.shifts_of(tenant, &subjects, date).await? {
                shifts.insert((date, employee_id), shift);
            }
        }
        Ok(punches
            .iter()
            .map(|&pending| {
                let employee = employees
                    .get(&pending.user_id)
                    .cloned()
                    .ok_or_else(no_employee_record)?;
                let shift = shifts
                    .get(&(pending.at.date_naive(), employee.id.clone()))
                    .cloned();
                // The attendance day: a night shift's check-out after midnight closes the day
                // it started.
                let day = attendance_day(shift.as_ref().map(|s| &s.rules), pending.at);
                // A leaver works their last day; a punch of a later attendance day is refused.
                check_punch_day(
                    ExitState::of(
                        employee.last_working_day,
                        employee.left_at.is_some(),
                        employee.status == EmploymentStatus::Terminated.as_str(),
                    ),
                    day,
                )?;
                Ok(Prepared {
                    pending,
                    employee,
                    shift,
                    day: day.to_string(),
                })
            })
            .collect())
    }

    /// Checks and writes `punches` in one transaction: each refused punch is its own error in
    /// the answer; an error of the whole (the write itself failed) leaves nothing written.
    async fn write_punches(
        &self,
        punches: &[PendingPunch],
    ) -> ApiResult<Vec<ApiResult<RecordedPunch>>> {
        let mut outcomes: Vec<Option<ApiResult<RecordedPunch>>> =
            punches.iter().map(|_| None).collect();
        let mut tenants: Vec<&TenantId> = Vec::new();
        for punch in punches {
            if !tenants.contains(&&punch.tenant) {
                tenants.push(&punch.tenant);
            }
        }
        // Every tenant's callers are read before the transaction begins.
        let mut groups = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let members: Vec<usize> = (0..punches.len())
                .filter(|&i| &punches[i].tenant == tenant)
                .collect();
            let pending: Vec<&PendingPunch> = members.iter().map(|&i| &punches[i]).collect();
            let prepared = self.prepare_punches(tenant, &pending).await?;
            let mut ready = Vec::new();
            for (i, prepared) in members.into_iter().zip(prepared) {
                match prepared {
                    Ok(prepared) => ready.push((i, prepared)),
                    Err(err) => outcomes[i] = Some(Err(err)),
                }
            }
            groups.push((tenant, ready));
        }
        let txn = begin_write(&self.db).await?;
        let mut events = Vec::new();
        for (tenant, ready) in groups {
            let keys: Vec<&str> = ready
                .iter()
                .map(|(_, p)| p.pending.request.punch_key.as_str())
                .collect();
            let days: HashSet<(&str, &str)> = ready
                .iter()
                .map(|(_, p)| (p.employee.id.as_str(), p.day.as_str()))
                .collect();
            let days: Vec<(&str, &str)> = days.into_iter().collect();
            if keys.is_empty() {
                continue;
            }
            // One read: punches already recorded under these keys (resyncs), and each
            // person's punches of the day so far (not voided), in time order.
            let mut by_key: HashMap<String, punch::Model> = HashMap::new();
            let mut by_day: HashMap<(String, String), Vec<punch::Model>> = HashMap::new();
            for row in store::punches_for_new_punches(&txn, tenant, &keys, &days).await? {
                if row.voided_by.is_none()
                    && days.contains(&(row.employee_id.as_str(), row.day.as_str()))
                {
                    by_day
                        .entry((row.employee_id.clone(), row.day.clone()))
                        .or_default()
                        .push(row.clone());
                }
                by_key.insert(row.punch_key.clone(), row);
            }
            // The location each punch names, else the person's assigned one.
            let fenced: Vec<String> = ready
                .iter()
                .filter_map(|(_, p)| fenced_at(p))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let locations = if fenced.is_empty() {
                HashMap::new()
            } else {
                store::locations_by_ids(&txn, tenant, &fenced).await?
            };
            let mut new_rows = Vec::new();
            for (i, prepared) in ready {
                let outcome = match check(&prepared, &by_key, &by_day, &locations) {
                    Err(err) => Err(err),
                    // A resync: the punch recorded before under its key, nothing to write.
                    Ok(None) => by_key
                        .get(&prepared.pending.request.punch_key)
                        .cloned()
                        .map(|model| (model, false, Vec::new()))
                        .ok_or_else(|| ApiError::internal("a resynced punch vanished")),
                    Ok(Some(new)) => {
                        let model = new.to_model(tenant);
                        events.push(punch_event(tenant, &prepared.employee, &model)?);
                        by_key.insert(model.punch_key.clone(), model.clone());
                        let day = by_day
                            .entry((prepared.employee.id.clone(), prepared.day.clone()))
                            .or_default();
                        day.push(model.clone());
                        new_rows.push(new);
                        Ok((model, true, day.clone()))
                    }
                };
                outcomes[i] = Some(outcome.and_then(|(model, new, day_punches)| {
                    Ok(RecordedPunch {
                        tenant: tenant.clone(),
                        on_leave: None,
                        attendance_day: NaiveDate::parse_from_str(&prepared.day, "%Y-%m-%d")
                            .map_err(ApiError::internal)?,
                        employee: prepared.employee,
                        shift: prepared.shift,
                        model,
                        new,
                        day_punches,
                    })
                }));
            }
            let expected = new_rows.len() as u64;
            if expected > 0 {
                let written = store::insert_punches_skipping_known(&txn, tenant, new_rows).await?;
                if written != expected {
                    // A concurrent writer recorded one of these keys since the read.
                    return Err(AttendanceRule::PunchInProgress.into());
                }
            }
        }
        if !events.is_empty() {
            self.outbox.enqueue_many(&txn, &events).await?;
            self.outbox.commit(txn).await?;
        }
        let mut outcomes: Vec<ApiResult<RecordedPunch>> = outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ApiError::internal("a punch had no outcome"))))
            .collect();
        self.read_leave_of_new_punches(&mut outcomes).await;
        Ok(outcomes)
    }

    /// Whether each new punch's person is on approved leave on its attendance day (the live
    /// board's status), one read per tenant and day of the batch, after the commit; a failed
    /// read leaves it unknown (the punch is durable, the live status is best effort).
    async fn read_leave_of_new_punches(&self, outcomes: &mut [ApiResult<RecordedPunch>]) {
        let mut asked: HashMap<(TenantId, NaiveDate), Vec<String>> = HashMap::new();
        for recorded in outcomes.iter().flatten().filter(|r| r.new) {
            asked
                .entry((recorded.tenant.clone(), recorded.attendance_day))
                .or_default()
                .push(recorded.employee.id.clone());
        }
        for ((tenant, day), employee_ids) in asked {
            let on_leave = match store::on_leave(&self.db, &tenant, &employee_ids, day).await {
                Ok(on_leave) => on_leave,
                Err(err) => {
                    tracing::warn!(error = %err, "leave of new punches not read");
                    continue;
                }
            };
            for recorded in outcomes.iter_mut().flatten() {
                if recorded.new && recorded.tenant == tenant && recorded.attendance_day == day {
                    recorded.on_leave = Some(on_leave.contains(&recorded.employee.id));
                }
            }
        }
    }
}

/// The location whose geofence a punch is checked against: the one it names, else the
/// person's assigned one (leaving `locationId` out does not skip the geofence).
fn fenced_at(prepared: &Prepared<'_>) -> Option<String> {
    prepared
        .pending
        .request
        .location_id
        .clone()
        .or_else(|| prepared.employee.location_id.clone())
}

/// Checks one punch against what is recorded (and what its batch accepted before it): the
/// punch to write, `None` for a resync of a punch recorded under its key, or the rule broken.
fn check(
    prepared: &Prepared<'_>,
    by_key: &HashMap<String, punch::Model>,
    by_day: &HashMap<(String, String), Vec<punch::Model>>,
    locations: &HashMap<String, store::location::Model>,
) -> ApiResult<Option<NewPunch>> {
    let request = &prepared.pending.request;
    if let Some(existing) = by_key.get(&request.punch_key) {
        if existing.employee_id != prepared.employee.id || existing.kind != request.kind.as_str() {
            return Err(AttendanceRule::PunchKeyReused.into());
        }
        return Ok(None);
    }
    let fenced = fenced_at(prepared);
    if let Some(location_id) = &fenced {
        let location = locations
            .get(location_id)
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
                location: location.name.clone(),
            }
            .into());
        }
    }
    let last = by_day
        .get(&(prepared.employee.id.clone(), prepared.day.clone()))
        .and_then(|day| day.last())
        .map(|p| PunchKind::from_db(&p.kind));
    check_sequence(last, request.kind)?;
    Ok(Some(NewPunch {
        id: erp_kit::db::new_id(),
        employee_id: prepared.employee.id.clone(),
        kind: request.kind,
        at: prepared.pending.at.timestamp_millis(),
        day: prepared.day.clone(),
        source: request.source.clone(),
        ip: request.ip.clone(),
        point: request.point,
        // The location whose geofence the punch passed.
        location_id: fenced,
        punch_key: request.punch_key.clone(),
    }))
}

/// `attendance.checked_in` / `attendance.checked_out` of a new punch.
fn punch_event(
    tenant: &TenantId,
    employee: &Puncher,
    model: &punch::Model,
) -> ApiResult<EventEnvelope> {
    let event_type = match PunchKind::from_db(&model.kind) {
        PunchKind::In => events::CHECKED_IN,
        PunchKind::Out => events::CHECKED_OUT,
    };
    EventEnvelope::by_actor(
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
    )
}
