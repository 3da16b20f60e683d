//! Attendance in GraphQL: locations, check-in / check-out, corrections and their decision,
//! the HR board (`attendanceToday`, `whoIsIn`) and the live boards (subscriptions).

use std::collections::HashMap;
use std::ops::ControlFlow;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{NaiveDate, Utc};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{ApprovalDecision, Date, DateTime};
use erp_kit::{ApiError, RequestContext, RuleViolation, TenantId};

use super::context::viewer;
use super::people::{
    load_department, load_employee, AttendanceCorrection, CorrectionKind, CorrectionStatus,
    Department, Employee,
};
use super::shift::{
    create_shift, current_day, millis, AttendanceDay, AttendanceStatus, CreateShiftInput, Location,
    PunchDirection, Shift,
};
use crate::app::attendance::{AdjustmentRequest, Approver, CorrectionRequest, PeriodsClosing};
use crate::app::org::Viewer;
use crate::app::Employee as UseCases;
use crate::domain::attendance::{
    attendance_day, parse_reason, AttendanceRule, DailyAttendance, DayStatus, ShiftTarget,
};
use crate::domain::attendance::{GeoPoint, Geofence, PunchKind};
use crate::domain::DisplayName;
use crate::store::attendance::CorrectionFilter;
use crate::store::attendance::{attendance_adjustment, attendance_period, shift, shift_assignment};
use crate::store::entities::employee;

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

/// An employee's assigned work location (`assignEmployeeLocation`).
#[derive(InputObject)]
pub struct AssignEmployeeLocationInput {
    /// The employee.
    pub employee_id: ID,
    /// The location whose geofence their punches are checked against; null clears it.
    pub location_id: Option<ID>,
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
        #[graphql(
            desc = "The attendance day (the shift's day in its time zone; the UTC date without a shift); the current one when omitted."
        )]
        day: Option<Date>,
    ) -> Result<Option<AttendanceDay>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let use_cases = ctx.use_cases::<UseCases>()?;
        let employee = use_cases.own_record(&tenant, &claims.sub).await?;
        let day = match day {
            Some(day) => day.into(),
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
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Shift, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_shifts(&tenant, &page)
            .await?;
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
        #[graphql(desc = "Only this department's people.")] department_id: Option<ID>,
        #[graphql(
            desc = "The attendance day to show for everybody; each person's current attendance day when omitted."
        )]
        day: Option<Date>,
    ) -> Result<Option<AttendanceBoard>> {
        Ok(Some(
            AttendanceBoard::new(ctx, department_id, day.map(Into::into)).await?,
        ))
    }

    /// Who is checked in right now (today's board, checked-in people only), with the same
    /// visibility as `attendanceToday`.
    #[graphql(requires_scopes = "attendance:read")]
    async fn who_is_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this department's people.")] department_id: Option<ID>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, BoardEntry, EmptyFields, EmptyFields>>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let board = AttendanceBoard::new(ctx, department_id, None).await?;
        Ok(Some(
            board
                .page(ctx.use_cases::<UseCases>()?, &page, &BoardFilter::CheckedIn)
                .await?,
        ))
    }

    /// Attendance corrections the caller may decide: a manager's reports' (direct and
    /// indirect), or the whole tenant's for HR. Pending ones when `status` is omitted.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn attendance_corrections_to_decide(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only corrections in this status; `PENDING` when omitted.")]
        status: Option<CorrectionStatus>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, AttendanceCorrection, EmptyFields, EmptyFields>>> {
        let viewer = viewer(ctx).await?;
        let use_cases = ctx.use_cases::<UseCases>()?;
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

/// One person on an attendance board: their status on the board's day, with the times and
/// minutes it was computed from.
#[Object]
impl BoardEntry {
    /// The person.
    async fn employee(&self) -> Employee {
        Employee(self.employee.clone())
    }
    /// The attendance day the status is of.
    async fn day(&self) -> Date {
        self.attendance.day.into()
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
    async fn first_in(&self) -> Option<DateTime> {
        self.attendance.first_in.map(millis)
    }
    /// Last check-out of the day.
    async fn last_out(&self) -> Option<DateTime> {
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
    now: chrono::DateTime<Utc>,
}

/// The attendance board of one day: everybody the viewer may see, with counts by status.
#[Object]
impl AttendanceBoard {
    /// The day asked for (today's UTC date when each person's current day is shown).
    async fn day(&self) -> Date {
        self.day.unwrap_or_else(|| self.now.date_naive()).into()
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
        self.scan(ctx.use_cases::<UseCases>()?, everyone, |entry| {
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
        #[graphql(desc = "Only the people in one of these statuses; everybody when omitted.")]
        status: Option<Vec<AttendanceStatus>>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, BoardEntry, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = match status {
            Some(wanted) => BoardFilter::Statuses(wanted.into_iter().map(Into::into).collect()),
            None => BoardFilter::All,
        };
        self.page(ctx.use_cases::<UseCases>()?, &page, &filter)
            .await
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
        let visible = ctx
            .use_cases::<UseCases>()?
            .visible_employee_ids(&viewer)
            .await?;
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
        #[graphql(desc = "The location and its geofence.")] input: CreateLocationInput,
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
            ctx.use_cases::<UseCases>()?
                .create_location(&tenant, name.as_str(), fence)
                .await?,
        )))
    }

    /// Assigns an employee the work location whose geofence every punch of theirs is checked
    /// against, also a punch that names no location (`locationId: null` clears it); publishes
    /// `employee.location_assigned`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn assign_employee_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee and their location.")] input: AssignEmployeeLocationInput,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let model = ctx
            .use_cases::<UseCases>()?
            .assign_location(
                &tenant,
                &actor,
                &input.employee_id,
                input.location_id.as_ref().map(|id| id.0.as_str()),
            )
            .await?;
        Ok(Some(Employee(model)))
    }

    /// Creates a shift; publishes `shift.created`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_shift(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shift's times, thresholds, working days and time zone.")]
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
        #[graphql(desc = "The shift, who works it, and from which day.")] input: AssignShiftInput,
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
        #[graphql(desc = "The day, the corrected times and why.")] input: RequestCorrectionInput,
    ) -> Result<Option<AttendanceCorrection>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let reason = parse_reason("reason", &input.reason)?;
        let request = CorrectionRequest {
            day: input.day.into(),
            kind: input.kind.as_str(),
            check_in: input.check_in.into(),
            check_out: input.check_out.into(),
            reason,
        };
        let model = ctx
            .use_cases::<UseCases>()?
            .request_correction(&tenant, &claims.sub, request)
            .await?;
        Ok(Some(AttendanceCorrection(model)))
    }

    /// Approves a pending correction: the day's punches are replaced by the corrected ones
    /// (the old ones kept, voided) and `attendance.corrected` is published, in one
    /// transaction. FORBIDDEN with `extensions.reason` SELF_APPROVAL for one's own request or
    /// NOT_APPROVER for someone neither above the employee nor HR; CONFLICT with
    /// ALREADY_DECIDED once decided.
    #[graphql(
        requires_scopes = "attendance:read",
        requires_scopes = "hr:admin",
        deprecation = "use `decideAttendanceCorrection` with `decision: APPROVE`"
    )]
    async fn approve_attendance_correction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The correction.")] id: ID,
        #[graphql(desc = "A note for the employee (3 to 500 characters).")] note: Option<String>,
    ) -> Result<Option<AttendanceCorrection>> {
        decide(ctx, id, true, note).await
    }

    /// Rejects a pending correction; publishes `attendance.correction_rejected`. The same
    /// rules as approving.
    #[graphql(
        requires_scopes = "attendance:read",
        requires_scopes = "hr:admin",
        deprecation = "use `decideAttendanceCorrection` with `decision: REJECT`"
    )]
    async fn reject_attendance_correction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The correction.")] id: ID,
        #[graphql(desc = "Why (3 to 500 characters).")] note: Option<String>,
    ) -> Result<Option<AttendanceCorrection>> {
        decide(ctx, id, false, note).await
    }

    /// Approves or rejects a pending correction. Approving replaces the day's punches by the
    /// corrected ones (the old ones kept, voided) and publishes `attendance.corrected`, in one
    /// transaction; rejecting publishes `attendance.correction_rejected`. FORBIDDEN with
    /// `extensions.reason` SELF_APPROVAL for one's own request or NOT_APPROVER for someone
    /// neither above the employee nor HR; CONFLICT with ALREADY_DECIDED once decided.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn decide_attendance_correction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The correction and the decision.")]
        input: DecideAttendanceCorrectionInput,
    ) -> Result<Option<AttendanceCorrection>> {
        let approve = input.decision == ApprovalDecision::Approve;
        decide(ctx, input.correction_id, approve, input.note).await
    }

    /// Closes an employee's month of attendance once its last day is over, approving it for
    /// payroll: the minutes worked and the overtime computed from its days are recorded and
    /// published (`attendance.period_closed`), in one transaction; the period's days are no
    /// longer corrected. FORBIDDEN with `extensions.reason` SELF_APPROVAL for one's own period
    /// or NOT_APPROVER for someone neither above the employee nor HR; CONFLICT with
    /// ATTENDANCE_PERIOD_CLOSED once closed; BAD_USER_INPUT with PERIOD_NOT_OVER before its
    /// last day is over.
    #[graphql(requires_scopes = "attendance:read", requires_scopes = "hr:admin")]
    async fn close_attendance_period(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee and the month.")] input: CloseAttendancePeriodInput,
    ) -> Result<ClosedAttendancePeriod> {
        let viewer = viewer(ctx).await?;
        let approver = Approver {
            user_id: &viewer.user_id,
            employee_id: viewer.employee_id(),
            hr_admin: viewer.hr_admin,
        };
        let closed = ctx
            .use_cases::<UseCases>()?
            .close_attendance_period(&viewer.tenant, &approver, &input.employee_id, &input.period)
            .await?;
        Ok(ClosedAttendancePeriod(closed))
    }

    /// Closes a month of attendance for every employee of a department, or of the whole
    /// company without `departmentId`, in one go (HR): each employee employed in the month is
    /// closed as `closeAttendancePeriod` closes one (the same minutes, one
    /// `attendance.period_closed` per employee-month, all in one transaction) or reported in
    /// `skipped` with the rule that kept it open. Rerunning it closes only what is still open.
    /// BAD_USER_INPUT for a bad month or an unknown department.
    #[graphql(requires_scopes = "hr:admin")]
    async fn close_attendance_periods(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The month, and the department (none: the whole company).")]
        input: CloseAttendancePeriodsInput,
    ) -> Result<AttendancePeriodsClosing> {
        let viewer = viewer(ctx).await?;
        let approver = Approver {
            user_id: &viewer.user_id,
            employee_id: viewer.employee_id(),
            hr_admin: viewer.hr_admin,
        };
        let closing = ctx
            .use_cases::<UseCases>()?
            .close_attendance_periods(
                &viewer.tenant,
                &approver,
                input.department_id.as_ref().map(|id| id.as_str()),
                &input.period,
            )
            .await?;
        Ok(AttendancePeriodsClosing(closing))
    }

    /// Corrects one day of an employee's month of attendance that is closed (approved for
    /// payroll, possibly paid already): an attendance admin's decision with a reason. The
    /// day's punches are replaced by the corrected check-in and check-out (the old ones kept,
    /// voided), the period's totals move by the day's difference and
    /// `attendance.period_adjusted` is published, in one transaction; payroll settles the
    /// overtime difference on its next regular run, as a line labelled with the month (a
    /// recovery when overtime was taken away), never by changing the posted slip.
    /// FORBIDDEN with SELF_APPROVAL for one's own attendance; CONFLICT with
    /// ATTENDANCE_PERIOD_OPEN when the day's month is not closed (a correction request is
    /// the way); BAD_USER_INPUT for a reason shorter than 3 characters, a day in the future,
    /// or times outside the day or out of order; NOT_FOUND for an unknown employee.
    #[graphql(requires_scopes = "attendance:admin")]
    async fn adjust_closed_attendance_day(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, the day, the corrected times and why.")]
        input: AdjustClosedAttendanceDayInput,
    ) -> Result<AttendanceAdjustment> {
        let reason = parse_reason("reason", &input.reason)?;
        let viewer = viewer(ctx).await?;
        let approver = Approver {
            user_id: &viewer.user_id,
            employee_id: viewer.employee_id(),
            hr_admin: viewer.hr_admin,
        };
        let adjusted = ctx
            .use_cases::<UseCases>()?
            .adjust_closed_day(
                &viewer.tenant,
                &approver,
                AdjustmentRequest {
                    employee_id: input.employee_id.to_string(),
                    day: input.day.into(),
                    check_in: input.check_in.into(),
                    check_out: input.check_out.into(),
                    reason,
                },
            )
            .await?;
        Ok(AttendanceAdjustment(adjusted))
    }
}

/// An authorised correction of one day of a closed month.
#[derive(InputObject)]
pub struct AdjustClosedAttendanceDayInput {
    /// The employee.
    pub employee_id: ID,
    /// The attendance day, in a month closed for the employee.
    pub day: Date,
    /// The corrected check-in, inside the day.
    pub check_in: DateTime,
    /// The corrected check-out, after the check-in, inside the day, not in the future.
    pub check_out: DateTime,
    /// Why (3 to 500 characters): kept with the adjustment, never published.
    pub reason: String,
}

/// An authorised correction of one day of a closed month, and what it changed.
pub struct AttendanceAdjustment(attendance_adjustment::Model);

/// An authorised correction of one day of a closed month, and what it changed.
#[Object]
impl AttendanceAdjustment {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The employee.
    async fn employee_id(&self) -> ID {
        ID(self.0.employee_id.clone())
    }

    /// The closed month, `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }

    /// The day corrected.
    async fn day(&self) -> Option<Date> {
        self.0.day.parse::<NaiveDate>().ok().map(Date::from)
    }

    /// The corrected check-in.
    async fn check_in(&self) -> DateTime {
        millis(self.0.check_in_at)
    }

    /// The corrected check-out.
    async fn check_out(&self) -> DateTime {
        millis(self.0.check_out_at)
    }

    /// Why.
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The month's adjustment number: 1 for the first, then 2, ...
    async fn revision(&self) -> i64 {
        self.0.revision
    }

    /// Minutes worked on the day before the adjustment.
    async fn day_worked_minutes_before(&self) -> i64 {
        self.0.day_worked_before
    }

    /// Minutes worked on the day after the adjustment.
    async fn day_worked_minutes_after(&self) -> i64 {
        self.0.day_worked_after
    }

    /// Overtime minutes of the day before the adjustment.
    async fn day_overtime_minutes_before(&self) -> i64 {
        self.0.day_overtime_before
    }

    /// Overtime minutes of the day after the adjustment.
    async fn day_overtime_minutes_after(&self) -> i64 {
        self.0.day_overtime_after
    }

    /// The month's minutes worked, after the adjustment.
    async fn worked_minutes(&self) -> i64 {
        self.0.period_worked_minutes
    }

    /// The month's overtime, after the adjustment (what payroll now pays for the month).
    async fn overtime_minutes(&self) -> i64 {
        self.0.period_overtime_minutes
    }

    /// The attendance admin who made it.
    async fn adjusted_by(&self) -> ID {
        ID(self.0.adjusted_by.clone())
    }

    /// When.
    async fn adjusted_at(&self) -> DateTime {
        millis(self.0.adjusted_at)
    }
}

/// The month of attendance to close for many employees.
#[derive(InputObject)]
pub struct CloseAttendancePeriodsInput {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Only this department's employees; none: the whole company.
    pub department_id: Option<ID>,
}

/// What a bulk close of a month did.
pub struct AttendancePeriodsClosing(PeriodsClosing);

/// What a bulk close of a month did: the periods it closed and those it left open, and why.
#[Object]
impl AttendancePeriodsClosing {
    /// `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }

    /// The periods this close closed, by employee id.
    async fn closed(&self) -> Vec<ClosedAttendancePeriod> {
        self.0
            .closed
            .iter()
            .cloned()
            .map(ClosedAttendancePeriod)
            .collect()
    }

    /// The employees whose period it left open, by employee id, each with why.
    async fn skipped(&self) -> Vec<SkippedAttendancePeriod> {
        self.0
            .skipped
            .iter()
            .map(|s| SkippedAttendancePeriod {
                employee_id: ID(s.employee_id.clone()),
                reason: PeriodSkipReason::of(&s.rule),
                message: s.rule.message(),
            })
            .collect()
    }
}

/// An employee's period a bulk close left open.
#[derive(SimpleObject)]
pub struct SkippedAttendancePeriod {
    /// The employee.
    pub employee_id: ID,
    /// Why (the `extensions.reason` closing it alone would have been refused with).
    pub reason: PeriodSkipReason,
    /// The same, for people.
    pub message: String,
}

/// Why a bulk close left an employee's period open.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PeriodSkipReason {
    /// The period is closed already (by an earlier close, or a concurrent one).
    AttendancePeriodClosed,
    /// The month's last day is not over yet.
    PeriodNotOver,
    /// It is the caller's own period: nobody closes their own.
    SelfApproval,
}

impl PeriodSkipReason {
    fn of(rule: &AttendanceRule) -> Self {
        match rule {
            AttendanceRule::PeriodNotOver { .. } => PeriodSkipReason::PeriodNotOver,
            AttendanceRule::SelfClose => PeriodSkipReason::SelfApproval,
            _ => PeriodSkipReason::AttendancePeriodClosed,
        }
    }
}

/// The month of attendance to close.
#[derive(InputObject)]
pub struct CloseAttendancePeriodInput {
    /// The employee.
    pub employee_id: ID,
    /// The month, `YYYY-MM`.
    pub period: String,
}

/// An employee's closed month of attendance (approved for payroll).
pub struct ClosedAttendancePeriod(attendance_period::Model);

/// An employee's closed month of attendance (approved for payroll).
#[Object]
impl ClosedAttendancePeriod {
    /// The employee.
    async fn employee_id(&self) -> ID {
        ID(self.0.employee_id.clone())
    }

    /// `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }

    /// Minutes worked in the period's days.
    async fn worked_minutes(&self) -> i64 {
        self.0.worked_minutes
    }

    /// Overtime: on a working day of the shift, the time beyond its length; on its day off, all
    /// of it; without a shift, the time beyond 8 hours a day.
    async fn overtime_minutes(&self) -> i64 {
        self.0.overtime_minutes
    }

    /// The user who closed it.
    async fn closed_by(&self) -> ID {
        ID(self.0.closed_by.clone())
    }

    /// When it was closed.
    async fn closed_at(&self) -> DateTime {
        millis(self.0.closed_at)
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
    let (decided, _) = ctx
        .use_cases::<UseCases>()?
        .decide_correction(&viewer.tenant, &approver, &id, approve, note)
        .await?;
    Ok(Some(AttendanceCorrection(decided)))
}

/// The decision on a pending attendance correction.
#[derive(InputObject)]
pub struct DecideAttendanceCorrectionInput {
    /// The correction.
    pub correction_id: ID,
    /// Approve or reject it.
    pub decision: ApprovalDecision,
    /// A note for the employee (3 to 500 characters), e.g. why it was rejected.
    pub note: Option<String>,
}

/// A requested correction of one day.
#[derive(InputObject)]
pub struct RequestCorrectionInput {
    /// The attendance day to correct (at most 90 days back, not in the future).
    pub day: Date,
    /// What it fixes.
    pub kind: CorrectionKind,
    /// The corrected check-in, inside the day.
    pub check_in: DateTime,
    /// The corrected check-out, after the check-in, inside the day, not in the future.
    pub check_out: DateTime,
    /// Why (3 to 500 characters).
    pub reason: String,
}

/// A check-in or check-out as a live board shows it (read from the live channel).
#[derive(serde::Deserialize)]
pub struct AttendanceEvent {
    punch_id: String,
    employee_id: String,
    department_id: Option<String>,
    /// `in` or `out`.
    kind: String,
    /// Unix milliseconds.
    at: i64,
}

/// A check-in or check-out as a live board shows it.
#[Object]
impl AttendanceEvent {
    /// The punch.
    async fn punch_id(&self) -> ID {
        ID(self.punch_id.clone())
    }
    /// Who.
    async fn employee_id(&self) -> ID {
        ID(self.employee_id.clone())
    }
    /// Who (batched).
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.employee_id).await
    }
    /// Their department, if any.
    async fn department_id(&self) -> Option<ID> {
        self.department_id.clone().map(ID)
    }
    /// Their department, if any (batched).
    async fn department(&self, ctx: &Context<'_>) -> Result<Option<Department>> {
        match &self.department_id {
            Some(id) => load_department(ctx, id).await,
            None => Ok(None),
        }
    }
    /// `in` or `out`, in lower case.
    #[graphql(deprecation = "use `punchKind` (`IN` or `OUT`, as `Punch.kind`)")]
    async fn kind(&self) -> &str {
        &self.kind
    }
    /// A check-in or a check-out.
    async fn punch_kind(&self) -> PunchDirection {
        PunchKind::from_db(&self.kind).into()
    }
    /// Server time, as Unix milliseconds: past the 32-bit range of a GraphQL `Int`, so
    /// clients that read `Int` as 32 bits fail on it.
    #[graphql(deprecation = "use `occurredAt` (a DateTime)")]
    async fn at(&self) -> i64 {
        self.at
    }
    /// Server time of the punch.
    async fn occurred_at(&self) -> DateTime {
        millis(self.at)
    }
}

/// What changed a person's day on the HR board.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AttendanceChangeKind {
    /// A check-in.
    In,
    /// A check-out.
    Out,
    /// An approved correction replaced the day's punches.
    Correction,
}

impl AttendanceChangeKind {
    fn from_live(kind: &str) -> Option<Self> {
        match kind {
            "in" => Some(AttendanceChangeKind::In),
            "out" => Some(AttendanceChangeKind::Out),
            "correction" => Some(AttendanceChangeKind::Correction),
            _ => None,
        }
    }
}

/// A person's new status, as the HR board shows it after each punch or applied correction
/// (read from the live channel).
#[derive(serde::Deserialize)]
pub struct AttendanceStatusUpdate {
    employee_id: String,
    #[serde(default)]
    display_name: String,
    department_id: Option<String>,
    /// `in`, `out` or `correction`.
    kind: String,
    /// Unix milliseconds.
    at: i64,
    day: NaiveDate,
    status: String,
    late_minutes: i64,
    worked_minutes: i64,
    checked_in: bool,
}

/// A person's new status, as the HR board shows it after each punch or applied correction.
#[Object]
impl AttendanceStatusUpdate {
    /// Who.
    async fn employee_id(&self) -> ID {
        ID(self.employee_id.clone())
    }
    /// Who (batched).
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.employee_id).await
    }
    /// Their name.
    async fn display_name(&self) -> &str {
        &self.display_name
    }
    /// Their department, if any.
    async fn department_id(&self) -> Option<ID> {
        self.department_id.clone().map(ID)
    }
    /// Their department, if any (batched).
    async fn department(&self, ctx: &Context<'_>) -> Result<Option<Department>> {
        match &self.department_id {
            Some(id) => load_department(ctx, id).await,
            None => Ok(None),
        }
    }
    /// What happened, in lower case: `in`, `out` or `correction`.
    #[graphql(deprecation = "use `change` (the AttendanceChangeKind enum)")]
    async fn kind(&self) -> &str {
        &self.kind
    }
    /// What happened: a check-in, a check-out or an applied correction.
    async fn change(&self) -> Result<AttendanceChangeKind> {
        AttendanceChangeKind::from_live(&self.kind).ok_or_else(|| {
            ApiError::internal(format!("a live update of the kind `{}`", self.kind)).into()
        })
    }
    /// Server time of the change, as Unix milliseconds: past the 32-bit range of a GraphQL
    /// `Int`, so clients that read `Int` as 32 bits fail on it.
    #[graphql(deprecation = "use `occurredAt` (a DateTime)")]
    async fn at(&self) -> i64 {
        self.at
    }
    /// Server time of the change.
    async fn occurred_at(&self) -> DateTime {
        millis(self.at)
    }
    /// The attendance day it changed.
    async fn day(&self) -> Date {
        self.day.into()
    }
    /// Minutes late past the grace window (0 when on time).
    async fn late_minutes(&self) -> i64 {
        self.late_minutes
    }
    /// Minutes worked so far.
    async fn worked_minutes(&self) -> i64 {
        self.worked_minutes
    }
    /// True while checked in.
    async fn checked_in(&self) -> bool {
        self.checked_in
    }
    /// The status now.
    async fn status(&self) -> Option<AttendanceStatus> {
        status_from_str(&self.status).map(Into::into)
    }
}

#[derive(Default)]
pub struct AttendanceSubscription;

#[async_graphql::Subscription]
impl AttendanceSubscription {
    /// The check-ins and check-outs the viewer may see (HR: the tenant's; a manager: their
    /// direct and indirect reports', as `whoIsIn` shows them; everyone: their own), or of one
    /// department, as they happen, from every replica (Redis pub/sub). The subscriber's token
    /// and their standing to each punch's employee are checked again before each event, so the
    /// stream follows changes to the reporting line. FORBIDDEN (NO_EMPLOYEE_RECORD) without an
    /// HR scope or an employee record.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["attendance:read".into()]]))]
    async fn attendance_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this department's punches.")] department_id: Option<ID>,
    ) -> Result<impl futures::Stream<Item = Result<AttendanceEvent>>> {
        use futures::StreamExt;
        let identity = ctx.identity().clone();
        let viewer = viewer(ctx).await?;
        let use_cases = ctx.use_cases::<UseCases>()?.clone();
        // The same refusal as `whoIsIn` for a viewer who may see nobody's board.
        use_cases.visible_employee_ids(&viewer).await?;
        let messages = use_cases.attendance_updates(&viewer.tenant).await?;
        let events = messages
            .filter_map(move |bytes| {
                let wanted = department_id.clone();
                let use_cases = use_cases.clone();
                let viewer = viewer.clone();
                async move {
                    let event: AttendanceEvent = serde_json::from_slice(&bytes).ok()?;
                    if event.kind != "in" && event.kind != "out" {
                        return None;
                    }
                    if let Some(department) = &wanted {
                        if event.department_id.as_deref() != Some(department.as_str()) {
                            return None;
                        }
                    }
                    match use_cases
                        .sees_attendance_of(&viewer, &event.employee_id)
                        .await
                    {
                        Ok(true) => Some(event),
                        Ok(false) => None,
                        // Fail closed: a punch whose visibility cannot be read is not shown.
                        Err(err) => {
                            tracing::warn!(error = ?err, "attendance board: visibility check failed");
                            None
                        }
                    }
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, events))
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
        #[graphql(desc = "Only this department's people.")] department_id: Option<ID>,
    ) -> Result<impl futures::Stream<Item = Result<AttendanceStatusUpdate>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let messages = ctx
            .use_cases::<UseCases>()?
            .attendance_updates(&tenant)
            .await?;
        let updates = messages
            .filter_map(move |bytes| {
                let wanted = department_id.clone();
                async move {
                    let update: AttendanceStatusUpdate = serde_json::from_slice(&bytes).ok()?;
                    match &wanted {
                        Some(department)
                            if update.department_id.as_deref() != Some(department.as_str()) =>
                        {
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
    pub effective_from: Date,
}

/// A shift assigned to an employee or a department.
pub struct ShiftAssignment(pub shift_assignment::Model);

/// A shift assigned to an employee, or as the default of a department's employees without
/// their own, from a day on.
#[Object]
impl ShiftAssignment {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The shift.
    async fn shift(&self, ctx: &Context<'_>) -> Result<Option<Shift>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .shift(&tenant, &self.0.shift_id)
            .await?
            .map(Shift))
    }
    /// The employee, when assigned to one.
    async fn employee_id(&self) -> Option<ID> {
        (self.0.target_kind == "employee").then(|| ID(self.0.target_id.clone()))
    }
    /// The employee, when assigned to one (batched).
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        if self.0.target_kind != "employee" {
            return Ok(None);
        }
        load_employee(ctx, &self.0.target_id).await
    }
    /// The department, when it is a department's default.
    async fn department_id(&self) -> Option<ID> {
        (self.0.target_kind == "department").then(|| ID(self.0.target_id.clone()))
    }
    /// The department, when it is a department's default (batched).
    async fn department(&self, ctx: &Context<'_>) -> Result<Option<Department>> {
        if self.0.target_kind != "department" {
            return Ok(None);
        }
        load_department(ctx, &self.0.target_id).await
    }
    /// The first day it applies.
    async fn effective_from(&self) -> Result<Date> {
        Date::parse(&self.0.effective_from).ok_or_else(|| {
            ApiError::internal(format!(
                "a shift assignment starts on `{}`",
                self.0.effective_from
            ))
            .into()
        })
    }
}

/// `assignShift`.
pub async fn assign_shift(
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
    let model = ctx
        .use_cases::<UseCases>()?
        .assign_shift(
            &tenant,
            &actor,
            &input.shift_id,
            &target,
            input.effective_from.into(),
        )
        .await?;
    Ok(Some(ShiftAssignment(model)))
}
