//! Contacts, consent, double opt-in, topics, suppression and erasure.

use crate::app::Marketing;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;

use super::context::caller;
use super::loaders::ContactLoader;
use super::objects::{
    instant, ConsentRecord, LawfulBasis, MarketingContact, MarketingTopic, Suppression,
};
use crate::app::contacts::{NewConsent, NewContact, NewOptIn};

#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// A marketing contact of the caller's tenant.
    #[graphql(requires_scopes = "marketing:read")]
    async fn marketing_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id.")] id: ID,
    ) -> Result<Option<MarketingContact>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .data_unchecked::<DataLoader<ContactLoader>>()
            .load_one(TenantKey::new(&tenant, &id))
            .await?
            .map(|model| MarketingContact { model }))
    }

    /// The tenant's marketing contacts, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn marketing_contacts(
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
    ) -> Result<Connection<String, MarketingContact, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .contacts(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| MarketingContact { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |c| c.model.id.clone()))
    }

    /// The tenant's preference topics.
    #[graphql(requires_scopes = "marketing:read")]
    async fn marketing_topics(&self, ctx: &Context<'_>) -> Result<Vec<MarketingTopic>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .topics(&tenant)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The suppression list (salted hashes only), newest first.
    #[graphql(requires_scopes = "marketing:read")]
    async fn suppressions(&self, ctx: &Context<'_>) -> Result<Vec<Suppression>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .suppressions(&tenant)
            .await?
            .into_iter()
            .map(|model| Suppression { model })
            .collect())
    }

    /// Whether an address is suppressed (it is hashed the same way, never stored).
    #[graphql(requires_scopes = "marketing:read")]
    async fn suppression(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address to look up.")] email: String,
    ) -> Result<Option<Suppression>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .is_suppressed(&tenant, &email)
            .await?
            .map(|model| Suppression { model }))
    }
}

/// A new marketing contact.
#[derive(InputObject)]
pub struct CreateMarketingContactInput {
    /// The address (normalised: trimmed, lower-case).
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
    /// The CRM person this contact is.
    pub crm_person_id: Option<ID>,
}

/// A consent record to log (staff).
#[derive(InputObject)]
pub struct RecordConsentInput {
    /// The contact.
    pub contact_id: ID,
    /// What the consent is for (`email_marketing` for marketing mail).
    pub purpose: String,
    /// The GDPR article 6 basis.
    pub lawful_basis: LawfulBasis,
    /// Where it was collected.
    pub source: String,
    /// The version of the consent wording the person saw.
    pub wording_version: String,
    /// True for a grant (the default), false for a withdrawal.
    #[graphql(default = true)]
    pub granted: bool,
}

/// A double opt-in request.
#[derive(InputObject)]
pub struct RequestOptInInput {
    /// The contact.
    pub contact_id: ID,
    /// What the consent is for (`email_marketing` for marketing mail).
    pub purpose: String,
    /// Where the request comes from (a form, an import).
    pub source: String,
    /// The version of the consent wording the person saw.
    pub wording_version: String,
}

/// A double opt-in request sent.
#[derive(SimpleObject)]
pub struct OptInRequest {
    /// The request's id.
    pub id: ID,
    /// The contact it was sent to.
    pub contact_id: ID,
    /// When it was sent.
    pub requested_at: DateTime,
}

/// A new preference topic.
#[derive(InputObject)]
pub struct CreateMarketingTopicInput {
    /// The key (lower-case letters, digits, `_`, `-`).
    pub key: String,
    /// The display name.
    pub name: String,
}

/// A contact's preference for one topic.
#[derive(InputObject)]
pub struct SetTopicPreferenceInput {
    /// The contact.
    pub contact_id: ID,
    /// The topic's key.
    pub topic: String,
    /// Subscribed (true) or not.
    pub subscribed: bool,
}

/// The contact to erase.
#[derive(InputObject)]
pub struct EraseMarketingContactInput {
    /// The contact.
    pub contact_id: ID,
}

#[derive(Default)]
pub struct ContactsMutation;

#[Object]
impl ContactsMutation {
    /// Creates a contact: pending until a consent or a confirmed opt-in; unsubscribed at once
    /// when the address is suppressed (a re-import stays suppressed).
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_marketing_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact.")] input: CreateMarketingContactInput,
    ) -> Result<MarketingContact> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_contact(
                &tenant,
                &actor,
                NewContact {
                    email: input.email,
                    first_name: input.first_name,
                    last_name: input.last_name,
                    country: input.country,
                    crm_person_id: input.crm_person_id.map(|id| id.0),
                },
            )
            .await?;
        Ok(MarketingContact { model })
    }

    /// Logs a consent record. A grant for a suppressed address is refused
    /// (CONTACT_SUPPRESSED): staff never lifts an unsubscribe.
    #[graphql(requires_scopes = "marketing:write")]
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record.")] input: RecordConsentInput,
    ) -> Result<ConsentRecord> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .record_consent(
                &tenant,
                &actor,
                NewConsent {
                    contact_id: input.contact_id.0,
                    purpose: input.purpose,
                    lawful_basis: input.lawful_basis.into(),
                    source: input.source,
                    wording_version: input.wording_version,
                    granted: input.granted,
                },
            )
            .await?;
        Ok(ConsentRecord { model })
    }

    /// Sends a double opt-in request to the contact through the default sending provider's
    /// relay (refused for a suppressed address).
    #[graphql(requires_scopes = "marketing:write")]
    async fn request_opt_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] input: RequestOptInInput,
    ) -> Result<OptInRequest> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .request_opt_in(
                &tenant,
                &actor,
                NewOptIn {
                    contact_id: input.contact_id.0,
                    purpose: input.purpose,
                    source: input.source,
                    wording_version: input.wording_version,
                },
            )
            .await?;
        Ok(OptInRequest {
            id: ID(model.id),
            contact_id: ID(model.contact_id),
            requested_at: instant(model.requested_at),
        })
    }

    /// Creates a preference topic.
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_marketing_topic(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The topic.")] input: CreateMarketingTopicInput,
    ) -> Result<MarketingTopic> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .create_topic(&tenant, &input.key, &input.name)
            .await?
            .into())
    }

    /// Sets a contact's preference for a topic.
    #[graphql(requires_scopes = "marketing:write")]
    async fn set_topic_preference(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preference.")] input: SetTopicPreferenceInput,
    ) -> Result<MarketingContact> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .set_topic(&tenant, &input.contact_id, &input.topic, input.subscribed)
            .await?;
        Ok(MarketingContact { model })
    }

    /// GDPR erasure: deletes the contact's personal data, keeps the consent log and the
    /// address's salted hash (suppressed, so a re-import stays suppressed).
    #[graphql(requires_scopes = "marketing:write")]
    async fn erase_marketing_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact.")] input: EraseMarketingContactInput,
    ) -> Result<MarketingContact> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .erase_contact(&tenant, &actor, &input.contact_id)
            .await?;
        Ok(MarketingContact { model })
    }
}

/// A bounce or feedback report about an address (from the relay's bounce mailbox or webhook).
#[derive(InputObject)]
pub struct RecordBounceInput {
    /// The address the report is about.
    pub email: String,
    /// The enhanced status code (`5.1.1`).
    pub status: Option<String>,
    /// The diagnostic text (or a reply's subject).
    #[graphql(default)]
    pub diagnostic: String,
    /// The `Auto-Submitted` header of a reply (`auto-replied`).
    pub auto_submitted: Option<String>,
    /// The feedback type of an ARF report (`abuse` for a complaint).
    pub feedback_type: Option<String>,
    /// The message reported on (its `X-Erp-Message` header): the campaign funnel counts the
    /// bounce or complaint.
    pub message_id: Option<ID>,
}

/// How a report was classified.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BounceClass {
    /// The mailbox does not exist or refuses for good: the address is suppressed.
    Hard,
    /// Temporary: counted; the address is suppressed after three.
    Soft,
    /// An automatic reply: ignored (never an unsubscribe).
    AutoReply,
    /// A spam complaint: the address is suppressed.
    Complaint,
}

/// What a bounce report did.
#[derive(SimpleObject)]
pub struct BounceResult {
    /// How the report was classified.
    pub class: BounceClass,
    /// Whether the address is suppressed now.
    pub suppressed: bool,
}

#[derive(Default)]
pub struct BouncesMutation;

#[Object]
impl BouncesMutation {
    /// Records a bounce or feedback report: hard bounces and complaints suppress the address,
    /// soft bounces count, automatic replies change nothing.
    #[graphql(requires_scopes = "marketing:write")]
    async fn record_bounce(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The report.")] input: RecordBounceInput,
    ) -> Result<BounceResult> {
        use crate::domain::bounce::BounceKind;
        let (tenant, _) = caller(ctx)?;
        let outcome = ctx
            .use_cases::<Marketing>()?
            .record_bounce(
                &tenant,
                &input.email,
                input.status.as_deref(),
                &input.diagnostic,
                input.auto_submitted.as_deref(),
                input.feedback_type.as_deref(),
                input.message_id.as_ref().map(|id| id.as_str()),
            )
            .await?;
        Ok(BounceResult {
            class: match outcome.kind {
                BounceKind::Hard => BounceClass::Hard,
                BounceKind::Soft => BounceClass::Soft,
                BounceKind::AutoReply => BounceClass::AutoReply,
                BounceKind::Complaint => BounceClass::Complaint,
            },
            suppressed: outcome.suppressed,
        })
    }
}
