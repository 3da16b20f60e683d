//! Shifts and the computed day: the `Shift` type and its assignment, a person's
//! `AttendanceDay` with its punches, and the resolvers' parts that create and assign shifts.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, TimeZone, Utc, Weekday};

use erp_kit::{ApiError, RequestContext, TenantId};

use super::context::use_cases;
use super::loaders::{ShiftKey, ShiftLoader};
use crate::app::shift::{AppliedShift, ComputedDay};
use crate::domain::attendance::PunchKind;
use crate::domain::shift::{
    attendance_day, DayStatus, ShiftInput, ShiftRules, ShiftTarget, WorkingDays,
};
use crate::domain::DisplayName;
use crate::store::entities::{employee, punch, shift, shift_assignment};

pub(crate) fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
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

/// The current attendance day of an employee (a night shift's day lasts past midnight).
pub async fn current_day(
    ctx: &Context<'_>,
    tenant: &TenantId,
    employee: &employee::Model,
) -> Result<NaiveDate> {
    let now = Utc::now();
    let shift = shift_on(ctx, tenant, employee, now.date_naive()).await?;
    Ok(attendance_day(shift.as_ref().map(|s| &s.rules), now))
}

/// The shift that applies to `employee` on `day`, through the batching [`ShiftLoader`].
pub async fn shift_on(
    ctx: &Context<'_>,
    tenant: &TenantId,
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
        Ok(use_cases(ctx)?
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

/// `createShift`.
pub async fn create_shift(ctx: &Context<'_>, input: CreateShiftInput) -> Result<Option<Shift>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    let name = DisplayName::parse("name", &input.name)?;
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
        use_cases(ctx)?
            .create_shift(&tenant, &actor, name.as_str(), &rules)
            .await?,
    )))
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
    let model = use_cases(ctx)?
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
