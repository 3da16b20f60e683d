//! The documents, as stored in MongoDB and in the embedded store. Every document carries its
//! tenant and, when it is ever replaced, a revision (`rev`) that each replacement bumps.
//! Amounts are integer minor units of the document's currency, quantities thousandths.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::HasId;
use crate::domain::asset::{AssetStatus, Holder, Movement};
use crate::domain::depreciation::{Frequency, Line, Method};
use crate::domain::helpdesk::{Channel, Priority, TicketStatus};
use crate::domain::macros::MacroAction;
use crate::domain::maintenance::{MaintenanceKind, MaintenanceStatus, Plan};
use crate::domain::procurement::{OrderStatus, RequisitionStatus};
use crate::domain::rfq::RfqStatus;
use crate::domain::sla::TicketClocks;
use crate::domain::sop::VersionStatus;
use crate::domain::teams::{AssignmentRule, Conditions, Member};

/// What an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetKind {
    /// A tagged hardware item.
    Hardware,
    /// A part installed in another asset.
    Component,
}

/// How an asset depreciates, and its schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepreciationDoc {
    pub method: Method,
    pub frequency: Frequency,
    pub periods: u32,
    pub salvage: i64,
    pub prorata: bool,
    pub lines: Vec<Line>,
}

/// A disposal: when, for how much, and what it booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisposalDoc {
    pub disposed_at: DateTime<Utc>,
    pub proceeds: i64,
    pub book_value: i64,
    pub gain_or_loss: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub kind: AssetKind,
    pub tag: String,
    pub name: String,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub category: Option<String>,
    pub location_id: Option<String>,
    pub status: AssetStatus,
    pub holder: Option<Holder>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub currency: String,
    pub cost: i64,
    pub purchase_date: Option<NaiveDate>,
    pub in_use_date: NaiveDate,
    pub warranty_until: Option<NaiveDate>,
    pub end_of_life: Option<NaiveDate>,
    pub depreciation: Option<DepreciationDoc>,
    pub disposal: Option<DisposalDoc>,
    pub last_audited_at: Option<DateTime<Utc>>,
    /// Its preventive maintenance plan.
    #[serde(default)]
    pub maintenance_plan: Option<Plan>,
    pub created_at: DateTime<Utc>,
    /// Its holder left the company: the asset is due back (cleared by the check-in).
    #[serde(default)]
    pub return_due: Option<ReturnDueDoc>,
    /// Whether a return is due (the filter of `assetsDueForReturn`).
    #[serde(default)]
    pub return_pending: bool,
}

/// Why an asset is due back: its holder's exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnDueDoc {
    /// The leaver's employee record and user.
    pub employee_id: String,
    pub user_id: String,
    pub last_working_day: NaiveDate,
    /// When the return was opened (the `employee.left` handled).
    pub opened_at: DateTime<Utc>,
}

/// One entry of an asset's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub asset_id: String,
    pub movement: Movement,
    /// The user who recorded it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Seats of a license held by one holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatAssignmentDoc {
    pub holder: Holder,
    pub seats: u32,
    pub assigned_at: DateTime<Utc>,
}

/// A software license with its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub name: String,
    pub seats_owned: u32,
    pub seats_assigned: u32,
    pub assignments: Vec<SeatAssignmentDoc>,
    pub created_at: DateTime<Utc>,
}

/// A consumable counted by quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumableDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub name: String,
    pub on_hand: u32,
    pub created_at: DateTime<Utc>,
}

/// One version of an SOP: its bytes are addressed by their SHA-256 and never change once
/// submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SopVersionDoc {
    pub number: u32,
    pub hash: String,
    pub status: VersionStatus,
    /// The document (Markdown) inline: versions written before object storage only. Newer
    /// versions keep their bytes in the blob store under `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// An acknowledgement: binds (user, SOP, version hash); never revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgementDoc {
    pub user_id: String,
    pub version: u32,
    pub hash: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SopDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub title: String,
    pub versions: Vec<SopVersionDoc>,
    pub acknowledgements: Vec<AcknowledgementDoc>,
    pub created_at: DateTime<Utc>,
}

/// The budget of a cost centre (`_id` is `<tenant>:<cost centre>`). Its revision is bumped by
/// every submission checked against it, so two concurrent submissions never both pass on the
/// same headroom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub cost_centre: String,
    pub currency: String,
    pub amount: i64,
}

impl BudgetDoc {
    pub fn id_for(tenant_id: &str, cost_centre: &str) -> String {
        format!("{tenant_id}:{cost_centre}")
    }
}

/// A maintenance request on an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub asset_id: String,
    pub kind: MaintenanceKind,
    pub status: MaintenanceStatus,
    pub description: String,
    /// The plan's due date, for a preventive request.
    pub due_on: Option<NaiveDate>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A unique key held by a document (`_id` is `<tenant>:<what>:<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub owner_id: String,
}

impl KeyDoc {
    pub fn asset_tag(tenant_id: &str, tag_key: &str, owner_id: &str) -> Self {
        Self {
            id: format!("{tenant_id}:asset-tag:{tag_key}"),
            tenant_id: tenant_id.to_owned(),
            owner_id: owner_id.to_owned(),
        }
    }
}

/// A line of a requisition or an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDoc {
    /// 1-based, unique in its document.
    pub line: u32,
    pub item: String,
    /// Thousandths of a unit.
    pub quantity: i64,
    /// Minor units per unit.
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequisitionDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub requester_id: String,
    pub title: String,
    /// The cost centre whose budget it draws on (none: the budget check fails closed).
    #[serde(default)]
    pub cost_centre: Option<String>,
    pub currency: String,
    pub lines: Vec<LineDoc>,
    pub total: i64,
    pub status: RequisitionStatus,
    pub decided_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Quantity received of one order line (thousandths), from submitted receipts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedDoc {
    pub line: u32,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub requisition_id: Option<String>,
    /// The cost centre of its requisition.
    #[serde(default)]
    pub cost_centre: Option<String>,
    pub requester_id: String,
    pub supplier: String,
    pub currency: String,
    pub lines: Vec<LineDoc>,
    pub total: i64,
    pub status: OrderStatus,
    pub approvals: Vec<String>,
    pub required_approvals: u32,
    /// Basis points over the ordered quantity a receipt may reach.
    pub receipt_tolerance: u32,
    pub received: Vec<ReceivedDoc>,
    pub created_at: DateTime<Utc>,
}

/// A submitted goods receipt (only submitted receipts are stored: a draft lives in the
/// client until it is submitted, so nothing counts a draft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub order_id: String,
    pub lines: Vec<ReceiptLineDoc>,
    pub received_by: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLineDoc {
    pub line: u32,
    pub item: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub subject: String,
    pub description: String,
    pub channel: Channel,
    pub priority: Priority,
    pub status: TicketStatus,
    pub requester_id: String,
    /// The requester's name as their token carried it when they opened the ticket (what a
    /// macro's `{{requester.name}}` inserts); empty for tickets opened before it was kept.
    #[serde(default)]
    pub requester_name: String,
    pub asset_id: Option<String>,
    pub client_id: Option<String>,
    pub merged_into: Option<String>,
    pub clocks: TicketClocks,
    /// When the next SLA breach is due (epoch milliseconds), under the current policy: what
    /// the breach timer waits for. None when nothing can breach.
    #[serde(default)]
    pub next_breach_at: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// What it is about (a queue's condition), as the requester chose it.
    #[serde(default)]
    pub category: Option<String>,
    /// The queue it was routed to (none: no queue's conditions matched, or none exists).
    #[serde(default)]
    pub queue_id: Option<String>,
    /// The team that works it (its queue's): only its members (and helpdesk admins) see it.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The agent (user) it is assigned to.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// The ticket it was split from (`splitTicket`): its SLA clocks started at the split.
    #[serde(default)]
    pub split_from: Option<String>,
    /// The tickets split from it, oldest first.
    #[serde(default)]
    pub split_into: Vec<String>,
    /// The files its opening message carried (an e-mail's attachments).
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

/// A file attached to a ticket or a reply: its bytes in the blob store under (tenant, hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// The SHA-256 of the bytes, hex (their key in the blob store).
    pub sha256: String,
}

/// A tenant's inbound e-mail settings (`_id` is the tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSettingsDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    /// The secrets that sign its inbound calls, newest first: the current one (no end) and,
    /// during a rotation's overlap, the previous one.
    pub secrets: Vec<SealedSecret>,
}

/// A webhook secret sealed under the key-encryption key, bound to its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub id: String,
    pub sealed: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When it stops verifying (None: the current secret).
    pub valid_until: Option<DateTime<Utc>>,
}

/// An inbound message, by the hash of its Message-ID (`_id`: `<tenant>:<sha256>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailThreadDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub message_id: String,
    /// The ticket it opened or replied on.
    pub ticket_id: String,
    /// The reply it became (none: it opened the ticket).
    pub reply_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// A reply on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    /// Its revision: a split moves it to another ticket (replies stored before had none: 0).
    #[serde(default)]
    pub rev: i64,
    pub ticket_id: String,
    pub author_id: String,
    pub body: String,
    /// Whether an agent (not the requester) wrote it.
    pub by_agent: bool,
    pub at: DateTime<Utc>,
    /// The files it carried (an e-mail's attachments).
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

/// An internal note on a ticket, seen by agents only (a macro's `ADD_NOTE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub ticket_id: String,
    pub author_id: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// A helpdesk macro: named actions an agent applies to a ticket in one go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacroDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub name: String,
    pub actions: Vec<MacroAction>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Who changed it last, and when (none until changed).
    #[serde(default)]
    pub updated_by: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Who deleted it, and when: a deleted macro is kept for the record, but neither listed
    /// nor applied nor changed any more.
    #[serde(default)]
    pub deleted_by: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The SLA policy of one priority (`_id` is `<tenant>:<priority>`), with its business
/// calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicyDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub priority: Priority,
    /// An IANA zone name.
    pub time_zone: String,
    /// Business hours per weekday (Monday first) as local minute ranges.
    pub weekly_hours: Vec<Vec<(u16, u16)>>,
    pub holidays: Vec<NaiveDate>,
    pub first_response_minutes: u32,
    pub update_minutes: u32,
    pub resolution_minutes: u32,
}

impl SlaPolicyDoc {
    pub fn id_for(tenant_id: &str, priority: Priority) -> String {
        format!("{tenant_id}:{priority:?}")
    }
}

/// A request for quotation: the lines of an approved requisition (prices unknown: each
/// quotation names them), the suppliers invited, the quotations received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfqDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub requisition_id: String,
    pub title: String,
    pub currency: String,
    /// The requisition's lines (their `unit_price` is the requisition's estimate).
    pub lines: Vec<LineDoc>,
    pub suppliers: Vec<String>,
    pub quotations: Vec<QuotationDoc>,
    pub status: RfqStatus,
    /// The quotation awarded and the order it raised.
    pub awarded_quotation_id: Option<String>,
    pub order_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A supplier's quotation: a unit price per RFQ line (in its order), in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotationDoc {
    pub id: String,
    pub supplier: String,
    pub unit_prices: Vec<i64>,
    pub total: i64,
    pub valid_until: Option<NaiveDate>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A tenant's procurement settings (`_id` is the tenant): the approval tiers of purchase
/// orders as (threshold in minor units, distinct approvers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcurementSettingsDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub approval_tiers: Vec<(i64, u32)>,
    /// The currency the thresholds are in.
    pub currency: String,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A helpdesk team: its members (agents) and the rotation counter of its round-robin, which
/// every assignment writes back at the revision it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub name: String,
    pub members: Vec<Member>,
    /// The next turn of the rotation (only grows).
    pub next_turn: u64,
    pub created_at: DateTime<Utc>,
}

/// A helpdesk queue: the tickets matching its conditions go to its team, assigned by its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub rev: i64,
    pub name: String,
    pub team_id: String,
    pub conditions: Conditions,
    pub assignment: AssignmentRule,
    /// Queues are tried by ascending position (then creation order).
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// An event a consumer group handled (`_id` is `<group>:<event id>`), written in the same
/// commit as its effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub group: String,
    pub event_id: String,
    pub topic: String,
    pub handled_at: i64,
}

impl InboxDoc {
    pub fn key(group: &str, event_id: &str) -> String {
        format!("{group}:{event_id}")
    }
}

/// An event a consumer group could not handle (`_id` is `<group>:<message key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub tenant_id: String,
    pub group: String,
    pub message_key: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub payload: String,
    pub failure: String,
    pub error: String,
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

macro_rules! has_id {
    ($($doc:ty),*) => {
        $(impl HasId for $doc {
            fn id(&self) -> &str {
                &self.id
            }
        })*
    };
}

has_id!(
    AssetDoc,
    MovementDoc,
    RequisitionDoc,
    OrderDoc,
    ReceiptDoc,
    TicketDoc,
    ReplyDoc,
    NoteDoc,
    MacroDoc,
    SlaPolicyDoc,
    RfqDoc,
    TeamDoc,
    QueueDoc
);
