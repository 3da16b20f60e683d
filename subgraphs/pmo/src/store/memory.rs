//! The embedded store of the one-process mode: in-process maps behind one lock, NOT persisted
//! (a restart starts empty; use MongoDB to keep data). One lock makes every change atomic with
//! its outbox event and serialises the WIP and cycle checks.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, TenantId};

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
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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

fn guard_wip(state: &mut State, tenant: &TenantId, to: &Placement) -> PmoResult<()> {
    if state
        .boards
        .get(&to.board_id)
        .is_none_or(|b| b.tenant_id != tenant.as_str())
    {
        return Err(ApiError::NotFound("board".into()).into());
    }
    let current = state
        .tasks
        .values()
        .filter(|t| {
            t.tenant_id == tenant.as_str()
                && t.board_id.as_deref() == Some(to.board_id.as_str())
                && t.column_id.as_deref() == Some(to.column_id.as_str())
        })
        .count() as u64;
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

/// Writes `timesheet` if the stored one is still at `expected_rev` (None: absent).
fn guard_timesheet(
    state: &mut State,
    tenant: &TenantId,
    timesheet: &TimesheetDoc,
    expected_rev: Option<i64>,
) -> PmoResult<()> {
    let current = state
        .timesheets
        .get(&timesheet.id)
        .filter(|t| t.tenant_id == tenant.as_str())
        .map(|t| t.rev);
    if current != expected_rev {
        return Err(
            ApiError::Conflict("the timesheet changed meanwhile; reload and retry".into()).into(),
        );
    }
    state
        .timesheets
        .insert(timesheet.id.clone(), timesheet.clone());
    Ok(())
}

fn enqueue(state: &mut State, event: &EventEnvelope) -> PmoResult<()> {
    let doc = OutboxDoc::new(event)?;
    state.outbox.insert(doc.id.clone(), doc);
    Ok(())
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
        let mut state = self.state.lock();
        enqueue(&mut state, event)?;
        state.projects.insert(project.id.clone(), project.clone());
        Ok(())
    }

    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<ProjectDoc>> {
        Ok(of_tenant(&self.state.lock().projects, tenant, ids, |p| {
            &p.tenant_id
        }))
    }

    async fn list_projects(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> PmoResult<Vec<ProjectDoc>> {
        Ok(page_of(&self.state.lock().projects, page, |p| {
            p.tenant_id == tenant.as_str()
        }))
    }

    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> PmoResult<Option<ProjectDoc>> {
        let mut state = self.state.lock();
        let Some(project) = state
            .projects
            .get_mut(project_id)
            .filter(|p| p.tenant_id == tenant.as_str())
        else {
            return Ok(None);
        };
        project.members.retain(|m| m.user_id != member.user_id);
        project.members.push(member.clone());
        Ok(Some(project.clone()))
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> PmoResult<Option<ProjectDoc>> {
        let mut state = self.state.lock();
        let Some(project) = state
            .projects
            .get_mut(project_id)
            .filter(|p| p.tenant_id == tenant.as_str())
        else {
            return Ok(None);
        };
        project.members.retain(|m| m.user_id != user_id);
        Ok(Some(project.clone()))
    }

    async fn insert_board(&self, _tenant: &TenantId, board: &BoardDoc) -> PmoResult<()> {
        self.state
            .lock()
            .boards
            .insert(board.id.clone(), board.clone());
        Ok(())
    }

    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<BoardDoc>> {
        Ok(of_tenant(&self.state.lock().boards, tenant, ids, |b| {
            &b.tenant_id
        }))
    }

    async fn boards_of_project(
        &self,
        tenant: &TenantId,
        project_id: &str,
    ) -> PmoResult<Vec<BoardDoc>> {
        Ok(self
            .state
            .lock()
            .boards
            .values()
            .filter(|b| b.tenant_id == tenant.as_str() && b.project_id == project_id)
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
        let mut state = self.state.lock();
        if let Some(to) = placement {
            guard_wip(&mut state, tenant, to)?;
        }
        if let Some(sprint_id) = &task.sprint_id {
            open_sprint(&state, tenant, &task.project_id, sprint_id)?;
        }
        enqueue(&mut state, event)?;
        state.tasks.insert(task.id.clone(), task.clone());
        Ok(())
    }

    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        event: &EventEnvelope,
    ) -> PmoResult<TaskDoc> {
        let mut state = self.state.lock();
        guard_wip(&mut state, tenant, to)?;
        let open = state
            .tasks
            .values()
            .filter(|t| {
                t.tenant_id == tenant.as_str()
                    && t.parent_id.as_deref() == Some(task_id)
                    && t.status != TaskStatus::Done
            })
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
        enqueue(&mut state, event)?;
        let moved = TaskDoc {
            board_id: Some(to.board_id.clone()),
            column_id: Some(to.column_id.clone()),
            status: to.status,
            updated_at: chrono::Utc::now(),
            ..current
        };
        state.tasks.insert(moved.id.clone(), moved.clone());
        Ok(moved)
    }

    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<TaskDoc>> {
        Ok(of_tenant(&self.state.lock().tasks, tenant, ids, |t| {
            &t.tenant_id
        }))
    }

    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TaskDoc>> {
        Ok(page_of(&self.state.lock().tasks, page, |t| {
            t.tenant_id == tenant.as_str() && filter.matches(t)
        }))
    }

    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        blocker_id: &str,
    ) -> PmoResult<TaskDoc> {
        let mut state = self.state.lock();
        let edges: HashMap<String, Vec<String>> = state
            .tasks
            .values()
            .filter(|t| t.tenant_id == tenant.as_str() && t.project_id == project_id)
            .map(|t| (t.id.clone(), t.blocked_by.clone()))
            .collect();
        check_dependency(task_id, blocker_id, &edges)?;
        let task = state
            .tasks
            .get_mut(task_id)
            .filter(|t| t.tenant_id == tenant.as_str() && t.project_id == project_id)
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        if !task.blocked_by.iter().any(|b| b == blocker_id) {
            task.blocked_by.push(blocker_id.to_owned());
        }
        task.updated_at = chrono::Utc::now();
        Ok(task.clone())
    }

    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project_id: &str,
        field: &FieldDefinition,
    ) -> PmoResult<Option<ProjectDoc>> {
        let mut state = self.state.lock();
        let Some(project) = state
            .projects
            .get_mut(project_id)
            .filter(|p| p.tenant_id == tenant.as_str())
        else {
            return Ok(None);
        };
        check_new_field(project, field)?;
        project.custom_fields.push(field.clone());
        Ok(Some(project.clone()))
    }

    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        let mut state = self.state.lock();
        let task = state
            .tasks
            .get_mut(task_id)
            .filter(|t| t.tenant_id == tenant.as_str())
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        task.custom_fields.retain(|v| v.field_id != field_id);
        if let Some(value) = value {
            task.custom_fields.push(CustomValue {
                field_id: field_id.to_owned(),
                value: value.to_owned(),
            });
        }
        task.updated_at = chrono::Utc::now();
        Ok(task.clone())
    }

    async fn insert_comment(&self, _tenant: &TenantId, comment: &CommentDoc) -> PmoResult<()> {
        self.state
            .lock()
            .comments
            .insert(comment.id.clone(), comment.clone());
        Ok(())
    }

    async fn comment(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<CommentDoc>> {
        Ok(self
            .state
            .lock()
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
        let mut state = self.state.lock();
        let Some(comment) = state
            .comments
            .get_mut(id)
            .filter(|c| c.tenant_id == tenant.as_str() && c.author_id == author_id)
        else {
            return Ok(None);
        };
        comment.body = body.to_owned();
        comment.edited_at = Some(chrono::Utc::now());
        Ok(Some(comment.clone()))
    }

    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> PmoResult<Vec<CommentDoc>> {
        Ok(page_of(&self.state.lock().comments, page, |c| {
            c.tenant_id == tenant.as_str() && c.task_id == task_id
        }))
    }

    async fn insert_sprint(&self, _tenant: &TenantId, sprint: &SprintDoc) -> PmoResult<()> {
        self.state
            .lock()
            .sprints
            .insert(sprint.id.clone(), sprint.clone());
        Ok(())
    }

    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<SprintDoc>> {
        Ok(of_tenant(&self.state.lock().sprints, tenant, ids, |s| {
            &s.tenant_id
        }))
    }

    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> PmoResult<Vec<SprintDoc>> {
        Ok(page_of(&self.state.lock().sprints, page, |s| {
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
        let mut state = self.state.lock();
        let task = state
            .tasks
            .get(task_id)
            .filter(|t| t.tenant_id == tenant.as_str() && t.project_id == project_id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        if let Some(current) = &task.sprint_id {
            open_sprint(&state, tenant, project_id, current)?;
        }
        if let Some(target) = sprint_id {
            open_sprint(&state, tenant, project_id, target)?;
        }
        let planned = TaskDoc {
            sprint_id: sprint_id.map(str::to_owned),
            updated_at: chrono::Utc::now(),
            ..task
        };
        state.tasks.insert(planned.id.clone(), planned.clone());
        Ok(planned)
    }

    async fn start_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        event: &EventEnvelope,
    ) -> PmoResult<SprintDoc> {
        let mut state = self.state.lock();
        let sprint = state
            .sprints
            .get(sprint_id)
            .filter(|s| s.tenant_id == tenant.as_str())
            .cloned()
            .ok_or_else(|| ApiError::NotFound("sprint".into()))?;
        let other_active = state.sprints.values().any(|s| {
            s.tenant_id == tenant.as_str()
                && s.project_id == sprint.project_id
                && s.state == SprintState::Active
                && s.id != sprint.id
        });
        check_can_start(sprint.state, other_active)?;
        enqueue(&mut state, event)?;
        let started = SprintDoc {
            state: SprintState::Active,
            started_at: Some(chrono::Utc::now()),
            rev: sprint.rev + 1,
            ..sprint
        };
        state.sprints.insert(started.id.clone(), started.clone());
        Ok(started)
    }

    async fn close_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        carry_over_to: Option<&str>,
        event: CloseEvent<'_>,
    ) -> PmoResult<SprintDoc> {
        let mut state = self.state.lock();
        let sprint = state
            .sprints
            .get(sprint_id)
            .filter(|s| s.tenant_id == tenant.as_str())
            .cloned()
            .ok_or_else(|| ApiError::NotFound("sprint".into()))?;
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
        let tasks: Vec<(String, TaskStatus)> = state
            .tasks
            .values()
            .filter(|t| t.tenant_id == tenant.as_str() && t.sprint_id.as_deref() == Some(sprint_id))
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
        enqueue(&mut state, &event)?;
        for id in &closed.carried_over_task_ids {
            if let Some(task) = state.tasks.get_mut(id) {
                task.sprint_id = carry_over_to.map(str::to_owned);
                task.updated_at = now;
            }
        }
        state.sprints.insert(closed.id.clone(), closed.clone());
        Ok(closed)
    }

    async fn insert_time_entry(
        &self,
        _tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> PmoResult<bool> {
        let mut state = self.state.lock();
        if state.time_entries.contains_key(&entry.id) {
            return Ok(false);
        }
        enqueue(&mut state, event)?;
        state.time_entries.insert(entry.id.clone(), entry.clone());
        Ok(true)
    }

    async fn time_entry(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<TimeEntryDoc>> {
        Ok(self
            .state
            .lock()
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
        Ok(page_of(&self.state.lock().time_entries, page, |e| {
            e.tenant_id == tenant.as_str()
                && filter.user_id.as_ref().is_none_or(|u| *u == e.user_id)
                && filter
                    .project_id
                    .as_ref()
                    .is_none_or(|p| *p == e.project_id)
        }))
    }

    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<TimesheetDoc>> {
        Ok(of_tenant(&self.state.lock().timesheets, tenant, ids, |t| {
            &t.tenant_id
        }))
    }

    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimesheetDoc>> {
        Ok(page_of(&self.state.lock().timesheets, page, |t| {
            t.tenant_id == tenant.as_str()
                && filter.user_id.as_ref().is_none_or(|u| *u == t.user_id)
                && filter.state.is_none_or(|s| s == t.state)
        }))
    }

    async fn week_entries(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<Vec<TimeEntryDoc>> {
        let mut entries: Vec<TimeEntryDoc> = self
            .state
            .lock()
            .time_entries
            .values()
            .filter(|e| {
                e.tenant_id == tenant.as_str()
                    && e.user_id == user_id
                    && IsoWeek::of_time(e.started_at) == week
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
        let mut state = self.state.lock();
        guard_timesheet(&mut state, tenant, timesheet, expected_rev)?;
        if let Some(event) = event {
            enqueue(&mut state, event)?;
        }
        Ok(())
    }

    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        let mut state = self.state.lock();
        if state
            .time_entries
            .get(&entry.id)
            .is_none_or(|e| e.tenant_id != tenant.as_str())
        {
            return Err(ApiError::NotFound("time entry".into()).into());
        }
        // Check every week before writing any, so a refusal leaves nothing behind.
        for week in weeks {
            let current = state
                .timesheets
                .get(&week.timesheet.id)
                .filter(|t| t.tenant_id == tenant.as_str())
                .map(|t| t.rev);
            if current != week.exists.then_some(week.timesheet.rev) {
                return Err(ApiError::Conflict(
                    "the timesheet changed meanwhile; reload and retry".into(),
                )
                .into());
            }
        }
        for week in weeks {
            let mut bumped = week.timesheet.clone();
            bumped.rev += 1;
            state.timesheets.insert(bumped.id.clone(), bumped);
        }
        enqueue(&mut state, event)?;
        state.time_entries.insert(entry.id.clone(), entry.clone());
        state.entry_edits.insert(audit.id.clone(), audit.clone());
        Ok(())
    }

    async fn entry_edits(
        &self,
        tenant: &TenantId,
        entry_id: &str,
    ) -> PmoResult<Vec<TimeEntryEditDoc>> {
        Ok(self
            .state
            .lock()
            .entry_edits
            .values()
            .filter(|e| e.tenant_id == tenant.as_str() && e.entry_id == entry_id)
            .cloned()
            .collect())
    }

    async fn record_event(&self, event: &EventEnvelope) -> PmoResult<()> {
        enqueue(&mut self.state.lock(), event)
    }

    async fn pending_events(&self, limit: u64) -> PmoResult<Vec<PendingEvent>> {
        Ok(self
            .state
            .lock()
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

    async fn mark_published(&self, id: &str) -> PmoResult<()> {
        // Published events are dropped: nothing reads them back in the embedded mode.
        self.state.lock().outbox.remove(id);
        Ok(())
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> PmoResult<()> {
        if let Some(doc) = self.state.lock().outbox.get_mut(id) {
            doc.attempts += 1;
            doc.last_error = Some(error.to_owned());
            doc.next_attempt_at = next_attempt_at;
        }
        Ok(())
    }

    async fn lease_relay(&self, _owner: &str, _until_ms: i64, _now_ms: i64) -> PmoResult<bool> {
        Ok(true)
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
