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

use super::timer::Timer;
use super::timesheet::{IsoWeek, TimesheetState};
use super::RuleViolation;

/// The week a timer's time belongs to: the one it started in.
pub fn timer_week(timer: &Timer) -> IsoWeek {
    IsoWeek::of_time(timer.started_at)
}

/// Time (a timer starting, or a stopped one's entry) may be added to `week` only while it is
/// open.
pub fn check_week_open(week: IsoWeek, state: TimesheetState) -> Result<(), RuleViolation> {
    match state {
        TimesheetState::Draft | TimesheetState::Rejected => Ok(()),
        TimesheetState::Submitted | TimesheetState::Approved => Err(RuleViolation::WeekLocked {
            week: week.to_string(),
            approved: state == TimesheetState::Approved,
        }),
    }
}

/// A week may lock (be submitted or approved) only while its owner's timer, if any, started in
/// another week.
pub fn check_no_timer_in(week: IsoWeek, timer: Option<&Timer>) -> Result<(), RuleViolation> {
    match timer {
        Some(timer) if timer_week(timer) == week => Err(RuleViolation::TimerRunning {
            week: week.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn week(s: &str) -> IsoWeek {
        IsoWeek::parse("week", s).unwrap()
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
            Err(RuleViolation::WeekLocked {
                week: "2026-W02".into(),
                approved: false
            })
        );
        let approved = check_week_open(w, TimesheetState::Approved).unwrap_err();
        assert_eq!(approved.reason(), "TIMESHEET_LOCKED");
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
            RuleViolation::TimerRunning {
                week: "2026-W02".into()
            }
        );
        assert_eq!(refused.reason(), "TIMER_RUNNING");
        // A paused timer still holds time of its week.
        let paused = friday.pause(at("2026-01-09T17:00:00Z")).unwrap();
        assert!(check_no_timer_in(w02, Some(&paused)).is_err());
        // Friday's timer, still running on Monday, does not hold the new week.
        assert_eq!(check_no_timer_in(w03, Some(&friday)), Ok(()));
    }
}
