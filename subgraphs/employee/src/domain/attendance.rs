//! Attendance rules: geofences, punches that alternate in / out, and who decides a
//! correction of a day.
//!
//! Shifts, grace windows and the daily attendance computed from a day's punches.
//!
//! An attendance day of a shift runs from 6 hours before the shift's start to 18 hours after
//! it (24 hours in all), in the shift's time zone. Every instant belongs to exactly one
//! attendance day, so a night shift that crosses midnight is one day, not two halves.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use erp_kit::{ApiError, Reason, RuleViolation};

use super::reasons;

/// An attendance rule a punch or a correction broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendanceRule {
    /// A check-in while checked in.
    AlreadyCheckedIn,
    /// A check-out while not checked in.
    NotCheckedIn,
    /// The punch key was used for another punch (another person's, or the other kind).
    PunchKeyReused,
    /// A concurrent request is recording the same punch.
    PunchInProgress,
    /// The device is outside the geofence of the location named.
    OutsideGeofence { location: String },
    /// A correction of the day is already waiting for a decision.
    CorrectionPending { day: String },
    /// Nobody decides their own correction.
    SelfApproval,
    /// Only a manager above the employee or HR decides their corrections.
    NotApprover,
    /// The correction is not pending any more.
    AlreadyDecided { status: String },
    /// Another decision of the correction won the race.
    DecidedMeanwhile,
    /// The employee's attendance of the period is closed already.
    PeriodClosed { period: String },
    /// The period's last day is not over yet.
    PeriodNotOver { period: String },
    /// Nobody closes their own attendance period.
    SelfClose,
    /// Only a manager above the employee or HR closes their attendance period.
    NotPeriodCloser,
    /// An adjustment is for a day of a closed period; this one is open (a correction
    /// request is the way).
    PeriodOpen { period: String },
    /// Nobody adjusts their own closed attendance.
    SelfAdjustment,
}

impl RuleViolation for AttendanceRule {
    fn reason(&self) -> Reason {
        match self {
            AttendanceRule::AlreadyCheckedIn => reasons::ALREADY_CHECKED_IN,
            AttendanceRule::NotCheckedIn => reasons::NOT_CHECKED_IN,
            AttendanceRule::PunchKeyReused => reasons::PUNCH_KEY_REUSED,
            AttendanceRule::PunchInProgress => reasons::PUNCH_IN_PROGRESS,
            AttendanceRule::OutsideGeofence { .. } => reasons::OUTSIDE_GEOFENCE,
            AttendanceRule::CorrectionPending { .. } => reasons::CORRECTION_PENDING,
            AttendanceRule::SelfApproval => reasons::SELF_APPROVAL,
            AttendanceRule::NotApprover => reasons::NOT_APPROVER,
            AttendanceRule::AlreadyDecided { .. } | AttendanceRule::DecidedMeanwhile => {
                reasons::ALREADY_DECIDED
            }
            AttendanceRule::PeriodClosed { .. } => reasons::ATTENDANCE_PERIOD_CLOSED,
            AttendanceRule::PeriodNotOver { .. } => reasons::PERIOD_NOT_OVER,
            AttendanceRule::SelfClose => reasons::SELF_APPROVAL,
            AttendanceRule::NotPeriodCloser => reasons::NOT_APPROVER,
            AttendanceRule::PeriodOpen { .. } => reasons::ATTENDANCE_PERIOD_OPEN,
            AttendanceRule::SelfAdjustment => reasons::SELF_APPROVAL,
        }
    }

    fn message(&self) -> String {
        match self {
            AttendanceRule::AlreadyCheckedIn => "already checked in".into(),
            AttendanceRule::NotCheckedIn => "not checked in".into(),
            AttendanceRule::PunchKeyReused => "this punch key was used for another punch".into(),
            AttendanceRule::PunchInProgress => "this punch is being recorded already".into(),
            AttendanceRule::OutsideGeofence { location } => {
                format!("the device is outside the geofence of `{location}`")
            }
            AttendanceRule::CorrectionPending { day } => {
                format!("a correction of {day} is already waiting for a decision")
            }
            AttendanceRule::SelfApproval => "nobody decides their own attendance correction".into(),
            AttendanceRule::NotApprover => {
                "only the employee's managers or HR decide their corrections".into()
            }
            AttendanceRule::AlreadyDecided { status } => {
                format!("the correction is already {status}")
            }
            AttendanceRule::DecidedMeanwhile => "the correction was decided meanwhile".into(),
            AttendanceRule::PeriodClosed { period } => {
                format!("the attendance of {period} is closed")
            }
            AttendanceRule::PeriodNotOver { period } => {
                format!("{period} is not over yet: its attendance is closed after its last day")
            }
            AttendanceRule::SelfClose => "nobody closes their own attendance period".into(),
            AttendanceRule::NotPeriodCloser => {
                "only the employee's managers or HR close their attendance period".into()
            }
            AttendanceRule::PeriodOpen { period } => format!(
                "the attendance of {period} is not closed: ask for a correction of the day instead"
            ),
            AttendanceRule::SelfAdjustment => "nobody adjusts their own closed attendance".into(),
        }
    }
}

/// Whether a correction's decider may decide it: never the employee themself, else a manager
/// above them or HR (`hr:admin`); and only while it is pending.
pub fn check_correction_decider(
    is_self: bool,
    is_manager: bool,
    hr_admin: bool,
    status: &str,
) -> Result<(), AttendanceRule> {
    if is_self {
        return Err(AttendanceRule::SelfApproval);
    }
    if status != "pending" {
        return Err(AttendanceRule::AlreadyDecided {
            status: status.to_owned(),
        });
    }
    if !(is_manager || hr_admin) {
        return Err(AttendanceRule::NotApprover);
    }
    Ok(())
}

/// Whether the caller may close an employee's attendance period: never the employee
/// themself, else a manager above them or HR (`hr:admin`).
pub fn check_period_closer(
    is_self: bool,
    is_manager: bool,
    hr_admin: bool,
) -> Result<(), AttendanceRule> {
    if is_self {
        return Err(AttendanceRule::SelfClose);
    }
    if !(is_manager || hr_admin) {
        return Err(AttendanceRule::NotPeriodCloser);
    }
    Ok(())
}

/// A calendar month of attendance, written `YYYY-MM` (payroll's period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttendancePeriod {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl AttendancePeriod {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_input("period", "a month written YYYY-MM");
        let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        let starts_on = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .ok_or_else(bad)?;
        Ok(Self {
            starts_on,
            ends_on: next.pred_opt().ok_or_else(bad)?,
        })
    }

    /// The period holding `day`.
    pub fn of(day: NaiveDate) -> Self {
        let starts_on = day.with_day(1).unwrap_or(day);
        let next = if starts_on.month() == 12 {
            NaiveDate::from_ymd_opt(starts_on.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(starts_on.year(), starts_on.month() + 1, 1)
        };
        Self {
            starts_on,
            ends_on: next.and_then(|n| n.pred_opt()).unwrap_or(day),
        }
    }

    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.starts_on.year(), self.starts_on.month())
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        self.starts_on.iter_days().take_while({
            let last = self.ends_on;
            move |day| *day <= last
        })
    }

    /// Closing is allowed once the period's last day is over (`today` after it).
    pub fn check_over(&self, today: NaiveDate) -> Result<(), AttendanceRule> {
        if today <= self.ends_on {
            return Err(AttendanceRule::PeriodNotOver {
                period: self.label(),
            });
        }
        Ok(())
    }
}

/// The working day of a person without a shift, in minutes: the time beyond it is overtime.
pub const STANDARD_DAY_MINUTES: i64 = 8 * 60;

/// A computed day's overtime, in minutes: on a working day of the shift, the time worked
/// beyond the shift's length; on its weekly day off, all the time worked; without a shift,
/// the time worked beyond [`STANDARD_DAY_MINUTES`].
pub fn overtime_minutes(shift: Option<&ShiftRules>, day: &DailyAttendance) -> i64 {
    let normal = match shift {
        Some(shift) if !shift.works_on(day.day) => 0,
        Some(shift) => shift.length_minutes(),
        None => STANDARD_DAY_MINUTES,
    };
    (day.worked_minutes - normal).max(0)
}

/// A circle on the earth around a work location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geofence {
    pub latitude: f64,
    pub longitude: f64,
    pub radius_meters: f64,
}

/// A point reported by a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    pub fn parse(latitude: f64, longitude: f64) -> Result<Self, ApiError> {
        if !(-90.0..=90.0).contains(&latitude) || !latitude.is_finite() {
            return Err(ApiError::bad_input(
                "latitude",
                "latitude is between -90 and 90",
            ));
        }
        if !(-180.0..=180.0).contains(&longitude) || !longitude.is_finite() {
            return Err(ApiError::bad_input(
                "longitude",
                "longitude is between -180 and 180",
            ));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }
}

/// Great-circle distance in meters (haversine, mean earth radius).
pub fn distance_meters(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

impl Geofence {
    pub fn contains(&self, point: GeoPoint) -> bool {
        distance_meters(
            GeoPoint {
                latitude: self.latitude,
                longitude: self.longitude,
            },
            point,
        ) <= self.radius_meters
    }
}

/// The kind of a punch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunchKind {
    In,
    Out,
}

impl PunchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PunchKind::In => "in",
            PunchKind::Out => "out",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "in" {
            PunchKind::In
        } else {
            PunchKind::Out
        }
    }
}

/// Whether a punch of `kind` may follow the employee's last punch of the day.
pub fn check_sequence(
    last_today: Option<PunchKind>,
    kind: PunchKind,
) -> Result<(), AttendanceRule> {
    match (last_today, kind) {
        (Some(PunchKind::In), PunchKind::In) => Err(AttendanceRule::AlreadyCheckedIn),
        (None | Some(PunchKind::Out), PunchKind::Out) => Err(AttendanceRule::NotCheckedIn),
        _ => Ok(()),
    }
}

/// Minutes worked from a day's punches in time order (an open check-in counts up to `now`).
pub fn worked_minutes(punches: &[(PunchKind, i64)], now_ms: i64) -> i64 {
    let mut total = 0;
    let mut open: Option<i64> = None;
    for (kind, at) in punches {
        match (kind, open) {
            (PunchKind::In, None) => open = Some(*at),
            (PunchKind::Out, Some(start)) => {
                total += at - start;
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        total += (now_ms - start).max(0);
    }
    total / 60_000
}

/// How long before a shift's start its attendance day opens.
pub const EARLY_WINDOW_MINUTES: i64 = 6 * 60;
/// How far back a correction may reach.
pub const CORRECTION_HORIZON_DAYS: i64 = 90;
const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: i64 = 24 * 60;

/// Who a shift is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftTarget {
    Employee(String),
    /// The default of every employee of the department without their own assignment.
    Department(String),
}

impl ShiftTarget {
    /// The stored kind: `employee` or `department`.
    pub fn kind(&self) -> &'static str {
        match self {
            ShiftTarget::Employee(_) => "employee",
            ShiftTarget::Department(_) => "department",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            ShiftTarget::Employee(id) | ShiftTarget::Department(id) => id,
        }
    }
}

/// The days of the week a shift is worked (bit 0 is Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingDays(u8);

impl WorkingDays {
    /// At least one day; repeated days are the same day.
    pub fn parse(days: &[Weekday]) -> Result<Self, ApiError> {
        if days.is_empty() {
            return Err(ApiError::bad_input(
                "workingDays",
                "a shift is worked on at least one day of the week",
            ));
        }
        Ok(Self(days.iter().fold(0u8, |bits, day| {
            bits | (1 << day.num_days_from_monday())
        })))
    }

    pub fn from_bits(bits: i32) -> Self {
        Self((bits & 0x7f) as u8)
    }

    pub fn bits(self) -> i32 {
        i32::from(self.0)
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// The days, Monday first.
    pub fn days(self) -> Vec<Weekday> {
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ]
        .into_iter()
        .filter(|day| self.contains(*day))
        .collect()
    }
}

/// A shift as given by HR, before it is checked.
#[derive(Debug, Clone)]
pub struct ShiftInput<'a> {
    /// `HH:MM`, 24-hour clock, in `time_zone`.
    pub start: &'a str,
    pub end: &'a str,
    pub grace_minutes: i32,
    pub half_day_minutes: Option<i32>,
    pub full_day_minutes: Option<i32>,
    pub working_days: &'a [Weekday],
    /// An IANA time zone, e.g. `Asia/Kolkata` (the location's).
    pub time_zone: &'a str,
}

/// A checked shift: its times, grace window, day thresholds and working days.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftRules {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub grace_minutes: u32,
    /// Worked minutes below this make a day absent.
    pub half_day_minutes: u32,
    /// Worked minutes below this (and at least `half_day_minutes`) make a day a half-day.
    pub full_day_minutes: u32,
    pub working_days: WorkingDays,
    pub time_zone: Tz,
}

fn parse_clock(field: &str, raw: &str) -> Result<NaiveTime, ApiError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| ApiError::bad_input(field, "a time is HH:MM on the 24-hour clock, e.g. 09:30"))
}

/// Minutes since midnight.
fn minute_of_day(time: NaiveTime) -> i64 {
    i64::from(time.hour()) * 60 + i64::from(time.minute())
}

/// The UTC instant of a wall-clock time in `tz`. An ambiguous time (the hour repeated when
/// clocks go back) is its first occurrence; a time skipped when clocks go forward is read
/// an hour later, as the clocks show it.
fn local_instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => tz
            .from_local_datetime(&(wall + Duration::hours(1)))
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&wall)),
    }
}

impl ShiftRules {
    pub fn parse(input: &ShiftInput<'_>) -> Result<Self, ApiError> {
        let start = parse_clock("startTime", input.start)?;
        let end = parse_clock("endTime", input.end)?;
        if start == end {
            return Err(ApiError::bad_input(
                "endTime",
                "a shift cannot end when it starts",
            ));
        }
        if !(0..=240).contains(&input.grace_minutes) {
            return Err(ApiError::bad_input(
                "graceMinutes",
                "the grace window is 0 to 240 minutes",
            ));
        }
        let time_zone = Tz::from_str(input.time_zone.trim()).map_err(|_| {
            ApiError::bad_input(
                "timeZone",
                "a time zone is an IANA name, e.g. Asia/Kolkata or Europe/Berlin",
            )
        })?;
        let working_days = WorkingDays::parse(input.working_days)?;
        let length = (minute_of_day(end) - minute_of_day(start)).rem_euclid(DAY_MINUTES);
        let full_day = i64::from(input.full_day_minutes.unwrap_or(length as i32));
        if !(1..=length).contains(&full_day) {
            return Err(ApiError::bad_input(
                "fullDayMinutes",
                format!("a full day is 1 to {length} worked minutes (the shift's length)"),
            ));
        }
        let half_day = i64::from(input.half_day_minutes.unwrap_or((full_day / 2) as i32));
        if !(1..=full_day).contains(&half_day) {
            return Err(ApiError::bad_input(
                "halfDayMinutes",
                format!("a half-day is 1 to {full_day} worked minutes (at most a full day)"),
            ));
        }
        if i64::from(input.grace_minutes) >= length {
            return Err(ApiError::bad_input(
                "graceMinutes",
                "the grace window must be shorter than the shift",
            ));
        }
        Ok(Self {
            start,
            end,
            grace_minutes: input.grace_minutes as u32,
            half_day_minutes: half_day as u32,
            full_day_minutes: full_day as u32,
            working_days,
            time_zone,
        })
    }

    /// Length of the shift in minutes (wall clock).
    pub fn length_minutes(&self) -> i64 {
        (minute_of_day(self.end) - minute_of_day(self.start)).rem_euclid(DAY_MINUTES)
    }

    /// True when the shift ends on the day after it starts.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// When the shift of `day` starts.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        local_instant(self.time_zone, day.and_time(self.start))
    }

    /// When the shift of `day` ends (the next day for a shift crossing midnight).
    pub fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let end_day = if self.crosses_midnight() {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        local_instant(self.time_zone, end_day.and_time(self.end))
    }

    /// The instants `[from, to)` whose punches belong to the attendance day `day`.
    pub fn window_of(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let open = |d: NaiveDate| {
            local_instant(
                self.time_zone,
                d.and_time(self.start) - Duration::minutes(EARLY_WINDOW_MINUTES),
            )
        };
        (open(day), open(day.succ_opt().unwrap_or(day)))
    }

    /// The attendance day an instant belongs to.
    pub fn day_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let wall = at.with_timezone(&self.time_zone).naive_local();
        (wall + Duration::minutes(EARLY_WINDOW_MINUTES - minute_of_day(self.start))).date()
    }

    pub fn works_on(&self, day: NaiveDate) -> bool {
        self.working_days.contains(day.weekday())
    }
}

/// The window of an attendance day without a shift: the UTC calendar day.
pub fn utc_window_of(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
    (from, from + Duration::days(1))
}

/// The attendance day of an instant under an optional shift.
pub fn attendance_day(shift: Option<&ShiftRules>, at: DateTime<Utc>) -> NaiveDate {
    match shift {
        Some(shift) => shift.day_of(at),
        None => at.date_naive(),
    }
}

/// How a day went for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayStatus {
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

impl DayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::Present => "present",
            DayStatus::Late => "late",
            DayStatus::HalfDay => "half_day",
            DayStatus::Absent => "absent",
            DayStatus::WeeklyOff => "weekly_off",
            DayStatus::OnLeave => "on_leave",
            DayStatus::NotStarted => "not_started",
            DayStatus::Unscheduled => "unscheduled",
        }
    }
}

/// One person's computed day. Instants are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyAttendance {
    pub day: NaiveDate,
    pub status: DayStatus,
    pub first_in: Option<i64>,
    pub last_out: Option<i64>,
    pub worked_minutes: i64,
    /// Minutes after the shift's start of a check-in past the grace window (0 otherwise).
    pub late_minutes: i64,
    /// The day is over and the last punch is a check-in: the open stretch is not counted.
    pub missing_check_out: bool,
    pub checked_in: bool,
    pub shift_start: Option<i64>,
    pub shift_end: Option<i64>,
}

/// Worked milliseconds of punches in time order; an open check-in counts up to `open_until`
/// when given, and not at all otherwise.
fn worked_ms(punches: &[(PunchKind, i64)], open_until: Option<i64>) -> i64 {
    let mut total = 0;
    let mut open: Option<i64> = None;
    for (kind, at) in punches {
        match (kind, open) {
            (PunchKind::In, None) => open = Some(*at),
            (PunchKind::Out, Some(start)) => {
                total += (at - start).max(0);
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(start), Some(until)) = (open, open_until) {
        total += (until - start).max(0);
    }
    total
}

/// The attendance of `day` from its punches (in time order), the shift that applies, and
/// whether approved leave covers the day (a person on leave who punches anyway is counted by
/// their punches).
pub fn daily_attendance(
    shift: Option<&ShiftRules>,
    day: NaiveDate,
    punches: &[(PunchKind, i64)],
    on_leave: bool,
    now_ms: i64,
) -> DailyAttendance {
    let first_in = punches
        .iter()
        .find(|(kind, _)| *kind == PunchKind::In)
        .map(|(_, at)| *at);
    let last_out = punches
        .iter()
        .rev()
        .find(|(kind, _)| *kind == PunchKind::Out)
        .map(|(_, at)| *at);
    let checked_in = punches
        .last()
        .is_some_and(|(kind, _)| *kind == PunchKind::In);
    let Some(shift) = shift else {
        let (_, day_end) = utc_window_of(day);
        let over = now_ms >= day_end.timestamp_millis();
        return DailyAttendance {
            day,
            status: if first_in.is_some() {
                DayStatus::Present
            } else if on_leave {
                DayStatus::OnLeave
            } else {
                DayStatus::Unscheduled
            },
            first_in,
            last_out,
            worked_minutes: worked_ms(punches, (!over).then_some(now_ms)) / MINUTE_MS,
            late_minutes: 0,
            missing_check_out: over && checked_in,
            checked_in: checked_in && !over,
            shift_start: None,
            shift_end: None,
        };
    };
    let start = shift.start_of(day).timestamp_millis();
    let end = shift.end_of(day).timestamp_millis();
    let (_, window_end) = shift.window_of(day);
    let over = now_ms >= window_end.timestamp_millis();
    let worked = worked_ms(punches, (!over).then_some(now_ms)) / MINUTE_MS;
    let grace_end = start + i64::from(shift.grace_minutes) * MINUTE_MS;
    let late_minutes = match first_in {
        Some(first) if first > grace_end => (first - start) / MINUTE_MS,
        _ => 0,
    };
    let status = if !shift.works_on(day) {
        DayStatus::WeeklyOff
    } else if first_in.is_none() && on_leave {
        DayStatus::OnLeave
    } else if first_in.is_none() {
        if now_ms <= grace_end {
            DayStatus::NotStarted
        } else {
            DayStatus::Absent
        }
    } else if over && worked < i64::from(shift.half_day_minutes) {
        DayStatus::Absent
    } else if over && worked < i64::from(shift.full_day_minutes) {
        DayStatus::HalfDay
    } else if late_minutes > 0 {
        DayStatus::Late
    } else {
        DayStatus::Present
    };
    DailyAttendance {
        day,
        status,
        first_in,
        last_out,
        worked_minutes: worked,
        late_minutes,
        missing_check_out: over && checked_in,
        checked_in: checked_in && !over,
        shift_start: Some(start),
        shift_end: Some(end),
    }
}

/// Checks a requested correction of `day`: a check-in and a check-out inside the day's
/// window, in order, not in the future, and not older than [`CORRECTION_HORIZON_DAYS`].
pub fn check_correction(
    shift: Option<&ShiftRules>,
    day: NaiveDate,
    check_in: DateTime<Utc>,
    check_out: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let today = attendance_day(shift, now);
    if day <= today && (today - day).num_days() > CORRECTION_HORIZON_DAYS {
        return Err(ApiError::bad_input(
            "day",
            format!("corrections reach back {CORRECTION_HORIZON_DAYS} days at most"),
        ));
    }
    check_corrected_punches(shift, day, check_in, check_out, now)
}

/// Checks the corrected check-in and check-out of `day` (a correction's, or an adjustment's of
/// a closed month, which reaches back any number of days): inside the day's window, in order,
/// not in the future.
pub fn check_corrected_punches(
    shift: Option<&ShiftRules>,
    day: NaiveDate,
    check_in: DateTime<Utc>,
    check_out: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if day > attendance_day(shift, now) {
        return Err(ApiError::bad_input(
            "day",
            "a day in the future cannot be corrected",
        ));
    }
    if check_out <= check_in {
        return Err(ApiError::bad_input(
            "checkOut",
            "the check-out must be after the check-in",
        ));
    }
    if check_out > now {
        return Err(ApiError::bad_input(
            "checkOut",
            "a corrected punch cannot be in the future",
        ));
    }
    let (from, to) = match shift {
        Some(shift) => shift.window_of(day),
        None => utc_window_of(day),
    };
    for (field, at) in [("checkIn", check_in), ("checkOut", check_out)] {
        if at < from || at >= to {
            return Err(ApiError::bad_input(
                field,
                format!("the time is outside the attendance day {day} ({from} to {to})"),
            ));
        }
    }
    Ok(())
}

/// The reason given for a correction or a decision: 3 to 500 characters.
pub fn parse_reason(field: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() < 3 || trimmed.chars().count() > 500 {
        return Err(ApiError::bad_input(
            field,
            "a reason is 3 to 500 characters",
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_input(
            field,
            "the reason contains control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geofence() {
        let office = Geofence {
            latitude: 12.9716,
            longitude: 77.5946,
            radius_meters: 200.0,
        };
        assert!(office.contains(GeoPoint {
            latitude: 12.9720,
            longitude: 77.5950
        }));
        assert!(
            !office.contains(GeoPoint {
                latitude: 12.9816,
                longitude: 77.5946
            }),
            "1.1 km north"
        );
        let paris = GeoPoint {
            latitude: 48.8566,
            longitude: 2.3522,
        };
        let london = GeoPoint {
            latitude: 51.5074,
            longitude: -0.1278,
        };
        assert!((distance_meters(paris, london) - 343_500.0).abs() < 1_500.0);
        assert!(GeoPoint::parse(91.0, 0.0).is_err());
        assert!(GeoPoint::parse(0.0, f64::NAN).is_err());
    }

    #[test]
    fn sequence_and_worked_time() {
        assert!(check_sequence(None, PunchKind::In).is_ok());
        assert_eq!(
            check_sequence(Some(PunchKind::In), PunchKind::In),
            Err(AttendanceRule::AlreadyCheckedIn)
        );
        assert_eq!(
            check_sequence(None, PunchKind::Out),
            Err(AttendanceRule::NotCheckedIn)
        );
        assert!(check_sequence(Some(PunchKind::In), PunchKind::Out).is_ok());
        let h = 3_600_000;
        let punches = [
            (PunchKind::In, 9 * h),
            (PunchKind::Out, 12 * h),
            (PunchKind::In, 13 * h),
        ];
        assert_eq!(worked_minutes(&punches, 17 * h), 7 * 60);
    }

    #[test]
    fn who_decides_a_correction() {
        use AttendanceRule::*;
        assert_eq!(
            check_correction_decider(true, false, true, "pending"),
            Err(SelfApproval),
            "not even HR decides their own"
        );
        assert_eq!(
            check_correction_decider(false, true, false, "approved"),
            Err(AlreadyDecided {
                status: "approved".into()
            })
        );
        assert_eq!(
            check_correction_decider(false, false, false, "pending"),
            Err(NotApprover)
        );
        assert!(check_correction_decider(false, true, false, "pending").is_ok());
        assert!(check_correction_decider(false, false, true, "pending").is_ok());
        assert_eq!(NotApprover.reason().code(), erp_kit::ErrorCode::Forbidden);
        assert_eq!(DecidedMeanwhile.reason().name(), "ALREADY_DECIDED");
    }
}

#[cfg(test)]
mod shift_tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    const WEEKDAYS: &[Weekday] = &[
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    fn shift(start: &str, end: &str, grace: i32, tz: &str) -> ShiftRules {
        ShiftRules::parse(&ShiftInput {
            start,
            end,
            grace_minutes: grace,
            half_day_minutes: None,
            full_day_minutes: None,
            working_days: WEEKDAYS,
            time_zone: tz,
        })
        .unwrap()
    }

    #[test]
    fn periods_and_their_overtime() {
        let november = AttendancePeriod::parse("2026-11").unwrap();
        assert_eq!(november.label(), "2026-11");
        assert_eq!(november.days().count(), 30);
        assert_eq!(AttendancePeriod::of(date(2026, 12, 31)).label(), "2026-12");
        assert_eq!(
            AttendancePeriod::of(date(2026, 12, 31)).ends_on,
            date(2026, 12, 31)
        );
        assert!(AttendancePeriod::parse("2026-13").is_err());
        assert!(AttendancePeriod::parse("26-11").is_err());
        assert_eq!(
            november.check_over(date(2026, 11, 30)),
            Err(AttendanceRule::PeriodNotOver {
                period: "2026-11".into()
            })
        );
        assert_eq!(november.check_over(date(2026, 12, 1)), Ok(()));
        assert_eq!(
            check_period_closer(true, true, true),
            Err(AttendanceRule::SelfClose)
        );
        assert_eq!(
            check_period_closer(false, false, false),
            Err(AttendanceRule::NotPeriodCloser)
        );
        assert_eq!(check_period_closer(false, true, false), Ok(()));

        // Without a shift: 11 hours worked are 3 hours over the standard day.
        let day = date(2026, 11, 10);
        let start = at(Tz::UTC, 2026, 11, 10, 8, 0);
        let worked = |minutes: i64| {
            daily_attendance(
                None,
                day,
                &[
                    (PunchKind::In, start),
                    (PunchKind::Out, start + minutes * MINUTE_MS),
                ],
                false,
                start + DAY_MINUTES * 2 * MINUTE_MS,
            )
        };
        assert_eq!(overtime_minutes(None, &worked(11 * 60)), 180);
        assert_eq!(overtime_minutes(None, &worked(7 * 60)), 0);
        // A 09:00-17:00 shift, Monday to Friday: 10 hours on Tuesday are 2 over; a Sunday's
        // 4 hours are all overtime.
        let office = shift("09:00", "17:00", 10, "UTC");
        assert_eq!(overtime_minutes(Some(&office), &worked(10 * 60)), 120);
        let sunday = DailyAttendance {
            day: date(2026, 11, 8),
            ..worked(4 * 60)
        };
        assert_eq!(overtime_minutes(Some(&office), &sunday), 240);
    }

    #[test]
    fn parses_shifts_and_refuses_bad_ones() {
        let day = shift("09:00", "18:00", 15, "Asia/Kolkata");
        assert_eq!(day.length_minutes(), 540);
        assert_eq!(day.full_day_minutes, 540);
        assert_eq!(day.half_day_minutes, 270);
        assert!(!day.crosses_midnight());
        let night = shift("22:00", "06:00", 10, "UTC");
        assert_eq!(night.length_minutes(), 480);
        assert!(night.crosses_midnight());
        let base = ShiftInput {
            start: "09:00",
            end: "18:00",
            grace_minutes: 15,
            half_day_minutes: None,
            full_day_minutes: None,
            working_days: WEEKDAYS,
            time_zone: "Asia/Kolkata",
        };
        let field = |input: ShiftInput<'_>| match ShiftRules::parse(&input) {
            Err(ApiError::BadUserInput { field, .. }) => field.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(ShiftInput {
                start: "9am",
                ..base.clone()
            }),
            "startTime"
        );
        assert_eq!(
            field(ShiftInput {
                end: "24:00",
                ..base.clone()
            }),
            "endTime"
        );
        assert_eq!(
            field(ShiftInput {
                end: "09:00",
                ..base.clone()
            }),
            "endTime"
        );
        assert_eq!(
            field(ShiftInput {
                grace_minutes: -1,
                ..base.clone()
            }),
            "graceMinutes"
        );
        assert_eq!(
            field(ShiftInput {
                time_zone: "Mars/Olympus",
                ..base.clone()
            }),
            "timeZone"
        );
        assert_eq!(
            field(ShiftInput {
                working_days: &[],
                ..base.clone()
            }),
            "workingDays"
        );
        assert_eq!(
            field(ShiftInput {
                full_day_minutes: Some(600),
                ..base.clone()
            }),
            "fullDayMinutes"
        );
        assert_eq!(
            field(ShiftInput {
                full_day_minutes: Some(480),
                half_day_minutes: Some(481),
                ..base.clone()
            }),
            "halfDayMinutes"
        );
        assert_eq!(
            field(ShiftInput {
                start: "09:00",
                end: "10:00",
                grace_minutes: 60,
                ..base
            }),
            "graceMinutes"
        );
    }

    #[test]
    fn working_days_round_trip() {
        let days = WorkingDays::parse(&[Weekday::Sat, Weekday::Mon, Weekday::Mon]).unwrap();
        assert_eq!(days.days(), vec![Weekday::Mon, Weekday::Sat]);
        assert_eq!(WorkingDays::from_bits(days.bits()), days);
        assert!(!days.contains(Weekday::Sun));
    }

    #[test]
    fn attendance_day_of_a_night_shift_crossing_midnight() {
        let tz = Tz::UTC;
        let night = shift("22:00", "06:00", 10, "UTC");
        let monday = date(2026, 11, 23);
        // 22:00 Monday to 06:00 Tuesday is Monday's shift.
        let check_in = Utc
            .timestamp_millis_opt(at(tz, 2026, 11, 23, 21, 55))
            .unwrap();
        let check_out = Utc
            .timestamp_millis_opt(at(tz, 2026, 11, 24, 6, 5))
            .unwrap();
        assert_eq!(night.day_of(check_in), monday);
        assert_eq!(night.day_of(check_out), monday);
        assert_eq!(
            night.start_of(monday).timestamp_millis(),
            at(tz, 2026, 11, 23, 22, 0)
        );
        assert_eq!(
            night.end_of(monday).timestamp_millis(),
            at(tz, 2026, 11, 24, 6, 0)
        );
        // The window: 16:00 Monday (inclusive) to 16:00 Tuesday (exclusive).
        let (from, to) = night.window_of(monday);
        assert_eq!(from.timestamp_millis(), at(tz, 2026, 11, 23, 16, 0));
        assert_eq!(to.timestamp_millis(), at(tz, 2026, 11, 24, 16, 0));
        assert_eq!(night.day_of(to), date(2026, 11, 24));
        assert_eq!(night.day_of(to - Duration::milliseconds(1)), monday);

        let punches = [
            (PunchKind::In, check_in.timestamp_millis()),
            (PunchKind::Out, check_out.timestamp_millis()),
        ];
        let after = at(tz, 2026, 11, 25, 0, 0);
        let day = daily_attendance(Some(&night), monday, &punches, false, after);
        assert_eq!(day.status, DayStatus::Present);
        assert_eq!(day.worked_minutes, 8 * 60 + 10);
        assert_eq!(day.late_minutes, 0);
        assert!(!day.missing_check_out);
    }

    #[test]
    fn time_zone_of_the_location() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let day = date(2026, 11, 24);
        // 09:00 in Kolkata is 03:30 UTC.
        assert_eq!(
            shift.start_of(day).timestamp_millis(),
            at(Tz::UTC, 2026, 11, 24, 3, 30)
        );
        assert_eq!(
            at(kolkata, 2026, 11, 24, 9, 0),
            at(Tz::UTC, 2026, 11, 24, 3, 30)
        );
        // A check-in at 01:00 UTC (06:30 local) belongs to that local day.
        let early = Utc
            .timestamp_millis_opt(at(Tz::UTC, 2026, 11, 24, 1, 0))
            .unwrap();
        assert_eq!(shift.day_of(early), day);
    }

    #[test]
    fn daylight_saving_days() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00. A 02:30 start is read as 03:30.
        let shift = shift("02:30", "10:30", 0, "Europe/Berlin");
        let spring = date(2026, 3, 29);
        assert_eq!(
            shift.start_of(spring).timestamp_millis(),
            at(berlin, 2026, 3, 29, 3, 30)
        );
    }

    #[test]
    fn grace_boundary_exactly_at_the_limit() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let day = date(2026, 11, 24);
        let later = at(tz, 2026, 11, 25, 12, 0);
        let full_day = |first_in: i64| {
            daily_attendance(
                Some(&shift),
                day,
                &[
                    (PunchKind::In, first_in),
                    (PunchKind::Out, at(tz, 2026, 11, 24, 19, 0)),
                ],
                false,
                later,
            )
        };
        let on_the_limit = full_day(at(tz, 2026, 11, 24, 9, 15));
        assert_eq!(on_the_limit.status, DayStatus::Present);
        assert_eq!(on_the_limit.late_minutes, 0);
        let one_ms_past = full_day(at(tz, 2026, 11, 24, 9, 15) + 1);
        assert_eq!(one_ms_past.status, DayStatus::Late);
        assert_eq!(one_ms_past.late_minutes, 15);
        let a_minute_past = full_day(at(tz, 2026, 11, 24, 9, 16));
        assert_eq!(a_minute_past.status, DayStatus::Late);
        assert_eq!(a_minute_past.late_minutes, 16);
        assert_eq!(a_minute_past.worked_minutes, 9 * 60 + 44);
        let early = full_day(at(tz, 2026, 11, 24, 8, 40));
        assert_eq!((early.status, early.late_minutes), (DayStatus::Present, 0));
    }

    #[test]
    fn missing_check_out_and_half_days() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let day = date(2026, 11, 24);
        let only_in = [(PunchKind::In, at(tz, 2026, 11, 24, 9, 0))];
        // During the day the open check-in counts up to now.
        let midday = daily_attendance(
            Some(&shift),
            day,
            &only_in,
            false,
            at(tz, 2026, 11, 24, 13, 0),
        );
        assert_eq!(midday.status, DayStatus::Present);
        assert_eq!(midday.worked_minutes, 240);
        assert!(midday.checked_in);
        assert!(!midday.missing_check_out);
        // Once the day is over the open stretch is not counted: a correction is needed.
        let next_day = daily_attendance(
            Some(&shift),
            day,
            &only_in,
            false,
            at(tz, 2026, 11, 25, 9, 0),
        );
        assert!(next_day.missing_check_out);
        assert!(!next_day.checked_in);
        assert_eq!(next_day.worked_minutes, 0);
        assert_eq!(next_day.status, DayStatus::Absent);
        assert_eq!(next_day.last_out, None);

        let half = [
            (PunchKind::In, at(tz, 2026, 11, 24, 9, 0)),
            (PunchKind::Out, at(tz, 2026, 11, 24, 14, 0)),
        ];
        let half = daily_attendance(Some(&shift), day, &half, false, at(tz, 2026, 11, 25, 9, 0));
        assert_eq!(half.status, DayStatus::HalfDay);
        assert_eq!(half.worked_minutes, 300);
        let short = [
            (PunchKind::In, at(tz, 2026, 11, 24, 9, 0)),
            (PunchKind::Out, at(tz, 2026, 11, 24, 10, 0)),
            (PunchKind::In, at(tz, 2026, 11, 24, 11, 0)),
            (PunchKind::Out, at(tz, 2026, 11, 24, 12, 0)),
        ];
        let short = daily_attendance(Some(&shift), day, &short, false, at(tz, 2026, 11, 25, 9, 0));
        assert_eq!(
            (short.status, short.worked_minutes),
            (DayStatus::Absent, 120)
        );
    }

    #[test]
    fn absent_not_started_and_weekly_off() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let tuesday = date(2026, 11, 24);
        let at_grace_end = at(tz, 2026, 11, 24, 9, 15);
        assert_eq!(
            daily_attendance(Some(&shift), tuesday, &[], false, at_grace_end).status,
            DayStatus::NotStarted
        );
        assert_eq!(
            daily_attendance(Some(&shift), tuesday, &[], false, at_grace_end + 1).status,
            DayStatus::Absent
        );
        let saturday = date(2026, 11, 28);
        let off = daily_attendance(
            Some(&shift),
            saturday,
            &[],
            false,
            at(tz, 2026, 11, 29, 12, 0),
        );
        assert_eq!(off.status, DayStatus::WeeklyOff);
        let no_shift = daily_attendance(None, tuesday, &[], false, at_grace_end);
        assert_eq!(no_shift.status, DayStatus::Unscheduled);
        let in_without_shift = daily_attendance(
            None,
            tuesday,
            &[(PunchKind::In, at(Tz::UTC, 2026, 11, 24, 8, 0))],
            false,
            at(Tz::UTC, 2026, 11, 24, 10, 0),
        );
        assert_eq!(in_without_shift.status, DayStatus::Present);
        assert_eq!(in_without_shift.worked_minutes, 120);
    }

    #[test]
    fn approved_leave() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let tuesday = date(2026, 11, 24);
        let later = at(tz, 2026, 11, 25, 12, 0);
        let on_leave = daily_attendance(Some(&shift), tuesday, &[], true, later);
        assert_eq!(on_leave.status, DayStatus::OnLeave);
        // Came in anyway: counted by the punches.
        let punched = [
            (PunchKind::In, at(tz, 2026, 11, 24, 9, 0)),
            (PunchKind::Out, at(tz, 2026, 11, 24, 18, 0)),
        ];
        let worked = daily_attendance(Some(&shift), tuesday, &punched, true, later);
        assert_eq!(worked.status, DayStatus::Present);
        // A weekly off stays a weekly off.
        let saturday = date(2026, 11, 28);
        let off = daily_attendance(Some(&shift), saturday, &[], true, later + 5 * 86_400_000);
        assert_eq!(off.status, DayStatus::WeeklyOff);
        assert_eq!(
            daily_attendance(None, tuesday, &[], true, later).status,
            DayStatus::OnLeave
        );
    }

    #[test]
    fn corrections_stay_inside_the_day() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let shift = shift("09:00", "18:00", 15, "Asia/Kolkata");
        let day = date(2026, 11, 24);
        let now = Utc
            .timestamp_millis_opt(at(tz, 2026, 11, 26, 12, 0))
            .unwrap();
        let t = |d, h, m| Utc.timestamp_millis_opt(at(tz, 2026, 11, d, h, m)).unwrap();
        assert!(check_correction(Some(&shift), day, t(24, 9, 0), t(24, 18, 0), now).is_ok());
        let field = |result: Result<(), ApiError>| match result {
            Err(ApiError::BadUserInput { field, .. }) => field.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_correction(
                Some(&shift),
                day,
                t(24, 18, 0),
                t(24, 9, 0),
                now
            )),
            "checkOut"
        );
        assert_eq!(
            field(check_correction(
                Some(&shift),
                day,
                t(24, 2, 0),
                t(24, 9, 0),
                now
            )),
            "checkIn"
        );
        assert_eq!(
            field(check_correction(
                Some(&shift),
                day,
                t(24, 9, 0),
                t(25, 3, 0),
                now
            )),
            "checkOut"
        );
        assert_eq!(
            field(check_correction(
                Some(&shift),
                date(2026, 11, 27),
                t(24, 9, 0),
                t(24, 18, 0),
                now
            )),
            "day"
        );
        assert_eq!(
            field(check_correction(
                Some(&shift),
                date(2026, 8, 1),
                t(24, 9, 0),
                t(24, 18, 0),
                now
            )),
            "day"
        );
        let soon = Utc
            .timestamp_millis_opt(at(tz, 2026, 11, 24, 12, 0))
            .unwrap();
        assert_eq!(
            field(check_correction(
                Some(&shift),
                day,
                t(24, 9, 0),
                t(24, 18, 0),
                soon
            )),
            "checkOut"
        );
        assert!(parse_reason("reason", "  forgot to punch out ").is_ok());
        assert!(parse_reason("reason", "no").is_err());
        assert!(parse_reason("reason", &"x".repeat(501)).is_err());
    }
}
