//! PMO domain types and rules: pure, no GraphQL, no database. Values are parsed at the
//! boundary, so an invalid one cannot exist past it. Every file here imports only this one
//! (and its siblings below it); this one imports none of them.
//!
//! The rules a client can branch on are [`reasons`]; [`PmoRule`] is the broken rule with its
//! message, which the kit turns into `extensions.code` + `extensions.reason`.

pub mod board;
pub mod custom_field;
pub mod project;
pub mod sprint;
pub mod task;
pub mod timer;
pub mod timesheet;

use erp_kit::{ApiError, Reason};

/// The domain's name: its topic is `erp.pmo.events`, its outbox `pmo_outbox`.
pub const DOMAIN: &str = "pmo";

erp_kit::reasons! {
    /// The PMO rules a client can branch on (`extensions.reason`), with their kit code.
    pub mod reasons {
        /// A column already holds as many tasks as its WIP limit allows.
        WIP_LIMIT_EXCEEDED => Conflict,
        /// The dependency would make a task (indirectly) wait for itself.
        DEPENDENCY_CYCLE => BadUserInput,
        /// The person already has a timer, running or paused.
        TIMER_ALREADY_RUNNING => Conflict,
        /// The timer is not in a state that allows the change (pausing a paused timer...).
        TIMER_STATE => Conflict,
        /// The sprint is not in a state that allows the change (planning a closed sprint...).
        SPRINT_STATE => Conflict,
        /// Another sprint of the project is active.
        SPRINT_ALREADY_ACTIVE => Conflict,
        /// A parent task is done only once all of its subtasks are.
        OPEN_SUBTASKS => Conflict,
        /// The timesheet is not in a state that allows the change (submitting it twice...).
        TIMESHEET_STATE => Conflict,
        /// The week is submitted or approved: no time is added to it or changed in it.
        TIMESHEET_LOCKED => Conflict,
        /// The week cannot be submitted or approved while its owner's timer that started in it
        /// runs or is paused.
        TIMER_RUNNING => Conflict,
        /// Nobody approves or rejects their own timesheet.
        SELF_APPROVAL => Forbidden,
        /// A project keeps at least one owner.
        LAST_OWNER => Conflict,
        /// The project has a custom field of that name already (names are unique whatever
        /// their case).
        CUSTOM_FIELD_EXISTS => Conflict,
        /// The project has as many custom fields as a project may have.
        CUSTOM_FIELD_LIMIT => Conflict,
    }
}

/// A rule of the domain that refused a change: its reason and the message the caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PmoRule {
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
    /// Removing the member would leave the project without an owner.
    LastOwner,
    /// The project has a custom field of that name (any case).
    CustomFieldExists { name: String },
    /// The project has `max` custom fields already.
    CustomFieldLimit { max: usize },
}

impl erp_kit::RuleViolation for PmoRule {
    fn reason(&self) -> Reason {
        match self {
            PmoRule::WipLimitExceeded { .. } => reasons::WIP_LIMIT_EXCEEDED,
            PmoRule::DependencyCycle => reasons::DEPENDENCY_CYCLE,
            PmoRule::TimerAlreadyRunning => reasons::TIMER_ALREADY_RUNNING,
            PmoRule::TimerState(_) => reasons::TIMER_STATE,
            PmoRule::SprintState(_) => reasons::SPRINT_STATE,
            PmoRule::SprintAlreadyActive => reasons::SPRINT_ALREADY_ACTIVE,
            PmoRule::OpenSubtasks { .. } => reasons::OPEN_SUBTASKS,
            PmoRule::TimesheetState(_) => reasons::TIMESHEET_STATE,
            PmoRule::TimesheetLocked | PmoRule::WeekLocked { .. } => reasons::TIMESHEET_LOCKED,
            PmoRule::TimerRunning { .. } => reasons::TIMER_RUNNING,
            PmoRule::SelfApproval => reasons::SELF_APPROVAL,
            PmoRule::LastOwner => reasons::LAST_OWNER,
            PmoRule::CustomFieldExists { .. } => reasons::CUSTOM_FIELD_EXISTS,
            PmoRule::CustomFieldLimit { .. } => reasons::CUSTOM_FIELD_LIMIT,
        }
    }

    fn message(&self) -> String {
        match self {
            PmoRule::WipLimitExceeded { column, limit } => {
                format!("the column `{column}` already holds its WIP limit of {limit} task(s)")
            }
            PmoRule::DependencyCycle => {
                "the dependency would create a cycle: the task would block itself".into()
            }
            PmoRule::TimerAlreadyRunning => {
                "a timer is already running for this person: stop it first".into()
            }
            PmoRule::TimerState(what)
            | PmoRule::SprintState(what)
            | PmoRule::TimesheetState(what) => (*what).to_owned(),
            PmoRule::TimesheetLocked => {
                "the week of this time entry is submitted or approved: its entries are locked"
                    .into()
            }
            PmoRule::WeekLocked {
                week,
                approved: true,
            } => format!("the timesheet of {week} is approved: no time can be added to it"),
            PmoRule::WeekLocked {
                week,
                approved: false,
            } => format!(
                "the timesheet of {week} is submitted: no time can be added to it unless it is \
                 rejected"
            ),
            PmoRule::TimerRunning { week } => format!(
                "a timer started in {week} is still running: it has to be stopped before the \
                 week is submitted or approved"
            ),
            PmoRule::SelfApproval => "you cannot approve or reject your own timesheet".into(),
            PmoRule::SprintAlreadyActive => {
                "another sprint of this project is active: close it first".into()
            }
            PmoRule::OpenSubtasks { open } => {
                format!("{open} subtask(s) are not done yet: finish them before the parent")
            }
            PmoRule::LastOwner => {
                "a project keeps at least one owner: make another owner first".into()
            }
            PmoRule::CustomFieldExists { name } => {
                format!("the project already has a custom field named `{name}`")
            }
            PmoRule::CustomFieldLimit { max } => {
                format!("a project has at most {max} custom fields")
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            PmoRule::DependencyCycle => Some("blockedById"),
            _ => None,
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

/// A name (project, board, column, sprint, custom field) or a task title: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        short_text(field, raw, 200, "name").map(Self)
    }

    /// An optional name (a project's client): none when absent or blank.
    pub fn parse_optional(field: &str, raw: Option<&str>) -> Result<Option<Self>, ApiError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => Self::parse(field, raw).map(Some),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An optional free text of at most `max` characters, trimmed: none when absent or blank.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    what: &str,
) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max => Err(ApiError::bad_input(
            field,
            format!("the {what} is longer than {max} characters"),
        )),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use erp_kit::RuleViolation;

    #[test]
    fn every_rule_has_a_declared_reason_with_its_code() {
        assert_eq!(reasons::ALL.len(), 14);
        let cycle = PmoRule::DependencyCycle;
        assert_eq!(cycle.reason().name(), "DEPENDENCY_CYCLE");
        assert_eq!(cycle.reason().code(), erp_kit::ErrorCode::BadUserInput);
        assert_eq!(cycle.field(), Some("blockedById"));
        assert_eq!(
            PmoRule::SelfApproval.reason().code(),
            erp_kit::ErrorCode::Forbidden
        );
        let locked = ApiError::from(PmoRule::TimesheetLocked);
        assert_eq!(locked.code(), erp_kit::ErrorCode::Conflict);
        assert_eq!(locked.reason(), Some(reasons::TIMESHEET_LOCKED));
    }

    #[test]
    fn names_and_texts() {
        assert_eq!(Name::parse("n", "  Board ").unwrap().into_inner(), "Board");
        assert!(Name::parse("n", " ").is_err());
        assert!(Name::parse("n", &"x".repeat(201)).is_err());
        assert!(Name::parse("n", "a\u{7}").is_err());
        assert_eq!(Name::parse_optional("c", Some("  ")).unwrap(), None);
        assert_eq!(
            optional_text("g", Some(" goal "), 10, "goal").unwrap(),
            Some("goal".into())
        );
        assert!(optional_text("g", Some("elevenchars"), 10, "goal").is_err());
        assert_eq!(optional_text("g", None, 10, "goal").unwrap(), None);
    }
}
