//! The helpdesk's tenant-scoped reads: tickets, their replies and the SLA policies.

use serde_json::json;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{
    by_ids, decode_all, one, Kind, MacroDoc, NoteDoc, OpsStore, ReplyDoc, SlaPolicyDoc, TicketDoc,
};
use crate::domain::helpdesk::{Priority, TicketStatus};

pub async fn ticket(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<TicketDoc>> {
    one(store, tenant, Kind::Tickets, id).await
}

/// A page of tickets, of one status or all.
pub async fn list_tickets(
    store: &dyn OpsStore,
    tenant: &TenantId,
    status: Option<TicketStatus>,
    page: &PageRequest,
) -> ApiResult<Vec<TicketDoc>> {
    let fields: Vec<_> = status.map(|s| ("status", json!(s))).into_iter().collect();
    decode_all(
        store
            .find(tenant, Kind::Tickets, &fields, Some(page))
            .await?,
    )
}

/// A page of a ticket's replies, oldest first.
pub async fn replies_page(
    store: &dyn OpsStore,
    tenant: &TenantId,
    ticket_id: &str,
    page: &PageRequest,
) -> ApiResult<Vec<ReplyDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::TicketReplies,
                &[("ticket_id", json!(ticket_id))],
                Some(page),
            )
            .await?,
    )
}

/// A page of a ticket's internal notes, oldest first.
pub async fn notes_page(
    store: &dyn OpsStore,
    tenant: &TenantId,
    ticket_id: &str,
    page: &PageRequest,
) -> ApiResult<Vec<NoteDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::TicketNotes,
                &[("ticket_id", json!(ticket_id))],
                Some(page),
            )
            .await?,
    )
}

/// A macro of the tenant that is not deleted.
pub async fn ticket_macro(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<MacroDoc>> {
    Ok(one::<MacroDoc>(store, tenant, Kind::TicketMacros, id)
        .await?
        .filter(|doc| doc.deleted_at.is_none()))
}

/// A page of the tenant's macros that are not deleted, oldest first.
pub async fn macros_page(
    store: &dyn OpsStore,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<MacroDoc>> {
    // Null also matches a macro stored before deletion was recorded (no field at all).
    let live = [serde_json::Value::Null];
    decode_all(
        store
            .find_any(
                tenant,
                Kind::TicketMacros,
                &[],
                ("deleted_at", &live),
                Some(page),
            )
            .await?,
    )
}

/// The SLA policy of a priority, when the tenant has one.
pub async fn sla_policy(
    store: &dyn OpsStore,
    tenant: &TenantId,
    priority: Priority,
) -> ApiResult<Option<SlaPolicyDoc>> {
    one(
        store,
        tenant,
        Kind::SlaPolicies,
        &SlaPolicyDoc::id_for(tenant.as_str(), priority),
    )
    .await
}

/// The SLA policies of the priorities given (those the tenant has), in one read.
pub async fn sla_policies_of(
    store: &dyn OpsStore,
    tenant: &TenantId,
    priorities: &[Priority],
) -> ApiResult<Vec<SlaPolicyDoc>> {
    let ids: Vec<String> = priorities
        .iter()
        .map(|priority| SlaPolicyDoc::id_for(tenant.as_str(), *priority))
        .collect();
    by_ids(store, tenant, Kind::SlaPolicies, &ids).await
}

/// A page of the tickets of one priority (what a policy change reschedules).
pub async fn tickets_of_priority(
    store: &dyn OpsStore,
    tenant: &TenantId,
    priority: Priority,
    page: &PageRequest,
) -> ApiResult<Vec<TicketDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::Tickets,
                &[("priority", json!(priority))],
                Some(page),
            )
            .await?,
    )
}
