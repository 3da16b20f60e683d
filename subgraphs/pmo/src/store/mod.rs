//! Persistence behind one small trait, [`PmoStore`]: MongoDB in production ([`mongo::MongoStore`]),
//! in-process maps persisted to a journal file in the one-process mode ([`memory::MemoryStore`],
//! [`journal`]). Running timers live in the cache (Redis), see [`timers::TimerStore`].
//!
//! Every document carries `tenant_id` and every method takes the caller's [`TenantId`] and filters
//! by it: a document of another tenant is indistinguishable from a missing one. Each change and its
//! event (the `pmo_outbox` collection) are written in one transaction. History (a seed, a
//! migration) is imported in batches without events ([`import`]).

pub mod import;
pub mod journal;
pub mod memory;
pub mod mongo;
pub mod timers;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, TenantId};

use crate::domain::custom_field::{FieldDefinition, MAX_FIELDS};
use crate::domain::sprint::SprintState;
use crate::domain::timesheet::{IsoWeek, TimesheetState};
use crate::domain::{Money, ProjectRole, RuleViolation, TaskStatus};

/// What a store (or a rule it enforces inside its transaction) can answer with.
#[derive(Debug)]
pub enum PmoError {
    Api(ApiError),
    Rule(RuleViolation),
    /// A transaction collided with a concurrent one (the store retries it; when retries run
    /// out the caller gets CONFLICT).
    Transient(String),
}

impl From<ApiError> for PmoError {
    fn from(err: ApiError) -> Self {
        PmoError::Api(err)
    }
}

impl From<RuleViolation> for PmoError {
    fn from(err: RuleViolation) -> Self {
        PmoError::Rule(err)
    }
}

pub type PmoResult<T> = Result<T, PmoError>;

/// Where no GraphQL error is built (live streams), the kit error a store or rule error maps to.
impl From<PmoError> for ApiError {
    fn from(err: PmoError) -> Self {
        match err {
            PmoError::Api(err) => err,
            PmoError::Transient(_) => {
                ApiError::Conflict("the change collided with a concurrent one; retry".into())
            }
            PmoError::Rule(RuleViolation::SelfApproval) => {
                ApiError::Forbidden(RuleViolation::SelfApproval.message())
            }
            PmoError::Rule(rule) => ApiError::Conflict(rule.message()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub employee_id: Option<String>,
    pub role: ProjectRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub client: Option<String>,
    pub budget: Option<Money>,
    pub billable: bool,
    pub members: Vec<Member>,
    /// The typed custom fields its tasks may carry.
    #[serde(default)]
    pub custom_fields: Vec<FieldDefinition>,
    pub created_at: DateTime<Utc>,
    /// Bumped by every dependency change, so concurrent ones conflict instead of racing.
    #[serde(default)]
    pub rev: i64,
}

impl ProjectDoc {
    pub fn role_of(&self, user_id: &str) -> Option<ProjectRole> {
        self.members
            .iter()
            .find(|m| m.user_id == user_id)
            .map(|m| m.role)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDoc {
    pub id: String,
    pub name: String,
    pub status: TaskStatus,
    pub wip_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub name: String,
    pub columns: Vec<ColumnDoc>,
    /// Bumped by every move into the board, so concurrent moves conflict instead of racing
    /// past a WIP limit.
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

/// A project takes a new custom field unless one has the same name (any case) or it has
/// [`MAX_FIELDS`] already (CONFLICT).
pub fn check_new_field(project: &ProjectDoc, field: &FieldDefinition) -> Result<(), ApiError> {
    if project.custom_fields.iter().any(|f| f.key == field.key) {
        return Err(ApiError::Conflict(format!(
            "the project already has a custom field named `{}`",
            field.name
        )));
    }
    if project.custom_fields.len() >= MAX_FIELDS {
        return Err(ApiError::Conflict(format!(
            "a project has at most {MAX_FIELDS} custom fields"
        )));
    }
    Ok(())
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

/// Builds the event of a sprint close from the closed sprint (known only inside the store's
/// transaction).
pub type CloseEvent<'a> = &'a (dyn Fn(&SprintDoc) -> PmoResult<EventEnvelope> + Send + Sync);

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
    /// Bumped by every change of the week (submit, decisions, entry edits): optimistic locking.
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

impl TimesheetDoc {
    pub fn key(tenant: &TenantId, user_id: &str, week: IsoWeek) -> String {
        format!("{}:{user_id}:{week}", tenant.as_str())
    }

    /// The untouched week.
    pub fn draft(tenant: &TenantId, user_id: &str, week: IsoWeek) -> Self {
        Self {
            id: Self::key(tenant, user_id, week),
            tenant_id: tenant.as_str().to_owned(),
            user_id: user_id.to_owned(),
            week: week.to_string(),
            state: TimesheetState::Draft,
            rev: 0,
            submitted_at: None,
            entry_ids: Vec::new(),
            projects: Vec::new(),
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
        }
    }
}

/// What a time entry looked like before or after an edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryTimes {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub billable: bool,
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

/// Filters of the timesheet list.
#[derive(Debug, Clone, Default)]
pub struct TimesheetFilter {
    pub user_id: Option<String>,
    pub state: Option<TimesheetState>,
}

/// A week guarded by an entry edit: its timesheet as read (`rev` 0 and absent when untouched).
#[derive(Debug, Clone)]
pub struct WeekGuard {
    pub timesheet: TimesheetDoc,
    pub exists: bool,
}

/// The column a task moves to, with the WIP limit to enforce in the store's transaction.
#[derive(Debug, Clone)]
pub struct Placement {
    pub board_id: String,
    pub column_id: String,
    pub column_name: String,
    pub status: TaskStatus,
    pub wip_limit: Option<u32>,
}

/// Filters of the task list (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    pub project_id: Option<String>,
    pub assignee_id: Option<String>,
    pub status: Option<TaskStatus>,
    pub label: Option<String>,
    pub sprint_id: Option<String>,
    /// Only tasks in no sprint.
    pub backlog: bool,
    /// Only the subtasks of this task.
    pub parent_id: Option<String>,
}

impl TaskFilter {
    pub fn matches(&self, task: &TaskDoc) -> bool {
        self.project_id
            .as_ref()
            .is_none_or(|p| *p == task.project_id)
            && self
                .assignee_id
                .as_ref()
                .is_none_or(|a| task.assignee_ids.contains(a))
            && self.status.is_none_or(|s| s == task.status)
            && self.label.as_ref().is_none_or(|l| task.labels.contains(l))
            && self
                .sprint_id
                .as_ref()
                .is_none_or(|s| task.sprint_id.as_ref() == Some(s))
            && (!self.backlog || task.sprint_id.is_none())
            && self
                .parent_id
                .as_ref()
                .is_none_or(|p| task.parent_id.as_ref() == Some(p))
    }
}

/// Filters of the time-entry list.
#[derive(Debug, Clone, Default)]
pub struct TimeEntryFilter {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
}

/// Several lists read one after the other (a backend without a way to read them at once).
async fn one_by_one<'a, L, T, F, Fut>(lists: &'a [L], read: F) -> PmoResult<Vec<Vec<T>>>
where
    F: Fn(&'a L) -> Fut,
    Fut: std::future::Future<Output = PmoResult<Vec<T>>>,
{
    let mut pages = Vec::with_capacity(lists.len());
    for list in lists {
        pages.push(read(list).await?);
    }
    Ok(pages)
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub topic: String,
    pub envelope: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
}

/// The PMO persistence. Every method is tenant-scoped except the outbox relay's.
#[async_trait::async_trait]
pub trait PmoStore: Send + Sync + 'static {
    /// Creates indexes (idempotent).
    async fn prepare(&self) -> PmoResult<()>;

    async fn insert_project(
        &self,
        tenant: &TenantId,
        project: &ProjectDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()>;
    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<ProjectDoc>>;
    async fn list_projects(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> PmoResult<Vec<ProjectDoc>>;
    /// Adds the member or changes their role; None when the project does not exist.
    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> PmoResult<Option<ProjectDoc>>;

    /// Removes a member; None when the project does not exist.
    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> PmoResult<Option<ProjectDoc>>;

    async fn insert_board(&self, tenant: &TenantId, board: &BoardDoc) -> PmoResult<()>;
    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<BoardDoc>>;
    /// The boards of the given projects, oldest first (one query for a page of projects).
    async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> PmoResult<Vec<BoardDoc>>;

    /// Inserts a task and its event; a task placed in a column is counted against the column's
    /// WIP limit in the same transaction.
    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        placement: Option<&Placement>,
        event: &EventEnvelope,
    ) -> PmoResult<()>;
    /// Moves a task that is still in `from_column` (CONFLICT otherwise) to `to`, enforcing the
    /// WIP limit and, into a done column, that no subtask is still open, and records the event,
    /// in one transaction.
    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        event: &EventEnvelope,
    ) -> PmoResult<TaskDoc>;
    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<TaskDoc>>;
    /// A task and its project (None when the task does not exist; the project None when it does
    /// not exist in the tenant), what starting a timer needs, in one query where the backend
    /// can.
    async fn task_and_project(
        &self,
        tenant: &TenantId,
        task_id: &str,
    ) -> PmoResult<Option<(TaskDoc, Option<ProjectDoc>)>> {
        let Some(task) = self
            .tasks_by_ids(tenant, &[task_id.to_owned()])
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let project = self
            .projects_by_ids(tenant, std::slice::from_ref(&task.project_id))
            .await?
            .pop();
        Ok(Some((task, project)))
    }
    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TaskDoc>>;
    /// Pages of several task lists (each filter with its page), in the order asked: one query
    /// where the backend can, for a page of projects or sprints each listing its tasks.
    async fn task_pages(
        &self,
        tenant: &TenantId,
        lists: &[(TaskFilter, PageRequest)],
    ) -> PmoResult<Vec<Vec<TaskDoc>>> {
        one_by_one(lists, |(filter, page)| {
            self.list_tasks(tenant, filter, page)
        })
        .await
    }
    /// Records that `task_id` is blocked by `blocker_id`, refusing cycles inside the project
    /// (checked in the same transaction).
    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        blocker_id: &str,
    ) -> PmoResult<TaskDoc>;

    /// Adds a custom field definition; CONFLICT when the project has one of the same name (any
    /// case) or already has [`crate::domain::custom_field::MAX_FIELDS`]; None when the project
    /// does not exist.
    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project_id: &str,
        field: &FieldDefinition,
    ) -> PmoResult<Option<ProjectDoc>>;
    /// Sets (or with None clears) a task's value of a custom field.
    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> PmoResult<TaskDoc>;

    async fn insert_comment(&self, tenant: &TenantId, comment: &CommentDoc) -> PmoResult<()>;
    async fn comment(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<CommentDoc>>;
    /// Replaces the body of a comment written by `author_id`; None when there is no such one.
    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> PmoResult<Option<CommentDoc>>;
    /// A task's comments, oldest first.
    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> PmoResult<Vec<CommentDoc>>;
    /// Pages of several tasks' comments (each task with its page), in the order asked: one
    /// query where the backend can.
    async fn comment_pages(
        &self,
        tenant: &TenantId,
        lists: &[(String, PageRequest)],
    ) -> PmoResult<Vec<Vec<CommentDoc>>> {
        one_by_one(lists, |(task_id, page)| {
            self.list_comments(tenant, task_id, page)
        })
        .await
    }

    async fn insert_sprint(&self, tenant: &TenantId, sprint: &SprintDoc) -> PmoResult<()>;
    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<SprintDoc>>;
    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> PmoResult<Vec<SprintDoc>>;
    /// Pages of several projects' sprint lists (each project and state with its page), in the
    /// order asked: one query where the backend can.
    async fn sprint_pages(
        &self,
        tenant: &TenantId,
        lists: &[((String, Option<SprintState>), PageRequest)],
    ) -> PmoResult<Vec<Vec<SprintDoc>>> {
        one_by_one(lists, |((project_id, state), page)| {
            self.list_sprints(tenant, project_id, *state, page)
        })
        .await
    }
    /// Puts a task of `project_id` in `sprint_id` (None: the backlog). Neither the sprint it
    /// leaves nor the one it joins may be closed (checked in the transaction).
    async fn plan_task(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        sprint_id: Option<&str>,
    ) -> PmoResult<TaskDoc>;
    /// Starts a planned sprint unless another sprint of its project is active, with its event.
    async fn start_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        event: &EventEnvelope,
    ) -> PmoResult<SprintDoc>;
    /// Closes an active sprint: done tasks stay, the others move to `carry_over_to` (a planned
    /// sprint of the project) or the backlog, and the event is recorded, in one transaction.
    async fn close_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        carry_over_to: Option<&str>,
        event: CloseEvent<'_>,
    ) -> PmoResult<SprintDoc>;

    /// Records a finished timer (or an imported entry) and its event in the week it started,
    /// touching that week's timesheet as [`PmoStore::record_timer_start`] does, so a submission
    /// read before it collides instead of missing it. False when the entry already existed (a
    /// repeated stop: nothing is written, whatever the week's state); TIMESHEET_LOCKED, with
    /// nothing written, when the week is submitted or approved.
    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> PmoResult<bool>;
    async fn time_entry(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<TimeEntryDoc>>;
    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimeEntryDoc>>;
    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<TimesheetDoc>>;
    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimesheetDoc>>;
    /// The time entries of each (person, week) that started in that week (UTC), by start time:
    /// one query for a page of timesheets.
    async fn entries_of_weeks(
        &self,
        tenant: &TenantId,
        weeks: &[(String, IsoWeek)],
    ) -> PmoResult<Vec<TimeEntryDoc>>;
    /// A person's time entries that started in `week` (UTC), by start time.
    async fn week_entries(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<Vec<TimeEntryDoc>> {
        self.entries_of_weeks(tenant, &[(user_id.to_owned(), week)])
            .await
    }
    /// Writes a timesheet if it is still at the revision read (`None`: it did not exist), with
    /// its event; CONFLICT when it changed meanwhile.
    async fn save_timesheet(
        &self,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
        event: Option<&EventEnvelope>,
    ) -> PmoResult<()>;
    /// Replaces a time entry with its audit record and event, bumping the timesheets of the weeks
    /// it leaves and joins (CONFLICT when one changed since it was read: a submission cannot
    /// slip in between the check and the edit).
    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()>;
    /// The edits of the given time entries, oldest first (one query for a page of entries).
    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> PmoResult<Vec<TimeEntryEditDoc>>;

    /// Imports tasks that existed before (history: a seed, a migration), many in one batch of at
    /// most [`import::MAX_IMPORT_BATCH`], all or nothing, WITHOUT `task.created` events (history
    /// is not news), with the rules of a task's creation (see [`import`]). Idempotent by id:
    /// a task whose id is stored already is left as it is and counted as existing.
    async fn import_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[TaskDoc],
    ) -> PmoResult<import::Imported>;

    /// Imports time entries of the past (history), many in one batch of at most
    /// [`import::MAX_IMPORT_BATCH`], all or nothing, WITHOUT `timer.stopped` events, touching
    /// the timesheet of each week they add time to as a timer's stop does (TIMESHEET_LOCKED,
    /// nothing written, when one is submitted or approved). Idempotent by id like
    /// [`PmoStore::import_tasks`]: stored entries are skipped and their weeks not touched.
    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> PmoResult<import::Imported>;

    /// Records the event of a timer `user_id` starts in `week` (the timer itself lives in the
    /// cache). The week's timesheet is touched (created as a draft when absent, its revision
    /// bumped), so a submission read before the start collides instead of missing the timer;
    /// TIMESHEET_LOCKED, with nothing written, when the week is submitted or approved.
    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> PmoResult<()>;

    /// Outbox relay: unpublished events, oldest first.
    async fn pending_events(&self, limit: u64) -> PmoResult<Vec<PendingEvent>>;
    /// Marks the events published (one write for a relay pass's batch).
    async fn mark_published(&self, ids: &[String]) -> PmoResult<()>;
    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> PmoResult<()>;
    /// Takes or renews the relay lease (one relay publishes at a time, so events stay in order).
    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> PmoResult<bool>;
    /// Deletes the events published before `before_ms` (the embedded store keeps none).
    async fn purge_published(&self, before_ms: i64) -> PmoResult<()>;

    /// Answers when the backend answers (readiness).
    async fn ping(&self) -> Result<(), String>;
}

pub type SharedStore = std::sync::Arc<dyn PmoStore>;

/// The document stored for an event in `pmo_outbox`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxDoc {
    /// The envelope id (UUIDv7: time-ordered, so `_id` order is publish order).
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub topic: String,
    pub event_type: String,
    pub envelope: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

impl OutboxDoc {
    pub fn new(event: &EventEnvelope) -> PmoResult<Self> {
        Ok(Self {
            id: event.id.to_string(),
            tenant_id: event.tenant_id.clone(),
            topic: crate::events::topic(),
            event_type: event.event_type.clone(),
            envelope: serde_json::to_string(event).map_err(ApiError::internal)?,
            created_at: Utc::now().timestamp_millis(),
            published_at: None,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        })
    }
}
