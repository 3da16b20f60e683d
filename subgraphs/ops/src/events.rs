//! What this subgraph publishes (topic `erp.ops.events`, typed payloads) through the store's
//! outbox as a source of the kit's relay ([`erp_kit::events::OutboxRelay`]: oldest first, stop
//! at the first failure, exponential backoff, at-least-once; replicas take turns through a
//! lease). Finance consumes `po.approved`, `grn.received`, `asset.depreciation.posted` and
//! `asset.disposed` (domains.md section 7).

use serde::Serialize;

use erp_kit::events::{
    ClaimedBatch, OutboxRelay, OutboxSource, PassOutcome, PendingEvent, RelayConfig, SharedBus,
    SourceError,
};
use erp_kit::ApiError;

use crate::store::SharedStore;

pub use crate::domain::DOMAIN;
pub use erp_kit::events::{RelayHandle, Wake};

pub const ASSET_REGISTERED: &str = "asset.registered";
pub const ASSET_MOVED: &str = "asset.moved";
pub const ASSET_DEPRECIATION_POSTED: &str = "asset.depreciation.posted";
pub const ASSET_REVALUED: &str = "asset.revalued";
pub const ASSET_DISPOSED: &str = "asset.disposed";
pub const REQUISITION_SUBMITTED: &str = "requisition.submitted";
pub const REQUISITION_DECIDED: &str = "requisition.decided";
pub const PO_APPROVED: &str = "po.approved";
pub const PO_CANCELLED: &str = "po.cancelled";
pub const GRN_RECEIVED: &str = "grn.received";
pub const TICKET_CREATED: &str = "ticket.created";
pub const TICKET_REPLIED: &str = "ticket.replied";
pub const TICKET_STATUS_CHANGED: &str = "ticket.status_changed";
pub const TICKET_MERGED: &str = "ticket.merged";
/// Replies of a ticket moved to a new ticket split from it; payload [`TicketSplit`] (the new
/// ticket's own `ticket.created` follows in the same commit).
pub const TICKET_SPLIT: &str = "ticket.split";
/// A ticket's priority changed (by a macro); payload [`TicketChanged`].
pub const TICKET_PRIORITY_CHANGED: &str = "ticket.priority_changed";
/// An agent added an internal note (by a macro); payload [`TicketChanged`].
pub const TICKET_NOTED: &str = "ticket.noted";
pub const SLA_BREACHED: &str = "sla.breached";
/// A helpdesk macro was defined, changed or deleted (by a helpdesk admin: the record of who
/// did what); payload [`TicketMacroChanged`].
pub const TICKET_MACRO_DEFINED: &str = "ticket_macro.defined";
pub const TICKET_MACRO_UPDATED: &str = "ticket_macro.updated";
pub const TICKET_MACRO_DELETED: &str = "ticket_macro.deleted";
/// A ticket was routed to an agent, reassigned, or handed back to its queue; payload
/// [`TicketAssigned`].
pub const TICKET_ASSIGNED: &str = "ticket.assigned";
/// An asset's holder left the company: it is due back; payload [`AssetReturnDue`].
pub const ASSET_RETURN_DUE: &str = "asset.return_due";

/// The consumer group that takes the employee subgraph's exits (asset returns, tickets back
/// to their queues).
pub const EMPLOYEE_GROUP: &str = "erp.ops.employee";
/// The employee subgraph's exit in effect.
pub const EMPLOYEE_LEFT: &str = "employee.left";

/// `employee.left` as operations reads it (fields it does not use are ignored).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EmployeeLeft {
    pub employee_id: String,
    /// The user they signed in as (what assets are checked out to and tickets assigned to).
    #[serde(default)]
    pub user_id: Option<String>,
    pub last_working_day: chrono::NaiveDate,
}

/// Payload of `ticket.assigned` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TicketAssigned<'a> {
    pub ticket_id: &'a str,
    pub queue_id: Option<&'a str>,
    pub team_id: Option<&'a str>,
    /// None: back in its queue, unassigned.
    pub assignee_id: Option<&'a str>,
    pub previous_assignee_id: Option<&'a str>,
    /// `routed` (on arrival), `reassigned` (by an agent) or `employee.left`.
    pub because: &'a str,
}

/// Payload of `asset.return_due` (schema version 1).
#[derive(Debug, Serialize)]
pub struct AssetReturnDue<'a> {
    pub asset_id: &'a str,
    pub tag: &'a str,
    pub employee_id: &'a str,
    pub user_id: &'a str,
    pub last_working_day: chrono::NaiveDate,
}

pub fn topic() -> String {
    erp_kit::events::topic_for(DOMAIN)
}

/// Payload of `asset.registered` (schema version 1).
#[derive(Debug, Serialize)]
pub struct AssetRegistered<'a> {
    pub asset_id: &'a str,
    pub tag: &'a str,
    pub currency: &'a str,
    pub cost_minor: i64,
}

/// Payload of `asset.moved` (schema version 1): a check-out, acceptance, check-in, repair,
/// retirement or audit, as the history records it.
#[derive(Debug, Serialize)]
pub struct AssetMoved<'a> {
    pub asset_id: &'a str,
    pub movement: &'a crate::domain::asset::Movement,
}

/// Payload of `asset.depreciation.posted` (schema version 1): one journal entry for finance
/// (debit depreciation expense, credit accumulated depreciation), idempotent on
/// (asset_id, period_index).
#[derive(Debug, Serialize)]
pub struct DepreciationPosted<'a> {
    pub asset_id: &'a str,
    pub period_index: u32,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub currency: &'a str,
    pub amount_minor: i64,
    pub book_value_minor: i64,
}

/// Payload of `asset.revalued` (schema version 1).
#[derive(Debug, Serialize)]
pub struct AssetRevalued<'a> {
    pub asset_id: &'a str,
    pub currency: &'a str,
    pub book_value_before_minor: i64,
    pub book_value_after_minor: i64,
}

/// Payload of `asset.disposed` (schema version 1): finance books the gain or loss.
#[derive(Debug, Serialize)]
pub struct AssetDisposed<'a> {
    pub asset_id: &'a str,
    pub currency: &'a str,
    /// What the asset cost (finance takes it off the fixed-assets account).
    pub cost_minor: i64,
    /// The day of the disposal (UTC).
    pub disposed_on: chrono::NaiveDate,
    pub proceeds_minor: i64,
    pub book_value_minor: i64,
    pub gain_or_loss_minor: i64,
}

/// Payload of `requisition.submitted` and `requisition.decided` (schema version 1).
#[derive(Debug, Serialize)]
pub struct RequisitionChanged<'a> {
    pub requisition_id: &'a str,
    pub status: crate::domain::procurement::RequisitionStatus,
    pub currency: &'a str,
    pub total_minor: i64,
    pub decided_by: Option<&'a str>,
}

/// Payload of `po.approved` and `po.cancelled` (schema version 1): finance's commitment.
#[derive(Debug, Serialize)]
pub struct OrderChanged<'a> {
    pub order_id: &'a str,
    pub supplier: &'a str,
    pub currency: &'a str,
    pub total_minor: i64,
    pub approvers: &'a [String],
}

/// A line of `grn.received`.
#[derive(Debug, Serialize)]
pub struct ReceivedLine<'a> {
    pub line: u32,
    pub item: &'a str,
    /// Thousandths of a unit.
    pub quantity_milli: i64,
}

/// Payload of `grn.received` (schema version 1).
#[derive(Debug, Serialize)]
pub struct GoodsReceived<'a> {
    pub receipt_id: &'a str,
    pub order_id: &'a str,
    pub lines: Vec<ReceivedLine<'a>>,
    pub order_status: crate::domain::procurement::OrderStatus,
}

/// Payload of the `ticket.*` events (schema version 1): what analytics counts SLA attainment
/// from and CRM a client's health.
#[derive(Debug, Serialize)]
pub struct TicketChanged<'a> {
    pub ticket_id: &'a str,
    pub status: crate::domain::helpdesk::TicketStatus,
    pub priority: crate::domain::helpdesk::Priority,
    pub client_id: Option<&'a str>,
    pub asset_id: Option<&'a str>,
    /// The ticket it was merged into (`ticket.merged`).
    pub merged_into: Option<&'a str>,
}

/// Payload of the `ticket_macro.*` events (schema version 1): the macro as the change left it
/// (the actor is the envelope's).
#[derive(Debug, Serialize)]
pub struct TicketMacroChanged<'a> {
    pub macro_id: &'a str,
    pub name: &'a str,
    /// Its revision after the change.
    pub rev: i64,
    pub actions: &'a [crate::domain::macros::MacroAction],
}

/// Payload of `ticket.split` (schema version 1).
#[derive(Debug, Serialize)]
pub struct TicketSplit<'a> {
    pub ticket_id: &'a str,
    /// The new ticket.
    pub split_ticket_id: &'a str,
    /// The replies moved to it, oldest first.
    pub reply_ids: Vec<&'a str>,
}

/// Payload of `sla.breached` (schema version 1): fired once per target per ticket.
#[derive(Debug, Serialize)]
pub struct SlaBreached<'a> {
    pub ticket_id: &'a str,
    pub target: crate::domain::sla::Target,
    pub priority: crate::domain::helpdesk::Priority,
    pub client_id: Option<&'a str>,
}

/// The live channel of a tenant's ticket queue (the runtime's pub/sub: Redis across replicas,
/// in-process in the one-process mode).
pub fn ticket_queue_channel(tenant: &erp_kit::TenantId) -> String {
    format!("ops:tickets:{tenant}")
}

/// What a live ticket queue receives after a ticket changed (published after the commit).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct TicketQueueMessage {
    /// The event kind: `ticket.created`, `ticket.replied`, `ticket.status_changed`,
    /// `ticket.merged` or `sla.breached`.
    pub change: String,
    pub ticket_id: String,
    pub status: crate::domain::helpdesk::TicketStatus,
    pub priority: crate::domain::helpdesk::Priority,
    /// Who made the change (`sla-timer` for a breach).
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The team whose queue holds the ticket (the row rule of the subscription).
    #[serde(default)]
    pub team_id: Option<String>,
}

/// The store's outbox (`ops_outbox` in MongoDB, or the embedded store's events) as a source of
/// the kit's relay.
pub struct OpsOutbox(pub SharedStore);

/// One pass's events, read from the store.
pub struct OpsBatch {
    store: SharedStore,
    events: Vec<PendingEvent>,
}

fn source_error(err: ApiError) -> SourceError {
    SourceError(format!("{err:?}"))
}

#[async_trait::async_trait]
impl ClaimedBatch for OpsBatch {
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
impl OutboxSource for OpsOutbox {
    type Batch = OpsBatch;

    async fn claim(&self, limit: u64) -> Result<OpsBatch, SourceError> {
        let pending = self.0.pending_events(limit).await.map_err(source_error)?;
        Ok(OpsBatch {
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
        "ops_outbox"
    }
}

/// The relay publishing the store's pending events to the bus.
pub fn relay(
    store: SharedStore,
    bus: SharedBus,
    config: RelayConfig,
    wake: Wake,
) -> OutboxRelay<OpsOutbox> {
    OutboxRelay::over(OpsOutbox(store), bus, config, wake)
}
