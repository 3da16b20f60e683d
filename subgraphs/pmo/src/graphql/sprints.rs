//! Sprints in GraphQL: planning, starting and closing sprints.

use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::scalars::Date;
use erp_kit::RequestContext;

use super::objects::{readable, Sprint, Task};
use crate::app::sprints::NewSprint;
use crate::app::Pmo;
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
    pub starts_on: Option<Date>,
    /// Last day, not before `startsOn`, at most 366 days later.
    pub ends_on: Option<Date>,
}

/// A task to plan (`moveTaskToSprint`).
#[derive(InputObject)]
pub struct MoveTaskToSprintInput {
    /// The task.
    pub task_id: ID,
    /// A planned or active sprint of the task's project; null puts it back in the backlog.
    pub sprint_id: Option<ID>,
}

/// A sprint to start (`activateSprint`).
#[derive(InputObject)]
pub struct ActivateSprintInput {
    /// A planned sprint.
    pub sprint_id: ID,
}

/// A sprint to close (`completeSprint`).
#[derive(InputObject)]
pub struct CompleteSprintInput {
    /// The active sprint.
    pub sprint_id: ID,
    /// A planned sprint of the project to move the unfinished tasks to; null: the backlog.
    pub carry_over_to: Option<ID>,
}

/// Sprints.
#[derive(Default)]
pub struct SprintQuery;

#[Object]
impl SprintQuery {
    /// One sprint of the caller's tenant: its project's members only (FORBIDDEN otherwise).
    #[graphql(directive = authenticated::apply())]
    async fn sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The sprint's id.")] id: ID,
    ) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let found = ctx
            .use_cases::<Pmo>()?
            .sprint(&tenant, &id)
            .await?
            .map(Sprint);
        readable(ctx, found, |s| &s.0.project_id).await
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
        #[graphql(desc = "The project, the sprint's name, goal and dates.")]
        input: CreateSprintInput,
    ) -> Result<Option<Sprint>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let goal = optional_text("goal", input.goal.as_deref(), 2000, "goal")?;
        let new = NewSprint {
            project_id: input.project_id.0,
            name: Name::parse("name", &input.name)?.into_inner(),
            goal,
            dates: parse_dates(
                input.starts_on.map(Into::into),
                input.ends_on.map(Into::into),
            )?,
        };
        Ok(Some(Sprint(
            ctx.use_cases::<Pmo>()?
                .create_sprint(&tenant, claims, new)
                .await?,
        )))
    }

    /// Sprint planning: puts a task in a planned or active sprint of its project, or back in
    /// the backlog when `sprintId` is null (CONFLICT, reason SPRINT_STATE, for a closed sprint
    /// on either side).
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `moveTaskToSprint` (one input)"
    )]
    async fn plan_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] task_id: ID,
        #[graphql(desc = "The sprint; null: the backlog.")] sprint_id: Option<ID>,
    ) -> Result<Option<Task>> {
        plan(ctx, MoveTaskToSprintInput { task_id, sprint_id }).await
    }

    /// Sprint planning: puts a task in a planned or active sprint of its project, or back in
    /// the backlog when `sprintId` is null (CONFLICT, reason SPRINT_STATE, for a closed sprint
    /// on either side).
    #[graphql(requires_scopes = "project:write")]
    async fn move_task_to_sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task and its sprint.")] input: MoveTaskToSprintInput,
    ) -> Result<Option<Task>> {
        plan(ctx, input).await
    }

    /// Starts a planned sprint (CONFLICT, reason SPRINT_ALREADY_ACTIVE, while another sprint of
    /// the project runs). Publishes `sprint.started`.
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `activateSprint` (one input)"
    )]
    async fn start_sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A planned sprint.")] sprint_id: ID,
    ) -> Result<Option<Sprint>> {
        start(ctx, &sprint_id).await
    }

    /// Starts a planned sprint (CONFLICT, reason SPRINT_ALREADY_ACTIVE, while another sprint of
    /// the project runs). Publishes `sprint.started`.
    #[graphql(requires_scopes = "project:write")]
    async fn activate_sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The sprint.")] input: ActivateSprintInput,
    ) -> Result<Option<Sprint>> {
        start(ctx, &input.sprint_id).await
    }

    /// Closes the active sprint: done tasks stay with it, unfinished ones move to
    /// `carryOverTo` (a planned sprint of the project) or back to the backlog. Publishes
    /// `sprint.closed`.
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `completeSprint` (one input)"
    )]
    async fn close_sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The active sprint.")] sprint_id: ID,
        #[graphql(desc = "A planned sprint for the unfinished tasks; null: the backlog.")]
        carry_over_to: Option<ID>,
    ) -> Result<Option<Sprint>> {
        let input = CompleteSprintInput {
            sprint_id,
            carry_over_to,
        };
        close(ctx, input).await
    }

    /// Closes the active sprint: done tasks stay with it, unfinished ones move to
    /// `carryOverTo` (a planned sprint of the project) or back to the backlog. Publishes
    /// `sprint.closed`.
    #[graphql(requires_scopes = "project:write")]
    async fn complete_sprint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The sprint and where its unfinished tasks go.")]
        input: CompleteSprintInput,
    ) -> Result<Option<Sprint>> {
        close(ctx, input).await
    }
}

/// `planTask` and `moveTaskToSprint`.
async fn plan(ctx: &Context<'_>, input: MoveTaskToSprintInput) -> Result<Option<Task>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Task(
        ctx.use_cases::<Pmo>()?
            .plan_task(
                &tenant,
                claims,
                &input.task_id,
                input.sprint_id.as_ref().map(|id| id.as_str()),
            )
            .await?,
    )))
}

/// `startSprint` and `activateSprint`.
async fn start(ctx: &Context<'_>, sprint_id: &str) -> Result<Option<Sprint>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Sprint(
        ctx.use_cases::<Pmo>()?
            .start_sprint(&tenant, claims, sprint_id)
            .await?,
    )))
}

/// `closeSprint` and `completeSprint`.
async fn close(ctx: &Context<'_>, input: CompleteSprintInput) -> Result<Option<Sprint>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Sprint(
        ctx.use_cases::<Pmo>()?
            .close_sprint(
                &tenant,
                claims,
                &input.sprint_id,
                input.carry_over_to.as_ref().map(|id| id.as_str()),
            )
            .await?,
    )))
}
