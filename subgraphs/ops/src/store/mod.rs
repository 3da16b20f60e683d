//! Persistence behind one small trait, [`OpsStore`]: MongoDB in production ([`mongo::MongoStore`])
//! and in-process maps in the one-process mode ([`memory::MemoryStore`]). The documents are in
//! [`entities`]; the typed, tenant-scoped reads of each feature in [`assets`] and
//! [`procurement`].
//!
//! The trait holds persistence only: the transaction scripts (which facts to read, which rule
//! to apply, what to write) are written once, in `crate::app`, over three primitives:
//!
//! - reads of documents by id or by equality filters, every one tenant-scoped (a document of
//!   another tenant is indistinguishable from a missing one), pages keyed on the time-ordered
//!   `_id`;
//! - [`OpsStore::commit`]: inserts and conditional replacements with their events (the
//!   `ops_outbox` collection) in ONE transaction (MongoDB) or under one lock (embedded). A
//!   replacement names the revision the script read; when a document moved on meanwhile, or an
//!   insert's id is taken (a unique key), nothing is written and the script learns why.
//! - the outbox relay's reads and marks.

pub mod assets;
pub mod blobs;
pub mod entities;
pub mod helpdesk;
pub mod memory;
pub mod mongo;
pub mod procurement;
pub mod teams;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use erp_kit::events::{EventEnvelope, OutboxDocument};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

pub use entities::*;

/// The document collections.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    Assets,
    /// The append-only check-in/out history of assets.
    AssetMovements,
    Requisitions,
    Orders,
    Receipts,
    Licenses,
    Consumables,
    Sops,
    MaintenanceRequests,
    /// One budget per (tenant, cost centre).
    Budgets,
    Tickets,
    TicketReplies,
    /// One SLA policy per (tenant, priority).
    SlaPolicies,
    /// Requests for quotation, their quotations inside.
    Rfqs,
    /// One procurement settings document per tenant (approval thresholds).
    ProcurementSettings,
    /// Agents' internal notes on tickets.
    TicketNotes,
    /// Helpdesk macros.
    TicketMacros,
    /// Helpdesk teams (members, round-robin counter).
    Teams,
    /// Helpdesk queues (conditions, team, assignment rule).
    Queues,
    /// The events each consumer group handled.
    Inbox,
    /// The events a consumer group could not handle.
    DeadLetters,
    /// Unique keys (an asset tag per tenant): a document whose `_id` is the key, inserted in
    /// the same commit as the document that holds it.
    Keys,
    /// One inbound e-mail settings document per tenant (its sealed webhook secrets).
    MailSettings,
    /// The index of inbound messages by Message-ID (what threads a reply, and what makes a
    /// provider's retry of the same message a no-op).
    MailThreads,
}

impl Kind {
    pub const ALL: [Kind; 24] = [
        Kind::MailSettings,
        Kind::MailThreads,
        Kind::Teams,
        Kind::Queues,
        Kind::Inbox,
        Kind::DeadLetters,
        Kind::Sops,
        Kind::MaintenanceRequests,
        Kind::Budgets,
        Kind::Assets,
        Kind::AssetMovements,
        Kind::Requisitions,
        Kind::Orders,
        Kind::Receipts,
        Kind::Licenses,
        Kind::Consumables,
        Kind::Tickets,
        Kind::TicketReplies,
        Kind::SlaPolicies,
        Kind::Keys,
        Kind::Rfqs,
        Kind::ProcurementSettings,
        Kind::TicketNotes,
        Kind::TicketMacros,
    ];

    pub fn collection(self) -> &'static str {
        match self {
            Kind::Assets => "ops_assets",
            Kind::AssetMovements => "ops_asset_movements",
            Kind::Requisitions => "ops_requisitions",
            Kind::Orders => "ops_orders",
            Kind::Receipts => "ops_receipts",
            Kind::Licenses => "ops_licenses",
            Kind::Sops => "ops_sops",
            Kind::MaintenanceRequests => "ops_maintenance_requests",
            Kind::Budgets => "ops_budgets",
            Kind::Consumables => "ops_consumables",
            Kind::Tickets => "ops_tickets",
            Kind::TicketReplies => "ops_ticket_replies",
            Kind::SlaPolicies => "ops_sla_policies",
            Kind::Keys => "ops_keys",
            Kind::Rfqs => "ops_rfqs",
            Kind::ProcurementSettings => "ops_procurement_settings",
            Kind::TicketNotes => "ops_ticket_notes",
            Kind::TicketMacros => "ops_ticket_macros",
            Kind::Teams => "ops_helpdesk_teams",
            Kind::Queues => "ops_helpdesk_queues",
            Kind::Inbox => "ops_inbox",
            Kind::DeadLetters => "ops_dead_letters",
            Kind::MailSettings => "ops_mail_settings",
            Kind::MailThreads => "ops_mail_threads",
        }
    }

    /// The equality filters a list of the collection uses (each an index on MongoDB, after
    /// the tenant and before `_id`).
    pub fn filtered_by(self) -> &'static [&'static str] {
        match self {
            Kind::Assets => &["status", "kind", "holder", "return_pending"],
            Kind::AssetMovements => &["asset_id"],
            Kind::Requisitions => &["status", "requester_id", "cost_centre"],
            Kind::Orders => &["status", "requisition_id", "cost_centre"],
            Kind::Receipts => &["order_id"],
            Kind::MaintenanceRequests => &["asset_id"],
            Kind::Licenses | Kind::Consumables | Kind::Sops | Kind::Budgets => &[],
            Kind::Tickets => &["status", "priority", "team_id", "assignee_id"],
            Kind::Teams | Kind::Queues | Kind::Inbox | Kind::DeadLetters => &[],
            Kind::TicketReplies | Kind::TicketNotes => &["ticket_id"],
            Kind::TicketMacros => &["deleted_at"],
            Kind::SlaPolicies => &[],
            Kind::Keys | Kind::MailSettings | Kind::MailThreads => &[],
            Kind::Rfqs => &["status", "requisition_id"],
            Kind::ProcurementSettings => &[],
        }
    }
}

/// One write of a commit.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new document; its `_id` must be free.
    Insert { kind: Kind, doc: Value },
    /// The document with the same `_id`, replacing the one at revision `expected_rev` (the
    /// document written carries the next revision).
    Replace {
        kind: Kind,
        doc: Value,
        expected_rev: i64,
    },
}

impl Write {
    /// An insert of a typed document.
    pub fn insert(kind: Kind, doc: &impl Serialize) -> ApiResult<Self> {
        Ok(Write::Insert {
            kind,
            doc: to_value(doc)?,
        })
    }

    /// A replacement of a typed document read at `expected_rev`.
    pub fn replace(kind: Kind, doc: &impl Serialize, expected_rev: i64) -> ApiResult<Self> {
        Ok(Write::Replace {
            kind,
            doc: to_value(doc)?,
            expected_rev,
        })
    }

    fn id(&self) -> ApiResult<&str> {
        let doc = match self {
            Write::Insert { doc, .. } | Write::Replace { doc, .. } => doc,
        };
        doc.get("_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::internal("a document without an _id"))
    }
}

/// What a commit found.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    Written,
    /// A replaced document is no longer at the revision read: nothing was written.
    Stale,
    /// An inserted document's id is taken (in `kind`): nothing was written.
    Duplicate(Kind),
}

/// The outbox documents of a commit's events: the kit's [`OutboxDocument`] shape (the same
/// fields and names as ops stored before, so `ops_outbox` and the embedded journal read on).
pub(crate) fn outbox_documents(events: &[EventEnvelope]) -> ApiResult<Vec<OutboxDocument>> {
    events
        .iter()
        .map(|event| OutboxDocument::new(crate::domain::DOMAIN, event))
        .collect()
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub topic: String,
    pub envelope: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
}

/// The most documents an unpaged list returns (a PO's receipts, an asset's history).
pub const MAX_UNPAGED: u64 = 10_000;

/// The operations persistence. Every method is tenant-scoped except the outbox relay's.
#[async_trait::async_trait]
pub trait OpsStore: Send + Sync + 'static {
    /// Creates collections and indexes (idempotent).
    async fn prepare(&self) -> ApiResult<()>;

    /// The documents of `kind` with these ids that the tenant has (in no particular order).
    async fn get(&self, tenant: &TenantId, kind: Kind, ids: &[String]) -> ApiResult<Vec<Value>>;

    /// The documents of `kind` whose fields equal `filter`, in `_id` order: a page (limit + 1
    /// rows, in the page's direction) or, without one, the first [`MAX_UNPAGED`].
    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>>;

    /// [`OpsStore::find`] with one more condition: `field` equals one of `any_of` (a null in
    /// the list also matches a document without the field).
    async fn find_any(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: (&'static str, &[Value]),
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>>;

    /// How many of the tenant's documents of `kind` have each value of `group_by` (a missing
    /// field counts as null), among those whose fields equal `filter` and, when given, whose
    /// `any_of` field is one of its values (null also matching a missing field). Counted by
    /// the backend (an aggregation on MongoDB), exact at any size: no documents are read.
    async fn count_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: Option<(&'static str, &[Value])>,
        group_by: &'static str,
    ) -> ApiResult<Vec<(Value, u64)>>;

    /// Writes all of `writes` and enqueues `events`, atomically, or nothing.
    async fn commit(
        &self,
        tenant: &TenantId,
        writes: &[Write],
        events: &[EventEnvelope],
    ) -> ApiResult<Commit>;

    // --- Round-robin turns -----------------------------------------------------------------

    /// Takes the next `count` (at least 1) round-robin turns of the tenant's team: adds
    /// `count` to its turn counter, atomically and outside any commit, and answers the first
    /// turn taken (the count before). Concurrent tickets never share a turn and never wait on
    /// each other (the counter is one atomic update, not a document read and replaced at its
    /// revision); a bulk load takes its batch's turns in one update.
    async fn take_turns(&self, tenant: &TenantId, team_id: &str, count: u64) -> ApiResult<u64>;
    /// How many round-robin turns the team's counter has given out.
    async fn turns_taken(&self, tenant: &TenantId, team_id: &str) -> ApiResult<u64>;

    // --- The SLA breach timer (across tenants) ----------------------------------------------

    /// Tickets of every tenant whose next breach is due by `now_ms`, earliest first.
    async fn due_breaches(&self, now_ms: i64, limit: u64) -> ApiResult<Vec<Value>>;
    /// The earliest next breach of any ticket (epoch milliseconds).
    async fn next_breach_at(&self) -> ApiResult<Option<i64>>;

    // --- The outbox relay -----------------------------------------------------------------

    /// Unpublished events, oldest first.
    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>>;
    async fn mark_published(&self, ids: &[String]) -> ApiResult<()>;
    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()>;
    /// Takes or renews the relay lease (one relay publishes at a time, so events stay in order).
    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> ApiResult<bool>;
    /// Deletes the events published before `before_ms`.
    async fn purge_published(&self, before_ms: i64) -> ApiResult<()>;

    /// Answers when the backend answers (readiness).
    async fn ping(&self) -> Result<(), String>;
}

pub type SharedStore = std::sync::Arc<dyn OpsStore>;

pub(crate) fn to_value(doc: &impl Serialize) -> ApiResult<Value> {
    serde_json::to_value(doc).map_err(ApiError::internal)
}

pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> ApiResult<T> {
    serde_json::from_value(value).map_err(ApiError::internal)
}

pub(crate) fn decode_all<T: DeserializeOwned>(values: Vec<Value>) -> ApiResult<Vec<T>> {
    values.into_iter().map(decode).collect()
}

/// One document of `kind` by id.
pub(crate) async fn one<T: DeserializeOwned>(
    store: &dyn OpsStore,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> ApiResult<Option<T>> {
    store
        .get(tenant, kind, &[id.to_owned()])
        .await?
        .pop()
        .map(decode)
        .transpose()
}

/// Documents of `kind` by ids, in the order of `ids` (missing ones left out).
pub(crate) async fn by_ids<T: DeserializeOwned + HasId>(
    store: &dyn OpsStore,
    tenant: &TenantId,
    kind: Kind,
    ids: &[String],
) -> ApiResult<Vec<T>> {
    let mut found: std::collections::HashMap<String, T> =
        decode_all::<T>(store.get(tenant, kind, ids).await?)?
            .into_iter()
            .map(|doc| (doc.id().to_owned(), doc))
            .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// A document with an `_id`.
pub trait HasId {
    fn id(&self) -> &str;
}
