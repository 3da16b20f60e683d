//! The helpdesk teams' and queues' tenant-scoped reads, and the ticket reads their row rule
//! and assignment need.

use serde_json::{json, Value};

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{decode_all, one, AssetDoc, Kind, OpsStore, QueueDoc, TeamDoc, TicketDoc};
use crate::domain::asset::Holder;
use crate::domain::helpdesk::TicketStatus;

pub async fn team(store: &dyn OpsStore, tenant: &TenantId, id: &str) -> ApiResult<Option<TeamDoc>> {
    one(store, tenant, Kind::Teams, id).await
}

/// Every team of the tenant, oldest first (a tenant has a few dozen at most).
pub async fn teams(store: &dyn OpsStore, tenant: &TenantId) -> ApiResult<Vec<TeamDoc>> {
    decode_all(store.find(tenant, Kind::Teams, &[], None).await?)
}

pub async fn queue(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<QueueDoc>> {
    one(store, tenant, Kind::Queues, id).await
}

/// Every queue of the tenant in routing order: by position, then oldest first.
pub async fn queues(store: &dyn OpsStore, tenant: &TenantId) -> ApiResult<Vec<QueueDoc>> {
    let mut queues: Vec<QueueDoc> = decode_all(store.find(tenant, Kind::Queues, &[], None).await?)?;
    queues.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.id.cmp(&b.id)));
    Ok(queues)
}

/// The values of `team_id` a viewer's tickets may have: none (unrouted) and their teams.
pub fn team_values(team_ids: &[String]) -> Vec<Value> {
    std::iter::once(Value::Null)
        .chain(team_ids.iter().map(|id| json!(id)))
        .collect()
}

/// A page of the tickets of these teams (`team_ids`: see [`team_values`]), of one status or
/// all.
pub async fn tickets_of_teams(
    store: &dyn OpsStore,
    tenant: &TenantId,
    team_ids: &[Value],
    status: Option<TicketStatus>,
    page: Option<&PageRequest>,
) -> ApiResult<Vec<TicketDoc>> {
    let fields: Vec<_> = status.map(|s| ("status", json!(s))).into_iter().collect();
    decode_all(
        store
            .find_any(tenant, Kind::Tickets, &fields, ("team_id", team_ids), page)
            .await?,
    )
}

/// The tickets of one team (what least-open counts).
pub async fn tickets_of_team(
    store: &dyn OpsStore,
    tenant: &TenantId,
    team_id: &str,
) -> ApiResult<Vec<TicketDoc>> {
    decode_all(
        store
            .find(tenant, Kind::Tickets, &[("team_id", json!(team_id))], None)
            .await?,
    )
}

/// The tickets assigned to a user.
pub async fn tickets_assigned_to(
    store: &dyn OpsStore,
    tenant: &TenantId,
    user_id: &str,
) -> ApiResult<Vec<TicketDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::Tickets,
                &[("assignee_id", json!(user_id))],
                None,
            )
            .await?,
    )
}

/// The assets a person holds.
pub async fn assets_held_by(
    store: &dyn OpsStore,
    tenant: &TenantId,
    user_id: &str,
) -> ApiResult<Vec<AssetDoc>> {
    let holder = serde_json::to_value(Holder::Person(user_id.to_owned()))
        .map_err(erp_kit::ApiError::internal)?;
    decode_all(
        store
            .find(tenant, Kind::Assets, &[("holder", holder)], None)
            .await?,
    )
}

/// A page of the assets due back from leavers.
pub async fn assets_due_for_return(
    store: &dyn OpsStore,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<AssetDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::Assets,
                &[("return_pending", json!(true))],
                Some(page),
            )
            .await?,
    )
}
