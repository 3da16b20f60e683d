//! The sender: a loop over the message table (store/queue.rs) that starts due campaigns
//! (one row per segment member, the send key), leases a batch, checks each message at send
//! time (campaign still sending; address not suppressed; contact subscribed with a consent in
//! force and not opted out of the campaign's topic), marks it handed off in its own commit,
//! renders it with its signed unsubscribe and tracking links, hands it to the relay, and marks
//! it sent. Any number of senders may run (SKIP LOCKED leases); a sender killed at any point
//! never causes a second message to the same contact for the same campaign.
//!
//! The transactional stream (password reset, invoice) is separate: one message to one
//! address, now, never checked against marketing suppression, without unsubscribe headers.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::Value;
use tokio::task::JoinHandle;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::links::{CLICK_PATH, OPEN_PATH};
use super::segments::{facts_of, has_marketing_consent};
use super::{now_ms, Marketing};
use crate::domain::campaign::CampaignStatus;
use crate::domain::contact::{may_receive, EmailAddress};
use crate::domain::reasons;
use crate::domain::segment::BehaviourKind;
use crate::domain::template::{self, TemplateKind, TokenValues};
use crate::domain::throttle::{LimitKind, SendingLimits, Slot};
use crate::domain::token::{LinkClaims, LinkPurpose};
use crate::events::{self, CampaignStatusChanged, MessageSent};
use crate::mail::OutgoingMail;
use crate::store::entities::{
    campaign, message, provider, template as template_entity, transactional,
};
use crate::store::{campaigns, contacts, new_id, queue, segments, throttle};

/// How a sender runs.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Names this sender's leases.
    pub worker_id: String,
    /// Messages leased per batch (pausing a campaign stops its sends within one batch).
    pub batch: u64,
    /// How long a lease lasts before another sender may take the message.
    pub lease: Duration,
    /// How long an idle sender sleeps between looks (a campaign start wakes it sooner).
    pub idle: Duration,
}

impl Default for SenderOptions {
    fn default() -> Self {
        Self {
            worker_id: format!("sender-{}", uuid::Uuid::new_v4().simple()),
            batch: 50,
            lease: Duration::from_secs(60),
            idle: Duration::from_millis(500),
        }
    }
}

/// A running sender.
pub struct SenderHandle {
    task: JoinHandle<()>,
}

impl SenderHandle {
    /// Stops the sender where it is (as a crash would: a message between hand-off and
    /// confirmation stays `handed_off`, never sent again).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for SenderHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub started: usize,
    pub sent: usize,
    pub skipped: usize,
    pub failed: usize,
    pub released: usize,
    pub finished: usize,
    /// Messages put back until a later window (a sending limit or a provider's rate or daily
    /// cap was reached).
    pub deferred: usize,
    /// Double opt-in confirmation mails sent (retries of ones the relay refused).
    pub confirmations: usize,
    /// A/B tests whose winner was chosen (their held messages queued with it).
    pub decided: usize,
    /// What the journeys' steps did.
    pub journeys: super::journeys::JourneyReport,
}

impl PassReport {
    fn busy(&self) -> bool {
        self.started
            + self.sent
            + self.skipped
            + self.failed
            + self.finished
            + self.confirmations
            + self.decided
            + self.journeys.steps
            > 0
    }
}

/// What [`Marketing::render_queued`] rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderReport {
    pub messages: usize,
    /// Subject, text and HTML, in bytes.
    pub bytes: usize,
}

impl RenderReport {
    fn add(&mut self, other: RenderReport) {
        self.messages += other.messages;
        self.bytes += other.bytes;
    }
}

/// The template cache's key: (tenant, campaign, A/B variant).
type TemplateKey = (String, String, Option<String>);

/// What a message waiting for a relay the deployment no longer has is deferred by.
const RELAY_MISSING: &str = "relay_missing";
/// How long such a message waits before it is tried again.
const RELAY_MISSING_RETRY_MS: i64 = 60_000;

/// What limits a tenant's messages in one pass: its own limits and its sending providers.
#[derive(Debug, Clone, Default)]
struct TenantThrottle {
    limits: SendingLimits,
    providers: Vec<provider::Model>,
}

impl TenantThrottle {
    /// The slots a message to `address` takes: those of the provider it goes through (the
    /// campaign's, else the tenant's default), the longest window first, then the tenant's.
    fn slots(&self, provider_id: Option<&str>, address: &str) -> Vec<Slot> {
        let mut slots = self
            .provider(provider_id)
            .map(|p| super::throttle::provider_limits(p).slots(&p.id))
            .unwrap_or_default();
        slots.extend(self.limits.slots(address));
        slots
    }

    /// The provider a message goes through: the campaign's, else the tenant's default (none
    /// when the tenant has no provider: the default relay, no provider limits).
    fn provider(&self, provider_id: Option<&str>) -> Option<&provider::Model> {
        match provider_id {
            Some(id) => self.providers.iter().find(|p| p.id == id),
            None => self.providers.iter().find(|p| p.is_default),
        }
    }
}

enum Outcome {
    Sent,
    Skipped,
    Failed,
    Released,
    Deferred,
}

impl Marketing {
    /// Starts a sender loop on the runtime.
    pub fn spawn_sender(&self, options: SenderOptions) -> SenderHandle {
        let marketing = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let busy = match marketing.send_pass(&options).await {
                    Ok(report) => report.busy(),
                    Err(err) => {
                        tracing::warn!(error = %err.message(), "marketing sender pass failed");
                        false
                    }
                };
                if !busy {
                    let wake = marketing.sender_wake.notified();
                    let _ = tokio::time::timeout(options.idle, wake).await;
                }
            }
        });
        SenderHandle { task }
    }

    /// One pass: start due campaigns, run the journey steps that are due, send one batch, choose the winners of A/B tests whose
    /// wait is over, finish campaigns with nothing left, send the confirmation mails still due.
    pub async fn send_pass(&self, options: &SenderOptions) -> ApiResult<PassReport> {
        self.send_pass_at(options, now_ms()).await
    }

    /// [`Self::send_pass`] as if the clock said `now` (Unix milliseconds): what is due, what a
    /// lease expires against and which sending window a hand-off counts in. Tests pass the same
    /// `now` to several passes to stay in one window whatever the wall clock does.
    pub async fn send_pass_at(&self, options: &SenderOptions, now: i64) -> ApiResult<PassReport> {
        let mut report = PassReport::default();
        for due in campaigns::due(&self.db, now, 20).await? {
            if self.start_campaign(&due).await? {
                report.started += 1;
            }
        }
        // Journeys first: the messages their steps queue go out in this pass's batch.
        report.journeys = self
            .advance_journeys(
                &options.worker_id,
                options.lease.as_millis() as i64,
                options.batch,
                now,
            )
            .await?;
        let lease_until = now + options.lease.as_millis() as i64;
        let leased = {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let leased =
                queue::lease(&*txn, &options.worker_id, now, lease_until, options.batch).await?;
            txn.commit().await?;
            leased
        };
        let mut templates: HashMap<TemplateKey, (campaign::Model, template_entity::Model)> =
            HashMap::new();
        let mut throttles: HashMap<String, TenantThrottle> = HashMap::new();
        for message in leased {
            if !throttles.contains_key(&message.tenant_id) {
                let tenant = TenantId::from_claim(&message.tenant_id);
                let throttle = TenantThrottle {
                    limits: self.sending_limits(&tenant).await?,
                    providers: self.sending_providers(&tenant).await?,
                };
                throttles.insert(message.tenant_id.clone(), throttle);
            }
            let throttle = throttles
                .get(&message.tenant_id)
                .cloned()
                .unwrap_or_default();
            match self
                .send_one(
                    (&options.worker_id, options.lease.as_millis() as i64),
                    &message,
                    &mut templates,
                    (&throttle, now),
                )
                .await
            {
                Ok(Outcome::Sent) => report.sent += 1,
                Ok(Outcome::Skipped) => report.skipped += 1,
                Ok(Outcome::Failed) => report.failed += 1,
                Ok(Outcome::Released) => report.released += 1,
                Ok(Outcome::Deferred) => report.deferred += 1,
                Err(err) => {
                    tracing::warn!(message = %message.id, error = %err.message(), "marketing message not sent");
                    report.failed += 1;
                }
            }
        }
        report.decided = self.decide_due_tests(now).await?;
        for sending in campaigns::sending(&self.db, 50).await? {
            if self.finish_if_done(&sending, now).await? {
                report.finished += 1;
            }
        }
        report.confirmations = self.send_due_confirmations().await?;
        // Windows that never bind again.
        throttle::forget_windows(&self.db, now).await?;
        Ok(report)
    }

    /// scheduled -> sending: one message row per segment member (the send key).
    async fn start_campaign(&self, due: &campaign::Model) -> ApiResult<bool> {
        let tenant = TenantId::from_claim(&due.tenant_id);
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let Some(mut model) = campaigns::lock(&*txn, &tenant, &due.id).await? else {
            return Ok(false);
        };
        if model.status != CampaignStatus::Scheduled.as_str() {
            return Ok(false);
        }
        let now = now_ms();
        let members = segments::members(&*txn, &tenant, &model.segment_id).await?;
        // An A/B test: its share of the audience gets the variants, the rest is held for the
        // winner; without a test every message sends the campaign's template.
        let assignments = match model.ab_test_percent {
            Some(percent) => {
                let variants = campaigns::variants(&*txn, &tenant, &model.id).await?;
                super::ab_test::assign(&model.id, members, percent, &variants)
            }
            None => members.into_iter().map(|c| (c, None)).collect(),
        };
        let rows = assignments
            .into_iter()
            .map(|(contact_id, variant)| message::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                campaign_id: model.id.clone(),
                contact_id,
                status: match variant {
                    Some(super::ab_test::Assigned::Held) => "held".into(),
                    _ => "queued".into(),
                },
                variant_id: match variant {
                    Some(super::ab_test::Assigned::Variant(id)) => Some(id),
                    _ => None,
                },
                journey_id: None,
                lease_until: None,
                leased_by: None,
                attempts: 0,
                skip_reason: None,
                error: None,
                queued_at: now,
                handed_off_at: None,
                sent_at: None,
                opened_at: None,
                clicked_at: None,
                bounce_kind: None,
                bounced_at: None,
                complained_at: None,
                not_before: None,
                deferred_by: None,
            })
            .collect();
        queue::enqueue(&*txn, rows).await?;
        model.status = CampaignStatus::Sending.as_str().to_owned();
        model.started_at = Some(now);
        model.version += 1;
        model.updated_at = now;
        let model = campaigns::update(&*txn, model).await?;
        self.enqueue(
            &txn,
            &tenant,
            events::CAMPAIGN_STATUS_CHANGED,
            &model.id,
            "system:sender",
            CampaignStatusChanged {
                campaign_id: model.id.clone(),
                from: CampaignStatus::Scheduled.as_str().to_owned(),
                to: CampaignStatus::Sending.as_str().to_owned(),
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(true)
    }

    /// sending -> sent once no message is in flight at `now`: none queued or leased, and none
    /// handed off by a sender whose lease still runs (its mark is coming; only a message whose
    /// lease expired after the hand-off stays in doubt, its sender gone).
    async fn finish_if_done(&self, sending: &campaign::Model, now: i64) -> ApiResult<bool> {
        let tenant = TenantId::from_claim(&sending.tenant_id);
        // A cheap look first (most passes find messages left) without a write transaction.
        if queue::in_flight(&self.db, &tenant, &sending.id, now).await? > 0 {
            return Ok(false);
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let Some(mut model) = campaigns::lock(&*txn, &tenant, &sending.id).await? else {
            return Ok(false);
        };
        if model.status != CampaignStatus::Sending.as_str() {
            return Ok(false);
        }
        // No message comes back in flight between the look and the lock: a sending campaign
        // gains no queued rows, and a hand-off only moves a row that was leased (counted).
        let now = now_ms();
        model.status = CampaignStatus::Sent.as_str().to_owned();
        model.finished_at = Some(now);
        model.version += 1;
        model.updated_at = now;
        campaigns::update(&*txn, model).await?;
        self.enqueue(
            &txn,
            &tenant,
            events::CAMPAIGN_STATUS_CHANGED,
            &sending.id,
            "system:sender",
            CampaignStatusChanged {
                campaign_id: sending.id.clone(),
                from: CampaignStatus::Sending.as_str().to_owned(),
                to: CampaignStatus::Sent.as_str().to_owned(),
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(true)
    }

    /// One leased message: the send-time checks, the sending limits of the windows of
    /// `window_at` (the pass's clock), the hand-off mark (with the slots taken) in one
    /// transaction; then the relay.
    async fn send_one(
        &self,
        (worker, lease_ms): (&str, i64),
        message: &message::Model,
        templates: &mut HashMap<TemplateKey, (campaign::Model, template_entity::Model)>,
        (throttle, window_at): (&TenantThrottle, i64),
    ) -> ApiResult<Outcome> {
        let tenant = TenantId::from_claim(&message.tenant_id);
        // The send-time checks and the hand-off mark, in one transaction.
        let txn = erp_kit::db::begin_write(&self.db).await?;
        // A journey's message sends like a one-message campaign (app/journeys.rs).
        let campaign = match &message.journey_id {
            Some(_) => self.journey_source(&*txn, &tenant, message).await?,
            None => campaigns::campaign(&*txn, &tenant, &message.campaign_id).await?,
        };
        let Some(campaign) = campaign else {
            return Ok(Outcome::Failed);
        };
        if campaign.status != CampaignStatus::Sending.as_str() {
            queue::release(&*txn, tenant.as_str(), &message.id, worker).await?;
            txn.commit().await?;
            return Ok(Outcome::Released);
        }
        // The hand-off time is taken before the checks read anything, and the contact's row is
        // locked: an unsubscribe (which updates every contact with the address) either
        // committed before these reads or waits for this hand-off, so no message is handed off
        // after an unsubscribe returned.
        let now = now_ms();
        let contact = contacts::lock(&*txn, &tenant, &message.contact_id).await?;
        let facts = facts_of(&*txn, &tenant, std::slice::from_ref(&message.contact_id)).await?;
        let verdict = match (facts.first(), &contact) {
            (Some(facts), Some(contact)) => {
                let suppressed = match &contact.address_hash {
                    Some(hash) => contacts::suppression(&*txn, &tenant, hash).await?.is_some(),
                    None => true,
                };
                let topic_ok = campaign
                    .topic
                    .as_ref()
                    .is_none_or(|topic| facts.topics.contains(topic));
                may_receive(
                    facts.status,
                    suppressed,
                    has_marketing_consent(facts),
                    topic_ok,
                )
            }
            _ => Err("contact_gone"),
        };
        if let Err(reason) = verdict {
            queue::transition(
                &*txn,
                tenant.as_str(),
                &message.id,
                worker,
                "leased",
                "skipped",
                &[(message::Column::SkipReason, Value::from(reason))],
            )
            .await?;
            txn.commit().await?;
            return Ok(Outcome::Skipped);
        }
        let address = contact
            .as_ref()
            .and_then(|c| c.email.clone())
            .unwrap_or_default();
        // The provider's relay (a named one, else the default). A relay the deployment no
        // longer has (its configuration changed) defers the message, nothing taken or lost.
        let relay = throttle
            .provider(campaign.provider_id.as_deref())
            .and_then(|provider| provider.relay.clone());
        let Some(mailer) = self.relay_for(relay.as_deref())? else {
            tracing::error!(
                tenant = tenant.as_str(),
                relay = relay.as_deref().unwrap_or_default(),
                "a sending provider names a relay this deployment does not have (ERP_SMTP_RELAYS): its messages wait"
            );
            let deferred = queue::defer(
                &*txn,
                tenant.as_str(),
                &message.id,
                worker,
                now + RELAY_MISSING_RETRY_MS,
                RELAY_MISSING,
            )
            .await?;
            txn.commit().await?;
            return Ok(if deferred {
                Outcome::Deferred
            } else {
                Outcome::Released
            });
        };
        let slots = throttle.slots(campaign.provider_id.as_deref(), &address);
        if let Some(full) = self.take_slots(&txn, &tenant, &slots, window_at).await? {
            let unit = full.unit();
            let deferred = queue::defer(
                &*txn,
                tenant.as_str(),
                &message.id,
                worker,
                unit.next_start(unit.window_of(window_at)),
                full.as_str(),
            )
            .await?;
            txn.commit().await?;
            return Ok(if deferred {
                Outcome::Deferred
            } else {
                Outcome::Released
            });
        }
        let moved = queue::transition(
            &*txn,
            tenant.as_str(),
            &message.id,
            worker,
            "leased",
            "handed_off",
            &[
                (message::Column::HandedOffAt, Value::from(now)),
                // The lease runs again from the hand-off: while it runs the campaign waits for
                // this sender's mark (finish_if_done); once it expired the message is in doubt.
                (message::Column::LeaseUntil, Value::from(now + lease_ms)),
                (message::Column::Attempts, Value::from(message.attempts + 1)),
            ],
        )
        .await?;
        txn.commit().await?;
        if !moved {
            // The lease expired and another sender took it.
            return Ok(Outcome::Released);
        }
        // Past this point the message is never sent again, whatever happens.
        let key = (
            tenant.as_str().to_owned(),
            campaign.id.clone(),
            message.variant_id.clone(),
        );
        if !templates.contains_key(&key) {
            // An A/B test's message sends its variant's template.
            let template_id = match &message.variant_id {
                Some(variant_id) => {
                    campaigns::variant(&self.db, &tenant, variant_id)
                        .await?
                        .ok_or_else(|| ApiError::internal("the message's variant is gone"))?
                        .template_id
                }
                None => campaign.template_id.clone(),
            };
            let template = campaigns::template(&self.db, &tenant, &template_id)
                .await?
                .ok_or_else(|| ApiError::internal("the campaign's template is gone"))?;
            templates.insert(key.clone(), (campaign.clone(), template));
        }
        let (_, template) = &templates[&key];
        let Some(contact) = contact else {
            return Ok(Outcome::Failed);
        };
        let mail = self
            .render_bulk(&tenant, &campaign, template, &contact, &message.id)
            .await?;
        let (to, set): (&str, Vec<(message::Column, Value)>) = match mailer.send(&mail).await {
            Ok(()) => (
                "sent",
                vec![(message::Column::SentAt, Value::from(now_ms()))],
            ),
            Err(err) => ("failed", vec![(message::Column::Error, Value::from(err.0))]),
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        queue::transition(
            &*txn,
            tenant.as_str(),
            &message.id,
            worker,
            "handed_off",
            to,
            &set,
        )
        .await?;
        if to == "sent" {
            self.enqueue(
                &txn,
                &tenant,
                events::MESSAGE_SENT,
                &message.id,
                "system:sender",
                MessageSent {
                    message_id: message.id.clone(),
                    campaign_id: campaign.id.clone(),
                    contact_id: message.contact_id.clone(),
                },
            )
            .await?;
        }
        self.commit(txn).await?;
        Ok(if to == "sent" {
            Outcome::Sent
        } else {
            Outcome::Failed
        })
    }

    /// Takes each slot in its window of `at`; when one is full the slots already taken are
    /// given back and the answer is the full one's limit (the message waits for its next
    /// window). The counters are rows of the shared database, taken by a conditional increment
    /// in the hand-off's transaction: every sender instance counts against the same windows,
    /// and a rolled-back hand-off takes none.
    async fn take_slots(
        &self,
        txn: &erp_kit::db::WriteTransaction,
        tenant: &TenantId,
        slots: &[Slot],
        at: i64,
    ) -> ApiResult<Option<LimitKind>> {
        let mut taken: Vec<(&str, i64)> = Vec::new();
        for slot in slots {
            let window = slot.limit.unit().window_of(at);
            if throttle::take_slot(&**txn, tenant, &slot.scope, window, slot.cap).await? {
                taken.push((&slot.scope, window));
                continue;
            }
            for (scope, window) in taken {
                throttle::give_back_slot(&**txn, tenant, scope, window).await?;
            }
            return Ok(Some(slot.limit));
        }
        Ok(None)
    }

    async fn render_bulk(
        &self,
        tenant: &TenantId,
        campaign: &campaign::Model,
        template: &template_entity::Model,
        contact: &crate::store::entities::contact::Model,
        message_id: &str,
    ) -> ApiResult<OutgoingMail> {
        let expires = self.link_expiry();
        let unsubscribe = self
            .unsubscribe_url(tenant, &contact.id, Some(&campaign.id), expires)
            .await?;
        let values = TokenValues {
            first_name: contact.first_name.clone().unwrap_or_default(),
            last_name: contact.last_name.clone().unwrap_or_default(),
            email: contact.email.clone().unwrap_or_default(),
            country: contact.country.clone().unwrap_or_default(),
            unsubscribe_url: unsubscribe.clone(),
        };
        let tracking = |purpose: LinkPurpose, url: Option<String>| LinkClaims {
            purpose,
            tenant: tenant.as_str().to_owned(),
            contact_id: contact.id.clone(),
            reference: Some(message_id.to_owned()),
            url,
            expires_at: expires,
        };
        let html = template::render(&template.html, &values, true);
        // Collect the targets first: signing is async.
        let mut targets = Vec::new();
        // The unsubscribe link stays as it is (never behind a tracking redirect).
        template::rewrite_links(&html, |url| {
            if url != unsubscribe {
                targets.push(url.to_owned());
            }
            String::new()
        });
        targets.sort();
        targets.dedup();
        let mut signed = HashMap::new();
        for url in targets {
            let token = self
                .sign(&tracking(LinkPurpose::Click, Some(url.clone())))
                .await?;
            signed.insert(url, self.link_url(CLICK_PATH, &token));
        }
        let mut html = template::rewrite_links(&html, |url| {
            signed.get(url).cloned().unwrap_or_else(|| url.to_owned())
        });
        let open = self.sign(&tracking(LinkPurpose::Open, None)).await?;
        html.push_str(&format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\">",
            template::escape_html(&self.link_url(OPEN_PATH, &open))
        ));
        Ok(OutgoingMail {
            from: self.settings.from_address.clone(),
            to: contact.email.clone().unwrap_or_default(),
            subject: template::render(&template.subject, &values, false),
            text: template::render(&template.text, &values, false),
            html,
            headers: vec![
                ("List-Unsubscribe", format!("<{unsubscribe}>")),
                (
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_owned(),
                ),
                ("X-Erp-Stream", "bulk".to_owned()),
                ("X-Erp-Campaign", campaign.id.clone()),
                ("X-Erp-Message", message_id.to_owned()),
            ],
        })
    }

    /// Renders every queued message of a sending campaign as the sender renders it at hand-off
    /// (its personalised subject, text and HTML, the signed unsubscribe, click and open links,
    /// the RFC 8058 headers), in process, with `workers` pages of `page` messages rendered at
    /// once, and hands nothing to a relay and changes nothing: a dry run over the queue (the
    /// benchmark's "rendered" figure; a check that a campaign's template renders for every
    /// member before it goes out). Answers how many it rendered and their size.
    pub async fn render_queued(
        &self,
        tenant: &TenantId,
        campaign_id: &str,
        page: u64,
        workers: usize,
    ) -> ApiResult<RenderReport> {
        let campaign = campaigns::campaign(&self.db, tenant, campaign_id)
            .await?
            .ok_or_else(|| super::not_found("campaign"))?;
        let template = campaigns::template(&self.db, tenant, &campaign.template_id)
            .await?
            .ok_or_else(|| ApiError::internal("the campaign's template is gone"))?;
        let mut report = RenderReport::default();
        let mut running = tokio::task::JoinSet::new();
        let mut after: Option<String> = None;
        loop {
            let messages =
                queue::queued_page(&self.db, tenant, campaign_id, after.as_deref(), page.max(1))
                    .await?;
            let Some(last) = messages.last() else { break };
            after = Some(last.id.clone());
            while running.len() >= workers.max(1) {
                if let Some(done) = running.join_next().await {
                    report.add(done.map_err(|e| ApiError::internal(e.to_string()))??);
                }
            }
            let (marketing, tenant, campaign, template) = (
                self.clone(),
                tenant.clone(),
                campaign.clone(),
                template.clone(),
            );
            running.spawn(async move {
                let ids: Vec<String> = messages.iter().map(|m| m.contact_id.clone()).collect();
                let found = contacts::by_ids(&marketing.db, &tenant, &ids).await?;
                let mut part = RenderReport::default();
                for message in &messages {
                    let Some(contact) = found.get(&message.contact_id) else {
                        continue;
                    };
                    let mail = marketing
                        .render_bulk(&tenant, &campaign, &template, contact, &message.id)
                        .await?;
                    part.messages += 1;
                    part.bytes += mail.subject.len() + mail.text.len() + mail.html.len();
                }
                ApiResult::Ok(part)
            });
        }
        while let Some(done) = running.join_next().await {
            report.add(done.map_err(|e| ApiError::internal(e.to_string()))??);
        }
        Ok(report)
    }

    /// Sends a transactional template to one address now, through the tenant's default
    /// provider's relay (PROVIDER_RELAY_MISSING when the deployment no longer has it: nothing
    /// sent, nothing recorded). Marketing suppression does not apply (a marketing unsubscribe
    /// never blocks a password reset or an invoice); a bulk template is refused
    /// (TEMPLATE_KIND_MISMATCH).
    pub async fn send_transactional(
        &self,
        tenant: &TenantId,
        template_id: &str,
        to: &str,
        values: TokenValues,
    ) -> ApiResult<transactional::Model> {
        let address = EmailAddress::parse(to)?;
        let template = campaigns::template(&self.db, tenant, template_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("templateId", "no such template"))?;
        if TemplateKind::parse(&template.kind)? != TemplateKind::Transactional {
            return Err(ApiError::rule(
                reasons::TEMPLATE_KIND_MISMATCH,
                "the transactional stream sends transactional templates only",
            )
            .on_field("templateId"));
        }
        let hash = self.address_hash(tenant, &address).await?;
        let values = TokenValues {
            email: address.as_str().to_owned(),
            ..values
        };
        self.transactional_relay(tenant)
            .await?
            .send(&OutgoingMail {
                from: self.settings.from_address.clone(),
                to: address.as_str().to_owned(),
                subject: template::render(&template.subject, &values, false),
                text: template::render(&template.text, &values, false),
                html: template::render(&template.html, &values, true),
                headers: vec![("X-Erp-Stream", "transactional".to_owned())],
            })
            .await
            .map_err(|e| ApiError::internal(format!("the relay refused the message: {e}")))?;
        let model = transactional::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            template_id: template.id.clone(),
            address_hash: hash,
            sent_at: now_ms(),
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        campaigns::insert_transactional(&*txn, model.clone()).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// An open (the pixel's signed link): the message's first open, the contact's behaviour.
    pub async fn track_open(&self, raw_token: &str) -> ApiResult<()> {
        self.track(raw_token, LinkPurpose::Open).await.map(|_| ())
    }

    /// A click: recorded like an open, answers where to redirect.
    pub async fn track_click(&self, raw_token: &str) -> ApiResult<String> {
        let url = self.track(raw_token, LinkPurpose::Click).await?;
        url.ok_or_else(|| ApiError::rule(reasons::TOKEN_INVALID, "the link has no target"))
    }

    async fn track(&self, raw_token: &str, purpose: LinkPurpose) -> ApiResult<Option<String>> {
        let (tenant, claims, contact) = self.verify_link(raw_token, purpose).await?;
        let message_id = claims.reference.clone().unwrap_or_default();
        let message = queue::message(&self.db, &tenant, &message_id)
            .await?
            .filter(|m| m.contact_id == contact.id)
            .ok_or_else(|| ApiError::rule(reasons::TOKEN_INVALID, "unknown message"))?;
        let (column, kind) = match purpose {
            LinkPurpose::Click => (message::Column::ClickedAt, BehaviourKind::Clicked),
            _ => (message::Column::OpenedAt, BehaviourKind::Opened),
        };
        {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            queue::mark_engaged(&*txn, &tenant, &message.id, column, now_ms()).await?;
            // A click implies the message was opened (images may be blocked).
            if purpose == LinkPurpose::Click {
                queue::mark_engaged(
                    &*txn,
                    &tenant,
                    &message.id,
                    message::Column::OpenedAt,
                    now_ms(),
                )
                .await?;
            }
            txn.commit().await?;
        }
        if contact.erased_at.is_none() {
            self.record_behaviour(
                &tenant,
                &contact.id,
                kind,
                Some(&message.campaign_id),
                claims.url.as_deref(),
            )
            .await?;
        }
        Ok(claims.url)
    }
}
