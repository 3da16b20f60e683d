//! The documents the PMO stores: one collection each in MongoDB (`pmo_<name>`), one map each in
//! the embedded store. Every document carries its tenant. A document with a `rev` has its
//! revision bumped by every write that a concurrent change must not slip past (see the
//! conditional writes of [`super::PmoStore`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::custom_field::FieldDefinition;
pub use crate::domain::project::Member;
use crate::domain::project::{Money, ProjectRole};
use crate::domain::sprint::SprintState;
use crate::domain::task::TaskStatus;
pub use crate::domain::timesheet::EntryTimes;
use crate::domain::timesheet::TimesheetState;

/// The MongoDB collections of the documents (and of the relay's lease).
pub const PROJECTS: &str = "pmo_projects";
pub const BOARDS: &str = "pmo_boards";
pub const TASKS: &str = "pmo_tasks";
pub const TIME_ENTRIES: &str = "pmo_time_entries";
pub const SPRINTS: &str = "pmo_sprints";
pub const COMMENTS: &str = "pmo_comments";
pub const TIMESHEETS: &str = "pmo_timesheets";
pub const ENTRY_EDITS: &str = "pmo_time_entry_edits";
pub const OUTBOX: &str = "pmo_outbox";
pub const LEASES: &str = "pmo_leases";
pub const INBOX: &str = "pmo_inbox";
pub const DEAD_LETTERS: &str = "pmo_dead_letters";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// The client's name as typed (deprecated in the API for `client_id`; kept, and matched
    /// against the CRM's clients to fill `client_id`).
    pub client: Option<String>,
    /// The CRM `Client` the project is for (a federation reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub budget: Option<Money>,
    pub billable: bool,
    pub members: Vec<Member>,
    /// The typed custom fields its tasks may carry.
    #[serde(default)]
    pub custom_fields: Vec<FieldDefinition>,
    pub created_at: DateTime<Utc>,
    /// Bumped by every dependency change, custom field and sprint start, so concurrent ones
    /// conflict instead of racing.
    #[serde(default)]
    pub rev: i64,
    /// The CRM opportunity the project was won from (its hand-off, `opportunity.won`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    /// The CRM merge that gave the project to its client, and the client it had before (what
    /// an undone merge gives it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<MergedFrom>,
}

/// The client a project had before a CRM merge moved it to the survivor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// The CRM merge.
    pub merge_id: String,
    /// The merged-away client (restored by an undo).
    pub client_id: String,
    /// The typed client name the project had.
    pub client: Option<String>,
}

impl ProjectDoc {
    pub fn role_of(&self, user_id: &str) -> Option<ProjectRole> {
        crate::domain::project::role_of(&self.members, user_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDoc {
    pub id: String,
    pub name: String,
    pub status: TaskStatus,
    pub wip_limit: Option<i64>,
}

impl ColumnDoc {
    /// The WIP limit as the rule takes it.
    pub fn limit(&self) -> Option<u32> {
        self.wip_limit.and_then(|l| u32::try_from(l).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub name: String,
    pub columns: Vec<ColumnDoc>,
    /// Bumped by every task added to one of its limited columns (created, moved or imported),
    /// so concurrent ones conflict instead of racing past a WIP limit.
    #[serde(default)]
    pub rev: i64,
}

impl BoardDoc {
    pub fn column(&self, id: &str) -> Option<&ColumnDoc> {
        self.columns.iter().find(|c| c.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub board_id: Option<String>,
    pub column_id: Option<String>,
    pub status: TaskStatus,
    pub title: String,
    pub description: Option<String>,
    pub assignee_ids: Vec<String>,
    pub estimate_minutes: Option<i64>,
    pub labels: Vec<String>,
    pub sprint_id: Option<String>,
    /// The tasks that must be done before this one.
    pub blocked_by: Vec<String>,
    /// The parent task, for a subtask (one level: a subtask has no subtasks).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Values of the project's custom fields.
    #[serde(default)]
    pub custom_fields: Vec<CustomValue>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A task's value of a custom field (canonical form, checked against the definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomValue {
    pub field_id: String,
    pub value: String,
}

/// A comment on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub task_id: String,
    pub project_id: String,
    /// The user who wrote it (the only one who may edit it).
    pub author_id: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SprintDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub name: String,
    pub goal: Option<String>,
    pub starts_on: Option<chrono::NaiveDate>,
    pub ends_on: Option<chrono::NaiveDate>,
    pub state: SprintState,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// At close: the tasks that were done (they stay with the sprint).
    #[serde(default)]
    pub completed_task_ids: Vec<String>,
    /// At close: the unfinished tasks moved on.
    #[serde(default)]
    pub carried_over_task_ids: Vec<String>,
    /// At close: the sprint they moved to (None: the backlog).
    pub carried_over_to: Option<String>,
    /// Bumped by every planning change, start and close, so they conflict instead of racing.
    #[serde(default)]
    pub rev: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeEntryDoc {
    /// The id of the timer it was (so stopping twice cannot record twice).
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub task_id: String,
    pub project_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub billable: bool,
}

impl TimeEntryDoc {
    pub fn times(&self) -> EntryTimes {
        EntryTimes {
            started_at: self.started_at,
            ended_at: self.ended_at,
            duration_seconds: self.duration_seconds,
            billable: self.billable,
        }
    }
}

/// A project's hours in a submitted timesheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectHours {
    pub project_id: String,
    pub billable_seconds: i64,
    pub non_billable_seconds: i64,
}

/// A person's week once it has been touched (time tracked in it by a timer, an entry edited)
/// or submitted; a week without one is a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimesheetDoc {
    /// `{tenant}:{user}:{week}`.
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    /// `2026-W02`.
    pub week: String,
    pub state: TimesheetState,
    /// Bumped by every change of the week (time added, submit, decisions, entry edits):
    /// optimistic locking.
    pub rev: i64,
    pub submitted_at: Option<DateTime<Utc>>,
    /// At submission: the entries submitted and their hours per project.
    #[serde(default)]
    pub entry_ids: Vec<String>,
    #[serde(default)]
    pub projects: Vec<ProjectHours>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
}

/// The audit record of an edit of a stopped time entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeEntryEditDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub entry_id: String,
    pub edited_by: String,
    pub edited_at: DateTime<Utc>,
    pub before: EntryTimes,
    pub after: EntryTimes,
}

/// The document stored for an event in `pmo_outbox` (the kit's document-outbox shape).
pub type OutboxDoc = erp_kit::events::OutboxDocument;

/// A consumed event a consumer group handled: `_id` is [`InboxDoc::key`], so a second record
/// of the same event collides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub group: String,
    pub event_id: String,
    pub topic: String,
    /// Unix milliseconds.
    pub handled_at: i64,
}

impl InboxDoc {
    pub fn key(group: &str, event_id: &str) -> String {
        format!("{group}|{event_id}")
    }
}

/// A message a consumer group gave up on (the kit's `DeadLetter` as stored): `_id` is
/// `group|message key`, one per group and key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub group: String,
    pub message_key: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub tenant_id: Option<String>,
    pub payload: String,
    /// `handler` or `undecodable` (the kit's `FailureKind`).
    pub failure: String,
    pub error: String,
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}
