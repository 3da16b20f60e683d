//! Sprints in GraphQL: planning, starting and closing sprints.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::RequestContext;

use super::context::pmo;
use super::loaders::SprintLoader;
use super::projects::{load_project, Project};
use super::tasks::{list_tasks, load_tasks, Task, TaskFilterInput};
use crate::app::sprints::NewSprint;
use crate::domain::sprint::{parse_dates, SprintState as SprintStateModel};
use crate::domain::{optional_text, Name};
use crate::store::SprintDoc;

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
        load_project(ctx, &self.0.project_id).await
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
