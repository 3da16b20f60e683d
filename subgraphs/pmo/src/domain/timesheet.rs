//! Timesheets: a person's ISO week (Monday to Sunday, UTC) of time entries, summed per day and
//! per project, billable and non-billable; submitted, then approved or rejected by someone else.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

pub use super::timer::{IsoWeek, TimesheetState};
use super::PmoRule;

/// One time entry as a timesheet counts it: on the (UTC) day it started.
#[derive(Debug, Clone)]
pub struct Worked {
    pub started_at: DateTime<Utc>,
    pub project_id: String,
    pub billable: bool,
    pub seconds: i64,
}

/// Billable and non-billable seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub billable_seconds: i64,
    pub non_billable_seconds: i64,
}

impl Split {
    fn add(&mut self, billable: bool, seconds: i64) {
        if billable {
            self.billable_seconds += seconds;
        } else {
            self.non_billable_seconds += seconds;
        }
    }

    pub fn total_seconds(&self) -> i64 {
        self.billable_seconds + self.non_billable_seconds
    }
}

/// A week summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSummary {
    /// Monday to Sunday.
    pub days: [(NaiveDate, Split); 7],
    /// Per project, ordered by project id.
    pub projects: Vec<(String, Split)>,
    pub total: Split,
}

/// Sums the entries that started in `week` (others are ignored).
pub fn summarize(week: IsoWeek, entries: &[Worked]) -> WeekSummary {
    let days = week.days();
    let mut per_day = [Split::default(); 7];
    let mut per_project: BTreeMap<String, Split> = BTreeMap::new();
    let mut total = Split::default();
    for entry in entries {
        let day = entry.started_at.date_naive();
        let Some(index) = days.iter().position(|d| *d == day) else {
            continue;
        };
        per_day[index].add(entry.billable, entry.seconds);
        per_project
            .entry(entry.project_id.clone())
            .or_default()
            .add(entry.billable, entry.seconds);
        total.add(entry.billable, entry.seconds);
    }
    WeekSummary {
        days: std::array::from_fn(|i| (days[i], per_day[i])),
        projects: per_project.into_iter().collect(),
        total,
    }
}

/// A draft or rejected week may be submitted, if it has time in it.
pub fn check_can_submit(state: TimesheetState, total_seconds: i64) -> Result<(), PmoRule> {
    match state {
        TimesheetState::Submitted => Err(PmoRule::TimesheetState("the week is already submitted")),
        TimesheetState::Approved => Err(PmoRule::TimesheetState("the week is already approved")),
        TimesheetState::Draft | TimesheetState::Rejected if total_seconds <= 0 => {
            Err(PmoRule::TimesheetState("the week has no time to submit"))
        }
        TimesheetState::Draft | TimesheetState::Rejected => Ok(()),
    }
}

/// Only a submitted week is approved or rejected, and never by its owner.
pub fn check_can_decide(state: TimesheetState, owner: &str, decider: &str) -> Result<(), PmoRule> {
    if owner == decider {
        return Err(PmoRule::SelfApproval);
    }
    match state {
        TimesheetState::Submitted => Ok(()),
        _ => Err(PmoRule::TimesheetState(
            "only a submitted timesheet can be approved or rejected",
        )),
    }
}

/// Someone else's week is seen by a `timesheet:approve` holder or the manager of every project
/// in it.
pub fn check_can_see(
    own: bool,
    can_approve: bool,
    manages_every_project: bool,
) -> Result<(), ApiError> {
    if own || can_approve || manages_every_project {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "only the person, a `timesheet:approve` holder or the manager of every project in the week can see it".into(),
    ))
}

/// A week is approved or rejected by a `timesheet:approve` holder or the manager of every
/// project in it.
pub fn check_can_decide_as(can_approve: bool, manages_every_project: bool) -> Result<(), ApiError> {
    if can_approve || manages_every_project {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "approving needs `timesheet:approve` or managing every project of the week".into(),
    ))
}

/// A timesheet is written at the revision it was read: one written meanwhile wins.
pub fn timesheet_changed() -> ApiError {
    ApiError::Conflict("the timesheet changed meanwhile; reload and retry".into())
}

/// What a time entry looked like before or after an edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryTimes {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub billable: bool,
}

/// Only its owner edits a stopped time entry.
pub fn check_entry_owner(owner: &str, editor: &str) -> Result<(), ApiError> {
    if owner != editor {
        return Err(ApiError::Forbidden(
            "you can only edit your own time entries".into(),
        ));
    }
    Ok(())
}

/// Time is billable only on a billable project.
pub fn check_billable(project_billable: bool) -> Result<(), ApiError> {
    if !project_billable {
        return Err(ApiError::bad_input(
            "billable",
            "time on a non-billable project cannot be billable",
        ));
    }
    Ok(())
}

/// A stopped entry changes only while the weeks it leaves and joins are open.
pub fn check_entry_weeks_open(states: &[TimesheetState]) -> Result<(), PmoRule> {
    if states.iter().any(|s| s.is_locked()) {
        return Err(PmoRule::TimesheetLocked);
    }
    Ok(())
}

/// A rejection gives a reason of 1 to 1000 characters.
pub fn parse_rejection(raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::bad_input(
            "reason",
            "a rejection gives a reason of 1 to 1000 characters",
        ));
    }
    Ok(reason.to_owned())
}

/// A corrected time entry: ends after it starts, at most 24 hours, not in the future.
pub fn check_entry_times(
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i64, ApiError> {
    if ended_at <= started_at {
        return Err(ApiError::bad_input(
            "endedAt",
            "a time entry ends after it starts",
        ));
    }
    if ended_at - started_at > Duration::hours(24) {
        return Err(ApiError::bad_input(
            "endedAt",
            "a time entry lasts at most 24 hours",
        ));
    }
    if ended_at > now + Duration::minutes(1) {
        return Err(ApiError::bad_input(
            "endedAt",
            "a time entry cannot end in the future",
        ));
    }
    Ok((ended_at - started_at).num_seconds())
}

/// Hours with two decimals, as reports show them.
pub fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn iso_weeks() {
        let week = IsoWeek::parse("w", "2026-W02").unwrap();
        assert_eq!(week.monday(), "2026-01-05".parse::<NaiveDate>().unwrap());
        assert_eq!(week.to_string(), "2026-W02");
        // 2026-01-01 is a Thursday: week 1 starts on Monday 2025-12-29.
        assert_eq!(
            IsoWeek::of("2026-01-01".parse().unwrap()).to_string(),
            "2026-W01"
        );
        assert_eq!(
            IsoWeek::of("2027-01-01".parse().unwrap()).to_string(),
            "2026-W53"
        );
        for bad in [
            "2026-W00", "2026-W54", "2025-W53", "2026W02", "26-W02", "2026-W2",
        ] {
            assert!(IsoWeek::parse("w", bad).is_err(), "{bad}");
        }
        assert!(IsoWeek::parse("w", "2026-W53").is_ok());
    }

    #[test]
    fn sums_per_day_and_project() {
        let week = IsoWeek::parse("w", "2026-W02").unwrap();
        let entries = vec![
            Worked {
                started_at: at("2026-01-05T09:00:00Z"),
                project_id: "b".into(),
                billable: true,
                seconds: 3600,
            },
            Worked {
                started_at: at("2026-01-05T23:30:00Z"),
                project_id: "a".into(),
                billable: false,
                seconds: 5400,
            },
            Worked {
                started_at: at("2026-01-11T10:00:00Z"),
                project_id: "b".into(),
                billable: true,
                seconds: 1800,
            },
            // The next week's Monday: not counted.
            Worked {
                started_at: at("2026-01-12T00:00:00Z"),
                project_id: "b".into(),
                billable: true,
                seconds: 999,
            },
        ];
        let summary = summarize(week, &entries);
        assert_eq!(
            summary.days[0].1,
            Split {
                billable_seconds: 3600,
                non_billable_seconds: 5400
            }
        );
        assert_eq!(summary.days[6].1.billable_seconds, 1800);
        assert_eq!(summary.days[1].1, Split::default());
        assert_eq!(
            summary.projects,
            vec![
                (
                    "a".to_string(),
                    Split {
                        billable_seconds: 0,
                        non_billable_seconds: 5400
                    }
                ),
                (
                    "b".to_string(),
                    Split {
                        billable_seconds: 5400,
                        non_billable_seconds: 0
                    }
                ),
            ]
        );
        assert_eq!(summary.total.total_seconds(), 10_800);
        assert_eq!(hours(5400), 1.5);
        assert_eq!(hours(100), 0.03);
    }

    #[test]
    fn lifecycle() {
        assert!(check_can_submit(TimesheetState::Draft, 60).is_ok());
        assert!(check_can_submit(TimesheetState::Rejected, 60).is_ok());
        assert!(check_can_submit(TimesheetState::Draft, 0).is_err());
        assert!(check_can_submit(TimesheetState::Submitted, 60).is_err());
        assert!(check_can_submit(TimesheetState::Approved, 60).is_err());
        assert!(check_can_decide(TimesheetState::Submitted, "u", "m").is_ok());
        assert_eq!(
            check_can_decide(TimesheetState::Submitted, "u", "u"),
            Err(PmoRule::SelfApproval)
        );
        assert!(check_can_decide(TimesheetState::Approved, "u", "m").is_err());
        assert!(TimesheetState::Submitted.is_locked());
        assert!(!TimesheetState::Rejected.is_locked());
        assert!(check_can_see(true, false, false).is_ok());
        assert!(check_can_see(false, false, true).is_ok());
        assert!(check_can_see(false, false, false).is_err());
        assert!(check_can_decide_as(false, true).is_ok());
        assert!(check_can_decide_as(false, false).is_err());
        assert!(check_entry_owner("u", "u").is_ok());
        assert!(check_entry_owner("u", "m").is_err());
        assert!(check_billable(true).is_ok());
        assert!(check_billable(false).is_err());
        assert_eq!(
            check_entry_weeks_open(&[TimesheetState::Draft, TimesheetState::Submitted]),
            Err(PmoRule::TimesheetLocked)
        );
        assert_eq!(parse_rejection("  late  ").unwrap(), "late");
        assert!(parse_rejection(" ").is_err());
    }

    #[test]
    fn entry_times() {
        let now = at("2026-01-10T12:00:00Z");
        assert_eq!(
            check_entry_times(at("2026-01-10T09:00:00Z"), at("2026-01-10T10:30:00Z"), now).unwrap(),
            5400
        );
        assert!(
            check_entry_times(at("2026-01-10T09:00:00Z"), at("2026-01-10T09:00:00Z"), now).is_err()
        );
        assert!(
            check_entry_times(at("2026-01-08T09:00:00Z"), at("2026-01-09T09:00:01Z"), now).is_err()
        );
        assert!(
            check_entry_times(at("2026-01-10T11:00:00Z"), at("2026-01-10T13:00:00Z"), now).is_err()
        );
    }
}
