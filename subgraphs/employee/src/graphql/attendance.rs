//! Attendance in GraphQL: locations, check-in / check-out, corrections and their decision,
//! the HR board (`attendanceToday`, `whoIsIn`) and the live boards (subscriptions).

use std::collections::HashMap;
use std::ops::ControlFlow;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::context::{use_cases, viewer};
use super::people::{AttendanceCorrection, CorrectionKind, CorrectionStatus, Employee};
use super::shift::{
    assign_shift, create_shift, current_day, millis, AssignShiftInput, AttendanceDay,
    AttendanceStatus, CreateShiftInput, Punch, Shift, ShiftAssignment,
};
use crate::app::attendance::{Approver, CorrectionRequest, PunchRequest};
use crate::app::org::Viewer;
use crate::app::Employee as UseCases;
use crate::domain::attendance::{GeoPoint, Geofence, PunchKind};
use crate::domain::shift::{attendance_day, parse_reason, DailyAttendance, DayStatus};
use crate::domain::DisplayName;
use crate::store::attendance::CorrectionFilter;
use crate::store::entities::{employee, location, shift};

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
        let use_cases = use_cases(ctx)?;
        let employee = use_cases.own_record(&tenant, &claims.sub).await?;
        let day = match day {
            Some(day) => day,
            None => current_day(ctx, &tenant, &employee).await?,
        };
        let computed = use_cases
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
        let rows = use_cases(ctx)?.list_shifts(&tenant, &page).await?;
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
                .page(use_cases(ctx)?, &page, &BoardFilter::CheckedIn)
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
        let use_cases = use_cases(ctx)?;
        let employee_ids = if viewer.hr_admin {
            None
        } else {
            let mut visible = use_cases
                .visible_employee_ids(&Viewer {
                    hr_read: false,
                    ..viewer.clone()
                })
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
        let rows = use_cases
            .list_corrections(&viewer.tenant, &filter, &page)
            .await?;
        let rows = rows.into_iter().map(AttendanceCorrection).collect();
        Ok(Some(connection_from_rows(&page, rows, |c| c.0.id.clone())))
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
    tenant: TenantId,
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
        self.scan(use_cases(ctx)?, everyone, |entry| {
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
        self.page(use_cases(ctx)?, &page, &filter).await
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
        let visible = use_cases(ctx)?.visible_employee_ids(&viewer).await?;
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
        use_cases: &UseCases,
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
        self.scan(use_cases, first_read, |entry| {
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
        use_cases: &UseCases,
        mut read: PageRequest,
        mut visit: impl FnMut(BoardEntry) -> ControlFlow<()>,
    ) -> Result<()> {
        loop {
            let employees = use_cases
                .board_employees(
                    &self.tenant,
                    self.department_id.as_deref(),
                    self.visible.as_deref(),
                    &read,
                )
                .await?;
            let exhausted = employees.len() as u64 <= read.limit;
            let last_read = employees.last().map(|e| e.id.clone());
            for entry in self.compute(use_cases, employees).await? {
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
        use_cases: &UseCases,
        employees: Vec<employee::Model>,
    ) -> Result<Vec<BoardEntry>> {
        let refs: Vec<&employee::Model> = employees.iter().collect();
        let mut by_day: HashMap<NaiveDate, Vec<&employee::Model>> = HashMap::new();
        match self.day {
            Some(day) => {
                by_day.insert(day, refs);
            }
            None => {
                let shifts = use_cases
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
                use_cases
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
        let name = DisplayName::parse("name", &input.name)?;
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
            use_cases(ctx)?
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
        create_shift(ctx, input).await
    }

    /// Assigns a shift to an employee, or as the default of a department's employees without
    /// their own, from `effectiveFrom` on; publishes `shift.assigned`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn assign_shift(
        &self,
        ctx: &Context<'_>,
        input: AssignShiftInput,
    ) -> Result<Option<ShiftAssignment>> {
        assign_shift(ctx, input).await
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
        let request = CorrectionRequest {
            day: input.day,
            kind: input.kind.as_str(),
            check_in: input.check_in,
            check_out: input.check_out,
            reason,
        };
        let model = use_cases(ctx)?
            .request_correction(&tenant, &claims.sub, request)
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
    let (decided, _) = use_cases(ctx)?
        .decide_correction(&viewer.tenant, &approver, &id, approve, note)
        .await?;
    Ok(Some(AttendanceCorrection(decided)))
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

async fn punch(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<Option<Punch>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let request = punch_request(ctx, kind, input)?;
    let (punch, _) = use_cases(ctx)?
        .record_punch(&tenant, &claims.sub, request)
        .await?;
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
        let messages = use_cases(ctx)?.attendance_updates(&tenant).await?;
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
        let messages = use_cases(ctx)?.attendance_updates(&tenant).await?;
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
