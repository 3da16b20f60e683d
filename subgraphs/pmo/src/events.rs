//! What this subgraph publishes: the domain events (topic `erp.pmo.events`, typed payloads,
//! through the store's outbox as a source of the kit's relay, [`erp_kit::events::OutboxRelay`]:
//! oldest first, stop at the first failure (order), exponential backoff, at-least-once;
//! replicas take turns through a lease), and the live notifications (the cache's pub/sub
//! channels, read by the subscriptions of `crate::app::live`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use erp_kit::events::{
    ClaimedBatch, OutboxRelay, OutboxSource, PassOutcome, PendingEvent, RelayConfig, SharedBus,
    SourceError,
};

use erp_kit::{ApiError, TenantId};

use crate::domain::timer::Timer;
use crate::domain::timesheet::EntryTimes;
use crate::store::SharedStore;

pub use crate::domain::DOMAIN;

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

/// The consumer group of the CRM's events (`erp.crm.events`) PMO acts on.
pub const CRM_GROUP: &str = "erp.pmo.crm";
/// The CRM's hand-off to projects: a won opportunity becomes one project ([`OpportunityWon`]).
pub const OPPORTUNITY_WON: &str = "opportunity.won";
/// A new CRM client: links the projects typed with its name ([`ClientCreated`]).
pub const CLIENT_CREATED: &str = "client.created";

/// What PMO reads of the CRM's `opportunity.won` (schema version 1; other fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct OpportunityWon {
    pub opportunity_id: String,
    pub name: String,
    /// The CRM `Client` the work is for.
    pub client_id: String,
    pub client_name: String,
    /// The user who owns the deal: the project's owner.
    pub owner_id: String,
    /// The deal's amount in minor units of `currency`: the project's budget.
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// ISO 4217.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A CRM client's details changed: a rename reaches the projects' typed client
/// ([`ClientUpdated`]).
pub const CLIENT_UPDATED: &str = "client.updated";
/// A CRM client was merged into another: its projects are the survivor's ([`ClientMerged`]).
pub const CLIENT_MERGED: &str = "client.merged";
/// A CRM merge was undone: the projects the merge moved are the restored client's again
/// (the payload is a [`ClientMerged`] naming the merge).
pub const CLIENT_MERGE_UNDONE: &str = "client.merge_undone";

/// What PMO reads of the CRM's `client.updated` (schema version 1; other fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ClientUpdated {
    pub client_id: String,
    pub name: String,
}

/// What PMO reads of the CRM's `client.merged` (schema version 1; other fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ClientMerged {
    pub source_client_id: String,
    pub target_client_id: String,
    /// The CRM's merge (what its undo names). Always published; a default only for events
    /// written before PMO read it.
    #[serde(default)]
    pub merge_id: String,
    /// The survivor's name (absent from merges published before it was added).
    #[serde(default)]
    pub target_client_name: Option<String>,
    /// In `client.merge_undone`: the restored client's name.
    #[serde(default)]
    pub source_client_name: Option<String>,
}

/// What PMO reads of the CRM's `client.created` (schema version 1; other fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ClientCreated {
    pub client_id: String,
    pub name: String,
}

pub fn topic() -> String {
    erp_kit::events::topic_for(DOMAIN)
}

/// Payload of `project.created` (schema version 1).
#[derive(Debug, Serialize)]
pub struct ProjectCreated<'a> {
    pub project_id: &'a str,
    pub name: &'a str,
    pub client: Option<&'a str>,
    /// The CRM client (added in schema version 1: absent for a project without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    /// The CRM opportunity it was won from (absent for a project created in PMO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<&'a str>,
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
    pub before: &'a EntryTimes,
    pub after: &'a EntryTimes,
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

fn source_error(err: ApiError) -> SourceError {
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

/// What happened, as a live notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiveKind {
    TaskCreated,
    TaskMoved,
    TimerStarted,
    TimerPaused,
    TimerResumed,
    TimerStopped,
}

/// A live notification as published on the channels: timer changes on their owner's channel,
/// task changes and timer starts and stops on their project's board channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveEvent {
    pub kind: LiveKind,
    pub tenant_id: String,
    pub project_id: String,
    pub task_id: String,
    /// Who made the change (the timer's owner for timer events).
    pub user_id: Option<String>,
    pub board_id: Option<String>,
    pub column_id: Option<String>,
    /// The timer after the change (timer events only).
    pub timer: Option<Timer>,
    /// Server time of the change.
    pub at: DateTime<Utc>,
}

impl LiveEvent {
    /// A change of a person's timer.
    pub fn of_timer(tenant: &TenantId, timer: &Timer, kind: LiveKind, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            tenant_id: tenant.as_str().to_owned(),
            project_id: timer.project_id.clone(),
            task_id: timer.task_id.clone(),
            user_id: Some(timer.user_id.clone()),
            board_id: None,
            column_id: None,
            timer: Some(timer.clone()),
            at,
        }
    }

    /// A change of a task (created, moved) made by `user_id`.
    pub fn of_task(
        tenant: &TenantId,
        kind: LiveKind,
        task: &TaskRef<'_>,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            tenant_id: tenant.as_str().to_owned(),
            project_id: task.project_id.to_owned(),
            task_id: task.task_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            board_id: task.board_id.map(str::to_owned),
            column_id: task.column_id.map(str::to_owned),
            timer: None,
            at,
        }
    }

    /// Whether the project's board shows it (pauses and resumes are a person's business).
    pub fn on_board(&self) -> bool {
        !matches!(self.kind, LiveKind::TimerPaused | LiveKind::TimerResumed)
    }
}

/// Where a task is, as a live notification names it.
pub struct TaskRef<'a> {
    pub task_id: &'a str,
    pub project_id: &'a str,
    pub board_id: Option<&'a str>,
    pub column_id: Option<&'a str>,
}

/// The pub/sub channel of a person's timer.
pub fn timer_channel(prefix: &str, tenant: &TenantId, user_id: &str) -> String {
    format!("{prefix}:live:timer:{}:{user_id}", tenant.as_str())
}

/// The pub/sub channel of a project's board.
pub fn board_channel(prefix: &str, tenant: &TenantId, project_id: &str) -> String {
    format!("{prefix}:live:project:{}:{project_id}", tenant.as_str())
}
