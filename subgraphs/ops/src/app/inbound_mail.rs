//! Inbound e-mail: tickets opened and replied to from messages that a mail provider's inbound
//! webhook POSTs raw (RFC 5322) to the tenant's own URL, signed with the tenant's secret (the
//! kit's webhook signature, as marketing's mail-events webhook).
//!
//! A message is verified, read whole (domain/inbound_mail.rs: limits, refused attachments)
//! before anything is written, then threaded: a message whose `In-Reply-To` or `References`
//! names a message already seen replies on that message's ticket; else a ticket token
//! `[#<ticket id>]` in the subject names the ticket; else it opens a ticket (channel EMAIL,
//! the sender as requester, `email:<address>`). A reply to a merged ticket lands on the ticket
//! it was merged into; one to a closed ticket opens a new ticket. The message's id is indexed
//! in the same commit as the ticket or reply, so the provider's retry of a message is answered
//! as a duplicate and writes nothing. A reply by e-mail is the requester's side (`byAgent`
//! false): nothing in a message proves an agent wrote it, so it never meets an SLA target.
//!
//! Each tenant's secret is generated here, sealed under the key-encryption key with the tenant
//! in its associated data (ops keeps no SQL key table for the kit's FieldCipher), answered
//! once, and rotated with an overlap during which the previous one still verifies.

use chrono::{DateTime, Duration, Utc};

use erp_kit::auth::Claims;
use erp_kit::crypto::{open_in_transit, seal_in_transit};
use erp_kit::events::EventEnvelope;
use erp_kit::webhook::{new_secret, verify_any, Refusal};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::helpdesk::{new_ticket_doc, schedule, ticket_event, NewTicket};
use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::helpdesk::{Channel, Priority, TicketStatus};
use crate::domain::inbound_mail::{
    self, parse, thread_key, ticket_subject, ticket_token, InboundMessage, TOLERANCE_SECS,
};
use crate::domain::reasons;
use crate::events;
use crate::store::{
    one, AttachmentRef, Kind, MailSettingsDoc, MailThreadDoc, ReplyDoc, SealedSecret, TicketDoc,
    Write,
};

/// The path a tenant's inbound messages are POSTed to (`<path>/<tenant>`).
pub const INBOUND_PATH: &str = "/ops/helpdesk/inbound-mail";

/// The longest overlap a rotation may give the previous secret (seconds): a week.
pub const MAX_ROTATION_OVERLAP_SECS: i64 = 7 * 24 * 3600;

/// How many merges a reply follows to the ticket that lives on.
const MAX_MERGE_HOPS: usize = 5;

/// What an inbound message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundOutcome {
    pub ticket_id: String,
    /// The reply it became (none: it opened the ticket).
    pub reply_id: Option<String>,
    /// The same message was handled already (a provider's retry): nothing written.
    pub duplicate: bool,
}

/// A new secret, answered once.
pub struct RotatedMailSecret {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// Until when the previous secret still verifies (none: there was none, or no overlap).
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// Where the sealed secret of a tenant belongs (its associated data).
fn sealing_context(tenant: &TenantId, secret_id: &str) -> String {
    format!("ops.inbound-mail|{}|{secret_id}", tenant.as_str())
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Signature(_) => ApiError::rule(reasons::MAIL_SIGNATURE_INVALID, refusal.message()),
        Refusal::Stale { .. } => ApiError::rule(reasons::MAIL_TIMESTAMP_STALE, refusal.message()),
    }
}

impl Ops {
    /// The tenant's inbound settings, when it has a secret.
    pub async fn inbound_mail_settings(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<Option<MailSettingsDoc>> {
        one(&*self.store, tenant, Kind::MailSettings, tenant.as_str()).await
    }

    /// Generates the tenant's new inbound secret: the current one keeps verifying for
    /// `overlap_secs` (0 to a week), an older one stops at once. Only its sealed form is
    /// stored; the secret is answered this once.
    pub async fn rotate_inbound_mail_secret(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        overlap_secs: i64,
    ) -> ApiResult<RotatedMailSecret> {
        if !(0..=MAX_ROTATION_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(ApiError::bad_input(
                "overlapSeconds",
                format!("the previous secret verifies 0 to {MAX_ROTATION_OVERLAP_SECS} s after a rotation"),
            ));
        }
        let secret = new_secret();
        let secret_id = erp_kit::db::new_id();
        let sealed =
            seal_in_transit(&*self.kek, &sealing_context(tenant, &secret_id), &secret).await?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let now = Utc::now();
            let current = self.inbound_mail_settings(tenant).await?;
            let mut previous_valid_until = None;
            let mut secrets = vec![SealedSecret {
                id: secret_id.clone(),
                sealed: sealed.clone(),
                created_by: caller.sub.clone(),
                created_at: now,
                valid_until: None,
            }];
            if let Some(old) = current
                .as_ref()
                .and_then(|settings| settings.secrets.iter().find(|s| s.valid_until.is_none()))
                .filter(|_| overlap_secs > 0)
            {
                let until = now + Duration::seconds(overlap_secs);
                previous_valid_until = Some(until);
                secrets.push(SealedSecret {
                    valid_until: Some(until),
                    ..old.clone()
                });
            }
            let settings = MailSettingsDoc {
                id: tenant.as_str().to_owned(),
                tenant_id: tenant.as_str().to_owned(),
                rev: current.as_ref().map_or(0, |settings| settings.rev + 1),
                secrets,
            };
            let write = match &current {
                Some(current) => Write::replace(Kind::MailSettings, &settings, current.rev)?,
                None => Write::insert(Kind::MailSettings, &settings)?,
            };
            if let Outcome::Done = outcome(self.store.commit(tenant, &[write], &[]).await?) {
                return Ok(RotatedMailSecret {
                    secret,
                    created_at: now,
                    previous_valid_until,
                });
            }
        }
        Err(collided())
    }

    /// Handles a provider's call for `tenant`: verified under the tenant's secrets in force
    /// (MAIL_SIGNATURE_INVALID, MAIL_TIMESTAMP_STALE; 404 for a tenant without one), the
    /// message read whole (MAIL_TOO_LARGE, MAIL_MESSAGE_INVALID, MAIL_ATTACHMENT_REFUSED),
    /// then threaded and written in one commit with its event.
    pub async fn receive_inbound_mail(
        &self,
        tenant: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        raw: &[u8],
    ) -> ApiResult<InboundOutcome> {
        let tenant = TenantId::from_claim(tenant);
        let settings = self
            .inbound_mail_settings(&tenant)
            .await?
            .ok_or_else(|| ApiError::NotFound("the inbound e-mail webhook".into()))?;
        let now = Utc::now();
        let mut secrets = Vec::new();
        for secret in &settings.secrets {
            if secret.valid_until.is_none_or(|until| until > now) {
                secrets.push(
                    open_in_transit(
                        &*self.kek,
                        &sealing_context(&tenant, &secret.id),
                        &secret.sealed,
                    )
                    .await?,
                );
            }
        }
        let keys: Vec<&[u8]> = secrets.iter().map(|secret| secret.as_bytes()).collect();
        verify_any(
            &keys,
            timestamp,
            signature,
            raw,
            now.timestamp(),
            TOLERANCE_SECS,
        )
        .map_err(refused)?;
        let message = parse(raw)?;
        if let Some(seen) = self.thread(&tenant, &message.message_id).await? {
            return Ok(duplicate(seen));
        }
        // The bytes first: a commit that then fails leaves an unreferenced (content-addressed)
        // object, never a reference to a missing one.
        let mut attachments = Vec::with_capacity(message.attachments.len());
        for attachment in &message.attachments {
            let hash = self.files.blobs.put(&tenant, &attachment.bytes).await?;
            attachments.push(AttachmentRef {
                name: attachment.name.clone(),
                content_type: attachment.content_type.clone(),
                size: attachment.bytes.len() as u64,
                sha256: hash.as_str().to_owned(),
            });
        }
        let written = match self.threaded_ticket(&tenant, &message).await? {
            Some(ticket_id) => {
                self.reply_by_mail(&tenant, &ticket_id, &message, attachments)
                    .await
            }
            None => self.open_by_mail(&tenant, &message, attachments).await,
        };
        match written {
            Ok(outcome) => Ok(outcome),
            // A concurrent delivery of the same message took its id first.
            Err(err) => match self.thread(&tenant, &message.message_id).await? {
                Some(seen) => Ok(duplicate(seen)),
                None => Err(err),
            },
        }
    }

    async fn thread(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> ApiResult<Option<MailThreadDoc>> {
        one(
            &*self.store,
            tenant,
            Kind::MailThreads,
            &thread_key(tenant.as_str(), message_id),
        )
        .await
    }

    /// The ticket a message answers, following merges; None: it opens a ticket (nothing
    /// known answered, or the ticket is closed).
    async fn threaded_ticket(
        &self,
        tenant: &TenantId,
        message: &InboundMessage,
    ) -> ApiResult<Option<String>> {
        let mut found: Option<TicketDoc> = None;
        for id in &message.answers {
            if let Some(thread) = self.thread(tenant, id).await? {
                found = self.ticket(tenant, &thread.ticket_id).await?;
                if found.is_some() {
                    break;
                }
            }
        }
        if found.is_none() {
            if let Some(token) = ticket_token(&message.subject) {
                found = self.ticket(tenant, token).await?;
            }
        }
        let mut hops = 0;
        while let Some(ticket) = &found {
            match (&ticket.merged_into, ticket.status) {
                (Some(into), TicketStatus::Merged) if hops < MAX_MERGE_HOPS => {
                    hops += 1;
                    found = self.ticket(tenant, into).await?;
                }
                (_, TicketStatus::Closed | TicketStatus::Merged) => return Ok(None),
                _ => return Ok(Some(ticket.id.clone())),
            }
        }
        Ok(None)
    }

    async fn open_by_mail(
        &self,
        tenant: &TenantId,
        message: &InboundMessage,
        attachments: Vec<AttachmentRef>,
    ) -> ApiResult<InboundOutcome> {
        let requester = requester_of(message);
        let new = NewTicket {
            subject: ticket_subject(&message.subject),
            description: message.text.clone(),
            channel: Channel::Email,
            priority: Priority::Normal,
            asset_id: None,
            client_id: None,
            category: None,
        };
        let ticket = new_ticket_doc(tenant, &requester, &message.from_name, new, attachments);
        let thread = thread_doc(tenant, message, &ticket.id, None);
        let extra = vec![Write::insert(Kind::MailThreads, &thread)?];
        let ticket = self.open_ticket(tenant, &requester, ticket, extra).await?;
        Ok(InboundOutcome {
            ticket_id: ticket.id,
            reply_id: None,
            duplicate: false,
        })
    }

    async fn reply_by_mail(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        message: &InboundMessage,
        attachments: Vec<AttachmentRef>,
    ) -> ApiResult<InboundOutcome> {
        let author = requester_of(message);
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let ticket = self.existing_ticket(tenant, ticket_id).await?;
            ticket.status.accepts_replies()?;
            let policy = self.policy_of(tenant, ticket.priority).await?;
            let mut next = TicketDoc {
                rev: ticket.rev + 1,
                ..ticket.clone()
            };
            schedule(&mut next, policy.as_ref());
            let reply = ReplyDoc {
                id: erp_kit::db::new_id(),
                tenant_id: tenant.as_str().to_owned(),
                rev: 0,
                ticket_id: ticket.id.clone(),
                author_id: author.clone(),
                body: message.text.clone(),
                by_agent: false,
                at: Utc::now(),
                attachments: attachments.clone(),
            };
            let thread = thread_doc(tenant, message, &ticket.id, Some(&reply.id));
            let event: EventEnvelope =
                ticket_event(tenant, events::TICKET_REPLIED, &next, &author)?;
            let writes = [
                Write::replace(Kind::Tickets, &next, ticket.rev)?,
                Write::insert(Kind::TicketReplies, &reply)?,
                Write::insert(Kind::MailThreads, &thread)?,
            ];
            match outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                Outcome::Done => {
                    self.wake();
                    self.breach_timer.notify_one();
                    self.publish_to_queue(tenant, events::TICKET_REPLIED, &next, &author)
                        .await;
                    return Ok(InboundOutcome {
                        ticket_id: ticket.id,
                        reply_id: Some(reply.id),
                        duplicate: false,
                    });
                }
                Outcome::Retry => continue,
                Outcome::Duplicate => return Err(collided()),
            }
        }
        Err(collided())
    }
}

/// Who a message is from, as a requester or author id.
fn requester_of(message: &InboundMessage) -> String {
    format!("email:{}", message.from_address)
}

fn thread_doc(
    tenant: &TenantId,
    message: &InboundMessage,
    ticket_id: &str,
    reply_id: Option<&str>,
) -> MailThreadDoc {
    MailThreadDoc {
        id: thread_key(tenant.as_str(), &message.message_id),
        tenant_id: tenant.as_str().to_owned(),
        rev: 0,
        message_id: inbound_mail::clip_id(&message.message_id),
        ticket_id: ticket_id.to_owned(),
        reply_id: reply_id.map(str::to_owned),
        at: Utc::now(),
    }
}

fn duplicate(seen: MailThreadDoc) -> InboundOutcome {
    InboundOutcome {
        ticket_id: seen.ticket_id,
        reply_id: seen.reply_id,
        duplicate: true,
    }
}
