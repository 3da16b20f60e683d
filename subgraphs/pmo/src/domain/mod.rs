//! PMO domain types and rules: pure, no GraphQL, no database.
//! Values are parsed at the boundary, so an invalid one cannot exist past it.

pub mod custom_field;
pub mod sprint;
pub mod timer;
pub mod timesheet;
pub mod tracking;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

/// A rule of the domain that refused a change. Each has a stable `reason` a client can branch on
/// (next to the generic `extensions.code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleViolation {
    /// Moving or adding the task would put more tasks in the column than its WIP limit allows.
    WipLimitExceeded { column: String, limit: u32 },
    /// The dependency would make the task (indirectly) block itself.
    DependencyCycle,
    /// The person already has a timer (running or paused).
    TimerAlreadyRunning,
    /// The timer is not in a state that allows the transition.
    TimerState(&'static str),
    /// The sprint is not in a state that allows the change.
    SprintState(&'static str),
    /// Another sprint of the project is active.
    SprintAlreadyActive,
    /// A parent task cannot be done while some of its subtasks are not.
    OpenSubtasks { open: u64 },
    /// The timesheet is not in a state that allows the change.
    TimesheetState(&'static str),
    /// The week of the time entry is submitted or approved.
    TimesheetLocked,
    /// Time (a timer starting or stopping) would be added to a submitted or approved week.
    WeekLocked { week: String, approved: bool },
    /// The week cannot be submitted or approved while its owner's timer that started in it runs.
    TimerRunning { week: String },
    /// Nobody approves or rejects their own timesheet.
    SelfApproval,
}

impl RuleViolation {
    /// The stable `extensions.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            RuleViolation::WipLimitExceeded { .. } => "WIP_LIMIT_EXCEEDED",
            RuleViolation::DependencyCycle => "DEPENDENCY_CYCLE",
            RuleViolation::TimerAlreadyRunning => "TIMER_ALREADY_RUNNING",
            RuleViolation::TimerState(_) => "TIMER_STATE",
            RuleViolation::SprintState(_) => "SPRINT_STATE",
            RuleViolation::SprintAlreadyActive => "SPRINT_ALREADY_ACTIVE",
            RuleViolation::OpenSubtasks { .. } => "OPEN_SUBTASKS",
            RuleViolation::TimesheetState(_) => "TIMESHEET_STATE",
            RuleViolation::TimesheetLocked | RuleViolation::WeekLocked { .. } => "TIMESHEET_LOCKED",
            RuleViolation::TimerRunning { .. } => "TIMER_RUNNING",
            RuleViolation::SelfApproval => "SELF_APPROVAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            RuleViolation::WipLimitExceeded { column, limit } => {
                format!("the column `{column}` already holds its WIP limit of {limit} task(s)")
            }
            RuleViolation::DependencyCycle => {
                "the dependency would create a cycle: the task would block itself".into()
            }
            RuleViolation::TimerAlreadyRunning => {
                "a timer is already running for this person: stop it first".into()
            }
            RuleViolation::TimerState(what)
            | RuleViolation::SprintState(what)
            | RuleViolation::TimesheetState(what) => (*what).to_owned(),
            RuleViolation::TimesheetLocked => {
                "the week of this time entry is submitted or approved: its entries are locked"
                    .into()
            }
            RuleViolation::WeekLocked {
                week,
                approved: true,
            } => format!("the timesheet of {week} is approved: no time can be added to it"),
            RuleViolation::WeekLocked {
                week,
                approved: false,
            } => format!(
                "the timesheet of {week} is submitted: no time can be added to it unless it is \
                 rejected"
            ),
            RuleViolation::TimerRunning { week } => format!(
                "a timer started in {week} is still running: it has to be stopped before the \
                 week is submitted or approved"
            ),
            RuleViolation::SelfApproval => "you cannot approve or reject your own timesheet".into(),
            RuleViolation::SprintAlreadyActive => {
                "another sprint of this project is active: close it first".into()
            }
            RuleViolation::OpenSubtasks { open } => {
                format!("{open} subtask(s) are not done yet: finish them before the parent")
            }
        }
    }
}

/// A short trimmed text without control characters, 1 to `max` characters.
fn short_text(field: &str, raw: &str, max: usize, what: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} must not be empty"),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} is longer than {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} contains control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A name (project, board, column) or a task title: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        short_text(field, raw, 200, "name").map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A label: 1 to 40 of letters, digits, `-`, `_`, `:`, lower-cased. A task has at most 20.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

impl Label {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let value = raw.trim().to_lowercase();
        if value.is_empty()
            || value.chars().count() > 40
            || !value
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':'))
        {
            return Err(ApiError::bad_input(
                field,
                format!(
                    "`{}` is not a label: 1 to 40 letters, digits, `-`, `_` or `:`",
                    raw.trim()
                ),
            ));
        }
        Ok(Self(value))
    }

    /// Parses a list: deduplicated, sorted, at most 20.
    pub fn parse_all(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
        let mut labels = raw
            .iter()
            .map(|l| Label::parse(field, l).map(|l| l.0))
            .collect::<Result<Vec<_>, _>>()?;
        labels.sort();
        labels.dedup();
        if labels.len() > 20 {
            return Err(ApiError::bad_input(field, "a task has at most 20 labels"));
        }
        Ok(labels)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A money amount in minor units (cents) with an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

impl Money {
    /// Parses a non-negative decimal with at most two fraction digits ("12500", "12500.5",
    /// "12500.50") and a three-letter currency.
    pub fn parse(field: &str, amount: &str, currency: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_input(
                field,
                format!(
                    "`{}` is not an amount like 12500.00 (at most two decimals, not negative)",
                    amount.trim()
                ),
            )
        };
        let amount = amount.trim();
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        if whole.is_empty()
            || whole.len() > 13
            || fraction.len() > 2
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !fraction.chars().all(|c| c.is_ascii_digit())
            || (amount.contains('.') && fraction.is_empty())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let minor = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .ok_or_else(bad)?;
        let currency = currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::bad_input(
                "currency",
                "the currency is a three-letter ISO 4217 code such as EUR",
            ));
        }
        Ok(Self { minor, currency })
    }

    /// "12500.50"
    pub fn amount(&self) -> String {
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }
}

/// What a project member may do in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// Everything, including members and budget.
    Owner,
    /// Boards, members, budget and tasks.
    Manager,
    /// Tasks: create, move, depend, log time.
    Contributor,
    /// Reads only.
    Viewer,
}

impl ProjectRole {
    /// May change boards, members and the budget.
    pub fn can_manage(self) -> bool {
        matches!(self, ProjectRole::Owner | ProjectRole::Manager)
    }

    /// May create and move tasks.
    pub fn can_contribute(self) -> bool {
        !matches!(self, ProjectRole::Viewer)
    }
}

/// The lifecycle category of a board column; a task's status is its column's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

/// A column's WIP limit: 1 to 1000 tasks, or none.
pub fn parse_wip_limit(field: &str, raw: Option<i32>) -> Result<Option<u32>, ApiError> {
    match raw {
        None => Ok(None),
        Some(limit) if (1..=1000).contains(&limit) => Ok(Some(limit as u32)),
        Some(_) => Err(ApiError::bad_input(
            field,
            "a WIP limit is between 1 and 1000 (leave it out for no limit)",
        )),
    }
}

/// An estimate in minutes: 0 to 100,000 (about a year of work days).
pub fn parse_estimate(field: &str, raw: Option<i32>) -> Result<Option<u32>, ApiError> {
    match raw {
        None => Ok(None),
        Some(minutes) if (0..=100_000).contains(&minutes) => Ok(Some(minutes as u32)),
        Some(_) => Err(ApiError::bad_input(
            field,
            "an estimate is between 0 and 100000 minutes",
        )),
    }
}

/// The WIP rule: a column holding `current` tasks may take one more only below its limit.
pub fn check_wip(column: &str, limit: Option<u32>, current: u64) -> Result<(), RuleViolation> {
    match limit {
        Some(limit) if current >= u64::from(limit) => Err(RuleViolation::WipLimitExceeded {
            column: column.to_owned(),
            limit,
        }),
        _ => Ok(()),
    }
}

/// The subtask rule: a task with subtasks is done only once all of them are (`open` counts
/// those that are not). Reopening a subtask later does not reopen its parent.
pub fn check_parent_done(to: TaskStatus, open: u64) -> Result<(), RuleViolation> {
    if to == TaskStatus::Done && open > 0 {
        return Err(RuleViolation::OpenSubtasks { open });
    }
    Ok(())
}

/// A comment: 1 to 10,000 characters (line breaks allowed).
pub fn parse_comment(raw: &str) -> Result<String, ApiError> {
    let body = raw.trim();
    if body.is_empty() || body.chars().count() > 10_000 {
        return Err(ApiError::bad_input(
            "body",
            "a comment has 1 to 10000 characters",
        ));
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad_input(
            "body",
            "the comment contains control characters",
        ));
    }
    Ok(body.to_owned())
}

/// The dependency rule: `task` may be blocked by `blocker` unless `blocker` already (transitively)
/// waits for `task`, or they are the same task. `blocked_by` maps a task to the tasks blocking it.
pub fn check_dependency(
    task: &str,
    blocker: &str,
    blocked_by: &HashMap<String, Vec<String>>,
) -> Result<(), RuleViolation> {
    if task == blocker {
        return Err(RuleViolation::DependencyCycle);
    }
    // Walk from `blocker` along "is blocked by": reaching `task` means task -> blocker -> ... -> task.
    let mut seen = HashSet::new();
    let mut stack = vec![blocker];
    while let Some(current) = stack.pop() {
        if current == task {
            return Err(RuleViolation::DependencyCycle);
        }
        if !seen.insert(current) {
            continue;
        }
        if let Some(next) = blocked_by.get(current) {
            stack.extend(next.iter().map(String::as_str));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_money() {
        assert_eq!(Money::parse("b", "12500", "eur").unwrap().minor, 1_250_000);
        assert_eq!(Money::parse("b", "1.5", "EUR").unwrap().minor, 150);
        assert_eq!(Money::parse("b", "0.05", "EUR").unwrap().amount(), "0.05");
        for bad in ["", "-1", "1.", "1.234", "1e5", "abc", "99999999999999"] {
            assert!(Money::parse("b", bad, "EUR").is_err(), "{bad}");
        }
        assert!(Money::parse("b", "1", "EURO").is_err());
    }

    #[test]
    fn parses_labels() {
        assert_eq!(
            Label::parse_all("l", &["Bug".into(), "bug".into(), "ux:mobile".into()]).unwrap(),
            vec!["bug", "ux:mobile"]
        );
        assert!(Label::parse("l", "two words").is_err());
        assert!(Label::parse("l", "").is_err());
    }

    #[test]
    fn wip_limits() {
        assert!(check_wip("Doing", Some(2), 1).is_ok());
        assert_eq!(
            check_wip("Doing", Some(2), 2),
            Err(RuleViolation::WipLimitExceeded {
                column: "Doing".into(),
                limit: 2
            })
        );
        assert!(check_wip("Backlog", None, 10_000).is_ok());
        assert!(parse_wip_limit("w", Some(0)).is_err());
    }

    #[test]
    fn parents_close_after_their_subtasks() {
        assert!(check_parent_done(TaskStatus::Done, 0).is_ok());
        assert!(check_parent_done(TaskStatus::InProgress, 3).is_ok());
        assert_eq!(
            check_parent_done(TaskStatus::Done, 2),
            Err(RuleViolation::OpenSubtasks { open: 2 })
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            parse_comment("  Looks good\nShip it ").unwrap(),
            "Looks good\nShip it"
        );
        assert!(parse_comment("   ").is_err());
        assert!(parse_comment(&"x".repeat(10_001)).is_err());
        assert!(parse_comment("bell \u{7}").is_err());
    }

    #[test]
    fn dependency_cycles() {
        let edges = HashMap::from([
            ("b".to_string(), vec!["c".to_string()]),
            ("c".to_string(), vec!["d".to_string()]),
        ]);
        // a blocked by b: fine. d blocked by b: b -> c -> d, so d would wait for itself.
        assert!(check_dependency("a", "b", &edges).is_ok());
        assert_eq!(
            check_dependency("d", "b", &edges),
            Err(RuleViolation::DependencyCycle)
        );
        assert_eq!(
            check_dependency("a", "a", &edges),
            Err(RuleViolation::DependencyCycle)
        );
    }
}
