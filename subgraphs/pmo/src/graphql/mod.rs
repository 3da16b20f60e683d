//! The PMO subgraph's GraphQL schema: thin resolvers over [`crate::service::Pmo`].

pub mod live;
pub mod loaders;
pub mod timesheet;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, Object, Result, Schema, SchemaBuilder,
    SimpleObject, ID,
};
use chrono::{DateTime, Utc};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use crate::domain::custom_field::{FieldDefinition, FieldKind};
use crate::domain::sprint::{parse_dates, SprintState as SprintStateModel};
use crate::domain::timer::{Timer as TimerModel, TimerState as TimerStateModel};
use crate::domain::{
    parse_estimate, parse_wip_limit, Label, Money, Name, ProjectRole as ProjectRoleModel,
    RuleViolation, TaskStatus as TaskStatusModel,
};
use crate::service::{NewProject, NewSprint, NewTask, Pmo};
use crate::store::{
    BoardDoc, ColumnDoc, CommentDoc, Member, PmoError, ProjectDoc, SprintDoc, TaskDoc, TaskFilter,
    TimeEntryDoc, TimeEntryFilter,
};
use loaders::{
    BoardLoader, CommentPagesLoader, EntryEditsLoader, PageKey, ProjectBoardsLoader, ProjectLoader,
    SprintLoader, SprintPagesLoader, TaskLoader, TaskPagesLoader, TenantKey,
};

pub use live::Subscription;

pub type PmoSchema = Schema<Query, Mutation, Subscription>;

/// The root types, merged from the domain's parts.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(WorkQuery, timesheet::TimesheetQuery);

// The root mutation, merged from the domain's parts (no description: the composed Mutation
// type keeps one description for every subgraph).
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(WorkMutation, timesheet::TimesheetMutation);

/// The schema builder with its data; the kit adds its rules in [`crate::build_schema`].
pub fn schema_builder(pmo: Option<Pmo>) -> SchemaBuilder<Query, Mutation, Subscription> {
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription);
    match pmo {
        Some(pmo) => builder
            .data(loader(ProjectLoader(pmo.store.clone())))
            .data(loader(TaskLoader(pmo.store.clone())))
            .data(loader(BoardLoader(pmo.store.clone())))
            .data(loader(SprintLoader(pmo.store.clone())))
            .data(loader(ProjectBoardsLoader(pmo.store.clone())))
            .data(loader(EntryEditsLoader(pmo.store.clone())))
            .data(loader(TaskPagesLoader(pmo.store.clone())))
            .data(loader(CommentPagesLoader(pmo.store.clone())))
            .data(loader(SprintPagesLoader(pmo.store.clone())))
            .data(pmo),
        None => builder,
    }
}

/// A DataLoader spawning its batches on the runtime: keys of concurrent requests share a batch
/// (grouped by tenant in the store call), nothing is cached.
fn loader<T: Send + Sync + 'static>(fetch: T) -> DataLoader<T> {
    DataLoader::new(fetch, tokio::spawn)
}

/// A store or rule error as a GraphQL error: the kit's `extensions.code`, plus a stable
/// `extensions.reason` for the domain rules.
pub fn gql(err: PmoError) -> async_graphql::Error {
    match err {
        PmoError::Api(err) => err.into(),
        PmoError::Transient(_) => {
            ApiError::Conflict("the change collided with a concurrent one; retry".into()).into()
        }
        PmoError::Rule(rule) => {
            let reason = rule.reason();
            let api = match &rule {
                RuleViolation::DependencyCycle => {
                    ApiError::bad_input("blockedById", rule.message())
                }
                RuleViolation::SelfApproval => ApiError::Forbidden(rule.message()),
                _ => ApiError::Conflict(rule.message()),
            };
            async_graphql::Error::from(api).extend_with(|_, ext| ext.set("reason", reason))
        }
    }
}

fn pmo<'a>(ctx: &Context<'a>) -> Result<&'a Pmo> {
    ctx.data::<Pmo>()
        .map_err(|_| ApiError::internal("pmo service missing from schema data").into())
}

/// An employee of the HRMS subgraph (referenced; resolved there).
#[derive(SimpleObject, Clone)]
#[graphql(unresolvable = "id")]
pub struct Employee {
    pub id: ID,
}

/// What a member may do in a project.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "ProjectRoleModel")]
pub enum ProjectRole {
    /// Everything, including members and budget.
    Owner,
    /// Boards, members, budget and tasks.
    Manager,
    /// Tasks: create, move, depend, track time.
    Contributor,
    /// Reads only.
    Viewer,
}

/// A task's lifecycle status: the category of its board column.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TaskStatusModel")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

/// Whether a timer is counting.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TimerStateModel")]
pub enum TimerState {
    Running,
    Paused,
}

/// A project member: a user of the identity service, optionally linked to an employee.
pub struct ProjectMember(Member);

#[Object(requires_scopes = "project:read")]
impl ProjectMember {
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    async fn employee(&self) -> Option<Employee> {
        self.0
            .employee_id
            .as_ref()
            .map(|id| Employee { id: ID(id.clone()) })
    }

    async fn role(&self) -> ProjectRole {
        self.0.role.into()
    }
}

/// A money amount.
#[derive(SimpleObject)]
pub struct MoneyAmount {
    /// Decimal with two fraction digits, e.g. "12500.00".
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

/// A project: client work or internal, with members in project roles.
pub struct Project(pub ProjectDoc);

#[Object(requires_scopes = "project:read")]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The client the project is for (None for internal work).
    async fn client(&self) -> Option<&str> {
        self.0.client.as_deref()
    }

    /// Whether time on the project is billed to the client.
    async fn billable(&self) -> bool {
        self.0.billable
    }

    /// The budget: project managers (`project:write`) and approvers only.
    #[graphql(
        requires_scopes = "project:write",
        requires_scopes = "timesheet:approve"
    )]
    async fn budget(&self) -> Option<MoneyAmount> {
        self.0.budget.as_ref().map(|m| MoneyAmount {
            amount: m.amount(),
            currency: m.currency.clone(),
        })
    }

    async fn members(&self) -> Vec<ProjectMember> {
        self.0.members.iter().cloned().map(ProjectMember).collect()
    }

    async fn boards(&self, ctx: &Context<'_>) -> Result<Vec<Board>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ProjectBoardsLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Board)
            .collect())
    }

    /// The project's tasks, filtered, as a Relay connection.
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Task, EmptyFields, EmptyFields>> {
        let mut filter = filter.unwrap_or_default().parse()?;
        filter.project_id = Some(self.0.id.clone());
        list_tasks(ctx, filter, after, before, first, last).await
    }

    /// The typed custom fields its tasks may carry.
    async fn custom_fields(&self) -> Vec<CustomField> {
        self.0
            .custom_fields
            .iter()
            .cloned()
            .map(CustomField)
            .collect()
    }

    /// The project's sprints (optionally in one state), oldest first, as a Relay connection.
    async fn sprints(
        &self,
        ctx: &Context<'_>,
        state: Option<SprintState>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Sprint, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let list = (self.0.id.clone(), state.map(Into::into));
        let rows = ctx
            .data_unchecked::<DataLoader<SprintPagesLoader>>()
            .load_one(PageKey::new(&tenant, list, &page))
            .await?
            .unwrap_or_default();
        let rows = rows.into_iter().map(Sprint).collect();
        Ok(connection_from_rows(&page, rows, |s| s.0.id.clone()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A board column with its optional WIP limit.
pub struct BoardColumn(ColumnDoc);

#[Object(requires_scopes = "project:read")]
impl BoardColumn {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The status of the tasks in this column.
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }

    /// At most this many tasks may be in the column (None: no limit).
    async fn wip_limit(&self) -> Option<i32> {
        self.0.wip_limit.and_then(|l| i32::try_from(l).ok())
    }
}

/// A kanban board of a project.
pub struct Board(pub BoardDoc);

#[Object(requires_scopes = "project:read")]
impl Board {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn columns(&self) -> Vec<BoardColumn> {
        self.0.columns.iter().cloned().map(BoardColumn).collect()
    }

    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ProjectLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.project_id))
            .await?
            .map(Project))
    }
}

/// A unit of work.
pub struct Task(pub TaskDoc);

#[Object(requires_scopes = "project:read")]
impl Task {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }

    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ProjectLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.project_id))
            .await?
            .map(Project))
    }

    async fn board(&self, ctx: &Context<'_>) -> Result<Option<Board>> {
        let Some(board_id) = &self.0.board_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<BoardLoader>>()
            .load_one(TenantKey::new(&tenant, board_id))
            .await?
            .map(Board))
    }

    async fn column_id(&self) -> Option<ID> {
        self.0.column_id.clone().map(ID)
    }

    async fn assignees(&self) -> Vec<Employee> {
        self.0
            .assignee_ids
            .iter()
            .map(|id| Employee { id: ID(id.clone()) })
            .collect()
    }

    /// The estimate in minutes.
    async fn estimate_minutes(&self) -> Option<i32> {
        self.0.estimate_minutes.and_then(|m| i32::try_from(m).ok())
    }

    async fn labels(&self) -> &[String] {
        &self.0.labels
    }

    /// The sprint the task is in (null: the backlog).
    async fn sprint_id(&self) -> Option<ID> {
        self.0.sprint_id.clone().map(ID)
    }

    /// The parent task, for a subtask.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        match &self.0.parent_id {
            Some(id) => Ok(load_tasks(ctx, std::slice::from_ref(id)).await?.pop()),
            None => Ok(None),
        }
    }

    /// The task's subtasks (a task with open subtasks cannot be done), as a Relay connection.
    async fn subtasks(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Task, EmptyFields, EmptyFields>> {
        let filter = TaskFilter {
            project_id: Some(self.0.project_id.clone()),
            parent_id: Some(self.0.id.clone()),
            ..TaskFilter::default()
        };
        list_tasks(ctx, filter, after, before, first, last).await
    }

    /// The comments, oldest first, as a Relay connection.
    async fn comments(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Comment, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .data_unchecked::<DataLoader<CommentPagesLoader>>()
            .load_one(PageKey::new(&tenant, self.0.id.clone(), &page))
            .await?
            .unwrap_or_default();
        let rows = rows.into_iter().map(Comment).collect();
        Ok(connection_from_rows(&page, rows, |c| c.0.id.clone()))
    }

    /// The values of the project's custom fields set on this task.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Vec<CustomFieldValue>> {
        if self.0.custom_fields.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = ctx.tenant()?;
        let Some(project) = ctx
            .data_unchecked::<DataLoader<ProjectLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.project_id))
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(project
            .custom_fields
            .iter()
            .filter_map(|field| {
                self.0
                    .custom_fields
                    .iter()
                    .find(|v| v.field_id == field.id)
                    .map(|v| CustomFieldValue {
                        field: CustomField(field.clone()),
                        value: v.value.clone(),
                    })
            })
            .collect())
    }

    /// The sprint the task is in (null: the backlog).
    async fn sprint(&self, ctx: &Context<'_>) -> Result<Option<Sprint>> {
        match &self.0.sprint_id {
            Some(id) => load_sprint(ctx, id).await,
            None => Ok(None),
        }
    }

    /// The tasks that must be done before this one.
    async fn blocked_by(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        let tenant = ctx.tenant()?;
        let keys = self
            .0
            .blocked_by
            .iter()
            .map(|id| TenantKey::new(&tenant, id));
        let found = ctx
            .data_unchecked::<DataLoader<TaskLoader>>()
            .load_many(keys)
            .await?;
        Ok(self
            .0
            .blocked_by
            .iter()
            .filter_map(|id| found.get(&TenantKey::new(&tenant, id)).cloned())
            .map(Task)
            .collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A typed custom field of a project.
pub struct CustomField(pub FieldDefinition);

#[Object(requires_scopes = "project:read")]
impl CustomField {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Its name, unique in the project.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The type values are checked against.
    async fn kind(&self) -> CustomFieldKind {
        self.0.kind.into()
    }

    /// The allowed values of a SELECT field (empty otherwise).
    async fn options(&self) -> &[String] {
        &self.0.options
    }
}

/// A task's value of a custom field.
#[derive(SimpleObject)]
pub struct CustomFieldValue {
    /// The field.
    pub field: CustomField,
    /// The value in canonical form (numbers as 12.5, dates as YYYY-MM-DD, a select option as
    /// the field spells it).
    pub value: String,
}

/// A comment on a task.
pub struct Comment(pub CommentDoc);

#[Object(requires_scopes = "project:read")]
impl Comment {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The user who wrote it (the only one who may edit it).
    async fn author_id(&self) -> ID {
        ID(self.0.author_id.clone())
    }

    /// The text.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last edited (null: never).
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }

    /// The task it is on.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        Ok(load_tasks(ctx, std::slice::from_ref(&self.0.task_id))
            .await?
            .pop())
    }
}

/// Where a sprint is in its lifecycle.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "SprintStateModel")]
pub enum SprintState {
    /// Being planned: tasks come and go.
    Planned,
    /// Running (at most one per project); tasks may still come and go.
    Active,
    /// Over: done tasks stayed, unfinished ones were carried over.
    Closed,
}

async fn load_tasks(ctx: &Context<'_>, ids: &[String]) -> Result<Vec<Task>> {
    let tenant = ctx.tenant()?;
    let found = ctx
        .data_unchecked::<DataLoader<TaskLoader>>()
        .load_many(ids.iter().map(|id| TenantKey::new(&tenant, id)))
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.get(&TenantKey::new(&tenant, id)).cloned())
        .map(Task)
        .collect())
}

async fn load_sprint(ctx: &Context<'_>, id: &str) -> Result<Option<Sprint>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<SprintLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Sprint))
}

/// A time-boxed iteration of a project.
pub struct Sprint(pub SprintDoc);

#[Object(requires_scopes = "project:read")]
impl Sprint {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// 1 to 200 characters.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the sprint is meant to achieve.
    async fn goal(&self) -> Option<&str> {
        self.0.goal.as_deref()
    }

    /// Lifecycle state.
    async fn state(&self) -> SprintState {
        self.0.state.into()
    }

    /// First planned day.
    async fn starts_on(&self) -> Option<chrono::NaiveDate> {
        self.0.starts_on
    }

    /// Last planned day.
    async fn ends_on(&self) -> Option<chrono::NaiveDate> {
        self.0.ends_on
    }

    /// When it was started.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    /// When it was closed.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }

    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ProjectLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.project_id))
            .await?
            .map(Project))
    }

    /// The tasks in the sprint now, filtered, as a Relay connection.
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Connection<String, Task, EmptyFields, EmptyFields>> {
        let mut filter = filter.unwrap_or_default().parse()?;
        filter.project_id = Some(self.0.project_id.clone());
        filter.sprint_id = Some(self.0.id.clone());
        filter.backlog = false;
        list_tasks(ctx, filter, after, before, first, last).await
    }

    /// At close: the tasks that were done (they stay with the sprint).
    async fn completed_tasks(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        load_tasks(ctx, &self.0.completed_task_ids).await
    }

    /// At close: the unfinished tasks that moved on.
    async fn carried_over_tasks(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        load_tasks(ctx, &self.0.carried_over_task_ids).await
    }

    /// At close: the sprint the unfinished tasks moved to (null: the backlog).
    async fn carried_over_to(&self, ctx: &Context<'_>) -> Result<Option<Sprint>> {
        match &self.0.carried_over_to {
            Some(id) => load_sprint(ctx, id).await,
            None => Ok(None),
        }
    }
}

/// A person's timer (at most one per person); elapsed time is computed on the server.
pub struct Timer(pub TimerModel);

#[Object(requires_scopes = "task:start")]
impl Timer {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    async fn state(&self) -> TimerState {
        self.0.state.into()
    }

    /// When the timer was first started (server time).
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    /// Seconds counted so far (paused time excluded).
    async fn elapsed_seconds(&self) -> i64 {
        self.0.elapsed_ms(Utc::now()) / 1000
    }

    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<TaskLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.task_id))
            .await?
            .map(Task))
    }
}

/// Time spent on a task, from a stopped timer.
pub struct TimeEntry(pub TimeEntryDoc);

#[Object(requires_scopes = "task:log", requires_scopes = "timesheet:approve")]
impl TimeEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn ended_at(&self) -> DateTime<Utc> {
        self.0.ended_at
    }

    async fn duration_seconds(&self) -> i64 {
        self.0.duration_seconds
    }

    async fn billable(&self) -> bool {
        self.0.billable
    }

    /// The edits made to this entry after it was stopped, oldest first (the audit trail).
    async fn edits(&self, ctx: &Context<'_>) -> Result<Vec<timesheet::TimeEntryEdit>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<EntryEditsLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(timesheet::TimeEntryEdit)
            .collect())
    }

    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<TaskLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.task_id))
            .await?
            .map(Task))
    }
}

/// Filters of a task list (combined with AND).
#[derive(InputObject, Default)]
pub struct TaskFilterInput {
    /// Only this project's tasks (ignored under `Project.tasks`).
    pub project_id: Option<ID>,
    /// Only tasks assigned to this employee.
    pub assignee_id: Option<ID>,
    pub status: Option<TaskStatus>,
    /// Only tasks with this label.
    pub label: Option<String>,
    /// Only tasks in this sprint.
    pub sprint_id: Option<ID>,
    /// Only tasks in no sprint (the backlog); not together with `sprintId`.
    #[graphql(default)]
    pub backlog: bool,
    /// Only the subtasks of this task.
    pub parent_id: Option<ID>,
}

impl TaskFilterInput {
    fn parse(self) -> Result<TaskFilter> {
        if self.backlog && self.sprint_id.is_some() {
            return Err(ApiError::bad_input(
                "backlog",
                "a task is either in a sprint or in the backlog: filter by one",
            )
            .into());
        }
        Ok(TaskFilter {
            backlog: self.backlog,
            parent_id: self.parent_id.map(|id| id.0),
            project_id: self.project_id.map(|id| id.0),
            assignee_id: self.assignee_id.map(|id| id.0),
            status: self.status.map(Into::into),
            label: self
                .label
                .map(|l| Label::parse("label", &l).map(Label::into_inner))
                .transpose()?,
            sprint_id: self.sprint_id.map(|id| id.0),
        })
    }
}

/// Filters of a time-entry list.
#[derive(InputObject, Default)]
pub struct TimeEntryFilterInput {
    /// Whose entries (the caller by default; others need `timesheet:approve`).
    pub user_id: Option<ID>,
    pub project_id: Option<ID>,
}

async fn list_tasks(
    ctx: &Context<'_>,
    filter: TaskFilter,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> Result<Connection<String, Task, EmptyFields, EmptyFields>> {
    let tenant = ctx.tenant()?;
    let page = PageRequest::parse(after, before, first, last)?;
    // Through the loader: the task lists of a page of projects, sprints or tasks are one query.
    let rows = ctx
        .data_unchecked::<DataLoader<TaskPagesLoader>>()
        .load_one(PageKey::new(&tenant, filter, &page))
        .await?
        .unwrap_or_default();
    let rows = rows.into_iter().map(Task).collect();
    Ok(connection_from_rows(&page, rows, |t| t.0.id.clone()))
}

/// Projects, boards, tasks, sprints, timers and time entries.
#[derive(Default)]
pub struct WorkQuery;

#[Object]
impl WorkQuery {
    /// One project of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?
            .project(&tenant, &id)
            .await
            .map_err(gql)?
            .map(Project))
    }

    /// The caller's tenant's projects, as a Relay connection.
    #[graphql(directive = authenticated::apply())]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Project, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = pmo(ctx)?
            .store
            .list_projects(&tenant, &page)
            .await
            .map_err(gql)?;
        let rows = rows.into_iter().map(Project).collect();
        Ok(Some(connection_from_rows(&page, rows, |p| p.0.id.clone())))
    }

    /// One task of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.task(&tenant, &id).await.map_err(gql)?.map(Task))
    }

    /// Tasks across the tenant's projects, filtered, as a Relay connection.
    #[graphql(directive = authenticated::apply())]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Task, EmptyFields, EmptyFields>>> {
        let filter = filter.unwrap_or_default().parse()?;
        list_tasks(ctx, filter, after, before, first, last)
            .await
            .map(Some)
    }

    /// One sprint of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn sprint(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?
            .sprint(&tenant, &id)
            .await
            .map_err(gql)?
            .map(Sprint))
    }

    /// One board of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn board(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Board>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.board(&tenant, &id).await.map_err(gql)?.map(Board))
    }

    /// The caller's timer, running or paused.
    #[graphql(directive = authenticated::apply())]
    async fn my_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(pmo(ctx)?.timers.get(&tenant, &claims.sub).await?.map(Timer))
    }

    /// Time entries of a person (the caller by default; others need `timesheet:approve`).
    #[graphql(directive = authenticated::apply())]
    async fn time_entries(
        &self,
        ctx: &Context<'_>,
        filter: Option<TimeEntryFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, TimeEntry, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let filter = filter.unwrap_or_default();
        let user_id = filter
            .user_id
            .map(|id| id.0)
            .unwrap_or_else(|| claims.sub.clone());
        if user_id != claims.sub {
            ctx.require_scope("timesheet:approve")?;
        }
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = TimeEntryFilter {
            user_id: Some(user_id),
            project_id: filter.project_id.map(|id| id.0),
        };
        let rows = pmo(ctx)?
            .store
            .list_time_entries(&tenant, &filter, &page)
            .await
            .map_err(gql)?;
        let rows = rows.into_iter().map(TimeEntry).collect();
        Ok(Some(connection_from_rows(&page, rows, |e| e.0.id.clone())))
    }

    /// Federation: resolves a `Project` reference from another subgraph.
    #[graphql(entity)]
    async fn find_project_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ProjectLoader>>()
            .load_one(TenantKey::new(&tenant, &id))
            .await?
            .map(Project))
    }

    /// Federation: resolves a `Task` reference from another subgraph.
    #[graphql(entity)]
    async fn find_task_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<TaskLoader>>()
            .load_one(TenantKey::new(&tenant, &id))
            .await?
            .map(Task))
    }
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    /// 1 to 200 characters.
    pub name: String,
    pub client: Option<String>,
    /// Decimal amount, e.g. "12500.00" (with `currency`).
    pub budget: Option<String>,
    /// ISO 4217 code; required with `budget`.
    pub currency: Option<String>,
    pub billable: bool,
    /// The caller's employee record, to link the owner membership.
    pub owner_employee_id: Option<ID>,
}

#[derive(InputObject)]
pub struct ColumnInput {
    pub name: String,
    pub status: TaskStatus,
    /// 1 to 1000; leave out for no limit.
    pub wip_limit: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateTaskInput {
    pub project_id: ID,
    /// The board and column to put the task in (both or neither).
    pub board_id: Option<ID>,
    pub column_id: Option<ID>,
    pub title: String,
    pub description: Option<String>,
    #[graphql(default)]
    pub assignee_ids: Vec<ID>,
    pub estimate_minutes: Option<i32>,
    #[graphql(default)]
    pub labels: Vec<String>,
    /// The sprint to plan it in (planned or active, same project).
    pub sprint_id: Option<ID>,
    /// Makes it a subtask of this task (same project; a subtask has no subtasks).
    pub parent_id: Option<ID>,
}

/// The type of a custom field.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "FieldKind")]
pub enum CustomFieldKind {
    /// Up to 1000 characters.
    Text,
    /// A decimal number such as 12.5.
    Number,
    /// A day, YYYY-MM-DD.
    Date,
    /// One of the field's options.
    Select,
}

/// A new custom field of a project.
#[derive(InputObject)]
pub struct CustomFieldInput {
    /// 1 to 200 characters, unique in the project whatever the case.
    pub name: String,
    /// The type its values are checked against.
    pub kind: CustomFieldKind,
    /// The allowed values of a SELECT field (1 to 50, distinct); none for the other kinds.
    #[graphql(default)]
    pub options: Vec<String>,
}

/// A new sprint.
#[derive(InputObject)]
pub struct CreateSprintInput {
    /// The project.
    pub project_id: ID,
    /// 1 to 200 characters.
    pub name: String,
    /// What the sprint is meant to achieve (up to 2000 characters).
    pub goal: Option<String>,
    /// First day (with `endsOn`).
    pub starts_on: Option<chrono::NaiveDate>,
    /// Last day, not before `startsOn`, at most 366 days later.
    pub ends_on: Option<chrono::NaiveDate>,
}

/// Changes to projects, boards, tasks, sprints and timers.
#[derive(Default)]
pub struct WorkMutation;

#[Object]
impl WorkMutation {
    /// Creates a project with the caller as its owner; publishes `project.created`.
    #[graphql(requires_scopes = "project:write")]
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let budget = match (&input.budget, &input.currency) {
            (None, None) => None,
            (Some(amount), Some(currency)) => Some(Money::parse("budget", amount, currency)?),
            _ => {
                return Err(ApiError::bad_input(
                    "currency",
                    "give `budget` and `currency` together",
                )
                .into())
            }
        };
        let client = match input.client.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(client) => Some(Name::parse("client", client)?.into_inner()),
        };
        let new = NewProject {
            name: Name::parse("name", &input.name)?.into_inner(),
            client,
            budget,
            billable: input.billable,
            owner_employee_id: input.owner_employee_id.map(|id| id.0),
        };
        Ok(Some(Project(
            pmo(ctx)?
                .create_project(&tenant, claims, new)
                .await
                .map_err(gql)?,
        )))
    }

    /// Adds a member to a project or changes their role (owners and managers only).
    #[graphql(requires_scopes = "project:write")]
    async fn set_project_member(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        user_id: ID,
        employee_id: Option<ID>,
        role: ProjectRole,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let member = Member {
            user_id: user_id.0,
            employee_id: employee_id.map(|id| id.0),
            role: role.into(),
        };
        Ok(Some(Project(
            pmo(ctx)?
                .set_member(&tenant, claims, &project_id, member)
                .await
                .map_err(gql)?,
        )))
    }

    /// Removes a member from a project (owners and managers; an owner only by an owner; the
    /// last owner stays: CONFLICT). Their live board subscriptions end at the next event.
    #[graphql(requires_scopes = "project:write")]
    async fn remove_project_member(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        user_id: ID,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Project(
            pmo(ctx)?
                .remove_member(&tenant, claims, &project_id, &user_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// Creates a board with custom columns (owners and managers only).
    #[graphql(requires_scopes = "project:write")]
    async fn create_board(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        name: String,
        columns: Vec<ColumnInput>,
    ) -> Result<Option<Board>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let name = Name::parse("name", &name)?.into_inner();
        let columns = columns
            .into_iter()
            .map(|c| {
                Ok((
                    Name::parse("columns.name", &c.name)?.into_inner(),
                    c.status.into(),
                    parse_wip_limit("columns.wipLimit", c.wip_limit)?,
                ))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Some(Board(
            pmo(ctx)?
                .create_board(&tenant, claims, &project_id, name, columns)
                .await
                .map_err(gql)?,
        )))
    }

    /// Creates a task; a column's WIP limit applies. Publishes `task.created`.
    #[graphql(requires_scopes = "project:write")]
    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let column = match (input.board_id, input.column_id) {
            (None, None) => None,
            (Some(board), Some(column)) => Some((board.0, column.0)),
            _ => {
                return Err(ApiError::bad_input(
                    "columnId",
                    "give `boardId` and `columnId` together",
                )
                .into())
            }
        };
        let description = match input.description.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) if text.chars().count() > 10_000 => {
                return Err(ApiError::bad_input(
                    "description",
                    "the description is longer than 10000 characters",
                )
                .into())
            }
            Some(text) => Some(text.to_owned()),
        };
        let mut assignee_ids: Vec<String> = input.assignee_ids.into_iter().map(|id| id.0).collect();
        assignee_ids.sort();
        assignee_ids.dedup();
        if assignee_ids.len() > 50 {
            return Err(
                ApiError::bad_input("assigneeIds", "a task has at most 50 assignees").into(),
            );
        }
        let new = NewTask {
            project_id: input.project_id.0,
            column,
            title: Name::parse("title", &input.title)?.into_inner(),
            description,
            assignee_ids,
            estimate_minutes: parse_estimate("estimateMinutes", input.estimate_minutes)?,
            labels: Label::parse_all("labels", &input.labels)?,
            sprint_id: input.sprint_id.map(|id| id.0),
            parent_id: input.parent_id.map(|id| id.0),
        };
        Ok(Some(Task(
            pmo(ctx)?
                .create_task(&tenant, claims, new)
                .await
                .map_err(gql)?,
        )))
    }

    /// Moves a task to a board column, enforcing its WIP limit (CONFLICT, reason
    /// WIP_LIMIT_EXCEEDED). Publishes `task.moved`.
    #[graphql(requires_scopes = "project:write")]
    async fn move_task(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        board_id: ID,
        column_id: ID,
    ) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Task(
            pmo(ctx)?
                .move_task(&tenant, claims, &task_id, &board_id, &column_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// Records that `taskId` cannot be done before `blockedById` (BAD_USER_INPUT, reason
    /// DEPENDENCY_CYCLE, when that would make a task wait for itself).
    #[graphql(requires_scopes = "project:write")]
    async fn add_task_dependency(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        blocked_by_id: ID,
    ) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Task(
            pmo(ctx)?
                .add_dependency(&tenant, claims, &task_id, &blocked_by_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// Defines a typed custom field on a project (owners and managers; CONFLICT for a name the
    /// project already has).
    #[graphql(requires_scopes = "project:write")]
    async fn define_custom_field(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        input: CustomFieldInput,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let field = FieldDefinition::parse(&input.name, input.kind.into(), &input.options)?;
        Ok(Some(Project(
            pmo(ctx)?
                .define_custom_field(&tenant, claims, &project_id, field)
                .await
                .map_err(gql)?,
        )))
    }

    /// Sets a task's custom field value, checked against the field's type (BAD_USER_INPUT,
    /// field `value`, when it does not fit); a null value clears it.
    #[graphql(requires_scopes = "project:write")]
    async fn set_task_custom_field(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        field_id: ID,
        value: Option<String>,
    ) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Task(
            pmo(ctx)?
                .set_custom_value(&tenant, claims, &task_id, &field_id, value.as_deref())
                .await
                .map_err(gql)?,
        )))
    }

    /// Comments on a task: any member of its project, viewers included (so `project:read`).
    #[graphql(requires_scopes = "project:read")]
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        body: String,
    ) -> Result<Option<Comment>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let body = crate::domain::parse_comment(&body)?;
        Ok(Some(Comment(
            pmo(ctx)?
                .add_comment(&tenant, claims, &task_id, body)
                .await
                .map_err(gql)?,
        )))
    }

    /// Edits a comment: its author only (FORBIDDEN for anyone else).
    #[graphql(requires_scopes = "project:read")]
    async fn edit_comment(
        &self,
        ctx: &Context<'_>,
        comment_id: ID,
        body: String,
    ) -> Result<Option<Comment>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let body = crate::domain::parse_comment(&body)?;
        Ok(Some(Comment(
            pmo(ctx)?
                .edit_comment(&tenant, claims, &comment_id, body)
                .await
                .map_err(gql)?,
        )))
    }

    /// Creates a planned sprint (owners and managers).
    #[graphql(requires_scopes = "project:write")]
    async fn create_sprint(
        &self,
        ctx: &Context<'_>,
        input: CreateSprintInput,
    ) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let goal = match input.goal.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(goal) if goal.chars().count() > 2000 => {
                return Err(
                    ApiError::bad_input("goal", "the goal is longer than 2000 characters").into(),
                )
            }
            Some(goal) => Some(goal.to_owned()),
        };
        let new = NewSprint {
            project_id: input.project_id.0,
            name: Name::parse("name", &input.name)?.into_inner(),
            goal,
            dates: parse_dates(input.starts_on, input.ends_on)?,
        };
        Ok(Some(Sprint(
            pmo(ctx)?
                .create_sprint(&tenant, claims, new)
                .await
                .map_err(gql)?,
        )))
    }

    /// Sprint planning: puts a task in a planned or active sprint of its project, or back in
    /// the backlog when `sprintId` is null (CONFLICT, reason SPRINT_STATE, for a closed sprint
    /// on either side).
    #[graphql(requires_scopes = "project:write")]
    async fn plan_task(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        sprint_id: Option<ID>,
    ) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Task(
            pmo(ctx)?
                .plan_task(
                    &tenant,
                    claims,
                    &task_id,
                    sprint_id.as_ref().map(|id| id.as_str()),
                )
                .await
                .map_err(gql)?,
        )))
    }

    /// Starts a planned sprint (CONFLICT, reason SPRINT_ALREADY_ACTIVE, while another sprint of
    /// the project runs). Publishes `sprint.started`.
    #[graphql(requires_scopes = "project:write")]
    async fn start_sprint(&self, ctx: &Context<'_>, sprint_id: ID) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Sprint(
            pmo(ctx)?
                .start_sprint(&tenant, claims, &sprint_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// Closes the active sprint: done tasks stay with it, unfinished ones move to
    /// `carryOverTo` (a planned sprint of the project) or back to the backlog. Publishes
    /// `sprint.closed`.
    #[graphql(requires_scopes = "project:write")]
    async fn close_sprint(
        &self,
        ctx: &Context<'_>,
        sprint_id: ID,
        carry_over_to: Option<ID>,
    ) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Sprint(
            pmo(ctx)?
                .close_sprint(
                    &tenant,
                    claims,
                    &sprint_id,
                    carry_over_to.as_ref().map(|id| id.as_str()),
                )
                .await
                .map_err(gql)?,
        )))
    }

    /// Starts the caller's timer on a task (CONFLICT, reason TIMER_ALREADY_RUNNING, when they
    /// have one; reason TIMESHEET_LOCKED when their timesheet of this week is submitted or
    /// approved). Publishes `timer.started`.
    #[graphql(requires_scopes = "task:start")]
    async fn start_timer(&self, ctx: &Context<'_>, task_id: ID) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Timer(
            pmo(ctx)?
                .start_timer(&tenant, claims, &task_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// Pauses the caller's running timer.
    #[graphql(requires_scopes = "task:start")]
    async fn pause_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Timer(
            pmo(ctx)?.pause_timer(&tenant, claims).await.map_err(gql)?,
        )))
    }

    /// Resumes the caller's paused timer.
    #[graphql(requires_scopes = "task:start")]
    async fn resume_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Timer(
            pmo(ctx)?.resume_timer(&tenant, claims).await.map_err(gql)?,
        )))
    }

    /// Stops the caller's timer into a time entry of the week it started in (someone else's:
    /// FORBIDDEN; CONFLICT, reason TIMESHEET_LOCKED, while that week is submitted or approved:
    /// the timer then keeps running until the week is rejected). Publishes `timer.stopped`.
    #[graphql(requires_scopes = "task:start")]
    async fn stop_timer(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> Result<Option<TimeEntry>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(TimeEntry(
            pmo(ctx)?
                .stop_timer(&tenant, claims, user_id.as_ref().map(|id| id.as_str()))
                .await
                .map_err(gql)?,
        )))
    }
}
