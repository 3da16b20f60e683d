//! Live subscriptions: a person's timer and a project's board, over the kit's WebSocket endpoint.

use async_graphql::{Context, Enum, Object, Result, Subscription as SubscriptionObject, ID};
use futures::Stream;

use erp_kit::authz::requiresScopes;
use erp_kit::scalars::DateTime;
use erp_kit::RequestContext;

use super::context::User;
use super::objects::{load_task, Task};
use super::timers::TimerState;
use crate::app::live::{BoardKind, BoardUpdate, TimerUpdate, TimerUpdateKind};
use crate::app::Pmo;

/// What happened to a person's timer.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TimerEventKind {
    /// The first event of a subscription: the timer as it is (or none).
    Snapshot,
    /// A timer was started.
    Started,
    /// The timer was paused.
    Paused,
    /// The timer was resumed.
    Resumed,
    /// The timer was stopped into a time entry (its id is the timer's).
    Stopped,
    /// Periodic while the timer runs: the elapsed time as the server counts it.
    Tick,
}

/// An event of a person's timer.
pub struct TimerEvent(pub TimerUpdate);

/// An event of a person's timer: a snapshot, a start, pause, resume or stop, or a tick.
#[Object]
impl TimerEvent {
    /// What happened.
    async fn kind(&self) -> TimerEventKind {
        match self.0.kind {
            TimerUpdateKind::Snapshot => TimerEventKind::Snapshot,
            TimerUpdateKind::Started => TimerEventKind::Started,
            TimerUpdateKind::Paused => TimerEventKind::Paused,
            TimerUpdateKind::Resumed => TimerEventKind::Resumed,
            TimerUpdateKind::Stopped => TimerEventKind::Stopped,
            TimerUpdateKind::Tick => TimerEventKind::Tick,
        }
    }

    /// The timer (also the id of the time entry it becomes); null in a snapshot without one.
    async fn timer_id(&self) -> Option<ID> {
        self.0.timer.as_ref().map(|t| ID(t.id.clone()))
    }

    /// The timer's state after the event; null once stopped or when there is no timer.
    async fn state(&self) -> Option<TimerState> {
        if self.0.kind == TimerUpdateKind::Stopped {
            return None;
        }
        self.0.timer.as_ref().map(|t| TimerState::from(t.state))
    }

    /// When the timer was first started (server time).
    async fn started_at(&self) -> Option<DateTime> {
        self.0.timer.as_ref().map(|t| t.started_at.into())
    }

    /// Seconds counted at `at`, computed on the server (paused time excluded).
    async fn elapsed_seconds(&self) -> i64 {
        self.0.elapsed_ms / 1000
    }

    /// Server time of the event.
    async fn at(&self) -> DateTime {
        self.0.at.into()
    }

    /// The task the timer runs on.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let Some(timer) = &self.0.timer else {
            return Ok(None);
        };
        load_task(ctx, &timer.task_id).await
    }
}

/// What happened on a project's board.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProjectBoardEventKind {
    /// The first event of a subscription: events flow from here (load the board once now).
    Subscribed,
    /// A task was created in the project.
    TaskCreated,
    /// A task moved to another column.
    TaskMoved,
    /// Someone started a timer on a task of the project.
    TimerStarted,
    /// Someone stopped a timer on a task of the project.
    TimerStopped,
}

/// An event of a project's board.
pub struct ProjectBoardEvent(pub BoardUpdate);

/// An event of a project's board: the subscription's start, a task created or moved, a timer
/// started or stopped on one of its tasks.
#[Object]
impl ProjectBoardEvent {
    /// What happened.
    async fn kind(&self) -> ProjectBoardEventKind {
        match &self.0 {
            BoardUpdate::Subscribed { .. } => ProjectBoardEventKind::Subscribed,
            BoardUpdate::Event { kind, .. } => match kind {
                BoardKind::TaskCreated => ProjectBoardEventKind::TaskCreated,
                BoardKind::TaskMoved => ProjectBoardEventKind::TaskMoved,
                BoardKind::TimerStarted => ProjectBoardEventKind::TimerStarted,
                BoardKind::TimerStopped => ProjectBoardEventKind::TimerStopped,
            },
        }
    }

    /// The project.
    async fn project_id(&self) -> ID {
        match &self.0 {
            BoardUpdate::Subscribed { project_id, .. } => ID(project_id.clone()),
            BoardUpdate::Event { event, .. } => ID(event.project_id.clone()),
        }
    }

    /// The task concerned (null for `SUBSCRIBED`).
    async fn task_id(&self) -> Option<ID> {
        match &self.0 {
            BoardUpdate::Subscribed { .. } => None,
            BoardUpdate::Event { event, .. } => Some(ID(event.task_id.clone())),
        }
    }

    /// The board the task is on after the event, when it is on one.
    async fn board_id(&self) -> Option<ID> {
        match &self.0 {
            BoardUpdate::Event { event, .. } => event.board_id.clone().map(ID),
            BoardUpdate::Subscribed { .. } => None,
        }
    }

    /// The column the task is in after the event, when it is in one.
    async fn column_id(&self) -> Option<ID> {
        match &self.0 {
            BoardUpdate::Event { event, .. } => event.column_id.clone().map(ID),
            BoardUpdate::Subscribed { .. } => None,
        }
    }

    /// Who made the change (the timer's owner for timer events).
    async fn user_id(&self) -> Option<ID> {
        match &self.0 {
            BoardUpdate::Event { event, .. } => event.user_id.clone().map(ID),
            BoardUpdate::Subscribed { .. } => None,
        }
    }

    /// Who made the change (resolved by the identity subgraph).
    async fn user(&self) -> Option<User> {
        match &self.0 {
            BoardUpdate::Event { event, .. } => event.user_id.as_deref().map(User::of),
            BoardUpdate::Subscribed { .. } => None,
        }
    }

    /// Server time of the event.
    async fn at(&self) -> DateTime {
        match &self.0 {
            BoardUpdate::Subscribed { at, .. } => (*at).into(),
            BoardUpdate::Event { event, .. } => event.at.into(),
        }
    }

    /// The task concerned, as it is now.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        match &self.0 {
            BoardUpdate::Event { event, .. } => load_task(ctx, &event.task_id).await,
            BoardUpdate::Subscribed { .. } => Ok(None),
        }
    }
}

#[derive(Default)]
pub struct Subscription;

/// The live streams of the API (graphql-transport-ws, or SSE): one root for every domain,
/// each subgraph adding its fields.
#[SubscriptionObject]
impl Subscription {
    /// The caller's timer: a `SNAPSHOT` first, then every start, pause, resume and stop made
    /// through any replica, and a `TICK` with the elapsed seconds while it runs. The subscriber
    /// is re-checked before every event: an expired token ends the stream (UNAUTHENTICATED).
    #[graphql(directive = requiresScopes::apply(vec![vec!["task:start".into()]]))]
    async fn my_timer(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<TimerEvent>>> {
        use futures::StreamExt;
        let identity = ctx.identity().clone();
        let stream = crate::app::live::my_timer(ctx.use_cases::<Pmo>()?, identity).await?;
        Ok(stream.map(|item| item.map(TimerEvent)))
    }

    /// A project's board: `SUBSCRIBED` first, then tasks created and moved and timers started
    /// and stopped on its tasks, from every replica. Members of the project only (NOT_FOUND for
    /// an unknown project, FORBIDDEN for a non-member); before every event the subscriber's token
    /// and membership are checked again, and the stream ends when either is gone.
    #[graphql(directive = requiresScopes::apply(vec![vec!["project:read".into()]]))]
    async fn project_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project.")] project_id: ID,
    ) -> Result<impl Stream<Item = Result<ProjectBoardEvent>>> {
        use futures::StreamExt;
        let identity = ctx.identity().clone();
        let stream =
            crate::app::live::project_board(ctx.use_cases::<Pmo>()?, identity, project_id.0)
                .await?;
        Ok(stream.map(|item| item.map(ProjectBoardEvent)))
    }
}
