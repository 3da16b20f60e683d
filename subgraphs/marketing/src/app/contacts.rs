//! Contacts, consent, double opt-in, topics, the one-click unsubscribe and GDPR erasure.

use erp_kit::{ApiError, ApiResult, TenantId};

use super::links::CONFIRM_PATH;
use super::{not_found, now_ms, Marketing};
use crate::domain::contact::{
    consent_text, ContactStatus, EmailAddress, LawfulBasis, SuppressionReason, CONFIRMATION_LINK,
    CONTACT_ACTOR, EMAIL_MARKETING,
};
use crate::domain::reasons;
use crate::domain::template::escape_html;
use crate::domain::token::{LinkClaims, LinkPurpose};
use crate::events::{self, ContactChanged};
use crate::mail::OutgoingMail;
use crate::store::entities::{consent, contact, contact_topic, opt_in, suppression, topic};
use crate::store::{contacts, new_id, segments};

/// A new contact.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub crm_person_id: Option<String>,
}

/// A consent record to log.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub contact_id: String,
    pub purpose: String,
    pub lawful_basis: LawfulBasis,
    pub source: String,
    pub wording_version: String,
    pub granted: bool,
}

/// A double opt-in request.
#[derive(Debug, Clone)]
pub struct NewOptIn {
    pub contact_id: String,
    pub purpose: String,
    pub source: String,
    pub wording_version: String,
}

/// What the one-click unsubscribe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeOutcome {
    Unsubscribed,
    /// The address was suppressed already (a repeated POST): nothing changed.
    AlreadySuppressed,
}

/// What an unsubscribe answered: what it did and the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribed {
    pub outcome: UnsubscribeOutcome,
    /// The contact's re-subscribe link (`None` for an erased contact: nothing to go back to).
    pub resubscribe_url: Option<String>,
}

/// What a re-subscribe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResubscribeOutcome {
    Resubscribed,
    /// The contact was subscribed and the address not suppressed (a repeated POST).
    AlreadySubscribed,
}

/// A trimmed optional text, `None` when blank (also the bulk load's, app/bulk.rs).
pub(super) fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Marketing {
    /// Creates a contact: `pending` until a consent or a confirmed opt-in, or `unsubscribed`
    /// at once when the address is on the suppression list (a re-import of an unsubscribed or
    /// erased address stays suppressed).
    pub async fn create_contact(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewContact,
    ) -> ApiResult<contact::Model> {
        let address = EmailAddress::parse(&new.email)?;
        let hash = self.address_hash(tenant, &address).await?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let suppressed = contacts::suppression(&*txn, tenant, &hash).await?.is_some();
        let now = now_ms();
        let model = contacts::insert(
            &*txn,
            contact::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                crm_person_id: blank_to_none(new.crm_person_id),
                email: Some(address.as_str().to_owned()),
                address_hash: Some(hash),
                first_name: blank_to_none(new.first_name),
                last_name: blank_to_none(new.last_name),
                country: blank_to_none(new.country).map(|c| c.to_uppercase()),
                status: if suppressed {
                    ContactStatus::Unsubscribed
                } else {
                    ContactStatus::Pending
                }
                .as_str()
                .to_owned(),
                created_at: now,
                updated_at: now,
                erased_at: None,
            },
        )
        .await?;
        self.refresh_contact(&txn, tenant, &model.id).await?;
        self.enqueue(
            &txn,
            tenant,
            events::CONTACT_CREATED,
            &model.id,
            actor,
            changed(&model),
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn contact(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<contact::Model>> {
        Ok(contacts::contact(&self.db, tenant, id).await?)
    }

    pub async fn contacts(
        &self,
        tenant: &TenantId,
        page: &erp_kit::pagination::PageRequest,
    ) -> ApiResult<Vec<contact::Model>> {
        Ok(contacts::page(&self.db, tenant, page).await?)
    }

    /// Contacts by id (the DataLoader's batch).
    pub async fn contacts_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, contact::Model>> {
        Ok(contacts::by_ids(&self.db, tenant, ids).await?)
    }

    /// The consent logs of these contacts (the DataLoader's batch).
    pub async fn consents_by_contacts(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, Vec<consent::Model>>> {
        Ok(contacts::consents_of_many(&self.db, tenant, ids).await?)
    }

    pub async fn consents(
        &self,
        tenant: &TenantId,
        contact_id: &str,
    ) -> ApiResult<Vec<consent::Model>> {
        Ok(contacts::consents_of(&self.db, tenant, contact_id).await?)
    }

    /// Logs a consent record by staff. A grant for a suppressed address is refused
    /// (CONTACT_SUPPRESSED: only the contact's own confirmed opt-in lifts an unsubscribe); a
    /// grant of the e-mail marketing purpose subscribes a pending contact; a withdrawal of it
    /// unsubscribes and suppresses.
    pub async fn record_consent(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewConsent,
    ) -> ApiResult<consent::Model> {
        let purpose = consent_text("purpose", &new.purpose)?;
        let source = consent_text("source", &new.source)?;
        let wording_version = consent_text("wordingVersion", &new.wording_version)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut contact = contacts::lock(&*txn, tenant, &new.contact_id)
            .await?
            .ok_or_else(|| not_found("marketing contact"))?;
        let status = ContactStatus::parse(&contact.status)?;
        if status == ContactStatus::Erased {
            return Err(erased());
        }
        let hash = contact.address_hash.clone().unwrap_or_default();
        let suppressed = contacts::suppression(&*txn, tenant, &hash).await?;
        if new.granted && suppressed.is_some() {
            return Err(ApiError::rule(
                reasons::CONTACT_SUPPRESSED,
                "the address is suppressed: only the contact's own confirmed opt-in lifts an unsubscribe",
            ));
        }
        let now = now_ms();
        let record = consent::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            contact_id: contact.id.clone(),
            purpose: purpose.clone(),
            lawful_basis: new.lawful_basis.as_str().to_owned(),
            source,
            wording_version,
            granted: new.granted,
            actor: actor.to_owned(),
            recorded_at: now,
            confirmation: None,
            confirmed_at: None,
            confirmed_source: None,
            confirmed_address: None,
        };
        contacts::insert_consent(&*txn, record.clone()).await?;
        if purpose == EMAIL_MARKETING {
            let event = if new.granted && status == ContactStatus::Pending {
                contact.status = ContactStatus::Subscribed.as_str().to_owned();
                Some(events::CONTACT_SUBSCRIBED)
            } else if !new.granted && status != ContactStatus::Unsubscribed {
                contact.status = ContactStatus::Unsubscribed.as_str().to_owned();
                self.suppress(
                    &txn,
                    tenant,
                    &hash,
                    SuppressionReason::Unsubscribed,
                    "staff_withdrawal",
                )
                .await?;
                Some(events::CONTACT_UNSUBSCRIBED)
            } else {
                None
            };
            if let Some(event) = event {
                contact.updated_at = now;
                let contact = contacts::update(&*txn, contact).await?;
                self.enqueue(&txn, tenant, event, &contact.id, actor, changed(&contact))
                    .await?;
            }
        }
        self.refresh_contact(&txn, tenant, &new.contact_id).await?;
        self.commit(txn).await?;
        Ok(record)
    }

    /// Sends a double opt-in request to the contact's address (the transactional stream: it
    /// reaches even a pending contact). Refused for a suppressed address when staff asks
    /// (CONTACT_SUPPRESSED): re-subscribing an unsubscribed person starts with the person.
    /// PROVIDER_RELAY_MISSING, nothing written, when the default provider's relay is gone.
    pub async fn request_opt_in(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewOptIn,
    ) -> ApiResult<opt_in::Model> {
        let purpose = consent_text("purpose", &new.purpose)?;
        let source = consent_text("source", &new.source)?;
        let wording_version = consent_text("wordingVersion", &new.wording_version)?;
        // Refused before anything is written when the mail could not go out.
        self.transactional_relay(tenant).await?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let contact = contacts::lock(&*txn, tenant, &new.contact_id)
            .await?
            .ok_or_else(|| not_found("marketing contact"))?;
        if ContactStatus::parse(&contact.status)? == ContactStatus::Erased {
            return Err(erased());
        }
        let hash = contact.address_hash.clone().unwrap_or_default();
        if actor != CONTACT_ACTOR && contacts::suppression(&*txn, tenant, &hash).await?.is_some() {
            return Err(ApiError::rule(
                reasons::CONTACT_SUPPRESSED,
                "the address is suppressed: staff cannot ask it to subscribe again",
            ));
        }
        let request = self.new_opt_in(tenant, &contact.id, purpose, wording_version, source, None);
        contacts::insert_opt_in(&*txn, request.clone()).await?;
        self.commit(txn).await?;
        self.send_confirmation(tenant, &request).await?;
        Ok(request)
    }

    /// A new opt-in request (its link expires after the opt-in lifetime).
    pub(crate) fn new_opt_in(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        purpose: String,
        wording_version: String,
        source: String,
        consent_id: Option<String>,
    ) -> opt_in::Model {
        let now = now_ms();
        opt_in::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            contact_id: contact_id.to_owned(),
            purpose,
            wording_version,
            source,
            requested_at: now,
            confirmed_at: None,
            consent_id,
            expires_at: Some(now + self.settings.opt_in_ttl_secs * 1000),
            mailed_at: None,
            mail_attempts: 0,
        }
    }

    /// Sends an opt-in request's confirmation mail unless someone has: the request is claimed
    /// first (two senders never both send it), and a relay refusal gives the claim back so the
    /// sender's pass retries (at most [`CONFIRMATION_ATTEMPTS`] times). Answers whether this
    /// call sent it.
    pub(crate) async fn send_confirmation(
        &self,
        tenant: &TenantId,
        request: &opt_in::Model,
    ) -> ApiResult<bool> {
        self.mailer()?;
        let contact = contacts::contact(&self.db, tenant, &request.contact_id).await?;
        if !contacts::claim_opt_in_mail(&self.db, tenant, &request.id, now_ms()).await? {
            return Ok(false);
        }
        // The tenant's default provider's relay: a relay the deployment no longer has counts
        // as a refusal (the claim goes back, the sender's pass retries), never another relay.
        let mailer = match self.transactional_relay(tenant).await {
            Ok(mailer) => mailer,
            Err(err) => {
                contacts::release_opt_in_mail(&self.db, tenant, &request.id).await?;
                return Err(err);
            }
        };
        // An erased contact has no address: the claim stays, nothing is sent.
        let Some(to) = contact.and_then(|c| c.email) else {
            return Ok(false);
        };
        let expires_at = request
            .expires_at
            .map(|ms| ms.div_euclid(1000))
            .unwrap_or_else(|| self.link_expiry());
        let token = self
            .sign(&LinkClaims {
                purpose: LinkPurpose::ConfirmOptIn,
                tenant: tenant.as_str().to_owned(),
                contact_id: request.contact_id.clone(),
                reference: Some(request.id.clone()),
                url: None,
                expires_at,
            })
            .await?;
        let url = self.link_url(CONFIRM_PATH, &token);
        let sent = mailer
            .send(&OutgoingMail {
                from: self.settings.from_address.clone(),
                to,
                subject: "Please confirm your subscription".into(),
                text: format!("Confirm your subscription: {url}\n"),
                html: format!(
                    "<p><a href=\"{}\">Confirm your subscription</a></p>",
                    escape_html(&url)
                ),
                headers: vec![("X-Erp-Stream", "transactional".into())],
            })
            .await;
        if let Err(e) = sent {
            contacts::release_opt_in_mail(&self.db, tenant, &request.id).await?;
            return Err(ApiError::internal(format!(
                "the confirmation mail was not accepted: {e}"
            )));
        }
        Ok(true)
    }

    /// The contact's own confirmation of a double opt-in (the signed link, POSTed from
    /// `client`): the form's pending consent put in force (or, for a staff request, a consent
    /// logged), confirmed at, through the link, from the client's address (actor `contact`);
    /// the contact subscribed, and an unsubscribe or erasure suppression of the address lifted
    /// (never a bounce or complaint). Confirming twice changes nothing (even after the link
    /// expired); a genuine link past its expiry is OPT_IN_EXPIRED, a forged one TOKEN_INVALID.
    pub async fn confirm_opt_in(
        &self,
        raw_token: &str,
        client: Option<&str>,
    ) -> ApiResult<contact::Model> {
        let (tenant, claims, _) = self
            .verify_link_signature(raw_token, LinkPurpose::ConfirmOptIn)
            .await?;
        let request_id = claims.reference.clone().unwrap_or_default();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut contact = contacts::lock(&*txn, &tenant, &claims.contact_id)
            .await?
            .ok_or_else(|| {
                ApiError::rule(reasons::OPT_IN_INVALID, "the contact no longer exists")
            })?;
        let mut request = contacts::opt_in(&*txn, &tenant, &request_id)
            .await?
            .filter(|r| r.contact_id == contact.id)
            .ok_or_else(|| ApiError::rule(reasons::OPT_IN_INVALID, "unknown confirmation"))?;
        if request.confirmed_at.is_some() {
            return Ok(contact);
        }
        if crate::domain::token::expired(&claims, chrono::Utc::now().timestamp()) {
            return Err(ApiError::rule(
                reasons::OPT_IN_EXPIRED,
                "the confirmation link has expired: ask for a new one (submit the form again)",
            ));
        }
        if ContactStatus::parse(&contact.status)? == ContactStatus::Erased {
            return Err(erased());
        }
        let now = now_ms();
        request.confirmed_at = Some(now);
        contacts::confirm_opt_in(&*txn, request.clone()).await?;
        let confirmed_pending = match &request.consent_id {
            Some(consent_id) => {
                contacts::confirm_consent(
                    &*txn,
                    &tenant,
                    consent_id,
                    now,
                    CONFIRMATION_LINK,
                    client,
                )
                .await?
            }
            None => false,
        };
        if !confirmed_pending {
            contacts::insert_consent(
                &*txn,
                consent::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    contact_id: contact.id.clone(),
                    purpose: request.purpose.clone(),
                    lawful_basis: LawfulBasis::Consent.as_str().to_owned(),
                    source: format!("double_opt_in:{}", request.source),
                    wording_version: request.wording_version.clone(),
                    granted: true,
                    actor: CONTACT_ACTOR.to_owned(),
                    recorded_at: now,
                    confirmation: Some(contacts::CONFIRMED.to_owned()),
                    confirmed_at: Some(now),
                    confirmed_source: Some(CONFIRMATION_LINK.to_owned()),
                    confirmed_address: client.map(str::to_owned),
                },
            )
            .await?;
        }
        if let Some(hash) = contact.address_hash.clone() {
            if let Some(existing) = contacts::suppression(&*txn, &tenant, &hash).await? {
                if SuppressionReason::parse(&existing.reason)?.lifted_by_own_opt_in() {
                    contacts::lift_suppression(&*txn, &tenant, &hash).await?;
                }
            }
        }
        if request.purpose == EMAIL_MARKETING {
            contact.status = ContactStatus::Subscribed.as_str().to_owned();
            contact.updated_at = now;
            contact = contacts::update(&*txn, contact).await?;
        }
        self.refresh_contact(&txn, &tenant, &contact.id).await?;
        // A confirmed opt-in enrols the contact in the journeys of its form (or of any form).
        let form: Vec<String> = request
            .source
            .strip_prefix("form:")
            .map(|id| vec![id.to_owned()])
            .unwrap_or_default();
        self.enroll_triggered(
            &txn,
            &tenant,
            crate::domain::journey::TriggerKind::FormConfirmed,
            &form,
            &contact.id,
        )
        .await?;
        self.enqueue(
            &txn,
            &tenant,
            events::CONTACT_SUBSCRIBED,
            &contact.id,
            CONTACT_ACTOR,
            changed(&contact),
        )
        .await?;
        self.commit(txn).await?;
        Ok(contact)
    }

    /// The sender's retry of confirmation mails not handed off yet (a relay that was down when
    /// the form was submitted); answers how many went out.
    pub(crate) async fn send_due_confirmations(&self) -> ApiResult<usize> {
        if self.mailer.is_none() {
            return Ok(0);
        }
        let mut sent = 0;
        for request in
            contacts::unmailed_opt_ins(&self.db, now_ms(), CONFIRMATION_ATTEMPTS, 20).await?
        {
            let tenant = TenantId::from_claim(&request.tenant_id);
            match self.send_confirmation(&tenant, &request).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(opt_in = %request.id, error = %err.message(), "confirmation mail not sent")
                }
            }
        }
        Ok(sent)
    }

    /// The one-click unsubscribe (RFC 8058) of a signed link: suppresses the address (so every
    /// duplicate contact with it is skipped at send time), marks the contact and its duplicates
    /// unsubscribed and logs the withdrawal (actor `contact`). Idempotent.
    ///
    /// The answer carries the contact's re-subscribe link (the person who just unsubscribed
    /// holds the message, so the same proof lets them come back).
    pub async fn unsubscribe(&self, raw_token: &str) -> ApiResult<Unsubscribed> {
        let (tenant, claims, contact) = self
            .verify_link(raw_token, LinkPurpose::Unsubscribe)
            .await?;
        let outcome = self
            .unsubscribe_verified(&tenant, &claims, &contact)
            .await?;
        let resubscribe_url = match contact.address_hash {
            Some(_) => Some(
                self.resubscribe_url(&tenant, &contact.id, claims.reference.as_deref())
                    .await?,
            ),
            None => None,
        };
        Ok(Unsubscribed {
            outcome,
            resubscribe_url,
        })
    }

    async fn unsubscribe_verified(
        &self,
        tenant: &TenantId,
        claims: &LinkClaims,
        contact: &contact::Model,
    ) -> ApiResult<UnsubscribeOutcome> {
        let tenant = tenant.clone();
        let Some(hash) = contact.address_hash.clone() else {
            // Erased: its hash is suppressed already.
            return Ok(UnsubscribeOutcome::AlreadySuppressed);
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if contacts::suppression(&*txn, &tenant, &hash)
            .await?
            .is_some()
        {
            return Ok(UnsubscribeOutcome::AlreadySuppressed);
        }
        let source = match &claims.reference {
            Some(campaign) => Self::one_click_source(campaign),
            None => "one_click".to_owned(),
        };
        self.suppress(
            &txn,
            &tenant,
            &hash,
            SuppressionReason::Unsubscribed,
            &source,
        )
        .await?;
        let now = now_ms();
        for mut duplicate in contacts::by_address_hash(&*txn, &tenant, &hash).await? {
            let id = duplicate.id.clone();
            contacts::insert_consent(
                &*txn,
                consent::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    contact_id: id.clone(),
                    purpose: EMAIL_MARKETING.to_owned(),
                    lawful_basis: LawfulBasis::Consent.as_str().to_owned(),
                    source: source.clone(),
                    wording_version: "one-click".to_owned(),
                    granted: false,
                    actor: CONTACT_ACTOR.to_owned(),
                    recorded_at: now,
                    confirmation: None,
                    confirmed_at: None,
                    confirmed_source: None,
                    confirmed_address: None,
                },
            )
            .await?;
            duplicate.status = ContactStatus::Unsubscribed.as_str().to_owned();
            duplicate.updated_at = now;
            let duplicate = contacts::update(&*txn, duplicate).await?;
            self.refresh_contact(&txn, &tenant, &id).await?;
            self.enqueue(
                &txn,
                &tenant,
                events::CONTACT_UNSUBSCRIBED,
                &id,
                CONTACT_ACTOR,
                changed(&duplicate),
            )
            .await?;
        }
        self.commit(txn).await?;
        Ok(UnsubscribeOutcome::Unsubscribed)
    }

    /// The contact's own re-subscribe through its signed link (the opposite of the one-click
    /// unsubscribe, the only other way than a confirmed double opt-in to lift one): lifts the
    /// address's unsubscribe suppression, logs the grant (actor `contact`, source
    /// `resubscribe[:<campaign>]`) and subscribes every unsubscribed contact with the address.
    /// A bounce or complaint suppression is the mailbox's verdict and stays
    /// (CONTACT_SUPPRESSED); an erased contact cannot come back (CONTACT_ERASED). Idempotent.
    pub async fn resubscribe(&self, raw_token: &str) -> ApiResult<ResubscribeOutcome> {
        let (tenant, claims, contact) = self
            .verify_link(raw_token, LinkPurpose::Resubscribe)
            .await?;
        let Some(hash) = contact.address_hash.clone() else {
            return Err(erased());
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if let Some(existing) = contacts::suppression(&*txn, &tenant, &hash).await? {
            if !SuppressionReason::parse(&existing.reason)?.lifted_by_own_opt_in() {
                return Err(ApiError::rule(
                    reasons::CONTACT_SUPPRESSED,
                    "the address bounced or complained: a re-subscribe does not lift that",
                ));
            }
            contacts::lift_suppression(&*txn, &tenant, &hash).await?;
        } else if contact.status == ContactStatus::Subscribed.as_str() {
            return Ok(ResubscribeOutcome::AlreadySubscribed);
        }
        let source = match &claims.reference {
            Some(campaign) => format!("resubscribe:{campaign}"),
            None => "resubscribe".to_owned(),
        };
        let now = now_ms();
        for mut holder in contacts::by_address_hash(&*txn, &tenant, &hash).await? {
            let back =
                holder.id == contact.id || holder.status == ContactStatus::Unsubscribed.as_str();
            if !back {
                continue;
            }
            let id = holder.id.clone();
            contacts::insert_consent(
                &*txn,
                consent::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    contact_id: id.clone(),
                    purpose: EMAIL_MARKETING.to_owned(),
                    lawful_basis: LawfulBasis::Consent.as_str().to_owned(),
                    source: source.clone(),
                    wording_version: "resubscribe".to_owned(),
                    granted: true,
                    actor: CONTACT_ACTOR.to_owned(),
                    recorded_at: now,
                    confirmation: None,
                    confirmed_at: None,
                    confirmed_source: None,
                    confirmed_address: None,
                },
            )
            .await?;
            holder.status = ContactStatus::Subscribed.as_str().to_owned();
            holder.updated_at = now;
            let holder = contacts::update(&*txn, holder).await?;
            self.refresh_contact(&txn, &tenant, &id).await?;
            self.enqueue(
                &txn,
                &tenant,
                events::CONTACT_SUBSCRIBED,
                &id,
                CONTACT_ACTOR,
                changed(&holder),
            )
            .await?;
        }
        self.commit(txn).await?;
        Ok(ResubscribeOutcome::Resubscribed)
    }

    /// GDPR erasure: the contact's personal data (address, names, country, CRM link, topics,
    /// behaviour, list and segment memberships) is deleted; the consent log stays (purposes,
    /// bases and times, no personal data) and the address's salted hash is suppressed, so a
    /// re-import of the address stays suppressed.
    pub async fn erase_contact(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
    ) -> ApiResult<contact::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut contact = contacts::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("marketing contact"))?;
        if ContactStatus::parse(&contact.status)? == ContactStatus::Erased {
            return Err(erased());
        }
        if let Some(hash) = contact.address_hash.take() {
            self.suppress(
                &txn,
                tenant,
                &hash,
                SuppressionReason::Erased,
                "gdpr_erasure",
            )
            .await?;
        }
        contacts::erase_behaviour(&*txn, tenant, id).await?;
        crate::store::forms::erase_submissions_of(&*txn, tenant, id).await?;
        segments::remove_contact_everywhere(&*txn, tenant, id).await?;
        let now = now_ms();
        contact.email = None;
        contact.first_name = None;
        contact.last_name = None;
        contact.country = None;
        contact.crm_person_id = None;
        contact.status = ContactStatus::Erased.as_str().to_owned();
        contact.erased_at = Some(now);
        contact.updated_at = now;
        let contact = contacts::update(&*txn, contact).await?;
        self.enqueue(
            &txn,
            tenant,
            events::CONTACT_ERASED,
            id,
            actor,
            changed(&contact),
        )
        .await?;
        self.commit(txn).await?;
        Ok(contact)
    }

    async fn suppress(
        &self,
        txn: &erp_kit::db::WriteTransaction,
        tenant: &TenantId,
        hash: &str,
        reason: SuppressionReason,
        source: &str,
    ) -> ApiResult<()> {
        contacts::suppress(
            &**txn,
            suppression::Model {
                tenant_id: tenant.as_str().to_owned(),
                address_hash: hash.to_owned(),
                reason: reason.as_str().to_owned(),
                source: source.to_owned(),
                created_at: now_ms(),
            },
        )
        .await?;
        Ok(())
    }

    /// Whether an address (as typed) is on the suppression list.
    pub async fn is_suppressed(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> ApiResult<Option<suppression::Model>> {
        let address = EmailAddress::parse(email)?;
        let hash = self.address_hash(tenant, &address).await?;
        Ok(contacts::suppression(&self.db, tenant, &hash).await?)
    }

    pub async fn suppressions(&self, tenant: &TenantId) -> ApiResult<Vec<suppression::Model>> {
        Ok(contacts::suppressions(&self.db, tenant).await?)
    }

    /// A new preference topic (`key`: lower-case letters, digits, `_` and `-`).
    pub async fn create_topic(
        &self,
        tenant: &TenantId,
        key: &str,
        name: &str,
    ) -> ApiResult<topic::Model> {
        let key = key.trim();
        if key.is_empty()
            || key.len() > 64
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(ApiError::bad_input(
                "key",
                "a topic key is 1 to 64 lower-case letters, digits, `_` or `-`",
            ));
        }
        let name = consent_text("name", name)?;
        let model = topic::Model {
            tenant_id: tenant.as_str().to_owned(),
            key: key.to_owned(),
            name,
            created_at: now_ms(),
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        contacts::insert_topic(&*txn, model.clone())
            .await
            .map_err(|err| match ApiError::from(err) {
                ApiError::Conflict(_) => {
                    ApiError::rule(reasons::ALREADY_EXISTS, format!("the topic `{key}` exists"))
                }
                other => other,
            })?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn topics(&self, tenant: &TenantId) -> ApiResult<Vec<topic::Model>> {
        Ok(contacts::topics(&self.db, tenant).await?)
    }

    /// Sets a contact's preference for a topic (the preference centre).
    pub async fn set_topic(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        topic_key: &str,
        subscribed: bool,
    ) -> ApiResult<contact::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let contact = contacts::lock(&*txn, tenant, contact_id)
            .await?
            .ok_or_else(|| not_found("marketing contact"))?;
        if ContactStatus::parse(&contact.status)? == ContactStatus::Erased {
            return Err(erased());
        }
        if !contacts::topics(&*txn, tenant)
            .await?
            .iter()
            .any(|t| t.key == topic_key)
        {
            return Err(ApiError::bad_input(
                "topic",
                format!("no topic `{topic_key}`"),
            ));
        }
        contacts::set_topic(
            &*txn,
            contact_topic::Model {
                tenant_id: tenant.as_str().to_owned(),
                contact_id: contact_id.to_owned(),
                topic: topic_key.to_owned(),
                subscribed,
                updated_at: now_ms(),
            },
        )
        .await?;
        self.refresh_contact(&txn, tenant, contact_id).await?;
        self.commit(txn).await?;
        Ok(contact)
    }

    /// The topics these contacts are subscribed to.
    pub async fn subscribed_topics(
        &self,
        tenant: &TenantId,
        contact_ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, std::collections::BTreeSet<String>>> {
        Ok(contacts::subscribed_topics(&self.db, tenant, contact_ids).await?)
    }
}

/// How many times the sender tries a confirmation mail the relay refused (or whose relay the
/// deployment no longer has).
pub const CONFIRMATION_ATTEMPTS: i32 = 5;

fn erased() -> ApiError {
    ApiError::rule(reasons::CONTACT_ERASED, "the contact was erased")
}

pub(crate) fn changed(contact: &contact::Model) -> ContactChanged {
    ContactChanged {
        contact_id: contact.id.clone(),
        crm_person_id: contact.crm_person_id.clone(),
        status: contact.status.clone(),
    }
}

/// What a bounce report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BounceOutcome {
    pub kind: crate::domain::bounce::BounceKind,
    /// Whether the address is suppressed now.
    pub suppressed: bool,
}

impl Marketing {
    /// Records a bounce or feedback report about an address: hard bounces and complaints
    /// suppress it, soft bounces count (the address is suppressed at the limit), automatic
    /// replies change nothing (never an unsubscribe).
    ///
    /// With the message it is about (the `X-Erp-Message` header the provider echoes), the
    /// message records the bounce or complaint (the campaign funnel counts them) and
    /// `message.bounced` / `message.complained` is published; an unknown message id changes
    /// nothing but the address's standing.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_bounce(
        &self,
        tenant: &TenantId,
        email: &str,
        status: Option<&str>,
        diagnostic: &str,
        auto_submitted: Option<&str>,
        feedback_type: Option<&str>,
        message_id: Option<&str>,
    ) -> ApiResult<BounceOutcome> {
        use crate::domain::bounce::{classify, BounceKind, SOFT_BOUNCE_LIMIT};
        let address = EmailAddress::parse(email)?;
        let hash = self.address_hash(tenant, &address).await?;
        let kind = classify(status, diagnostic, auto_submitted, feedback_type);
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let holders = contacts::by_address_hash(&*txn, tenant, &hash).await?;
        let reason = match kind {
            BounceKind::AutoReply => None,
            BounceKind::Hard => Some(SuppressionReason::HardBounce),
            BounceKind::Complaint => Some(SuppressionReason::Complaint),
            BounceKind::Soft => {
                let now = now_ms();
                let mut worst = 0;
                for holder in &holders {
                    contacts::insert_behaviour(
                        &*txn,
                        crate::store::entities::behaviour::Model {
                            tenant_id: tenant.as_str().to_owned(),
                            id: new_id(),
                            contact_id: holder.id.clone(),
                            kind: SOFT_BOUNCE.to_owned(),
                            campaign_id: None,
                            url: None,
                            at: now,
                        },
                    )
                    .await?;
                    let ids = [holder.id.clone()];
                    let count = contacts::behaviour_of(&*txn, tenant, &ids)
                        .await?
                        .remove(&holder.id)
                        .unwrap_or_default()
                        .iter()
                        .filter(|b| b.kind == SOFT_BOUNCE)
                        .count();
                    worst = worst.max(count);
                }
                (worst >= SOFT_BOUNCE_LIMIT).then_some(SuppressionReason::HardBounce)
            }
        };
        if let Some(reason) = reason {
            let source = if kind == BounceKind::Complaint {
                "complaint"
            } else {
                "bounce"
            };
            self.suppress(&txn, tenant, &hash, reason, source).await?;
        }
        if let Some(message) = match message_id {
            Some(id) => crate::store::queue::message(&*txn, tenant, id).await?,
            None => None,
        } {
            let now = now_ms();
            let event = match kind {
                BounceKind::Hard | BounceKind::Soft => {
                    let class = if kind == BounceKind::Hard {
                        "hard"
                    } else {
                        "soft"
                    };
                    crate::store::queue::mark_bounced(&*txn, tenant, &message.id, class, now)
                        .await?;
                    Some((events::MESSAGE_BOUNCED, class))
                }
                BounceKind::Complaint => {
                    crate::store::queue::mark_complained(&*txn, tenant, &message.id, now).await?;
                    Some((events::MESSAGE_COMPLAINED, "complaint"))
                }
                BounceKind::AutoReply => None,
            };
            if let Some((event_type, class)) = event {
                self.enqueue(
                    &txn,
                    tenant,
                    event_type,
                    &message.id,
                    "mail-provider",
                    events::MessageReported {
                        message_id: message.id.clone(),
                        campaign_id: message.campaign_id.clone(),
                        contact_id: message.contact_id.clone(),
                        class: class.to_owned(),
                    },
                )
                .await?;
            }
        }
        let suppressed = contacts::suppression(&*txn, tenant, &hash).await?.is_some();
        self.commit(txn).await?;
        Ok(BounceOutcome { kind, suppressed })
    }
}

/// The behaviour kind soft bounces are counted under.
const SOFT_BOUNCE: &str = "soft_bounce";
