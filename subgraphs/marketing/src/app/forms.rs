//! Web forms: staff define them; a website posts submissions to a form's public key with no
//! session. An accepted submission becomes (or finds, by its address's hash) a marketing
//! contact, logs the consent it carried, is recorded, and publishes `form.submitted` (CRM
//! files it as a lead), all in one transaction.

use std::time::Duration;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{not_found, now_ms, Marketing};
use crate::domain::contact::{
    consent_text, ContactStatus, LawfulBasis, CONTACT_ACTOR, EMAIL_MARKETING,
};
use crate::domain::form::{
    parse_submission, FieldKey, FormDefinition, FormField, Parsed, Submission,
};
use crate::domain::reasons;
use crate::events::{self, FormSubmitted};
use crate::store::entities::{consent, contact, form, form_submission};
use crate::store::{contacts, forms, new_id};

/// A new form as staff entered it.
#[derive(Debug, Clone)]
pub struct NewForm {
    pub name: String,
    pub fields: Vec<FormField>,
    pub consent_text: Option<String>,
    pub consent_wording_version: Option<String>,
    pub consent_required: bool,
    pub per_client_per_minute: Option<i32>,
    /// Whether a ticked consent waits for the contact's confirmation (double opt-in).
    pub double_opt_in: bool,
}

/// A form's states.
pub const FORM_OPEN: &str = "open";
pub const FORM_CLOSED: &str = "closed";

/// What a website hears back about a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The submission's id; a robot's (honeypot) submission gets one too, recorded nowhere,
    /// so the answer does not tell it apart.
    pub submission_id: String,
}

/// The definition stored with a form, read back.
pub fn definition_of(model: &form::Model) -> ApiResult<FormDefinition> {
    let fields: Vec<FormField> = serde_json::from_str(&model.fields)
        .map_err(|err| ApiError::internal(format!("form {} fields: {err}", model.id)))?;
    Ok(FormDefinition {
        fields,
        consent: model
            .consent_text
            .clone()
            .zip(model.consent_wording_version.clone()),
        consent_required: model.consent_required,
        per_client_per_minute: model.per_client_per_minute,
    })
}

/// An unguessable form key (244 random bits).
fn new_public_key() -> String {
    format!(
        "mf_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Marketing {
    /// A new open form with its public key.
    pub async fn create_form(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewForm,
    ) -> ApiResult<form::Model> {
        let name = consent_text("name", &new.name)?;
        let definition = FormDefinition::parse(
            new.fields,
            new.consent_text.as_deref(),
            new.consent_wording_version.as_deref(),
            new.consent_required,
            new.per_client_per_minute,
        )?;
        let now = now_ms();
        let (consent_text, consent_wording_version) = definition.consent.clone().unzip();
        let model = form::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            name,
            public_key: new_public_key(),
            fields: serde_json::to_string(&definition.fields).map_err(ApiError::internal)?,
            consent_text,
            consent_wording_version,
            consent_required: definition.consent_required,
            per_client_per_minute: definition.per_client_per_minute,
            double_opt_in: new.double_opt_in,
            status: FORM_OPEN.to_owned(),
            created_by: actor.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let model = forms::insert(&*txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn form(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<form::Model>> {
        Ok(forms::form(&self.db, tenant, id).await?)
    }

    pub async fn forms(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<form::Model>> {
        Ok(forms::page(&self.db, tenant, page).await?)
    }

    /// A form's latest submissions (at most `limit`).
    pub async fn form_submissions(
        &self,
        tenant: &TenantId,
        form_id: &str,
        limit: u64,
    ) -> ApiResult<Vec<form_submission::Model>> {
        Ok(forms::submissions(&self.db, tenant, form_id, limit).await?)
    }

    /// Opens or closes a form (a closed form refuses submissions with FORM_CLOSED).
    pub async fn set_form_open(
        &self,
        tenant: &TenantId,
        id: &str,
        open: bool,
    ) -> ApiResult<form::Model> {
        let status = if open { FORM_OPEN } else { FORM_CLOSED };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if forms::set_status(&*txn, tenant, id, status, now_ms()).await? == 0 {
            return Err(not_found("form"));
        }
        let model = forms::form(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("form"))?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// A website's submission to the form of `public_key` from `client` (its address): the
    /// key checked (FORM_KEY_INVALID, FORM_CLOSED), the client's rate counted
    /// (FORM_RATE_LIMITED), the fields checked (domain/form.rs), then one transaction: the
    /// contact found by the address's hash or created, the consent logged (actor `contact`,
    /// source `form:<id>`, the form's wording version), the submission recorded,
    /// `form.submitted` enqueued. A refused submission writes nothing.
    ///
    /// On a double opt-in form a ticked consent is logged `pending` (not in force) with an
    /// opt-in request whose confirmation mail goes out after the commit (the sender retries it
    /// if the relay refuses): only the contact's confirmation subscribes. On a single opt-in
    /// form the consent subscribes a pending contact at once. Neither lifts a suppression by
    /// itself (the address is not proven to be the submitter's: only a confirmed double
    /// opt-in is).
    pub async fn submit_form(
        &self,
        public_key: &str,
        client: &str,
        pairs: &[(String, String)],
    ) -> ApiResult<SubmitOutcome> {
        let form = forms::by_public_key(&self.db, public_key)
            .await?
            .ok_or_else(|| ApiError::rule(reasons::FORM_KEY_INVALID, "no form has this key"))?;
        if form.status != FORM_OPEN {
            return Err(ApiError::rule(
                reasons::FORM_CLOSED,
                "the form is closed: it takes no more submissions",
            ));
        }
        let tenant = TenantId::from_claim(&form.tenant_id);
        self.count_submission(&form, client).await?;
        let definition = definition_of(&form)?;
        let submission = match parse_submission(&definition, pairs)? {
            Parsed::Robot => {
                tracing::info!(form = %form.id, "form honeypot filled: submission dropped");
                return Ok(SubmitOutcome {
                    submission_id: new_id(),
                });
            }
            Parsed::Submission(submission) => submission,
        };
        let hash = self.address_hash(&tenant, &submission.email).await?;
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let suppressed = contacts::suppression(&*txn, &tenant, &hash)
            .await?
            .is_some();
        let existing = contacts::by_address_hash(&*txn, &tenant, &hash)
            .await?
            .into_iter()
            .filter(|c| c.status != ContactStatus::Erased.as_str())
            .min_by_key(|c| c.created_at);
        let (mut contact, created) = match existing {
            Some(contact) => (contact, false),
            None => {
                let model = contact::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    crm_person_id: None,
                    email: Some(submission.email.as_str().to_owned()),
                    address_hash: Some(hash.clone()),
                    first_name: submission.value(FieldKey::FirstName).map(str::to_owned),
                    last_name: submission.value(FieldKey::LastName).map(str::to_owned),
                    country: submission.value(FieldKey::Country).map(str::to_uppercase),
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
                };
                (contacts::insert(&*txn, model).await?, true)
            }
        };
        if created {
            self.enqueue(
                &txn,
                &tenant,
                events::CONTACT_CREATED,
                &contact.id,
                CONTACT_ACTOR,
                super::contacts::changed(&contact),
            )
            .await?;
        }
        let source = format!("form:{}", form.id);
        let mut opt_in = None;
        if let (true, Some((_, wording_version))) =
            (submission.consent_granted, definition.consent.as_ref())
        {
            let consent_id = new_id();
            contacts::insert_consent(
                &*txn,
                consent::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: consent_id.clone(),
                    contact_id: contact.id.clone(),
                    purpose: EMAIL_MARKETING.to_owned(),
                    lawful_basis: LawfulBasis::Consent.as_str().to_owned(),
                    source: source.clone(),
                    wording_version: wording_version.clone(),
                    granted: true,
                    actor: CONTACT_ACTOR.to_owned(),
                    recorded_at: now,
                    confirmation: form.double_opt_in.then(|| contacts::PENDING.to_owned()),
                    confirmed_at: None,
                    confirmed_source: None,
                    confirmed_address: None,
                },
            )
            .await?;
            if form.double_opt_in {
                let request = self.new_opt_in(
                    &tenant,
                    &contact.id,
                    EMAIL_MARKETING.to_owned(),
                    wording_version.clone(),
                    source.clone(),
                    Some(consent_id),
                );
                contacts::insert_opt_in(&*txn, request.clone()).await?;
                opt_in = Some(request);
            } else if !suppressed && contact.status == ContactStatus::Pending.as_str() {
                contact.status = ContactStatus::Subscribed.as_str().to_owned();
                contact.updated_at = now;
                contact = contacts::update(&*txn, contact).await?;
                self.enqueue(
                    &txn,
                    &tenant,
                    events::CONTACT_SUBSCRIBED,
                    &contact.id,
                    CONTACT_ACTOR,
                    super::contacts::changed(&contact),
                )
                .await?;
            }
        }
        let submission_id = new_id();
        forms::insert_submission(
            &*txn,
            form_submission::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: submission_id.clone(),
                form_id: form.id.clone(),
                contact_id: contact.id.clone(),
                fields: Some(stored_values(&submission)),
                consent_granted: submission.consent_granted,
                submitted_at: now,
            },
        )
        .await?;
        self.refresh_contact(&txn, &tenant, &contact.id).await?;
        let payload = submitted(&form, &definition, &submission, &submission_id, &contact);
        self.enqueue(
            &txn,
            &tenant,
            events::FORM_SUBMITTED,
            &submission_id,
            CONTACT_ACTOR,
            payload,
        )
        .await?;
        self.commit(txn).await?;
        if let (Some(request), Some(_)) = (&opt_in, &self.mailer) {
            // The submission stands whatever the relay says: a refused mail stays unsent and
            // the sender's pass retries it.
            if let Err(err) = self.send_confirmation(&tenant, request).await {
                tracing::warn!(opt_in = %request.id, error = %err.message(), "confirmation mail not sent: the sender retries");
            }
        }
        Ok(SubmitOutcome { submission_id })
    }

    /// Counts a submission attempt of `client` on `form` in the current minute: one cache key
    /// per allowed attempt, taken with set-if-absent, so every replica counts against the same
    /// slots. All taken: FORM_RATE_LIMITED until the minute ends. A cache outage lets the
    /// submission through (a lost lead costs more than a burst), logged.
    async fn count_submission(&self, form: &form::Model, client: &str) -> ApiResult<()> {
        let now_secs = now_ms() / 1000;
        let minute = now_secs / 60;
        for slot in 0..form.per_client_per_minute.max(1) {
            let key = format!("mkt:form:{}:{client}:{minute}:{slot}", form.id);
            match self
                .cache
                .set_if_absent(&key, b"1", Some(Duration::from_secs(120)))
                .await
            {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, form = %form.id, "form rate counter unavailable: submission let through");
                    return Ok(());
                }
            }
        }
        let retry_after = u64::try_from(60 - now_secs % 60).unwrap_or(60);
        Err(ApiError::rate_limited(
            reasons::FORM_RATE_LIMITED,
            retry_after,
        ))
    }
}

/// The submitted values as stored on the submission (personal data: emptied by erasure).
fn stored_values(submission: &Submission) -> String {
    let mut values = serde_json::Map::new();
    values.insert("email".into(), submission.email.as_str().into());
    for (key, value) in &submission.values {
        values.insert(key.name().into(), value.as_str().into());
    }
    for (name, value) in &submission.utm {
        values.insert((*name).into(), value.as_str().into());
    }
    serde_json::Value::Object(values).to_string()
}

fn submitted(
    form: &form::Model,
    definition: &FormDefinition,
    submission: &Submission,
    submission_id: &str,
    contact: &contact::Model,
) -> FormSubmitted {
    let value = |key| submission.value(key).map(str::to_owned);
    let utm = |name| submission.utm(name).map(str::to_owned);
    FormSubmitted {
        submission_id: submission_id.to_owned(),
        form_id: form.id.clone(),
        form_name: form.name.clone(),
        contact_id: contact.id.clone(),
        email: submission.email.as_str().to_owned(),
        first_name: value(FieldKey::FirstName),
        last_name: value(FieldKey::LastName),
        company: value(FieldKey::Company),
        title: value(FieldKey::Title),
        phone: value(FieldKey::Phone),
        website: value(FieldKey::Website),
        country: value(FieldKey::Country),
        message: value(FieldKey::Message),
        utm_source: utm("utm_source"),
        utm_medium: utm("utm_medium"),
        utm_campaign: utm("utm_campaign"),
        utm_term: utm("utm_term"),
        utm_content: utm("utm_content"),
        consent_granted: submission.consent_granted,
        consent_wording_version: definition
            .consent
            .as_ref()
            .filter(|_| submission.consent_granted)
            .map(|(_, version)| version.clone()),
    }
}

impl Marketing {
    /// Replaces the origins whose pages may post the tenant's forms from a script (CORS):
    /// each normalised (`https://shop.example.com`), listed once, at most 50
    /// (FORM_ORIGIN_INVALID otherwise); answers them, sorted.
    pub async fn set_form_origins(
        &self,
        tenant: &TenantId,
        actor: &str,
        origins: &[String],
    ) -> ApiResult<Vec<String>> {
        let mut normalised = std::collections::BTreeSet::new();
        for origin in origins {
            normalised.insert(crate::domain::form::normalise_origin(origin)?);
        }
        if normalised.len() > crate::domain::form::MAX_FORM_ORIGINS {
            return Err(ApiError::rule(
                reasons::FORM_ORIGIN_INVALID,
                format!(
                    "at most {} origins may post the forms",
                    crate::domain::form::MAX_FORM_ORIGINS
                ),
            )
            .on_field("origins"));
        }
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        forms::replace_origins(
            &*txn,
            tenant,
            normalised
                .iter()
                .map(|origin| crate::store::entities::form_origin::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    origin: origin.clone(),
                    created_by: actor.to_owned(),
                    created_at: now,
                })
                .collect(),
        )
        .await?;
        self.commit(txn).await?;
        Ok(normalised.into_iter().collect())
    }

    /// The origins allowed to post the tenant's forms from a script, sorted.
    pub async fn form_origins(&self, tenant: &TenantId) -> ApiResult<Vec<String>> {
        Ok(forms::origins(&self.db, tenant).await?)
    }

    /// Whether a browser page of `origin` may post the form of `public_key` (a preflight, or
    /// the post itself): `Ok(Some(origin))` to allow (the CORS answer names it), `Ok(None)`
    /// for a post without an `Origin` (a server, not a browser page: CORS does not apply);
    /// FORM_KEY_INVALID for an unknown key, FORM_ORIGIN_NOT_ALLOWED for an origin the tenant
    /// did not list (none listed: no page may).
    pub async fn form_cors(
        &self,
        public_key: &str,
        origin: Option<&str>,
    ) -> ApiResult<Option<String>> {
        let Some(origin) = origin else {
            return Ok(None);
        };
        let form = forms::by_public_key(&self.db, public_key)
            .await?
            .ok_or_else(|| ApiError::rule(reasons::FORM_KEY_INVALID, "no form has this key"))?;
        let tenant = TenantId::from_claim(&form.tenant_id);
        let allowed = forms::origins(&self.db, &tenant).await?;
        match crate::domain::form::normalise_origin(origin) {
            Ok(normalised) if allowed.contains(&normalised) => Ok(Some(origin.to_owned())),
            _ => Err(ApiError::rule(
                reasons::FORM_ORIGIN_NOT_ALLOWED,
                format!(
                    "pages of {origin} may not post this form: the tenant lists the origins allowed to (setFormOrigins)"
                ),
            )),
        }
    }
}
