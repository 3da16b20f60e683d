//! The helpdesk: tickets (portal, e-mail adapter, API) with their replies, status changes and
//! merges, driving three SLA clocks per ticket; the SLA policy of each priority with its
//! business calendar. Due times are computed when read from the clocks and the current policy,
//! so a calendar or policy change applies to every open ticket at once.

use std::collections::BTreeSet;

use chrono::{NaiveDate, Utc};

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{envelope, outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::helpdesk::{Channel, Priority, TicketStatus};
use crate::domain::sla::{BusinessCalendar, DayHours, TicketClocks};
use crate::events;
use crate::store::helpdesk as helpdesk_store;
use crate::store::{Kind, ReplyDoc, SlaPolicyDoc, TicketDoc, Write};

/// A new ticket, parsed.
pub struct NewTicket {
    pub subject: String,
    pub description: String,
    pub channel: Channel,
    pub priority: Priority,
    pub asset_id: Option<String>,
    pub client_id: Option<String>,
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

    /// The calendar the clocks of a ticket of `priority` count business time in.
    async fn clock_calendar(
        &self,
        tenant: &TenantId,
        priority: Priority,
    ) -> ApiResult<BusinessCalendar> {
        Ok(self
            .sla_policy(tenant, priority)
            .await?
            .map_or_else(BusinessCalendar::always, |(_, calendar)| calendar))
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
                return Ok(policy);
            }
        }
        Err(collided())
    }

    /// Opens a ticket requested by the caller; its three clocks start. Publishes
    /// `ticket.created`.
    pub async fn create_ticket(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewTicket,
    ) -> ApiResult<TicketDoc> {
        let now = Utc::now();
        let ticket = TicketDoc {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            subject: new.subject,
            description: new.description,
            channel: new.channel,
            priority: new.priority,
            status: TicketStatus::New,
            requester_id: caller.sub.clone(),
            asset_id: new.asset_id,
            client_id: new.client_id,
            merged_into: None,
            clocks: TicketClocks::start(now),
            created_at: now,
        };
        let event = ticket_event(tenant, events::TICKET_CREATED, &ticket, &caller.sub)?;
        let writes = [Write::insert(Kind::Tickets, &ticket)?];
        match outcome(self.store.commit(tenant, &writes, &[event]).await?) {
            Outcome::Done => {
                self.wake();
                Ok(ticket)
            }
            _ => Err(collided()),
        }
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
            let now = Utc::now();
            let calendar = self.clock_calendar(tenant, ticket.priority).await?;
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
            let reply = ReplyDoc {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant.as_str().to_owned(),
                ticket_id: ticket.id.clone(),
                author_id: caller.sub.clone(),
                body: body.clone(),
                by_agent,
                at: now,
            };
            let event = ticket_event(tenant, events::TICKET_REPLIED, &next, &caller.sub)?;
            let writes = [
                Write::replace(Kind::Tickets, &next, ticket.rev)?,
                Write::insert(Kind::TicketReplies, &reply)?,
            ];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
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
            let ticket = self.existing_ticket(tenant, ticket_id).await?;
            let status = ticket.status.change_to(to)?;
            let calendar = self.clock_calendar(tenant, ticket.priority).await?;
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                status,
                ..ticket.clone()
            };
            next.clocks
                .status_changed(ticket.status, status, Utc::now(), &calendar);
            let event = ticket_event(tenant, events::TICKET_STATUS_CHANGED, &next, &caller.sub)?;
            let writes = [Write::replace(Kind::Tickets, &next, ticket.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
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
            let ticket = self.existing_ticket(tenant, ticket_id).await?;
            let target = self.existing_ticket(tenant, into_id).await?;
            let status = ticket.status.merge(target.status)?;
            let calendar = self.clock_calendar(tenant, ticket.priority).await?;
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                status,
                merged_into: Some(target.id.clone()),
                ..ticket.clone()
            };
            next.clocks
                .status_changed(ticket.status, status, Utc::now(), &calendar);
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
                return Ok(next);
            }
        }
        Err(collided())
    }

    async fn existing_ticket(&self, tenant: &TenantId, id: &str) -> ApiResult<TicketDoc> {
        self.ticket(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("ticket".into()))
    }
}

fn ticket_event(
    tenant: &TenantId,
    kind: &str,
    ticket: &TicketDoc,
    actor: &str,
) -> ApiResult<erp_kit::events::EventEnvelope> {
    envelope(
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
