//! The embedded store of the one-process mode: the working set in in-process maps behind one
//! lock, optionally persisted to a journal file ([`MemoryStore::open`], see [`super::journal`]).
//! One lock makes every change atomic with its outbox event and its conditions (the revisions
//! a conditional write expects are compared under it); each change is computed from the state
//! as read, written to the journal as ONE record (the documents it writes and its event),
//! applied to the maps, and acknowledged once the record is on disk. [`MemoryStore::new`]
//! keeps nothing (tests).
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
use erp_kit::{ApiError, ApiResult, TenantId};

use super::journal::{CompactionPolicy, Journal, ReplayReport, Ticket};
use super::timers::{ProjectToTime, TaskToTime, TimerStarts, WeekTouch};
use super::{
    BoardDoc, CommentDoc, CrmEffect, CustomValue, DeadLetterDoc, EntryWrite, Expected, Guarded,
    History, HistoryWrite, Imported, InboxDoc, Member, MergedFrom, OutboxDoc, PendingEvent,
    Placement, PmoStore, ProjectDoc, SprintDoc, TaskDoc, TaskFilter, TimeEntryDoc,
    TimeEntryEditDoc, TimeEntryFilter, TimesheetDoc, TimesheetFilter, WeekGuard,
};
use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::SprintState;
use crate::domain::task::TaskStatus;
use crate::domain::timesheet::IsoWeek;

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
    inbox: BTreeMap<String, InboxDoc>,
    dead_letters: BTreeMap<String, DeadLetterDoc>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inbox: Vec<InboxDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dead_letters: Vec<DeadLetterDoc>,
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
            && self.inbox.is_empty()
            && self.dead_letters.is_empty()
    }

    fn of_project(project: &ProjectDoc) -> Self {
        Self {
            projects: vec![project.clone()],
            ..Self::default()
        }
    }

    fn of_task(task: &TaskDoc) -> Self {
        Self {
            tasks: vec![task.clone()],
            ..Self::default()
        }
    }

    /// The change with the event queued in the outbox.
    fn with_event(mut self, event: &EventEnvelope) -> ApiResult<Self> {
        self.outbox
            .push(OutboxDoc::new(crate::domain::DOMAIN, event)?);
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
        upsert(&mut self.inbox, change.inbox, |d| &d.id);
        upsert(&mut self.dead_letters, change.dead_letters, |d| &d.id);
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
        .chain(chunked(self.inbox.values(), |inbox| Change {
            inbox,
            ..Change::default()
        }))
        .chain(chunked(self.dead_letters.values(), |dead_letters| Change {
            dead_letters,
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
        decide: impl FnOnce(&State) -> ApiResult<(Change, R)>,
    ) -> ApiResult<R> {
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
    fn commit(&mut self, change: Change) -> ApiResult<Option<Ticket>> {
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

/// A document with a revision that conditional writes expect and bump.
trait Revised: Clone {
    fn tenant(&self) -> &str;
    fn rev_mut(&mut self) -> &mut i64;
}

impl Revised for ProjectDoc {
    fn tenant(&self) -> &str {
        &self.tenant_id
    }
    fn rev_mut(&mut self) -> &mut i64 {
        &mut self.rev
    }
}

impl Revised for BoardDoc {
    fn tenant(&self) -> &str {
        &self.tenant_id
    }
    fn rev_mut(&mut self) -> &mut i64 {
        &mut self.rev
    }
}

impl Revised for SprintDoc {
    fn tenant(&self) -> &str {
        &self.tenant_id
    }
    fn rev_mut(&mut self) -> &mut i64 {
        &mut self.rev
    }
}

/// The tenant's document at the expected revision, with its revision bumped; None when it
/// changed since (or is not the tenant's).
fn bumped<T: Revised>(
    map: &BTreeMap<String, T>,
    tenant: &TenantId,
    expected: &Expected,
) -> Option<T> {
    let mut doc = map
        .get(&expected.id)
        .filter(|d| d.tenant() == tenant.as_str())
        .cloned()?;
    let rev = doc.rev_mut();
    if *rev != expected.rev {
        return None;
    }
    *rev += 1;
    Some(doc)
}

/// [`bumped`] for an optional expectation: `Some(None)` when there is none, None when stale.
fn bumped_if<T: Revised>(
    map: &BTreeMap<String, T>,
    tenant: &TenantId,
    expected: Option<&Expected>,
) -> Option<Option<T>> {
    match expected {
        None => Some(None),
        Some(expected) => bumped(map, tenant, expected).map(Some),
    }
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
/// added to it; its state when it is submitted or approved.
fn touched_week(
    state: &State,
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
) -> Result<TimesheetDoc, crate::domain::timesheet::TimesheetState> {
    let key = TimesheetDoc::key(tenant, user_id, week);
    let current = state
        .timesheets
        .get(&key)
        .filter(|t| t.tenant_id == tenant.as_str())
        .cloned()
        .unwrap_or_else(|| TimesheetDoc::draft(tenant, user_id, week));
    if current.state.is_locked() {
        return Err(current.state);
    }
    Ok(TimesheetDoc {
        rev: current.rev + 1,
        ..current
    })
}

/// A document of the tenant.
fn one_of_tenant<T: Clone>(
    map: &BTreeMap<String, T>,
    tenant: &TenantId,
    id: &str,
    tenant_of: impl Fn(&T) -> &str,
) -> Option<T> {
    map.get(id)
        .filter(|d| tenant_of(d) == tenant.as_str())
        .cloned()
}

/// Where an id of a batch of history is stored: `Some(true)` in this tenant, `Some(false)` in
/// another one, None nowhere.
fn stored_in<T>(
    map: &BTreeMap<String, T>,
    tenant: &TenantId,
    id: &str,
    tenant_of: impl Fn(&T) -> &str,
) -> Option<bool> {
    map.get(id).map(|d| tenant_of(d) == tenant.as_str())
}

/// The documents of a batch that are not stored yet, or the first id another tenant has.
fn new_in_batch<T>(
    docs: &[T],
    id_of: impl Fn(&T) -> &str,
    stored: impl Fn(&str) -> Option<bool>,
) -> Result<Vec<&T>, String> {
    let mut new = Vec::with_capacity(docs.len());
    for doc in docs {
        match stored(id_of(doc)) {
            Some(true) => {}
            Some(false) => return Err(id_of(doc).to_owned()),
            None => new.push(doc),
        }
    }
    Ok(new)
}

/// A change writing nothing, answering that the write was stale.
fn stale<T>() -> ApiResult<(Change, Guarded<T>)> {
    Ok((Change::default(), Guarded::Stale))
}

/// The embedded backend of a timer start (beside the maps it reads and the journal it writes).
#[async_trait::async_trait]
impl TimerStarts for MemoryStore {
    async fn task_to_time(
        &self,
        tenant: &TenantId,
        task_id: &str,
    ) -> ApiResult<Option<TaskToTime>> {
        let state = &self.inner.lock().state;
        let Some(task) = one_of_tenant(&state.tasks, tenant, task_id, |t| &t.tenant_id) else {
            return Ok(None);
        };
        let project = one_of_tenant(&state.projects, tenant, &task.project_id, |p| &p.tenant_id)
            .map(|p| ProjectToTime {
                billable: p.billable,
                members: p.members,
            });
        Ok(Some(TaskToTime {
            task_id: task.id,
            project_id: task.project_id,
            project,
        }))
    }

    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> ApiResult<WeekTouch> {
        self.write(Durability::Synced, |state| {
            let touched = match touched_week(state, tenant, user_id, week) {
                Ok(touched) => touched,
                Err(locked) => return Ok((Change::default(), WeekTouch::Locked(locked))),
            };
            let change = Change {
                timesheets: vec![touched],
                ..Change::default()
            };
            Ok((change.with_event(event)?, WeekTouch::Touched))
        })
        .await
    }
}

#[async_trait::async_trait]
impl PmoStore for MemoryStore {
    fn timer_starts(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn TimerStarts> {
        self
    }

    async fn prepare(&self) -> ApiResult<()> {
        Ok(())
    }

    async fn insert_project(
        &self,
        _tenant: &TenantId,
        project: &ProjectDoc,
        event: &EventEnvelope,
    ) -> ApiResult<()> {
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
    ) -> ApiResult<Vec<ProjectDoc>> {
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
        member: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        Ok(page_of(&self.inner.lock().state.projects, page, |p| {
            p.tenant_id == tenant.as_str() && member.is_none_or(|user| p.role_of(user).is_some())
        }))
    }

    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> ApiResult<Option<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) =
                one_of_tenant(&state.projects, tenant, project_id, |p| &p.tenant_id)
            else {
                return Ok((Change::default(), None));
            };
            project.members.retain(|m| m.user_id != member.user_id);
            project.members.push(member.clone());
            Ok((Change::of_project(&project), Some(project)))
        })
        .await
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> ApiResult<Option<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) =
                one_of_tenant(&state.projects, tenant, project_id, |p| &p.tenant_id)
            else {
                return Ok((Change::default(), None));
            };
            project.members.retain(|m| m.user_id != user_id);
            Ok((Change::of_project(&project), Some(project)))
        })
        .await
    }

    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project: &Expected,
        field: &FieldDefinition,
    ) -> ApiResult<Guarded<ProjectDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut project) = bumped(&state.projects, tenant, project) else {
                return stale();
            };
            project.custom_fields.push(field.clone());
            Ok((Change::of_project(&project), Guarded::Written(project)))
        })
        .await
    }

    async fn insert_board(&self, _tenant: &TenantId, board: &BoardDoc) -> ApiResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                boards: vec![board.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<BoardDoc>> {
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
    ) -> ApiResult<Vec<BoardDoc>> {
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

    async fn column_count(
        &self,
        tenant: &TenantId,
        board_id: &str,
        column_id: &str,
    ) -> ApiResult<u64> {
        Ok(self
            .inner
            .lock()
            .state
            .column_count(tenant, board_id, column_id))
    }

    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        board: Option<&Expected>,
        sprint: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        self.write(Durability::Synced, |state| {
            let (Some(board), Some(sprint)) = (
                bumped_if(&state.boards, tenant, board),
                bumped_if(&state.sprints, tenant, sprint),
            ) else {
                return stale();
            };
            let change = Change {
                tasks: vec![task.clone()],
                boards: board.into_iter().collect(),
                sprints: sprint.into_iter().collect(),
                ..Change::default()
            };
            Ok((change.with_event(event)?, Guarded::Written(())))
        })
        .await
    }

    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        board: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<TaskDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(board) = bumped_if(&state.boards, tenant, board) else {
                return stale();
            };
            let Some(current) = one_of_tenant(&state.tasks, tenant, task_id, |t| &t.tenant_id)
                .filter(|t| t.column_id.as_deref() == from_column)
            else {
                return stale();
            };
            let moved = TaskDoc {
                board_id: Some(to.board_id.clone()),
                column_id: Some(to.column_id.clone()),
                status: to.status,
                updated_at: chrono::Utc::now(),
                ..current
            };
            let change = Change {
                tasks: vec![moved.clone()],
                boards: board.into_iter().collect(),
                ..Change::default()
            };
            Ok((change.with_event(event)?, Guarded::Written(moved)))
        })
        .await
    }

    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<TaskDoc>> {
        Ok(of_tenant(
            &self.inner.lock().state.tasks,
            tenant,
            ids,
            |t| &t.tenant_id,
        ))
    }

    async fn task_projects(
        &self,
        tenant: &TenantId,
        task_ids: &[String],
    ) -> ApiResult<HashMap<String, String>> {
        let state = &self.inner.lock().state;
        Ok(task_ids
            .iter()
            .filter_map(|id| {
                let task = state
                    .tasks
                    .get(id)
                    .filter(|t| t.tenant_id == tenant.as_str())?;
                Some((id.clone(), task.project_id.clone()))
            })
            .collect())
    }

    async fn existing_task_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashSet<String>> {
        let state = &self.inner.lock().state;
        Ok(ids
            .iter()
            .filter(|id| stored_in(&state.tasks, tenant, id, |t| &t.tenant_id) == Some(true))
            .cloned()
            .collect())
    }

    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TaskDoc>> {
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

    async fn open_subtasks(&self, tenant: &TenantId, parent_id: &str) -> ApiResult<u64> {
        let state = &self.inner.lock().state;
        // Subtasks are in their parent's project.
        let Some(parent) = state
            .tasks
            .get(parent_id)
            .filter(|t| t.tenant_id == tenant.as_str())
        else {
            return Ok(0);
        };
        Ok(state
            .project_tasks(tenant, &parent.project_id)
            .filter(|t| t.parent_id.as_deref() == Some(parent_id) && t.status != TaskStatus::Done)
            .count() as u64)
    }

    async fn dependency_edges(
        &self,
        tenant: &TenantId,
        project_id: &str,
    ) -> ApiResult<HashMap<String, Vec<String>>> {
        Ok(self
            .inner
            .lock()
            .state
            .project_tasks(tenant, project_id)
            .filter(|t| !t.blocked_by.is_empty())
            .map(|t| (t.id.clone(), t.blocked_by.clone()))
            .collect())
    }

    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project: &Expected,
        task_id: &str,
        blocker_id: &str,
    ) -> ApiResult<Guarded<TaskDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(project) = bumped(&state.projects, tenant, project) else {
                return stale();
            };
            let Some(mut task) = one_of_tenant(&state.tasks, tenant, task_id, |t| &t.tenant_id)
                .filter(|t| t.project_id == project.id)
            else {
                return stale();
            };
            if !task.blocked_by.iter().any(|b| b == blocker_id) {
                task.blocked_by.push(blocker_id.to_owned());
            }
            task.updated_at = chrono::Utc::now();
            let change = Change {
                projects: vec![project],
                tasks: vec![task.clone()],
                ..Change::default()
            };
            Ok((change, Guarded::Written(task)))
        })
        .await
    }

    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> ApiResult<Option<TaskDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut task) = one_of_tenant(&state.tasks, tenant, task_id, |t| &t.tenant_id)
            else {
                return Ok((Change::default(), None));
            };
            task.custom_fields.retain(|v| v.field_id != field_id);
            if let Some(value) = value {
                task.custom_fields.push(CustomValue {
                    field_id: field_id.to_owned(),
                    value: value.to_owned(),
                });
            }
            task.updated_at = chrono::Utc::now();
            Ok((Change::of_task(&task), Some(task)))
        })
        .await
    }

    async fn insert_comment(&self, _tenant: &TenantId, comment: &CommentDoc) -> ApiResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                comments: vec![comment.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn comment(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<CommentDoc>> {
        Ok(one_of_tenant(
            &self.inner.lock().state.comments,
            tenant,
            id,
            |c| &c.tenant_id,
        ))
    }

    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> ApiResult<Option<CommentDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(mut comment) = one_of_tenant(&state.comments, tenant, id, |c| &c.tenant_id)
                .filter(|c| c.author_id == author_id)
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
    ) -> ApiResult<Vec<CommentDoc>> {
        Ok(page_of(&self.inner.lock().state.comments, page, |c| {
            c.tenant_id == tenant.as_str() && c.task_id == task_id
        }))
    }

    async fn insert_sprint(&self, _tenant: &TenantId, sprint: &SprintDoc) -> ApiResult<()> {
        self.write(Durability::Synced, |_| {
            let change = Change {
                sprints: vec![sprint.clone()],
                ..Change::default()
            };
            Ok((change, ()))
        })
        .await
    }

    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<SprintDoc>> {
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
    ) -> ApiResult<Vec<SprintDoc>> {
        Ok(page_of(&self.inner.lock().state.sprints, page, |s| {
            s.tenant_id == tenant.as_str()
                && s.project_id == project_id
                && state.is_none_or(|wanted| wanted == s.state)
        }))
    }

    async fn has_active_sprint(&self, tenant: &TenantId, project_id: &str) -> ApiResult<bool> {
        Ok(self.inner.lock().state.sprints.values().any(|s| {
            s.tenant_id == tenant.as_str()
                && s.project_id == project_id
                && s.state == SprintState::Active
        }))
    }

    async fn sprint_tasks(
        &self,
        tenant: &TenantId,
        project_id: &str,
        sprint_id: &str,
    ) -> ApiResult<Vec<(String, TaskStatus)>> {
        Ok(self
            .inner
            .lock()
            .state
            .project_tasks(tenant, project_id)
            .filter(|t| t.sprint_id.as_deref() == Some(sprint_id))
            .map(|t| (t.id.clone(), t.status))
            .collect())
    }

    async fn plan_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from: Option<&Expected>,
        to: Option<&Expected>,
    ) -> ApiResult<Guarded<TaskDoc>> {
        self.write(Durability::Synced, |state| {
            let Some(task) = one_of_tenant(&state.tasks, tenant, task_id, |t| &t.tenant_id)
                .filter(|t| t.sprint_id.as_deref() == from.map(|f| f.id.as_str()))
            else {
                return stale();
            };
            let (Some(left), Some(joined)) = (
                bumped_if(&state.sprints, tenant, from),
                bumped_if(&state.sprints, tenant, to),
            ) else {
                return stale();
            };
            let planned = TaskDoc {
                sprint_id: to.map(|t| t.id.clone()),
                updated_at: chrono::Utc::now(),
                ..task
            };
            // The same sprint on both sides is bumped once.
            let mut sprints: Vec<SprintDoc> = left.into_iter().collect();
            sprints.extend(joined.filter(|j| sprints.iter().all(|l| l.id != j.id)));
            let change = Change {
                tasks: vec![planned.clone()],
                sprints,
                ..Change::default()
            };
            Ok((change, Guarded::Written(planned)))
        })
        .await
    }

    async fn start_sprint(
        &self,
        tenant: &TenantId,
        started: &SprintDoc,
        expected_rev: i64,
        project: &Expected,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        self.write(Durability::Synced, |state| {
            let current = state
                .sprints
                .get(&started.id)
                .filter(|s| s.tenant_id == tenant.as_str())
                .map(|s| s.rev);
            let Some(project) =
                bumped(&state.projects, tenant, project).filter(|_| current == Some(expected_rev))
            else {
                return stale();
            };
            let change = Change {
                sprints: vec![started.clone()],
                projects: vec![project],
                ..Change::default()
            };
            Ok((change.with_event(event)?, Guarded::Written(())))
        })
        .await
    }

    async fn close_sprint(
        &self,
        tenant: &TenantId,
        closed: &SprintDoc,
        expected_rev: i64,
        target: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        self.write(Durability::Synced, |state| {
            let current = state
                .sprints
                .get(&closed.id)
                .filter(|s| s.tenant_id == tenant.as_str())
                .map(|s| s.rev);
            if current != Some(expected_rev) {
                return stale();
            }
            let Some(target) = bumped_if(&state.sprints, tenant, target) else {
                return stale();
            };
            let now = closed.closed_at.unwrap_or_else(chrono::Utc::now);
            let mut carried = Vec::with_capacity(closed.carried_over_task_ids.len());
            for id in &closed.carried_over_task_ids {
                let Some(task) =
                    one_of_tenant(&state.tasks, tenant, id, |t| &t.tenant_id).filter(|t| {
                        t.sprint_id.as_deref() == Some(closed.id.as_str())
                            && t.status != TaskStatus::Done
                    })
                else {
                    return stale();
                };
                carried.push(TaskDoc {
                    sprint_id: closed.carried_over_to.clone(),
                    updated_at: now,
                    ..task
                });
            }
            let mut sprints = vec![closed.clone()];
            sprints.extend(target);
            let change = Change {
                sprints,
                tasks: carried,
                ..Change::default()
            };
            Ok((change.with_event(event)?, Guarded::Written(())))
        })
        .await
    }

    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> ApiResult<EntryWrite> {
        self.write(Durability::Synced, |state| {
            if state.time_entries.contains_key(&entry.id) {
                return Ok((Change::default(), EntryWrite::AlreadyRecorded));
            }
            let week = IsoWeek::of_time(entry.started_at);
            let touched = match touched_week(state, tenant, &entry.user_id, week) {
                Ok(touched) => touched,
                Err(locked) => return Ok((Change::default(), EntryWrite::WeekLocked(locked))),
            };
            let change = Change {
                time_entries: vec![entry.clone()],
                timesheets: vec![touched],
                ..Change::default()
            };
            Ok((change.with_event(event)?, EntryWrite::Recorded))
        })
        .await
    }

    async fn time_entry(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TimeEntryDoc>> {
        Ok(one_of_tenant(
            &self.inner.lock().state.time_entries,
            tenant,
            id,
            |e| &e.tenant_id,
        ))
    }

    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimeEntryDoc>> {
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
    ) -> ApiResult<Vec<TimesheetDoc>> {
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
    ) -> ApiResult<Vec<TimesheetDoc>> {
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
    ) -> ApiResult<Vec<TimeEntryDoc>> {
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
    ) -> ApiResult<Guarded<()>> {
        self.write(Durability::Synced, |state| {
            if timesheet_rev(state, tenant, &timesheet.id) != expected_rev {
                return stale();
            }
            let mut change = Change {
                timesheets: vec![timesheet.clone()],
                ..Change::default()
            };
            if let Some(event) = event {
                change = change.with_event(event)?;
            }
            Ok((change, Guarded::Written(())))
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
    ) -> ApiResult<Guarded<()>> {
        self.write(Durability::Synced, |state| {
            if state
                .time_entries
                .get(&entry.id)
                .is_none_or(|e| e.tenant_id != tenant.as_str())
            {
                return stale();
            }
            for week in weeks {
                if timesheet_rev(state, tenant, &week.timesheet.id)
                    != week.exists.then_some(week.timesheet.rev)
                {
                    return stale();
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
            Ok((change.with_event(event)?, Guarded::Written(())))
        })
        .await
    }

    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> ApiResult<Vec<TimeEntryEditDoc>> {
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

    async fn import_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[TaskDoc],
        boards: &[Expected],
    ) -> ApiResult<HistoryWrite> {
        // The whole batch is one change: one journal record, one flush.
        self.write(Durability::Synced, |state| {
            let new = match new_in_batch(
                tasks,
                |t| &t.id,
                |id| stored_in(&state.tasks, tenant, id, |t| &t.tenant_id),
            ) {
                Ok(new) => new,
                Err(taken) => return Ok((Change::default(), HistoryWrite::Taken(taken))),
            };
            let mut bumped_boards = Vec::with_capacity(boards.len());
            for expected in boards {
                match bumped(&state.boards, tenant, expected) {
                    Some(board) => bumped_boards.push(board),
                    None => return Ok((Change::default(), HistoryWrite::Stale)),
                }
            }
            let imported = Imported {
                inserted: new.len(),
                existing: tasks.len() - new.len(),
            };
            let change = Change {
                tasks: new.into_iter().cloned().collect(),
                boards: bumped_boards,
                ..Change::default()
            };
            Ok((change, HistoryWrite::Imported(imported)))
        })
        .await
    }

    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> ApiResult<HistoryWrite> {
        // The entries and the touches of their weeks are one change: one record, one flush.
        self.write(Durability::Synced, |state| {
            let new = match new_in_batch(
                entries,
                |e| &e.id,
                |id| stored_in(&state.time_entries, tenant, id, |e| &e.tenant_id),
            ) {
                Ok(new) => new,
                Err(taken) => return Ok((Change::default(), HistoryWrite::Taken(taken))),
            };
            let weeks: BTreeSet<(String, IsoWeek)> = new
                .iter()
                .map(|e| (e.user_id.clone(), IsoWeek::of_time(e.started_at)))
                .collect();
            let mut timesheets = Vec::with_capacity(weeks.len());
            for (user_id, week) in weeks {
                match touched_week(state, tenant, &user_id, week) {
                    Ok(touched) => timesheets.push(touched),
                    Err(locked) => {
                        let refused = HistoryWrite::WeekLocked {
                            user_id,
                            week,
                            state: locked,
                        };
                        return Ok((Change::default(), refused));
                    }
                }
            }
            let imported = Imported {
                inserted: new.len(),
                existing: entries.len() - new.len(),
            };
            let change = Change {
                time_entries: new.into_iter().cloned().collect(),
                timesheets,
                ..Change::default()
            };
            Ok((change, HistoryWrite::Imported(imported)))
        })
        .await
    }

    async fn first_taken(
        &self,
        tenant: &TenantId,
        kind: History,
        ids: &[String],
    ) -> ApiResult<Option<String>> {
        let state = &self.inner.lock().state;
        let taken = |id: &&String| match kind {
            History::Tasks => stored_in(&state.tasks, tenant, id, |t| &t.tenant_id),
            History::TimeEntries => stored_in(&state.time_entries, tenant, id, |e| &e.tenant_id),
        } == Some(false);
        Ok(ids.iter().find(taken).cloned())
    }

    async fn handled(&self, group: &str, event_id: &str) -> ApiResult<bool> {
        let key = InboxDoc::key(group, event_id);
        let state = &self.inner.lock().state;
        Ok(state.inbox.contains_key(&key) || state.dead_letters.contains_key(&key))
    }

    async fn record_handled(
        &self,
        handled: &InboxDoc,
        effect: Option<&CrmEffect>,
    ) -> ApiResult<bool> {
        self.write(Durability::Synced, |state| {
            if state.inbox.contains_key(&handled.id) {
                return Ok((Change::default(), false));
            }
            let mut change = Change {
                inbox: vec![handled.clone()],
                ..Change::default()
            };
            match effect {
                None => {}
                // A project of the opportunity exists already: the record alone.
                Some(CrmEffect::Project { project, .. })
                    if state.projects.contains_key(&project.id) => {}
                Some(CrmEffect::Project { project, event }) => {
                    change.projects.push(project.as_ref().clone());
                    change = change.with_event(event)?;
                }
                Some(CrmEffect::LinkClient {
                    tenant,
                    client_id,
                    name,
                }) => {
                    change.projects.extend(
                        state
                            .projects
                            .values()
                            .filter(|p| {
                                p.tenant_id == tenant.as_str()
                                    && p.client.as_deref() == Some(name.as_str())
                                    && p.client_id.is_none()
                            })
                            .map(|p| ProjectDoc {
                                client_id: Some(client_id.clone()),
                                ..p.clone()
                            }),
                    );
                }
                Some(CrmEffect::RenameClient {
                    tenant,
                    client_id,
                    name,
                }) => {
                    change.projects.extend(
                        state
                            .projects
                            .values()
                            .filter(|p| {
                                p.tenant_id == tenant.as_str()
                                    && p.client_id.as_deref() == Some(client_id.as_str())
                            })
                            .map(|p| ProjectDoc {
                                client: Some(name.clone()),
                                ..p.clone()
                            }),
                    );
                }
                Some(CrmEffect::MergeClient {
                    tenant,
                    merge_id,
                    from,
                    into,
                    name,
                }) => {
                    change.projects.extend(
                        state
                            .projects
                            .values()
                            .filter(|p| {
                                p.tenant_id == tenant.as_str()
                                    && p.client_id.as_deref() == Some(from.as_str())
                            })
                            .map(|p| ProjectDoc {
                                client_id: Some(into.clone()),
                                client: name.clone().or_else(|| p.client.clone()),
                                merged_from: Some(MergedFrom {
                                    merge_id: merge_id.clone(),
                                    client_id: from.clone(),
                                    client: p.client.clone(),
                                }),
                                ..p.clone()
                            }),
                    );
                }
                Some(CrmEffect::UnmergeClient { tenant, merge_id }) => {
                    change.projects.extend(
                        state
                            .projects
                            .values()
                            .filter(|p| {
                                p.tenant_id == tenant.as_str()
                                    && p.merged_from.as_ref().map(|m| m.merge_id.as_str())
                                        == Some(merge_id.as_str())
                            })
                            .filter_map(|p| {
                                let before = p.merged_from.clone()?;
                                Some(ProjectDoc {
                                    client_id: Some(before.client_id),
                                    client: before.client,
                                    merged_from: None,
                                    ..p.clone()
                                })
                            }),
                    );
                }
            }
            Ok((change, true))
        })
        .await
    }

    async fn dead_letter(&self, letter: &DeadLetterDoc) -> ApiResult<bool> {
        self.write(Durability::Synced, |state| {
            if state.dead_letters.contains_key(&letter.id) {
                return Ok((Change::default(), false));
            }
            let change = Change {
                dead_letters: vec![letter.clone()],
                ..Change::default()
            };
            Ok((change, true))
        })
        .await
    }

    async fn client_projects(
        &self,
        tenant: &TenantId,
        client_id: &str,
        member: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        Ok(page_of(&self.inner.lock().state.projects, page, |p| {
            p.tenant_id == tenant.as_str()
                && p.client_id.as_deref() == Some(client_id)
                && p.role_of(member).is_some()
        }))
    }

    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>> {
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

    async fn purge_published(&self, _before_ms: i64) -> ApiResult<()> {
        // mark_published already dropped them.
        Ok(())
    }

    async fn mark_published(&self, ids: &[String]) -> ApiResult<()> {
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

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()> {
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

    async fn lease_relay(&self, _owner: &str, _until_ms: i64, _now_ms: i64) -> ApiResult<bool> {
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
    use crate::domain::project::ProjectRole;
    use crate::domain::timesheet::TimesheetState;
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
            client_id: None,
            opportunity_id: None,
            merged_from: None,
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

    /// The board `brd_1` as first written: a write into its limited column expects it there.
    fn board_as_written() -> Expected {
        Expected::new("brd_1", 0)
    }

    fn imported(written: HistoryWrite) -> Imported {
        match written {
            HistoryWrite::Imported(imported) => imported,
            other => panic!("expected an import, got {other:?}"),
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
        assert_eq!(
            store
                .insert_task(
                    &tenant,
                    &task("tsk_1", "prj_1"),
                    None,
                    None,
                    &event("task.created", "tsk_1"),
                )
                .await
                .unwrap(),
            Guarded::Written(())
        );
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
        assert_eq!(
            store
                .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
                .await
                .unwrap(),
            EntryWrite::Recorded
        );
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
        assert_eq!(
            store
                .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
                .await
                .unwrap(),
            EntryWrite::AlreadyRecorded
        );
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
        assert_eq!(
            store
                .insert_task(
                    &tenant,
                    &task("tsk_1", "prj_1"),
                    Some(&board_as_written()),
                    None,
                    &event("task.created", "tsk_1"),
                )
                .await
                .unwrap(),
            Guarded::Written(())
        );
        let before = file_len(&path);
        // The board changed since it was read (the first task went into its limited column).
        let refused = store
            .insert_task(
                &tenant,
                &task("tsk_2", "prj_1"),
                Some(&board_as_written()),
                None,
                &event("task.created", "tsk_2"),
            )
            .await;
        assert!(matches!(refused, Ok(Guarded::Stale)), "{refused:?}");
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
        assert_eq!(
            store
                .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
                .await
                .unwrap(),
            EntryWrite::Recorded
        );
        // The stop touched the week: a draft at revision 1.
        let key = TimesheetDoc::key(&tenant, "usr_1", week);
        let touched = store
            .timesheets_by_ids(&tenant, std::slice::from_ref(&key))
            .await
            .unwrap();
        assert_eq!(touched.len(), 1);
        assert_eq!(touched[0].rev, 1);
        let submitted = TimesheetDoc {
            state: TimesheetState::Submitted,
            rev: 2,
            ..touched[0].clone()
        };
        assert_eq!(
            store
                .save_timesheet(&tenant, &submitted, Some(1), None)
                .await
                .unwrap(),
            Guarded::Written(())
        );
        let before = file_len(&path);
        let refused = store
            .insert_time_entry(&tenant, &entry("tmr_2"), &event("timer.stopped", "tmr_2"))
            .await;
        assert!(
            matches!(
                refused,
                Ok(EntryWrite::WeekLocked(TimesheetState::Submitted))
            ),
            "{refused:?}"
        );
        let refused = store
            .record_timer_start(&tenant, "usr_1", week, &event("timer.started", "tmr_3"))
            .await;
        assert!(matches!(
            refused,
            Ok(WeekTouch::Locked(TimesheetState::Submitted))
        ));
        // A repeated stop of an entry already recorded is still recognised.
        assert_eq!(
            store
                .insert_time_entry(&tenant, &entry("tmr_1"), &event("timer.stopped", "tmr_1"))
                .await
                .unwrap(),
            EntryWrite::AlreadyRecorded
        );
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
        let projects = store.list_projects(&tenant, None, &page()).await.unwrap();
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
        let written = imported(store.import_tasks(&tenant, &tasks, &[]).await.unwrap());
        assert_eq!(written.inserted, 3_000);
        assert_eq!(journal_lines(&path), before + 1);
        let written = imported(store.import_time_entries(&tenant, &entries).await.unwrap());
        assert_eq!(written.inserted, 2_000);
        assert_eq!(journal_lines(&path), before + 2);
        // A repeat writes no record at all.
        let repeated = imported(store.import_time_entries(&tenant, &entries).await.unwrap());
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
        imported(store.import_tasks(&a, &tasks, &[]).await.unwrap());
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
        imported(store.import_tasks(&b, &[other], &[]).await.unwrap());
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
            assert_eq!(
                store
                    .insert_time_entry(&a, &entry(id), &event("timer.stopped", id))
                    .await
                    .unwrap(),
                EntryWrite::Recorded
            );
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
            before: crate::domain::timesheet::EntryTimes {
                started_at: entry("tmr_2").started_at,
                ended_at: entry("tmr_2").ended_at,
                duration_seconds: 5400,
                billable: true,
            },
            after: crate::domain::timesheet::EntryTimes {
                started_at: moved.started_at,
                ended_at: moved.ended_at,
                duration_seconds: 5400,
                billable: true,
            },
        };
        assert_eq!(
            store
                .edit_time_entry(
                    &a,
                    &moved,
                    &[],
                    &audit,
                    &event("time_entry.edited", "tmr_2"),
                )
                .await
                .unwrap(),
            Guarded::Written(())
        );
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
            store.list_projects(&tenant, None, &page()).await.unwrap(),
            [project("prj_1")]
        );
        assert_eq!(store.ping().await, Ok(()));
    }

    #[test]
    fn stored_ids_are_skipped_and_another_tenants_are_refused() {
        let docs = [entry("e1"), entry("e2"), entry("e3")];
        let new = new_in_batch(&docs, |e| &e.id, |id| (id == "e2").then_some(true)).unwrap();
        assert_eq!(
            new.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e1", "e3"]
        );
        let taken = new_in_batch(&docs, |e| &e.id, |id| (id == "e3").then_some(false));
        assert_eq!(taken.map(|_| ()), Err("e3".to_owned()));
    }
}
