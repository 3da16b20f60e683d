//! Live timers: at most one per person, in the cache (so it survives restarts); a stopped
//! timer becomes a time entry of the week it started in. Timers and locked weeks follow
//! `crate::domain::timer`: a start claims the timer, then touches its week (refused, and the
//! timer taken back, when the week is locked); a stop writes its entry with the touch.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::project::{require_role, ProjectRole};
use crate::domain::timer::{check_own_timer, timer_week, week_locked, IsoWeek, Timer};
use crate::domain::PmoRule;
use crate::events::{self, board_channel, timer_channel, LiveEvent, LiveKind};
use crate::store::timers::WeekTouch;
use crate::store::{EntryWrite, TimeEntryDoc};
use erp_kit::events::EventEnvelope;

impl Pmo {
    /// The person's timer, running or paused.
    pub async fn timer(&self, tenant: &TenantId, user_id: &str) -> ApiResult<Option<Timer>> {
        self.timers.get(tenant, user_id).await
    }

    /// Starts the caller's timer on a task (contributors and up; server time); CONFLICT when
    /// they already have one (TIMER_ALREADY_RUNNING) or when this week of theirs is submitted
    /// or approved (TIMESHEET_LOCKED). Publishes `timer.started`.
    pub async fn start_timer(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
    ) -> ApiResult<Timer> {
        // One round trip for the task and its project (membership, billable).
        let task = self
            .timer_starts
            .task_to_time(tenant, task_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        let project = task
            .project
            .as_ref()
            .ok_or_else(|| ApiError::NotFound("project".into()))?;
        require_role(
            project.role_of(&caller.sub),
            ProjectRole::can_contribute,
            "track time",
        )?;
        let timer = Timer::start(
            tenant.as_str(),
            &caller.sub,
            &task.task_id,
            &task.project_id,
            project.billable,
            Utc::now(),
        );
        // The timer is claimed before its week is touched: a submission that reads the week
        // after the touch then finds the timer (see domain::timer).
        if !self.timers.create(tenant, &timer).await? {
            return Err(PmoRule::TimerAlreadyRunning.into());
        }
        let event = EventEnvelope::by_actor(
            tenant,
            events::TIMER_STARTED,
            &timer.id,
            &caller.sub,
            events::TimerStarted {
                timer_id: &timer.id,
                user_id: &timer.user_id,
                task_id: &timer.task_id,
                project_id: &timer.project_id,
                started_at: timer.started_at,
            },
        )?;
        // The timer lives in the cache, its week and event in the store: when they cannot be
        // recorded (a locked week among others) the timer is taken back, so no timer runs
        // without them.
        let week = timer_week(&timer);
        let refused = match self
            .timer_starts
            .record_timer_start(tenant, &caller.sub, week, &event)
            .await
        {
            Ok(WeekTouch::Touched) => None,
            Ok(WeekTouch::Locked(state)) => Some(week_locked(week, state).into()),
            Err(err) => Some(err),
        };
        if let Some(refused) = refused {
            if let Err(undo) = self.timers.remove(tenant, &caller.sub).await {
                tracing::error!(error = ?undo, "could not take back a timer without its event");
            }
            return Err(refused);
        }
        self.wake.wake();
        self.publish_timer(
            tenant,
            &LiveEvent::of_timer(tenant, &timer, LiveKind::TimerStarted, timer.started_at),
        )
        .await;
        Ok(timer)
    }

    async fn own_timer(&self, tenant: &TenantId, caller: &Claims) -> ApiResult<Timer> {
        self.timers
            .get(tenant, &caller.sub)
            .await?
            .ok_or_else(|| ApiError::NotFound("running timer".into()))
    }

    /// Pauses the caller's running timer.
    pub async fn pause_timer(&self, tenant: &TenantId, caller: &Claims) -> ApiResult<Timer> {
        let now = Utc::now();
        let timer = self.own_timer(tenant, caller).await?.pause(now)?;
        self.timers.replace(tenant, &timer).await?;
        self.publish_timer(
            tenant,
            &LiveEvent::of_timer(tenant, &timer, LiveKind::TimerPaused, now),
        )
        .await;
        Ok(timer)
    }

    /// Resumes the caller's paused timer.
    pub async fn resume_timer(&self, tenant: &TenantId, caller: &Claims) -> ApiResult<Timer> {
        let now = Utc::now();
        let timer = self.own_timer(tenant, caller).await?.resume(now)?;
        self.timers.replace(tenant, &timer).await?;
        self.publish_timer(
            tenant,
            &LiveEvent::of_timer(tenant, &timer, LiveKind::TimerResumed, now),
        )
        .await;
        Ok(timer)
    }

    /// Stops the caller's timer into a time entry of the week it started in. Someone else's
    /// timer is FORBIDDEN; into a submitted or approved week it is TIMESHEET_LOCKED and the timer
    /// stays as it was (see domain::timer). Publishes `timer.stopped`.
    pub async fn stop_timer(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        user_id: Option<&str>,
    ) -> ApiResult<TimeEntryDoc> {
        if let Some(owner) = user_id {
            check_own_timer(owner, &caller.sub)?;
        }
        let timer = self.own_timer(tenant, caller).await?;
        let ended_at = Utc::now();
        let entry = TimeEntryDoc {
            id: timer.id.clone(),
            tenant_id: tenant.as_str().to_owned(),
            user_id: timer.user_id.clone(),
            task_id: timer.task_id.clone(),
            project_id: timer.project_id.clone(),
            started_at: timer.started_at,
            ended_at,
            duration_seconds: timer.elapsed_ms(ended_at) / 1000,
            billable: timer.billable,
        };
        let event = EventEnvelope::by_actor(
            tenant,
            events::TIMER_STOPPED,
            &timer.id,
            &caller.sub,
            events::TimerStopped {
                timer_id: &timer.id,
                time_entry_id: &entry.id,
                user_id: &entry.user_id,
                task_id: &entry.task_id,
                project_id: &entry.project_id,
                started_at: entry.started_at,
                ended_at,
                duration_seconds: entry.duration_seconds,
                billable: entry.billable,
            },
        )?;
        // The entry's id is the timer's: a stop repeated after a failure records nothing twice.
        // Until the entry is recorded the timer stays in the cache, so a refused or failed stop
        // loses nothing.
        let written = self.store.insert_time_entry(tenant, &entry, &event).await?;
        if let EntryWrite::WeekLocked(state) = written {
            return Err(week_locked(IsoWeek::of_time(entry.started_at), state).into());
        }
        self.timers.remove(tenant, &caller.sub).await?;
        self.wake();
        self.publish_timer(
            tenant,
            &LiveEvent::of_timer(tenant, &timer, LiveKind::TimerStopped, ended_at),
        )
        .await;
        match written {
            EntryWrite::AlreadyRecorded => self
                .store
                .time_entry(tenant, &entry.id)
                .await?
                .ok_or_else(|| ApiError::internal("stopped timer entry missing")),
            _ => Ok(entry),
        }
    }
}

/// Live notifications (the board shows running timers, so a timer change goes to its board
/// too): published on the cache's pub/sub, best effort.
impl Pmo {
    /// A timer change to its owner's channel, and to its project's board when the board shows
    /// it.
    pub(super) async fn publish_timer(&self, tenant: &TenantId, event: &LiveEvent) {
        let Some(timer) = &event.timer else {
            return;
        };
        let channel = timer_channel(self.timers.prefix(), tenant, &timer.user_id);
        self.publish(&channel, event).await;
        if event.on_board() {
            self.publish_board(tenant, event).await;
        }
    }

    /// A live notification to the project's board.
    pub(super) async fn publish_board(&self, tenant: &TenantId, event: &LiveEvent) {
        let channel = board_channel(self.timers.prefix(), tenant, &event.project_id);
        self.publish(&channel, event).await;
    }

    /// Live notifications are best effort: a failed publish never fails the change.
    async fn publish(&self, channel: &str, event: &LiveEvent) {
        let Ok(raw) = serde_json::to_vec(event) else {
            return;
        };
        if let Err(err) = self.timers.cache().publish(channel, &raw).await {
            tracing::warn!(error = %err, channel, "live notification not published");
        }
    }
}
