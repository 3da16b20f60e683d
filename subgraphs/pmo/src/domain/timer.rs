//! The timer state machine. A timer stores when its current running segment started and what
//! earlier segments added up to; elapsed time is computed when asked, never a ticking counter.
//!
//! Timers against a person's weeks: no time is added to a submitted or approved week (as in
//! Harvest, Clockify or Tempo), and no week is locked while a timer that would add time to it
//! still runs, so a timer can always be stopped and its time is never lost.
//!
//! - A timer's time belongs to the week (UTC) it started in, like every time entry, whichever
//!   week it is stopped in: a timer running from Friday evening to Monday morning is Friday's
//!   time (the entry can be corrected afterwards while the week is open).
//! - A timer starts only while its week is open (draft or rejected): TIMESHEET_LOCKED.
//! - A week is submitted, or approved, only once its owner has no timer (running or paused) that
//!   started in it: TIMER_RUNNING. Its owner stops the timer first, so the time is in the week
//!   before it locks. Rejecting never waits for a timer: it reopens the week.
//! - A timer stops into its week only while that week is open: TIMESHEET_LOCKED, and the timer
//!   is left exactly as it was. Under the rules above a timer's week cannot lock while it runs;
//!   only a timer started by an older version after its week was submitted can meet this. Its
//!   week then cannot be approved (TIMER_RUNNING), so an approver rejects it and the stop goes
//!   through: the time is kept, and a locked week never changes.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::PmoRule;

// The person's weeks a timer's time goes to (the timesheets' weeks: domain::timesheet
// re-exports them), here beside the timer, whose start and stop are refused in a locked week.

/// An ISO 8601 week, e.g. `2026-W02`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IsoWeek {
    monday: NaiveDate,
}

impl IsoWeek {
    /// Parses `YYYY-Www` (week 01 to 52 or 53, as the year has).
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_input(
                field,
                format!("`{}` is not an ISO week such as 2026-W02", raw.trim()),
            )
        };
        let (year, week) = raw.trim().split_once("-W").ok_or_else(bad)?;
        if year.len() != 4 || week.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Self { monday })
            .ok_or_else(bad)
    }

    /// The week a day falls in.
    pub fn of(day: NaiveDate) -> Self {
        let week = day.iso_week();
        Self {
            monday: NaiveDate::from_isoywd_opt(week.year(), week.week(), Weekday::Mon)
                .unwrap_or(day),
        }
    }

    /// The week a moment (UTC) falls in.
    pub fn of_time(at: DateTime<Utc>) -> Self {
        Self::of(at.date_naive())
    }

    pub fn monday(&self) -> NaiveDate {
        self.monday
    }

    /// The seven days, Monday first.
    pub fn days(&self) -> [NaiveDate; 7] {
        std::array::from_fn(|i| self.monday + Duration::days(i as i64))
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        day >= self.monday && day < self.monday + Duration::days(7)
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let week = self.monday.iso_week();
        write!(f, "{}-W{:02}", week.year(), week.week())
    }
}

/// Where a timesheet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimesheetState {
    /// Open: entries may be edited.
    Draft,
    /// Waiting for a decision: its entries are locked.
    Submitted,
    /// Approved: locked for good.
    Approved,
    /// Sent back: entries may be edited and the week submitted again.
    Rejected,
}

impl TimesheetState {
    /// The states in which a week's time is fixed: no entry is added, changed or removed.
    pub const LOCKED: [TimesheetState; 2] = [TimesheetState::Submitted, TimesheetState::Approved];

    /// Whether the week's entries may be edited.
    pub fn is_locked(self) -> bool {
        Self::LOCKED.contains(&self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    Running,
    Paused,
}

/// A person's timer on a task (at most one per person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Also the id of the time entry the timer becomes when stopped (stopping is idempotent).
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub task_id: String,
    pub project_id: String,
    pub billable: bool,
    /// When the timer was first started (server time).
    pub started_at: DateTime<Utc>,
    pub state: TimerState,
    /// When the current running segment started (None while paused).
    pub segment_started_at: Option<DateTime<Utc>>,
    /// Milliseconds of the finished segments.
    pub accumulated_ms: i64,
}

impl Timer {
    pub fn start(
        tenant_id: &str,
        user_id: &str,
        task_id: &str,
        project_id: &str,
        billable: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: erp_kit::db::new_id(),
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            task_id: task_id.to_owned(),
            project_id: project_id.to_owned(),
            billable,
            started_at: now,
            state: TimerState::Running,
            segment_started_at: Some(now),
            accumulated_ms: 0,
        }
    }

    /// Milliseconds counted so far.
    pub fn elapsed_ms(&self, now: DateTime<Utc>) -> i64 {
        let running = self
            .segment_started_at
            .map(|since| (now - since).num_milliseconds().max(0))
            .unwrap_or(0);
        self.accumulated_ms + running
    }

    pub fn pause(&self, now: DateTime<Utc>) -> Result<Self, PmoRule> {
        if self.state != TimerState::Running {
            return Err(PmoRule::TimerState("the timer is already paused"));
        }
        Ok(Self {
            state: TimerState::Paused,
            accumulated_ms: self.elapsed_ms(now),
            segment_started_at: None,
            ..self.clone()
        })
    }

    pub fn resume(&self, now: DateTime<Utc>) -> Result<Self, PmoRule> {
        if self.state != TimerState::Paused {
            return Err(PmoRule::TimerState("the timer is already running"));
        }
        Ok(Self {
            state: TimerState::Running,
            segment_started_at: Some(now),
            ..self.clone()
        })
    }
}

/// The week a timer's time belongs to: the one it started in.
pub fn timer_week(timer: &Timer) -> IsoWeek {
    IsoWeek::of_time(timer.started_at)
}

/// Time (a timer starting, or a stopped one's entry) may be added to `week` only while it is
/// open.
pub fn check_week_open(week: IsoWeek, state: TimesheetState) -> Result<(), PmoRule> {
    match state {
        TimesheetState::Draft | TimesheetState::Rejected => Ok(()),
        TimesheetState::Submitted | TimesheetState::Approved => Err(week_locked(week, state)),
    }
}

/// The refusal of time added to `week`, locked in `state` (submitted or approved).
pub fn week_locked(week: IsoWeek, state: TimesheetState) -> PmoRule {
    PmoRule::WeekLocked {
        week: week.to_string(),
        approved: state == TimesheetState::Approved,
    }
}

/// A week may lock (be submitted or approved) only while its owner's timer, if any, started in
/// another week.
pub fn check_no_timer_in(week: IsoWeek, timer: Option<&Timer>) -> Result<(), PmoRule> {
    match timer {
        Some(timer) if timer_week(timer) == week => Err(PmoRule::TimerRunning {
            week: week.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Only its owner stops a timer.
pub fn check_own_timer(owner: &str, caller: &str) -> Result<(), ApiError> {
    if owner != caller {
        return Err(ApiError::Forbidden(
            "you can only stop your own timer".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use erp_kit::RuleViolation;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn week(s: &str) -> IsoWeek {
        IsoWeek::parse("week", s).unwrap()
    }

    #[test]
    fn counts_only_running_segments() {
        let t0 = Utc::now();
        let timer = Timer::start("t", "u", "task", "p", true, t0);
        assert_eq!(timer.elapsed_ms(t0 + Duration::seconds(10)), 10_000);
        let paused = timer.pause(t0 + Duration::seconds(10)).unwrap();
        assert_eq!(paused.elapsed_ms(t0 + Duration::seconds(100)), 10_000);
        assert!(paused.pause(t0).is_err());
        let resumed = paused.resume(t0 + Duration::seconds(100)).unwrap();
        assert_eq!(resumed.elapsed_ms(t0 + Duration::seconds(105)), 15_000);
        assert!(resumed.resume(t0).is_err());
    }

    #[test]
    fn a_timer_belongs_to_the_week_it_started_in() {
        // Sunday 23:30 of 2026-W02, still running on Monday of W03: W02's time.
        let timer = Timer::start("t", "u", "task", "p", true, at("2026-01-11T23:30:00Z"));
        assert_eq!(timer_week(&timer), week("2026-W02"));
        let paused = timer.pause(at("2026-01-12T08:00:00Z")).unwrap();
        assert_eq!(timer_week(&paused), week("2026-W02"));
        // Across a year: Monday 2025-12-29 is in 2026-W01.
        let timer = Timer::start("t", "u", "task", "p", true, at("2025-12-29T00:00:00Z"));
        assert_eq!(timer_week(&timer), week("2026-W01"));
    }

    #[test]
    fn time_is_added_only_to_open_weeks() {
        let w = week("2026-W02");
        assert_eq!(check_week_open(w, TimesheetState::Draft), Ok(()));
        assert_eq!(check_week_open(w, TimesheetState::Rejected), Ok(()));
        assert_eq!(
            check_week_open(w, TimesheetState::Submitted),
            Err(PmoRule::WeekLocked {
                week: "2026-W02".into(),
                approved: false
            })
        );
        let approved = check_week_open(w, TimesheetState::Approved).unwrap_err();
        assert_eq!(approved.reason().name(), "TIMESHEET_LOCKED");
        assert_eq!(
            approved.message(),
            "the timesheet of 2026-W02 is approved: no time can be added to it"
        );
        assert_eq!(
            check_week_open(w, TimesheetState::Submitted)
                .unwrap_err()
                .message(),
            "the timesheet of 2026-W02 is submitted: no time can be added to it unless it is \
             rejected"
        );
    }

    #[test]
    fn a_week_locks_only_without_its_own_running_timer() {
        let w02 = week("2026-W02");
        let w03 = week("2026-W03");
        assert_eq!(check_no_timer_in(w02, None), Ok(()));
        let friday = Timer::start("t", "u", "task", "p", true, at("2026-01-09T16:00:00Z"));
        let refused = check_no_timer_in(w02, Some(&friday)).unwrap_err();
        assert_eq!(
            refused,
            PmoRule::TimerRunning {
                week: "2026-W02".into()
            }
        );
        assert_eq!(refused.reason().name(), "TIMER_RUNNING");
        // A paused timer still holds time of its week.
        let paused = friday.pause(at("2026-01-09T17:00:00Z")).unwrap();
        assert!(check_no_timer_in(w02, Some(&paused)).is_err());
        // Friday's timer, still running on Monday, does not hold the new week.
        assert_eq!(check_no_timer_in(w03, Some(&friday)), Ok(()));
    }
}
