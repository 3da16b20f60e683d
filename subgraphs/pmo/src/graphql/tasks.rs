//! Tasks in GraphQL: tasks with their subtasks, dependencies, comments and custom field values;
//! the queries and mutations of tasks, comments and custom fields.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::authz::authenticated;
use erp_kit::{ApiError, RequestContext};

use super::objects::{
    list_tasks, load_task, readable, require_reader, Comment, CustomField, CustomFieldKind,
    Project, Task, TaskFilterInput,
};
use crate::app::tasks::NewTask;
use crate::app::Pmo;
use crate::domain::custom_field::FieldDefinition;
use crate::domain::task::{parse_comment, TaskFields};

/// A new task.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// The project.
    pub project_id: ID,
    /// The board and column to put the task in (both or neither).
    pub board_id: Option<ID>,
    /// The column of `boardId` (its WIP limit applies).
    pub column_id: Option<ID>,
    /// What is to be done (1 to 200 characters).
    pub title: String,
    /// The details (at most 10,000 characters).
    pub description: Option<String>,
    /// The employees it is assigned to (at most 50).
    #[graphql(default)]
    pub assignee_ids: Vec<ID>,
    /// The estimate in minutes (0 to 100,000).
    pub estimate_minutes: Option<i32>,
    /// Labels (at most 20, each 1 to 40 letters, digits, `-`, `_` or `:`; lower-cased).
    #[graphql(default)]
    pub labels: Vec<String>,
    /// The sprint to plan it in (planned or active, same project).
    pub sprint_id: Option<ID>,
    /// Makes it a subtask of this task (same project; a subtask has no subtasks).
    pub parent_id: Option<ID>,
}

/// A task to move (`moveTaskToColumn`).
#[derive(InputObject)]
pub struct MoveTaskToColumnInput {
    /// The task.
    pub task_id: ID,
    /// A board of the task's project.
    pub board_id: ID,
    /// A column of that board (its WIP limit applies).
    pub column_id: ID,
}

/// A dependency between two tasks (`createTaskDependency`).
#[derive(InputObject)]
pub struct CreateTaskDependencyInput {
    /// The task that waits.
    pub task_id: ID,
    /// The task that must be done first.
    pub blocked_by_id: ID,
}

/// A new custom field of a project (`createCustomField`).
#[derive(InputObject)]
pub struct CreateCustomFieldInput {
    /// The project.
    pub project_id: ID,
    /// 1 to 200 characters, unique in the project whatever the case.
    pub name: String,
    /// The type its values are checked against.
    pub kind: CustomFieldKind,
    /// The allowed values of a SELECT field (1 to 50, distinct, each 1 to 100 characters);
    /// none for the other kinds.
    #[graphql(default)]
    pub options: Vec<String>,
}

/// A custom field defined, and its project.
#[derive(SimpleObject)]
pub struct CreateCustomFieldPayload {
    /// The field created.
    pub custom_field: CustomField,
    /// The project, with all its custom fields.
    pub project: Project,
}

/// A task's value of a custom field (`setTaskCustomFieldValue`).
#[derive(InputObject)]
pub struct SetTaskCustomFieldValueInput {
    /// The task.
    pub task_id: ID,
    /// A custom field of the task's project.
    pub field_id: ID,
    /// The value, checked against the field's type (TEXT: 1 to 1000 characters; NUMBER: a
    /// decimal such as 12.5; DATE: YYYY-MM-DD; SELECT: one of its options); null clears it.
    pub value: Option<String>,
}

/// A new comment (`createComment`).
#[derive(InputObject)]
pub struct CreateCommentInput {
    /// The task.
    pub task_id: ID,
    /// The text (1 to 10,000 characters).
    pub body: String,
}

/// A comment's new text (`updateComment`).
#[derive(InputObject)]
pub struct UpdateCommentInput {
    /// The comment (the caller's own).
    pub comment_id: ID,
    /// The text (1 to 10,000 characters).
    pub body: String,
}

/// A new custom field of a project (the deprecated `defineCustomField`'s).
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
    /// One task of the caller's tenant: its project's members only (FORBIDDEN otherwise).
    #[graphql(directive = authenticated::apply())]
    async fn task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
    ) -> Result<Option<Task>> {
        let tenant = ctx.tenant()?;
        let found = ctx.use_cases::<Pmo>()?.task(&tenant, &id).await?.map(Task);
        readable(ctx, found, |t| &t.0.project_id).await
    }

    /// Tasks across the projects the caller is a member of, filtered, as a Relay connection
    /// (FORBIDDEN for `projectId` of a project the caller is not a member of).
    #[graphql(directive = authenticated::apply())]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tasks matching every filter given.")] filter: Option<
            TaskFilterInput,
        >,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Task, EmptyFields, EmptyFields>>> {
        let mut filter = filter.unwrap_or_default().parse()?;
        match &filter.project_id {
            Some(project_id) => require_reader(ctx, project_id).await?,
            None => {
                let tenant = ctx.tenant()?;
                let caller = ctx.claims()?.sub.clone();
                filter.project_ids = Some(
                    ctx.use_cases::<Pmo>()?
                        .member_project_ids(&tenant, &caller)
                        .await?,
                );
            }
        }
        list_tasks(ctx, filter, after, before, first, last)
            .await
            .map(Some)
    }

    /// Federation: resolves a `Task` reference from another subgraph (its project's members
    /// only, FORBIDDEN otherwise).
    #[graphql(entity)]
    async fn find_task_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Task>> {
        let found = load_task(ctx, &id).await?;
        readable(ctx, found, |t| &t.0.project_id).await
    }
}

/// Changes to tasks, their dependencies, custom fields and comments.
#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Creates a task; a column's WIP limit applies. Publishes `task.created`.
    #[graphql(requires_scopes = "project:write")]
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task, its place and its planning.")] input: CreateTaskInput,
    ) -> Result<Option<Task>> {
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
            ctx.use_cases::<Pmo>()?
                .create_task(&tenant, claims, new)
                .await?,
        )))
    }

    /// Moves a task to a board column, enforcing its WIP limit (CONFLICT, reason
    /// WIP_LIMIT_EXCEEDED). Publishes `task.moved`.
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `moveTaskToColumn` (one input)"
    )]
    async fn move_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] task_id: ID,
        #[graphql(desc = "A board of the task's project.")] board_id: ID,
        #[graphql(desc = "A column of that board.")] column_id: ID,
    ) -> Result<Option<Task>> {
        let input = MoveTaskToColumnInput {
            task_id,
            board_id,
            column_id,
        };
        move_to_column(ctx, input).await
    }

    /// Moves a task to a board column, enforcing its WIP limit (CONFLICT, reason
    /// WIP_LIMIT_EXCEEDED). Publishes `task.moved`.
    #[graphql(requires_scopes = "project:write")]
    async fn move_task_to_column(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task and its new column.")] input: MoveTaskToColumnInput,
    ) -> Result<Option<Task>> {
        move_to_column(ctx, input).await
    }

    /// Records that `taskId` cannot be done before `blockedById` (BAD_USER_INPUT, reason
    /// DEPENDENCY_CYCLE, when that would make a task wait for itself).
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `createTaskDependency` (one input)"
    )]
    async fn add_task_dependency(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task that waits.")] task_id: ID,
        #[graphql(desc = "The task that must be done first.")] blocked_by_id: ID,
    ) -> Result<Option<Task>> {
        let input = CreateTaskDependencyInput {
            task_id,
            blocked_by_id,
        };
        add_dependency(ctx, input).await
    }

    /// Records that `taskId` cannot be done before `blockedById` (BAD_USER_INPUT, reason
    /// DEPENDENCY_CYCLE, when that would make a task wait for itself).
    #[graphql(requires_scopes = "project:write")]
    async fn create_task_dependency(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The waiting task and the one it waits for.")]
        input: CreateTaskDependencyInput,
    ) -> Result<Option<Task>> {
        add_dependency(ctx, input).await
    }

    /// Defines a typed custom field on a project (owners and managers; CONFLICT for a name the
    /// project already has).
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `createCustomField` (one input; answers the field too)"
    )]
    async fn define_custom_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project.")] project_id: ID,
        #[graphql(desc = "The field.")] input: CustomFieldInput,
    ) -> Result<Option<Project>> {
        let input = CreateCustomFieldInput {
            project_id,
            name: input.name,
            kind: input.kind,
            options: input.options,
        };
        Ok(create_field(ctx, input)
            .await?
            .map(|payload| payload.project))
    }

    /// Defines a typed custom field on a project (owners and managers; CONFLICT, reason
    /// CUSTOM_FIELD_EXISTS, for a name the project already has; CUSTOM_FIELD_LIMIT past the
    /// project's limit). Answers the field and the project.
    #[graphql(requires_scopes = "project:write")]
    async fn create_custom_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the field.")] input: CreateCustomFieldInput,
    ) -> Result<Option<CreateCustomFieldPayload>> {
        create_field(ctx, input).await
    }

    /// Sets a task's custom field value, checked against the field's type (BAD_USER_INPUT,
    /// field `value`, when it does not fit); a null value clears it.
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `setTaskCustomFieldValue` (one input)"
    )]
    async fn set_task_custom_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] task_id: ID,
        #[graphql(desc = "A custom field of the task's project.")] field_id: ID,
        #[graphql(desc = "The value; null clears it.")] value: Option<String>,
    ) -> Result<Option<Task>> {
        let input = SetTaskCustomFieldValueInput {
            task_id,
            field_id,
            value,
        };
        set_value(ctx, input).await
    }

    /// Sets a task's custom field value, checked against the field's type (BAD_USER_INPUT,
    /// field `value`, when it does not fit); a null value clears it.
    #[graphql(requires_scopes = "project:write")]
    async fn set_task_custom_field_value(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task, the field and the value.")] input: SetTaskCustomFieldValueInput,
    ) -> Result<Option<Task>> {
        set_value(ctx, input).await
    }

    /// Comments on a task: any member of its project, viewers included (so `project:read`).
    #[graphql(
        requires_scopes = "project:read",
        deprecation = "use `createComment` (one input)"
    )]
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] task_id: ID,
        #[graphql(desc = "The text (1 to 10,000 characters).")] body: String,
    ) -> Result<Option<Comment>> {
        create_comment(ctx, CreateCommentInput { task_id, body }).await
    }

    /// Comments on a task: any member of its project, viewers included (so `project:read`).
    #[graphql(requires_scopes = "project:read")]
    async fn create_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task and the text.")] input: CreateCommentInput,
    ) -> Result<Option<Comment>> {
        create_comment(ctx, input).await
    }

    /// Edits a comment: its author only (FORBIDDEN for anyone else).
    #[graphql(
        requires_scopes = "project:read",
        deprecation = "use `updateComment` (one input)"
    )]
    async fn edit_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The comment (the caller's own).")] comment_id: ID,
        #[graphql(desc = "The text (1 to 10,000 characters).")] body: String,
    ) -> Result<Option<Comment>> {
        update_comment(ctx, UpdateCommentInput { comment_id, body }).await
    }

    /// Edits a comment: its author only (FORBIDDEN for anyone else).
    #[graphql(requires_scopes = "project:read")]
    async fn update_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The comment and its new text.")] input: UpdateCommentInput,
    ) -> Result<Option<Comment>> {
        update_comment(ctx, input).await
    }
}

/// `moveTask` and `moveTaskToColumn`.
async fn move_to_column(ctx: &Context<'_>, input: MoveTaskToColumnInput) -> Result<Option<Task>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Task(
        ctx.use_cases::<Pmo>()?
            .move_task(
                &tenant,
                claims,
                &input.task_id,
                &input.board_id,
                &input.column_id,
            )
            .await?,
    )))
}

/// `addTaskDependency` and `createTaskDependency`.
async fn add_dependency(
    ctx: &Context<'_>,
    input: CreateTaskDependencyInput,
) -> Result<Option<Task>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Task(
        ctx.use_cases::<Pmo>()?
            .add_dependency(&tenant, claims, &input.task_id, &input.blocked_by_id)
            .await?,
    )))
}

/// `defineCustomField` and `createCustomField`.
async fn create_field(
    ctx: &Context<'_>,
    input: CreateCustomFieldInput,
) -> Result<Option<CreateCustomFieldPayload>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let field = FieldDefinition::parse(&input.name, input.kind.into(), &input.options)?;
    let (id, key) = (field.id.clone(), field.key.clone());
    let project = ctx
        .use_cases::<Pmo>()?
        .define_custom_field(&tenant, claims, &input.project_id, field)
        .await?;
    let created = project
        .custom_fields
        .iter()
        .find(|f| f.id == id)
        .or_else(|| project.custom_fields.iter().find(|f| f.key == key))
        .cloned()
        .ok_or_else(|| ApiError::internal("the custom field defined is not in its project"))?;
    Ok(Some(CreateCustomFieldPayload {
        custom_field: CustomField(created),
        project: Project(project),
    }))
}

/// `setTaskCustomField` and `setTaskCustomFieldValue`.
async fn set_value(ctx: &Context<'_>, input: SetTaskCustomFieldValueInput) -> Result<Option<Task>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Task(
        ctx.use_cases::<Pmo>()?
            .set_custom_value(
                &tenant,
                claims,
                &input.task_id,
                &input.field_id,
                input.value.as_deref(),
            )
            .await?,
    )))
}

/// `addComment` and `createComment`.
async fn create_comment(ctx: &Context<'_>, input: CreateCommentInput) -> Result<Option<Comment>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let body = parse_comment(&input.body)?;
    Ok(Some(Comment(
        ctx.use_cases::<Pmo>()?
            .add_comment(&tenant, claims, &input.task_id, body)
            .await?,
    )))
}

/// `editComment` and `updateComment`.
async fn update_comment(ctx: &Context<'_>, input: UpdateCommentInput) -> Result<Option<Comment>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let body = parse_comment(&input.body)?;
    Ok(Some(Comment(
        ctx.use_cases::<Pmo>()?
            .edit_comment(&tenant, claims, &input.comment_id, body)
            .await?,
    )))
}
