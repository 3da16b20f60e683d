//! Attendance in GraphQL: locations, check-in / check-out, a person's day.

use std::collections::HashMap;
use std::ops::ControlFlow;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, TimeZone, Utc, Weekday};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::loaders::{load_child_pages, ChildPageKey, EmployeeLoader, PageKey, TenantKey};
use super::org::{require_attendance_view, viewer, visible_employee_ids, Viewer};
use super::{store, Employee};
use crate::domain::attendance::{GeoPoint, Geofence, PunchKind};
use crate::domain::shift::{
    attendance_day, parse_reason, DailyAttendance, DayStatus, ShiftInput, ShiftRules, WorkingDays,
};
use crate::store::attendance::{Approver, CorrectionFilter, CorrectionRequest, PunchRequest};
use crate::store::entities::{employee, location, punch};
use crate::store::shift::entities::{correction, shift, shift_assignment};
use crate::store::shift::{AppliedShift, ComputedDay, ShiftSubject, ShiftTarget};

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A work location whose geofence check-ins must fall within.
pub struct Location(pub location::Model);

#[Object]
impl Location {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Centre latitude.
    async fn latitude(&self) -> f64 {
        self.0.latitude
    }
    /// Centre longitude.
    async fn longitude(&self) -> f64 {
        self.0.longitude
    }
    /// Geofence radius in meters.
    async fn radius_meters(&self) -> i32 {
        self.0.radius_meters
    }
}

/// Where a punch came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PunchSource {
    /// The web app.
    Web,
    /// The mobile app.
    Mobile,
    /// A shared kiosk.
    Kiosk,
}

impl PunchSource {
    fn as_str(self) -> &'static str {
        match self {
            PunchSource::Web => "web",
            PunchSource::Mobile => "mobile",
            PunchSource::Kiosk => "kiosk",
        }
    }
}

/// A check-in or check-out.
pub struct Punch(pub punch::Model);

#[Object]
impl Punch {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// `IN` or `OUT`.
    async fn kind(&self) -> &'static str {
        match PunchKind::from_db(&self.0.kind) {
            PunchKind::In => "IN",
            PunchKind::Out => "OUT",
        }
    }
    /// Server time of the punch.
    async fn at(&self) -> DateTime<Utc> {
        millis(self.0.at)
    }
    /// `web`, `mobile` or `kiosk`.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// The location whose geofence it was checked against, if any.
    async fn location_id(&self) -> Option<ID> {
        self.0.location_id.clone().map(ID)
    }
    /// The client's idempotency key.
    async fn punch_key(&self) -> &str {
        &self.0.punch_key
    }
}

/// One person's attendance on one day, computed from the punches and the shift that applies.
#[derive(SimpleObject)]
pub struct AttendanceDay {
    /// The attendance day (the shift's day in its time zone; the UTC date without a shift).
    pub day: NaiveDate,
    /// How the day went.
    pub status: AttendanceStatus,
    /// First check-in.
    pub first_in: Option<DateTime<Utc>>,
    /// Last check-out.
    pub last_out: Option<DateTime<Utc>>,
    /// Minutes worked (an open check-in counts until now while the day lasts).
    pub worked_minutes: i64,
    /// Minutes after the shift's start of a check-in past the grace window (0 otherwise).
    pub late_minutes: i64,
    /// The day is over and the last punch is a check-in: request a correction.
    pub missing_check_out: bool,
    /// True while checked in.
    pub checked_in: bool,
    /// When the shift starts, if a shift applies.
    pub shift_start: Option<DateTime<Utc>>,
    /// When the shift ends, if a shift applies.
    pub shift_end: Option<DateTime<Utc>>,
    /// The shift the day was computed under.
    pub shift: Option<Shift>,
    /// The punches counted, in time order (punches replaced by a correction are left out).
    pub punches: Vec<Punch>,
}

impl From<ComputedDay> for AttendanceDay {
    fn from(computed: ComputedDay) -> Self {
        let a = computed.attendance;
        Self {
            day: a.day,
            status: a.status.into(),
            first_in: a.first_in.map(millis),
            last_out: a.last_out.map(millis),
            worked_minutes: a.worked_minutes,
            late_minutes: a.late_minutes,
            missing_check_out: a.missing_check_out,
            checked_in: a.checked_in,
            shift_start: a.shift_start.map(millis),
            shift_end: a.shift_end.map(millis),
            shift: computed.shift.map(|s| Shift(s.model)),
            punches: computed.punches.into_iter().map(Punch).collect(),
        }
    }
}

/// How a person's day went.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DayStatus")]
pub enum AttendanceStatus {
    /// Checked in within the grace window and (once the day is over) worked a full day.
    Present,
    /// Checked in after the grace window.
    Late,
    /// The day is over with at least a half-day but less than a full day worked.
    HalfDay,
    /// No check-in once the grace window passed, or less than a half-day worked.
    Absent,
    /// Not a working day of the shift.
    WeeklyOff,
    /// On approved leave that day, and no punch.
    OnLeave,
    /// The grace window has not passed yet and nobody checked in.
    NotStarted,
    /// No shift applies: only whether the person checked in is known.
    Unscheduled,
}

/// A day of the week.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DayOfWeek {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl From<DayOfWeek> for Weekday {
    fn from(day: DayOfWeek) -> Self {
        match day {
            DayOfWeek::Monday => Weekday::Mon,
            DayOfWeek::Tuesday => Weekday::Tue,
            DayOfWeek::Wednesday => Weekday::Wed,
            DayOfWeek::Thursday => Weekday::Thu,
            DayOfWeek::Friday => Weekday::Fri,
            DayOfWeek::Saturday => Weekday::Sat,
            DayOfWeek::Sunday => Weekday::Sun,
        }
    }
}

impl From<Weekday> for DayOfWeek {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => DayOfWeek::Monday,
            Weekday::Tue => DayOfWeek::Tuesday,
            Weekday::Wed => DayOfWeek::Wednesday,
            Weekday::Thu => DayOfWeek::Thursday,
            Weekday::Fri => DayOfWeek::Friday,
            Weekday::Sat => DayOfWeek::Saturday,
            Weekday::Sun => DayOfWeek::Sunday,
        }
    }
}

/// A shift: when work starts and ends, the grace window, the day thresholds and the days it
/// is worked, in the time zone of its location.
pub struct Shift(pub shift::Model);

#[Object]
impl Shift {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Start, `HH:MM` wall clock in `timeZone`.
    async fn start_time(&self) -> &str {
        &self.0.start_time
    }
    /// End, `HH:MM` wall clock in `timeZone` (before the start: the next day).
    async fn end_time(&self) -> &str {
        &self.0.end_time
    }
    /// True when the shift ends the day after it starts.
    async fn crosses_midnight(&self) -> bool {
        self.0.end_time <= self.0.start_time
    }
    /// Minutes after the start a check-in still counts as on time.
    async fn grace_minutes(&self) -> i32 {
        self.0.grace_minutes
    }
    /// Worked minutes below this make a finished day absent.
    async fn half_day_minutes(&self) -> i32 {
        self.0.half_day_minutes
    }
    /// Worked minutes below this make a finished day a half-day.
    async fn full_day_minutes(&self) -> i32 {
        self.0.full_day_minutes
    }
    /// The days of the week the shift is worked, Monday first.
    async fn working_days(&self) -> Vec<DayOfWeek> {
        WorkingDays::from_bits(self.0.working_days)
            .days()
            .into_iter()
            .map(Into::into)
            .collect()
    }
    /// IANA time zone of the shift's location.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
}

/// A new work location.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// Centre latitude (-90..90).
    pub latitude: f64,
    /// Centre longitude (-180..180).
    pub longitude: f64,
    /// Geofence radius in meters (10..50,000).
    pub radius_meters: i32,
}

/// A check-in or check-out from a device.
#[derive(InputObject)]
pub struct PunchInput {
    /// A key the device generates once per punch; sending the same punch again (a resync)
    /// returns the recorded punch instead of a duplicate.
    pub punch_key: String,
    /// Where the punch comes from.
    pub source: PunchSource,
    /// Device latitude (required with `locationId`).
    pub latitude: Option<f64>,
    /// Device longitude (required with `locationId`).
    pub longitude: Option<f64>,
    /// The location whose geofence the device must be in.
    pub location_id: Option<ID>,
}

fn punch_request(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<PunchRequest> {
    let key = input.punch_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(ApiError::bad_input("punchKey", "a punch key has 1 to 100 characters").into());
    }
    let point = match (input.latitude, input.longitude) {
        (Some(lat), Some(lon)) => Some(GeoPoint::parse(lat, lon)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_input("latitude", "give both latitude and longitude").into())
        }
    };
    Ok(PunchRequest {
        kind,
        punch_key: key.to_owned(),
        source: input.source.as_str().to_owned(),
        ip: ctx
            .data_opt::<erp_kit::http::ClientIp>()
            .map(|ip| ip.0.to_string()),
        point,
        location_id: input.location_id.map(|id| id.0),
    })
}

#[derive(Default)]
pub struct AttendanceQuery;

#[Object]
impl AttendanceQuery {
    /// The caller's attendance on `day` (the current attendance day when omitted).
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn my_attendance(
        &self,
        ctx: &Context<'_>,
        day: Option<NaiveDate>,
    ) -> Result<Option<AttendanceDay>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let store = store(ctx)?;
        let employee = store.employee_of_user(&tenant, &claims.sub).await?;
        let day = match day {
            Some(day) => day,
            None => current_day(ctx, &tenant, &employee).await?,
        };
        let computed = store
            .day_attendance(&tenant, &employee, day, Utc::now().timestamp_millis())
            .await?;
        Ok(Some(computed.into()))
    }

    /// The tenant's shifts, as a Relay connection.
    #[graphql(requires_scopes = "employee:read")]
    async fn shifts(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Shift, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = store(ctx)?.list_shifts(&tenant, &page).await?;
        let rows = rows.into_iter().map(Shift).collect();
        Ok(Some(connection_from_rows(&page, rows, |s| s.0.id.clone())))
    }

    /// The HR board of `day` (each person's current attendance day when omitted): everybody's
    /// status (in, late, absent, on weekly off...) with counts. HR (`hr:read`, `hr:admin`)
    /// sees the whole tenant, a manager their direct and indirect reports; `departmentId`
    /// narrows it to a department.
    #[graphql(requires_scopes = "attendance:read")]
    async fn attendance_today(
        &self,
        ctx: &Context<'_>,
        department_id: Option<ID>,
        day: Option<NaiveDate>,
    ) -> Result<Option<AttendanceBoard>> {
        Ok(Some(AttendanceBoard::new(ctx, department_id, day).await?))
    }

    /// Who is checked in right now (today's board, checked-in people only), with the same
    /// visibility as `attendanceToday`.
    #[graphql(requires_scopes = "attendance:read")]
    async fn who_is_in(
        &self,
        ctx: &Context<'_>,
        department_id: Option<ID>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, BoardEntry, EmptyFields, EmptyFields>>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let board = AttendanceBoard::new(ctx, department_id, None).await?;
        Ok(Some(
            board
                .page(store(ctx)?, &page, &BoardFilter::CheckedIn)
                .await?,
        ))
    }

    /// Attendance corrections the caller may decide: a manager's reports' (direct and
    /// indirect), or the whole tenant's for HR. Pending ones when `status` is omitted.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn attendance_corrections_to_decide(
        &self,
        ctx: &Context<'_>,
        status: Option<CorrectionStatus>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, AttendanceCorrection, EmptyFields, EmptyFields>>> {
        let viewer = viewer(ctx).await?;
        let store = store(ctx)?;
        let employee_ids = if viewer.hr_admin {
            None
        } else {
            let mut visible = visible_employee_ids(
                store,
                &Viewer {
                    hr_read: false,
                    ..viewer.clone()
                },
            )
            .await?
            .unwrap_or_default();
            // Nobody decides their own.
            visible.retain(|id| Some(id.as_str()) != viewer.employee_id());
            Some(visible)
        };
        let filter = CorrectionFilter {
            employee_ids,
            status: Some(status.unwrap_or(CorrectionStatus::Pending).as_str()),
        };
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = store
            .list_corrections(&viewer.tenant, &filter, &page)
            .await?;
        let rows = rows.into_iter().map(AttendanceCorrection).collect();
        Ok(Some(connection_from_rows(&page, rows, |c| c.0.id.clone())))
    }
}

/// The current attendance day of an employee (a night shift's day lasts past midnight).
async fn current_day(
    ctx: &Context<'_>,
    tenant: &erp_kit::TenantId,
    employee: &employee::Model,
) -> Result<NaiveDate> {
    let now = Utc::now();
    let shift = shift_on(ctx, tenant, employee, now.date_naive()).await?;
    Ok(attendance_day(shift.as_ref().map(|s| &s.rules), now))
}

/// The shift that applies to `employee` on `day`, through the batching [`ShiftLoader`].
async fn shift_on(
    ctx: &Context<'_>,
    tenant: &erp_kit::TenantId,
    employee: &employee::Model,
    day: NaiveDate,
) -> Result<Option<AppliedShift>> {
    ctx.data_unchecked::<DataLoader<ShiftLoader>>()
        .load_one(ShiftKey {
            tenant: tenant.clone(),
            employee_id: employee.id.clone(),
            department_id: employee.department_id.clone(),
            day,
        })
        .await
}

/// `Employee.attendance`: the self, their managers and HR only.
pub async fn employee_attendance(
    ctx: &Context<'_>,
    of: &employee::Model,
    day: Option<NaiveDate>,
) -> Result<Option<AttendanceDay>> {
    require_attendance_view(ctx, of).await?;
    let tenant = ctx.tenant()?;
    let day = match day {
        Some(day) => day,
        None => current_day(ctx, &tenant, of).await?,
    };
    let computed = ctx
        .data_unchecked::<DataLoader<DayAttendanceLoader>>()
        .load_one(DayKey {
            tenant,
            employee_id: of.id.clone(),
            day,
        })
        .await?
        .ok_or_else(|| ApiError::internal("the computed day went missing"))?;
    Ok(Some(computed.into()))
}

/// `Employee.shift`: the shift that applies to the employee on `day`.
pub async fn employee_shift(
    ctx: &Context<'_>,
    of: &employee::Model,
    day: Option<NaiveDate>,
) -> Result<Option<Shift>> {
    let tenant = ctx.tenant()?;
    let day = day.unwrap_or_else(|| Utc::now().date_naive());
    Ok(shift_on(ctx, &tenant, of, day)
        .await?
        .map(|s| Shift(s.model)))
}

/// `Employee.attendanceCorrections`: the self, their managers and HR only.
pub async fn employee_corrections(
    ctx: &Context<'_>,
    of: &employee::Model,
    status: Option<CorrectionStatus>,
    page: PageRequest,
) -> Result<Connection<String, AttendanceCorrection, EmptyFields, EmptyFields>> {
    require_attendance_view(ctx, of).await?;
    let rows = ctx
        .data_unchecked::<DataLoader<CorrectionsLoader>>()
        .load_one(ChildPageKey {
            tenant: ctx.tenant()?,
            parent_id: of.id.clone(),
            page: PageKey::from(&page),
            filter: status,
        })
        .await?
        .unwrap_or_default();
    let rows = rows.into_iter().map(AttendanceCorrection).collect();
    Ok(connection_from_rows(&page, rows, |c| c.0.id.clone()))
}

/// The key of the shift of one employee on one day (their department's default applies when
/// they have none of their own, so the department is part of the key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShiftKey {
    pub tenant: erp_kit::TenantId,
    pub employee_id: String,
    pub department_id: Option<String>,
    pub day: NaiveDate,
}

/// The shifts of a batch of employees: two queries per tenant and day.
pub struct ShiftLoader(pub crate::store::EmployeeStore);

impl Loader<ShiftKey> for ShiftLoader {
    type Value = AppliedShift;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ShiftKey]) -> Result<HashMap<ShiftKey, AppliedShift>> {
        let mut groups: HashMap<(&erp_kit::TenantId, NaiveDate), Vec<&ShiftKey>> = HashMap::new();
        for key in keys {
            groups.entry((&key.tenant, key.day)).or_default().push(key);
        }
        let mut found = HashMap::new();
        for ((tenant, day), group) in groups {
            let subjects: Vec<ShiftSubject<'_>> = group
                .iter()
                .map(|key| ShiftSubject {
                    employee_id: &key.employee_id,
                    department_id: key.department_id.as_deref(),
                })
                .collect();
            let mut shifts = self.0.shifts_of(tenant, &subjects, day).await?;
            for key in group {
                if let Some(shift) = shifts.remove(&key.employee_id) {
                    found.insert(key.clone(), shift);
                }
            }
        }
        Ok(found)
    }
}

/// Each employee's attendance corrections (of one status, or all), one page per employee.
pub struct CorrectionsLoader(pub crate::store::EmployeeStore);

impl Loader<ChildPageKey<Option<CorrectionStatus>>> for CorrectionsLoader {
    type Value = Vec<correction::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildPageKey<Option<CorrectionStatus>>],
    ) -> Result<HashMap<ChildPageKey<Option<CorrectionStatus>>, Self::Value>> {
        let store = &self.0;
        load_child_pages(keys, |tenant, page, status, employees| async move {
            store
                .corrections_pages(
                    &tenant,
                    &employees,
                    status.map(CorrectionStatus::as_str),
                    &page,
                )
                .await
        })
        .await
    }
}

/// The key of one employee's computed day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayKey {
    pub tenant: erp_kit::TenantId,
    pub employee_id: String,
    pub day: NaiveDate,
}

/// Computes the days of a batch of employees with a handful of queries per tenant and day.
pub struct DayAttendanceLoader(pub crate::store::EmployeeStore);

impl Loader<DayKey> for DayAttendanceLoader {
    type Value = ComputedDay;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[DayKey]) -> Result<HashMap<DayKey, ComputedDay>> {
        let mut groups: HashMap<(erp_kit::TenantId, NaiveDate), Vec<String>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.tenant.clone(), key.day))
                .or_default()
                .push(key.employee_id.clone());
        }
        let now_ms = Utc::now().timestamp_millis();
        let mut found = HashMap::new();
        for ((tenant, day), ids) in groups {
            let employees: Vec<employee::Model> = self
                .0
                .employees_by_ids(&tenant, &ids)
                .await?
                .into_values()
                .collect();
            let refs: Vec<&employee::Model> = employees.iter().collect();
            for (employee_id, computed) in
                self.0.days_attendance(&tenant, &refs, day, now_ms).await?
            {
                found.insert(
                    DayKey {
                        tenant: tenant.clone(),
                        employee_id,
                        day,
                    },
                    computed,
                );
            }
        }
        Ok(found)
    }
}

/// One person on a board.
#[derive(Clone)]
pub struct BoardEntry {
    employee: employee::Model,
    attendance: DailyAttendance,
    shift: Option<shift::Model>,
}

#[Object]
impl BoardEntry {
    /// The person.
    async fn employee(&self) -> Employee {
        Employee(self.employee.clone())
    }
    /// The attendance day the status is of.
    async fn day(&self) -> NaiveDate {
        self.attendance.day
    }
    /// Their status.
    async fn status(&self) -> AttendanceStatus {
        self.attendance.status.into()
    }
    /// True while checked in.
    async fn checked_in(&self) -> bool {
        self.attendance.checked_in
    }
    /// First check-in of the day.
    async fn first_in(&self) -> Option<DateTime<Utc>> {
        self.attendance.first_in.map(millis)
    }
    /// Last check-out of the day.
    async fn last_out(&self) -> Option<DateTime<Utc>> {
        self.attendance.last_out.map(millis)
    }
    /// Minutes late past the grace window (0 when on time).
    async fn late_minutes(&self) -> i64 {
        self.attendance.late_minutes
    }
    /// Minutes worked so far.
    async fn worked_minutes(&self) -> i64 {
        self.attendance.worked_minutes
    }
    /// The shift the status was computed under.
    async fn shift(&self) -> Option<Shift> {
        self.shift.clone().map(Shift)
    }
}

/// Counts of a board, by status.
#[derive(SimpleObject, Default)]
pub struct BoardSummary {
    /// People on the board.
    pub total: i32,
    /// Checked in right now.
    pub checked_in: i32,
    /// Present (on time).
    pub present: i32,
    /// Late.
    pub late: i32,
    /// Half-day.
    pub half_day: i32,
    /// Absent.
    pub absent: i32,
    /// On weekly off.
    pub weekly_off: i32,
    /// On approved leave.
    pub on_leave: i32,
    /// Shift not started yet.
    pub not_started: i32,
    /// Without a shift.
    pub unscheduled: i32,
}

/// How many people a board reads from the database at a time when it has to look past a page
/// (a status filter, the summary): memory stays bounded however large the tenant.
const BOARD_CHUNK: u64 = 500;

/// Which entries of a board a page shows.
enum BoardFilter {
    All,
    Statuses(Vec<DayStatus>),
    CheckedIn,
}

impl BoardFilter {
    fn keeps(&self, attendance: &DailyAttendance) -> bool {
        match self {
            BoardFilter::All => true,
            BoardFilter::Statuses(wanted) => wanted.contains(&attendance.status),
            BoardFilter::CheckedIn => attendance.checked_in,
        }
    }
}

/// An attendance board of one day. The people are read from the database page by page in
/// employee-id order (keyset on `ix_employees_tenant_id` / `ix_employees_tenant_department`),
/// and only the people of the page asked for get their day computed.
pub struct AttendanceBoard {
    tenant: erp_kit::TenantId,
    department_id: Option<String>,
    /// `None`: the whole tenant (HR); else the viewer's reports.
    visible: Option<Vec<String>>,
    /// `None`: each person's current attendance day.
    day: Option<NaiveDate>,
    now: DateTime<Utc>,
}

#[Object]
impl AttendanceBoard {
    /// The day asked for (today's UTC date when each person's current day is shown).
    async fn day(&self) -> NaiveDate {
        self.day.unwrap_or_else(|| self.now.date_naive())
    }

    /// Counts by status over the whole board.
    async fn summary(&self, ctx: &Context<'_>) -> Result<BoardSummary> {
        let mut summary = BoardSummary::default();
        let everyone = PageRequest {
            limit: BOARD_CHUNK,
            after: None,
            before: None,
            backward: false,
        };
        self.scan(store(ctx)?, everyone, |entry| {
            summary.count(&entry.attendance);
            ControlFlow::Continue(())
        })
        .await?;
        Ok(summary)
    }

    /// The people, in employee order, optionally only those in `status`.
    async fn entries(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<AttendanceStatus>>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, BoardEntry, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = match status {
            Some(wanted) => BoardFilter::Statuses(wanted.into_iter().map(Into::into).collect()),
            None => BoardFilter::All,
        };
        self.page(store(ctx)?, &page, &filter).await
    }
}

impl BoardSummary {
    fn count(&mut self, attendance: &DailyAttendance) {
        self.total += 1;
        if attendance.checked_in {
            self.checked_in += 1;
        }
        *match attendance.status {
            DayStatus::Present => &mut self.present,
            DayStatus::Late => &mut self.late,
            DayStatus::HalfDay => &mut self.half_day,
            DayStatus::Absent => &mut self.absent,
            DayStatus::WeeklyOff => &mut self.weekly_off,
            DayStatus::OnLeave => &mut self.on_leave,
            DayStatus::NotStarted => &mut self.not_started,
            DayStatus::Unscheduled => &mut self.unscheduled,
        } += 1;
    }
}

impl AttendanceBoard {
    /// The board of `day`, or of each person's current attendance day (their shift's day in
    /// its time zone, so a night shift stays on the night it started) when `day` is omitted,
    /// as the viewer may see it: HR the tenant, a manager their reports.
    async fn new(
        ctx: &Context<'_>,
        department_id: Option<ID>,
        day: Option<NaiveDate>,
    ) -> Result<Self> {
        let viewer = viewer(ctx).await?;
        let visible = visible_employee_ids(store(ctx)?, &viewer).await?;
        Ok(Self {
            tenant: viewer.tenant,
            department_id: department_id.map(|d| d.0),
            visible,
            day,
            now: Utc::now(),
        })
    }

    /// A Relay page of the entries `filter` keeps. Without a filter that is one database page;
    /// with one, chunks are read from the cursor on until the page is full.
    async fn page(
        &self,
        store: &crate::store::EmployeeStore,
        page: &PageRequest,
        filter: &BoardFilter,
    ) -> Result<Connection<String, BoardEntry, EmptyFields, EmptyFields>> {
        let wanted = page.limit as usize + 1;
        let first_read = PageRequest {
            limit: match filter {
                BoardFilter::All => page.limit,
                _ => BOARD_CHUNK,
            },
            ..page.clone()
        };
        let mut rows = Vec::new();
        self.scan(store, first_read, |entry| {
            if filter.keeps(&entry.attendance) {
                rows.push(entry);
            }
            if rows.len() >= wanted {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await?;
        Ok(connection_from_rows(page, rows, |e| e.employee.id.clone()))
    }

    /// Visits the board's entries in the direction of `read` from its cursor on, `read.limit
    /// + 1` people from the database at a time, until `visit` breaks or nobody is left.
    async fn scan(
        &self,
        store: &crate::store::EmployeeStore,
        mut read: PageRequest,
        mut visit: impl FnMut(BoardEntry) -> ControlFlow<()>,
    ) -> Result<()> {
        loop {
            let employees = store
                .board_employees(
                    &self.tenant,
                    self.department_id.as_deref(),
                    self.visible.as_deref(),
                    &read,
                )
                .await?;
            let exhausted = employees.len() as u64 <= read.limit;
            let last_read = employees.last().map(|e| e.id.clone());
            for entry in self.compute(store, employees).await? {
                if visit(entry).is_break() {
                    return Ok(());
                }
            }
            match last_read {
                Some(id) if !exhausted => {
                    if read.backward {
                        read.before = Some(id);
                    } else {
                        read.after = Some(id);
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The entries of `employees`, in their order.
    async fn compute(
        &self,
        store: &crate::store::EmployeeStore,
        employees: Vec<employee::Model>,
    ) -> Result<Vec<BoardEntry>> {
        let refs: Vec<&employee::Model> = employees.iter().collect();
        let mut by_day: HashMap<NaiveDate, Vec<&employee::Model>> = HashMap::new();
        match self.day {
            Some(day) => {
                by_day.insert(day, refs);
            }
            None => {
                let shifts = store
                    .shifts_on(&self.tenant, &refs, self.now.date_naive())
                    .await?;
                for employee in refs {
                    let current =
                        attendance_day(shifts.get(&employee.id).map(|s| &s.rules), self.now);
                    by_day.entry(current).or_default().push(employee);
                }
            }
        }
        let mut computed = HashMap::new();
        for (day, group) in by_day {
            computed.extend(
                store
                    .days_attendance(&self.tenant, &group, day, self.now.timestamp_millis())
                    .await?,
            );
        }
        Ok(employees
            .into_iter()
            .filter_map(|employee| {
                let day = computed.remove(&employee.id)?;
                Some(BoardEntry {
                    employee,
                    attendance: day.attendance,
                    shift: day.shift.map(|s| s.model),
                })
            })
            .collect())
    }
}

#[derive(Default)]
pub struct AttendanceMutation;

#[Object]
impl AttendanceMutation {
    /// Creates a work location with its geofence.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateLocationInput,
    ) -> Result<Option<Location>> {
        let tenant = ctx.tenant()?;
        let name = crate::domain::DisplayName::parse("name", &input.name)?;
        let centre = GeoPoint::parse(input.latitude, input.longitude)?;
        if !(10..=50_000).contains(&input.radius_meters) {
            return Err(
                ApiError::bad_input("radiusMeters", "a radius is 10 to 50,000 meters").into(),
            );
        }
        let fence = Geofence {
            latitude: centre.latitude,
            longitude: centre.longitude,
            radius_meters: f64::from(input.radius_meters),
        };
        Ok(Some(Location(
            store(ctx)?
                .create_location(&tenant, name.as_str(), fence)
                .await?,
        )))
    }

    /// Creates a shift; publishes `shift.created`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_shift(
        &self,
        ctx: &Context<'_>,
        input: CreateShiftInput,
    ) -> Result<Option<Shift>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let name = crate::domain::DisplayName::parse("name", &input.name)?;
        let days: Vec<Weekday> = input.working_days.iter().map(|d| (*d).into()).collect();
        let rules = ShiftRules::parse(&ShiftInput {
            start: &input.start_time,
            end: &input.end_time,
            grace_minutes: input.grace_minutes,
            half_day_minutes: input.half_day_minutes,
            full_day_minutes: input.full_day_minutes,
            working_days: &days,
            time_zone: &input.time_zone,
        })?;
        Ok(Some(Shift(
            store(ctx)?
                .create_shift(&tenant, &actor, name.as_str(), &rules)
                .await?,
        )))
    }

    /// Assigns a shift to an employee, or as the default of a department's employees without
    /// their own, from `effectiveFrom` on; publishes `shift.assigned`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn assign_shift(
        &self,
        ctx: &Context<'_>,
        input: AssignShiftInput,
    ) -> Result<Option<ShiftAssignment>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let target = match (input.employee_id, input.department_id) {
            (Some(employee), None) => ShiftTarget::Employee(employee.0),
            (None, Some(department)) => ShiftTarget::Department(department.0),
            _ => {
                return Err(ApiError::bad_input(
                    "employeeId",
                    "give either an employee or a department",
                )
                .into())
            }
        };
        let model = store(ctx)?
            .assign_shift(
                &tenant,
                &actor,
                &input.shift_id,
                &target,
                input.effective_from,
            )
            .await?;
        Ok(Some(ShiftAssignment(model)))
    }

    /// Asks for a correction of one of the caller's days (a missed punch, a wrong time): the
    /// corrected check-in and check-out, with a reason. Publishes
    /// `attendance.correction_requested`; a manager above the caller or HR decides.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn request_attendance_correction(
        &self,
        ctx: &Context<'_>,
        input: RequestCorrectionInput,
    ) -> Result<Option<AttendanceCorrection>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let reason = parse_reason("reason", &input.reason)?;
        let store = store(ctx)?;
        let employee = store.employee_of_user(&tenant, &claims.sub).await?;
        let request = CorrectionRequest {
            day: input.day,
            kind: input.kind.as_str(),
            check_in: input.check_in,
            check_out: input.check_out,
            reason,
        };
        let model = store
            .request_correction(&tenant, &claims.sub, &employee, request)
            .await?;
        Ok(Some(AttendanceCorrection(model)))
    }

    /// Approves a pending correction: the day's punches are replaced by the corrected ones
    /// (the old ones kept, voided) and `attendance.corrected` is published, in one
    /// transaction. FORBIDDEN with `extensions.reason` SELF_APPROVAL for one's own request or
    /// NOT_APPROVER for someone neither above the employee nor HR; CONFLICT with
    /// ALREADY_DECIDED once decided.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn approve_attendance_correction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Option<AttendanceCorrection>> {
        decide(ctx, id, true, note).await
    }

    /// Rejects a pending correction; publishes `attendance.correction_rejected`. The same
    /// rules as approving.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn reject_attendance_correction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Option<AttendanceCorrection>> {
        decide(ctx, id, false, note).await
    }

    /// Checks the caller in; publishes `attendance.checked_in` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_in(&self, ctx: &Context<'_>, input: PunchInput) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::In, input).await
    }

    /// Checks the caller out; publishes `attendance.checked_out` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_out(&self, ctx: &Context<'_>, input: PunchInput) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::Out, input).await
    }
}

async fn decide(
    ctx: &Context<'_>,
    id: ID,
    approve: bool,
    note: Option<String>,
) -> Result<Option<AttendanceCorrection>> {
    let note = note
        .as_deref()
        .map(|n| parse_reason("note", n))
        .transpose()?;
    let viewer = viewer(ctx).await?;
    let approver = Approver {
        user_id: &viewer.user_id,
        employee_id: viewer.employee_id(),
        hr_admin: viewer.hr_admin,
    };
    let (decided, _) = store(ctx)?
        .decide_correction(&viewer.tenant, &approver, &id, approve, note)
        .await?;
    Ok(Some(AttendanceCorrection(decided)))
}

/// A new shift.
#[derive(InputObject)]
pub struct CreateShiftInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// Start, `HH:MM` (24-hour clock) in `timeZone`.
    pub start_time: String,
    /// End, `HH:MM`; before the start means the next day (a night shift).
    pub end_time: String,
    /// Minutes after the start a check-in still counts as on time (0 to 240).
    pub grace_minutes: i32,
    /// Worked minutes below this make a finished day absent (half the full day by default).
    pub half_day_minutes: Option<i32>,
    /// Worked minutes below this make a finished day a half-day (the shift's length by
    /// default).
    pub full_day_minutes: Option<i32>,
    /// The days the shift is worked (at least one).
    pub working_days: Vec<DayOfWeek>,
    /// IANA time zone of the location, e.g. `Asia/Kolkata`.
    pub time_zone: String,
}

/// A shift for an employee, or as a department's default (exactly one of the two).
#[derive(InputObject)]
pub struct AssignShiftInput {
    /// The shift.
    pub shift_id: ID,
    /// The employee who works it.
    pub employee_id: Option<ID>,
    /// The department whose employees without their own shift work it.
    pub department_id: Option<ID>,
    /// The first day it applies (until a later assignment).
    pub effective_from: NaiveDate,
}

/// A shift assigned to an employee or a department.
pub struct ShiftAssignment(pub shift_assignment::Model);

#[Object]
impl ShiftAssignment {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The shift.
    async fn shift(&self, ctx: &Context<'_>) -> Result<Option<Shift>> {
        let tenant = ctx.tenant()?;
        Ok(store(ctx)?
            .shift(&tenant, &self.0.shift_id)
            .await?
            .map(Shift))
    }
    /// The employee, when assigned to one.
    async fn employee_id(&self) -> Option<ID> {
        (self.0.target_kind == "employee").then(|| ID(self.0.target_id.clone()))
    }
    /// The department, when it is a department's default.
    async fn department_id(&self) -> Option<ID> {
        (self.0.target_kind == "department").then(|| ID(self.0.target_id.clone()))
    }
    /// The first day it applies.
    async fn effective_from(&self) -> &str {
        &self.0.effective_from
    }
}

/// What a correction fixes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CorrectionKind {
    /// A check-in or check-out was not recorded.
    MissedPunch,
    /// A punch was recorded at the wrong time.
    WrongTime,
    /// Anything else (explained in the reason).
    Other,
}

impl CorrectionKind {
    fn as_str(self) -> &'static str {
        match self {
            CorrectionKind::MissedPunch => "missed_punch",
            CorrectionKind::WrongTime => "wrong_time",
            CorrectionKind::Other => "other",
        }
    }

    fn from_db(value: &str) -> Self {
        match value {
            "missed_punch" => CorrectionKind::MissedPunch,
            "wrong_time" => CorrectionKind::WrongTime,
            _ => CorrectionKind::Other,
        }
    }
}

/// Where a correction stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum CorrectionStatus {
    /// Waiting for a manager or HR.
    Pending,
    /// Approved and applied.
    Approved,
    /// Rejected.
    Rejected,
}

impl CorrectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionStatus::Pending => "pending",
            CorrectionStatus::Approved => "approved",
            CorrectionStatus::Rejected => "rejected",
        }
    }

    fn from_db(value: &str) -> Self {
        match value {
            "approved" => CorrectionStatus::Approved,
            "rejected" => CorrectionStatus::Rejected,
            _ => CorrectionStatus::Pending,
        }
    }
}

/// A requested correction of one day.
#[derive(InputObject)]
pub struct RequestCorrectionInput {
    /// The attendance day to correct (at most 90 days back, not in the future).
    pub day: NaiveDate,
    /// What it fixes.
    pub kind: CorrectionKind,
    /// The corrected check-in, inside the day.
    pub check_in: DateTime<Utc>,
    /// The corrected check-out, after the check-in, inside the day, not in the future.
    pub check_out: DateTime<Utc>,
    /// Why (3 to 500 characters).
    pub reason: String,
}

/// A correction of one day's attendance, and its decision.
pub struct AttendanceCorrection(pub correction::Model);

#[Object]
impl AttendanceCorrection {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The employee whose day it corrects.
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<EmployeeLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.employee_id))
            .await?
            .map(Employee))
    }
    /// The day corrected.
    async fn day(&self) -> &str {
        &self.0.day
    }
    /// What it fixes.
    async fn kind(&self) -> CorrectionKind {
        CorrectionKind::from_db(&self.0.kind)
    }
    /// The corrected check-in.
    async fn check_in(&self) -> DateTime<Utc> {
        millis(self.0.check_in_at)
    }
    /// The corrected check-out.
    async fn check_out(&self) -> DateTime<Utc> {
        millis(self.0.check_out_at)
    }
    /// Why it was asked for.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// Where it stands.
    async fn status(&self) -> CorrectionStatus {
        CorrectionStatus::from_db(&self.0.status)
    }
    /// When it was asked for.
    async fn requested_at(&self) -> DateTime<Utc> {
        millis(self.0.created_at)
    }
    /// The user who decided it.
    async fn decided_by(&self) -> Option<ID> {
        self.0.decided_by.clone().map(ID)
    }
    /// The decision's note.
    async fn decision_note(&self) -> Option<&str> {
        self.0.decision_note.as_deref()
    }
    /// When it was decided.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at.map(millis)
    }
}

async fn punch(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<Option<Punch>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let request = punch_request(ctx, kind, input)?;
    let store = store(ctx)?;
    let employee = store.employee_of_user(&tenant, &claims.sub).await?;
    let (punch, _) = store.record_punch(&tenant, &employee, request).await?;
    Ok(Some(Punch(punch)))
}

/// A check-in or check-out as a live board shows it.
#[derive(SimpleObject, serde::Deserialize)]
pub struct AttendanceEvent {
    /// The punch.
    #[serde(rename = "punch_id")]
    pub punch_id: ID,
    /// Who.
    #[serde(rename = "employee_id")]
    pub employee_id: ID,
    /// Their department, if any.
    #[serde(rename = "department_id")]
    pub department_id: Option<ID>,
    /// `in` or `out`.
    pub kind: String,
    /// Server time (Unix milliseconds).
    pub at: i64,
}

#[derive(Default)]
pub struct AttendanceSubscription;

#[async_graphql::Subscription]
impl AttendanceSubscription {
    /// Every check-in and check-out of the tenant (or of one department) as it happens, from
    /// every replica (Redis pub/sub). The subscriber is re-checked before each event.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["attendance:read".into()]]))]
    async fn attendance_board(
        &self,
        ctx: &Context<'_>,
        department_id: Option<ID>,
    ) -> Result<impl futures::Stream<Item = Result<AttendanceEvent>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let messages = store(ctx)?
            .cache()
            .subscribe(&crate::store::attendance::attendance_channel(&tenant))
            .await
            .map_err(ApiError::internal)?;
        let events = messages
            .filter_map(move |bytes| {
                let wanted = department_id.clone();
                async move {
                    let event: AttendanceEvent = serde_json::from_slice(&bytes).ok()?;
                    if event.kind != "in" && event.kind != "out" {
                        return None;
                    }
                    match &wanted {
                        Some(department) if event.department_id.as_ref() != Some(department) => {
                            None
                        }
                        _ => Some(event),
                    }
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, events))
    }
}

/// A person's new status, as the HR board shows it after each punch or applied correction.
#[derive(SimpleObject, serde::Deserialize)]
#[graphql(complex)]
pub struct AttendanceStatusUpdate {
    /// Who.
    #[serde(rename = "employee_id")]
    pub employee_id: ID,
    /// Their name.
    #[serde(rename = "display_name", default)]
    pub display_name: String,
    /// Their department, if any.
    #[serde(rename = "department_id")]
    pub department_id: Option<ID>,
    /// What happened: `in`, `out` or `correction`.
    pub kind: String,
    /// Server time of the change (Unix milliseconds).
    pub at: i64,
    /// The attendance day it changed.
    pub day: NaiveDate,
    /// The status now.
    #[graphql(skip)]
    #[serde(rename = "status")]
    pub status_name: String,
    /// Minutes late past the grace window (0 when on time).
    #[serde(rename = "late_minutes")]
    pub late_minutes: i64,
    /// Minutes worked so far.
    #[serde(rename = "worked_minutes")]
    pub worked_minutes: i64,
    /// True while checked in.
    #[serde(rename = "checked_in")]
    pub checked_in: bool,
}

#[async_graphql::ComplexObject]
impl AttendanceStatusUpdate {
    /// The status now.
    async fn status(&self) -> Option<AttendanceStatus> {
        status_from_str(&self.status_name).map(Into::into)
    }
}

fn status_from_str(value: &str) -> Option<DayStatus> {
    [
        DayStatus::Present,
        DayStatus::Late,
        DayStatus::HalfDay,
        DayStatus::Absent,
        DayStatus::WeeklyOff,
        DayStatus::OnLeave,
        DayStatus::NotStarted,
        DayStatus::Unscheduled,
    ]
    .into_iter()
    .find(|s| s.as_str() == value)
}

#[derive(Default)]
pub struct HrBoardSubscription;

#[async_graphql::Subscription]
impl HrBoardSubscription {
    /// HR's live board: each person's new status (in, late, absent...) after every punch or
    /// applied correction in the tenant (or one department), from every replica (Redis
    /// pub/sub). For HR (`attendance:read` with `hr:read` or `hr:admin`); the subscriber is
    /// re-checked before each event.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![
        vec!["attendance:read".into(), "hr:read".into()],
        vec!["attendance:read".into(), "hr:admin".into()],
    ]))]
    async fn attendance_status_board(
        &self,
        ctx: &Context<'_>,
        department_id: Option<ID>,
    ) -> Result<impl futures::Stream<Item = Result<AttendanceStatusUpdate>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let messages = store(ctx)?
            .cache()
            .subscribe(&crate::store::attendance::attendance_channel(&tenant))
            .await
            .map_err(ApiError::internal)?;
        let updates = messages
            .filter_map(move |bytes| {
                let wanted = department_id.clone();
                async move {
                    let update: AttendanceStatusUpdate = serde_json::from_slice(&bytes).ok()?;
                    match &wanted {
                        Some(department) if update.department_id.as_ref() != Some(department) => {
                            None
                        }
                        _ => Some(update),
                    }
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, updates))
    }
}
