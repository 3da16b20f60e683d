//! The helpdesk teams' and queues' tenant-scoped reads, and the ticket reads their row rule
//! and assignment need.

use serde_json::{json, Value};

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{decode, decode_all, one, AssetDoc, Kind, OpsStore, QueueDoc, TeamDoc, TicketDoc};
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

/// How many tickets there are in each status: every ticket of the tenant (`team_ids` None),
/// or those of these teams (see [`team_values`]). Counted by the store.
pub async fn ticket_counts_by_status(
    store: &dyn OpsStore,
    tenant: &TenantId,
    team_ids: Option<&[Value]>,
) -> ApiResult<Vec<(TicketStatus, u64)>> {
    let any_of = team_ids.map(|values| ("team_id", values));
    store
        .count_by(tenant, Kind::Tickets, &[], any_of, "status")
        .await?
        .into_iter()
        .map(|(status, count)| Ok((decode::<TicketStatus>(status)?, count)))
        .collect()
}

/// How many tickets in one of `statuses` each member of a team has assigned (what least-open
/// counts), counted by the store; unassigned tickets left out.
pub async fn open_tickets_by_assignee(
    store: &dyn OpsStore,
    tenant: &TenantId,
    team_id: &str,
    statuses: &[TicketStatus],
) -> ApiResult<Vec<(String, u64)>> {
    let statuses: Vec<Value> = statuses.iter().map(|status| json!(status)).collect();
    Ok(store
        .count_by(
            tenant,
            Kind::Tickets,
            &[("team_id", json!(team_id))],
            Some(("status", &statuses)),
            "assignee_id",
        )
        .await?
        .into_iter()
        .filter_map(|(assignee, count)| match assignee {
            Value::String(assignee) => Some((assignee, count)),
            _ => None,
        })
        .collect())
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
