//! Tasks: what `createTask` takes (one set of limits, also what imported history is held to),
//! labels, dependencies without cycles, subtasks done before their parent, comments.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::{optional_text, Name, PmoRule};

/// The lifecycle category of a board column; a task's status is its column's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

/// The longest description a task takes.
pub const MAX_DESCRIPTION: usize = 10_000;
/// The most assignees a task takes.
pub const MAX_ASSIGNEES: usize = 50;
/// The largest estimate a task takes, in minutes (about a year of work days).
pub const MAX_ESTIMATE_MINUTES: u32 = 100_000;
/// The most labels a task takes.
pub const MAX_LABELS: usize = 20;

/// A label: 1 to 40 of letters, digits, `-`, `_`, `:`, lower-cased.
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

    /// Parses a list: deduplicated, sorted, at most [`MAX_LABELS`].
    pub fn parse_all(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
        let mut labels = raw
            .iter()
            .map(|l| Label::parse(field, l).map(|l| l.0))
            .collect::<Result<Vec<_>, _>>()?;
        labels.sort();
        labels.dedup();
        if labels.len() > MAX_LABELS {
            return Err(ApiError::bad_input(field, "a task has at most 20 labels"));
        }
        Ok(labels)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An estimate in minutes: 0 to [`MAX_ESTIMATE_MINUTES`].
pub fn parse_estimate(field: &str, raw: Option<i32>) -> Result<Option<u32>, ApiError> {
    match raw {
        None => Ok(None),
        Some(minutes) if estimate_fits(i64::from(minutes)) => Ok(Some(minutes as u32)),
        Some(_) => Err(ApiError::bad_input(
            field,
            "an estimate is between 0 and 100000 minutes",
        )),
    }
}

fn estimate_fits(minutes: i64) -> bool {
    (0..=i64::from(MAX_ESTIMATE_MINUTES)).contains(&minutes)
}

/// A task's own fields as `createTask` takes them: a title, an optional description,
/// assignees, an estimate and labels, parsed to the form they are stored in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFields {
    pub title: String,
    pub description: Option<String>,
    /// Sorted, distinct, at most [`MAX_ASSIGNEES`].
    pub assignee_ids: Vec<String>,
    pub estimate_minutes: Option<u32>,
    /// Lower case, sorted, distinct, at most [`MAX_LABELS`].
    pub labels: Vec<String>,
}

impl TaskFields {
    pub fn parse(
        title: &str,
        description: Option<&str>,
        mut assignee_ids: Vec<String>,
        estimate_minutes: Option<i32>,
        labels: &[String],
    ) -> Result<Self, ApiError> {
        let description =
            optional_text("description", description, MAX_DESCRIPTION, "description")?;
        assignee_ids.sort();
        assignee_ids.dedup();
        if assignee_ids.len() > MAX_ASSIGNEES {
            return Err(ApiError::bad_input(
                "assigneeIds",
                "a task has at most 50 assignees",
            ));
        }
        Ok(Self {
            title: Name::parse("title", title)?.into_inner(),
            description,
            assignee_ids,
            estimate_minutes: parse_estimate("estimateMinutes", estimate_minutes)?,
            labels: Label::parse_all("labels", labels)?,
        })
    }

    /// Why fields stored elsewhere (imported history) are not what [`TaskFields::parse`]
    /// would have stored (None: they are). A title or label that does not parse at all is its
    /// own error.
    pub fn not_as_stored(
        title: &str,
        description: Option<&str>,
        assignee_ids: &[String],
        estimate_minutes: Option<i64>,
        labels: &[String],
    ) -> Result<Option<&'static str>, ApiError> {
        if Name::parse("title", title)?.into_inner() != title {
            return Ok(Some("its title has surrounding white space"));
        }
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Ok(Some("its description is longer than 10000 characters"));
        }
        if Label::parse_all("labels", labels)? != labels {
            return Ok(Some("its labels are not lower case, sorted and unique"));
        }
        let assignees: BTreeSet<&String> = assignee_ids.iter().collect();
        if assignees.len() != assignee_ids.len() || assignees.len() > MAX_ASSIGNEES {
            return Ok(Some("has duplicate assignees or more than 50"));
        }
        if estimate_minutes.is_some_and(|m| !estimate_fits(m)) {
            return Ok(Some("its estimate is not between 0 and 100000 minutes"));
        }
        Ok(None)
    }
}

/// The subtask rule: a task with subtasks is done only once all of them are (`open` counts
/// those that are not). Reopening a subtask later does not reopen its parent.
pub fn check_parent_done(to: TaskStatus, open: u64) -> Result<(), PmoRule> {
    if to == TaskStatus::Done && open > 0 {
        return Err(PmoRule::OpenSubtasks { open });
    }
    Ok(())
}

/// A subtask's parent is a task of the same project that is not a subtask itself (one level).
pub fn check_parent(same_project: bool, parent_is_subtask: bool) -> Result<(), ApiError> {
    if !same_project {
        return Err(ApiError::bad_input(
            "parentId",
            "no such task in the same project",
        ));
    }
    if parent_is_subtask {
        return Err(ApiError::bad_input(
            "parentId",
            "a subtask cannot have subtasks: pick its parent instead",
        ));
    }
    Ok(())
}

/// A task moves from the column it was read in; a move made meanwhile wins.
pub fn moved_meanwhile() -> ApiError {
    ApiError::Conflict("the task was moved meanwhile; reload and retry".into())
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

/// Only its author edits a comment.
pub fn check_comment_author(author_id: &str, caller: &str) -> Result<(), ApiError> {
    if author_id != caller {
        return Err(ApiError::Forbidden(
            "only the author can edit a comment".into(),
        ));
    }
    Ok(())
}

/// The dependency rule: `task` may be blocked by `blocker` unless `blocker` already (transitively)
/// waits for `task`, or they are the same task. `blocked_by` maps a task to the tasks blocking it.
pub fn check_dependency(
    task: &str,
    blocker: &str,
    blocked_by: &HashMap<String, Vec<String>>,
) -> Result<(), PmoRule> {
    if task == blocker {
        return Err(PmoRule::DependencyCycle);
    }
    // Walk from `blocker` along "is blocked by": reaching `task` means task -> blocker -> ... -> task.
    let mut seen = HashSet::new();
    let mut stack = vec![blocker];
    while let Some(current) = stack.pop() {
        if current == task {
            return Err(PmoRule::DependencyCycle);
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
    fn parses_labels() {
        assert_eq!(
            Label::parse_all("l", &["Bug".into(), "bug".into(), "ux:mobile".into()]).unwrap(),
            vec!["bug", "ux:mobile"]
        );
        assert!(Label::parse("l", "two words").is_err());
        assert!(Label::parse("l", "").is_err());
    }

    #[test]
    fn the_fields_of_a_task_are_checked_once_for_new_and_stored_tasks() {
        let fields = TaskFields::parse(
            " Write ",
            Some("  "),
            vec!["b".into(), "a".into(), "b".into()],
            Some(90),
            &["Bug".into()],
        )
        .unwrap();
        assert_eq!(fields.title, "Write");
        assert_eq!(fields.description, None);
        assert_eq!(fields.assignee_ids, vec!["a", "b"]);
        assert_eq!(fields.labels, vec!["bug"]);
        let many: Vec<String> = (0..51).map(|n| n.to_string()).collect();
        assert!(TaskFields::parse("T", None, many.clone(), None, &[]).is_err());
        assert!(TaskFields::parse("T", Some(&"x".repeat(10_001)), vec![], None, &[]).is_err());
        assert!(TaskFields::parse("T", None, vec![], Some(100_001), &[]).is_err());

        let stored = |title: &str, assignees: &[String], estimate: Option<i64>| {
            TaskFields::not_as_stored(title, None, assignees, estimate, &["bug".into()])
        };
        assert_eq!(stored("Write", &[], Some(90)).unwrap(), None);
        assert_eq!(
            stored(" Write", &[], None).unwrap(),
            Some("its title has surrounding white space")
        );
        assert_eq!(
            stored("Write", &many, None).unwrap(),
            Some("has duplicate assignees or more than 50")
        );
        assert_eq!(
            stored("Write", &[], Some(-1)).unwrap(),
            Some("its estimate is not between 0 and 100000 minutes")
        );
        assert!(stored("", &[], None).is_err());
    }

    #[test]
    fn parents_close_after_their_subtasks() {
        assert!(check_parent_done(TaskStatus::Done, 0).is_ok());
        assert!(check_parent_done(TaskStatus::InProgress, 3).is_ok());
        assert_eq!(
            check_parent_done(TaskStatus::Done, 2),
            Err(PmoRule::OpenSubtasks { open: 2 })
        );
        assert!(check_parent(true, false).is_ok());
        assert!(check_parent(false, false).is_err());
        assert!(check_parent(true, true).is_err());
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
        assert!(check_comment_author("a", "a").is_ok());
        assert!(check_comment_author("a", "b").is_err());
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
            Err(PmoRule::DependencyCycle)
        );
        assert_eq!(
            check_dependency("a", "a", &edges),
            Err(PmoRule::DependencyCycle)
        );
    }
}
