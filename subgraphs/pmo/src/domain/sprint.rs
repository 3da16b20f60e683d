//! Sprints: planned, then active (one per project at a time), then closed, with the unfinished
//! tasks carried over to a planned sprint of the project or back to the backlog.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::task::TaskStatus;
use super::PmoRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SprintState {
    Planned,
    Active,
    Closed,
}

/// A sprint's dates: both or neither, the end not before the start, at most 366 days long.
pub fn parse_dates(
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
) -> Result<Option<(NaiveDate, NaiveDate)>, ApiError> {
    match (starts_on, ends_on) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) if end < start => Err(ApiError::bad_input(
            "endsOn",
            "a sprint cannot end before it starts",
        )),
        (Some(start), Some(end)) if (end - start).num_days() > 366 => Err(ApiError::bad_input(
            "endsOn",
            "a sprint lasts at most 366 days",
        )),
        (Some(start), Some(end)) => Ok(Some((start, end))),
        _ => Err(ApiError::bad_input(
            "endsOn",
            "give `startsOn` and `endsOn` together",
        )),
    }
}

/// Tasks may be added to or removed from a planned or active sprint, never a closed one.
pub fn check_can_plan(state: SprintState) -> Result<(), PmoRule> {
    match state {
        SprintState::Closed => Err(PmoRule::SprintState(
            "the sprint is closed: its tasks can no longer change",
        )),
        SprintState::Planned | SprintState::Active => Ok(()),
    }
}

/// A sprint a task joins or leaves is a sprint of the task's project.
pub fn no_such_sprint() -> ApiError {
    ApiError::bad_input("sprintId", "no such sprint in the task's project")
}

/// Only a planned sprint starts, and only while no other sprint of the project is active.
pub fn check_can_start(state: SprintState, another_active: bool) -> Result<(), PmoRule> {
    match state {
        SprintState::Active => Err(PmoRule::SprintState("the sprint is already active")),
        SprintState::Closed => Err(PmoRule::SprintState("a closed sprint cannot restart")),
        SprintState::Planned if another_active => Err(PmoRule::SprintAlreadyActive),
        SprintState::Planned => Ok(()),
    }
}

/// Only an active sprint closes.
pub fn check_can_close(state: SprintState) -> Result<(), PmoRule> {
    match state {
        SprintState::Active => Ok(()),
        SprintState::Planned => Err(PmoRule::SprintState(
            "the sprint has not started: remove its tasks instead of closing it",
        )),
        SprintState::Closed => Err(PmoRule::SprintState("the sprint is already closed")),
    }
}

/// Unfinished tasks go to a PLANNED sprint of the same project (not the one closing).
/// `target` is the sprint named (its id, state and whether it is in the closing sprint's
/// project), None when the tenant has no such sprint.
pub fn check_carry_over_target(
    closing_id: &str,
    target: Option<(&str, SprintState, bool)>,
) -> Result<(), ApiError> {
    let Some((target_id, target_state, same_project)) = target else {
        return Err(ApiError::bad_input("carryOverTo", "no such sprint"));
    };
    if closing_id == target_id || !same_project {
        return Err(ApiError::bad_input(
            "carryOverTo",
            "carry unfinished tasks over to another sprint of the same project",
        ));
    }
    if target_state != SprintState::Planned {
        return Err(ApiError::bad_input(
            "carryOverTo",
            "unfinished tasks can only be carried over to a planned sprint",
        ));
    }
    Ok(())
}

/// Splits a closing sprint's tasks into (completed, carried over): done tasks stay with the
/// sprint, every other one moves on.
pub fn split_at_close(tasks: &[(String, TaskStatus)]) -> (Vec<&str>, Vec<&str>) {
    let (done, open): (Vec<_>, Vec<_>) = tasks
        .iter()
        .partition(|(_, status)| *status == TaskStatus::Done);
    (
        done.into_iter().map(|(id, _)| id.as_str()).collect(),
        open.into_iter().map(|(id, _)| id.as_str()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(parse_dates(None, None).unwrap(), None);
        assert!(parse_dates(Some(day("2026-01-05")), Some(day("2026-01-16"))).is_ok());
        assert!(parse_dates(Some(day("2026-01-05")), Some(day("2026-01-05"))).is_ok());
        assert!(parse_dates(Some(day("2026-01-05")), Some(day("2026-01-04"))).is_err());
        assert!(parse_dates(Some(day("2026-01-05")), None).is_err());
        assert!(parse_dates(Some(day("2026-01-05")), Some(day("2027-02-05"))).is_err());
    }

    #[test]
    fn lifecycle() {
        assert!(check_can_plan(SprintState::Planned).is_ok());
        assert!(check_can_plan(SprintState::Active).is_ok());
        assert!(check_can_plan(SprintState::Closed).is_err());
        assert!(check_can_start(SprintState::Planned, false).is_ok());
        assert_eq!(
            check_can_start(SprintState::Planned, true),
            Err(PmoRule::SprintAlreadyActive)
        );
        assert!(check_can_start(SprintState::Active, false).is_err());
        assert!(check_can_start(SprintState::Closed, false).is_err());
        assert!(check_can_close(SprintState::Active).is_ok());
        assert!(check_can_close(SprintState::Planned).is_err());
        assert!(check_can_close(SprintState::Closed).is_err());
    }

    #[test]
    fn carry_over() {
        assert!(check_carry_over_target("s1", Some(("s2", SprintState::Planned, true))).is_ok());
        assert!(check_carry_over_target("s1", Some(("s1", SprintState::Planned, true))).is_err());
        assert!(check_carry_over_target("s1", Some(("s2", SprintState::Planned, false))).is_err());
        assert!(check_carry_over_target("s1", Some(("s2", SprintState::Active, true))).is_err());
        assert!(check_carry_over_target("s1", None).is_err());
        let tasks = vec![
            ("a".to_string(), TaskStatus::Done),
            ("b".to_string(), TaskStatus::InProgress),
            ("c".to_string(), TaskStatus::Todo),
        ];
        assert_eq!(split_at_close(&tasks), (vec!["a"], vec!["b", "c"]));
    }
}
