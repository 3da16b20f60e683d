//! The events this subgraph publishes on `erp.crm.events` through its outbox, the live board
//! messages it publishes on the cache's pub/sub channel (best effort, after commit), and the
//! consumer of the employee subgraph's events that keeps the team directory the row rules
//! read.
//!
//! Every envelope carries the kit's `id` (UUIDv7), `tenant_id`, `occurred_at`,
//! `schema_version` (1 for every payload below) and `aggregate_id`; consumers deduplicate on
//! the id. Amounts are integer minor units beside their ISO 4217 currency; days are
//! `YYYY-MM-DD`; instants RFC 3339 UTC.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, EventEnvelope, EventHandler, HandlerError, SqlInbox,
};
use erp_kit::runtime::Runtime;
use erp_kit::TenantId;

use crate::store::directory::{self, MemberChange};

pub const DOMAIN: &str = "crm";

pub const CLIENT_CREATED: &str = "client.created";
pub const CLIENT_STATUS_CHANGED: &str = "client.status_changed";
/// A client's details changed, a rename among them ([`ClientUpdated`]): consumers that keep
/// the client's name (PMO's projects) take the new one.
pub const CLIENT_UPDATED: &str = "client.updated";
/// A client was merged into another: consumers holding the source's id re-point it
/// ([`ClientMerged`]).
pub const CLIENT_MERGED: &str = "client.merged";
/// A merge was undone: consumers move back what they moved for its `merge_id` (the payload
/// is a [`ClientMerged`] naming the same source and target as the merge).
pub const CLIENT_MERGE_UNDONE: &str = "client.merge_undone";
pub const LEAD_CREATED: &str = "lead.created";
pub const LEAD_CONVERTED: &str = "lead.converted";
pub const LEAD_DISQUALIFIED: &str = "lead.disqualified";
pub const OPPORTUNITY_CREATED: &str = "opportunity.created";
pub const OPPORTUNITY_STAGE_CHANGED: &str = "opportunity.stage_changed";
/// The hand-off to delivery: PMO creates a project for the client ([`OpportunityWon`]).
pub const OPPORTUNITY_WON: &str = "opportunity.won";
pub const OPPORTUNITY_LOST: &str = "opportunity.lost";
pub const OPPORTUNITY_REOPENED: &str = "opportunity.reopened";
pub const QUOTE_SENT: &str = "quote.sent";
/// The hand-off to billing: finance drafts an invoice or a billing schedule from the
/// accepted snapshot ([`QuoteAccepted`]).
pub const QUOTE_ACCEPTED: &str = "quote.accepted";
pub const QUOTE_DECLINED: &str = "quote.declined";
pub const QUOTE_CONVERTED: &str = "quote.converted";
pub const PROPOSAL_ACCEPTED: &str = "proposal.accepted";

/// Payload of `opportunity.won` (schema version 1), aggregate: the opportunity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpportunityWon {
    pub opportunity_id: String,
    pub name: String,
    /// The client company (or person) the work is for: a CRM `Client` id.
    pub client_id: String,
    pub client_name: String,
    /// The contact person, when the opportunity names one.
    pub contact_id: Option<String>,
    /// The user who owns the deal.
    pub owner_id: String,
    /// Integer minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    pub pipeline_id: String,
    /// The pipeline's kind of opportunity (`new business`, `renewal`, ...).
    pub opportunity_type: String,
    pub expected_close: Option<NaiveDate>,
    pub won_at: DateTime<Utc>,
}

/// One line of an accepted quote, as accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcceptedLine {
    pub position: i32,
    /// The price list item's code, when the line came from a price list.
    pub code: Option<String>,
    pub description: String,
    /// Thousandths of a unit (1500 = 1.5).
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    /// Basis points (1000 = 10 %).
    pub discount_bp: i32,
    pub tax_rate_bp: i32,
    /// Optional lines are listed; only `selected` ones count in the totals.
    pub optional: bool,
    pub selected: bool,
    /// quantity × unit price, rounded to the minor unit.
    pub net_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    /// net − discount + tax.
    pub total_minor: i64,
}

/// Payload of `quote.accepted` (schema version 1), aggregate: the quote. The accepted
/// version's full snapshot: an invoice copies it, never the price list (C3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuoteAccepted {
    pub quote_id: String,
    /// The tenant's quote number (`Q-000042`).
    pub number: String,
    pub version: i32,
    /// SHA-256 (hex) of the version as the client accepted it.
    pub content_hash: String,
    pub client_id: String,
    pub client_name: String,
    pub opportunity_id: Option<String>,
    /// Set when accepted as part of a proposal.
    pub proposal_id: Option<String>,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub lines: Vec<AcceptedLine>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub accepted_at: DateTime<Utc>,
    /// Who accepted, as they signed (a name), or the user id who recorded it.
    pub accepted_by: String,
}

/// Payload of `client.updated` (schema version 1), aggregate: the client. The client as it
/// is now; `previous_name` set when this change renamed it (the rename is audited).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientUpdated {
    pub client_id: String,
    pub name: String,
    pub previous_name: Option<String>,
    /// `company` or `person`.
    pub kind: String,
    pub status: String,
    pub owner_id: Option<String>,
    /// The client's version after the change (consumers keep the newest).
    pub version: i64,
}

/// Payload of `client.merged` and `client.merge_undone` (schema version 1), aggregate: the
/// surviving client, for both (so a merge and its undo share a partition and arrive in order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientMerged {
    pub source_client_id: String,
    pub target_client_id: String,
    pub merge_id: String,
    /// The survivor's name (consumers that keep a client's name take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_client_name: Option<String>,
    /// In `client.merge_undone`: the restored client's name (what consumers that renamed the
    /// moved records after the survivor name them again, if they kept no name of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_client_name: Option<String>,
}

/// The live-board channel of a tenant's pipelines (Redis pub/sub across replicas).
pub fn board_channel(tenant: &TenantId) -> String {
    format!("crm:board:{tenant}")
}

/// What a live board receives after an opportunity changed (published after commit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoardMove {
    pub opportunity_id: String,
    pub pipeline_id: String,
    /// `created`, `moved`, `updated`, `won`, `lost`, `reopened`, `reassigned`.
    pub change: String,
    pub from_stage_id: Option<String>,
    pub to_stage_id: String,
    /// Whose opportunity it is now (the row rules decide who sees the move).
    pub owner_id: String,
    /// The owner before a reassignment (so their team's boards see it leave).
    pub previous_owner_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    /// Who made the change.
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// The consumer group that keeps the CRM's team directory from the employee subgraph.
pub const TEAM_GROUP: &str = "erp.crm.team";

/// `employee.hired`, `employee.manager_changed` and `employee.left` as the CRM reads them
/// (fields it does not use are ignored). `employee.left` (an exit in effect) makes the member
/// inactive and hands their open records (leads, opportunities, activities, quotes, proposals,
/// clients) to their manager.
#[derive(Debug, Deserialize)]
struct EmployeeEvent {
    employee_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    manager_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

/// The employee subgraph's event types the directory follows.
pub const EMPLOYEE_HIRED: &str = "employee.hired";
pub const EMPLOYEE_MANAGER_CHANGED: &str = "employee.manager_changed";
pub const EMPLOYEE_LEFT: &str = "employee.left";

/// What an employee event changes in the directory.
fn member_change(event: &EventEnvelope) -> Result<MemberChange, HandlerError> {
    let payload: EmployeeEvent = event.decode_payload()?;
    Ok(match event.event_type.as_str() {
        EMPLOYEE_HIRED => MemberChange {
            employee_id: payload.employee_id,
            user_id: Some(payload.user_id),
            manager_id: Some(payload.manager_id),
            display_name: payload.display_name,
            active: Some(true),
        },
        EMPLOYEE_MANAGER_CHANGED => MemberChange {
            employee_id: payload.employee_id,
            manager_id: Some(payload.manager_id),
            ..Default::default()
        },
        _ => MemberChange {
            employee_id: payload.employee_id,
            active: Some(false),
            ..Default::default()
        },
    })
}

/// Keeps the team directory: each employee event's change in the inbox's transaction.
pub struct TeamHandler;

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for TeamHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.event_type.as_str(),
            EMPLOYEE_HIRED | EMPLOYEE_MANAGER_CHANGED | EMPLOYEE_LEFT
        )
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let change = member_change(event)?;
        let tenant = TenantId::from_claim(&event.tenant_id);
        let at_ms = event.occurred_at.timestamp_millis();
        directory::apply(&**write, &tenant, &change, at_ms).await?;
        if event.event_type == EMPLOYEE_LEFT {
            let actor = event.actor.as_deref().unwrap_or(EMPLOYEE_LEFT);
            hand_over_open_records(&**write, &tenant, &change.employee_id, actor, at_ms).await?;
        }
        Ok(())
    }
}

/// A leaver's open records go to their manager, who answers for the team's pipeline: open
/// leads, open opportunities (with their share of the stage totals), activities not yet
/// done, quotes and proposals the client has not decided, and the clients still in play
/// (`crate::store::handover`). Only when the leaver signed in as a user with no other active
/// record (a rehire keeps their records) and their manager is an active member with a user.
/// Without one the records stay where they are (the managers above still see them;
/// `crm:admin` reassigns). Each move is audited (`assigned`, by the user who recorded the
/// exit), in the inbox's transaction, so a redelivered `employee.left` moves nothing twice.
async fn hand_over_open_records(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    actor: &str,
    at_ms: i64,
) -> Result<(), sea_orm::DbErr> {
    use crate::store::handover;

    let Some(leaver) = directory::member(db, tenant, employee_id).await? else {
        return Ok(());
    };
    let Some(user) = leaver.user_id else {
        return Ok(());
    };
    if directory::departed_users(db, tenant, std::slice::from_ref(&user))
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let Some(manager_id) = leaver.manager_id else {
        return Ok(());
    };
    let manager = directory::member(db, tenant, &manager_id).await?;
    let Some(to) = manager
        .filter(|manager| manager.active)
        .and_then(|manager| manager.user_id)
    else {
        return Ok(());
    };
    let moved: [(&str, Vec<String>); 6] = [
        (
            "lead",
            handover::reassign_open_leads(db, tenant, &user, &to, at_ms).await?,
        ),
        (
            "opportunity",
            handover::reassign_open_opportunities(db, tenant, &user, &to, at_ms).await?,
        ),
        (
            "activity",
            handover::reassign_open_activities(db, tenant, &user, &to).await?,
        ),
        (
            "quote",
            handover::reassign_open_quotes(db, tenant, &user, &to, at_ms).await?,
        ),
        (
            "proposal",
            handover::reassign_open_proposals(db, tenant, &user, &to, at_ms).await?,
        ),
        (
            "client",
            handover::reassign_open_clients(db, tenant, &user, &to, at_ms).await?,
        ),
    ];
    for (entity_kind, ids) in &moved {
        for entity_id in ids {
            crate::store::audit::record(
                db,
                tenant,
                crate::store::audit::AuditEntry {
                    entity_kind,
                    entity_id,
                    action: "assigned",
                    actor,
                    at_ms,
                    detail: serde_json::json!({ "from": user, "to": to, "because": EMPLOYEE_LEFT }),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// How the CRM's consumers run: the kit's group suffix and tenants served.
pub use erp_kit::events::ConsumerOptions;

/// Starts the CRM's consumers on the runtime's bus (keep the handles: dropping one stops it).
pub fn start_consumers(runtime: &Runtime, options: &ConsumerOptions) -> Vec<ConsumerHandle> {
    let employee_topic = topic_for("employee");
    vec![Consumer::new(
        options.config(TEAM_GROUP, &[employee_topic.as_str()]),
        runtime.bus.clone(),
        SqlInbox::new(DOMAIN, runtime.db.clone()),
        TeamHandler,
        &runtime.metrics,
    )
    .spawn()]
}

/// The consumer group that files marketing's web-form submissions as leads
/// (`crate::consumers::start_lead_intake`).
pub const LEAD_INTAKE_GROUP: &str = "erp.crm.lead_intake";

/// Marketing's `form.submitted`: a web-form enquiry to file as a lead.
pub const FORM_SUBMITTED: &str = "form.submitted";
