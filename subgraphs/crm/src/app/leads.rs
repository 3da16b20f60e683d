//! Leads: capture (with the duplicate check, scoring and assignment), the lifecycle, the
//! conversion into a client company, a contact person and an opportunity in ONE
//! transaction, activities, and the tenant's scoring and assignment rules.

use std::collections::HashMap;

use erp_kit::db::{begin_write, WriteTransaction};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::clients::Contact;
use super::duplicates::{DuplicateReport, Probe};
use super::pipeline::NewOpportunity;
use super::{not_found, now_ms, visible, Crm, Viewer};
use crate::domain::client::{optional_text, required_text, ClientKind, ClientStatus};
use crate::domain::lead::{
    assign, check_assignment_rule, check_scoring_rule, score, ActivityKind, AssignmentRule,
    AssignmentStrategy, LeadFacts, LeadSource, LeadStatus, ScoringCriterion, ScoringRule,
};
use crate::domain::matching::{is_free_mail, name_key, name_tokens, web_domain};
use crate::domain::reasons;
use crate::domain::visibility::Visibility;
use crate::events;
use crate::store::audit::{self, AuditEntry};
use crate::store::duplicates::{write_tokens, LEAD};
use crate::store::entities::{activity, assignment_rule, client, lead, opportunity, scoring_rule};
use crate::store::leads::{self as store, ActivitiesOf, LeadFilter};
use crate::store::{directory, new_id};
use erp_kit::events::EventEnvelope;

/// A new lead as entered.
#[derive(Debug, Clone, Default)]
pub struct NewLead {
    pub person_name: String,
    pub company_name: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub source: Option<LeadSource>,
    pub utm: Utm,
    pub territory: Option<String>,
    /// None: the assignment rules pick one (else the caller owns it).
    pub owner_id: Option<String>,
    pub external_id: Option<String>,
}

/// Where a lead came from, as its link said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

/// Changes to a lead's details (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Clone, Default)]
pub struct LeadChanges {
    pub person_name: Option<String>,
    pub company_name: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub territory: Option<Option<String>>,
}

/// What a conversion creates.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    /// Attach the contact and the opportunity to this company instead of creating one.
    pub company_id: Option<String>,
    /// The new company's name (default: the lead's company).
    pub company_name: Option<String>,
    pub pipeline_id: String,
    /// Default: the pipeline's first stage.
    pub stage_id: Option<String>,
    /// Default: "<company> – <person>".
    pub opportunity_name: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub expected_close: Option<chrono::NaiveDate>,
}

/// The records a conversion created (or attached).
#[derive(Debug, Clone)]
pub struct Converted {
    pub lead: lead::Model,
    pub company: client::Model,
    pub contact: client::Model,
    pub opportunity: opportunity::Model,
}

/// A new activity as entered: on exactly one of a lead, a client, an opportunity.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub kind: ActivityKind,
    pub subject: String,
    pub notes: Option<String>,
    pub due_at_ms: Option<i64>,
    pub done: bool,
    pub of: ActivitiesOf,
}

/// A new assignment rule as entered.
#[derive(Debug, Clone)]
pub struct NewAssignmentRule {
    pub name: String,
    pub strategy: AssignmentStrategy,
    pub territory: Option<String>,
    pub members: Vec<String>,
    pub capacity: Option<i32>,
    pub priority: i32,
}

/// The `lead.created` event of a new lead.
pub(crate) fn lead_created(
    tenant: &TenantId,
    model: &lead::Model,
    actor: &str,
) -> ApiResult<EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        events::LEAD_CREATED,
        &model.id,
        actor,
        serde_json::json!({
            "lead_id": model.id,
            "source": model.source,
            "utm_source": model.utm_source,
            "utm_medium": model.utm_medium,
            "utm_campaign": model.utm_campaign,
            "utm_content": model.utm_content,
            "owner_id": model.owner_id,
            "score": model.score,
        }),
    )
}

fn lead_status(model: &lead::Model) -> LeadStatus {
    LeadStatus::from_db(&model.status).unwrap_or(LeadStatus::New)
}

/// The name a lead is matched and indexed by: its company when it names one, else the person.
pub(crate) fn lead_name(model: &lead::Model) -> &str {
    model.company_name.as_deref().unwrap_or(&model.person_name)
}

pub(crate) fn assignment_rule_of(model: &assignment_rule::Model) -> Option<AssignmentRule> {
    Some(AssignmentRule {
        id: model.id.clone(),
        strategy: AssignmentStrategy::from_db(&model.strategy)?,
        territory: model.territory.clone(),
        members: serde_json::from_str(&model.members).ok()?,
        capacity: model.capacity,
        next_turn: model.next_turn,
    })
}

fn scoring_rule_of(model: &scoring_rule::Model) -> Option<ScoringRule> {
    Some(ScoringRule {
        criterion: ScoringCriterion::from_db(&model.criterion)?,
        value: model.value.clone(),
        points: model.points,
    })
}

/// What scoring looks at on a lead (its activities counted per kind).
pub(crate) fn lead_facts(model: &lead::Model, activities: &[(String, i64)]) -> LeadFacts {
    LeadFacts {
        source: LeadSource::from_db(&model.source),
        utm_source: model.utm_source.clone(),
        utm_medium: model.utm_medium.clone(),
        utm_campaign: model.utm_campaign.clone(),
        territory: model.territory.clone(),
        has_email: model.email.is_some(),
        has_phone: model.phone.is_some(),
        business_email: model
            .email_key
            .as_deref()
            .and_then(web_domain)
            .is_some_and(|domain| !is_free_mail(&domain)),
        has_company: model.company_name.is_some(),
        activities: activities
            .iter()
            .filter_map(|(kind, count)| {
                Some((ActivityKind::from_db(kind)?, u32::try_from(*count).ok()?))
            })
            .collect::<HashMap<_, _>>(),
    }
}

impl Crm {
    /// The tenant's scoring rules as the domain reads them.
    pub(crate) async fn scoring(&self, tenant: &TenantId) -> ApiResult<Vec<ScoringRule>> {
        Ok(store::scoring_rules(&self.db, tenant)
            .await?
            .iter()
            .filter_map(scoring_rule_of)
            .collect())
    }

    /// The owner the assignment rules give a lead of `territory` (in `txn`, the rules locked
    /// so concurrent leads take turns), storing the rule's next turn. None: no rule assigns.
    pub(crate) async fn assign_owner(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        territory: Option<&str>,
    ) -> ApiResult<Option<String>> {
        let rules: Vec<AssignmentRule> = store::lock_assignment_rules(txn, tenant)
            .await?
            .iter()
            .filter_map(assignment_rule_of)
            .collect();
        if rules.is_empty() {
            return Ok(None);
        }
        let members: Vec<String> = rules
            .iter()
            .flat_map(|rule| rule.members.iter().cloned())
            .collect();
        let departed = directory::departed_users(txn, tenant, &members).await?;
        let loads = if rules
            .iter()
            .any(|rule| rule.strategy == AssignmentStrategy::Capacity)
        {
            store::open_leads_per_owner(txn, tenant, &members).await?
        } else {
            HashMap::new()
        };
        let picked = assign(
            territory,
            &rules,
            |user| !departed.iter().any(|gone| gone == user),
            |user| loads.get(user).copied().unwrap_or(0),
        );
        let Some(picked) = picked else {
            return Ok(None);
        };
        store::set_next_turn(txn, tenant, &picked.rule_id, picked.next_turn).await?;
        Ok(Some(picked.owner_id))
    }

    /// Captures a lead: parsed, scored, owned by the one asked for, else by the assignment
    /// rules' pick, else by the caller; answered with its likely duplicates. Publishes
    /// `lead.created`.
    pub async fn create_lead(
        &self,
        viewer: &Viewer,
        input: NewLead,
    ) -> ApiResult<(lead::Model, DuplicateReport)> {
        let tenant = &viewer.tenant;
        let person_name = required_text("personName", &input.person_name, 200)?;
        let company_name = optional_text("companyName", input.company_name.as_deref(), 200)?;
        let contact = Contact::parse(
            input.email.as_deref(),
            input.phone.as_deref(),
            input.website.as_deref(),
        )?;
        let utm = Utm {
            source: optional_text("utmSource", input.utm.source.as_deref(), 120)?,
            medium: optional_text("utmMedium", input.utm.medium.as_deref(), 120)?,
            campaign: optional_text("utmCampaign", input.utm.campaign.as_deref(), 120)?,
            term: optional_text("utmTerm", input.utm.term.as_deref(), 120)?,
            content: optional_text("utmContent", input.utm.content.as_deref(), 120)?,
        };
        let territory = optional_text("territory", input.territory.as_deref(), 120)?;
        let visibility = self.visibility(viewer).await?;
        let asked_owner = input
            .owner_id
            .as_deref()
            .map(|owner| self.owner_for(viewer, &visibility, Some(owner)))
            .transpose()?;
        let name_for_matching = company_name.clone().unwrap_or_else(|| person_name.clone());
        let probe = Probe {
            name: name_for_matching.clone(),
            email_key: contact.email_key.clone(),
            phone_key: contact.phone_key.clone(),
            domain: contact.domain.clone(),
            exclude: None,
        };
        let duplicates = self.find_duplicates(viewer, &visibility, &probe).await?;
        let rules = self.scoring(tenant).await?;
        let now = now_ms();
        let mut model = lead::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            person_name,
            company_name,
            title: optional_text("title", input.title.as_deref(), 120)?,
            name_key: name_key(&name_for_matching),
            email: contact.email,
            email_key: contact.email_key,
            phone: contact.phone,
            phone_key: contact.phone_key,
            website: contact.website,
            domain: contact.domain,
            source: input
                .source
                .unwrap_or(LeadSource::Other)
                .as_str()
                .to_owned(),
            utm_source: utm.source,
            utm_medium: utm.medium,
            utm_campaign: utm.campaign,
            utm_term: utm.term,
            utm_content: utm.content,
            territory,
            owner_id: None,
            score: 0,
            status: LeadStatus::New.as_str().to_owned(),
            disqualify_reason: None,
            converted_client_id: None,
            converted_contact_id: None,
            converted_opportunity_id: None,
            converted_at: None,
            external_id: optional_text("externalId", input.external_id.as_deref(), 120)?,
            merged_into_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        model.score = score(&lead_facts(&model, &[]), &rules);
        let txn = begin_write(&self.db).await?;
        model.owner_id = match asked_owner {
            Some(owner) => Some(owner),
            None => Some(
                self.assign_owner(&txn, tenant, model.territory.as_deref())
                    .await?
                    .unwrap_or_else(|| viewer.user_id.clone()),
            ),
        };
        let model = store::insert(&txn, model)
            .await
            .map_err(super::already_exists("a lead with this external id exists"))?;
        write_tokens(
            &txn,
            tenant,
            LEAD,
            &model.id,
            &name_tokens(lead_name(&model)),
        )
        .await?;
        let created = lead_created(tenant, &model, &viewer.user_id)?;
        self.outbox.enqueue(&txn, &created).await?;
        self.commit(txn).await?;
        Ok((model, duplicates))
    }

    /// A visible, unmerged lead locked in `txn`.
    async fn lock_visible_lead(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        visibility: &Visibility,
        lead_id: &str,
    ) -> ApiResult<lead::Model> {
        let model = visible(
            visibility,
            store::lock(txn, &viewer.tenant, lead_id).await?,
            |l| l.owner_id.as_deref(),
            "lead",
        )?;
        if model.merged_into_id.is_some() {
            return Err(not_found("lead"));
        }
        Ok(model)
    }

    /// Rescores `model` from its activities and the tenant's rules (in `txn`).
    pub(crate) async fn rescore(
        &self,
        txn: &WriteTransaction,
        model: &mut lead::Model,
    ) -> ApiResult<()> {
        let tenant = TenantId::from_claim(&model.tenant_id);
        let activities = store::activity_counts(txn, &tenant, &model.id).await?;
        let rules: Vec<ScoringRule> = store::scoring_rules(txn, &tenant)
            .await?
            .iter()
            .filter_map(scoring_rule_of)
            .collect();
        model.score = score(&lead_facts(model, &activities), &rules);
        Ok(())
    }

    /// Changes a lead's details (rescored and re-indexed). A converted lead is final.
    pub async fn update_lead(
        &self,
        viewer: &Viewer,
        lead_id: &str,
        changes: LeadChanges,
    ) -> ApiResult<lead::Model> {
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible_lead(&txn, viewer, &visibility, lead_id)
            .await?;
        if lead_status(&model) == LeadStatus::Converted {
            return Err(ApiError::rule(
                reasons::LEAD_ALREADY_CONVERTED,
                "the lead is converted already: change its client instead",
            ));
        }
        if let Some(name) = &changes.person_name {
            model.person_name = required_text("personName", name, 200)?;
        }
        if let Some(company) = &changes.company_name {
            model.company_name = optional_text("companyName", company.as_deref(), 200)?;
        }
        if let Some(title) = &changes.title {
            model.title = optional_text("title", title.as_deref(), 120)?;
        }
        if let Some(territory) = &changes.territory {
            model.territory = optional_text("territory", territory.as_deref(), 120)?;
        }
        let pick = |change: &Option<Option<String>>, current: &Option<String>| match change {
            Some(new) => new.clone(),
            None => current.clone(),
        };
        let contact = Contact::parse(
            pick(&changes.email, &model.email).as_deref(),
            pick(&changes.phone, &model.phone).as_deref(),
            pick(&changes.website, &model.website).as_deref(),
        )?;
        model.email = contact.email;
        model.email_key = contact.email_key;
        model.phone = contact.phone;
        model.phone_key = contact.phone_key;
        model.website = contact.website;
        model.domain = contact.domain;
        model.name_key = name_key(lead_name(&model));
        self.rescore(&txn, &mut model).await?;
        model.version += 1;
        model.updated_at = now_ms();
        let model = store::update(&txn, model).await?;
        write_tokens(
            &txn,
            &viewer.tenant,
            LEAD,
            &model.id,
            &name_tokens(lead_name(&model)),
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Moves a lead along its lifecycle: contacted, qualified, disqualified (a reason is
    /// required) or back to new from disqualified. Audited; a disqualification publishes
    /// `lead.disqualified`. Conversion is [`Crm::convert_lead`].
    pub async fn change_lead_status(
        &self,
        viewer: &Viewer,
        lead_id: &str,
        to: LeadStatus,
        reason: Option<&str>,
    ) -> ApiResult<lead::Model> {
        if to == LeadStatus::Converted {
            return Err(ApiError::bad_input(
                "status",
                "a lead is converted with convertLead",
            ));
        }
        let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
        if to == LeadStatus::Disqualified && reason.is_none() {
            return Err(ApiError::rule(
                reasons::REASON_REQUIRED,
                "disqualifying a lead needs a reason",
            )
            .on_field("reason"));
        }
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible_lead(&txn, viewer, &visibility, lead_id)
            .await?;
        let from = lead_status(&model);
        from.change_to(to)?;
        model.status = to.as_str().to_owned();
        model.disqualify_reason = match to {
            LeadStatus::Disqualified => reason.map(|r| r.chars().take(500).collect()),
            _ => None,
        };
        model.version += 1;
        model.updated_at = now_ms();
        let model = store::update(&txn, model).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "lead",
                entity_id: &model.id,
                action: "status_changed",
                actor: &viewer.user_id,
                at_ms: model.updated_at,
                detail: serde_json::json!({
                    "from": from.as_str(),
                    "to": to.as_str(),
                    "reason": model.disqualify_reason,
                }),
            },
        )
        .await?;
        if to == LeadStatus::Disqualified {
            let disqualified = EventEnvelope::by_actor(
                tenant,
                events::LEAD_DISQUALIFIED,
                &model.id,
                &viewer.user_id,
                serde_json::json!({ "lead_id": model.id, "reason": model.disqualify_reason }),
            )?;
            self.outbox.enqueue(&txn, &disqualified).await?;
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// Converts a qualified lead into a client company (or attaches it to an existing one), a
    /// contact person working there and an opportunity in the pipeline, in ONE transaction:
    /// all of it or nothing. A lead converts once (LEAD_ALREADY_CONVERTED, also under
    /// concurrency: the lead row is locked first). Publishes `lead.converted`,
    /// `client.created` and `opportunity.created`.
    pub async fn convert_lead(
        &self,
        viewer: &Viewer,
        lead_id: &str,
        conversion: Conversion,
    ) -> ApiResult<Converted> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let attach_to = match &conversion.company_id {
            Some(company) => Some(
                self.visible_company(viewer, &visibility, company, "companyId")
                    .await?,
            ),
            None => None,
        };
        let opportunity_plan = self
            .plan_opportunity(
                tenant,
                &conversion.pipeline_id,
                conversion.stage_id.as_deref(),
            )
            .await?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible_lead(&txn, viewer, &visibility, lead_id)
            .await?;
        let from = lead_status(&model);
        from.change_to(LeadStatus::Converted)?;
        let owner = model
            .owner_id
            .clone()
            .unwrap_or_else(|| viewer.user_id.clone());
        let now = now_ms();
        let company = match attach_to {
            Some(company) => company,
            None => {
                let name = conversion
                    .company_name
                    .clone()
                    .or_else(|| model.company_name.clone())
                    .ok_or_else(|| {
                        ApiError::bad_input(
                            "companyName",
                            "the lead names no company: give companyName or companyId",
                        )
                    })?;
                let name = required_text("companyName", &name, 200)?;
                let company = client::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    kind: ClientKind::Company.as_str().to_owned(),
                    name_key: name_key(&name),
                    name,
                    email: None,
                    email_key: None,
                    phone: None,
                    phone_key: None,
                    website: model.website.clone(),
                    domain: model.domain.clone(),
                    tax_id: None,
                    status: ClientStatus::Prospect.as_str().to_owned(),
                    company_id: None,
                    owner_id: Some(owner.clone()),
                    external_id: None,
                    merged_into_id: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                self.insert_client(&txn, viewer, company).await?
            }
        };
        let contact = client::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            kind: ClientKind::Person.as_str().to_owned(),
            name_key: name_key(&model.person_name),
            name: model.person_name.clone(),
            email: model.email.clone(),
            email_key: model.email_key.clone(),
            phone: model.phone.clone(),
            phone_key: model.phone_key.clone(),
            website: None,
            domain: None,
            tax_id: None,
            status: ClientStatus::Prospect.as_str().to_owned(),
            company_id: Some(company.id.clone()),
            owner_id: Some(owner.clone()),
            external_id: None,
            merged_into_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let contact = self.insert_client(&txn, viewer, contact).await?;
        let name = conversion
            .opportunity_name
            .clone()
            .unwrap_or_else(|| format!("{} – {}", company.name, model.person_name));
        let (opportunity, board_move) = self
            .insert_opportunity(
                &txn,
                viewer,
                &opportunity_plan,
                NewOpportunity {
                    name,
                    client_id: company.id.clone(),
                    contact_id: Some(contact.id.clone()),
                    lead_id: Some(model.id.clone()),
                    amount_minor: conversion.amount_minor,
                    currency: conversion.currency.clone(),
                    expected_close: conversion.expected_close,
                    owner_id: owner,
                },
                now,
            )
            .await?;
        model.status = LeadStatus::Converted.as_str().to_owned();
        model.converted_client_id = Some(company.id.clone());
        model.converted_contact_id = Some(contact.id.clone());
        model.converted_opportunity_id = Some(opportunity.id.clone());
        model.converted_at = Some(now);
        model.version += 1;
        model.updated_at = now;
        let model = store::update(&txn, model).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "lead",
                entity_id: &model.id,
                action: "converted",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({
                    "from": from.as_str(),
                    "client_id": company.id,
                    "contact_id": contact.id,
                    "opportunity_id": opportunity.id,
                }),
            },
        )
        .await?;
        let converted = EventEnvelope::by_actor(
            tenant,
            events::LEAD_CONVERTED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "lead_id": model.id,
                "client_id": company.id,
                "contact_id": contact.id,
                "opportunity_id": opportunity.id,
            }),
        )?;
        self.outbox.enqueue(&txn, &converted).await?;
        self.commit(txn).await?;
        self.publish_move(tenant, &board_move).await;
        Ok(Converted {
            lead: model,
            company,
            contact,
            opportunity,
        })
    }

    /// Gives a lead to another owner (among those the caller sees, unless an administrator).
    pub async fn assign_lead(
        &self,
        viewer: &Viewer,
        lead_id: &str,
        owner_id: &str,
    ) -> ApiResult<lead::Model> {
        let visibility = self.visibility(viewer).await?;
        let owner = self.owner_for(viewer, &visibility, Some(owner_id))?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible_lead(&txn, viewer, &visibility, lead_id)
            .await?;
        let previous = model.owner_id.clone();
        model.owner_id = Some(owner);
        model.version += 1;
        model.updated_at = now_ms();
        let model = store::update(&txn, model).await?;
        audit::record(
            &txn,
            &viewer.tenant,
            AuditEntry {
                entity_kind: "lead",
                entity_id: &model.id,
                action: "assigned",
                actor: &viewer.user_id,
                at_ms: model.updated_at,
                detail: serde_json::json!({ "from": previous, "to": model.owner_id }),
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Logs an activity on a lead, client or opportunity the caller sees (a lead's score
    /// follows its activities).
    pub async fn log_activity(
        &self,
        viewer: &Viewer,
        input: NewActivity,
    ) -> ApiResult<activity::Model> {
        let tenant = &viewer.tenant;
        let subject = required_text("subject", &input.subject, 200)?;
        let notes = optional_text("notes", input.notes.as_deref(), 10_000)?;
        let visibility = self.visibility(viewer).await?;
        let now = now_ms();
        let txn = begin_write(&self.db).await?;
        let mut model = activity::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            kind: input.kind.as_str().to_owned(),
            subject,
            notes,
            due_at: input.due_at_ms,
            completed_at: input.done.then_some(now),
            lead_id: None,
            client_id: None,
            opportunity_id: None,
            owner_id: viewer.user_id.clone(),
            created_at: now,
        };
        let mut rescored = None;
        match &input.of {
            ActivitiesOf::Lead(id) => {
                let lead = self
                    .lock_visible_lead(&txn, viewer, &visibility, id)
                    .await?;
                model.lead_id = Some(lead.id.clone());
                rescored = Some(lead);
            }
            ActivitiesOf::Client(id) => {
                let found = visible(
                    &visibility,
                    crate::store::clients::client(&txn, tenant, id).await?,
                    |c| c.owner_id.as_deref(),
                    "client",
                )?;
                model.client_id = Some(found.id);
            }
            ActivitiesOf::Opportunity(id) => {
                let found = visible(
                    &visibility,
                    crate::store::pipeline::opportunity(&txn, tenant, id).await?,
                    |o| Some(o.owner_id.as_str()),
                    "opportunity",
                )?;
                model.opportunity_id = Some(found.id);
                model.client_id = None;
            }
        }
        let model = store::insert_activity(&txn, model).await?;
        if let Some(mut lead) = rescored {
            self.rescore(&txn, &mut lead).await?;
            lead.updated_at = now;
            store::update(&txn, lead).await?;
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// Marks an activity done (its owner, or someone who sees its owner's records).
    pub async fn complete_activity(
        &self,
        viewer: &Viewer,
        activity_id: &str,
    ) -> ApiResult<activity::Model> {
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::activity(&txn, &viewer.tenant, activity_id).await?,
            |a| Some(a.owner_id.as_str()),
            "activity",
        )?;
        if model.completed_at.is_none() {
            model.completed_at = Some(now_ms());
            model = store::update_activity(&txn, model).await?;
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// A lead the viewer sees.
    pub async fn lead(&self, viewer: &Viewer, id: &str) -> ApiResult<Option<lead::Model>> {
        let visibility = self.visibility(viewer).await?;
        Ok(store::lead(&self.db, &viewer.tenant, id)
            .await?
            .filter(|l| visibility.sees(l.owner_id.as_deref())))
    }

    /// One page of the leads the viewer sees.
    pub async fn leads(
        &self,
        viewer: &Viewer,
        mut filter: LeadFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<lead::Model>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        Ok(store::page(&self.db, &viewer.tenant, &filter, page).await?)
    }

    pub async fn leads_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, lead::Model>> {
        Ok(store::by_ids(&self.db, tenant, ids).await?)
    }

    /// One page of the activities of a record the viewer sees.
    pub async fn activities(
        &self,
        viewer: &Viewer,
        of: ActivitiesOf,
        page: &PageRequest,
    ) -> ApiResult<Vec<activity::Model>> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let owner = match &of {
            ActivitiesOf::Lead(id) => store::lead(&self.db, tenant, id).await?.map(|l| l.owner_id),
            ActivitiesOf::Client(id) => crate::store::clients::client(&self.db, tenant, id)
                .await?
                .map(|c| c.owner_id),
            ActivitiesOf::Opportunity(id) => {
                crate::store::pipeline::opportunity(&self.db, tenant, id)
                    .await?
                    .map(|o| Some(o.owner_id))
            }
        };
        match owner {
            Some(owner) if visibility.sees(owner.as_deref()) => {}
            _ => return Err(not_found("record")),
        }
        Ok(store::activities_page(&self.db, tenant, &of, page).await?)
    }

    /// Adds a scoring rule (`crm:admin`). Leads are rescored as they change.
    pub async fn create_scoring_rule(
        &self,
        viewer: &Viewer,
        rule: ScoringRule,
    ) -> ApiResult<scoring_rule::Model> {
        self.admin_only(viewer, "setting up lead scoring")?;
        check_scoring_rule(&rule)
            .map_err(|(field, message)| ApiError::bad_input(field, message))?;
        let model = scoring_rule::Model {
            id: new_id(),
            tenant_id: viewer.tenant.as_str().to_owned(),
            criterion: rule.criterion.as_str().to_owned(),
            value: rule.value,
            points: rule.points,
            created_at: now_ms(),
        };
        let txn = begin_write(&self.db).await?;
        let model = store::insert_scoring_rule(&txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn delete_scoring_rule(&self, viewer: &Viewer, id: &str) -> ApiResult<()> {
        self.admin_only(viewer, "setting up lead scoring")?;
        let txn = begin_write(&self.db).await?;
        if !store::delete_scoring_rule(&txn, &viewer.tenant, id).await? {
            return Err(not_found("scoring rule"));
        }
        self.commit(txn).await?;
        Ok(())
    }

    pub async fn scoring_rules(&self, viewer: &Viewer) -> ApiResult<Vec<scoring_rule::Model>> {
        Ok(store::scoring_rules(&self.db, &viewer.tenant).await?)
    }

    /// Adds an assignment rule (`crm:admin`).
    pub async fn create_assignment_rule(
        &self,
        viewer: &Viewer,
        input: NewAssignmentRule,
    ) -> ApiResult<assignment_rule::Model> {
        self.admin_only(viewer, "setting up lead assignment")?;
        let name = required_text("name", &input.name, 120)?;
        let territory = optional_text("territory", input.territory.as_deref(), 120)?;
        let members: Vec<String> = input
            .members
            .iter()
            .map(|member| member.trim().to_owned())
            .filter(|member| !member.is_empty())
            .collect();
        let rule = AssignmentRule {
            id: new_id(),
            strategy: input.strategy,
            territory,
            members,
            capacity: input.capacity,
            next_turn: 0,
        };
        check_assignment_rule(&rule)
            .map_err(|(field, message)| ApiError::bad_input(field, message))?;
        let model = assignment_rule::Model {
            id: rule.id.clone(),
            tenant_id: viewer.tenant.as_str().to_owned(),
            name,
            strategy: rule.strategy.as_str().to_owned(),
            territory: rule.territory.clone(),
            members: serde_json::to_string(&rule.members).map_err(ApiError::internal)?,
            capacity: rule.capacity,
            priority: input.priority,
            next_turn: 0,
            created_at: now_ms(),
        };
        let txn = begin_write(&self.db).await?;
        let model = store::insert_assignment_rule(&txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn delete_assignment_rule(&self, viewer: &Viewer, id: &str) -> ApiResult<()> {
        self.admin_only(viewer, "setting up lead assignment")?;
        let txn = begin_write(&self.db).await?;
        if !store::delete_assignment_rule(&txn, &viewer.tenant, id).await? {
            return Err(not_found("assignment rule"));
        }
        self.commit(txn).await?;
        Ok(())
    }

    pub async fn assignment_rules(
        &self,
        viewer: &Viewer,
    ) -> ApiResult<Vec<assignment_rule::Model>> {
        Ok(store::assignment_rules(&self.db, &viewer.tenant).await?)
    }
}
