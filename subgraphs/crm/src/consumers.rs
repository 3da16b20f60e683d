//! The consumers CRM runs besides the team directory's (events.rs): `erp.crm.lead_intake`
//! reads `erp.marketing.events` and files each `form.submitted` as a lead (or into the open
//! lead of the same address) through `crate::app::intake`, in the inbox's transaction.

use serde::Deserialize;

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, EventEnvelope, EventHandler, HandlerError, SqlInbox,
};
use erp_kit::runtime::Runtime;
use erp_kit::TenantId;

use crate::app::intake::FormLead;
use crate::events::{ConsumerOptions, DOMAIN, FORM_SUBMITTED, LEAD_INTAKE_GROUP};
use crate::Crm;

/// `form.submitted` (schema version 1) as the CRM reads it (fields it does not use are
/// ignored): what the person typed, the address normalised by marketing.
#[derive(Debug, Deserialize)]
struct FormSubmitted {
    submission_id: String,
    form_name: String,
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    utm_source: Option<String>,
    #[serde(default)]
    utm_medium: Option<String>,
    #[serde(default)]
    utm_campaign: Option<String>,
    #[serde(default)]
    utm_term: Option<String>,
    #[serde(default)]
    utm_content: Option<String>,
    #[serde(default)]
    consent_granted: bool,
}

/// Files each `form.submitted` as a lead (or into the open lead of the same address) in the
/// inbox's transaction: a redelivered event is skipped by the inbox, never filed twice.
pub struct LeadIntakeHandler {
    pub crm: Crm,
}

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for LeadIntakeHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        event.event_type == FORM_SUBMITTED
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let submitted: FormSubmitted = event.decode_payload()?;
        let enquiry = FormLead {
            submission_id: submitted.submission_id,
            form_name: submitted.form_name,
            email: submitted.email,
            first_name: submitted.first_name,
            last_name: submitted.last_name,
            company: submitted.company,
            title: submitted.title,
            phone: submitted.phone,
            website: submitted.website,
            country: submitted.country,
            message: submitted.message,
            utm_source: submitted.utm_source,
            utm_medium: submitted.utm_medium,
            utm_campaign: submitted.utm_campaign,
            utm_term: submitted.utm_term,
            utm_content: submitted.utm_content,
            consent_granted: submitted.consent_granted,
        };
        let tenant = TenantId::from_claim(&event.tenant_id);
        match self.crm.file_form_lead(write, &tenant, &enquiry).await {
            Ok(_) => Ok(()),
            // An address CRM cannot read breaks the contract: never retried.
            Err(err @ erp_kit::ApiError::BadUserInput { .. })
            | Err(err @ erp_kit::ApiError::Rule { .. }) => {
                Err(HandlerError::rejected(err.message()))
            }
            Err(erp_kit::ApiError::Internal(detail)) => Err(HandlerError::failed(detail)),
            Err(other) => Err(HandlerError::failed(other.message())),
        }
    }
}

/// Starts the lead intake consumer of marketing's events (keep the handle: dropping it stops
/// it). Its effects publish `lead.created` through the CRM's outbox, woken on commit.
pub fn start_lead_intake(
    runtime: &Runtime,
    options: &ConsumerOptions,
    crm: &Crm,
) -> ConsumerHandle {
    let marketing_topic = topic_for("marketing");
    Consumer::new(
        options.config(LEAD_INTAKE_GROUP, &[marketing_topic.as_str()]),
        runtime.bus.clone(),
        SqlInbox::new(DOMAIN, runtime.db.clone()).waking(crm.outbox().waker()),
        LeadIntakeHandler { crm: crm.clone() },
        &runtime.metrics,
    )
    .spawn()
}
