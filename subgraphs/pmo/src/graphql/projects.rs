//! Projects in GraphQL: the project, its members in project roles, its budget; the queries and
//! mutations of projects and members.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::money::MoneyInput;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::objects::{load_project, readable, Client, Project, ProjectRole};
use crate::app::projects::NewProject;
use crate::app::Pmo;
use crate::domain::project::{Member, Money};
use crate::domain::Name;

/// A new project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// 1 to 200 characters.
    pub name: String,
    /// The client the project is for (1 to 200 characters; none for internal work).
    #[graphql(deprecation = "use `clientId` (the CRM client)")]
    pub client: Option<String>,
    /// The CRM client the project is for (none for internal work).
    pub client_id: Option<ID>,
    /// Decimal amount, e.g. "12500.00" (with `currency`).
    #[graphql(deprecation = "use `totalBudget` (a MoneyInput)")]
    pub budget: Option<String>,
    /// ISO 4217 code; required with `budget`.
    #[graphql(deprecation = "use `totalBudget.currency`")]
    pub currency: Option<String>,
    /// The budget: an amount of an ISO 4217 currency, at most two decimals (PMO keeps cents),
    /// not negative. Not together with the deprecated `budget`.
    pub total_budget: Option<MoneyInput>,
    /// Whether time on the project is billed to the client.
    pub billable: bool,
    /// The caller's employee record, to link the owner membership.
    pub owner_employee_id: Option<ID>,
}

/// A user's membership of a project (`setProjectMembership`).
#[derive(InputObject)]
pub struct SetProjectMembershipInput {
    /// The project.
    pub project_id: ID,
    /// The user to add, or whose role changes.
    pub user_id: ID,
    /// Their employee record, to link (optional).
    pub employee_id: Option<ID>,
    /// Their role in the project.
    pub role: ProjectRole,
}

/// A member to remove from a project (`removeProjectMembership`).
#[derive(InputObject)]
pub struct RemoveProjectMembershipInput {
    /// The project.
    pub project_id: ID,
    /// The member's user id.
    pub user_id: ID,
}

/// Projects and their members.
#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// One project of the caller's tenant: its members only (FORBIDDEN otherwise).
    #[graphql(directive = authenticated::apply())]
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's id.")] id: ID,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let found = ctx
            .use_cases::<Pmo>()?
            .project(&tenant, &id)
            .await?
            .map(Project);
        readable(ctx, found, |p| &p.0.id).await
    }

    /// The projects of the caller's tenant the caller is a member of, as a Relay connection.
    #[graphql(directive = authenticated::apply())]
    async fn projects(
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
    ) -> Result<Option<Connection<String, Project, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let caller = ctx.claims()?.sub.clone();
        let rows = ctx
            .use_cases::<Pmo>()?
            .projects_of_member(&tenant, &caller, &page)
            .await?;
        let rows = rows.into_iter().map(Project).collect();
        Ok(Some(connection_from_rows(&page, rows, |p| p.0.id.clone())))
    }

    /// Federation: a `Client` reference from another subgraph (its projects are PMO's).
    #[graphql(entity)]
    async fn find_client_by_id(&self, id: ID) -> Client {
        Client { id }
    }

    /// Federation: resolves a `Project` reference from another subgraph (members only,
    /// FORBIDDEN otherwise).
    #[graphql(entity)]
    async fn find_project_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let found = load_project(ctx, &id).await?;
        readable(ctx, found, |p| &p.0.id).await
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
        #[graphql(desc = "The project's name, client, budget and billing.")]
        input: CreateProjectInput,
    ) -> Result<Option<Project>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let budget = match (&input.total_budget, &input.budget, &input.currency) {
            (Some(total), None, None) => {
                let money = total
                    .to_money()
                    .map_err(|err| ApiError::bad_input("amount", err.message(total.currency)))?;
                // PMO stores cents: trailing zeros of a three-decimal currency drop here.
                let amount = money.to_decimal_string();
                let amount = if amount.contains('.') {
                    amount.trim_end_matches('0').trim_end_matches('.')
                } else {
                    &amount
                };
                Some(Money::parse(
                    "totalBudget",
                    amount,
                    money.currency().code(),
                )?)
            }
            (Some(_), _, _) => {
                return Err(ApiError::bad_input(
                    "totalBudget",
                    "give `totalBudget`, not the deprecated `budget` and `currency` with it",
                )
                .into())
            }
            (None, amount, currency) => {
                Money::parse_budget(amount.as_deref(), currency.as_deref())?
            }
        };
        let client = Name::parse_optional("client", input.client.as_deref())?;
        let new = NewProject {
            name: Name::parse("name", &input.name)?.into_inner(),
            client: client.map(Name::into_inner),
            client_id: input.client_id.map(|id| id.0),
            budget,
            billable: input.billable,
            owner_employee_id: input.owner_employee_id.map(|id| id.0),
        };
        Ok(Some(Project(
            ctx.use_cases::<Pmo>()?
                .create_project(&tenant, claims, new)
                .await?,
        )))
    }

    /// Adds a member to a project or changes their role (owners and managers only).
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `setProjectMembership` (one input)"
    )]
    async fn set_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project.")] project_id: ID,
        #[graphql(desc = "The user to add, or whose role changes.")] user_id: ID,
        #[graphql(desc = "Their employee record, to link.")] employee_id: Option<ID>,
        #[graphql(desc = "Their role in the project.")] role: ProjectRole,
    ) -> Result<Option<Project>> {
        let input = SetProjectMembershipInput {
            project_id,
            user_id,
            employee_id,
            role,
        };
        set_membership(ctx, input).await
    }

    /// Adds a member to a project or changes their role (owners and managers only).
    #[graphql(requires_scopes = "project:write")]
    async fn set_project_membership(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the user and their role.")] input: SetProjectMembershipInput,
    ) -> Result<Option<Project>> {
        set_membership(ctx, input).await
    }

    /// Removes a member from a project (owners and managers; an owner only by an owner; the
    /// last owner stays: CONFLICT). Their live board subscriptions end at the next event.
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `removeProjectMembership` (one input)"
    )]
    async fn remove_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project.")] project_id: ID,
        #[graphql(desc = "The member's user id.")] user_id: ID,
    ) -> Result<Option<Project>> {
        remove_membership(ctx, &project_id, &user_id).await
    }

    /// Removes a member from a project (owners and managers; an owner only by an owner; the
    /// last owner stays: CONFLICT, reason LAST_OWNER). Their live board subscriptions end at
    /// the next event.
    #[graphql(requires_scopes = "project:write")]
    async fn remove_project_membership(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the member.")] input: RemoveProjectMembershipInput,
    ) -> Result<Option<Project>> {
        remove_membership(ctx, &input.project_id, &input.user_id).await
    }
}

/// `setProjectMember` and `setProjectMembership`.
async fn set_membership(
    ctx: &Context<'_>,
    input: SetProjectMembershipInput,
) -> Result<Option<Project>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let member = Member {
        user_id: input.user_id.0,
        employee_id: input.employee_id.map(|id| id.0),
        role: input.role.into(),
    };
    Ok(Some(Project(
        ctx.use_cases::<Pmo>()?
            .set_member(&tenant, claims, &input.project_id, member)
            .await?,
    )))
}

/// `removeProjectMember` and `removeProjectMembership`.
async fn remove_membership(
    ctx: &Context<'_>,
    project_id: &str,
    user_id: &str,
) -> Result<Option<Project>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Project(
        ctx.use_cases::<Pmo>()?
            .remove_member(&tenant, claims, project_id, user_id)
            .await?,
    )))
}
