//! Helpdesk teams and queues: a new ticket is routed to the first queue whose conditions it
//! meets and assigned among its team's available members (round-robin or least open tickets);
//! agents reassign by hand. The row rule: a helpdesk admin sees every ticket, an agent the
//! unrouted ones and those of their teams' queues, on every path (lists, one ticket, counts,
//! the live queue, every change).
//!
//! An assignment writes the team back at the revision it read (its rotation counter moves), so
//! two tickets arriving at once are serialised on the team: the second reads again and takes
//! the next turn, never the same one.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::Utc;
use serde_json::Value;

use erp_kit::auth::Claims;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, ErrorCode, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::helpdesk::TicketStatus;
use crate::domain::teams::{self, AssignmentRule, Conditions, Member};
use crate::domain::OpsRule;
use crate::events;
use crate::store::teams as team_store;
use crate::store::{Kind, QueueDoc, TeamDoc, TicketDoc, Write};

/// The scope that sees every ticket and manages teams and queues.
pub const ADMIN_SCOPE: &str = "helpdesk:admin";

/// How often a new ticket's routing is tried again when a concurrent assignment took the
/// team's turn first (each retry reads the team again): a burst of tickets into one team
/// waits its turn rather than failing.
const ROUTING_ATTEMPTS: u32 = 40;

/// Who looks at the helpdesk.
#[derive(Debug, Clone)]
pub struct HelpdeskViewer {
    pub user_id: String,
    /// A helpdesk admin: every ticket of the tenant.
    pub sees_all: bool,
}

impl HelpdeskViewer {
    pub fn of(claims: &Claims) -> Self {
        Self {
            user_id: claims.sub.clone(),
            sees_all: claims.permissions.iter().any(|scope| scope == ADMIN_SCOPE),
        }
    }
}

/// A new team.
pub struct NewTeam {
    pub name: String,
    pub members: Vec<Member>,
}

/// A new queue.
pub struct NewQueue {
    pub name: String,
    pub team_id: String,
    pub conditions: Conditions,
    pub assignment: AssignmentRule,
    pub position: i32,
}

/// Open work: what least-open counts and what a leaver hands back.
const OPEN: [TicketStatus; 3] = [TicketStatus::New, TicketStatus::Open, TicketStatus::Pending];

impl Ops {
    pub async fn helpdesk_teams(&self, tenant: &TenantId) -> ApiResult<Vec<TeamDoc>> {
        team_store::teams(&*self.store, tenant).await
    }

    pub async fn helpdesk_team(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TeamDoc>> {
        team_store::team(&*self.store, tenant, id).await
    }

    pub async fn helpdesk_queues(&self, tenant: &TenantId) -> ApiResult<Vec<QueueDoc>> {
        team_store::queues(&*self.store, tenant).await
    }

    pub async fn helpdesk_queue(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<QueueDoc>> {
        team_store::queue(&*self.store, tenant, id).await
    }

    /// Creates a team with its members.
    pub async fn create_team(&self, tenant: &TenantId, new: NewTeam) -> ApiResult<TeamDoc> {
        teams::check_members(&new.members).map_err(|why| ApiError::bad_input("members", why))?;
        let team = TeamDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            name: new.name,
            members: new.members,
            next_turn: 0,
            created_at: Utc::now(),
        };
        let writes = [Write::insert(Kind::Teams, &team)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(team),
            _ => Err(collided()),
        }
    }

    /// Replaces a team's members (the tickets assigned to a member who is no longer one stay
    /// theirs until reassigned).
    pub async fn set_team_members(
        &self,
        tenant: &TenantId,
        team_id: &str,
        members: Vec<Member>,
    ) -> ApiResult<TeamDoc> {
        teams::check_members(&members).map_err(|why| ApiError::bad_input("members", why))?;
        self.change_team(tenant, team_id, |team| {
            team.members = members.clone();
            Ok(())
        })
        .await
    }

    /// Marks a member available (assignment may pick them) or away: the caller themselves, or
    /// anyone for a helpdesk admin.
    pub async fn set_agent_availability(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        team_id: &str,
        user_id: &str,
        available: bool,
    ) -> ApiResult<TeamDoc> {
        if user_id != caller.sub && !HelpdeskViewer::of(caller).sees_all {
            return Err(ApiError::Forbidden(format!(
                "only a helpdesk admin ({ADMIN_SCOPE}) sets another agent's availability"
            )));
        }
        self.change_team(tenant, team_id, |team| {
            let member = team
                .members
                .iter_mut()
                .find(|member| member.user_id == user_id)
                .ok_or_else(|| OpsRule::AssigneeNotInTeam(user_id.to_owned()))?;
            member.available = available;
            Ok(())
        })
        .await
    }

    async fn change_team(
        &self,
        tenant: &TenantId,
        team_id: &str,
        change: impl Fn(&mut TeamDoc) -> ApiResult<()>,
    ) -> ApiResult<TeamDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let team = team_store::team(&*self.store, tenant, team_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("team".into()))?;
            let mut next = TeamDoc {
                rev: team.rev + 1,
                ..team.clone()
            };
            change(&mut next)?;
            let writes = [Write::replace(Kind::Teams, &next, team.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Creates a queue routing the tickets that meet its conditions to a team of the tenant.
    pub async fn create_queue(&self, tenant: &TenantId, new: NewQueue) -> ApiResult<QueueDoc> {
        if team_store::team(&*self.store, tenant, &new.team_id)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound("team".into()));
        }
        let queue = QueueDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            name: new.name,
            team_id: new.team_id,
            conditions: new.conditions,
            assignment: new.assignment,
            position: new.position,
            created_at: Utc::now(),
        };
        let writes = [Write::insert(Kind::Queues, &queue)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(queue),
            _ => Err(collided()),
        }
    }

    /// The `team_id` values a viewer's tickets may have: None for every ticket (an admin),
    /// else unrouted (null) and the viewer's teams.
    pub async fn visible_team_values(
        &self,
        tenant: &TenantId,
        viewer: &HelpdeskViewer,
    ) -> ApiResult<Option<Vec<Value>>> {
        if viewer.sees_all {
            return Ok(None);
        }
        let mine: Vec<String> = team_store::teams(&*self.store, tenant)
            .await?
            .into_iter()
            .filter(|team| team.members.iter().any(|m| m.user_id == viewer.user_id))
            .map(|team| team.id)
            .collect();
        Ok(Some(team_store::team_values(&mine)))
    }

    /// Whether the viewer sees a ticket of this team.
    pub async fn sees_team(
        &self,
        tenant: &TenantId,
        viewer: &HelpdeskViewer,
        team_id: Option<&str>,
    ) -> ApiResult<bool> {
        let Some(team_id) = team_id else {
            return Ok(true);
        };
        if viewer.sees_all {
            return Ok(true);
        }
        Ok(team_store::team(&*self.store, tenant, team_id)
            .await?
            .is_some_and(|team| team.members.iter().any(|m| m.user_id == viewer.user_id)))
    }

    /// One ticket, when the viewer sees it (another team's is as missing as another tenant's).
    pub async fn visible_ticket(
        &self,
        tenant: &TenantId,
        viewer: &HelpdeskViewer,
        id: &str,
    ) -> ApiResult<Option<TicketDoc>> {
        let Some(ticket) = self.ticket(tenant, id).await? else {
            return Ok(None);
        };
        Ok(self
            .sees_team(tenant, viewer, ticket.team_id.as_deref())
            .await?
            .then_some(ticket))
    }

    /// A ticket the caller works (NOT_FOUND when they do not see it).
    pub(super) async fn workable_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<TicketDoc> {
        self.visible_ticket(tenant, &HelpdeskViewer::of(caller), id)
            .await?
            .ok_or_else(|| ApiError::NotFound("ticket".into()))
    }

    /// A page of the tickets the viewer sees, of one status or all.
    pub async fn visible_tickets(
        &self,
        tenant: &TenantId,
        viewer: &HelpdeskViewer,
        status: Option<TicketStatus>,
        page: &PageRequest,
    ) -> ApiResult<Vec<TicketDoc>> {
        match self.visible_team_values(tenant, viewer).await? {
            None => self.tickets(tenant, status, page).await,
            Some(values) => {
                team_store::tickets_of_teams(&*self.store, tenant, &values, status, Some(page))
                    .await
            }
        }
    }

    /// How many tickets the viewer sees, by status in lifecycle order (statuses with none
    /// left out): counted by the store (one aggregation), exact at any size, under the row
    /// rule (an agent counts the unrouted tickets and their teams').
    pub async fn ticket_counts(
        &self,
        tenant: &TenantId,
        viewer: &HelpdeskViewer,
    ) -> ApiResult<Vec<(TicketStatus, u64)>> {
        let visible = self.visible_team_values(tenant, viewer).await?;
        let groups =
            team_store::ticket_counts_by_status(&*self.store, tenant, visible.as_deref()).await?;
        let mut counts: Vec<(TicketStatus, u64)> =
            groups.into_iter().filter(|(_, count)| *count > 0).collect();
        counts.sort_by_key(|(status, _)| status.lifecycle_rank());
        Ok(counts)
    }

    /// Routes a new ticket: the first queue (by position) whose conditions it meets gives its
    /// team, and the queue's rule an available member. Returns the team written back with its
    /// next turn (at the revision read) when a member was picked. The one-ticket case of
    /// [`Ops::route_batch`], so one routing rule serves both paths.
    pub(super) async fn route(
        &self,
        tenant: &TenantId,
        ticket: &mut TicketDoc,
    ) -> ApiResult<Option<Write>> {
        let writes = self
            .route_batch(tenant, std::slice::from_mut(ticket), &[true])
            .await?;
        Ok(writes.into_iter().next())
    }

    /// Routes new tickets, in order: each goes to the first queue (by position) whose
    /// conditions it meets, that queue's team, and the queue's rule picks an available member.
    /// The queues and teams are read once; a round-robin team's turns for the whole batch are
    /// taken in one atomic increment of its turn counter (a burst of tickets into one queue
    /// takes its turns without rewriting the team document, which every one of them would
    /// otherwise replace at its revision, colliding and retrying); least-open counts are read
    /// once per team and kept as the batch assigns (a ticket counts when `stays_open` says it
    /// is still open after the load). Answers the writes of the teams whose rotation moved
    /// (the other rules), each at the revision read.
    pub(super) async fn route_batch(
        &self,
        tenant: &TenantId,
        tickets: &mut [TicketDoc],
        stays_open: &[bool],
    ) -> ApiResult<Vec<Write>> {
        let queues = team_store::queues(&*self.store, tenant).await?;
        let routed: Vec<Option<&QueueDoc>> = tickets
            .iter()
            .map(|ticket| {
                queues.iter().find(|queue| {
                    queue.conditions.matches(
                        ticket.category.as_deref(),
                        ticket.priority,
                        ticket.channel,
                    )
                })
            })
            .collect();
        let mut team_docs: HashMap<&str, TeamDoc> = HashMap::new();
        for queue in routed.iter().flatten() {
            if let Entry::Vacant(slot) = team_docs.entry(queue.team_id.as_str()) {
                if let Some(team) = team_store::team(&*self.store, tenant, &queue.team_id).await? {
                    slot.insert(team);
                }
            }
        }
        // Round robin: each team's turns for the batch at once, handed out in ticket order.
        let mut wanted: HashMap<&str, u64> = HashMap::new();
        for queue in routed.iter().flatten() {
            let staffed = team_docs
                .get(queue.team_id.as_str())
                .is_some_and(|team| team.members.iter().any(|member| member.available));
            if queue.assignment == AssignmentRule::RoundRobin && staffed {
                *wanted.entry(queue.team_id.as_str()).or_default() += 1;
            }
        }
        let mut turns: HashMap<&str, u64> = HashMap::new();
        for (team_id, count) in wanted {
            turns.insert(
                team_id,
                self.store.take_turns(tenant, team_id, count).await?,
            );
        }
        let mut open: HashMap<&str, HashMap<String, u64>> = HashMap::new();
        let mut moved: HashMap<&str, u64> = HashMap::new();
        for ((ticket, queue), stays_open) in tickets.iter_mut().zip(&routed).zip(stays_open) {
            let Some(queue) = queue else { continue };
            ticket.queue_id = Some(queue.id.clone());
            ticket.team_id = Some(queue.team_id.clone());
            let Some(team) = team_docs.get(queue.team_id.as_str()) else {
                continue;
            };
            if queue.assignment == AssignmentRule::RoundRobin {
                if let Some(turn) = turns.get_mut(queue.team_id.as_str()) {
                    ticket.assignee_id = teams::round_robin_at(&team.members, *turn);
                    *turn += 1;
                }
                continue;
            }
            if queue.assignment == AssignmentRule::LeastOpen {
                if let Entry::Vacant(slot) = open.entry(queue.team_id.as_str()) {
                    let counts =
                        team_store::open_tickets_by_assignee(&*self.store, tenant, &team.id, &OPEN)
                            .await?;
                    slot.insert(counts.into_iter().collect());
                }
            }
            let counts = open.get(queue.team_id.as_str());
            let turn = moved
                .get(queue.team_id.as_str())
                .copied()
                .unwrap_or(team.next_turn);
            let open_of = |user: &str| counts.and_then(|c| c.get(user)).copied().unwrap_or(0);
            let Some(pick) = teams::pick(queue.assignment, &team.members, turn, open_of) else {
                continue;
            };
            if *stays_open {
                if let Some(counts) = open.get_mut(queue.team_id.as_str()) {
                    *counts.entry(pick.user_id.clone()).or_default() += 1;
                }
            }
            moved.insert(queue.team_id.as_str(), pick.next_turn);
            ticket.assignee_id = Some(pick.user_id);
        }
        moved
            .into_iter()
            .map(|(team_id, next_turn)| {
                let team = &team_docs[team_id];
                let next = TeamDoc {
                    rev: team.rev + 1,
                    next_turn,
                    ..team.clone()
                };
                Write::replace(Kind::Teams, &next, team.rev)
            })
            .collect()
    }

    /// Opens a routed ticket: routing read again after a concurrent assignment took the turn.
    pub(super) async fn commit_new_ticket(
        &self,
        tenant: &TenantId,
        actor: &str,
        ticket: &mut TicketDoc,
        created: EventEnvelope,
        extra: &[Write],
    ) -> ApiResult<()> {
        let template = ticket.clone();
        for attempt in 0..ROUTING_ATTEMPTS {
            if attempt > 0 {
                // Spread the retries of a burst so they do not collide again in step.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
                tokio::time::sleep(std::time::Duration::from_millis(
                    2 + jitter + u64::from(attempt.min(10)),
                ))
                .await;
            }
            *ticket = template.clone();
            let team_write = self.route(tenant, ticket).await?;
            let mut events = vec![created.clone()];
            if let Some(assignee) = &ticket.assignee_id {
                events.push(assigned_event(
                    tenant,
                    ticket,
                    Some(assignee),
                    None,
                    "routed",
                    actor,
                )?);
            }
            let mut writes = vec![Write::insert(Kind::Tickets, &*ticket)?];
            writes.extend(team_write);
            writes.extend_from_slice(extra);
            match self.store.commit(tenant, &writes, &events).await {
                Ok(commit) => match outcome(commit) {
                    Outcome::Done => return Ok(()),
                    Outcome::Retry => continue,
                    Outcome::Duplicate => return Err(collided()),
                },
                // The backend's own retries of a write conflict ran out: read again.
                Err(err) if err.code() == ErrorCode::Conflict => continue,
                Err(err) => return Err(err),
            }
        }
        Err(collided())
    }

    /// Moves a ticket to another queue (its team's) and/or assigns it to a member of its team
    /// (`assignee_id` None: unassigned, waiting in its queue). Publishes `ticket.assigned`.
    pub async fn assign_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ticket_id: &str,
        queue_id: Option<&str>,
        assignee_id: Option<&str>,
    ) -> ApiResult<TicketDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.workable_ticket(tenant, caller, ticket_id).await?;
            if ticket.status.is_final() {
                return Err(
                    OpsRule::TicketState("a closed or merged ticket is not reassigned").into(),
                );
            }
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                assignee_id: assignee_id.map(str::to_owned),
                ..ticket.clone()
            };
            let mut writes = Vec::new();
            if let Some(queue_id) = queue_id {
                let queue = team_store::queue(&*self.store, tenant, queue_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("queue".into()))?;
                next.queue_id = Some(queue.id.clone());
                next.team_id = Some(queue.team_id.clone());
            }
            if let (Some(assignee), Some(team_id)) = (assignee_id, next.team_id.as_deref()) {
                let team = team_store::team(&*self.store, tenant, team_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("team".into()))?;
                if !team.members.iter().any(|member| member.user_id == assignee) {
                    return Err(OpsRule::AssigneeNotInTeam(assignee.to_owned()).into());
                }
                // Written back unchanged at its revision: a member removed meanwhile collides.
                let kept = TeamDoc {
                    rev: team.rev + 1,
                    ..team.clone()
                };
                writes.push(Write::replace(Kind::Teams, &kept, team.rev)?);
            }
            writes.insert(0, Write::replace(Kind::Tickets, &next, ticket.rev)?);
            let event = assigned_event(
                tenant,
                &next,
                next.assignee_id.as_deref(),
                ticket.assignee_id.as_deref(),
                "reassigned",
                &caller.sub,
            )?;
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                self.publish_to_queue(tenant, events::TICKET_ASSIGNED, &next, &caller.sub)
                    .await;
                return Ok(next);
            }
        }
        Err(collided())
    }
}

/// The `ticket.assigned` event of a ticket.
pub(super) fn assigned_event(
    tenant: &TenantId,
    ticket: &TicketDoc,
    assignee: Option<&str>,
    previous: Option<&str>,
    because: &str,
    actor: &str,
) -> ApiResult<EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        events::TICKET_ASSIGNED,
        &ticket.id,
        actor,
        events::TicketAssigned {
            ticket_id: &ticket.id,
            queue_id: ticket.queue_id.as_deref(),
            team_id: ticket.team_id.as_deref(),
            assignee_id: assignee,
            previous_assignee_id: previous,
            because,
        },
    )
}
