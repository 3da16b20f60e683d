//! Helpdesk macros: defining them, and applying one to a ticket. Applying runs every action
//! in order on the ticket as read, under the rules of the single mutations (a status change
//! as `changeTicketStatus`, a reply as an agent's `replyToTicket`), and commits the ticket,
//! its new replies and notes and one event per change in ONE store commit: a refused action
//! leaves the ticket as it was.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::helpdesk::{clock_calendar, schedule, ticket_event};
use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::helpdesk::TicketStatus;
use crate::domain::macros::{accepts_priority_change, check_actions, MacroAction, TemplateFacts};
use crate::events;
use crate::store::helpdesk as helpdesk_store;
use crate::store::{Kind, MacroDoc, NoteDoc, ReplyDoc, TicketDoc, Write};

/// What applying a macro did.
pub struct MacroApplied {
    /// The ticket after every action.
    pub ticket: TicketDoc,
    /// The event kinds published, one per change, in the order of the actions.
    pub changes: Vec<&'static str>,
}

impl Ops {
    /// Defines a macro of the tenant (the name and actions already parsed). Publishes
    /// `ticket_macro.defined`.
    pub async fn define_macro(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        name: String,
        actions: Vec<MacroAction>,
    ) -> ApiResult<MacroDoc> {
        check_actions(&actions)?;
        let doc = MacroDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            name,
            actions,
            created_by: caller.sub.clone(),
            created_at: Utc::now(),
            updated_by: None,
            updated_at: None,
            deleted_by: None,
            deleted_at: None,
        };
        let writes = [Write::insert(Kind::TicketMacros, &doc)?];
        let event = macro_event(tenant, events::TICKET_MACRO_DEFINED, &doc, &caller.sub)?;
        match outcome(self.store.commit(tenant, &writes, &[event]).await?) {
            Outcome::Done => {
                self.wake();
                Ok(doc)
            }
            _ => Err(collided()),
        }
    }

    /// Changes a macro's name and/or actions (what is not given stays), recording who and
    /// when. Publishes `ticket_macro.updated`. A deleted macro is NOT_FOUND.
    pub async fn update_macro(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        macro_id: &str,
        name: Option<String>,
        actions: Option<Vec<MacroAction>>,
    ) -> ApiResult<MacroDoc> {
        if let Some(actions) = &actions {
            check_actions(actions)?;
        }
        self.change_macro(
            tenant,
            caller,
            macro_id,
            events::TICKET_MACRO_UPDATED,
            |doc| {
                if let Some(name) = &name {
                    doc.name = name.clone();
                }
                if let Some(actions) = &actions {
                    doc.actions = actions.clone();
                }
                doc.updated_by = Some(caller.sub.clone());
                doc.updated_at = Some(Utc::now());
            },
        )
        .await
    }

    /// Deletes a macro: kept for the record (who deleted it, when), no longer listed, applied
    /// or changed. Publishes `ticket_macro.deleted`. A macro already deleted is NOT_FOUND.
    pub async fn delete_macro(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        macro_id: &str,
    ) -> ApiResult<MacroDoc> {
        self.change_macro(
            tenant,
            caller,
            macro_id,
            events::TICKET_MACRO_DELETED,
            |doc| {
                doc.deleted_by = Some(caller.sub.clone());
                doc.deleted_at = Some(Utc::now());
            },
        )
        .await
    }

    /// Reads a live macro, changes it and writes it back at the revision read, with its event.
    async fn change_macro(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        macro_id: &str,
        kind: &'static str,
        change: impl Fn(&mut MacroDoc),
    ) -> ApiResult<MacroDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let current = self
                .ticket_macro(tenant, macro_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("macro".into()))?;
            let mut next = MacroDoc {
                rev: current.rev + 1,
                ..current.clone()
            };
            change(&mut next);
            let writes = [Write::replace(Kind::TicketMacros, &next, current.rev)?];
            let event = macro_event(tenant, kind, &next, &caller.sub)?;
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok(next);
            }
        }
        Err(collided())
    }

    pub async fn ticket_macro(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<MacroDoc>> {
        helpdesk_store::ticket_macro(&*self.store, tenant, id).await
    }

    pub async fn ticket_macros(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<MacroDoc>> {
        helpdesk_store::macros_page(&*self.store, tenant, page).await
    }

    pub async fn ticket_notes(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<NoteDoc>> {
        helpdesk_store::notes_page(&*self.store, tenant, ticket_id, page).await
    }

    /// Applies a macro of the tenant to a ticket of the tenant, as the calling agent: every
    /// action or none. A status or priority already set changes nothing and publishes
    /// nothing; anything a single mutation refuses fails the whole macro.
    pub async fn apply_macro(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        macro_id: &str,
        ticket_id: &str,
    ) -> ApiResult<MacroApplied> {
        let ticket_macro = self
            .ticket_macro(tenant, macro_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("macro".into()))?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.workable_ticket(tenant, caller, ticket_id).await?;
            let now = Utc::now();
            let mut policy = self.policy_of(tenant, ticket.priority).await?;
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                ..ticket.clone()
            };
            let mut writes = vec![];
            let mut changes: Vec<&'static str> = vec![];
            let mut events = vec![];
            for action in &ticket_macro.actions {
                let change = match action {
                    MacroAction::SetStatus { status } => {
                        // Already there: nothing changes (a closed or merged ticket still
                        // refuses, as `changeTicketStatus` does).
                        if *status == next.status && !next.status.is_final() {
                            continue;
                        }
                        let to = next.status.change_to(*status)?;
                        let calendar = clock_calendar(policy.as_ref());
                        next.clocks.status_changed(next.status, to, now, &calendar);
                        next.status = to;
                        events::TICKET_STATUS_CHANGED
                    }
                    MacroAction::SetPriority { priority } => {
                        accepts_priority_change(next.status)?;
                        if *priority == next.priority {
                            continue;
                        }
                        next.priority = *priority;
                        // The clocks keep their business time; the new priority's policy
                        // gives the due times from now on.
                        policy = self.policy_of(tenant, next.priority).await?;
                        events::TICKET_PRIORITY_CHANGED
                    }
                    MacroAction::AddReply { template } => {
                        next.status.accepts_replies()?;
                        let body = template.render(&facts(&next, caller));
                        let calendar = clock_calendar(policy.as_ref());
                        next.clocks.agent_replied(now, &calendar);
                        if next.status == TicketStatus::New {
                            next.status = TicketStatus::Open;
                        }
                        writes.push(Write::insert(
                            Kind::TicketReplies,
                            &ReplyDoc {
                                id: erp_kit::db::new_id(),
                                tenant_id: tenant.as_str().to_owned(),
                                rev: 0,
                                ticket_id: ticket.id.clone(),
                                author_id: caller.sub.clone(),
                                body,
                                by_agent: true,
                                at: now,
                                attachments: Vec::new(),
                            },
                        )?);
                        events::TICKET_REPLIED
                    }
                    MacroAction::AddNote { template } => {
                        next.status.accepts_replies()?;
                        let body = template.render(&facts(&next, caller));
                        writes.push(Write::insert(
                            Kind::TicketNotes,
                            &NoteDoc {
                                id: erp_kit::db::new_id(),
                                tenant_id: tenant.as_str().to_owned(),
                                ticket_id: ticket.id.clone(),
                                author_id: caller.sub.clone(),
                                body,
                                at: now,
                            },
                        )?);
                        events::TICKET_NOTED
                    }
                };
                // The event carries the ticket as this action left it.
                events.push(ticket_event(tenant, change, &next, &caller.sub)?);
                changes.push(change);
            }
            if changes.is_empty() {
                return Ok(MacroApplied { ticket, changes });
            }
            schedule(&mut next, policy.as_ref());
            writes.insert(0, Write::replace(Kind::Tickets, &next, ticket.rev)?);
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &events).await?) {
                self.wake();
                self.breach_timer.notify_one();
                for change in &changes {
                    self.publish_to_queue(tenant, change, &next, &caller.sub)
                        .await;
                }
                return Ok(MacroApplied {
                    ticket: next,
                    changes,
                });
            }
        }
        Err(collided())
    }
}

/// The placeholders' values on the ticket as the previous actions left it.
fn facts<'a>(ticket: &'a TicketDoc, agent: &'a Claims) -> TemplateFacts<'a> {
    TemplateFacts {
        ticket_id: &ticket.id,
        subject: &ticket.subject,
        status: ticket.status,
        priority: ticket.priority,
        requester_name: &ticket.requester_name,
        agent_name: &agent.name,
    }
}

/// The `ticket_macro.*` event of a macro as a change left it.
fn macro_event(
    tenant: &TenantId,
    kind: &str,
    doc: &MacroDoc,
    actor: &str,
) -> ApiResult<erp_kit::events::EventEnvelope> {
    erp_kit::events::EventEnvelope::by_actor(
        tenant,
        kind,
        &doc.id,
        actor,
        events::TicketMacroChanged {
            macro_id: &doc.id,
            name: &doc.name,
            rev: doc.rev,
            actions: &doc.actions,
        },
    )
}
