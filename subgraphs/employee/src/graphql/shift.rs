//! Shifts and the computed day: the `Shift` type and its assignment, a person's
//! `AttendanceDay` with its punches, the resolvers' parts that create and assign shifts, and
//! the check-in / check-out mutations beside the `Punch` they answer (graphql/people.rs shows
//! these objects on an `Employee`, so they sit below graphql/attendance.rs).

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{NaiveDate, Utc, Weekday};

use erp_kit::scalars::{Date, DateTime, TimeOfDay, TimeZone};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::loaders::{LocationLoader, ShiftKey, ShiftLoader};
use crate::app::attendance::{AppliedShift, ComputedDay, PunchRequest};
use crate::app::Employee as UseCases;
use crate::domain::attendance::{attendance_day, DayStatus, ShiftInput, ShiftRules, WorkingDays};
use crate::domain::attendance::{GeoPoint, PunchKind};
use crate::domain::DisplayName;
use crate::store::attendance::{location, punch, shift};
use crate::store::entities::employee;

/// A stored instant (Unix milliseconds) as the API shows it.
pub(crate) fn millis(ms: i64) -> DateTime {
    DateTime::from_millis(ms).unwrap_or_default()
}

/// Whether a punch checks in or out.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "PunchKind", remote = "PunchKind")]
pub enum PunchDirection {
    /// A check-in.
    In,
    /// A check-out.
    Out,
}

/// A check-in or check-out.
pub struct Punch(pub punch::Model);

/// A check-in or check-out as recorded: when, from where, and the device's idempotency key.
#[Object]
impl Punch {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// A check-in or a check-out.
    #[graphql(name = "kind")]
    async fn direction(&self) -> PunchDirection {
        PunchKind::from_db(&self.0.kind).into()
    }
    /// Server time of the punch.
    async fn at(&self) -> DateTime {
        millis(self.0.at)
    }
    /// Where the punch came from, in lower case: `web`, `mobile` or `kiosk`.
    #[graphql(deprecation = "use `origin` (the PunchSource enum, as PunchInput.source takes it)")]
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// Where the punch came from: the same `PunchSource` the check-in gave.
    async fn origin(&self) -> Result<PunchSource> {
        PunchSource::from_db(&self.0.source).ok_or_else(|| {
            ApiError::internal(format!(
                "a punch has the unknown source `{}`",
                self.0.source
            ))
            .into()
        })
    }
    /// The location whose geofence it was checked against, if any.
    async fn location_id(&self) -> Option<ID> {
        self.0.location_id.clone().map(ID)
    }
    /// The location whose geofence it was checked against, if any (batched).
    async fn location(&self, ctx: &Context<'_>) -> Result<Option<Location>> {
        let Some(location_id) = &self.0.location_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<LocationLoader>>()
            .load_one(erp_kit::loaders::TenantKey::new(&tenant, location_id))
            .await?
            .map(Location))
    }
    /// The client's idempotency key.
    async fn punch_key(&self) -> &str {
        &self.0.punch_key
    }
}

/// A work location whose geofence check-ins must fall within.
pub struct Location(pub location::Model);

/// A work location: a named place with a geofence (a circle) that check-ins naming it must
/// fall within.
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
    /// How the database stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            PunchSource::Web => "web",
            PunchSource::Mobile => "mobile",
            PunchSource::Kiosk => "kiosk",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [PunchSource::Web, PunchSource::Mobile, PunchSource::Kiosk]
            .into_iter()
            .find(|source| source.as_str() == value)
    }
}

/// One person's attendance on one day, computed from the punches and the shift that applies.
#[derive(SimpleObject)]
pub struct AttendanceDay {
    /// The attendance day (the shift's day in its time zone; the UTC date without a shift).
    pub day: Date,
    /// How the day went.
    pub status: AttendanceStatus,
    /// First check-in.
    pub first_in: Option<DateTime>,
    /// Last check-out.
    pub last_out: Option<DateTime>,
    /// Minutes worked (an open check-in counts until now while the day lasts).
    pub worked_minutes: i64,
    /// Minutes after the shift's start of a check-in past the grace window (0 otherwise).
    pub late_minutes: i64,
    /// The day is over and the last punch is a check-in: request a correction.
    pub missing_check_out: bool,
    /// True while checked in.
    pub checked_in: bool,
    /// When the shift starts, if a shift applies.
    pub shift_start: Option<DateTime>,
    /// When the shift ends, if a shift applies.
    pub shift_end: Option<DateTime>,
    /// The shift the day was computed under.
    pub shift: Option<Shift>,
    /// The punches counted, in time order (punches replaced by a correction are left out).
    pub punches: Vec<Punch>,
}

impl From<ComputedDay> for AttendanceDay {
    fn from(computed: ComputedDay) -> Self {
        let a = computed.attendance;
        Self {
            day: a.day.into(),
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

/// A shift: when work starts and ends, the grace window, the day thresholds and the days it
/// is worked, in the time zone of its location.
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
    /// Start, wall clock in `timeZone`.
    async fn start_time(&self) -> Result<TimeOfDay> {
        stored_time(&self.0.start_time)
    }
    /// End, wall clock in `timeZone` (before the start: the next day).
    async fn end_time(&self) -> Result<TimeOfDay> {
        stored_time(&self.0.end_time)
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
    /// The time zone of the shift's location.
    async fn time_zone(&self) -> Result<TimeZone> {
        TimeZone::parse(&self.0.time_zone).ok_or_else(|| {
            ApiError::internal(format!(
                "a shift has the unknown time zone `{}`",
                self.0.time_zone
            ))
            .into()
        })
    }
}

/// A shift's stored `HH:MM`.
fn stored_time(text: &str) -> Result<TimeOfDay> {
    TimeOfDay::parse(text)
        .ok_or_else(|| ApiError::internal(format!("a shift has the time `{text}`")).into())
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
    /// Start, wall clock in `timeZone`, e.g. `09:00`.
    pub start_time: TimeOfDay,
    /// End, wall clock in `timeZone`; before the start means the next day (a night shift),
    /// never equal to the start.
    pub end_time: TimeOfDay,
    /// Minutes after the start a check-in still counts as on time (0 to 240).
    pub grace_minutes: i32,
    /// Worked minutes below this make a finished day absent (half the full day by default).
    pub half_day_minutes: Option<i32>,
    /// Worked minutes below this make a finished day a half-day (the shift's length by
    /// default).
    pub full_day_minutes: Option<i32>,
    /// The days the shift is worked (at least one).
    pub working_days: Vec<DayOfWeek>,
    /// The time zone of the location, e.g. `Asia/Kolkata`.
    pub time_zone: TimeZone,
}

/// `createShift`.
pub async fn create_shift(ctx: &Context<'_>, input: CreateShiftInput) -> Result<Option<Shift>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    let name = DisplayName::parse("name", &input.name)?;
    let days: Vec<Weekday> = input.working_days.iter().map(|d| (*d).into()).collect();
    let start = input.start_time.to_string();
    let end = input.end_time.to_string();
    let rules = ShiftRules::parse(&ShiftInput {
        start: &start,
        end: &end,
        grace_minutes: input.grace_minutes,
        half_day_minutes: input.half_day_minutes,
        full_day_minutes: input.full_day_minutes,
        working_days: &days,
        time_zone: input.time_zone.name(),
    })?;
    Ok(Some(Shift(
        ctx.use_cases::<UseCases>()?
            .create_shift(&tenant, &actor, name.as_str(), &rules)
            .await?,
    )))
}

// The check-in and check-out, beside the `Punch` they answer (their mutations are the last
// fields of the attendance mutations in the schema).

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
    /// The location whose geofence the device must be in (the person's assigned location
    /// when omitted and they have one).
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
pub struct PunchMutation;

#[Object]
impl PunchMutation {
    /// Checks the caller in; publishes `attendance.checked_in` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The punch: its key, source and (for a geofenced location) position.")]
        input: PunchInput,
    ) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::In, input).await
    }

    /// Checks the caller out; publishes `attendance.checked_out` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The punch: its key, source and (for a geofenced location) position.")]
        input: PunchInput,
    ) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::Out, input).await
    }
}

async fn punch(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<Option<Punch>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let request = punch_request(ctx, kind, input)?;
    let (punch, _) = ctx
        .use_cases::<UseCases>()?
        .record_punch(&tenant, &claims.sub, request)
        .await?;
    Ok(Some(Punch(punch)))
}
