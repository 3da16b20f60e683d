//! Sprints in GraphQL: planning, starting and closing sprints.

use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::RequestContext;

use super::context::pmo;
use super::objects::{Sprint, Task};
use crate::app::sprints::NewSprint;
use crate::domain::sprint::parse_dates;
use crate::domain::{optional_text, Name};

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

/// Sprints.
#[derive(Default)]
pub struct SprintQuery;

#[Object]
impl SprintQuery {
    /// One sprint of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn sprint(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.sprint(&tenant, &id).await?.map(Sprint))
    }
}

/// Changes to sprints and their tasks.
#[derive(Default)]
pub struct SprintMutation;

#[Object]
impl SprintMutation {
    /// Creates a planned sprint (owners and managers).
    #[graphql(requires_scopes = "project:write")]
    async fn create_sprint(
        &self,
        ctx: &Context<'_>,
        input: CreateSprintInput,
    ) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let goal = optional_text("goal", input.goal.as_deref(), 2000, "goal")?;
        let new = NewSprint {
            project_id: input.project_id.0,
            name: Name::parse("name", &input.name)?.into_inner(),
            goal,
            dates: parse_dates(input.starts_on, input.ends_on)?,
        };
        Ok(Some(Sprint(
            pmo(ctx)?.create_sprint(&tenant, claims, new).await?,
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
                .await?,
        )))
    }

    /// Starts a planned sprint (CONFLICT, reason SPRINT_ALREADY_ACTIVE, while another sprint of
    /// the project runs). Publishes `sprint.started`.
    #[graphql(requires_scopes = "project:write")]
    async fn start_sprint(&self, ctx: &Context<'_>, sprint_id: ID) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Sprint(
            pmo(ctx)?.start_sprint(&tenant, claims, &sprint_id).await?,
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
                .await?,
        )))
    }
}
