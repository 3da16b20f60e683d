//! The PMO object graph in GraphQL: projects, boards, sprints and tasks with what hangs off
//! them (members, columns, custom fields, comments) and the loaders' helpers their field
//! resolvers share. These objects reference each other (a task's project and sprint, a
//! project's boards, sprints and tasks), so they live in one file; the feature files
//! (`projects.rs`, `boards.rs`, `sprints.rs`, `tasks.rs`) keep their queries, mutations and
//! inputs and import from here, never the other way round.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::loaders::TenantKey;
use erp_kit::money::{Currency, Money as MoneyValue};
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::context::{Employee, User};
use super::loaders::{
    BoardLoader, CommentPagesLoader, PageKey, ProjectBoardsLoader, ProjectLoader, SprintLoader,
    SprintPagesLoader, TaskLoader, TaskPagesLoader,
};
use crate::app::Pmo;
use crate::domain::custom_field::{FieldDefinition, FieldKind};
use crate::domain::project::{require_member, Member, Money, ProjectRole as ProjectRoleModel};
use crate::domain::sprint::SprintState as SprintStateModel;
use crate::domain::task::{Label, TaskStatus as TaskStatusModel};
use crate::store::{BoardDoc, ColumnDoc, CommentDoc, ProjectDoc, SprintDoc, TaskDoc, TaskFilter};

/// A project of the caller's tenant, through the loader (one query for a batch).
pub(super) async fn load_project(ctx: &Context<'_>, id: &str) -> Result<Option<Project>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<ProjectLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Project))
}

/// FORBIDDEN unless the caller is a member of project `project_id` (any role): reads follow
/// membership like writes, on every path to a project's data (a root field, an entity
/// reference from another subgraph, a subscription). The project through the loader.
pub(super) async fn require_reader(ctx: &Context<'_>, project_id: &str) -> Result<()> {
    let caller = ctx.claims()?.sub.clone();
    match load_project(ctx, project_id).await? {
        Some(project) => Ok(require_member(&project.0.members, &caller)?),
        None => Err(ApiError::NotFound("project".into()).into()),
    }
}

/// `found` when the caller may read its project (FORBIDDEN otherwise).
pub(super) async fn readable<T>(
    ctx: &Context<'_>,
    found: Option<T>,
    project_id: impl Fn(&T) -> &str,
) -> Result<Option<T>> {
    match found {
        Some(found) => {
            require_reader(ctx, project_id(&found)).await?;
            Ok(Some(found))
        }
        None => Ok(None),
    }
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

/// A project member: a user of the identity service, optionally linked to an employee.
pub struct ProjectMember(Member);

/// A member of a project: a user of the identity service in a project role, optionally
/// linked to their employee record.
#[Object(requires_scopes = "project:read")]
impl ProjectMember {
    /// The member's user id.
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    /// The member's user account (resolved by the identity subgraph).
    async fn user(&self) -> User {
        User::of(&self.0.user_id)
    }

    /// The member's employee record, when linked.
    async fn employee(&self) -> Option<Employee> {
        self.0
            .employee_id
            .as_ref()
            .map(|id| Employee { id: ID(id.clone()) })
    }

    /// What the member may do in the project.
    async fn role(&self) -> ProjectRole {
        self.0.role.into()
    }
}

/// A stored budget as the kit's `Money`: PMO keeps cents, so the decimal string loses its
/// trailing zeros before it is read at the currency's exponent (`"12500.00"` JPY is 12500).
/// None for one stored before currencies were checked (an unknown code, or cents of a
/// currency without them).
pub(super) fn budget_money(budget: &Money) -> Option<MoneyValue> {
    let currency = Currency::parse(&budget.currency).ok()?;
    let amount = budget.amount();
    let amount = amount.trim_end_matches('0').trim_end_matches('.');
    MoneyValue::parse(amount, currency).ok()
}

/// A client of the CRM subgraph, to which PMO adds its projects (the client 360).
pub struct Client {
    pub id: ID,
}

impl Client {
    pub fn of(id: &str) -> Self {
        Self {
            id: ID(id.to_owned()),
        }
    }
}

// Described as the CRM, its owner, describes it (the supergraph keeps one description); PMO
// adds its projects.
/// A client of the tenant: a company or a person (`kind`), seen by its owner, their team and
/// managers, and `crm:admin`.
#[Object]
impl Client {
    /// Stable id (UUIDv7).
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The client's projects the caller is a member of, oldest first (reads follow
    /// membership).
    #[graphql(requires_scopes = "project:read")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Return the items after this cursor (exclusive).")] after: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when not given."
        )]
        first: Option<i32>,
    ) -> Result<Option<Connection<String, Project, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let caller = ctx.claims()?.sub.clone();
        let page = PageRequest::parse(after, None, first, None)?;
        let rows = ctx
            .use_cases::<Pmo>()?
            .client_projects(&tenant, &self.id, &caller, &page)
            .await?;
        let rows = rows.into_iter().map(Project).collect();
        Ok(Some(connection_from_rows(&page, rows, |p| p.0.id.clone())))
    }
}

/// A project: client work or internal, with members in project roles.
pub struct Project(pub ProjectDoc);

/// A project: client work or internal, with members in project roles, boards, sprints and
/// tasks.
#[Object(requires_scopes = "project:read")]
impl Project {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Name (1 to 200 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The client the project is for, as typed (None for internal work).
    #[graphql(deprecation = "use `clientId` and `crmClient` (the CRM client)")]
    async fn client(&self) -> Option<&str> {
        self.0.client.as_deref()
    }

    /// The id of the CRM client the project is for (None for internal work, or a client typed
    /// by name that no CRM client has yet).
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.clone().map(ID)
    }

    /// The CRM client the project is for (resolved by the CRM subgraph).
    async fn crm_client(&self) -> Option<Client> {
        self.0.client_id.as_deref().map(Client::of)
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
    async fn budget(&self) -> Option<MoneyValue> {
        self.0.budget.as_ref().and_then(budget_money)
    }

    /// The members and their project roles.
    async fn members(&self) -> Vec<ProjectMember> {
        self.0.members.iter().cloned().map(ProjectMember).collect()
    }

    /// The project's kanban boards, oldest first.
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
        #[graphql(
            desc = "Only the tasks matching every filter given (`projectId` is this project)."
        )]
        filter: Option<TaskFilterInput>,
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
        #[graphql(desc = "Only sprints in this state.")] state: Option<SprintState>,
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

    /// When the project was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A board column with its optional WIP limit.
pub struct BoardColumn(pub ColumnDoc);

/// A column of a kanban board: the status its tasks have, and an optional WIP limit.
#[Object(requires_scopes = "project:read")]
impl BoardColumn {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Name (1 to 200 characters).
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

/// A kanban board of a project: its columns, left to right.
#[Object(requires_scopes = "project:read")]
impl Board {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Name (1 to 200 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The columns, left to right.
    async fn columns(&self) -> Vec<BoardColumn> {
        self.0.columns.iter().cloned().map(BoardColumn).collect()
    }

    /// The project the board belongs to.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        load_project(ctx, &self.0.project_id).await
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

pub(super) async fn load_sprint(ctx: &Context<'_>, id: &str) -> Result<Option<Sprint>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<SprintLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Sprint))
}

/// A time-boxed iteration of a project.
pub struct Sprint(pub SprintDoc);

/// A sprint: a time-boxed iteration of a project, planned, then active, then closed.
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
    async fn starts_on(&self) -> Option<Date> {
        self.0.starts_on.map(Date::from)
    }

    /// Last planned day.
    async fn ends_on(&self) -> Option<Date> {
        self.0.ends_on.map(Date::from)
    }

    /// When it was started.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime::from)
    }

    /// When it was closed.
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.closed_at.map(DateTime::from)
    }

    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        load_project(ctx, &self.0.project_id).await
    }

    /// The tasks in the sprint now, filtered, as a Relay connection.
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tasks matching every filter given (the sprint's own).")]
        filter: Option<TaskFilterInput>,
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

/// A task's lifecycle status: the category of its board column.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TaskStatusModel")]
pub enum TaskStatus {
    /// Not started.
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished (a task with open subtasks cannot be).
    Done,
}

/// A unit of work.
pub struct Task(pub TaskDoc);

impl Task {
    /// The task's board (batched).
    async fn board_doc(&self, ctx: &Context<'_>) -> Result<Option<BoardDoc>> {
        let Some(board_id) = &self.0.board_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        ctx.data_unchecked::<DataLoader<BoardLoader>>()
            .load_one(TenantKey::new(&tenant, board_id))
            .await
    }
}

/// A task: a unit of work of a project, on a board column and in a sprint or the backlog,
/// with subtasks, dependencies, comments and custom field values.
#[Object(requires_scopes = "project:read")]
impl Task {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// What is to be done (1 to 200 characters).
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The details (at most 10,000 characters).
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The status: its board column's (TODO without a column).
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }

    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        load_project(ctx, &self.0.project_id).await
    }

    /// The board the task is on, if any.
    async fn board(&self, ctx: &Context<'_>) -> Result<Option<Board>> {
        Ok(self.board_doc(ctx).await?.map(Board))
    }

    /// The column of its board the task is in, if any.
    async fn column_id(&self) -> Option<ID> {
        self.0.column_id.clone().map(ID)
    }

    /// The column of its board the task is in, if any (the board batched).
    async fn column(&self, ctx: &Context<'_>) -> Result<Option<BoardColumn>> {
        let Some(column_id) = &self.0.column_id else {
            return Ok(None);
        };
        Ok(self.board_doc(ctx).await?.and_then(|board| {
            board
                .columns
                .into_iter()
                .find(|column| &column.id == column_id)
                .map(BoardColumn)
        }))
    }

    /// The employees the task is assigned to.
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

    /// Labels, lower case, sorted (at most 20, each 1 to 40 letters, digits, `-`, `_` or `:`).
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

    /// When the task was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A typed custom field of a project.
pub struct CustomField(pub FieldDefinition);

/// A typed custom field of a project: a name, a kind its values are checked against, and
/// the options of a SELECT field.
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

/// A comment on a task, by a member of its project.
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

    /// The user who wrote it (resolved by the identity subgraph).
    async fn author(&self) -> User {
        User::of(&self.0.author_id)
    }

    /// The text.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// When it was written.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When it was last edited (null: never).
    async fn edited_at(&self) -> Option<DateTime> {
        self.0.edited_at.map(DateTime::from)
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
    /// Only tasks in this status.
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
            project_ids: None,
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
