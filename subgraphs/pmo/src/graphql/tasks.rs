//! Tasks in GraphQL: tasks with their subtasks, dependencies, comments and custom field values;
//! the queries and mutations of tasks, comments and custom fields.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::boards::Board;
use super::context::{pmo, Employee};
use super::loaders::{
    BoardLoader, CommentPagesLoader, PageKey, ProjectLoader, TaskLoader, TaskPagesLoader,
};
use super::projects::{load_project, Project};
use super::sprints::{load_sprint, Sprint};
use crate::app::tasks::NewTask;
use crate::domain::custom_field::{FieldDefinition, FieldKind};
use crate::domain::task::{parse_comment, Label, TaskFields, TaskStatus as TaskStatusModel};
use crate::store::{CommentDoc, TaskDoc, TaskFilter};

/// A task's lifecycle status: the category of its board column.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TaskStatusModel")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
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
        load_project(ctx, &self.0.project_id).await
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

/// A task of the caller's tenant, through the loader (one query for a batch).
pub(super) async fn load_task(ctx: &Context<'_>, id: &str) -> Result<Option<Task>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<TaskLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Task))
}

pub(super) async fn load_tasks(ctx: &Context<'_>, ids: &[String]) -> Result<Vec<Task>> {
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
    pub(super) fn parse(self) -> Result<TaskFilter> {
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

pub(super) async fn list_tasks(
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

/// Tasks.
#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// One task of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.task(&tenant, &id).await?.map(Task))
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

    /// Federation: resolves a `Task` reference from another subgraph.
    #[graphql(entity)]
    async fn find_task_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        load_task(ctx, &id).await
    }
}

/// Changes to tasks, their dependencies, custom fields and comments.
#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
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
        let fields = TaskFields::parse(
            &input.title,
            input.description.as_deref(),
            input.assignee_ids.into_iter().map(|id| id.0).collect(),
            input.estimate_minutes,
            &input.labels,
        )?;
        let new = NewTask {
            project_id: input.project_id.0,
            column,
            fields,
            sprint_id: input.sprint_id.map(|id| id.0),
            parent_id: input.parent_id.map(|id| id.0),
        };
        Ok(Some(Task(
            pmo(ctx)?.create_task(&tenant, claims, new).await?,
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
                .await?,
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
                .await?,
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
                .await?,
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
                .await?,
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
        let body = parse_comment(&body)?;
        Ok(Some(Comment(
            pmo(ctx)?
                .add_comment(&tenant, claims, &task_id, body)
                .await?,
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
        let body = parse_comment(&body)?;
        Ok(Some(Comment(
            pmo(ctx)?
                .edit_comment(&tenant, claims, &comment_id, body)
                .await?,
        )))
    }
}
