//! Templates and campaigns: create, edit (only before sending), schedule, pause, resume,
//! cancel; the funnel of a campaign.

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{not_found, now_ms, Marketing};
use crate::domain::campaign::CampaignStatus;
use crate::domain::contact::consent_text;
use crate::domain::reasons;
use crate::domain::template::{self, TemplateKind};
use crate::domain::throttle::LimitKind;
use crate::events::{self, CampaignStatusChanged};
use crate::store::entities::{campaign, template as template_entity};
use crate::store::queue::Tally;
use crate::store::{campaigns, contacts, new_id, queue, segments, throttle};

/// A new template.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub name: String,
    pub kind: TemplateKind,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// An A/B test as a campaign is created or edited with it: the challengers' templates (the
/// campaign's own template is variant A), the test share, how and when the winner is chosen
/// (app/ab_test.rs writes it).
#[derive(Debug, Clone)]
pub struct AbTestFields {
    pub challengers: Vec<String>,
    pub test_percent: i32,
    pub winner_by: crate::domain::ab_test::WinnerBy,
    pub wait_ms: i64,
}

/// A new campaign, or the changes to one (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct CampaignFields {
    pub name: Option<String>,
    pub template_id: Option<String>,
    pub segment_id: Option<String>,
    /// `Some(None)` clears the topic.
    pub topic: Option<Option<String>>,
    /// `Some(None)` removes the A/B test.
    pub ab_test: Option<Option<AbTestFields>>,
    /// The sending provider; `Some(None)`: the tenant's default.
    pub provider_id: Option<Option<String>>,
}

/// A campaign's funnel: sent -> delivered -> opened -> clicked, with the rest of its messages,
/// the provider's bounce and complaint reports, the campaign's unsubscribes and the CRM
/// leads it brought that converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    pub queued: i64,
    /// Waiting for the A/B test's winner.
    pub held: i64,
    /// Of the queued, those waiting for a later sending window (a sending limit was reached).
    pub deferred: i64,
    /// Of the deferred, how many each limit deferred last (the longest window first).
    pub deferred_by: Vec<(LimitKind, i64)>,
    /// The earliest time a deferred message may go (Unix milliseconds).
    pub deferred_until: Option<i64>,
    pub sent: i64,
    pub skipped: i64,
    pub failed: i64,
    /// Handed to the relay, never confirmed (the sender died mid-hand-off): not retried.
    pub in_doubt: i64,
    pub opened: i64,
    pub clicked: i64,
    /// Sent messages the provider reported bounced (hard or soft).
    pub bounced: i64,
    /// Sent and not bounced.
    pub delivered: i64,
    /// Messages the recipient reported as spam.
    pub complained: i64,
    /// Contacts who unsubscribed through this campaign's one-click link.
    pub unsubscribed: i64,
    /// CRM leads the campaign brought (their `utm_campaign` is its id) that converted.
    pub converted: i64,
}

impl Funnel {
    /// The message side of a funnel (everything but unsubscribes and conversions) from the
    /// tallies of the messages it covers.
    pub fn fold<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Self {
        let mut funnel = Funnel::default();
        for tally in tallies {
            match tally.status.as_str() {
                "queued" => {
                    funnel.queued += tally.messages;
                    funnel.deferred += tally.deferred;
                    if let Some(limit) = tally.deferred_by.as_deref().and_then(LimitKind::parse) {
                        match funnel.deferred_by.iter_mut().find(|(l, _)| *l == limit) {
                            Some((_, n)) => *n += tally.deferred,
                            None => funnel.deferred_by.push((limit, tally.deferred)),
                        }
                    }
                    if let Some(at) = tally.next_send_at {
                        funnel.deferred_until =
                            Some(funnel.deferred_until.map_or(at, |t| t.min(at)));
                    }
                }
                "leased" => funnel.queued += tally.messages,
                "held" => funnel.held += tally.messages,
                "sent" => funnel.sent += tally.messages,
                "skipped" => funnel.skipped += tally.messages,
                "failed" => funnel.failed += tally.messages,
                "handed_off" => funnel.in_doubt += tally.messages,
                _ => {}
            }
            funnel.opened += tally.opened;
            funnel.clicked += tally.clicked;
            funnel.bounced += tally.bounced;
            funnel.complained += tally.complained;
        }
        funnel.delivered = (funnel.sent - funnel.bounced).max(0);
        funnel
            .deferred_by
            .sort_by_key(|(limit, _)| std::cmp::Reverse(limit.unit().millis()));
        funnel
    }

    /// Complaints per delivered message (0 before any is delivered): Gmail's bulk-sender
    /// rules want it under 0.3 %.
    pub fn complaint_rate(&self) -> f64 {
        ratio(self.complained, self.delivered)
    }

    /// Unsubscribes per delivered message (0 before any is delivered).
    pub fn unsubscribe_rate(&self) -> f64 {
        ratio(self.unsubscribed, self.delivered)
    }
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Marketing {
    /// A new template; a token it does not know is refused now (TEMPLATE_UNKNOWN_TOKEN).
    pub async fn create_template(
        &self,
        tenant: &TenantId,
        new: NewTemplate,
    ) -> ApiResult<template_entity::Model> {
        let name = consent_text("name", &new.name)?;
        if new.subject.trim().is_empty() {
            return Err(ApiError::bad_input("subject", "a template needs a subject"));
        }
        template::check(&[
            ("subject", new.subject.as_str()),
            ("html", new.html.as_str()),
            ("text", new.text.as_str()),
        ])?;
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let model = campaigns::insert_template(
            &*txn,
            template_entity::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                name,
                kind: new.kind.as_str().to_owned(),
                subject: new.subject,
                html: new.html,
                text: new.text,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn template(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<template_entity::Model>> {
        Ok(campaigns::template(&self.db, tenant, id).await?)
    }

    pub async fn templates(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<template_entity::Model>> {
        Ok(campaigns::templates(&self.db, tenant, page).await?)
    }

    /// A bulk template of the tenant, or the error on `field` (no such template;
    /// TEMPLATE_KIND_MISMATCH for a transactional one).
    pub(crate) async fn check_bulk_template(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        template_id: &str,
        field: &str,
    ) -> ApiResult<()> {
        let template = campaigns::template(db, tenant, template_id)
            .await?
            .ok_or_else(|| ApiError::bad_input(field, "no such template"))?;
        if TemplateKind::parse(&template.kind)? != TemplateKind::Bulk {
            return Err(ApiError::rule(
                reasons::TEMPLATE_KIND_MISMATCH,
                "a campaign sends a bulk template; transactional templates go through sendTransactional",
            )
            .on_field(field));
        }
        Ok(())
    }

    async fn check_fields(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        fields: &CampaignFields,
    ) -> ApiResult<()> {
        if let Some(template_id) = &fields.template_id {
            self.check_bulk_template(db, tenant, template_id, "templateId")
                .await?;
        }
        if let Some(segment_id) = &fields.segment_id {
            if segments::segment(db, tenant, segment_id).await?.is_none() {
                return Err(ApiError::bad_input("segmentId", "no such segment"));
            }
        }
        if let Some(Some(topic)) = &fields.topic {
            if !contacts::topics(db, tenant)
                .await?
                .iter()
                .any(|t| &t.key == topic)
            {
                return Err(ApiError::bad_input("topic", format!("no topic `{topic}`")));
            }
        }
        if let Some(Some(provider_id)) = &fields.provider_id {
            if throttle::provider(db, tenant, provider_id).await?.is_none() {
                return Err(ApiError::bad_input(
                    "providerId",
                    "no such sending provider",
                ));
            }
        }
        Ok(())
    }

    /// A new draft campaign.
    pub async fn create_campaign(
        &self,
        tenant: &TenantId,
        actor: &str,
        fields: CampaignFields,
    ) -> ApiResult<campaign::Model> {
        let name = consent_text("name", fields.name.as_deref().unwrap_or(""))?;
        let (Some(template_id), Some(segment_id)) =
            (fields.template_id.clone(), fields.segment_id.clone())
        else {
            return Err(ApiError::bad_input(
                "templateId",
                "a campaign needs a template and a segment",
            ));
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        self.check_fields(&*txn, tenant, &fields).await?;
        let now = now_ms();
        let model = campaigns::insert(
            &*txn,
            campaign::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                name,
                template_id,
                segment_id,
                topic: fields.topic.flatten(),
                status: CampaignStatus::Draft.as_str().to_owned(),
                scheduled_at: None,
                started_at: None,
                finished_at: None,
                version: 1,
                created_by: actor.to_owned(),
                created_at: now,
                updated_at: now,
                ab_test_percent: None,
                ab_winner_by: None,
                ab_wait_ms: None,
                ab_winner_variant_id: None,
                ab_decided_at: None,
                provider_id: fields.provider_id.clone().flatten(),
            },
        )
        .await?;
        let model = match fields.ab_test {
            Some(Some(test)) => {
                let mut model = model;
                self.write_ab_test(&*txn, tenant, &mut model, Some(Some(test)))
                    .await?;
                campaigns::update(&*txn, model).await?
            }
            _ => model,
        };
        self.commit(txn).await?;
        Ok(model)
    }

    /// Changes a draft or scheduled campaign; refused once sending (CAMPAIGN_NOT_EDITABLE).
    pub async fn update_campaign(
        &self,
        tenant: &TenantId,
        id: &str,
        fields: CampaignFields,
    ) -> ApiResult<campaign::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = campaigns::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("campaign"))?;
        CampaignStatus::parse(&model.status)?.ensure_editable()?;
        self.check_fields(&*txn, tenant, &fields).await?;
        if let Some(name) = &fields.name {
            model.name = consent_text("name", name)?;
        }
        let template_changed = fields
            .template_id
            .as_ref()
            .is_some_and(|id| *id != model.template_id);
        if let Some(template_id) = fields.template_id {
            model.template_id = template_id;
        }
        // Variant A is the campaign's template: a new template rewrites the test's variants.
        if fields.ab_test.is_some() || template_changed {
            self.write_ab_test(&*txn, tenant, &mut model, fields.ab_test)
                .await?;
        }
        if let Some(segment_id) = fields.segment_id {
            model.segment_id = segment_id;
        }
        if let Some(topic) = fields.topic {
            model.topic = topic;
        }
        if let Some(provider_id) = fields.provider_id {
            model.provider_id = provider_id;
        }
        model.version += 1;
        model.updated_at = now_ms();
        let model = campaigns::update(&*txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Moves a campaign (schedule at `at` or now, pause, resume, cancel).
    pub async fn move_campaign(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        to: CampaignStatus,
        at: Option<i64>,
    ) -> ApiResult<campaign::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = campaigns::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("campaign"))?;
        let from = CampaignStatus::parse(&model.status)?;
        // Scheduling for "now" is a schedule the sender starts at its next tick.
        from.move_to(to)?;
        let now = now_ms();
        match to {
            CampaignStatus::Scheduled => model.scheduled_at = Some(at.unwrap_or(now)),
            CampaignStatus::Draft => model.scheduled_at = None,
            CampaignStatus::Cancelled => {
                queue::cancel_pending(&*txn, tenant, id).await?;
                model.finished_at = Some(now);
            }
            _ => {}
        }
        model.status = to.as_str().to_owned();
        model.version += 1;
        model.updated_at = now;
        let model = campaigns::update(&*txn, model).await?;
        self.enqueue(
            &txn,
            tenant,
            events::CAMPAIGN_STATUS_CHANGED,
            id,
            actor,
            CampaignStatusChanged {
                campaign_id: id.to_owned(),
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
            },
        )
        .await?;
        self.commit(txn).await?;
        self.sender_wake.notify_waiters();
        Ok(model)
    }

    pub async fn campaign(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<campaign::Model>> {
        Ok(campaigns::campaign(&self.db, tenant, id).await?)
    }

    pub async fn campaigns(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<campaign::Model>> {
        Ok(campaigns::page(&self.db, tenant, page).await?)
    }

    /// The campaign's funnel.
    pub async fn funnel(&self, tenant: &TenantId, id: &str) -> ApiResult<Funnel> {
        let tallies = queue::tallies(&self.db, tenant, id).await?;
        let unsubscribed =
            contacts::withdrawals_from(&self.db, tenant, &Self::one_click_source(id)).await?;
        let converted = crate::store::conversions::converted_count(&self.db, tenant, id).await?;
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Funnel {
            unsubscribed: to_i64(unsubscribed),
            converted: to_i64(converted),
            ..Funnel::fold(&tallies)
        })
    }

    /// The consent source of an unsubscribe through a campaign's one-click link.
    pub(crate) fn one_click_source(campaign_id: &str) -> String {
        format!("one_click:{campaign_id}")
    }

    /// The messages of a campaign (status per contact).
    pub async fn campaign_messages(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Vec<crate::store::entities::message::Model>> {
        Ok(queue::of_campaign(&self.db, tenant, id).await?)
    }
}

/// How a contact engaged with a campaign sent in the past (the seed's history).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PastEngagement {
    pub opened: bool,
    pub clicked: bool,
}

/// What recording a past campaign wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryReport {
    /// Messages recorded as sent.
    pub sent: usize,
    /// Segment members who could not have received it (no consent, suppressed, not
    /// subscribed): recorded as skipped with the reason, like the sender would.
    pub skipped: usize,
}

impl Marketing {
    /// Records a draft campaign as sent at `sent_at` (in the past) to its segment's members
    /// as they stand now, without handing anything to a relay: history (a seed, a migration
    /// from another tool), not news, so no event is published. The send-time rules apply as
    /// the sender applies them (a member who may not receive is skipped with the reason; one
    /// message per contact by the send key); `engagement` gives the opens and clicks (an
    /// hour and two after the send), which feed the funnel (not the contacts' behaviour).
    /// CAMPAIGN_TRANSITION_NOT_ALLOWED unless the campaign is a draft.
    pub async fn record_sent_campaign(
        &self,
        tenant: &TenantId,
        id: &str,
        sent_at: i64,
        engagement: &std::collections::HashMap<String, PastEngagement>,
    ) -> ApiResult<HistoryReport> {
        let now = now_ms();
        if sent_at > now {
            return Err(ApiError::bad_input("sentAt", "a past send is in the past"));
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = campaigns::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("campaign"))?;
        let from = CampaignStatus::parse(&model.status)?;
        if from != CampaignStatus::Draft {
            return Err(ApiError::rule(
                reasons::CAMPAIGN_TRANSITION_NOT_ALLOWED,
                format!("a {} campaign is not recorded as sent", from.as_str()),
            ));
        }
        let members: Vec<String> = segments::members(&*txn, tenant, &model.segment_id)
            .await?
            .into_iter()
            .collect();
        let mut report = HistoryReport::default();
        let mut rows = Vec::with_capacity(members.len());
        for chunk in members.chunks(crate::store::IN_LIST_CHUNK) {
            let facts = super::segments::facts_of(&*txn, tenant, chunk).await?;
            let contacts = contacts::by_ids(&*txn, tenant, chunk).await?;
            // The chunk's suppressed addresses in one query (not one a member).
            let hashes: Vec<String> = contacts
                .values()
                .filter_map(|c| c.address_hash.clone())
                .collect();
            let on_list = contacts::suppressed_among(&*txn, tenant, &hashes).await?;
            for facts in &facts {
                let hash = contacts.get(&facts.id).and_then(|c| c.address_hash.clone());
                let suppressed = match &hash {
                    Some(hash) => on_list.contains(hash),
                    None => true,
                };
                let topic_ok = model
                    .topic
                    .as_ref()
                    .is_none_or(|topic| facts.topics.contains(topic));
                let verdict = crate::domain::contact::may_receive(
                    facts.status,
                    suppressed,
                    super::segments::has_marketing_consent(facts),
                    topic_ok,
                );
                let seen = engagement.get(&facts.id).copied().unwrap_or_default();
                let sent = verdict.is_ok();
                report.sent += usize::from(sent);
                report.skipped += usize::from(!sent);
                rows.push(crate::store::entities::message::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    campaign_id: model.id.clone(),
                    contact_id: facts.id.clone(),
                    status: if sent { "sent" } else { "skipped" }.into(),
                    lease_until: None,
                    leased_by: None,
                    attempts: i32::from(sent),
                    skip_reason: verdict.err().map(str::to_owned),
                    error: None,
                    queued_at: sent_at,
                    handed_off_at: sent.then_some(sent_at),
                    sent_at: sent.then_some(sent_at),
                    opened_at: (sent && (seen.opened || seen.clicked))
                        .then_some(sent_at + 3_600_000),
                    clicked_at: (sent && seen.clicked).then_some(sent_at + 7_200_000),
                    bounce_kind: None,
                    bounced_at: None,
                    complained_at: None,
                    not_before: None,
                    deferred_by: None,
                    variant_id: None,
                    journey_id: None,
                });
            }
        }
        queue::enqueue(&*txn, rows).await?;
        model.status = CampaignStatus::Sent.as_str().to_owned();
        model.scheduled_at = Some(sent_at);
        model.started_at = Some(sent_at);
        model.finished_at = Some(sent_at);
        model.version += 1;
        model.updated_at = now;
        campaigns::update(&*txn, model).await?;
        self.commit(txn).await?;
        Ok(report)
    }
}
