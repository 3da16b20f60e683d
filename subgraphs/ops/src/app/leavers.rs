//! What operations does when an employee leaves (`employee.left`, consumed by
//! `crate::consumers` through the document inbox): every asset in the leaver's custody is due
//! back (`asset.return_due`), every open ticket assigned to them goes back to its queue
//! (`ticket.assigned`, unassigned) and they leave every helpdesk team, all in ONE commit with
//! the inbox record, so a redelivered event changes nothing.

use chrono::Utc;

use erp_kit::events::EventEnvelope;
use erp_kit::{ApiResult, TenantId};

use super::teams::assigned_event;
use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::helpdesk::TicketStatus;
use crate::events::{self, EmployeeLeft};
use crate::store::teams as team_store;
use crate::store::{AssetDoc, InboxDoc, Kind, ReturnDueDoc, TeamDoc, TicketDoc, Write};

/// What a leaver's exit changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HandedBack {
    /// Assets now due back.
    pub assets: Vec<String>,
    /// Tickets back in their queues.
    pub tickets: Vec<String>,
}

impl Ops {
    /// Opens the returns of the leaver's assets, hands their open tickets back to their queues
    /// and takes them off the helpdesk teams, recording `inbox` in the same commit; None when
    /// the inbox has the event already (nothing written).
    pub async fn hand_back_leaver(
        &self,
        tenant: &TenantId,
        left: &EmployeeLeft,
        actor: &str,
        inbox: &InboxDoc,
    ) -> ApiResult<Option<HandedBack>> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let now = Utc::now();
            let mut writes = vec![Write::insert(Kind::Inbox, inbox)?];
            let mut events = Vec::new();
            let mut handed = HandedBack::default();
            let mut requeued = Vec::new();
            if let Some(user_id) = left.user_id.as_deref() {
                for asset in team_store::assets_held_by(&*self.store, tenant, user_id).await? {
                    // Already due back (the same person left before, a rehire): opened once.
                    if asset.return_pending {
                        continue;
                    }
                    let next = AssetDoc {
                        rev: asset.rev + 1,
                        return_due: Some(ReturnDueDoc {
                            employee_id: left.employee_id.clone(),
                            user_id: user_id.to_owned(),
                            last_working_day: left.last_working_day,
                            opened_at: now,
                        }),
                        return_pending: true,
                        ..asset.clone()
                    };
                    events.push(EventEnvelope::by_actor(
                        tenant,
                        events::ASSET_RETURN_DUE,
                        &asset.id,
                        actor,
                        events::AssetReturnDue {
                            asset_id: &asset.id,
                            tag: &asset.tag,
                            employee_id: &left.employee_id,
                            user_id,
                            last_working_day: left.last_working_day,
                        },
                    )?);
                    writes.push(Write::replace(Kind::Assets, &next, asset.rev)?);
                    handed.assets.push(asset.id);
                }
                for ticket in team_store::tickets_assigned_to(&*self.store, tenant, user_id).await?
                {
                    if ticket.status.is_final() || ticket.status == TicketStatus::Resolved {
                        continue;
                    }
                    let next = TicketDoc {
                        rev: ticket.rev + 1,
                        assignee_id: None,
                        ..ticket.clone()
                    };
                    events.push(assigned_event(
                        tenant,
                        &next,
                        None,
                        Some(user_id),
                        events::EMPLOYEE_LEFT,
                        actor,
                    )?);
                    writes.push(Write::replace(Kind::Tickets, &next, ticket.rev)?);
                    handed.tickets.push(ticket.id.clone());
                    requeued.push(next);
                }
            }
            for team in team_store::teams(&*self.store, tenant).await? {
                let leaves = |member: &crate::domain::teams::Member| {
                    Some(member.user_id.as_str()) == left.user_id.as_deref()
                        || member.employee_id.as_deref() == Some(left.employee_id.as_str())
                };
                if !team.members.iter().any(leaves) {
                    continue;
                }
                let next = TeamDoc {
                    rev: team.rev + 1,
                    members: team
                        .members
                        .iter()
                        .filter(|member| !leaves(member))
                        .cloned()
                        .collect(),
                    ..team.clone()
                };
                writes.push(Write::replace(Kind::Teams, &next, team.rev)?);
            }
            match outcome(self.store.commit(tenant, &writes, &events).await?) {
                Outcome::Done => {
                    if !events.is_empty() {
                        self.wake();
                    }
                    for ticket in &requeued {
                        self.publish_to_queue(tenant, events::TICKET_ASSIGNED, ticket, actor)
                            .await;
                    }
                    return Ok(Some(handed));
                }
                Outcome::Duplicate => return Ok(None),
                Outcome::Retry => continue,
            }
        }
        Err(collided())
    }

    /// A page of the assets due back from leavers.
    pub async fn assets_due_for_return(
        &self,
        tenant: &TenantId,
        page: &erp_kit::pagination::PageRequest,
    ) -> ApiResult<Vec<AssetDoc>> {
        team_store::assets_due_for_return(&*self.store, tenant, page).await
    }
}
