//! The domain events this subgraph publishes (topic `erp.pmo.events`), and the relay that
//! publishes them from the `pmo_outbox` collection to the bus.
//!
//! The kit's [`erp_kit::events::OutboxRelay`] reads a SQL table through sea-orm, so it cannot read
//! a MongoDB collection; this relay follows the same contract over [`PmoStore`]: oldest first,
//! stop at the first failure (order), exponential backoff from `RelayConfig`, at-least-once.
//! Replicas share the collection through a lease, so one relay publishes at a time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Notify};

use erp_kit::events::{EventEnvelope, RelayConfig, SharedBus};

use crate::store::{PmoError, SharedStore};

pub const DOMAIN: &str = "pmo";

pub const PROJECT_CREATED: &str = "project.created";
pub const TASK_CREATED: &str = "task.created";
pub const TASK_MOVED: &str = "task.moved";
pub const TIMER_STARTED: &str = "timer.started";
pub const TIMER_STOPPED: &str = "timer.stopped";
pub const SPRINT_STARTED: &str = "sprint.started";
pub const SPRINT_CLOSED: &str = "sprint.closed";
pub const TIMESHEET_SUBMITTED: &str = "timesheet.submitted";
pub const TIMESHEET_APPROVED: &str = "timesheet.approved";
pub const TIMESHEET_REJECTED: &str = "timesheet.rejected";
pub const TIME_ENTRY_EDITED: &str = "time_entry.edited";

pub fn topic() -> String {
    erp_kit::events::topic_for(DOMAIN)
}

/// Payload of `project.created` (schema version 1).
#[derive(Debug, Serialize)]
pub struct ProjectCreated<'a> {
    pub project_id: &'a str,
    pub name: &'a str,
    pub client: Option<&'a str>,
    pub billable: bool,
}

/// Payload of `task.created` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TaskCreated<'a> {
    pub task_id: &'a str,
    pub project_id: &'a str,
    pub title: &'a str,
    pub column_id: Option<&'a str>,
    pub assignee_ids: &'a [String],
}

/// Payload of `task.moved` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TaskMoved<'a> {
    pub task_id: &'a str,
    pub project_id: &'a str,
    pub board_id: &'a str,
    pub from_column_id: Option<&'a str>,
    pub to_column_id: &'a str,
}

/// Payload of `timer.started` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TimerStarted<'a> {
    pub timer_id: &'a str,
    pub user_id: &'a str,
    pub task_id: &'a str,
    pub project_id: &'a str,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Payload of `timer.stopped` (schema version 1): what finance invoices from.
#[derive(Debug, Serialize)]
pub struct TimerStopped<'a> {
    pub timer_id: &'a str,
    pub time_entry_id: &'a str,
    pub user_id: &'a str,
    pub task_id: &'a str,
    pub project_id: &'a str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub duration_seconds: i64,
    pub billable: bool,
}

/// Payload of `sprint.started` (schema version 1).
#[derive(Debug, Serialize)]
pub struct SprintStarted<'a> {
    pub sprint_id: &'a str,
    pub project_id: &'a str,
    pub name: &'a str,
}

/// Payload of `sprint.closed` (schema version 1).
#[derive(Debug, Serialize)]
pub struct SprintClosed<'a> {
    pub sprint_id: &'a str,
    pub project_id: &'a str,
    pub completed_task_ids: &'a [String],
    pub carried_over_task_ids: &'a [String],
    /// None: the unfinished tasks went back to the backlog.
    pub carried_over_to: Option<&'a str>,
}

/// Hours of one project in a timesheet event.
#[derive(Debug, Serialize)]
pub struct ProjectHoursPayload<'a> {
    pub project_id: &'a str,
    pub billable_hours: f64,
    pub non_billable_hours: f64,
    pub billable_seconds: i64,
    pub non_billable_seconds: i64,
}

/// Payload of `timesheet.submitted`, `timesheet.approved` and `timesheet.rejected` (schema
/// version 1): what finance invoices from (billable hours per project of an approved week).
#[derive(Debug, Serialize)]
pub struct TimesheetDecided<'a> {
    pub timesheet_id: &'a str,
    pub user_id: &'a str,
    /// ISO week, e.g. 2026-W02 (UTC days).
    pub week: &'a str,
    /// Who approved or rejected it (None for a submission).
    pub decided_by: Option<&'a str>,
    pub rejection_reason: Option<&'a str>,
    pub time_entry_ids: &'a [String],
    pub projects: Vec<ProjectHoursPayload<'a>>,
}

/// Payload of `time_entry.edited` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TimeEntryEdited<'a> {
    pub time_entry_id: &'a str,
    pub user_id: &'a str,
    pub edited_by: &'a str,
    pub before: &'a crate::store::EntryTimes,
    pub after: &'a crate::store::EntryTimes,
}

/// Wakes the relay after a commit.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Stops the relay when dropped or when [`RelayHandle::shutdown`] is called.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RelayHandle {
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

enum Pass {
    Drained,
    More,
    Backoff(Duration),
    /// Another replica holds the lease.
    NotLeader,
}

/// Publishes the store's pending events to the bus.
pub struct MongoOutboxRelay {
    store: SharedStore,
    bus: SharedBus,
    config: RelayConfig,
    wake: Wake,
    owner: String,
    /// Until when (ms since the epoch) this relay's lease runs, as it last wrote it (0: not
    /// held).
    leased_until: AtomicI64,
}

impl MongoOutboxRelay {
    pub fn new(store: SharedStore, bus: SharedBus, config: RelayConfig, wake: Wake) -> Self {
        Self {
            store,
            bus,
            config,
            wake,
            owner: uuid::Uuid::new_v4().to_string(),
            leased_until: AtomicI64::new(0),
        }
    }

    pub fn spawn(self) -> RelayHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let wait = match self.pass().await {
                    Ok(Pass::More) => Duration::ZERO,
                    Ok(Pass::Drained) => self.config.poll_interval,
                    Ok(Pass::Backoff(backoff)) => backoff,
                    Ok(Pass::NotLeader) => self.lease_length() / 2,
                    Err(err) => {
                        tracing::warn!(error = ?err, "pmo outbox relay pass failed");
                        self.config.max_backoff.min(Duration::from_secs(2))
                    }
                };
                if *stopped.borrow() {
                    break;
                }
                if wait.is_zero() {
                    continue;
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = self.wake.0.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
        });
        RelayHandle {
            stop,
            task: Some(task),
        }
    }

    fn lease_length(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(1, 16) as u32 - 1);
        (self.config.min_backoff * factor).min(self.config.max_backoff)
    }

    /// Whether this relay holds the lease for at least half its length more, renewing it (one
    /// write) only when less is left: a busy relay passes many times a second, and the lease
    /// must not cost a write each time.
    async fn hold_lease(&self) -> Result<bool, PmoError> {
        let now = chrono::Utc::now().timestamp_millis();
        let length = self.lease_length().as_millis() as i64;
        if now + length / 2 < self.leased_until.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let until = now + length;
        let held = self.store.lease_relay(&self.owner, until, now).await?;
        self.leased_until
            .store(if held { until } else { 0 }, Ordering::Relaxed);
        Ok(held)
    }

    async fn pass(&self) -> Result<Pass, PmoError> {
        if !self.hold_lease().await? {
            return Ok(Pass::NotLeader);
        }
        let pending = self.store.pending_events(self.config.batch_size).await?;
        if pending.is_empty() {
            return Ok(Pass::Drained);
        }
        let full = pending.len() as u64 == self.config.batch_size;
        let mut published = Vec::new();
        let outcome = self.publish(pending, &mut published).await;
        // One write marks the pass's published events, also when the pass stopped early; if it
        // fails they are published again (at least once, as ever).
        self.store.mark_published(&published).await?;
        match outcome? {
            Some(stopped) => Ok(stopped),
            None if full => Ok(Pass::More),
            None => Ok(Pass::Drained),
        }
    }

    /// Publishes the rows in order until one cannot be, collecting the published ids; the
    /// pass to answer when it stopped early.
    async fn publish(
        &self,
        pending: Vec<crate::store::PendingEvent>,
        published: &mut Vec<String>,
    ) -> Result<Option<Pass>, PmoError> {
        for row in pending {
            if row.next_attempt_at == i64::MAX {
                continue; // parked
            }
            let event: EventEnvelope = match serde_json::from_str(&row.envelope) {
                Ok(event) => event,
                Err(err) => {
                    // A row we wrote ourselves and cannot read is a bug: park it, do not block.
                    tracing::error!(id = %row.id, error = %err, "undecodable outbox event parked");
                    self.store
                        .record_failure(&row.id, &err.to_string(), i64::MAX)
                        .await?;
                    continue;
                }
            };
            let now = chrono::Utc::now().timestamp_millis();
            if row.next_attempt_at > now {
                return Ok(Some(Pass::Backoff(Duration::from_millis(
                    (row.next_attempt_at - now) as u64,
                ))));
            }
            match self.bus.publish(&row.topic, &event).await {
                Ok(()) => published.push(row.id),
                Err(err) => {
                    let backoff = self.backoff(row.attempts + 1);
                    tracing::warn!(id = %row.id, error = %err, "event publish failed, will retry");
                    self.store
                        .record_failure(&row.id, &err.to_string(), now + backoff.as_millis() as i64)
                        .await?;
                    return Ok(Some(Pass::Backoff(backoff)));
                }
            }
        }
        Ok(None)
    }
}
