//! Web forms: staff define them here; websites post to their public key (graphql/public.rs).

use crate::app::Marketing;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;

use super::context::caller;
use super::objects::instant;
use crate::app::forms::{definition_of, NewForm, FORM_OPEN};
use crate::domain::form::{FieldKey, FormField, CONSENT_FIELD, HONEYPOT_FIELD};
use crate::store::entities::{form, form_submission};

/// A field a web form can show (each has its place in a CRM lead).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FormFieldKey {
    /// The e-mail address (every form has it, required): posted as `email`.
    Email,
    /// Posted as `first_name`.
    FirstName,
    /// Posted as `last_name`.
    LastName,
    /// The company name: posted as `company`.
    Company,
    /// The job title: posted as `title`.
    Title,
    /// Posted as `phone`.
    Phone,
    /// Posted as `website`.
    Website,
    /// Posted as `country`.
    Country,
    /// Free text (up to 4,000 characters), the note on the lead: posted as `message`.
    Message,
}

impl From<FormFieldKey> for FieldKey {
    fn from(key: FormFieldKey) -> Self {
        match key {
            FormFieldKey::Email => FieldKey::Email,
            FormFieldKey::FirstName => FieldKey::FirstName,
            FormFieldKey::LastName => FieldKey::LastName,
            FormFieldKey::Company => FieldKey::Company,
            FormFieldKey::Title => FieldKey::Title,
            FormFieldKey::Phone => FieldKey::Phone,
            FormFieldKey::Website => FieldKey::Website,
            FormFieldKey::Country => FieldKey::Country,
            FormFieldKey::Message => FieldKey::Message,
        }
    }
}

impl From<FieldKey> for FormFieldKey {
    fn from(key: FieldKey) -> Self {
        match key {
            FieldKey::Email => FormFieldKey::Email,
            FieldKey::FirstName => FormFieldKey::FirstName,
            FieldKey::LastName => FormFieldKey::LastName,
            FieldKey::Company => FormFieldKey::Company,
            FieldKey::Title => FormFieldKey::Title,
            FieldKey::Phone => FormFieldKey::Phone,
            FieldKey::Website => FormFieldKey::Website,
            FieldKey::Country => FormFieldKey::Country,
            FieldKey::Message => FormFieldKey::Message,
        }
    }
}

/// One field of a new form.
#[derive(InputObject)]
pub struct FormFieldInput {
    /// Which field.
    pub key: FormFieldKey,
    /// Whether a submission without it is refused.
    #[graphql(default)]
    pub required: bool,
}

/// A new web form.
#[derive(InputObject)]
pub struct CreateMarketingFormInput {
    /// Its name (shown to staff and in CRM's lead activity).
    pub name: String,
    /// The fields shown, in order; `EMAIL` must be one of them, required.
    pub fields: Vec<FormFieldInput>,
    /// The consent wording shown beside the checkbox (`consent`), with its version: a
    /// ticked box is logged as consent to marketing e-mail with that version.
    pub consent_text: Option<String>,
    /// The version of the consent wording (the consent log names it).
    pub consent_wording_version: Option<String>,
    /// Refuse a submission without the consent ticked.
    #[graphql(default)]
    pub consent_required: bool,
    /// Submissions one client address may make per minute (1 to 60; 5 when not given).
    pub per_client_per_minute: Option<i32>,
    /// Double opt-in (the default): a ticked consent is logged pending and a confirmation mail
    /// goes to the address; only the contact's confirmation subscribes. False: the ticked box
    /// subscribes at once (single opt-in).
    #[graphql(default = true)]
    pub double_opt_in: bool,
}

/// Opens or closes a form.
#[derive(InputObject)]
pub struct SetMarketingFormOpenInput {
    /// The form.
    pub form_id: ID,
    /// True: it takes submissions; false: it refuses them (FORM_CLOSED).
    pub open: bool,
}

/// One field of a form.
#[derive(SimpleObject)]
pub struct MarketingFormField {
    /// Which field (its posted name is the key in snake case).
    pub key: FormFieldKey,
    /// The name a website posts it under.
    pub name: String,
    /// Whether a submission without it is refused.
    pub required: bool,
}

/// A web form a website posts to.
pub struct MarketingForm {
    pub model: form::Model,
    pub submit_url: String,
}

/// A web form: its fields, its consent wording, and where a website posts it.
#[Object]
impl MarketingForm {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// The key a website posts to (not a secret: it is in the page; close the form and
    /// create another to retire it).
    async fn public_key(&self) -> &str {
        &self.model.public_key
    }

    /// Where a website POSTs a submission (form data or JSON).
    async fn submit_url(&self) -> &str {
        &self.submit_url
    }

    /// The fields shown, in order.
    async fn fields(&self) -> Result<Vec<MarketingFormField>> {
        Ok(definition_of(&self.model)?
            .fields
            .into_iter()
            .map(|field: FormField| MarketingFormField {
                key: field.key.into(),
                name: field.key.name().to_owned(),
                required: field.required,
            })
            .collect())
    }

    /// The name of the consent checkbox field.
    async fn consent_field(&self) -> &'static str {
        CONSENT_FIELD
    }

    /// The name of the hidden field people leave empty (a submission with it filled is
    /// dropped as a robot's): render it off-screen.
    async fn honeypot_field(&self) -> &'static str {
        HONEYPOT_FIELD
    }

    /// The consent wording shown beside the checkbox.
    async fn consent_text(&self) -> Option<&str> {
        self.model.consent_text.as_deref()
    }

    /// The version of the consent wording.
    async fn consent_wording_version(&self) -> Option<&str> {
        self.model.consent_wording_version.as_deref()
    }

    /// Whether a submission without the consent ticked is refused.
    async fn consent_required(&self) -> bool {
        self.model.consent_required
    }

    /// Submissions one client address may make per minute.
    async fn per_client_per_minute(&self) -> i32 {
        self.model.per_client_per_minute
    }

    /// Whether a ticked consent waits for the contact's confirmation (double opt-in).
    async fn double_opt_in(&self) -> bool {
        self.model.double_opt_in
    }

    /// Whether it takes submissions.
    async fn open(&self) -> bool {
        self.model.status == FORM_OPEN
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// Its latest submissions, newest first.
    #[graphql(requires_scopes = "marketing:read")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 100; 20 when not given).", default = 20)] limit: i32,
    ) -> Result<Vec<MarketingFormSubmission>> {
        let (tenant, _) = caller(ctx)?;
        let limit = u64::try_from(limit.clamp(1, 100)).unwrap_or(20);
        Ok(ctx
            .use_cases::<Marketing>()?
            .form_submissions(&tenant, &self.model.id, limit)
            .await?
            .into_iter()
            .map(|model| MarketingFormSubmission { model })
            .collect())
    }
}

/// One submitted value.
#[derive(SimpleObject)]
pub struct MarketingFormValue {
    /// The field's posted name (`email`, `first_name`, `utm_source`, ...).
    pub name: String,
    /// What was submitted (trimmed).
    pub value: String,
}

/// One accepted submission of a form.
pub struct MarketingFormSubmission {
    pub model: form_submission::Model,
}

/// One accepted submission of a form (its values are erased with its contact).
#[Object]
impl MarketingFormSubmission {
    /// Its id (the `submissionId` the website was answered).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The marketing contact it was filed under.
    async fn contact_id(&self) -> ID {
        ID(self.model.contact_id.clone())
    }

    /// The values as submitted (the address normalised); null once the contact was erased.
    async fn values(&self) -> Option<Vec<MarketingFormValue>> {
        let text = self.model.fields.as_deref()?;
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        Some(
            object
                .into_iter()
                .map(|(name, value)| MarketingFormValue {
                    name,
                    value: value.as_str().unwrap_or_default().to_owned(),
                })
                .collect(),
        )
    }

    /// Whether the consent to marketing e-mail was ticked.
    async fn consent_granted(&self) -> bool {
        self.model.consent_granted
    }

    /// When it was submitted.
    async fn submitted_at(&self) -> DateTime {
        instant(self.model.submitted_at)
    }
}

fn with_url(ctx: &Context<'_>, model: form::Model) -> Result<MarketingForm> {
    let submit_url = ctx.use_cases::<Marketing>()?.form_url(&model.public_key);
    Ok(MarketingForm { model, submit_url })
}

#[derive(Default)]
pub struct FormsQuery;

#[Object]
impl FormsQuery {
    /// The origins whose pages may post the tenant's forms from a script (CORS), sorted.
    #[graphql(requires_scopes = "marketing:read")]
    async fn form_origins(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx.use_cases::<Marketing>()?.form_origins(&tenant).await?)
    }

    /// A web form of the caller's tenant.
    #[graphql(requires_scopes = "marketing:read")]
    async fn marketing_form(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The form's id.")] id: ID,
    ) -> Result<Option<MarketingForm>> {
        let (tenant, _) = caller(ctx)?;
        match ctx.use_cases::<Marketing>()?.form(&tenant, &id).await? {
            Some(model) => Ok(Some(with_url(ctx, model)?)),
            None => Ok(None),
        }
    }

    /// The tenant's web forms, in id order.
    #[graphql(requires_scopes = "marketing:read")]
    async fn marketing_forms(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, MarketingForm, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let marketing = ctx.use_cases::<Marketing>()?;
        let rows = marketing
            .forms(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| {
                let submit_url = marketing.form_url(&model.public_key);
                MarketingForm { model, submit_url }
            })
            .collect();
        Ok(connection_from_rows(&page, rows, |form| {
            form.model.id.clone()
        }))
    }
}

/// The origins allowed to post the tenant's forms from a script.
#[derive(InputObject)]
pub struct SetFormOriginsInput {
    /// `http(s)://host[:port]` each (at most 50; empty: no page may).
    pub origins: Vec<String>,
}

#[derive(Default)]
pub struct FormsMutation;

#[Object]
impl FormsMutation {
    /// Replaces the origins (`https://shop.example.com`) whose pages may post the tenant's
    /// forms from a script: the public form endpoint answers their CORS preflight and refuses
    /// a post from any other page (FORM_ORIGIN_NOT_ALLOWED); FORM_ORIGIN_INVALID for a value
    /// that is not an origin. Answers the list as stored.
    #[graphql(requires_scopes = "marketing:write")]
    async fn set_form_origins(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The allowed origins (at most 50; empty: no page may).")]
        input: SetFormOriginsInput,
    ) -> Result<Vec<String>> {
        let (tenant, actor) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .set_form_origins(&tenant, &actor, &input.origins)
            .await?)
    }

    /// Creates an open web form with its public key.
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_marketing_form(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The form.")] input: CreateMarketingFormInput,
    ) -> Result<MarketingForm> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_form(
                &tenant,
                &actor,
                NewForm {
                    name: input.name,
                    fields: input
                        .fields
                        .into_iter()
                        .map(|field| FormField {
                            key: field.key.into(),
                            required: field.required,
                        })
                        .collect(),
                    consent_text: input.consent_text,
                    consent_wording_version: input.consent_wording_version,
                    consent_required: input.consent_required,
                    per_client_per_minute: input.per_client_per_minute,
                    double_opt_in: input.double_opt_in,
                },
            )
            .await?;
        with_url(ctx, model)
    }

    /// Opens or closes a web form.
    #[graphql(requires_scopes = "marketing:write")]
    async fn set_marketing_form_open(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The form and its state.")] input: SetMarketingFormOpenInput,
    ) -> Result<MarketingForm> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .set_form_open(&tenant, &input.form_id, input.open)
            .await?;
        with_url(ctx, model)
    }
}
