//! The PMO use cases: project-role checks, rules from `domain`, persistence through the store,
//! events, and live notifications. Knows nothing of GraphQL.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use erp_kit::auth::Claims;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, TenantId};

use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::SprintState;
use crate::domain::timer::Timer;
use crate::domain::timesheet::{
    check_can_decide, check_can_submit, check_entry_times, hours, summarize, IsoWeek,
    TimesheetState, WeekSummary, Worked,
};
use crate::domain::tracking::{check_no_timer_in, timer_week};
use crate::domain::{ProjectRole, RuleViolation, TaskStatus};
use crate::events::{self, Wake};
use crate::live::{LiveEvent, LiveKind};
use crate::store::timers::TimerStore;
use crate::store::{
    BoardDoc, ColumnDoc, CommentDoc, EntryTimes, Member, Placement, PmoError, PmoResult,
    ProjectDoc, ProjectHours, SharedStore, SprintDoc, TaskDoc, TimeEntryDoc, TimeEntryEditDoc,
    TimesheetDoc, WeekGuard,
};

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct PmoOptions {
    /// How often a running timer's subscribers get a tick with the elapsed time.
    pub timer_tick: Duration,
}

impl Default for PmoOptions {
    fn default() -> Self {
        Self {
            timer_tick: Duration::from_secs(1),
        }
    }
}

impl PmoOptions {
    /// The defaults, with `PMO_TIMER_TICK_MS` (100 to 60000) when set.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut options = Self::default();
        if let Ok(raw) = std::env::var("PMO_TIMER_TICK_MS") {
            let ms: u64 = raw
                .trim()
                .parse()
                .ok()
                .filter(|ms| (100..=60_000).contains(ms))
                .ok_or_else(|| {
                    anyhow::anyhow!("PMO_TIMER_TICK_MS is milliseconds between 100 and 60000")
                })?;
            options.timer_tick = Duration::from_millis(ms);
        }
        Ok(options)
    }
}

#[derive(Clone)]
pub struct Pmo {
    pub store: SharedStore,
    pub timers: TimerStore,
    pub options: PmoOptions,
    wake: Wake,
}

fn envelope(
    tenant: &TenantId,
    kind: &str,
    aggregate: &str,
    actor: &str,
    payload: impl Serialize,
) -> PmoResult<EventEnvelope> {
    Ok(EventEnvelope::new(tenant, kind, aggregate, payload)
        .map_err(ApiError::internal)?
        .with_actor(actor))
}

/// FORBIDDEN unless the caller's role in the project allows `what`.
fn check_role(
    project: &ProjectDoc,
    caller: &Claims,
    allowed: fn(ProjectRole) -> bool,
    what: &str,
) -> Result<(), ApiError> {
    match project.role_of(&caller.sub) {
        Some(role) if allowed(role) => Ok(()),
        _ => Err(ApiError::Forbidden(format!(
            "your role in this project does not allow you to {what}"
        ))),
    }
}

/// New project data, parsed.
pub struct NewProject {
    pub name: String,
    pub client: Option<String>,
    pub budget: Option<crate::domain::Money>,
    pub billable: bool,
    pub owner_employee_id: Option<String>,
}

/// A person's week: their timesheet (a draft when untouched), its entries and their sums.
#[derive(Debug, Clone)]
pub struct WeekView {
    pub week: IsoWeek,
    pub timesheet: TimesheetDoc,
    /// Whether the timesheet is stored (touched or submitted) or an implicit draft.
    pub exists: bool,
    pub entries: Vec<TimeEntryDoc>,
    pub summary: WeekSummary,
}

/// A week from its stored timesheet (None: an implicit draft) and its entries.
fn view_of(
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
    stored: Option<TimesheetDoc>,
    entries: Vec<TimeEntryDoc>,
) -> WeekView {
    let worked: Vec<Worked> = entries
        .iter()
        .map(|e| Worked {
            started_at: e.started_at,
            project_id: e.project_id.clone(),
            billable: e.billable,
            seconds: e.duration_seconds,
        })
        .collect();
    WeekView {
        week,
        exists: stored.is_some(),
        timesheet: stored.unwrap_or_else(|| TimesheetDoc::draft(tenant, user_id, week)),
        summary: summarize(week, &worked),
        entries,
    }
}

fn project_payloads(projects: &[ProjectHours]) -> Vec<events::ProjectHoursPayload<'_>> {
    projects
        .iter()
        .map(|p| events::ProjectHoursPayload {
            project_id: &p.project_id,
            billable_hours: hours(p.billable_seconds),
            non_billable_hours: hours(p.non_billable_seconds),
            billable_seconds: p.billable_seconds,
            non_billable_seconds: p.non_billable_seconds,
        })
        .collect()
}

/// New sprint data, parsed.
pub struct NewSprint {
    pub project_id: String,
    pub name: String,
    pub goal: Option<String>,
    pub dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

/// New task data, parsed.
pub struct NewTask {
    pub project_id: String,
    pub column: Option<(String, String)>,
    pub title: String,
    pub description: Option<String>,
    pub assignee_ids: Vec<String>,
    pub estimate_minutes: Option<u32>,
    pub labels: Vec<String>,
    pub sprint_id: Option<String>,
    pub parent_id: Option<String>,
}

impl Pmo {
    pub fn new(store: SharedStore, timers: TimerStore, wake: Wake, options: PmoOptions) -> Self {
        Self {
            store,
            timers,
            options,
            wake,
        }
    }

    /// NOT_FOUND when the project does not exist in the tenant, FORBIDDEN when `user_id` is
    /// not one of its members.
    pub async fn check_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        let project = self
            .project(tenant, project_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))?;
        if project.role_of(user_id).is_none() {
            return Err(ApiError::Forbidden(
                "you are not a member of this project".into(),
            ));
        }
        Ok(())
    }

    pub async fn project(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<ProjectDoc>> {
        Ok(self
            .store
            .projects_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    pub async fn task(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<TaskDoc>> {
        Ok(self
            .store
            .tasks_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    pub async fn board(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<BoardDoc>> {
        Ok(self
            .store
            .boards_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    /// The project, when the caller's project role allows `what`.
    async fn project_for(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        allowed: fn(ProjectRole) -> bool,
        what: &str,
    ) -> PmoResult<ProjectDoc> {
        let project = self
            .project(tenant, project_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))?;
        check_role(&project, caller, allowed, what)?;
        Ok(project)
    }

    pub async fn create_project(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewProject,
    ) -> PmoResult<ProjectDoc> {
        let project = ProjectDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            name: new.name,
            client: new.client,
            budget: new.budget,
            billable: new.billable,
            members: vec![Member {
                user_id: caller.sub.clone(),
                employee_id: new.owner_employee_id,
                role: ProjectRole::Owner,
            }],
            custom_fields: Vec::new(),
            created_at: Utc::now(),
            rev: 0,
        };
        let event = envelope(
            tenant,
            events::PROJECT_CREATED,
            &project.id,
            &caller.sub,
            events::ProjectCreated {
                project_id: &project.id,
                name: &project.name,
                client: project.client.as_deref(),
                billable: project.billable,
            },
        )?;
        self.store.insert_project(tenant, &project, &event).await?;
        self.wake.wake();
        Ok(project)
    }

    pub async fn set_member(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        member: Member,
    ) -> PmoResult<ProjectDoc> {
        let project = self
            .project_for(
                tenant,
                caller,
                project_id,
                ProjectRole::can_manage,
                "manage members",
            )
            .await?;
        if member.role == ProjectRole::Owner
            && project.role_of(&caller.sub) != Some(ProjectRole::Owner)
        {
            return Err(ApiError::Forbidden("only an owner can make another owner".into()).into());
        }
        self.store
            .put_member(tenant, project_id, &member)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()).into())
    }

    /// Removes a member (owners and managers; an owner only by an owner; never the last owner).
    pub async fn remove_member(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        user_id: &str,
    ) -> PmoResult<ProjectDoc> {
        let project = self
            .project_for(
                tenant,
                caller,
                project_id,
                ProjectRole::can_manage,
                "manage members",
            )
            .await?;
        let Some(role) = project.role_of(user_id) else {
            return Err(ApiError::bad_input("userId", "not a member of this project").into());
        };
        if role == ProjectRole::Owner {
            if project.role_of(&caller.sub) != Some(ProjectRole::Owner) {
                return Err(ApiError::Forbidden("only an owner can remove an owner".into()).into());
            }
            let owners = project
                .members
                .iter()
                .filter(|m| m.role == ProjectRole::Owner)
                .count();
            if owners == 1 {
                return Err(ApiError::Conflict(
                    "a project keeps at least one owner: make another owner first".into(),
                )
                .into());
            }
        }
        self.store
            .remove_member(tenant, project_id, user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()).into())
    }

    pub async fn create_board(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        name: String,
        columns: Vec<(String, TaskStatus, Option<u32>)>,
    ) -> PmoResult<BoardDoc> {
        self.project_for(
            tenant,
            caller,
            project_id,
            ProjectRole::can_manage,
            "create boards",
        )
        .await?;
        if columns.is_empty() || columns.len() > 20 {
            return Err(ApiError::bad_input("columns", "a board has 1 to 20 columns").into());
        }
        let board = BoardDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            project_id: project_id.to_owned(),
            name,
            columns: columns
                .into_iter()
                .map(|(name, status, wip_limit)| ColumnDoc {
                    id: uuid::Uuid::now_v7().to_string(),
                    name,
                    status,
                    wip_limit: wip_limit.map(i64::from),
                })
                .collect(),
            rev: 0,
        };
        self.store.insert_board(tenant, &board).await?;
        Ok(board)
    }

    /// The placement in a column of one of the project's boards.
    async fn placement(
        &self,
        tenant: &TenantId,
        project_id: &str,
        board_id: &str,
        column_id: &str,
    ) -> PmoResult<Placement> {
        let board = self
            .board(tenant, board_id)
            .await?
            .filter(|b| b.project_id == project_id)
            .ok_or_else(|| ApiError::bad_input("boardId", "no such board in the task's project"))?;
        let column = board
            .column(column_id)
            .ok_or_else(|| ApiError::bad_input("columnId", "no such column on the board"))?;
        Ok(Placement {
            board_id: board.id.clone(),
            column_id: column.id.clone(),
            column_name: column.name.clone(),
            status: column.status,
            wip_limit: column.wip_limit.and_then(|l| u32::try_from(l).ok()),
        })
    }

    pub async fn create_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewTask,
    ) -> PmoResult<TaskDoc> {
        self.project_for(
            tenant,
            caller,
            &new.project_id,
            ProjectRole::can_contribute,
            "create tasks",
        )
        .await?;
        if let Some(parent_id) = &new.parent_id {
            let parent = self
                .task(tenant, parent_id)
                .await?
                .filter(|p| p.project_id == new.project_id)
                .ok_or_else(|| {
                    ApiError::bad_input("parentId", "no such task in the same project")
                })?;
            if parent.parent_id.is_some() {
                return Err(ApiError::bad_input(
                    "parentId",
                    "a subtask cannot have subtasks: pick its parent instead",
                )
                .into());
            }
        }
        let placement = match &new.column {
            Some((board_id, column_id)) => Some(
                self.placement(tenant, &new.project_id, board_id, column_id)
                    .await?,
            ),
            None => None,
        };
        let now = Utc::now();
        let task = TaskDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            project_id: new.project_id,
            board_id: placement.as_ref().map(|p| p.board_id.clone()),
            column_id: placement.as_ref().map(|p| p.column_id.clone()),
            status: placement.as_ref().map_or(TaskStatus::Todo, |p| p.status),
            title: new.title,
            description: new.description,
            assignee_ids: new.assignee_ids,
            estimate_minutes: new.estimate_minutes.map(i64::from),
            labels: new.labels,
            sprint_id: new.sprint_id,
            blocked_by: Vec::new(),
            parent_id: new.parent_id,
            custom_fields: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let event = envelope(
            tenant,
            events::TASK_CREATED,
            &task.id,
            &caller.sub,
            events::TaskCreated {
                task_id: &task.id,
                project_id: &task.project_id,
                title: &task.title,
                column_id: task.column_id.as_deref(),
                assignee_ids: &task.assignee_ids,
            },
        )?;
        self.store
            .insert_task(tenant, &task, placement.as_ref(), &event)
            .await?;
        self.wake.wake();
        self.publish_board(
            tenant,
            LiveEvent {
                kind: LiveKind::TaskCreated,
                tenant_id: tenant.as_str().to_owned(),
                project_id: task.project_id.clone(),
                task_id: task.id.clone(),
                user_id: Some(caller.sub.clone()),
                board_id: task.board_id.clone(),
                column_id: task.column_id.clone(),
                timer: None,
                at: now,
            },
        )
        .await;
        Ok(task)
    }

    pub async fn move_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        board_id: &str,
        column_id: &str,
    ) -> PmoResult<TaskDoc> {
        let task = self
            .task(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        self.project_for(
            tenant,
            caller,
            &task.project_id,
            ProjectRole::can_contribute,
            "move tasks",
        )
        .await?;
        let to = self
            .placement(tenant, &task.project_id, board_id, column_id)
            .await?;
        if task.column_id.as_deref() == Some(column_id) {
            return Ok(task);
        }
        let event = envelope(
            tenant,
            events::TASK_MOVED,
            &task.id,
            &caller.sub,
            events::TaskMoved {
                task_id: &task.id,
                project_id: &task.project_id,
                board_id: &to.board_id,
                from_column_id: task.column_id.as_deref(),
                to_column_id: &to.column_id,
            },
        )?;
        let moved = self
            .store
            .move_task(tenant, &task.id, task.column_id.as_deref(), &to, &event)
            .await?;
        self.wake.wake();
        self.publish_board(
            tenant,
            LiveEvent {
                kind: LiveKind::TaskMoved,
                tenant_id: tenant.as_str().to_owned(),
                project_id: moved.project_id.clone(),
                task_id: moved.id.clone(),
                user_id: Some(caller.sub.clone()),
                board_id: moved.board_id.clone(),
                column_id: moved.column_id.clone(),
                timer: None,
                at: moved.updated_at,
            },
        )
        .await;
        Ok(moved)
    }

    pub async fn add_dependency(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        blocker_id: &str,
    ) -> PmoResult<TaskDoc> {
        let tasks = self
            .store
            .tasks_by_ids(tenant, &[task_id.to_owned(), blocker_id.to_owned()])
            .await?;
        let task = tasks
            .iter()
            .find(|t| t.id == task_id)
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        if task_id == blocker_id {
            return Err(RuleViolation::DependencyCycle.into());
        }
        let blocker = tasks
            .iter()
            .find(|t| t.id == blocker_id)
            .filter(|b| b.project_id == task.project_id)
            .ok_or_else(|| {
                ApiError::bad_input("blockedById", "no such task in the same project")
            })?;
        self.project_for(
            tenant,
            caller,
            &task.project_id,
            ProjectRole::can_contribute,
            "change dependencies",
        )
        .await?;
        self.store
            .add_dependency(tenant, &task.project_id, &task.id, &blocker.id)
            .await
    }

    /// Defines a typed custom field on a project (owners and managers).
    pub async fn define_custom_field(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        field: FieldDefinition,
    ) -> PmoResult<ProjectDoc> {
        self.project_for(
            tenant,
            caller,
            project_id,
            ProjectRole::can_manage,
            "define custom fields",
        )
        .await?;
        self.store
            .add_custom_field(tenant, project_id, &field)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()).into())
    }

    /// Sets (or with None clears) a task's custom field value, checked against the project's
    /// definition (contributors and up).
    pub async fn set_custom_value(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        field_id: &str,
        raw: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        let task = self
            .task(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        let project = self
            .project_for(
                tenant,
                caller,
                &task.project_id,
                ProjectRole::can_contribute,
                "edit tasks",
            )
            .await?;
        let field = project
            .custom_fields
            .iter()
            .find(|f| f.id == field_id)
            .ok_or_else(|| ApiError::bad_input("fieldId", "no such custom field in the project"))?;
        let value = raw.map(|raw| field.parse_value(raw)).transpose()?;
        self.store
            .set_custom_value(tenant, &task.id, &field.id, value.as_deref())
            .await
    }

    /// Comments on a task (any member of its project, viewers included).
    pub async fn add_comment(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        body: String,
    ) -> PmoResult<CommentDoc> {
        let task = self
            .task(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        self.project_for(tenant, caller, &task.project_id, |_| true, "comment")
            .await?;
        let comment = CommentDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            task_id: task.id,
            project_id: task.project_id,
            author_id: caller.sub.clone(),
            body,
            created_at: Utc::now(),
            edited_at: None,
        };
        self.store.insert_comment(tenant, &comment).await?;
        Ok(comment)
    }

    /// Edits a comment: its author only, while still a member of the project.
    pub async fn edit_comment(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        comment_id: &str,
        body: String,
    ) -> PmoResult<CommentDoc> {
        let comment = self
            .store
            .comment(tenant, comment_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("comment".into()))?;
        if comment.author_id != caller.sub {
            return Err(ApiError::Forbidden("only the author can edit a comment".into()).into());
        }
        self.project_for(tenant, caller, &comment.project_id, |_| true, "comment")
            .await?;
        self.store
            .edit_comment(tenant, comment_id, &caller.sub, &body)
            .await?
            .ok_or_else(|| ApiError::NotFound("comment".into()).into())
    }

    pub async fn sprint(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<SprintDoc>> {
        Ok(self
            .store
            .sprints_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    async fn sprint_for_manager(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
    ) -> PmoResult<SprintDoc> {
        let sprint = self
            .sprint(tenant, sprint_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("sprint".into()))?;
        self.project_for(
            tenant,
            caller,
            &sprint.project_id,
            ProjectRole::can_manage,
            "run sprints",
        )
        .await?;
        Ok(sprint)
    }

    /// Creates a planned sprint (owners and managers).
    pub async fn create_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewSprint,
    ) -> PmoResult<SprintDoc> {
        self.project_for(
            tenant,
            caller,
            &new.project_id,
            ProjectRole::can_manage,
            "plan sprints",
        )
        .await?;
        let sprint = SprintDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            project_id: new.project_id,
            name: new.name,
            goal: new.goal,
            starts_on: new.dates.map(|(start, _)| start),
            ends_on: new.dates.map(|(_, end)| end),
            state: SprintState::Planned,
            created_at: Utc::now(),
            started_at: None,
            closed_at: None,
            completed_task_ids: Vec::new(),
            carried_over_task_ids: Vec::new(),
            carried_over_to: None,
            rev: 0,
        };
        self.store.insert_sprint(tenant, &sprint).await?;
        Ok(sprint)
    }

    /// Puts a task in a sprint of its project, or back in the backlog (owners and managers).
    pub async fn plan_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        sprint_id: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        let task = self
            .task(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        self.project_for(
            tenant,
            caller,
            &task.project_id,
            ProjectRole::can_manage,
            "plan sprints",
        )
        .await?;
        self.store
            .plan_task(tenant, &task.project_id, &task.id, sprint_id)
            .await
    }

    /// Starts a planned sprint (one active sprint per project). Publishes `sprint.started`.
    pub async fn start_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
    ) -> PmoResult<SprintDoc> {
        let sprint = self.sprint_for_manager(tenant, caller, sprint_id).await?;
        let event = envelope(
            tenant,
            events::SPRINT_STARTED,
            &sprint.id,
            &caller.sub,
            events::SprintStarted {
                sprint_id: &sprint.id,
                project_id: &sprint.project_id,
                name: &sprint.name,
            },
        )?;
        let started = self.store.start_sprint(tenant, &sprint.id, &event).await?;
        self.wake.wake();
        Ok(started)
    }

    /// Closes the active sprint: unfinished tasks go to `carry_over_to` or the backlog.
    /// Publishes `sprint.closed`.
    pub async fn close_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
        carry_over_to: Option<&str>,
    ) -> PmoResult<SprintDoc> {
        let sprint = self.sprint_for_manager(tenant, caller, sprint_id).await?;
        let actor = caller.sub.clone();
        let make_event = move |closed: &SprintDoc| {
            envelope(
                tenant,
                events::SPRINT_CLOSED,
                &closed.id,
                &actor,
                events::SprintClosed {
                    sprint_id: &closed.id,
                    project_id: &closed.project_id,
                    completed_task_ids: &closed.completed_task_ids,
                    carried_over_task_ids: &closed.carried_over_task_ids,
                    carried_over_to: closed.carried_over_to.as_deref(),
                },
            )
        };
        let closed = self
            .store
            .close_sprint(tenant, &sprint.id, carry_over_to, &make_event)
            .await?;
        self.wake.wake();
        Ok(closed)
    }

    /// A person's week as it stands.
    pub async fn week_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<WeekView> {
        let key = TimesheetDoc::key(tenant, user_id, week);
        let stored = self
            .store
            .timesheets_by_ids(tenant, std::slice::from_ref(&key))
            .await?
            .pop();
        let entries = self.store.week_entries(tenant, user_id, week).await?;
        Ok(view_of(tenant, user_id, week, stored, entries))
    }

    /// The weeks of stored timesheets (a page of the list), with one store call for all their
    /// entries.
    pub async fn week_views(
        &self,
        tenant: &TenantId,
        timesheets: Vec<TimesheetDoc>,
    ) -> PmoResult<Vec<WeekView>> {
        let mut weeks = Vec::with_capacity(timesheets.len());
        for timesheet in &timesheets {
            weeks.push((
                timesheet.user_id.clone(),
                IsoWeek::parse("week", &timesheet.week)?,
            ));
        }
        let mut by_week: HashMap<(String, IsoWeek), Vec<TimeEntryDoc>> = HashMap::new();
        for entry in self.store.entries_of_weeks(tenant, &weeks).await? {
            let week = IsoWeek::of_time(entry.started_at);
            by_week
                .entry((entry.user_id.clone(), week))
                .or_default()
                .push(entry);
        }
        Ok(timesheets
            .into_iter()
            .zip(weeks)
            .map(|(timesheet, (user_id, week))| {
                let key = (user_id, week);
                let entries = by_week.remove(&key).unwrap_or_default();
                view_of(tenant, &key.0, week, Some(timesheet), entries)
            })
            .collect())
    }

    /// Whether the caller manages (owner or manager) every project of the given ids.
    async fn manages_all(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_ids: &[String],
    ) -> PmoResult<bool> {
        if project_ids.is_empty() {
            return Ok(false);
        }
        let projects = self.store.projects_by_ids(tenant, project_ids).await?;
        Ok(projects.len() == project_ids.len()
            && projects
                .iter()
                .all(|p| p.role_of(&caller.sub).is_some_and(ProjectRole::can_manage)))
    }

    /// Someone's week, for themselves, a `timesheet:approve` holder, or the manager of every
    /// project in it (FORBIDDEN otherwise).
    pub async fn timesheet_for(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        can_approve: bool,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<WeekView> {
        let view = self.week_view(tenant, user_id, week).await?;
        if user_id != caller.sub && !can_approve {
            let projects: Vec<String> = view
                .summary
                .projects
                .iter()
                .map(|(p, _)| p.clone())
                .collect();
            if !self.manages_all(tenant, caller, &projects).await? {
                return Err(ApiError::Forbidden(
                    "only the person, a `timesheet:approve` holder or the manager of every project in the week can see it".into(),
                )
                .into());
            }
        }
        Ok(view)
    }

    /// Submits the caller's week: its entries are locked until it is rejected.
    /// Publishes `timesheet.submitted`.
    pub async fn submit_timesheet(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        week: IsoWeek,
    ) -> PmoResult<WeekView> {
        let view = self.week_view(tenant, &caller.sub, week).await?;
        check_can_submit(view.timesheet.state, view.summary.total.total_seconds())?;
        // Read after the week: a timer started since has touched the week, so the write below
        // collides with it (see domain::tracking).
        check_no_timer_in(week, self.timers.get(tenant, &caller.sub).await?.as_ref())?;
        let submitted = TimesheetDoc {
            state: TimesheetState::Submitted,
            rev: view.timesheet.rev + 1,
            submitted_at: Some(Utc::now()),
            entry_ids: view.entries.iter().map(|e| e.id.clone()).collect(),
            projects: view
                .summary
                .projects
                .iter()
                .map(|(project_id, split)| ProjectHours {
                    project_id: project_id.clone(),
                    billable_seconds: split.billable_seconds,
                    non_billable_seconds: split.non_billable_seconds,
                })
                .collect(),
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
            ..view.timesheet.clone()
        };
        let event = envelope(
            tenant,
            events::TIMESHEET_SUBMITTED,
            &submitted.id,
            &caller.sub,
            events::TimesheetDecided {
                timesheet_id: &submitted.id,
                user_id: &submitted.user_id,
                week: &submitted.week,
                decided_by: None,
                rejection_reason: None,
                time_entry_ids: &submitted.entry_ids,
                projects: project_payloads(&submitted.projects),
            },
        )?;
        self.store
            .save_timesheet(
                tenant,
                &submitted,
                view.exists.then_some(view.timesheet.rev),
                Some(&event),
            )
            .await?;
        self.wake.wake();
        Ok(WeekView {
            timesheet: submitted,
            exists: true,
            ..view
        })
    }

    /// Approves (`reason` None) or rejects a submitted week: a `timesheet:approve` holder or the
    /// manager of every project in it, never its owner. Publishes `timesheet.approved` (billable
    /// hours per project) or `timesheet.rejected`.
    pub async fn decide_timesheet(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        can_approve: bool,
        user_id: &str,
        week: IsoWeek,
        rejection: Option<String>,
    ) -> PmoResult<WeekView> {
        let view = self.week_view(tenant, user_id, week).await?;
        check_can_decide(view.timesheet.state, user_id, &caller.sub)?;
        let projects: Vec<String> = view
            .timesheet
            .projects
            .iter()
            .map(|p| p.project_id.clone())
            .collect();
        if !can_approve && !self.manages_all(tenant, caller, &projects).await? {
            return Err(ApiError::Forbidden(
                "approving needs `timesheet:approve` or managing every project of the week".into(),
            )
            .into());
        }
        if rejection.is_none() {
            check_no_timer_in(week, self.timers.get(tenant, user_id).await?.as_ref())?;
        }
        let (state, kind) = match rejection {
            None => (TimesheetState::Approved, events::TIMESHEET_APPROVED),
            Some(_) => (TimesheetState::Rejected, events::TIMESHEET_REJECTED),
        };
        let decided = TimesheetDoc {
            state,
            rev: view.timesheet.rev + 1,
            decided_by: Some(caller.sub.clone()),
            decided_at: Some(Utc::now()),
            rejection_reason: rejection,
            ..view.timesheet.clone()
        };
        let event = envelope(
            tenant,
            kind,
            &decided.id,
            &caller.sub,
            events::TimesheetDecided {
                timesheet_id: &decided.id,
                user_id: &decided.user_id,
                week: &decided.week,
                decided_by: decided.decided_by.as_deref(),
                rejection_reason: decided.rejection_reason.as_deref(),
                time_entry_ids: &decided.entry_ids,
                projects: project_payloads(&decided.projects),
            },
        )?;
        self.store
            .save_timesheet(tenant, &decided, Some(view.timesheet.rev), Some(&event))
            .await?;
        self.wake.wake();
        Ok(WeekView {
            timesheet: decided,
            exists: true,
            ..view
        })
    }

    /// Corrects one of the caller's stopped time entries: audited (who, when, before/after),
    /// refused while the week it leaves or joins is submitted or approved. Publishes
    /// `time_entry.edited`.
    pub async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        entry_id: &str,
        started_at: chrono::DateTime<Utc>,
        ended_at: chrono::DateTime<Utc>,
        billable: Option<bool>,
    ) -> PmoResult<TimeEntryDoc> {
        let entry = self
            .store
            .time_entry(tenant, entry_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("time entry".into()))?;
        if entry.user_id != caller.sub {
            return Err(
                ApiError::Forbidden("you can only edit your own time entries".into()).into(),
            );
        }
        let now = Utc::now();
        let duration_seconds = check_entry_times(started_at, ended_at, now)?;
        let billable = billable.unwrap_or(entry.billable);
        if billable && !entry.billable {
            let project = self
                .project(tenant, &entry.project_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("project".into()))?;
            if !project.billable {
                return Err(ApiError::bad_input(
                    "billable",
                    "time on a non-billable project cannot be billable",
                )
                .into());
            }
        }
        let mut weeks = vec![IsoWeek::of_time(entry.started_at)];
        let joined = IsoWeek::of_time(started_at);
        if !weeks.contains(&joined) {
            weeks.push(joined);
        }
        let keys: Vec<String> = weeks
            .iter()
            .map(|w| TimesheetDoc::key(tenant, &entry.user_id, *w))
            .collect();
        let stored = self.store.timesheets_by_ids(tenant, &keys).await?;
        let mut guards = Vec::new();
        for (week, key) in weeks.iter().zip(&keys) {
            let guard = match stored.iter().find(|t| &t.id == key) {
                Some(timesheet) if timesheet.state.is_locked() => {
                    return Err(RuleViolation::TimesheetLocked.into())
                }
                Some(timesheet) => WeekGuard {
                    timesheet: timesheet.clone(),
                    exists: true,
                },
                None => WeekGuard {
                    timesheet: TimesheetDoc::draft(tenant, &entry.user_id, *week),
                    exists: false,
                },
            };
            guards.push(guard);
        }
        let before = EntryTimes {
            started_at: entry.started_at,
            ended_at: entry.ended_at,
            duration_seconds: entry.duration_seconds,
            billable: entry.billable,
        };
        let after = EntryTimes {
            started_at,
            ended_at,
            duration_seconds,
            billable,
        };
        let edited = TimeEntryDoc {
            started_at,
            ended_at,
            duration_seconds,
            billable,
            ..entry.clone()
        };
        let audit = TimeEntryEditDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            entry_id: entry.id.clone(),
            edited_by: caller.sub.clone(),
            edited_at: now,
            before: before.clone(),
            after: after.clone(),
        };
        let event = envelope(
            tenant,
            events::TIME_ENTRY_EDITED,
            &entry.id,
            &caller.sub,
            events::TimeEntryEdited {
                time_entry_id: &entry.id,
                user_id: &entry.user_id,
                edited_by: &caller.sub,
                before: &before,
                after: &after,
            },
        )?;
        self.store
            .edit_time_entry(tenant, &edited, &guards, &audit, &event)
            .await?;
        self.wake.wake();
        Ok(edited)
    }

    /// Starts the caller's timer on a task (server time); CONFLICT when they already have one
    /// (TIMER_ALREADY_RUNNING) or when this week of theirs is submitted or approved
    /// (TIMESHEET_LOCKED).
    pub async fn start_timer(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
    ) -> PmoResult<Timer> {
        let (task, project) = self
            .store
            .task_and_project(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        let project = project.ok_or_else(|| ApiError::NotFound("project".into()))?;
        check_role(&project, caller, ProjectRole::can_contribute, "track time")?;
        let timer = Timer::start(
            tenant.as_str(),
            &caller.sub,
            &task.id,
            &task.project_id,
            project.billable,
            Utc::now(),
        );
        // The timer is claimed before its week is touched: a submission that reads the week
        // after the touch then finds the timer (see domain::tracking).
        if !self.timers.create(tenant, &timer).await? {
            return Err(RuleViolation::TimerAlreadyRunning.into());
        }
        let event = envelope(
            tenant,
            events::TIMER_STARTED,
            &timer.id,
            &caller.sub,
            events::TimerStarted {
                timer_id: &timer.id,
                user_id: &timer.user_id,
                task_id: &timer.task_id,
                project_id: &timer.project_id,
                started_at: timer.started_at,
            },
        )?;
        // The timer lives in the cache, its week and event in the store: when they cannot be
        // recorded (a locked week among others) the timer is taken back, so no timer runs
        // without them.
        if let Err(err) = self
            .store
            .record_timer_start(tenant, &caller.sub, timer_week(&timer), &event)
            .await
        {
            if let Err(undo) = self.timers.remove(tenant, &caller.sub).await {
                tracing::error!(error = ?undo, "could not take back a timer without its event");
            }
            return Err(err);
        }
        self.wake.wake();
        self.publish_timer(tenant, &timer, LiveKind::TimerStarted, timer.started_at)
            .await;
        Ok(timer)
    }

    async fn own_timer(&self, tenant: &TenantId, caller: &Claims) -> PmoResult<Timer> {
        self.timers
            .get(tenant, &caller.sub)
            .await?
            .ok_or_else(|| ApiError::NotFound("running timer".into()).into())
    }

    pub async fn pause_timer(&self, tenant: &TenantId, caller: &Claims) -> PmoResult<Timer> {
        let now = Utc::now();
        let timer = self.own_timer(tenant, caller).await?.pause(now)?;
        self.timers.replace(tenant, &timer).await?;
        self.publish_timer(tenant, &timer, LiveKind::TimerPaused, now)
            .await;
        Ok(timer)
    }

    pub async fn resume_timer(&self, tenant: &TenantId, caller: &Claims) -> PmoResult<Timer> {
        let now = Utc::now();
        let timer = self.own_timer(tenant, caller).await?.resume(now)?;
        self.timers.replace(tenant, &timer).await?;
        self.publish_timer(tenant, &timer, LiveKind::TimerResumed, now)
            .await;
        Ok(timer)
    }

    /// Stops the caller's timer into a time entry of the week it started in. Someone else's
    /// timer is FORBIDDEN; into a submitted or approved week it is TIMESHEET_LOCKED and the timer
    /// stays as it was (see domain::tracking).
    pub async fn stop_timer(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        user_id: Option<&str>,
    ) -> PmoResult<TimeEntryDoc> {
        if user_id.is_some_and(|u| u != caller.sub) {
            return Err(ApiError::Forbidden("you can only stop your own timer".into()).into());
        }
        let timer = self.own_timer(tenant, caller).await?;
        let ended_at = Utc::now();
        let entry = TimeEntryDoc {
            id: timer.id.clone(),
            tenant_id: tenant.as_str().to_owned(),
            user_id: timer.user_id.clone(),
            task_id: timer.task_id.clone(),
            project_id: timer.project_id.clone(),
            started_at: timer.started_at,
            ended_at,
            duration_seconds: timer.elapsed_ms(ended_at) / 1000,
            billable: timer.billable,
        };
        let event = envelope(
            tenant,
            events::TIMER_STOPPED,
            &timer.id,
            &caller.sub,
            events::TimerStopped {
                timer_id: &timer.id,
                time_entry_id: &entry.id,
                user_id: &entry.user_id,
                task_id: &entry.task_id,
                project_id: &entry.project_id,
                started_at: entry.started_at,
                ended_at,
                duration_seconds: entry.duration_seconds,
                billable: entry.billable,
            },
        )?;
        // The entry's id is the timer's: a stop repeated after a failure records nothing twice.
        // Until the entry is recorded the timer stays in the cache, so a refused or failed stop
        // loses nothing.
        let recorded = self.store.insert_time_entry(tenant, &entry, &event).await?;
        self.timers.remove(tenant, &caller.sub).await?;
        self.wake.wake();
        self.publish_timer(tenant, &timer, LiveKind::TimerStopped, ended_at)
            .await;
        if recorded {
            Ok(entry)
        } else {
            self.store
                .time_entry(tenant, &entry.id)
                .await?
                .ok_or_else(|| PmoError::Api(ApiError::internal("stopped timer entry missing")))
        }
    }

    /// A timer change goes to its owner's channel; starts and stops also to the project board.
    async fn publish_timer(
        &self,
        tenant: &TenantId,
        timer: &Timer,
        kind: LiveKind,
        at: chrono::DateTime<Utc>,
    ) {
        let event = LiveEvent {
            kind,
            tenant_id: tenant.as_str().to_owned(),
            project_id: timer.project_id.clone(),
            task_id: timer.task_id.clone(),
            user_id: Some(timer.user_id.clone()),
            board_id: None,
            column_id: None,
            timer: Some(timer.clone()),
            at,
        };
        self.publish(&self.timers.channel(tenant, &timer.user_id), &event)
            .await;
        if matches!(kind, LiveKind::TimerStarted | LiveKind::TimerStopped) {
            self.publish_board(tenant, event).await;
        }
    }

    async fn publish_board(&self, tenant: &TenantId, event: LiveEvent) {
        let channel = self.timers.board_channel(tenant, &event.project_id);
        self.publish(&channel, &event).await;
    }

    /// Live notifications are best effort: a failed publish never fails the change.
    async fn publish(&self, channel: &str, event: &LiveEvent) {
        let Ok(raw) = serde_json::to_vec(event) else {
            return;
        };
        if let Err(err) = self.timers.cache().publish(channel, &raw).await {
            tracing::warn!(error = %err, channel, "live notification not published");
        }
    }
}
