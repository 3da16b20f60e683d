//! Projects in GraphQL: the project, its members in project roles, its budget; the queries and
//! mutations of projects and members.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::RequestContext;

use super::context::pmo;
use super::objects::{load_project, Project, ProjectRole};
use crate::app::projects::NewProject;
use crate::domain::project::{Member, Money};
use crate::domain::Name;

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
