//! Persistence behind one trait, [`PmoStore`]: MongoDB in production ([`mongo::MongoStore`]),
//! in-process maps persisted to a journal file in the one-process mode
//! ([`memory::MemoryStore`], [`journal`]). Running timers live in the cache (Redis), see
//! [`timers::TimerStore`]. The documents are in [`entities`].
//!
//! The trait holds persistence only: the transaction scripts (which facts to read, which rule
//! to apply, what to write) are written once, in `crate::app`, over these primitives:
//!
//! - reads of facts, every one tenant-scoped: a document of another tenant is
//!   indistinguishable from a missing one;
//! - conditional writes: each writes its documents and its event (the `pmo_outbox`
//!   collection) in ONE transaction (MongoDB) or ONE journal record (embedded), only while the
//!   records it names are still at the revision (or in the state) the script read them at,
//!   bumping those revisions. Otherwise it writes nothing and answers [`Guarded::Stale`], and
//!   the script reads the facts again;
//! - the writes that add time to a person's week touch the week's timesheet in the same atomic
//!   write (see `crate::domain::timer`): they answer the week's state when it is locked.
//!
//! History (a seed, a migration) is imported in batches without events.

pub mod entities;
pub mod journal;
pub mod memory;
pub mod mongo;
pub mod timers;

use std::collections::{HashMap, HashSet};

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::SprintState;
use crate::domain::task::TaskStatus;
use crate::domain::timesheet::{IsoWeek, TimesheetState};

pub use entities::*;
pub use timers::{TimerStarts, WeekTouch};

/// What a conditional write found.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum Guarded<T> {
    /// Written; the value the write answers with.
    Written(T),
    /// A record the write was conditional on changed since it was read: nothing was written.
    Stale,
}

/// A record a conditional write expects at the revision it was read at (and bumps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub id: String,
    pub rev: i64,
}

impl Expected {
    pub fn new(id: &str, rev: i64) -> Self {
        Self {
            id: id.to_owned(),
            rev,
        }
    }
}

/// Where a task goes: a board's column, with the column's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub board_id: String,
    pub column_id: String,
    pub status: TaskStatus,
}

/// What recording a stopped timer's entry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryWrite {
    /// The entry, the touch of its week and the event were written.
    Recorded,
    /// The entry was recorded before (a repeated stop): nothing was written, whatever its
    /// week's state.
    AlreadyRecorded,
    /// Its week is submitted or approved: nothing was written.
    WeekLocked(TimesheetState),
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Documents written by this call.
    pub inserted: usize,
    /// Documents left alone because their id was stored already (a repeated or resumed import).
    pub existing: usize,
}

impl std::ops::AddAssign for Imported {
    fn add_assign(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.existing += other.existing;
    }
}

/// What an import of a batch of history found: it wrote all of it or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryWrite {
    Imported(Imported),
    /// A document's id is stored by another tenant (ids are global).
    Taken(String),
    /// A board it was conditional on changed since it was read.
    Stale,
    /// New time would go to this person's submitted or approved week.
    WeekLocked {
        user_id: String,
        week: IsoWeek,
        state: TimesheetState,
    },
}

/// The collections history is imported into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    Tasks,
    TimeEntries,
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

/// Filters of the task list (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    pub project_id: Option<String>,
    /// Only tasks of these projects (the caller's projects, for a list across projects).
    pub project_ids: Option<Vec<String>>,
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
                .project_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&task.project_id))
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
async fn one_by_one<'a, L, T, F, Fut>(lists: &'a [L], read: F) -> ApiResult<Vec<Vec<T>>>
where
    F: Fn(&'a L) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let mut pages = Vec::with_capacity(lists.len());
    for list in lists {
        pages.push(read(list).await?);
    }
    Ok(pages)
}

/// What handling a consumed CRM event writes with its inbox record.
#[derive(Debug, Clone)]
pub enum CrmEffect {
    /// A project won from an opportunity, and its `project.created` event: written unless the
    /// tenant has the project already (its id is the opportunity's).
    Project {
        project: Box<ProjectDoc>,
        event: Box<EventEnvelope>,
    },
    /// The tenant's projects whose typed client is `name` and that name no CRM client yet
    /// get `client_id`.
    LinkClient {
        tenant: TenantId,
        client_id: String,
        name: String,
    },
    /// The tenant's projects of the CRM client `client_id` take its new `name` (the typed
    /// client the deprecated `Project.client` answers).
    RenameClient {
        tenant: TenantId,
        client_id: String,
        name: String,
    },
    /// The tenant's projects of the CRM client `from`, merged into `into` by `merge_id`, are
    /// `into`'s (named `name`, when the merge said it), each remembering its client before
    /// (`ProjectDoc::merged_from`).
    MergeClient {
        tenant: TenantId,
        merge_id: String,
        from: String,
        into: String,
        name: Option<String>,
    },
    /// The merge `merge_id` was undone: the projects it moved (still with the survivor) get
    /// their client back; projects given to the survivor since stay.
    UnmergeClient { tenant: TenantId, merge_id: String },
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
    async fn prepare(&self) -> ApiResult<()>;

    // --- Projects and members -------------------------------------------------------------

    /// Inserts a project and its event.
    async fn insert_project(
        &self,
        tenant: &TenantId,
        project: &ProjectDoc,
        event: &EventEnvelope,
    ) -> ApiResult<()>;
    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<Vec<ProjectDoc>>;
    /// A page of the tenant's projects; only those `member` is a member of when given.
    async fn list_projects(
        &self,
        tenant: &TenantId,
        member: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>>;
    /// The ids of every project of the tenant `user_id` is a member of (page by page).
    async fn member_project_ids(&self, tenant: &TenantId, user_id: &str) -> ApiResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut page = PageRequest {
            limit: 500,
            after: None,
            before: None,
            backward: false,
        };
        loop {
            let projects = self.list_projects(tenant, Some(user_id), &page).await?;
            let more = projects.len() as u64 > page.limit;
            ids.extend(projects.into_iter().take(page.limit as usize).map(|p| p.id));
            match ids.last() {
                Some(last) if more => page.after = Some(last.clone()),
                _ => return Ok(ids),
            }
        }
    }
    /// Adds the member or replaces their entry; None when the project does not exist.
    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> ApiResult<Option<ProjectDoc>>;
    /// Removes a member; None when the project does not exist.
    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> ApiResult<Option<ProjectDoc>>;
    /// Appends a custom field definition to the project at the expected revision.
    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project: &Expected,
        field: &FieldDefinition,
    ) -> ApiResult<Guarded<ProjectDoc>>;

    // --- Boards ---------------------------------------------------------------------------

    async fn insert_board(&self, tenant: &TenantId, board: &BoardDoc) -> ApiResult<()>;
    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<BoardDoc>>;
    /// The boards of the given projects, oldest first (one query for a page of projects).
    async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> ApiResult<Vec<BoardDoc>>;
    /// The tasks in a board's column.
    async fn column_count(
        &self,
        tenant: &TenantId,
        board_id: &str,
        column_id: &str,
    ) -> ApiResult<u64>;

    // --- Tasks, dependencies, custom values, comments ---------------------------------------

    /// Inserts a task and its event, while the board (of a limited column it is placed in) and
    /// the sprint (it is planned in) are at the expected revisions.
    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        board: Option<&Expected>,
        sprint: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>>;
    /// Puts a task that is still in `from_column` in `to`, with its event, while the board
    /// (of a limited column) is at the expected revision.
    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        board: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<TaskDoc>>;
    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<TaskDoc>>;
    /// The project of each of the tasks found (task id to project id).
    async fn task_projects(
        &self,
        tenant: &TenantId,
        task_ids: &[String],
    ) -> ApiResult<HashMap<String, String>>;
    /// The ids among `ids` of tasks the tenant has.
    async fn existing_task_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashSet<String>>;
    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TaskDoc>>;
    /// Pages of several task lists (each filter with its page), in the order asked: one query
    /// where the backend can, for a page of projects or sprints each listing its tasks.
    async fn task_pages(
        &self,
        tenant: &TenantId,
        lists: &[(TaskFilter, PageRequest)],
    ) -> ApiResult<Vec<Vec<TaskDoc>>> {
        one_by_one(lists, |(filter, page)| {
            self.list_tasks(tenant, filter, page)
        })
        .await
    }
    /// The subtasks of a task that are not done.
    async fn open_subtasks(&self, tenant: &TenantId, parent_id: &str) -> ApiResult<u64>;
    /// The dependencies of a project's tasks: each task blocked by others, with its blockers.
    async fn dependency_edges(
        &self,
        tenant: &TenantId,
        project_id: &str,
    ) -> ApiResult<HashMap<String, Vec<String>>>;
    /// Records that `task_id` (of the project) is blocked by `blocker_id`, while the project
    /// is at the expected revision.
    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project: &Expected,
        task_id: &str,
        blocker_id: &str,
    ) -> ApiResult<Guarded<TaskDoc>>;
    /// Sets (or with None clears) a task's value of a custom field; None when there is no
    /// such task.
    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> ApiResult<Option<TaskDoc>>;

    async fn insert_comment(&self, tenant: &TenantId, comment: &CommentDoc) -> ApiResult<()>;
    async fn comment(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<CommentDoc>>;
    /// Replaces the body of a comment written by `author_id`; None when there is no such one.
    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> ApiResult<Option<CommentDoc>>;
    /// A task's comments, oldest first.
    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<CommentDoc>>;
    /// Pages of several tasks' comments (each task with its page), in the order asked: one
    /// query where the backend can.
    async fn comment_pages(
        &self,
        tenant: &TenantId,
        lists: &[(String, PageRequest)],
    ) -> ApiResult<Vec<Vec<CommentDoc>>> {
        one_by_one(lists, |(task_id, page)| {
            self.list_comments(tenant, task_id, page)
        })
        .await
    }

    // --- Sprints --------------------------------------------------------------------------

    async fn insert_sprint(&self, tenant: &TenantId, sprint: &SprintDoc) -> ApiResult<()>;
    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<SprintDoc>>;
    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> ApiResult<Vec<SprintDoc>>;
    /// Pages of several projects' sprint lists (each project and state with its page), in the
    /// order asked: one query where the backend can.
    async fn sprint_pages(
        &self,
        tenant: &TenantId,
        lists: &[((String, Option<SprintState>), PageRequest)],
    ) -> ApiResult<Vec<Vec<SprintDoc>>> {
        one_by_one(lists, |((project_id, state), page)| {
            self.list_sprints(tenant, project_id, *state, page)
        })
        .await
    }
    /// Whether a sprint of the project is active.
    async fn has_active_sprint(&self, tenant: &TenantId, project_id: &str) -> ApiResult<bool>;
    /// The tasks in a sprint of the project, with their status.
    async fn sprint_tasks(
        &self,
        tenant: &TenantId,
        project_id: &str,
        sprint_id: &str,
    ) -> ApiResult<Vec<(String, TaskStatus)>>;
    /// Moves a task that is still in the sprint `from` (None: the backlog) to `to` (None: the
    /// backlog), while both are at the expected revisions.
    async fn plan_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from: Option<&Expected>,
        to: Option<&Expected>,
    ) -> ApiResult<Guarded<TaskDoc>>;
    /// Replaces a sprint read at `expected_rev` by its started form, with its event, while
    /// its project is at the expected revision.
    async fn start_sprint(
        &self,
        tenant: &TenantId,
        started: &SprintDoc,
        expected_rev: i64,
        project: &Expected,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>>;
    /// Replaces a sprint read at `expected_rev` by its closed form and moves its carried-over
    /// tasks (still in it and not done) to the sprint they are carried to (at its expected
    /// revision) or the backlog, with its event.
    async fn close_sprint(
        &self,
        tenant: &TenantId,
        closed: &SprintDoc,
        expected_rev: i64,
        target: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>>;

    // --- Time: timers' weeks, entries, timesheets ------------------------------------------

    /// The store's part of a timer start (`timers::TimerStarts`), taken once when the use
    /// cases are built: on MongoDB its own small backend over this store's database handles,
    /// embedded this store itself.
    fn timer_starts(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn TimerStarts>;
    /// Records a stopped timer's entry and its event in the week it started, touching that
    /// week's timesheet as `TimerStarts::record_timer_start` does.
    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> ApiResult<EntryWrite>;
    async fn time_entry(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TimeEntryDoc>>;
    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimeEntryDoc>>;
    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<Vec<TimesheetDoc>>;
    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimesheetDoc>>;
    /// The time entries of each (person, week) that started in that week (UTC), by start time:
    /// one query for a page of timesheets.
    async fn entries_of_weeks(
        &self,
        tenant: &TenantId,
        weeks: &[(String, IsoWeek)],
    ) -> ApiResult<Vec<TimeEntryDoc>>;
    /// A person's time entries that started in `week` (UTC), by start time.
    async fn week_entries(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> ApiResult<Vec<TimeEntryDoc>> {
        self.entries_of_weeks(tenant, &[(user_id.to_owned(), week)])
            .await
    }
    /// Writes a timesheet while it is at the revision read (`None`: it did not exist), with
    /// its event.
    async fn save_timesheet(
        &self,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
        event: Option<&EventEnvelope>,
    ) -> ApiResult<Guarded<()>>;
    /// Replaces a time entry with its audit record and event, bumping the timesheets of the
    /// weeks it leaves and joins while they are at the revisions read (a submission cannot slip
    /// in between the check and the edit).
    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>>;
    /// The edits of the given time entries, oldest first (one query for a page of entries).
    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> ApiResult<Vec<TimeEntryEditDoc>>;

    // --- History --------------------------------------------------------------------------

    /// Writes the tasks of a batch of history whose ids are not stored yet, WITHOUT events,
    /// all or nothing, while the boards are at the expected revisions (bumped). A task whose
    /// id the tenant has already is left as it is and counted as existing.
    async fn import_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[TaskDoc],
        boards: &[Expected],
    ) -> ApiResult<HistoryWrite>;
    /// Writes the time entries of a batch of history whose ids are not stored yet, WITHOUT
    /// events, all or nothing, touching the timesheet of each week they add time to as a
    /// stop does. Stored entries are skipped and their weeks not touched.
    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> ApiResult<HistoryWrite>;

    /// The first of `ids` that another tenant has stored in the collection (ids are global).
    async fn first_taken(
        &self,
        tenant: &TenantId,
        kind: History,
        ids: &[String],
    ) -> ApiResult<Option<String>>;

    // --- Consumed events: the inbox (the kit's document inbox) ----------------------------

    /// Whether `group` handled, or dead-lettered, the event.
    async fn handled(&self, group: &str, event_id: &str) -> ApiResult<bool>;
    /// Records the event as handled and writes its effect, in ONE transaction (MongoDB) or
    /// journal record (embedded); false, and nothing written, when the record exists.
    async fn record_handled(
        &self,
        handled: &InboxDoc,
        effect: Option<&CrmEffect>,
    ) -> ApiResult<bool>;
    /// Keeps a dead letter; false when the group has one with its key already.
    async fn dead_letter(&self, letter: &DeadLetterDoc) -> ApiResult<bool>;
    /// A page of the tenant's projects for the CRM client `client_id` that `member` is a
    /// member of (the client 360; reads follow membership).
    async fn client_projects(
        &self,
        tenant: &TenantId,
        client_id: &str,
        member: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>>;

    // --- The outbox relay -----------------------------------------------------------------

    /// Unpublished events, oldest first.
    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>>;
    /// Marks the events published (one write for a relay pass's batch).
    async fn mark_published(&self, ids: &[String]) -> ApiResult<()>;
    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()>;
    /// Takes or renews the relay lease (one relay publishes at a time, so events stay in order).
    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> ApiResult<bool>;
    /// Deletes the events published before `before_ms` (the embedded store keeps none).
    async fn purge_published(&self, before_ms: i64) -> ApiResult<()>;

    /// Answers when the backend answers (readiness).
    async fn ping(&self) -> Result<(), String>;
}

pub type SharedStore = std::sync::Arc<dyn PmoStore>;
