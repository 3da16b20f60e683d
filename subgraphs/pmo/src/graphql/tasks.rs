//! Tasks in GraphQL: tasks with their subtasks, dependencies, comments and custom field values;
//! the queries and mutations of tasks, comments and custom fields.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::{ApiError, RequestContext};

use super::context::pmo;
use super::objects::{
    list_tasks, load_task, Comment, CustomFieldKind, Project, Task, TaskFilterInput,
};
use crate::app::tasks::NewTask;
use crate::domain::custom_field::FieldDefinition;
use crate::domain::task::{parse_comment, TaskFields};

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
