//! Timers in GraphQL: a person's live timer; starting, pausing, resuming and stopping it.

use async_graphql::{Context, Enum, InputObject, Object, Result, ID};
use chrono::Utc;

use erp_kit::authz::authenticated;
use erp_kit::scalars::DateTime;
use erp_kit::RequestContext;

use super::context::User;
use super::objects::{load_task, Task};
use super::timesheets::TimeEntry;
use crate::app::Pmo;
use crate::domain::timer::{Timer as TimerModel, TimerState as TimerStateModel};

/// Whether a timer is counting.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TimerStateModel")]
pub enum TimerState {
    /// Counting.
    Running,
    /// Paused: not counting until resumed.
    Paused,
}

/// A person's timer (at most one per person); elapsed time is computed on the server.
pub struct Timer(pub TimerModel);

/// A person's timer on a task (at most one per person); elapsed time is computed on the
/// server. Stopped, it becomes a time entry with the same id.
#[Object(requires_scopes = "task:start")]
impl Timer {
    /// Stable id (also the id of the time entry it becomes).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Whose timer (their user id).
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    /// Whose timer (resolved by the identity subgraph).
    async fn user(&self) -> User {
        User::of(&self.0.user_id)
    }

    /// Whether it is counting.
    async fn state(&self) -> TimerState {
        self.0.state.into()
    }

    /// When the timer was first started (server time).
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }

    /// Seconds counted so far (paused time excluded).
    async fn elapsed_seconds(&self) -> i64 {
        self.0.elapsed_ms(Utc::now()) / 1000
    }

    /// The task it runs on.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        load_task(ctx, &self.0.task_id).await
    }
}

/// A timer to start (`startTaskTimer`).
#[derive(InputObject)]
pub struct StartTaskTimerInput {
    /// The task (of a project the caller is a member of).
    pub task_id: ID,
}

/// The caller's timer.
#[derive(Default)]
pub struct TimerQuery;

#[Object]
impl TimerQuery {
    /// The caller's timer, running or paused.
    #[graphql(directive = authenticated::apply())]
    async fn my_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(ctx
            .use_cases::<Pmo>()?
            .timer(&tenant, &claims.sub)
            .await?
            .map(Timer))
    }
}

/// Changes to the caller's timer.
#[derive(Default)]
pub struct TimerMutation;

#[Object]
impl TimerMutation {
    /// Starts the caller's timer on a task (CONFLICT, reason TIMER_ALREADY_RUNNING, when they
    /// have one; reason TIMESHEET_LOCKED when their timesheet of this week is submitted or
    /// approved). Publishes `timer.started`.
    #[graphql(
        requires_scopes = "task:start",
        deprecation = "use `startTaskTimer` (one input)"
    )]
    async fn start_timer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] task_id: ID,
    ) -> Result<Option<Timer>> {
        start(ctx, &task_id).await
    }

    /// Starts the caller's timer on a task (CONFLICT, reason TIMER_ALREADY_RUNNING, when they
    /// have one; reason TIMESHEET_LOCKED when their timesheet of this week is submitted or
    /// approved). Publishes `timer.started`.
    #[graphql(requires_scopes = "task:start")]
    async fn start_task_timer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] input: StartTaskTimerInput,
    ) -> Result<Option<Timer>> {
        start(ctx, &input.task_id).await
    }

    /// Pauses the caller's running timer.
    #[graphql(requires_scopes = "task:start")]
    async fn pause_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Timer(
            ctx.use_cases::<Pmo>()?.pause_timer(&tenant, claims).await?,
        )))
    }

    /// Resumes the caller's paused timer.
    #[graphql(requires_scopes = "task:start")]
    async fn resume_timer(&self, ctx: &Context<'_>) -> Result<Option<Timer>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(Timer(
            ctx.use_cases::<Pmo>()?
                .resume_timer(&tenant, claims)
                .await?,
        )))
    }

    /// Stops the caller's timer into a time entry of the week it started in (someone else's:
    /// FORBIDDEN; CONFLICT, reason TIMESHEET_LOCKED, while that week is submitted or approved:
    /// the timer then keeps running until the week is rejected). Publishes `timer.stopped`.
    #[graphql(requires_scopes = "task:start")]
    async fn stop_timer(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Whose timer: only the caller's own is stopped (anyone else's: FORBIDDEN).",
            deprecation = "leave it out: the caller's timer is stopped"
        )]
        user_id: Option<ID>,
    ) -> Result<Option<TimeEntry>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(TimeEntry(
            ctx.use_cases::<Pmo>()?
                .stop_timer(&tenant, claims, user_id.as_ref().map(|id| id.as_str()))
                .await?,
        )))
    }
}

/// `startTimer` and `startTaskTimer`.
async fn start(ctx: &Context<'_>, task_id: &str) -> Result<Option<Timer>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Timer(
        ctx.use_cases::<Pmo>()?
            .start_timer(&tenant, claims, task_id)
            .await?,
    )))
}
