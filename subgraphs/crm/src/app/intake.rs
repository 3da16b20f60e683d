//! Lead intake from marketing's web forms: a submission becomes a new lead (source
//! `website`, owned by the assignment rules' pick), or, when an unconverted lead with the same
//! normalised e-mail exists, joins it (its blanks filled, never overwritten). Either way the
//! submission is logged as a note on the lead. Runs inside the consumer's inbox transaction,
//! so a redelivered event changes nothing.

use erp_kit::db::WriteTransaction;
use erp_kit::{ApiResult, TenantId};

use super::clients::Contact;
use super::leads::{lead_created, lead_facts, lead_name};
use super::{now_ms, Crm};
use crate::domain::client::optional_text;
use crate::domain::lead::{score, ActivityKind, LeadSource, LeadStatus};
use crate::domain::matching::{name_key, name_tokens};
use crate::store::duplicates::{write_tokens, LEAD};
use crate::store::entities::{activity, lead};
use crate::store::leads as store;
use crate::store::new_id;

/// Who CRM records as the author of what a web form brought in (no user did it).
pub const FORM_ACTOR: &str = "marketing-form";

/// A web-form enquiry as marketing recorded it.
#[derive(Debug, Clone, Default)]
pub struct FormLead {
    pub submission_id: String,
    pub form_name: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub country: Option<String>,
    pub message: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub consent_granted: bool,
}

/// What the intake did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    Created(String),
    /// Joined the existing lead of the same address.
    Joined(String),
}

/// Text cut to `max` characters (a form's values are checked by marketing; CRM's columns have
/// their own bounds).
fn bounded(field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    let cut: Option<String> = raw.map(|text| text.trim().chars().take(max).collect());
    optional_text(field, cut.as_deref(), max).ok().flatten()
}

impl Crm {
    /// Files a web-form enquiry (see the module). An address CRM cannot read is an error for
    /// the caller (the consumer dead-letters it); a phone number or website it cannot read
    /// is left out of the lead and kept in the note.
    pub async fn file_form_lead(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        enquiry: &FormLead,
    ) -> ApiResult<Intake> {
        let email_only = Contact::parse(Some(&enquiry.email), None, None)?;
        let contact = Contact::parse(
            Some(&enquiry.email),
            enquiry.phone.as_deref(),
            enquiry.website.as_deref(),
        )
        .unwrap_or_else(|_| email_only.clone());
        let Some(email_key) = contact.email_key.clone() else {
            return Err(erp_kit::ApiError::bad_input(
                "email",
                "the enquiry has no address",
            ));
        };
        let now = now_ms();
        let person_name = [enquiry.first_name.as_deref(), enquiry.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let person_name = bounded("personName", Some(&person_name), 200)
            .or_else(|| contact.email.clone())
            .unwrap_or_else(|| enquiry.email.clone());
        let company = bounded("companyName", enquiry.company.as_deref(), 200);
        let title = bounded("title", enquiry.title.as_deref(), 120);
        let territory = bounded("territory", enquiry.country.as_deref(), 120);
        let utm = [
            bounded("utmSource", enquiry.utm_source.as_deref(), 120),
            bounded("utmMedium", enquiry.utm_medium.as_deref(), 120),
            bounded("utmCampaign", enquiry.utm_campaign.as_deref(), 120),
            bounded("utmTerm", enquiry.utm_term.as_deref(), 120),
            bounded("utmContent", enquiry.utm_content.as_deref(), 120),
        ];
        let existing = store::lock_unconverted_by_email_key(txn, tenant, &email_key).await?;
        let (mut model, created) = match existing {
            Some(mut found) => {
                // Fill what the lead lacks; what sales entered stays.
                let fill = |slot: &mut Option<String>, value: &Option<String>| {
                    if slot.is_none() {
                        slot.clone_from(value);
                    }
                };
                let renamed = found.company_name.is_none() && company.is_some();
                fill(&mut found.company_name, &company);
                fill(&mut found.title, &title);
                fill(&mut found.territory, &territory);
                if found.phone.is_none() && contact.phone.is_some() {
                    found.phone.clone_from(&contact.phone);
                    found.phone_key.clone_from(&contact.phone_key);
                }
                if found.website.is_none() && contact.website.is_some() {
                    found.website.clone_from(&contact.website);
                    found.domain.clone_from(&contact.domain);
                }
                fill(&mut found.utm_source, &utm[0]);
                fill(&mut found.utm_medium, &utm[1]);
                fill(&mut found.utm_campaign, &utm[2]);
                fill(&mut found.utm_term, &utm[3]);
                fill(&mut found.utm_content, &utm[4]);
                if renamed {
                    found.name_key = name_key(lead_name(&found));
                    write_tokens(
                        txn,
                        tenant,
                        LEAD,
                        &found.id,
                        &name_tokens(lead_name(&found)),
                    )
                    .await?;
                }
                found.version += 1;
                found.updated_at = now;
                (found, false)
            }
            None => {
                let mut model = lead::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    name_key: String::new(),
                    person_name,
                    company_name: company,
                    title,
                    email: contact.email.clone(),
                    email_key: Some(email_key.clone()),
                    phone: contact.phone.clone(),
                    phone_key: contact.phone_key.clone(),
                    website: contact.website.clone(),
                    domain: contact.domain.clone(),
                    source: LeadSource::Website.as_str().to_owned(),
                    utm_source: utm[0].clone(),
                    utm_medium: utm[1].clone(),
                    utm_campaign: utm[2].clone(),
                    utm_term: utm[3].clone(),
                    utm_content: utm[4].clone(),
                    territory,
                    owner_id: None,
                    score: 0,
                    status: LeadStatus::New.as_str().to_owned(),
                    disqualify_reason: None,
                    converted_client_id: None,
                    converted_contact_id: None,
                    converted_opportunity_id: None,
                    converted_at: None,
                    external_id: None,
                    merged_into_id: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                model.name_key = name_key(lead_name(&model));
                model.owner_id = self
                    .assign_owner(txn, tenant, model.territory.as_deref())
                    .await?;
                model.score = score(&lead_facts(&model, &[]), &self.scoring(tenant).await?);
                let model = store::insert(txn, model).await?;
                write_tokens(
                    txn,
                    tenant,
                    LEAD,
                    &model.id,
                    &name_tokens(lead_name(&model)),
                )
                .await?;
                (model, true)
            }
        };
        store::insert_activity(
            txn,
            activity::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                kind: ActivityKind::Note.as_str().to_owned(),
                subject: format!("Web form “{}” submitted", enquiry.form_name)
                    .chars()
                    .take(200)
                    .collect(),
                notes: Some(note(enquiry, &contact)),
                due_at: None,
                completed_at: Some(now),
                lead_id: Some(model.id.clone()),
                client_id: None,
                opportunity_id: None,
                owner_id: model
                    .owner_id
                    .clone()
                    .unwrap_or_else(|| FORM_ACTOR.to_owned()),
                created_at: now,
            },
        )
        .await?;
        self.rescore(txn, &mut model).await?;
        let model = store::update(txn, model).await?;
        if created {
            self.outbox
                .enqueue(txn, &lead_created(tenant, &model, FORM_ACTOR)?)
                .await?;
            Ok(Intake::Created(model.id))
        } else {
            Ok(Intake::Joined(model.id))
        }
    }
}

/// The note logged on the lead: the message, and what the lead could not take.
fn note(enquiry: &FormLead, contact: &Contact) -> String {
    let mut lines = Vec::new();
    if let Some(message) = enquiry.message.as_deref().filter(|m| !m.trim().is_empty()) {
        lines.push(message.trim().to_owned());
    }
    if let (Some(phone), None) = (enquiry.phone.as_deref(), contact.phone.as_deref()) {
        lines.push(format!("Phone as typed: {phone}"));
    }
    if let (Some(website), None) = (enquiry.website.as_deref(), contact.website.as_deref()) {
        lines.push(format!("Website as typed: {website}"));
    }
    lines.push(format!(
        "Consent to marketing e-mail: {}",
        if enquiry.consent_granted {
            "given"
        } else {
            "not given"
        }
    ));
    lines.push(format!("Submission {}", enquiry.submission_id));
    lines.join("\n")
}
