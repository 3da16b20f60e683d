//! The helpdesk: tickets (portal, e-mail adapter, API) with their replies, status changes and
//! merges, driving three SLA clocks per ticket; the SLA policy of each priority with its
//! business calendar. Due times are computed when read from the clocks and the current policy,
//! so a calendar or policy change applies to every open ticket at once.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, ErrorCode, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::asset::MAX_BULK_ITEMS;
use crate::domain::collided;
use crate::domain::helpdesk::{check_split_selection, Channel, Priority, TicketStatus};
use crate::domain::sla::{BusinessCalendar, DayHours, Targets, TicketClocks};
use crate::events;
use crate::store::helpdesk as helpdesk_store;
use crate::store::{Kind, ReplyDoc, SlaPolicyDoc, TicketDoc, Write};
use erp_kit::events::EventEnvelope;

/// A new ticket, parsed.
pub struct NewTicket {
    pub subject: String,
    pub description: String,
    pub channel: Channel,
    pub priority: Priority,
    pub asset_id: Option<String>,
    pub client_id: Option<String>,
    /// What it is about (queues route by it).
    pub category: Option<String>,
}

/// A ticket a bulk load opens on behalf of its requester, and the status it ends in.
pub struct LoadedTicket {
    pub requester_id: String,
    pub requester_name: String,
    pub ticket: NewTicket,
    /// New, or where a person would have moved it from new: open, pending, resolved or
    /// closed (never merged: a merge names another ticket).
    pub status: TicketStatus,
}

/// The statuses a new ticket passes through to reach `to`, as a person moves it.
fn steps_to(to: TicketStatus) -> ApiResult<&'static [TicketStatus]> {
    use TicketStatus::*;
    Ok(match to {
        New => &[],
        Open => &[Open],
        Pending => &[Open, Pending],
        Resolved => &[Open, Resolved],
        Closed => &[Open, Resolved, Closed],
        Merged => {
            return Err(ApiError::bad_input(
                "status",
                "a loaded ticket is not merged: merge it into another once loaded",
            ))
        }
    })
}

/// An SLA policy as given.
pub struct NewSlaPolicy {
    pub priority: Priority,
    pub zone: chrono_tz::Tz,
    pub week: [DayHours; 7],
    pub holidays: BTreeSet<NaiveDate>,
    pub first_response_minutes: u32,
    pub update_minutes: u32,
    pub resolution_minutes: u32,
}

/// The business calendar of a stored policy.
pub fn calendar_of(policy: &SlaPolicyDoc) -> ApiResult<BusinessCalendar> {
    let zone: chrono_tz::Tz = policy
        .time_zone
        .parse()
        .map_err(|_| ApiError::internal("a stored unknown time zone"))?;
    let week: [DayHours; 7] = policy
        .weekly_hours
        .clone()
        .try_into()
        .map_err(|_| ApiError::internal("a stored week without seven days"))?;
    BusinessCalendar::new(zone, week, policy.holidays.iter().copied().collect())
}

impl Ops {
    pub async fn ticket(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TicketDoc>> {
        helpdesk_store::ticket(&*self.store, tenant, id).await
    }

    pub async fn tickets(
        &self,
        tenant: &TenantId,
        status: Option<TicketStatus>,
        page: &PageRequest,
    ) -> ApiResult<Vec<TicketDoc>> {
        helpdesk_store::list_tickets(&*self.store, tenant, status, page).await
    }

    pub async fn ticket_replies(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ReplyDoc>> {
        helpdesk_store::replies_page(&*self.store, tenant, ticket_id, page).await
    }

    /// The SLA policy of a priority and its calendar, when the tenant has one.
    pub async fn sla_policy(
        &self,
        tenant: &TenantId,
        priority: Priority,
    ) -> ApiResult<Option<(SlaPolicyDoc, BusinessCalendar)>> {
        match helpdesk_store::sla_policy(&*self.store, tenant, priority).await? {
            Some(policy) => {
                let calendar = calendar_of(&policy)?;
                Ok(Some((policy, calendar)))
            }
            None => Ok(None),
        }
    }

    /// The SLA policies (with their calendars) of the priorities given, by priority, in one
    /// read (the tickets list's loader).
    pub async fn sla_policies_of(
        &self,
        tenant: &TenantId,
        priorities: &[Priority],
    ) -> ApiResult<Vec<(SlaPolicyDoc, BusinessCalendar)>> {
        helpdesk_store::sla_policies_of(&*self.store, tenant, priorities)
            .await?
            .into_iter()
            .map(|policy| {
                let calendar = calendar_of(&policy)?;
                Ok((policy, calendar))
            })
            .collect()
    }

    /// The targets and calendar of `priority`'s policy, when the tenant has one.
    pub(super) async fn policy_of(
        &self,
        tenant: &TenantId,
        priority: Priority,
    ) -> ApiResult<Option<(Targets, BusinessCalendar)>> {
        Ok(self
            .sla_policy(tenant, priority)
            .await?
            .map(|(policy, calendar)| (targets_of(&policy), calendar)))
    }

    /// Sets the SLA policy of a priority (replacing the one before): the open tickets of that
    /// priority get their due times from it at once, their paused time kept.
    pub async fn set_sla_policy(
        &self,
        tenant: &TenantId,
        new: NewSlaPolicy,
    ) -> ApiResult<SlaPolicyDoc> {
        // Validates the hours before anything is written.
        BusinessCalendar::new(new.zone, new.week.clone(), new.holidays.clone())?;
        for (field, minutes) in [
            ("firstResponseMinutes", new.first_response_minutes),
            ("updateMinutes", new.update_minutes),
            ("resolutionMinutes", new.resolution_minutes),
        ] {
            if minutes == 0 || minutes > 525_600 {
                return Err(ApiError::bad_input(
                    field,
                    "a target is 1 to 525600 minutes",
                ));
            }
        }
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let current = helpdesk_store::sla_policy(&*self.store, tenant, new.priority).await?;
            let policy = SlaPolicyDoc {
                id: SlaPolicyDoc::id_for(tenant.as_str(), new.priority),
                tenant_id: tenant.as_str().to_owned(),
                rev: current.as_ref().map_or(0, |policy| policy.rev + 1),
                priority: new.priority,
                time_zone: new.zone.name().to_owned(),
                weekly_hours: new.week.to_vec(),
                holidays: new.holidays.iter().copied().collect(),
                first_response_minutes: new.first_response_minutes,
                update_minutes: new.update_minutes,
                resolution_minutes: new.resolution_minutes,
            };
            let write = match &current {
                Some(current) => Write::replace(Kind::SlaPolicies, &policy, current.rev)?,
                None => Write::insert(Kind::SlaPolicies, &policy)?,
            };
            if let Outcome::Done = outcome(self.store.commit(tenant, &[write], &[]).await?) {
                self.reschedule_open_tickets(tenant, new.priority).await?;
                return Ok(policy);
            }
        }
        Err(collided())
    }

    /// Recomputes when the open tickets of `priority` breach next, after its policy changed: a
    /// page of 100 tickets a commit. A ticket changed concurrently is skipped: that change
    /// scheduled it under the new policy.
    async fn reschedule_open_tickets(
        &self,
        tenant: &TenantId,
        priority: Priority,
    ) -> ApiResult<()> {
        let policy = self.policy_of(tenant, priority).await?;
        let mut after: Option<String> = None;
        loop {
            let page = PageRequest {
                limit: 100,
                after: after.clone(),
                before: None,
                backward: false,
            };
            let mut tickets =
                helpdesk_store::tickets_of_priority(&*self.store, tenant, priority, &page).await?;
            let more = tickets.len() as u64 > page.limit;
            tickets.truncate(page.limit as usize);
            after = tickets.last().map(|ticket| ticket.id.clone());
            let mut writes = Vec::with_capacity(tickets.len());
            for ticket in tickets {
                let mut next = TicketDoc {
                    rev: ticket.rev + 1,
                    ..ticket.clone()
                };
                schedule(&mut next, policy.as_ref());
                if next.next_breach_at != ticket.next_breach_at {
                    writes.push(Write::replace(Kind::Tickets, &next, ticket.rev)?);
                }
            }
            // The page's changed tickets in one commit (all or nothing); when one of them
            // changed meanwhile the commit is stale, and the others are written one by one.
            if !writes.is_empty()
                && !matches!(
                    outcome(self.store.commit(tenant, &writes, &[]).await?),
                    Outcome::Done
                )
            {
                for write in &writes {
                    let _ = self
                        .store
                        .commit(tenant, std::slice::from_ref(write), &[])
                        .await?;
                }
            }
            if !more {
                break;
            }
        }
        self.breach_timer.notify_one();
        Ok(())
    }

    /// Fires every SLA breach due by `now`, across tenants: each target of each ticket once
    /// (the fired flag is written with the ticket at the revision read, so two replicas never
    /// both fire it), with an `sla.breached` event. Returns the breaches fired.
    pub async fn fire_due_breaches(&self, now: chrono::DateTime<Utc>) -> ApiResult<u64> {
        let due = self.store.due_breaches(now.timestamp_millis(), 100).await?;
        let mut fired = 0;
        for raw in due {
            let ticket: TicketDoc = crate::store::decode(raw)?;
            let tenant = TenantId::from_claim(&ticket.tenant_id);
            let policy = self.policy_of(&tenant, ticket.priority).await?;
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                ..ticket.clone()
            };
            let targets = match (&policy, ticket.status.is_final()) {
                (Some((targets, calendar)), false) => next.clocks.fire_due(now, targets, calendar),
                _ => vec![],
            };
            schedule(&mut next, policy.as_ref());
            let events = targets
                .iter()
                .map(|target| {
                    EventEnvelope::by_actor(
                        &tenant,
                        events::SLA_BREACHED,
                        &ticket.id,
                        "sla-timer",
                        events::SlaBreached {
                            ticket_id: &ticket.id,
                            target: *target,
                            priority: ticket.priority,
                            client_id: ticket.client_id.as_deref(),
                        },
                    )
                })
                .collect::<ApiResult<Vec<_>>>()?;
            let writes = [Write::replace(Kind::Tickets, &next, ticket.rev)?];
            if let Outcome::Done = outcome(self.store.commit(&tenant, &writes, &events).await?) {
                fired += targets.len() as u64;
                if !targets.is_empty() {
                    self.publish_to_queue(&tenant, events::SLA_BREACHED, &next, "sla-timer")
                        .await;
                }
            }
        }
        if fired > 0 {
            self.wake();
        }
        Ok(fired)
    }

    /// The SLA breach timer: fires what is due, then sleeps until the next breach is due (or a
    /// ticket or policy changes, or 30 s pass, for changes made by other replicas). After a
    /// restart it fires at once what came due while it was down, and nothing twice.
    pub fn spawn_breach_timer(&self) -> tokio::task::JoinHandle<()> {
        let ops = self.clone();
        tokio::spawn(async move {
            loop {
                let now = Utc::now();
                let wait = match ops.fire_due_breaches(now).await {
                    Ok(_) => match ops.store.next_breach_at().await {
                        Ok(Some(at)) => {
                            let millis = (at - Utc::now().timestamp_millis()).clamp(0, 30_000);
                            std::time::Duration::from_millis(millis as u64)
                        }
                        Ok(None) => std::time::Duration::from_secs(30),
                        Err(err) => {
                            tracing::warn!(error = ?err, "SLA timer: the next breach was not read");
                            std::time::Duration::from_secs(5)
                        }
                    },
                    Err(err) => {
                        tracing::warn!(error = ?err, "SLA timer: breaches were not fired");
                        std::time::Duration::from_secs(5)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ops.breach_timer.notified() => {}
                }
            }
        })
    }

    /// Opens a ticket requested by the caller; its three clocks start. Publishes
    /// `ticket.created`.
    pub async fn create_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewTicket,
    ) -> ApiResult<TicketDoc> {
        let ticket = new_ticket_doc(tenant, &caller.sub, &caller.name, new, Vec::new());
        self.open_ticket(tenant, &caller.sub, ticket, Vec::new())
            .await
    }

    /// Opens 1 to 1,000 tickets on behalf of their requesters in one commit, all or nothing
    /// (a seed's or an import's bulk path; no GraphQL field): each routed and assigned as
    /// [`Ops::create_ticket`] routes one, its clocks started, then moved by the caller along
    /// the statuses a person would have moved it to its `status`. The events are the single
    /// path's, in its order: `ticket.created`, `ticket.assigned` when routed to someone, one
    /// `ticket.status_changed` per step. A merged status is refused, naming the ticket, before
    /// anything is written.
    pub async fn open_tickets(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        tickets: Vec<LoadedTicket>,
    ) -> ApiResult<Vec<TicketDoc>> {
        if tickets.is_empty() || tickets.len() > MAX_BULK_ITEMS {
            return Err(ApiError::bad_input(
                "tickets",
                format!("a bulk operation takes 1 to {MAX_BULK_ITEMS} items"),
            ));
        }
        let mut planned = Vec::with_capacity(tickets.len());
        for (at, loaded) in tickets.into_iter().enumerate() {
            let steps =
                steps_to(loaded.status).map_err(|err| err.about(format_args!("ticket {at}")))?;
            let doc = new_ticket_doc(
                tenant,
                &loaded.requester_id,
                &loaded.requester_name,
                loaded.ticket,
                Vec::new(),
            );
            planned.push((doc, steps));
        }
        let mut policies = HashMap::new();
        for (doc, _) in &planned {
            if let Entry::Vacant(slot) = policies.entry(doc.priority) {
                slot.insert(self.policy_of(tenant, doc.priority).await?);
            }
        }
        let stays_open: Vec<bool> = planned
            .iter()
            .map(|(_, steps)| {
                let last = steps.last().copied().unwrap_or(TicketStatus::New);
                matches!(
                    last,
                    TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
                )
            })
            .collect();
        let actor = caller.sub.as_str();
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let mut docs: Vec<TicketDoc> = planned.iter().map(|(doc, _)| doc.clone()).collect();
            let created = docs
                .iter()
                .map(|doc| ticket_event(tenant, events::TICKET_CREATED, doc, actor))
                .collect::<ApiResult<Vec<_>>>()?;
            let team_writes = self.route_batch(tenant, &mut docs, &stays_open).await?;
            let now = Utc::now();
            let mut published = Vec::with_capacity(docs.len() * 3);
            let mut writes = Vec::with_capacity(docs.len() + team_writes.len());
            for ((doc, (_, steps)), created) in docs.iter_mut().zip(&planned).zip(created) {
                published.push(created);
                if let Some(assignee) = doc.assignee_id.clone() {
                    published.push(super::teams::assigned_event(
                        tenant,
                        doc,
                        Some(&assignee),
                        None,
                        "routed",
                        actor,
                    )?);
                }
                let policy = policies.get(&doc.priority).and_then(Option::as_ref);
                let calendar = clock_calendar(policy);
                for step in *steps {
                    let status = doc.status.change_to(*step)?;
                    doc.clocks
                        .status_changed(doc.status, status, now, &calendar);
                    doc.status = status;
                    published.push(ticket_event(
                        tenant,
                        events::TICKET_STATUS_CHANGED,
                        doc,
                        actor,
                    )?);
                }
                schedule(doc, policy);
                writes.push(Write::insert(Kind::Tickets, &*doc)?);
            }
            writes.extend(team_writes);
            match self.store.commit(tenant, &writes, &published).await {
                Ok(commit) => match outcome(commit) {
                    Outcome::Done => {
                        self.wake();
                        self.breach_timer.notify_one();
                        for doc in &docs {
                            self.publish_to_queue(tenant, events::TICKET_CREATED, doc, actor)
                                .await;
                            if doc.assignee_id.is_some() {
                                self.publish_to_queue(tenant, events::TICKET_ASSIGNED, doc, actor)
                                    .await;
                            }
                        }
                        return Ok(docs);
                    }
                    // A team's rotation moved meanwhile: route again.
                    Outcome::Retry => continue,
                    Outcome::Duplicate => return Err(collided()),
                },
                Err(err) if err.code() == ErrorCode::Conflict => continue,
                Err(err) => return Err(err),
            }
        }
        Err(collided())
    }

    /// Schedules, routes and commits a new ticket (with `extra` writes in the same commit),
    /// then wakes the relay and the timer and tells the live queue.
    pub(super) async fn open_ticket(
        &self,
        tenant: &TenantId,
        actor: &str,
        mut ticket: TicketDoc,
        extra: Vec<Write>,
    ) -> ApiResult<TicketDoc> {
        let policy = self.policy_of(tenant, ticket.priority).await?;
        schedule(&mut ticket, policy.as_ref());
        let event = ticket_event(tenant, events::TICKET_CREATED, &ticket, actor)?;
        self.commit_new_ticket(tenant, actor, &mut ticket, event, &extra)
            .await?;
        self.wake();
        self.breach_timer.notify_one();
        self.publish_to_queue(tenant, events::TICKET_CREATED, &ticket, actor)
            .await;
        if ticket.assignee_id.is_some() {
            self.publish_to_queue(tenant, events::TICKET_ASSIGNED, &ticket, actor)
                .await;
        }
        Ok(ticket)
    }

    /// Adds a reply: by the requester, or by an agent (`is_agent`), which meets the first
    /// response, restarts the update clock and opens a new ticket. Never on a merged or closed
    /// ticket. Publishes `ticket.replied`.
    pub async fn reply_to_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ticket_id: &str,
        body: String,
        is_agent: bool,
    ) -> ApiResult<(TicketDoc, ReplyDoc)> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.existing_ticket(tenant, ticket_id).await?;
            ticket.status.accepts_replies()?;
            let by_agent = caller.sub != ticket.requester_id;
            if by_agent && !is_agent {
                return Err(ApiError::Forbidden(
                    "only the requester or an agent replies on a ticket".into(),
                ));
            }
            // An agent replies on the tickets of their teams' queues (or unrouted ones) only.
            if by_agent
                && !self
                    .sees_team(
                        tenant,
                        &super::teams::HelpdeskViewer::of(caller),
                        ticket.team_id.as_deref(),
                    )
                    .await?
            {
                return Err(ApiError::NotFound("ticket".into()));
            }
            let now = Utc::now();
            let policy = self.policy_of(tenant, ticket.priority).await?;
            let calendar = clock_calendar(policy.as_ref());
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                ..ticket.clone()
            };
            if by_agent {
                next.clocks.agent_replied(now, &calendar);
                if next.status == TicketStatus::New {
                    next.status = TicketStatus::Open;
                }
            }
            schedule(&mut next, policy.as_ref());
            let reply = ReplyDoc {
                id: erp_kit::db::new_id(),
                tenant_id: tenant.as_str().to_owned(),
                rev: 0,
                ticket_id: ticket.id.clone(),
                author_id: caller.sub.clone(),
                body: body.clone(),
                by_agent,
                at: now,
                attachments: Vec::new(),
            };
            let event = ticket_event(tenant, events::TICKET_REPLIED, &next, &caller.sub)?;
            let writes = [
                Write::replace(Kind::Tickets, &next, ticket.rev)?,
                Write::insert(Kind::TicketReplies, &reply)?,
            ];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                self.breach_timer.notify_one();
                self.publish_to_queue(tenant, events::TICKET_REPLIED, &next, &caller.sub)
                    .await;
                return Ok((next, reply));
            }
        }
        Err(collided())
    }

    /// Moves a ticket to `to` (new -> open -> pending -> resolved -> closed, reopen from
    /// resolved); the clocks pause in pending and stop when closed. Publishes
    /// `ticket.status_changed`.
    pub async fn change_ticket_status(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ticket_id: &str,
        to: TicketStatus,
    ) -> ApiResult<TicketDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.workable_ticket(tenant, caller, ticket_id).await?;
            let status = ticket.status.change_to(to)?;
            let policy = self.policy_of(tenant, ticket.priority).await?;
            let calendar = clock_calendar(policy.as_ref());
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                status,
                ..ticket.clone()
            };
            next.clocks
                .status_changed(ticket.status, status, Utc::now(), &calendar);
            schedule(&mut next, policy.as_ref());
            let event = ticket_event(tenant, events::TICKET_STATUS_CHANGED, &next, &caller.sub)?;
            let writes = [Write::replace(Kind::Tickets, &next, ticket.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                self.breach_timer.notify_one();
                self.publish_to_queue(tenant, events::TICKET_STATUS_CHANGED, &next, &caller.sub)
                    .await;
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Merges a ticket into another of the tenant: it becomes merged (final, its clocks
    /// stopped); the target stays as it is. Publishes `ticket.merged`.
    pub async fn merge_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ticket_id: &str,
        into_id: &str,
    ) -> ApiResult<TicketDoc> {
        if ticket_id == into_id {
            return Err(ApiError::bad_input(
                "intoTicketId",
                "a ticket is not merged into itself",
            ));
        }
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.workable_ticket(tenant, caller, ticket_id).await?;
            let target = self.workable_ticket(tenant, caller, into_id).await?;
            let status = ticket.status.merge(target.status)?;
            let policy = self.policy_of(tenant, ticket.priority).await?;
            let calendar = clock_calendar(policy.as_ref());
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                status,
                merged_into: Some(target.id.clone()),
                ..ticket.clone()
            };
            next.clocks
                .status_changed(ticket.status, status, Utc::now(), &calendar);
            schedule(&mut next, policy.as_ref());
            let event = ticket_event(tenant, events::TICKET_MERGED, &next, &caller.sub)?;
            // The target is written back at its revision, so a merge into a ticket that was
            // closed or merged meanwhile collides instead of slipping through.
            let target_kept = TicketDoc {
                rev: target.rev + 1,
                ..target.clone()
            };
            let writes = [
                Write::replace(Kind::Tickets, &next, ticket.rev)?,
                Write::replace(Kind::Tickets, &target_kept, target.rev)?,
            ];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                self.publish_to_queue(tenant, events::TICKET_MERGED, &next, &caller.sub)
                    .await;
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Splits a ticket: the replies named move to a new ticket linked to it (same requester,
    /// priority, category, client, asset, queue, team and assignee; its description is the
    /// first reply moved), whose SLA clocks start at the split. The ticket, the new one and
    /// the moved replies are written in ONE commit, each reply at the revision read, with
    /// `ticket.split` on the ticket and `ticket.created` on the new one (the actor on both).
    /// Never on a closed or merged ticket.
    pub async fn split_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ticket_id: &str,
        reply_ids: &[String],
        subject: String,
    ) -> ApiResult<(TicketDoc, TicketDoc)> {
        check_split_selection(reply_ids)?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.workable_ticket(tenant, caller, ticket_id).await?;
            ticket.status.split()?;
            let mut replies: Vec<ReplyDoc> =
                crate::store::by_ids(&*self.store, tenant, Kind::TicketReplies, reply_ids).await?;
            if let Some(stray) = reply_ids.iter().find(|id| {
                !replies
                    .iter()
                    .any(|reply| &reply.id == *id && reply.ticket_id == ticket.id)
            }) {
                return Err(ApiError::bad_input(
                    "replyIds",
                    format!("{stray} is not a reply on this ticket"),
                ));
            }
            // The new ticket's conversation keeps its order.
            replies.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
            let now = Utc::now();
            let description = replies
                .first()
                .map(|reply| reply.body.clone())
                .unwrap_or_default();
            let mut split = TicketDoc {
                id: erp_kit::db::new_id(),
                rev: 0,
                subject: subject.clone(),
                description,
                status: TicketStatus::New,
                merged_into: None,
                clocks: TicketClocks::start(now),
                next_breach_at: None,
                created_at: now,
                split_from: Some(ticket.id.clone()),
                split_into: Vec::new(),
                attachments: Vec::new(),
                ..ticket.clone()
            };
            let policy = self.policy_of(tenant, split.priority).await?;
            schedule(&mut split, policy.as_ref());
            let mut original = TicketDoc {
                rev: ticket.rev + 1,
                ..ticket.clone()
            };
            original.split_into.push(split.id.clone());
            let mut writes = vec![
                Write::replace(Kind::Tickets, &original, ticket.rev)?,
                Write::insert(Kind::Tickets, &split)?,
            ];
            for reply in &replies {
                let moved = ReplyDoc {
                    rev: reply.rev + 1,
                    ticket_id: split.id.clone(),
                    ..reply.clone()
                };
                writes.push(Write::replace(Kind::TicketReplies, &moved, reply.rev)?);
            }
            let events = [
                EventEnvelope::by_actor(
                    tenant,
                    events::TICKET_SPLIT,
                    &original.id,
                    &caller.sub,
                    events::TicketSplit {
                        ticket_id: &original.id,
                        split_ticket_id: &split.id,
                        reply_ids: replies.iter().map(|reply| reply.id.as_str()).collect(),
                    },
                )?,
                ticket_event(tenant, events::TICKET_CREATED, &split, &caller.sub)?,
            ];
            match outcome(self.store.commit(tenant, &writes, &events).await?) {
                Outcome::Done => {
                    self.wake();
                    self.breach_timer.notify_one();
                    self.publish_to_queue(tenant, events::TICKET_SPLIT, &original, &caller.sub)
                        .await;
                    self.publish_to_queue(tenant, events::TICKET_CREATED, &split, &caller.sub)
                        .await;
                    return Ok((original, split));
                }
                Outcome::Retry => continue,
                Outcome::Duplicate => return Err(collided()),
            }
        }
        Err(collided())
    }

    /// Publishes a ticket's change on the tenant's live queue (best effort: the change is
    /// committed and its event is in the outbox; a subscriber that missed the live message
    /// catches up with the `tickets` query).
    pub(super) async fn publish_to_queue(
        &self,
        tenant: &TenantId,
        change: &str,
        ticket: &TicketDoc,
        actor: &str,
    ) {
        let message = events::TicketQueueMessage {
            change: change.to_owned(),
            ticket_id: ticket.id.clone(),
            status: ticket.status,
            priority: ticket.priority,
            actor: actor.to_owned(),
            at: Utc::now(),
            team_id: ticket.team_id.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&message) else {
            return;
        };
        if let Err(err) = self
            .live
            .publish(&events::ticket_queue_channel(tenant), &bytes)
            .await
        {
            tracing::warn!(error = %err, "live ticket queue change not published");
        }
    }

    /// The live changes of a tenant's ticket queue, from now on.
    pub async fn ticket_queue(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<futures::stream::BoxStream<'static, events::TicketQueueMessage>> {
        use futures::StreamExt;
        let raw = self
            .live
            .subscribe(&events::ticket_queue_channel(tenant))
            .await
            .map_err(ApiError::internal)?;
        Ok(raw
            .filter_map(|bytes| async move { serde_json::from_slice(&bytes).ok() })
            .boxed())
    }

    pub(super) async fn existing_ticket(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<TicketDoc> {
        self.ticket(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("ticket".into()))
    }
}

/// The policy's targets.
fn targets_of(policy: &SlaPolicyDoc) -> Targets {
    Targets {
        first_response: policy.first_response_minutes,
        update: policy.update_minutes,
        resolution: policy.resolution_minutes,
    }
}

/// The calendar the clocks count business time in: the policy's, or every minute without one.
pub(super) fn clock_calendar(policy: Option<&(Targets, BusinessCalendar)>) -> BusinessCalendar {
    policy.map_or_else(BusinessCalendar::always, |(_, calendar)| calendar.clone())
}

/// Sets when the ticket breaches next under `policy` (never when final or without a policy).
pub(super) fn schedule(ticket: &mut TicketDoc, policy: Option<&(Targets, BusinessCalendar)>) {
    ticket.next_breach_at = match policy {
        Some((targets, calendar)) if !ticket.status.is_final() => ticket
            .clocks
            .next_breach(targets, calendar)
            .map(|at| at.timestamp_millis()),
        _ => None,
    };
}

pub(super) fn ticket_event(
    tenant: &TenantId,
    kind: &str,
    ticket: &TicketDoc,
    actor: &str,
) -> ApiResult<erp_kit::events::EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        kind,
        &ticket.id,
        actor,
        events::TicketChanged {
            ticket_id: &ticket.id,
            status: ticket.status,
            priority: ticket.priority,
            client_id: ticket.client_id.as_deref(),
            asset_id: ticket.asset_id.as_deref(),
            merged_into: ticket.merged_into.as_deref(),
        },
    )
}

/// A new ticket of `requester`, its three clocks started now (not scheduled nor routed yet).
pub(super) fn new_ticket_doc(
    tenant: &TenantId,
    requester_id: &str,
    requester_name: &str,
    new: NewTicket,
    attachments: Vec<crate::store::AttachmentRef>,
) -> TicketDoc {
    let now = Utc::now();
    TicketDoc {
        id: erp_kit::db::new_id(),
        tenant_id: tenant.as_str().to_owned(),
        rev: 0,
        subject: new.subject,
        description: new.description,
        channel: new.channel,
        priority: new.priority,
        status: TicketStatus::New,
        requester_id: requester_id.to_owned(),
        requester_name: requester_name.to_owned(),
        asset_id: new.asset_id,
        client_id: new.client_id,
        merged_into: None,
        clocks: TicketClocks::start(now),
        next_breach_at: None,
        created_at: now,
        category: new.category,
        queue_id: None,
        team_id: None,
        assignee_id: None,
        split_from: None,
        split_into: Vec::new(),
        attachments,
    }
}
