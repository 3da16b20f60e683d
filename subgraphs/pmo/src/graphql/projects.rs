//! Projects in GraphQL: the project, its members in project roles, its budget; the queries and
//! mutations of projects and members.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::RequestContext;

use super::boards::Board;
use super::context::{pmo, Employee};
use super::loaders::{PageKey, ProjectBoardsLoader, ProjectLoader, SprintPagesLoader};
use super::sprints::{Sprint, SprintState};
use super::tasks::{list_tasks, CustomField, Task, TaskFilterInput};
use crate::app::projects::NewProject;
use crate::domain::project::{Member, Money, ProjectRole as ProjectRoleModel};
use crate::domain::Name;
use crate::store::ProjectDoc;

/// A project of the caller's tenant, through the loader (one query for a batch).
pub(super) async fn load_project(ctx: &Context<'_>, id: &str) -> Result<Option<Project>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<ProjectLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Project))
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

/// Projects and their members.
#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// One project of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.project(&tenant, &id).await?.map(Project))
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
        let rows = pmo(ctx)?.projects(&tenant, &page).await?;
        let rows = rows.into_iter().map(Project).collect();
        Ok(Some(connection_from_rows(&page, rows, |p| p.0.id.clone())))
    }

    /// Federation: resolves a `Project` reference from another subgraph.
    #[graphql(entity)]
    async fn find_project_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        load_project(ctx, &id).await
    }
}

/// Changes to projects and their members.
#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project with the caller as its owner; publishes `project.created`.
    #[graphql(requires_scopes = "project:write")]
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let budget = Money::parse_budget(input.budget.as_deref(), input.currency.as_deref())?;
        let client = Name::parse_optional("client", input.client.as_deref())?;
        let new = NewProject {
            name: Name::parse("name", &input.name)?.into_inner(),
            client: client.map(Name::into_inner),
            budget,
            billable: input.billable,
            owner_employee_id: input.owner_employee_id.map(|id| id.0),
        };
        Ok(Some(Project(
            pmo(ctx)?.create_project(&tenant, claims, new).await?,
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
                .await?,
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
                .await?,
        )))
    }
}
