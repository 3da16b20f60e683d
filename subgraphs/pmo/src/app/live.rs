//! The live streams subscribers read: a person's timer and a project's board, from the
//! notifications every change publishes on the cache's pub/sub channels
//! ([`crate::events::LiveEvent`]; Redis in production, so every replica's subscribers get every
//! event).
//!
//! The streams re-check their subscriber before every event (token expiry through
//! [`erp_kit::live::reauthorized`], project membership for project boards), so a subscriber who
//! lost access stops receiving; their items are the kit's stream results.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, Stream, StreamExt};

use erp_kit::auth::Identity;
use erp_kit::{ApiError, TenantId};

use super::Pmo;
use crate::domain::timer::{Timer, TimerState};
use crate::events::{board_channel, timer_channel, LiveEvent, LiveKind};

/// What a person's timer stream yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerUpdateKind {
    /// The state when the subscription started (first item, whether or not a timer exists).
    Snapshot,
    Started,
    Paused,
    Resumed,
    Stopped,
    /// Periodic, while the timer runs: the elapsed time as the server counts it.
    Tick,
}

/// One item of a person's timer stream.
#[derive(Debug, Clone)]
pub struct TimerUpdate {
    pub kind: TimerUpdateKind,
    /// The timer (as it was when stopped, for `Stopped`); None in a snapshot without a timer.
    pub timer: Option<Timer>,
    /// Milliseconds counted, computed on the server at `at` (paused time excluded).
    pub elapsed_ms: i64,
    pub at: DateTime<Utc>,
}

impl TimerUpdate {
    fn of(kind: TimerUpdateKind, timer: Option<Timer>, at: DateTime<Utc>) -> Self {
        let elapsed_ms = timer.as_ref().map_or(0, |t| t.elapsed_ms(at));
        Self {
            kind,
            timer,
            elapsed_ms,
            at,
        }
    }
}

/// What a project board shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardKind {
    TaskCreated,
    TaskMoved,
    TimerStarted,
    TimerStopped,
}

impl BoardKind {
    /// Pauses and resumes are a person's business, not the board's.
    pub fn of(kind: LiveKind) -> Option<Self> {
        match kind {
            LiveKind::TaskCreated => Some(BoardKind::TaskCreated),
            LiveKind::TaskMoved => Some(BoardKind::TaskMoved),
            LiveKind::TimerStarted => Some(BoardKind::TimerStarted),
            LiveKind::TimerStopped => Some(BoardKind::TimerStopped),
            LiveKind::TimerPaused | LiveKind::TimerResumed => None,
        }
    }
}

/// What a project board stream yields.
#[derive(Debug, Clone)]
pub enum BoardUpdate {
    /// First item: the stream is live from here (load the board once, then apply events).
    Subscribed {
        project_id: String,
        at: DateTime<Utc>,
    },
    Event {
        kind: BoardKind,
        event: Box<LiveEvent>,
    },
}

/// Folds one published timer event into the timer the subscriber knows.
fn apply(event: &LiveEvent) -> Option<(TimerUpdateKind, Option<Timer>)> {
    let timer = event.timer.clone();
    let kind = match event.kind {
        LiveKind::TimerStarted => TimerUpdateKind::Started,
        LiveKind::TimerPaused => TimerUpdateKind::Paused,
        LiveKind::TimerResumed => TimerUpdateKind::Resumed,
        LiveKind::TimerStopped => TimerUpdateKind::Stopped,
        LiveKind::TaskCreated | LiveKind::TaskMoved => return None,
    };
    Some((kind, timer))
}

/// A person's timer: a snapshot, then every change from any replica, and a tick every `tick`
/// while it runs. Pure over its inputs (`messages` is the channel, `current` the timer read
/// after subscribing, so nothing published in between is missed).
pub fn timer_updates(
    messages: BoxStream<'static, Vec<u8>>,
    current: Option<Timer>,
    tick: Duration,
) -> BoxStream<'static, TimerUpdate> {
    let snapshot = TimerUpdate::of(TimerUpdateKind::Snapshot, current.clone(), Utc::now());
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let changes = futures::stream::unfold(
        (messages, current, interval),
        |(mut messages, mut current, mut interval)| async move {
            loop {
                let running = current
                    .as_ref()
                    .is_some_and(|t| t.state == TimerState::Running);
                tokio::select! {
                    message = messages.next() => {
                        let message = message?;
                        let Some(event) = serde_json::from_slice::<LiveEvent>(&message).ok() else {
                            continue;
                        };
                        let Some((kind, timer)) = apply(&event) else { continue };
                        let update = TimerUpdate::of(kind, timer.clone(), event.at);
                        current = if kind == TimerUpdateKind::Stopped { None } else { timer };
                        if kind == TimerUpdateKind::Resumed || kind == TimerUpdateKind::Started {
                            interval.reset();
                        }
                        return Some((update, (messages, current, interval)));
                    }
                    _ = interval.tick(), if running => {
                        let update = TimerUpdate::of(TimerUpdateKind::Tick, current.clone(), Utc::now());
                        return Some((update, (messages, current, interval)));
                    }
                }
            }
        },
    );
    futures::stream::once(async move { snapshot })
        .chain(changes)
        .boxed()
}

/// Ends a stream right after its first error (which is still delivered), without waiting for
/// another item of the inner stream.
pub fn until_error<T, S>(stream: S) -> impl Stream<Item = async_graphql::Result<T>> + Send
where
    T: Send,
    S: Stream<Item = async_graphql::Result<T>> + Send + Unpin,
{
    futures::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        let item = stream.next().await?;
        let failed = item.is_err();
        Some((item, (!failed).then_some(stream)))
    })
}

/// The caller's timer stream, re-authorised before every item (an expired token ends it).
pub async fn my_timer(
    pmo: &Pmo,
    identity: Identity,
) -> Result<impl Stream<Item = async_graphql::Result<TimerUpdate>> + Send + 'static, ApiError> {
    let claims = identity.claims().ok_or(ApiError::Unauthenticated)?;
    let tenant = TenantId::from_claim(&claims.tenant_id);
    let messages = pmo
        .timers
        .cache()
        .subscribe(&timer_channel(pmo.timers.prefix(), &tenant, &claims.sub))
        .await
        .map_err(ApiError::internal)?;
    let current = pmo.timers.get(&tenant, &claims.sub).await?;
    let updates = timer_updates(messages, current, pmo.options.timer_tick);
    Ok(until_error(Box::pin(erp_kit::live::reauthorized(
        identity, updates,
    ))))
}

/// A project's board stream for a member of the project. Before every event the subscriber's
/// token expiry and membership are checked again: a member removed from the project gets
/// FORBIDDEN and the stream ends.
pub async fn project_board(
    pmo: &Pmo,
    identity: Identity,
    project_id: String,
) -> Result<impl Stream<Item = async_graphql::Result<BoardUpdate>> + Send + 'static, ApiError> {
    let claims = identity.claims().ok_or(ApiError::Unauthenticated)?.clone();
    let tenant = TenantId::from_claim(&claims.tenant_id);
    let member_check = {
        let pmo = pmo.clone();
        let tenant = tenant.clone();
        let project_id = project_id.clone();
        let user = claims.sub.clone();
        move || {
            let pmo = pmo.clone();
            let tenant = tenant.clone();
            let project_id = project_id.clone();
            let user = user.clone();
            async move { pmo.check_member(&tenant, &project_id, &user).await }
        }
    };
    member_check().await?;
    let messages = pmo
        .timers
        .cache()
        .subscribe(&board_channel(pmo.timers.prefix(), &tenant, &project_id))
        .await
        .map_err(ApiError::internal)?;
    let events = messages
        .filter_map(|raw| async move {
            let event = serde_json::from_slice::<LiveEvent>(&raw).ok()?;
            BoardKind::of(event.kind).map(|kind| (kind, event))
        })
        .then(move |(kind, event)| {
            let check = member_check();
            async move {
                check
                    .await
                    .map(|()| BoardUpdate::Event {
                        kind,
                        event: Box::new(event),
                    })
                    .map_err(async_graphql::Error::from)
            }
        });
    let first = BoardUpdate::Subscribed {
        project_id,
        at: Utc::now(),
    };
    let updates = futures::stream::once(async move { Ok(first) })
        .chain(events)
        .boxed();
    let checked = erp_kit::live::reauthorized(identity, updates).map(|item| item.and_then(|i| i));
    Ok(until_error(Box::pin(checked)))
}
