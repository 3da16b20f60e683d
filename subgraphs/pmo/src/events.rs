//! The domain events this subgraph publishes (topic `erp.pmo.events`), and the store's outbox
//! as a source of the kit's relay ([`erp_kit::events::OutboxRelay`]): oldest first, stop at the
//! first failure (order), exponential backoff, at-least-once; replicas take turns through a
//! lease.

use serde::Serialize;

use erp_kit::events::{
    ClaimedBatch, OutboxRelay, OutboxSource, PassOutcome, PendingEvent, RelayConfig, SharedBus,
    SourceError,
};

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

pub use erp_kit::events::{RelayHandle, Wake};

/// The store's outbox (`pmo_outbox` in MongoDB, or the embedded store's events) as a source of
/// the kit's relay. Replicas take turns through a lease, so one relay publishes at a time and
/// events stay in order.
pub struct PmoOutbox(pub SharedStore);

/// One pass's events, read from the store.
pub struct PmoBatch {
    store: SharedStore,
    events: Vec<PendingEvent>,
}

fn source_error(err: PmoError) -> SourceError {
    SourceError(format!("{err:?}"))
}

#[async_trait::async_trait]
impl ClaimedBatch for PmoBatch {
    fn events(&self) -> &[PendingEvent] {
        &self.events
    }

    async fn finish(self, outcome: &PassOutcome) -> Result<(), SourceError> {
        if !outcome.published.is_empty() {
            self.store
                .mark_published(&outcome.published)
                .await
                .map_err(source_error)?;
        }
        for (id, error, next_attempt_at) in &outcome.failed {
            self.store
                .record_failure(id, error, *next_attempt_at)
                .await
                .map_err(source_error)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutboxSource for PmoOutbox {
    type Batch = PmoBatch;

    async fn claim(&self, limit: u64) -> Result<PmoBatch, SourceError> {
        let pending = self.0.pending_events(limit).await.map_err(source_error)?;
        Ok(PmoBatch {
            store: self.0.clone(),
            events: pending
                .into_iter()
                .map(|row| PendingEvent {
                    id: row.id,
                    topic: row.topic,
                    envelope: row.envelope,
                    attempts: row.attempts,
                    next_attempt_at: row.next_attempt_at,
                })
                .collect(),
        })
    }

    async fn lease(&self, owner: &str, until: i64, now: i64) -> Result<bool, SourceError> {
        self.0
            .lease_relay(owner, until, now)
            .await
            .map_err(source_error)
    }

    fn leased(&self) -> bool {
        true
    }

    async fn purge_published(&self, before: i64) -> Result<(), SourceError> {
        self.0.purge_published(before).await.map_err(source_error)
    }

    fn name(&self) -> &str {
        "pmo_outbox"
    }
}

/// The relay publishing the store's pending events to the bus.
pub fn relay(
    store: SharedStore,
    bus: SharedBus,
    config: RelayConfig,
    wake: Wake,
) -> OutboxRelay<PmoOutbox> {
    OutboxRelay::over(PmoOutbox(store), bus, config, wake)
}
