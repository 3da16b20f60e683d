//! The embedded store of the one-process mode: the working set in in-process maps behind one
//! lock, optionally persisted to a journal file ([`MemoryStore::open`], see [`super::journal`]).
//! One lock makes every change atomic with its outbox event and serialises the WIP and cycle
//! checks; each change is computed from the state as read, written to the journal as ONE
//! record (the documents it writes and its event), applied to the maps, and acknowledged once
//! the record is on disk. [`MemoryStore::new`] keeps nothing (tests).
//!
//! A failed write of a record leaves neither the file nor the maps changed (INTERNAL). A failed
//! flush leaves the change in the maps with its fate on disk unknown: the journal then refuses
//! every further write and `ping` (readiness) fails until a restart replays what is on disk.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, TenantId};

use super::import::{self, Imported};
use super::journal::{CompactionPolicy, Journal, ReplayReport, Ticket};
use super::{
    check_new_field, BoardDoc, CloseEvent, CommentDoc, CustomValue, Member, OutboxDoc,
    PendingEvent, Placement, PmoResult, PmoStore, ProjectDoc, SprintDoc, TaskDoc, TaskFilter,
    TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetDoc, TimesheetFilter, WeekGuard,
};
use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::{
    check_can_close, check_can_plan, check_can_start, check_carry_over_target, split_at_close,
    SprintState,
};
use crate::domain::timesheet::IsoWeek;
use crate::domain::tracking::check_week_open;
use crate::domain::{check_dependency, check_parent_done, check_wip, TaskStatus};

#[derive(Default)]
struct State {
    projects: BTreeMap<String, ProjectDoc>,
    boards: BTreeMap<String, BoardDoc>,
    tasks: BTreeMap<String, TaskDoc>,
    time_entries: BTreeMap<String, TimeEntryDoc>,
    sprints: BTreeMap<String, SprintDoc>,
    comments: BTreeMap<String, CommentDoc>,
    timesheets: BTreeMap<String, TimesheetDoc>,
    entry_edits: BTreeMap<String, TimeEntryEditDoc>,
    outbox: BTreeMap<String, OutboxDoc>,
    /// Secondary indexes, kept by [`State::apply`] (so a replay rebuilds them; they are not in
    /// the journal): a project's tasks, a person's time entries and timesheets, read without
    /// scanning every tenant's documents (a tier-L tenant has 400k tasks and millions of
    /// entries; a scan under the store's one lock would stall every other request).
    tasks_by_project: Index,
    entries_by_user: Index,
    timesheets_by_user: Index,
}

/// Ids of a collection grouped by (tenant, a field), in id order.
#[derive(Default)]
struct Index(HashMap<String, HashMap<String, BTreeSet<String>>>);

impl Index {
    fn insert(&mut self, tenant: &str, group: &str, id: &str) {
        self.0
            .entry(tenant.to_owned())
            .or_default()
            .entry(group.to_owned())
            .or_default()
            .insert(id.to_owned());
    }

    fn remove(&mut self, tenant: &str, group: &str, id: &str) {
        if let Some(groups) = self.0.get_mut(tenant) {
            if let Some(ids) = groups.get_mut(group) {
                ids.remove(id);
                if ids.is_empty() {
                    groups.remove(group);
                }
            }
        }
    }

    fn ids(&self, tenant: &TenantId, group: &str) -> Option<&BTreeSet<String>> {
        self.0
            .get(tenant.as_str())
            .and_then(|groups| groups.get(group))
    }
}

/// One committed change, and one journal record: the documents it writes (whole, replacing
/// any with the same id) and the outbox events it removes (published).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Change {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    projects: Vec<ProjectDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    boards: Vec<BoardDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<TaskDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    time_entries: Vec<TimeEntryDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sprints: Vec<SprintDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    comments: Vec<CommentDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    timesheets: Vec<TimesheetDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entry_edits: Vec<TimeEntryEditDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    outbox: Vec<OutboxDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    published: Vec<String>,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.projects.is_empty()
            && self.boards.is_empty()
            && self.tasks.is_empty()
            && self.time_entries.is_empty()
            && self.sprints.is_empty()
            && self.comments.is_empty()
            && self.timesheets.is_empty()
            && self.entry_edits.is_empty()
            && self.outbox.is_empty()
            && self.published.is_empty()
    }

    /// The change with the event queued in the outbox.
    fn with_event(mut self, event: &EventEnvelope) -> PmoResult<Self> {
        self.outbox.push(OutboxDoc::new(event)?);
        Ok(self)
    }
}

/// How many documents one snapshot record holds.
const SNAPSHOT_CHUNK: usize = 256;

/// The documents of `values` as changes of at most [`SNAPSHOT_CHUNK`] documents each.
fn chunked<'a, T: Clone + 'a>(
    values: impl Iterator<Item = &'a T> + 'a,
    wrap: fn(Vec<T>) -> Change,
) -> impl Iterator<Item = Change> + 'a {
    let mut values = values;
    std::iter::from_fn(move || {
        let chunk: Vec<T> = values.by_ref().take(SNAPSHOT_CHUNK).cloned().collect();
        (!chunk.is_empty()).then(|| wrap(chunk))
    })
}

fn upsert<T>(map: &mut BTreeMap<String, T>, docs: Vec<T>, id_of: fn(&T) -> &String) {
    for doc in docs {
        map.insert(id_of(&doc).clone(), doc);
    }
}

/// [`upsert`] keeping `index` (by `(tenant, group)` of each document) in step: a replaced
/// document leaves its old group.
fn upsert_indexed<T>(
    map: &mut BTreeMap<String, T>,
    index: &mut Index,
    docs: Vec<T>,
    id_of: fn(&T) -> &String,
    group_of: fn(&T) -> (&str, &str),
) {
    for doc in docs {
        let id = id_of(&doc).clone();
        if let Some(old) = map.get(&id) {
            let (tenant, group) = group_of(old);
            index.remove(tenant, group, &id);
        }
        let (tenant, group) = group_of(&doc);
        index.insert(tenant, group, &id);
        map.insert(id, doc);
    }
}

impl State {
    fn apply(&mut self, change: Change) {
        upsert(&mut self.projects, change.projects, |d| &d.id);
        upsert(&mut self.boards, change.boards, |d| &d.id);
        upsert_indexed(
            &mut self.tasks,
            &mut self.tasks_by_project,
            change.tasks,
            |d| &d.id,
            |d| (&d.tenant_id, &d.project_id),
        );
        upsert_indexed(
            &mut self.time_entries,
            &mut self.entries_by_user,
            change.time_entries,
            |d| &d.id,
            |d| (&d.tenant_id, &d.user_id),
        );
        upsert(&mut self.sprints, change.sprints, |d| &d.id);
        upsert(&mut self.comments, change.comments, |d| &d.id);
        upsert_indexed(
            &mut self.timesheets,
            &mut self.timesheets_by_user,
            change.timesheets,
            |d| &d.id,
            |d| (&d.tenant_id, &d.user_id),
        );
        upsert(&mut self.entry_edits, change.entry_edits, |d| &d.id);
        upsert(&mut self.outbox, change.outbox, |d| &d.id);
        for id in change.published {
            self.outbox.remove(&id);
        }
    }

    /// The tenant's tasks of one project (through the index).
    fn project_tasks<'a>(
        &'a self,
        tenant: &TenantId,
        project_id: &str,
    ) -> impl Iterator<Item = &'a TaskDoc> + 'a {
        self.tasks_by_project
            .ids(tenant, project_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    /// The tasks of the tenant's board `board_id` in `column_id` (the board's project's tasks).
    fn column_count(&self, tenant: &TenantId, board_id: &str, column_id: &str) -> u64 {
        let Some(board) = self
            .boards
            .get(board_id)
            .filter(|b| b.tenant_id == tenant.as_str())
        else {
            return 0;
        };
        self.project_tasks(tenant, &board.project_id)
            .filter(|t| {
                t.board_id.as_deref() == Some(board_id) && t.column_id.as_deref() == Some(column_id)
            })
            .count() as u64
    }

    /// The whole state as changes that rebuild it from nothing (a compacted journal).
    fn snapshot(&self) -> impl Iterator<Item = Change> + '_ {
        chunked(self.projects.values(), |projects| Change {
            projects,
            ..Change::default()
        })
        .chain(chunked(self.boards.values(), |boards| Change {
            boards,
            ..Change::default()
        }))
        .chain(chunked(self.tasks.values(), |tasks| Change {
            tasks,
            ..Change::default()
        }))
        .chain(chunked(self.time_entries.values(), |time_entries| Change {
            time_entries,
            ..Change::default()
        }))
        .chain(chunked(self.sprints.values(), |sprints| Change {
            sprints,
            ..Change::default()
        }))
        .chain(chunked(self.comments.values(), |comments| Change {
            comments,
            ..Change::default()
        }))
        .chain(chunked(self.timesheets.values(), |timesheets| Change {
            timesheets,
            ..Change::default()
        }))
        .chain(chunked(self.entry_edits.values(), |entry_edits| Change {
            entry_edits,
            ..Change::default()
        }))
        .chain(chunked(self.outbox.values(), |outbox| Change {
            outbox,
            ..Change::default()
        }))
    }
}

struct Inner {
    state: State,
    /// None: nothing is kept (tests).
    journal: Option<Journal>,
}

/// When a change's caller may answer.
enum Durability {
    /// Before its record is on disk: a crash may lose it, and replaying the outbox after one
    /// only re-publishes an event (at least once, as for any outbox).
    Lazy,
    /// Once its record is on disk.
    Synced,
}

pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn journal_error(err: std::io::Error) -> ApiError {
    tracing::error!(error = %err, "the PMO journal cannot be written");
    ApiError::internal(format!("the PMO data file cannot be written: {err}"))
}

impl MemoryStore {
    /// A store that keeps nothing across restarts.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::default(),
                journal: None,
            }),
        }
    }

    /// The store persisted in the journal at `path` (created if missing): replays it, compacts
    /// it, and keeps it locked against other processes while the store lives.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_with(path, CompactionPolicy::default()).map(|(store, _)| store)
    }

    /// [`MemoryStore::open`] with an explicit compaction policy; also says what the replay
    /// found.
    pub fn open_with(
        path: &Path,
        policy: CompactionPolicy,
    ) -> std::io::Result<(Self, ReplayReport)> {
        let mut state = State::default();
        let (replayed, report) =
            Journal::replay(path, policy, |change: Change| state.apply(change))?;
        let journal = replayed.compact(state.snapshot())?;
        tracing::info!(
            journal = %path.display(),
            records = report.records,
            projects = state.projects.len(),
            tasks = state.tasks.len(),
            time_entries = state.time_entries.len(),
            "the PMO store was loaded from its journal and compacted"
        );
        Ok((
            Self {
                inner: Mutex::new(Inner {
                    state,
                    journal: Some(journal),
                }),
            },
            report,
        ))
    }

    /// Computes a change from the state as read (under the lock, so no other change slips in
    /// between), records and applies it, and answers once it is as durable as asked.
    async fn write<R>(
        &self,
        durability: Durability,
        decide: impl FnOnce(&State) -> PmoResult<(Change, R)>,
    ) -> PmoResult<R> {
        let (ticket, answer) = {
            let mut inner = self.inner.lock();
            let (change, answer) = decide(&inner.state)?;
            (inner.commit(change)?, answer)
        };
        if let (Some(ticket), Durability::Synced) = (ticket, durability) {
            ticket.durable().await.map_err(journal_error)?;
        }
        Ok(answer)
    }
}

impl Inner {
    fn commit(&mut self, change: Change) -> PmoResult<Option<Ticket>> {
        if change.is_empty() {
            return Ok(None);
        }
        let ticket = match &mut self.journal {
            Some(journal) => Some(journal.append(&change).map_err(journal_error)?),
            None => None,
        };
        self.state.apply(change);
        if let Some(journal) = self.journal.as_mut().filter(|j| j.compaction_due()) {
            // The record is in the file already; a failed compaction leaves the journal as it
            // was (or refuses further writes when it cannot tell, see Journal::compact).
            if let Err(err) = journal.compact(self.state.snapshot()) {
                tracing::warn!(error = %err, "compacting the PMO journal failed");
            }
        }
        Ok(ticket)
    }
}

fn of_tenant<'a, T>(
    map: &'a BTreeMap<String, T>,
    tenant: &TenantId,
    ids: &[String],
    tenant_of: impl Fn(&T) -> &str,
) -> Vec<T>
where
    T: Clone + 'a,
{
    ids.iter()
        .filter_map(|id| map.get(id))
        .filter(|v| tenant_of(v) == tenant.as_str())
        .cloned()
        .collect()
}

/// One keyset page over an id-ordered map.
fn page_of<T: Clone>(
    map: &BTreeMap<String, T>,
    page: &PageRequest,
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    let in_bounds = |id: &String| {
        page.after.as_ref().is_none_or(|a| id > a) && page.before.as_ref().is_none_or(|b| id < b)
    };
    let rows = map.iter().filter(|(id, v)| in_bounds(id) && keep(v));
    let take = page.limit as usize + 1;
    if page.backward {
        rows.rev().take(take).map(|(_, v)| v.clone()).collect()
    } else {
        rows.take(take).map(|(_, v)| v.clone()).collect()
    }
}

/// One keyset page over the documents of `ids` (an index group, in id order).
fn page_of_ids<T: Clone>(
    map: &BTreeMap<String, T>,
    ids: Option<&BTreeSet<String>>,
    page: &PageRequest,
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    use std::ops::Bound::{Excluded, Unbounded};
    let Some(ids) = ids else {
        return Vec::new();
    };
    if let (Some(after), Some(before)) = (&page.after, &page.before) {
        // An empty range (and one `BTreeSet::range` would refuse).
        if after >= before {
            return Vec::new();
        }
    }
    let lower = page.after.clone().map_or(Unbounded, Excluded);
    let upper = page.before.clone().map_or(Unbounded, Excluded);
    let rows = ids
        .range::<String, _>((lower, upper))
        .filter_map(|id| map.get(id))
        .filter(|v| keep(v));
    let take = page.limit as usize + 1;
    if page.backward {
        rows.rev().take(take).cloned().collect()
    } else {
        rows.take(take).cloned().collect()
    }
}

fn guard_wip(state: &State, tenant: &TenantId, to: &Placement) -> PmoResult<()> {
    if state
        .boards
        .get(&to.board_id)
        .is_none_or(|b| b.tenant_id != tenant.as_str())
    {
        return Err(ApiError::NotFound("board".into()).into());
    }
    let current = state.column_count(tenant, &to.board_id, &to.column_id);
    check_wip(&to.column_name, to.wip_limit, current)?;
    Ok(())
}

/// A sprint of the project that tasks may join or leave (not closed).
fn open_sprint(
    state: &State,
    tenant: &TenantId,
    project_id: &str,
    sprint_id: &str,
) -> PmoResult<()> {
    let sprint = state
        .sprints
        .get(sprint_id)
        .filter(|s| s.tenant_id == tenant.as_str() && s.project_id == project_id)
        .ok_or_else(|| ApiError::bad_input("sprintId", "no such sprint in the task's project"))?;
    check_can_plan(sprint.state)?;
    Ok(())
}

/// The stored revision of a timesheet (None: absent), to compare with the one read.
fn timesheet_rev(state: &State, tenant: &TenantId, id: &str) -> Option<i64> {
    state
        .timesheets
        .get(id)
        .filter(|t| t.tenant_id == tenant.as_str())
        .map(|t| t.rev)
}

/// The person's week with its revision bumped (a draft when untouched), to write with time
/// added to it; refused while the week is submitted or approved.
fn touched_week(
    state: &State,
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
) -> PmoResult<TimesheetDoc> {
    let key = TimesheetDoc::key(tenant, user_id, week);
    let current = state
        .timesheets
        .get(&key)
        .filter(|t| t.tenant_id == tenant.as_str())
        .cloned()
        .unwrap_or_else(|| TimesheetDoc::draft(tenant, user_id, week));
    check_week_open(week, current.state)?;
    Ok(TimesheetDoc {
        rev: current.rev + 1,
        ..current
    })
}

fn timesheet_changed() -> ApiError {
    ApiError::Conflict("the timesheet changed meanwhile; reload and retry".into())
}

/// A project of the tenant, to change.
fn project_of(state: &State, tenant: &TenantId, id: &str) -> Option<ProjectDoc> {
    state
        .projects
        .get(id)
        .filter(|p| p.tenant_id == tenant.as_str())
        .cloned()
}

/// A task of the tenant, to change.
fn task_of(state: &State, tenant: &TenantId, id: &str) -> PmoResult<TaskDoc> {
    state
        .tasks
        .get(id)
        .filter(|t| t.tenant_id == tenant.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound("task".into()).into())
}

/// A sprint of the tenant, to change.
fn sprint_of(state: &State, tenant: &TenantId, id: &str) -> PmoResult<SprintDoc> {
    state
        .sprints
        .get(id)
        .filter(|s| s.tenant_id == tenant.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound("sprint".into()).into())
}

/// A change of one project, answering with it.
fn project_change(project: ProjectDoc) -> (Change, Option<ProjectDoc>) {
    (
        Change {
            projects: vec![project.clone()],
            ..Change::default()
        },
        Some(project),
    )
}

/// A change of one task, answering with it.
fn task_change(task: TaskDoc) -> (Change, TaskDoc) {
    (
        Change {
            tasks: vec![task.clone()],
            ..Change::default()
        },
        task,
    )
}

#[async_trait::async_trait]
impl PmoStore for MemoryStore {
    async fn prepare(&self) -> PmoResult<()> {
        Ok(())
    }

    async fn insert_project(
        &self,
        _tenant: &TenantId,
        project: &ProjectDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                projects: vec![project.clone()],
                ..Change::default()
            };
            Ok((change.with_event(event)?, ()))
        })
        .await
    }

    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<ProjectDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.projects,
            tenant,
            ids,
            |p| &p.tenant_id,
        ))
    }

    async fn list_projects(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> PmoResult<Vec<ProjectDoc>> {
        Ok(page_of(&self.inner.lock().state.projects, page, |p| {
            p.tenant_id == tenant.as_str()
        }))
    }

    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> PmoResult<Option<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) = project_of(state, tenant, project_id) else {
                return Ok((Change::default(), None));
            };
            project.members.retain(|m| m.user_id != member.user_id);
            project.members.push(member.clone());
            Ok(project_change(project))
        })
        .await
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> PmoResult<Option<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) = project_of(state, tenant, project_id) else {
                return Ok((Change::default(), None));
            };
            project.members.retain(|m| m.user_id != user_id);
            Ok(project_change(project))
        })
        .await
    }

    async fn insert_board(&self, _tenant: &TenantId, board: &BoardDoc) -> PmoResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                boards: vec![board.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<BoardDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.boards,
            tenant,
            ids,
            |b| &b.tenant_id,
        ))
    }

    async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> PmoResult<Vec<BoardDoc>> {
        Ok(self
            .inner
            .lock()
            .state
            .boards
            .values()
            .filter(|b| b.tenant_id == tenant.as_str() && project_ids.contains(&b.project_id))
            .cloned()
            .collect())
    }

    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        placement: Option<&Placement>,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        self.write(Durability::Synced, |state| {
            if let Some(to) = placement {
                guard_wip(state, tenant, to)?;
            }
            if let Some(sprint_id) = &task.sprint_id {
                open_sprint(state, tenant, &task.project_id, sprint_id)?;
            }
            let change = Change {
                tasks: vec![task.clone()],
                ..Change::default()
            };
            Ok((change.with_event(event)?, ()))
        })
        .await
    }

    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        event: &EventEnvelope,
    ) -> PmoResult<TaskDoc> {
        self.write(Durability::Synced, |state| {
            guard_wip(state, tenant, to)?;
            // Subtasks are in their parent's project.
            let project_id = state
                .tasks
                .get(task_id)
                .filter(|t| t.tenant_id == tenant.as_str())
                .map(|t| t.project_id.as_str())
                .unwrap_or_default();
            let open = state
                .project_tasks(tenant, project_id)
                .filter(|t| t.parent_id.as_deref() == Some(task_id) && t.status != TaskStatus::Done)
                .count() as u64;
            check_parent_done(to.status, open)?;
            let current = state
                .tasks
                .get(task_id)
                .filter(|t| t.tenant_id == tenant.as_str() && t.column_id.as_deref() == from_column)
                .cloned()
                .ok_or_else(|| {
                    ApiError::Conflict("the task was moved meanwhile; reload and retry".into())
                })?;
            let moved = TaskDoc {
                board_id: Some(to.board_id.clone()),
                column_id: Some(to.column_id.clone()),
                status: to.status,
                updated_at: chrono::Utc::now(),
                ..current
            };
            let (change, moved) = task_change(moved);
            Ok((change.with_event(event)?, moved))
        })
        .await
    }

    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<TaskDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.tasks,
            tenant,
            ids,
            |t| &t.tenant_id,
        ))
    }

    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TaskDoc>> {
        let state = &self.inner.lock().state;
        let keep = |t: &TaskDoc| t.tenant_id == tenant.as_str() && filter.matches(t);
        Ok(match &filter.project_id {
            Some(project_id) => page_of_ids(
                &state.tasks,
                state.tasks_by_project.ids(tenant, project_id),
                page,
                keep,
            ),
            None => page_of(&state.tasks, page, keep),
        })
    }

    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        blocker_id: &str,
    ) -> PmoResult<TaskDoc> {
        self.write(Durability::Synced, |state| {
            let edges: HashMap<String, Vec<String>> = state
                .project_tasks(tenant, project_id)
                .map(|t| (t.id.clone(), t.blocked_by.clone()))
                .collect();
            check_dependency(task_id, blocker_id, &edges)?;
            let mut task = task_of(state, tenant, task_id)?;
            if task.project_id != project_id {
                return Err(ApiError::NotFound("task".into()).into());
            }
            if !task.blocked_by.iter().any(|b| b == blocker_id) {
                task.blocked_by.push(blocker_id.to_owned());
            }
            task.updated_at = chrono::Utc::now();
            Ok(task_change(task))
        })
        .await
    }

    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project_id: &str,
        field: &FieldDefinition,
    ) -> PmoResult<Option<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) = project_of(state, tenant, project_id) else {
                return Ok((Change::default(), None));
            };
            check_new_field(&project, field)?;
            project.custom_fields.push(field.clone());
            Ok(project_change(project))
        })
        .await
    }

    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        self.write(Durability::Synced, |state| {
            let mut task = task_of(state, tenant, task_id)?;
            task.custom_fields.retain(|v| v.field_id != field_id);
            if let Some(value) = value {
                task.custom_fields.push(CustomValue {
                    field_id: field_id.to_owned(),
                    value: value.to_owned(),
                });
            }
            task.updated_at = chrono::Utc::now();
            Ok(task_change(task))
        })
        .await
    }

    async fn insert_comment(&self, _tenant: &TenantId, comment: &CommentDoc) -> PmoResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                comments: vec![comment.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn comment(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<CommentDoc>> {
        Ok(self
            .inner
            .lock()
            .state
            .comments
            .get(id)
            .filter(|c| c.tenant_id == tenant.as_str())
            .cloned())
    }

    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> PmoResult<Option<CommentDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut comment) = state
                .comments
                .get(id)
                .filter(|c| c.tenant_id == tenant.as_str() && c.author_id == author_id)
                .cloned()
            else {
                return Ok((Change::default(), None));
            };
            comment.body = body.to_owned();
            comment.edited_at = Some(chrono::Utc::now());
            let change = Change {
                comments: vec![comment.clone()],
                ..Change::default()
            };
            Ok((change, Some(comment)))
        })
        .await
    }

    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> PmoResult<Vec<CommentDoc>> {
        Ok(page_of(&self.inner.lock().state.comments, page, |c| {
            c.tenant_id == tenant.as_str() && c.task_id == task_id
        }))
    }

    async fn insert_sprint(&self, _tenant: &TenantId, sprint: &SprintDoc) -> PmoResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                sprints: vec![sprint.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<SprintDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.sprints,
            tenant,
            ids,
            |s| &s.tenant_id,
        ))
    }

    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> PmoResult<Vec<SprintDoc>> {
        Ok(page_of(&self.inner.lock().state.sprints, page, |s| {
            s.tenant_id == tenant.as_str()
                && s.project_id == project_id
                && state.is_none_or(|wanted| wanted == s.state)
        }))
    }

    async fn plan_task(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        sprint_id: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        self.write(Durability::Synced, |state| {
            let task = task_of(state, tenant, task_id)?;
            if task.project_id != project_id {
                return Err(ApiError::NotFound("task".into()).into());
            }
            if let Some(current) = &task.sprint_id {
                open_sprint(state, tenant, project_id, current)?;
            }
            if let Some(target) = sprint_id {
                open_sprint(state, tenant, project_id, target)?;
            }
            Ok(task_change(TaskDoc {
                sprint_id: sprint_id.map(str::to_owned),
                updated_at: chrono::Utc::now(),
                ..task
            }))
        })
        .await
    }

    async fn start_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        event: &EventEnvelope,
    ) -> PmoResult<SprintDoc> {
        self.write(Durability::Synced, |state| {
            let sprint = sprint_of(state, tenant, sprint_id)?;
            let other_active = state.sprints.values().any(|s| {
                s.tenant_id == tenant.as_str()
                    && s.project_id == sprint.project_id
                    && s.state == SprintState::Active
                    && s.id != sprint.id
            });
            check_can_start(sprint.state, other_active)?;
            let started = SprintDoc {
                state: SprintState::Active,
                started_at: Some(chrono::Utc::now()),
                rev: sprint.rev + 1,
                ..sprint
            };
            let change = Change {
                sprints: vec![started.clone()],
                ..Change::default()
            };
            Ok((change.with_event(event)?, started))
        })
        .await
    }

    async fn close_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        carry_over_to: Option<&str>,
        event: CloseEvent<'_>,
    ) -> PmoResult<SprintDoc> {
        self.write(Durability::Synced, |state| {
            let sprint = sprint_of(state, tenant, sprint_id)?;
            check_can_close(sprint.state)?;
            if let Some(target_id) = carry_over_to {
                let target = state
                    .sprints
                    .get(target_id)
                    .filter(|s| s.tenant_id == tenant.as_str())
                    .ok_or_else(|| ApiError::bad_input("carryOverTo", "no such sprint"))?;
                check_carry_over_target(
                    &sprint.id,
                    &target.id,
                    target.state,
                    target.project_id == sprint.project_id,
                )?;
            }
            // A sprint's tasks are in its project.
            let tasks: Vec<(String, TaskStatus)> = state
                .project_tasks(tenant, &sprint.project_id)
                .filter(|t| t.sprint_id.as_deref() == Some(sprint_id))
                .map(|t| (t.id.clone(), t.status))
                .collect();
            let (done, open) = split_at_close(&tasks);
            let now = chrono::Utc::now();
            let closed = SprintDoc {
                state: SprintState::Closed,
                closed_at: Some(now),
                completed_task_ids: done.iter().map(|id| (*id).to_owned()).collect(),
                carried_over_task_ids: open.iter().map(|id| (*id).to_owned()).collect(),
                carried_over_to: carry_over_to.map(str::to_owned),
                rev: sprint.rev + 1,
                ..sprint
            };
            let event = event(&closed)?;
            let carried = closed
                .carried_over_task_ids
                .iter()
                .filter_map(|id| state.tasks.get(id))
                .map(|task| TaskDoc {
                    sprint_id: carry_over_to.map(str::to_owned),
                    updated_at: now,
                    ..task.clone()
                })
                .collect();
            let change = Change {
                sprints: vec![closed.clone()],
                tasks: carried,
                ..Change::default()
            };
            Ok((change.with_event(&event)?, closed))
        })
        .await
    }

    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> PmoResult<bool> {
        self.write(Durability::Synced, |state| {
            if state.time_entries.contains_key(&entry.id) {
                return Ok((Change::default(), false));
            }
            let week = IsoWeek::of_time(entry.started_at);
            let change = Change {
                time_entries: vec![entry.clone()],
                timesheets: vec![touched_week(state, tenant, &entry.user_id, week)?],
                ..Change::default()
            };
            Ok((change.with_event(event)?, true))
        })
        .await
    }

    async fn time_entry(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<TimeEntryDoc>> {
        Ok(self
            .inner
            .lock()
            .state
            .time_entries
            .get(id)
            .filter(|e| e.tenant_id == tenant.as_str())
            .cloned())
    }

    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimeEntryDoc>> {
        let state = &self.inner.lock().state;
        let keep = |e: &TimeEntryDoc| {
            e.tenant_id == tenant.as_str()
                && filter.user_id.as_ref().is_none_or(|u| *u == e.user_id)
                && filter
                    .project_id
                    .as_ref()
                    .is_none_or(|p| *p == e.project_id)
        };
        Ok(match &filter.user_id {
            Some(user_id) => page_of_ids(
                &state.time_entries,
                state.entries_by_user.ids(tenant, user_id),
                page,
                keep,
            ),
            None => page_of(&state.time_entries, page, keep),
        })
    }

    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<TimesheetDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.timesheets,
            tenant,
            ids,
            |t| &t.tenant_id,
        ))
    }

    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimesheetDoc>> {
        let state = &self.inner.lock().state;
        let keep = |t: &TimesheetDoc| {
            t.tenant_id == tenant.as_str()
                && filter.user_id.as_ref().is_none_or(|u| *u == t.user_id)
                && filter.state.is_none_or(|s| s == t.state)
        };
        Ok(match &filter.user_id {
            Some(user_id) => page_of_ids(
                &state.timesheets,
                state.timesheets_by_user.ids(tenant, user_id),
                page,
                keep,
            ),
            None => page_of(&state.timesheets, page, keep),
        })
    }

    async fn entries_of_weeks(
        &self,
        tenant: &TenantId,
        weeks: &[(String, IsoWeek)],
    ) -> PmoResult<Vec<TimeEntryDoc>> {
        let state = &self.inner.lock().state;
        let users: BTreeSet<&String> = weeks.iter().map(|(user_id, _)| user_id).collect();
        let mut entries: Vec<TimeEntryDoc> = users
            .into_iter()
            .filter_map(|user_id| state.entries_by_user.ids(tenant, user_id))
            .flatten()
            .filter_map(|id| state.time_entries.get(id))
            .filter(|e| {
                e.tenant_id == tenant.as_str()
                    && weeks.iter().any(|(user_id, week)| {
                        e.user_id == *user_id && IsoWeek::of_time(e.started_at) == *week
                    })
            })
            .cloned()
            .collect();
        entries.sort_by_key(|e| e.started_at);
        Ok(entries)
    }

    async fn save_timesheet(
        &self,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
        event: Option<&EventEnvelope>,
    ) -> PmoResult<()> {
        self.write(Durability::Synced, |state| {
            if timesheet_rev(state, tenant, &timesheet.id) != expected_rev {
                return Err(timesheet_changed().into());
            }
            let mut change = Change {
                timesheets: vec![timesheet.clone()],
                ..Change::default()
            };
            if let Some(event) = event {
                change = change.with_event(event)?;
            }
            Ok((change, ()))
        })
        .await
    }

    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        self.write(Durability::Synced, |state| {
            if state
                .time_entries
                .get(&entry.id)
                .is_none_or(|e| e.tenant_id != tenant.as_str())
            {
                return Err(ApiError::NotFound("time entry".into()).into());
            }
            for week in weeks {
                if timesheet_rev(state, tenant, &week.timesheet.id)
                    != week.exists.then_some(week.timesheet.rev)
                {
                    return Err(timesheet_changed().into());
                }
            }
            let bumped = weeks
                .iter()
                .map(|week| TimesheetDoc {
                    rev: week.timesheet.rev + 1,
                    ..week.timesheet.clone()
                })
                .collect();
            let change = Change {
                timesheets: bumped,
                time_entries: vec![entry.clone()],
                entry_edits: vec![audit.clone()],
                ..Change::default()
            };
            Ok((change.with_event(event)?, ()))
        })
        .await
    }

    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> PmoResult<Vec<TimeEntryEditDoc>> {
        Ok(self
            .inner
            .lock()
            .state
            .entry_edits
            .values()
            .filter(|e| e.tenant_id == tenant.as_str() && entry_ids.contains(&e.entry_id))
            .cloned()
            .collect())
    }

    async fn import_tasks(&self, tenant: &TenantId, tasks: &[TaskDoc]) -> PmoResult<Imported> {
        import::check_tasks(tenant, tasks)?;
        // The whole batch is one change: one journal record, one flush.
        self.write(Durability::Synced, |state| {
            let new = import::new_documents(
                import::TASK_BATCH,
                tasks,
                |t| &t.id,
                |id| state.tasks.get(id).map(|t| t.tenant_id == tenant.as_str()),
            )?;
            let projects: HashSet<String> = import::distinct(&new, |t| Some(&t.project_id))
                .into_iter()
                .filter(|id| {
                    state
                        .projects
                        .get(id)
                        .is_some_and(|p| p.tenant_id == tenant.as_str())
                })
                .collect();
            let boards: HashMap<String, BoardDoc> = import::distinct(&new, |t| t.board_id.as_ref())
                .into_iter()
                .filter_map(|id| {
                    let board = state
                        .boards
                        .get(&id)
                        .filter(|b| b.tenant_id == tenant.as_str())?;
                    Some((id, board.clone()))
                })
                .collect();
            for load in import::check_placements(&new, &projects, &boards)? {
                load.check(state.column_count(tenant, &load.board_id, &load.column_id))?;
            }
            let imported = Imported {
                inserted: new.len(),
                existing: tasks.len() - new.len(),
            };
            let change = Change {
                tasks: new.into_iter().cloned().collect(),
                ..Change::default()
            };
            Ok((change, imported))
        })
        .await
    }

    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> PmoResult<Imported> {
        import::check_time_entries(tenant, entries, chrono::Utc::now())?;
        // The entries and the touches of their weeks are one change: one record, one flush.
        self.write(Durability::Synced, |state| {
            let new = import::new_documents(
                import::ENTRY_BATCH,
                entries,
                |e| &e.id,
                |id| {
                    state
                        .time_entries
                        .get(id)
                        .map(|e| e.tenant_id == tenant.as_str())
                },
            )?;
            let task_projects: HashMap<String, String> =
                import::distinct(&new, |e| Some(&e.task_id))
                    .into_iter()
                    .filter_map(|id| {
                        let task = state
                            .tasks
                            .get(&id)
                            .filter(|t| t.tenant_id == tenant.as_str())?;
                        Some((id, task.project_id.clone()))
                    })
                    .collect();
            import::check_entry_tasks(&new, &task_projects)?;
            let timesheets = import::weeks_of(&new)
                .into_iter()
                .map(|(user_id, week)| touched_week(state, tenant, &user_id, week))
                .collect::<PmoResult<Vec<_>>>()?;
            let imported = Imported {
                inserted: new.len(),
                existing: entries.len() - new.len(),
            };
            let change = Change {
                time_entries: new.into_iter().cloned().collect(),
                timesheets,
                ..Change::default()
            };
            Ok((change, imported))
        })
        .await
    }

    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        self.write(Durability::Synced, |state| {
            let change = Change {
                timesheets: vec![touched_week(state, tenant, user_id, week)?],
                ..Change::default()
            };
            Ok((change.with_event(event)?, ()))
        })
        .await
    }

    async fn pending_events(&self, limit: u64) -> PmoResult<Vec<PendingEvent>> {
        Ok(self
            .inner
            .lock()
            .state
            .outbox
            .values()
            .filter(|d| d.published_at.is_none())
            .take(limit as usize)
            .map(|d| PendingEvent {
                id: d.id.clone(),
                topic: d.topic.clone(),
                envelope: d.envelope.clone(),
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
            })
            .collect())
    }

    async fn purge_published(&self, _before_ms: i64) -> PmoResult<()> {
        // mark_published already dropped them.
        Ok(())
    }

    async fn mark_published(&self, ids: &[String]) -> PmoResult<()> {
        // Published events are dropped: nothing reads them back in the embedded mode.
        self.write(Durability::Lazy, |state| {
            let change = Change {
                published: ids
                    .iter()
                    .filter(|id| state.outbox.contains_key(*id))
                    .cloned()
                    .collect(),
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> PmoResult<()> {
        self.write(Durability::Lazy, |state| {
            let failed = state.outbox.get(id).map(|doc| OutboxDoc {
                attempts: doc.attempts + 1,
                last_error: Some(error.to_owned()),
                next_attempt_at,
                ..doc.clone()
            });
            let change = Change {
                outbox: failed.into_iter().collect(),
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn lease_relay(&self, _owner: &str, _until_ms: i64, _now_ms: i64) -> PmoResult<bool> {
        Ok(true)
    }

    async fn ping(&self) -> Result<(), String> {
        match self.inner.lock().journal.as_ref().and_then(Journal::broken) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProjectRole;
    use crate::store::journal::tests::temp_journal;
    use chrono::{TimeZone, Utc};

    fn tenant() -> TenantId {
        TenantId::from_claim("tnt_a")
    }

    fn event(kind: &str, aggregate: &str) -> EventEnvelope {
        EventEnvelope::new(&tenant(), kind, aggregate, serde_json::json!({ "n": 1 })).unwrap()
    }

    fn project(id: &str) -> ProjectDoc {
        ProjectDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            name: format!("Project {id}"),
            client: Some("Client".into()),
            budget: None,
            billable: true,
            members: vec![Member {
                user_id: "usr_1".into(),
                employee_id: Some("emp_1".into()),
                role: ProjectRole::Owner,
            }],
            custom_fields: Vec::new(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap(),
            rev: 0,
        }
    }

    fn board(id: &str, project_id: &str) -> BoardDoc {
        BoardDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            project_id: project_id.into(),
            name: "Board".into(),
            columns: vec![super::super::ColumnDoc {
                id: "col_doing".into(),
                name: "Doing".into(),
                status: TaskStatus::InProgress,
                wip_limit: Some(1),
            }],
            rev: 0,
        }
    }

    fn task(id: &str, project_id: &str) -> TaskDoc {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        TaskDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            project_id: project_id.into(),
            board_id: Some("brd_1".into()),
            column_id: Some("col_doing".into()),
            status: TaskStatus::InProgress,
            title: format!("Task {id}"),
            description: Some("line one\nline two".into()),
            assignee_ids: vec!["emp_1".into()],
            estimate_minutes: Some(90),
            labels: vec!["backend".into()],
            sprint_id: None,
            blocked_by: Vec::new(),
            parent_id: None,
            custom_fields: Vec::new(),
            created_at: at,
            updated_at: at,
        }
    }

    fn doing() -> Placement {
        Placement {
            board_id: "brd_1".into(),
            column_id: "col_doing".into(),
            column_name: "Doing".into(),
            status: TaskStatus::InProgress,
            wip_limit: Some(1),
        }
    }

    fn entry(id: &str) -> TimeEntryDoc {
        TimeEntryDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            user_id: "usr_1".into(),
            task_id: "tsk_1".into(),
            project_id: "prj_1".into(),
            started_at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
            ended_at: Utc.with_ymd_and_hms(2026, 1, 5, 11, 30, 0).unwrap(),
            duration_seconds: 5400,
            billable: true,
        }
    }

    fn page() -> PageRequest {
        PageRequest {
            limit: 100,
            after: None,
            before: None,
            backward: false,
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[tokio::test]
    async fn everything_written_is_there_after_a_reopen() {
        let path = temp_journal();
        let tenant = tenant();
        let store = MemoryStore::open(&path).unwrap();
        store
            .insert_project(
                &tenant,
                &project("prj_1"),
                &event("project.created", "prj_1"),
            )
            .await
            .unwrap();
        store
            .insert_board(&tenant, &board("brd_1", "prj_1"))
            .await
            .unwrap();
        store
            .insert_task(
                &tenant,
                &task("tsk_1", "prj_1"),
                Some(&doing()),
                &event("task.created", "tsk_1"),
            )
            .await
            .unwrap();
        let member = Member {
            user_id: "usr_2".into(),
            employee_id: None,
            role: ProjectRole::Contributor,
        };
        let with_member = store
            .put_member(&tenant, "prj_1", &member)
            .await
            .unwrap()
            .unwrap();
        assert!(store
            .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
            .await
            .unwrap());
        // Three events queued, the first one published.
        let pending = store.pending_events(10).await.unwrap();
        assert_eq!(pending.len(), 3);
        store
            .mark_published(std::slice::from_ref(&pending[0].id))
            .await
            .unwrap();
        let tasks = store
            .tasks_by_ids(&tenant, &["tsk_1".into()])
            .await
            .unwrap();
        let pending = store.pending_events(10).await.unwrap();
        drop(store);

        let (store, report) = MemoryStore::open_with(&path, CompactionPolicy::default()).unwrap();
        assert_eq!(report.torn_bytes, 0);
        assert_eq!(
            store
                .projects_by_ids(&tenant, &["prj_1".into()])
                .await
                .unwrap(),
            [with_member]
        );
        assert_eq!(
            store
                .boards_of_projects(&tenant, &["prj_1".into()])
                .await
                .unwrap(),
            [board("brd_1", "prj_1")]
        );
        assert_eq!(
            store
                .tasks_by_ids(&tenant, &["tsk_1".into()])
                .await
                .unwrap(),
            tasks
        );
        assert_eq!(
            store
                .list_time_entries(&tenant, &TimeEntryFilter::default(), &page())
                .await
                .unwrap(),
            [entry("tmr_1")]
        );
        let replayed = store.pending_events(10).await.unwrap();
        assert_eq!(
            replayed
                .iter()
                .map(|e| (&e.id, &e.envelope))
                .collect::<Vec<_>>(),
            pending
                .iter()
                .map(|e| (&e.id, &e.envelope))
                .collect::<Vec<_>>()
        );
        // A repeated stop is still recognised after the restart.
        assert!(!store
            .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_refused_change_writes_nothing() {
        let path = temp_journal();
        let tenant = tenant();
        let store = MemoryStore::open(&path).unwrap();
        store
            .insert_board(&tenant, &board("brd_1", "prj_1"))
            .await
            .unwrap();
        store
            .insert_task(
                &tenant,
                &task("tsk_1", "prj_1"),
                Some(&doing()),
                &event("task.created", "tsk_1"),
            )
            .await
            .unwrap();
        let before = file_len(&path);
        // The column's WIP limit is 1.
        let refused = store
            .insert_task(
                &tenant,
                &task("tsk_2", "prj_1"),
                Some(&doing()),
                &event("task.created", "tsk_2"),
            )
            .await;
        assert!(
            matches!(refused, Err(crate::store::PmoError::Rule(_))),
            "{refused:?}"
        );
        // Not found: nothing to write either.
        assert_eq!(
            store
                .put_member(&tenant, "prj_404", &project("x").members[0])
                .await
                .unwrap(),
            None
        );
        assert_eq!(file_len(&path), before);
        assert_eq!(store.pending_events(10).await.unwrap().len(), 1);
        drop(store);
        let store = MemoryStore::open(&path).unwrap();
        assert!(store
            .tasks_by_ids(&tenant, &["tsk_2".into()])
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.pending_events(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn time_is_not_added_to_a_locked_week() {
        let path = temp_journal();
        let tenant = tenant();
        let store = MemoryStore::open(&path).unwrap();
        let week = IsoWeek::of_time(entry("tmr_1").started_at);
        assert!(store
            .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
            .await
            .unwrap());
        // The stop touched the week: a draft at revision 1.
        let key = TimesheetDoc::key(&tenant, "usr_1", week);
        let touched = store
            .timesheets_by_ids(&tenant, std::slice::from_ref(&key))
            .await
            .unwrap();
        assert_eq!(touched.len(), 1);
        assert_eq!(touched[0].rev, 1);
        let submitted = TimesheetDoc {
            state: crate::domain::timesheet::TimesheetState::Submitted,
            rev: 2,
            ..touched[0].clone()
        };
        store
            .save_timesheet(&tenant, &submitted, Some(1), None)
            .await
            .unwrap();
        let before = file_len(&path);
        let refused = store
            .insert_time_entry(&tenant, &entry("tmr_2"), &event("timer.stopped", "tmr_2"))
            .await;
        assert!(
            matches!(
                refused,
                Err(crate::store::PmoError::Rule(
                    crate::domain::RuleViolation::WeekLocked { .. }
                ))
            ),
            "{refused:?}"
        );
        let refused = store
            .record_timer_start(&tenant, "usr_1", week, &event("timer.started", "tmr_3"))
            .await;
        assert!(matches!(refused, Err(crate::store::PmoError::Rule(_))));
        // A repeated stop of an entry already recorded is still recognised.
        assert!(!store
            .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
            .await
            .unwrap());
        assert_eq!(file_len(&path), before);
        assert_eq!(
            store.week_entries(&tenant, "usr_1", week).await.unwrap(),
            [entry("tmr_1")]
        );
        assert_eq!(
            store.timesheets_by_ids(&tenant, &[key]).await.unwrap(),
            [submitted]
        );
    }

    #[tokio::test]
    async fn a_torn_last_record_loses_only_that_change() {
        let path = temp_journal();
        let tenant = tenant();
        let store = MemoryStore::open(&path).unwrap();
        store
            .insert_project(
                &tenant,
                &project("prj_1"),
                &event("project.created", "prj_1"),
            )
            .await
            .unwrap();
        drop(store);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&*path)
            .unwrap();
        std::io::Write::write_all(&mut file, br#"{"projects":[{"_id":"prj_2","tenant"#).unwrap();
        drop(file);

        let (store, report) = MemoryStore::open_with(&path, CompactionPolicy::default()).unwrap();
        assert!(report.torn_bytes > 0);
        let projects = store.list_projects(&tenant, &page()).await.unwrap();
        assert_eq!(projects, [project("prj_1")]);
    }

    #[tokio::test]
    async fn a_long_history_is_compacted_while_running() {
        let path = temp_journal();
        let tenant = tenant();
        let policy = CompactionPolicy {
            min_bytes: 4096,
            growth_factor: 2,
        };
        let (store, _) = MemoryStore::open_with(&path, policy).unwrap();
        store
            .insert_project(
                &tenant,
                &project("prj_1"),
                &event("project.created", "prj_1"),
            )
            .await
            .unwrap();
        let mut last = None;
        for n in 0..200 {
            let member = Member {
                user_id: format!("usr_{}", n % 3),
                employee_id: None,
                role: ProjectRole::Contributor,
            };
            last = store.put_member(&tenant, "prj_1", &member).await.unwrap();
        }
        // 200 records of a growing project would be far larger than this.
        assert!(file_len(&path) < 2 * 4096, "{}", file_len(&path));
        drop(store);
        let (store, report) = MemoryStore::open_with(&path, policy).unwrap();
        assert!(report.records < 200, "{report:?}");
        assert_eq!(
            store
                .projects_by_ids(&tenant, &["prj_1".into()])
                .await
                .unwrap(),
            [last.unwrap()]
        );
    }

    #[tokio::test]
    async fn imports_follow_the_rules() {
        crate::store::import::scenario::imports_follow_the_rules(&MemoryStore::new()).await;
    }

    fn journal_lines(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[tokio::test]
    async fn an_import_batch_is_one_journal_record_and_survives_a_reopen() {
        let path = temp_journal();
        let tenant = tenant();
        let store = MemoryStore::open(&path).unwrap();
        store
            .insert_project(
                &tenant,
                &project("prj_1"),
                &event("project.created", "prj_1"),
            )
            .await
            .unwrap();
        let tasks: Vec<TaskDoc> = (0..3_000)
            .map(|n| TaskDoc {
                board_id: None,
                column_id: None,
                status: TaskStatus::Todo,
                description: None,
                ..task(&format!("tsk_{n:05}"), "prj_1")
            })
            .collect();
        let entries: Vec<TimeEntryDoc> = (0..2_000)
            .map(|n| {
                let start = Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap()
                    + chrono::Duration::minutes(10 * n);
                TimeEntryDoc {
                    task_id: format!("tsk_{:05}", n % 3_000),
                    started_at: start,
                    ended_at: start + chrono::Duration::minutes(5),
                    duration_seconds: 300,
                    ..entry(&format!("tmr_{n:05}"))
                }
            })
            .collect();
        let before = journal_lines(&path);
        let written = store.import_tasks(&tenant, &tasks).await.unwrap();
        assert_eq!(written.inserted, 3_000);
        assert_eq!(journal_lines(&path), before + 1);
        let written = store.import_time_entries(&tenant, &entries).await.unwrap();
        assert_eq!(written.inserted, 2_000);
        assert_eq!(journal_lines(&path), before + 2);
        // A repeat writes no record at all.
        let repeated = store.import_time_entries(&tenant, &entries).await.unwrap();
        assert_eq!((repeated.inserted, repeated.existing), (0, 2_000));
        assert_eq!(journal_lines(&path), before + 2);
        let weeks: Vec<TimesheetDoc> = store
            .list_timesheets(&tenant, &TimesheetFilter::default(), &page())
            .await
            .unwrap();
        drop(store);

        let store = MemoryStore::open(&path).unwrap();
        let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
        assert_eq!(store.tasks_by_ids(&tenant, &ids).await.unwrap(), tasks);
        for sample in [0, 777, 1_999] {
            assert_eq!(
                store
                    .time_entry(&tenant, &entries[sample].id)
                    .await
                    .unwrap(),
                Some(entries[sample].clone())
            );
        }
        // 2,000 entries ten minutes apart from Monday 5 January span W02 to W04.
        assert_eq!(weeks.len(), 3);
        assert!(weeks.iter().all(|w| w.rev == 1));
        assert_eq!(
            store
                .list_timesheets(&tenant, &TimesheetFilter::default(), &page())
                .await
                .unwrap(),
            weeks
        );
    }

    #[tokio::test]
    async fn indexed_reads_equal_a_scan_through_pages_and_edits() {
        let store = MemoryStore::new();
        let a = tenant();
        let b = TenantId::from_claim("tnt_b");
        store
            .insert_project(&a, &project("prj_1"), &event("project.created", "prj_1"))
            .await
            .unwrap();
        let unplaced = |id: &str, project_id: &str, tenant_id: &str| TaskDoc {
            board_id: None,
            column_id: None,
            status: TaskStatus::Todo,
            tenant_id: tenant_id.into(),
            ..task(id, project_id)
        };
        let tasks: Vec<TaskDoc> = (0..30)
            .map(|n| {
                unplaced(
                    &format!("tsk_{n:02}"),
                    if n % 3 == 0 { "prj_2" } else { "prj_1" },
                    "tnt_a",
                )
            })
            .collect();
        store
            .insert_project(&a, &project("prj_2"), &event("project.created", "prj_2"))
            .await
            .unwrap();
        store.import_tasks(&a, &tasks).await.unwrap();
        // Another tenant's task of a project with the same id is not the first tenant's.
        let mut theirs = project("prj_1");
        theirs.id = "prj_b".into();
        theirs.tenant_id = "tnt_b".into();
        store
            .insert_project(&b, &theirs, &event("project.created", "prj_b"))
            .await
            .unwrap();
        let other = TaskDoc {
            project_id: "prj_b".into(),
            ..unplaced("tsk_99", "prj_b", "tnt_b")
        };
        store.import_tasks(&b, &[other]).await.unwrap();
        let of_project: Vec<TaskDoc> = tasks
            .iter()
            .filter(|t| t.project_id == "prj_1")
            .cloned()
            .collect();
        let filter = TaskFilter {
            project_id: Some("prj_1".into()),
            ..TaskFilter::default()
        };
        let paged = |after: Option<&str>, before: Option<&str>, backward: bool| PageRequest {
            limit: 5,
            after: after.map(str::to_owned),
            before: before.map(str::to_owned),
            backward,
        };
        let first = store
            .list_tasks(&a, &filter, &paged(None, None, false))
            .await
            .unwrap();
        assert_eq!(first, of_project[..6]);
        let next = store
            .list_tasks(&a, &filter, &paged(Some(&of_project[4].id), None, false))
            .await
            .unwrap();
        assert_eq!(next, of_project[5..11]);
        let last: Vec<TaskDoc> = of_project.iter().rev().take(6).cloned().collect();
        assert_eq!(
            store
                .list_tasks(&a, &filter, &paged(None, None, true))
                .await
                .unwrap(),
            last
        );
        let between = store
            .list_tasks(
                &a,
                &filter,
                &paged(Some(&of_project[1].id), Some(&of_project[4].id), false),
            )
            .await
            .unwrap();
        assert_eq!(between, of_project[2..4]);
        // A cursor range that is empty (or upside down) is an empty page, not a panic.
        let upside_down = store
            .list_tasks(
                &a,
                &filter,
                &paged(Some(&of_project[4].id), Some(&of_project[1].id), false),
            )
            .await
            .unwrap();
        assert!(upside_down.is_empty());

        // Entries: an edit that moves one to the next week moves it in the week reads too.
        let w02 = IsoWeek::parse("week", "2026-W02").unwrap();
        let w03 = IsoWeek::parse("week", "2026-W03").unwrap();
        for id in ["tmr_1", "tmr_2"] {
            store
                .insert_time_entry(&a, &entry(id), &event("timer.stopped", id))
                .await
                .unwrap();
        }
        let mut moved = entry("tmr_2");
        moved.started_at += chrono::Duration::days(7);
        moved.ended_at += chrono::Duration::days(7);
        let audit = TimeEntryEditDoc {
            id: "edt_1".into(),
            tenant_id: "tnt_a".into(),
            entry_id: "tmr_2".into(),
            edited_by: "usr_1".into(),
            edited_at: Utc::now(),
            before: super::super::EntryTimes {
                started_at: entry("tmr_2").started_at,
                ended_at: entry("tmr_2").ended_at,
                duration_seconds: 5400,
                billable: true,
            },
            after: super::super::EntryTimes {
                started_at: moved.started_at,
                ended_at: moved.ended_at,
                duration_seconds: 5400,
                billable: true,
            },
        };
        store
            .edit_time_entry(
                &a,
                &moved,
                &[],
                &audit,
                &event("time_entry.edited", "tmr_2"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.week_entries(&a, "usr_1", w02).await.unwrap(),
            [entry("tmr_1")]
        );
        assert_eq!(
            store.week_entries(&a, "usr_1", w03).await.unwrap(),
            [moved.clone()]
        );
        let by_user = TimeEntryFilter {
            user_id: Some("usr_1".into()),
            project_id: None,
        };
        assert_eq!(
            store
                .list_time_entries(&a, &by_user, &page())
                .await
                .unwrap(),
            [entry("tmr_1"), moved]
        );
        assert!(store
            .week_entries(&b, "usr_1", w02)
            .await
            .unwrap()
            .is_empty());
        let sheets = store
            .list_timesheets(
                &a,
                &TimesheetFilter {
                    user_id: Some("usr_1".into()),
                    state: None,
                },
                &page(),
            )
            .await
            .unwrap();
        assert_eq!(sheets.len(), 1, "the stops touched W02 only: {sheets:?}");
    }

    #[tokio::test]
    async fn without_a_file_nothing_is_kept_and_nothing_is_written() {
        let store = MemoryStore::new();
        let tenant = tenant();
        store
            .insert_project(
                &tenant,
                &project("prj_1"),
                &event("project.created", "prj_1"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.list_projects(&tenant, &page()).await.unwrap(),
            [project("prj_1")]
        );
        assert_eq!(store.ping().await, Ok(()));
    }
}
