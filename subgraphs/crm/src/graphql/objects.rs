//! The CRM's objects that point at each other (a client's opportunities, an opportunity's
//! client, a quote's versions and its client...), in one file so no feature file imports one
//! that imports it back; the enums of their closed value sets. Each object carries the
//! caller's [`Scope`]: related records come through DataLoaders and show only when the row
//! rules let the caller see them.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};

use erp_kit::loaders::TenantKey;
use erp_kit::ApiError;

use super::context::Scope;
use super::loaders::{
    AddressesLoader, ClientLoader, ClientOpportunitiesLoader, HistoryLoader, ItemsLoader,
    LeadLoader, LinesLoader, OpportunityLoader, PeopleLoader, PipelineLoader, QuoteLoader,
    StageLoader, StagesLoader, TimeZoneLoader, VersionsLoader,
};
use crate::domain::pipeline::{is_rotting, weighted};
use crate::domain::quote::{effective_status, expires_at};
use crate::store::entities::{
    activity, address, audit, client, lead, opportunity, pipeline, price_list, price_list_item,
    proposal, proposal_section, quote, quote_line, quote_version, stage,
};
use erp_kit::money::{format_minor, Currency, Decimal, Money};
use erp_kit::scalars::{Date, DateTime};

/// A company or a person.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::client::ClientKind")]
pub enum ClientKind {
    /// A company (its people are clients of kind `PERSON` with this company).
    Company,
    /// A person (a contact at a company client, or a private client).
    Person,
}

/// Where a client stands: `PROSPECT -> ACTIVE -> CHURNED` (a prospect may churn, a churned
/// client may become active again).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::client::ClientStatus")]
pub enum ClientStatus {
    /// Not buying yet.
    Prospect,
    /// Buying.
    Active,
    /// Stopped buying.
    Churned,
}

/// What an address is for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::client::AddressKind")]
pub enum AddressKind {
    /// Where invoices go.
    Billing,
    /// Where goods go.
    Shipping,
    /// An office.
    Office,
}

/// Where a lead is: `NEW -> CONTACTED -> QUALIFIED -> CONVERTED`, or `DISQUALIFIED` (with a
/// reason; it may be reopened as `NEW`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::lead::LeadStatus")]
pub enum LeadStatus {
    /// Captured, not yet contacted.
    New,
    /// Someone talked to them.
    Contacted,
    /// Worth an opportunity.
    Qualified,
    /// Became a client company, a contact person and an opportunity (final).
    Converted,
    /// Not worth pursuing (`disqualifyReason` says why).
    Disqualified,
}

/// How a lead came in.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::lead::LeadSource")]
pub enum LeadSource {
    /// A form on the tenant's website.
    Website,
    /// Someone recommended the tenant.
    Referral,
    /// A trade show, a conference, a meetup.
    Event,
    /// A marketing campaign (see the UTM fields).
    Campaign,
    /// The tenant reached out first.
    ColdOutreach,
    /// A partner passed it on.
    Partner,
    /// A CSV import.
    Import,
    /// Anything else.
    Other,
}

/// What kind of touch an activity is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::lead::ActivityKind")]
pub enum ActivityKind {
    /// A phone call.
    Call,
    /// An e-mail.
    Email,
    /// A meeting.
    Meeting,
    /// Something to do (with a due time).
    Task,
    /// A note.
    Note,
}

/// Where an opportunity is: `OPEN` (in a stage), then `WON` or `LOST` (a reason required);
/// reopening is an explicit transition.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::pipeline::OpportunityStatus")]
pub enum OpportunityStatus {
    /// In a stage of its pipeline.
    Open,
    /// Won (terminal until reopened).
    Won,
    /// Lost (terminal until reopened).
    Lost,
}

/// A quote version's status as the client sees it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::quote::QuoteStatus")]
pub enum QuoteStatus {
    /// Being written; its lines may change.
    Draft,
    /// Shown to the client, frozen, waiting for an answer.
    Sent,
    /// Accepted by the client (immutable).
    Accepted,
    /// Declined by the client.
    Declined,
    /// Sent, and its valid-until day is over in the tenant's time zone: it can no longer be
    /// accepted (revise it).
    Expired,
    /// A newer version replaced it.
    Superseded,
    /// The accepted version became an order or invoice.
    Converted,
}

/// Where a proposal is: `DRAFT -> SENT -> ACCEPTED / REJECTED`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::quote::ProposalStatus")]
pub enum ProposalStatus {
    /// Being written.
    Draft,
    /// Shown to the client.
    Sent,
    /// Accepted as a whole (with every quote in it).
    Accepted,
    /// Rejected by the client.
    Rejected,
}

/// What happened to an opportunity (its audit trail).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OpportunityAction {
    /// Created in its first stage.
    Created,
    /// Moved to another stage.
    StageChanged,
    /// Won.
    Won,
    /// Lost, with a reason.
    Lost,
    /// Reopened after a win or a loss.
    Reopened,
    /// Given to another owner.
    Assigned,
}

impl OpportunityAction {
    fn from_db(text: &str) -> Option<Self> {
        Some(match text {
            "created" => Self::Created,
            "stage_changed" => Self::StageChanged,
            "won" => Self::Won,
            "lost" => Self::Lost,
            "reopened" => Self::Reopened,
            "assigned" => Self::Assigned,
            _ => return None,
        })
    }
}

/// An instant stored as Unix milliseconds.
pub(crate) fn instant(ms: i64) -> DateTime {
    DateTime::from_millis(ms).unwrap_or_default()
}

/// An amount of a stored currency code.
pub(crate) fn money(minor: i64, currency: &str) -> Result<Money> {
    let currency = Currency::parse(currency)
        .map_err(|_| ApiError::internal(format!("a stored currency `{currency}` is unknown")))?;
    Money::from_minor(minor, currency)
        .map_err(|_| ApiError::internal("a stored amount is out of range").into())
}

/// A number held in thousandths (quantities) or hundredths of a percent (rates), as a decimal.
pub(crate) fn scaled(value: i64, decimals: u8) -> Decimal {
    Decimal::parse(&format_minor(value, decimals))
        .unwrap_or_else(|| Decimal::parse("0").unwrap_or_else(|| unreachable!("0 is a decimal")))
}

fn tenant_key(scope: &Scope, id: &str) -> TenantKey {
    TenantKey::new(&scope.viewer.tenant, id)
}

async fn load_client(ctx: &Context<'_>, scope: &Scope, id: &str) -> Result<Option<Client>> {
    let found = ctx
        .data_unchecked::<DataLoader<ClientLoader>>()
        .load_one(tenant_key(scope, id))
        .await?;
    Ok(found
        .filter(|c| scope.sees(c.owner_id.as_deref()))
        .map(|model| Client::new(model, scope.clone())))
}

async fn load_opportunity(
    ctx: &Context<'_>,
    scope: &Scope,
    id: &str,
) -> Result<Option<Opportunity>> {
    let found = ctx
        .data_unchecked::<DataLoader<OpportunityLoader>>()
        .load_one(tenant_key(scope, id))
        .await?;
    Ok(found
        .filter(|o| scope.sees(Some(&o.owner_id)))
        .map(|model| Opportunity::new(model, scope.clone())))
}

async fn load_lead(ctx: &Context<'_>, scope: &Scope, id: &str) -> Result<Option<Lead>> {
    let found = ctx
        .data_unchecked::<DataLoader<LeadLoader>>()
        .load_one(tenant_key(scope, id))
        .await?;
    Ok(found
        .filter(|l| scope.sees(l.owner_id.as_deref()))
        .map(|model| Lead::new(model, scope.clone())))
}

pub(crate) async fn load_quote(
    ctx: &Context<'_>,
    scope: &Scope,
    id: &str,
) -> Result<Option<Quote>> {
    let found = ctx
        .data_unchecked::<DataLoader<QuoteLoader>>()
        .load_one(tenant_key(scope, id))
        .await?;
    Ok(found
        .filter(|q| scope.sees(Some(&q.owner_id)))
        .map(|model| Quote::new(model, scope.clone())))
}

/// A client: a company or a person, with addresses, a tax id and a status. Other subgraphs
/// add their side by federation (projects from PMO, invoices and the balance from finance).
pub struct Client {
    pub model: client::Model,
    pub scope: Scope,
}

impl Client {
    pub fn new(model: client::Model, scope: Scope) -> Self {
        Self { model, scope }
    }
}

/// A client of the tenant: a company or a person (`kind`), seen by its owner, their team and
/// managers, and `crm:admin`.
#[Object(requires_scopes = "crm:read")]
impl Client {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// A company or a person.
    async fn kind(&self) -> ClientKind {
        crate::domain::client::ClientKind::from_db(&self.model.kind)
            .unwrap_or(crate::domain::client::ClientKind::Company)
            .into()
    }

    /// The company's or the person's name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// E-mail address (lower case).
    async fn email(&self) -> Option<&str> {
        self.model.email.as_deref()
    }

    /// Phone number, as entered.
    async fn phone(&self) -> Option<&str> {
        self.model.phone.as_deref()
    }

    /// Website, as entered.
    async fn website(&self) -> Option<&str> {
        self.model.website.as_deref()
    }

    /// The web domain the duplicate finder matches on (from the website, or the e-mail's
    /// domain when it is not a free mail provider's), e.g. `acme.com`.
    async fn domain(&self) -> Option<&str> {
        self.model.domain.as_deref()
    }

    /// Tax id (VAT number, EIN, GSTIN...), upper case without spaces.
    async fn tax_id(&self) -> Option<&str> {
        self.model.tax_id.as_deref()
    }

    /// Where the client stands.
    async fn status(&self) -> ClientStatus {
        crate::domain::client::ClientStatus::from_db(&self.model.status)
            .unwrap_or(crate::domain::client::ClientStatus::Prospect)
            .into()
    }

    /// The user who owns the client (the row rules follow the owner).
    async fn owner_id(&self) -> Option<ID> {
        self.model.owner_id.clone().map(ID)
    }

    /// The id of the record in the system it was imported from.
    async fn external_id(&self) -> Option<&str> {
        self.model.external_id.as_deref()
    }

    /// The company a person works for.
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.company_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// A company's people (the first 100 the caller may see, oldest first; `clients` with a
    /// `companyId` filter pages through all of them).
    async fn people(&self, ctx: &Context<'_>) -> Result<Vec<Client>> {
        let found = ctx
            .data_unchecked::<DataLoader<PeopleLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default();
        Ok(found
            .into_iter()
            .filter(|c| self.scope.sees(c.owner_id.as_deref()))
            .map(|model| Client::new(model, self.scope.clone()))
            .collect())
    }

    /// Postal addresses, oldest first.
    async fn addresses(&self, ctx: &Context<'_>) -> Result<Vec<Address>> {
        Ok(ctx
            .data_unchecked::<DataLoader<AddressesLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Address)
            .collect())
    }

    /// The client's opportunities (the first 100 the caller may see, oldest first;
    /// `opportunities` with a `clientId` filter pages through all of them).
    async fn opportunities(&self, ctx: &Context<'_>) -> Result<Vec<Opportunity>> {
        let found = ctx
            .data_unchecked::<DataLoader<ClientOpportunitiesLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default();
        Ok(found
            .into_iter()
            .filter(|o| self.scope.sees(Some(&o.owner_id)))
            .map(|model| Opportunity::new(model, self.scope.clone()))
            .collect())
    }

    /// Set when this client was merged into another: the one that holds its records now.
    async fn merged_into(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.merged_into_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// Counts the client's changes (1 when created).
    async fn version(&self) -> i32 {
        i32::try_from(self.model.version).unwrap_or(i32::MAX)
    }

    /// When the client was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When the client last changed.
    async fn updated_at(&self) -> DateTime {
        instant(self.model.updated_at)
    }
}

/// A postal address of a client.
pub struct Address(pub address::Model);

/// A postal address of a client.
#[Object(requires_scopes = "crm:read")]
impl Address {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// What the address is for.
    async fn kind(&self) -> AddressKind {
        crate::domain::client::AddressKind::from_db(&self.0.kind)
            .unwrap_or(crate::domain::client::AddressKind::Office)
            .into()
    }

    /// Street and number.
    async fn line1(&self) -> &str {
        &self.0.line1
    }

    /// More of the address (building, floor).
    async fn line2(&self) -> Option<&str> {
        self.0.line2.as_deref()
    }

    /// City.
    async fn city(&self) -> &str {
        &self.0.city
    }

    /// Region, state or province.
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }

    /// Postal code.
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }

    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    async fn country(&self) -> &str {
        &self.0.country
    }
}

/// Where a lead came from, as its link said (Urchin tracking module parameters).
#[derive(SimpleObject)]
pub struct Utm {
    /// `utm_source`: the site or newsletter that sent it.
    pub source: Option<String>,
    /// `utm_medium`: the channel (`email`, `cpc`...).
    pub medium: Option<String>,
    /// `utm_campaign`: the campaign's name.
    pub campaign: Option<String>,
    /// `utm_term`: the paid keyword.
    pub term: Option<String>,
    /// `utm_content`: which link or ad.
    pub content: Option<String>,
}

/// A lead: someone who may buy, with where they came from, who owns them and their score.
pub struct Lead {
    pub model: lead::Model,
    pub scope: Scope,
}

impl Lead {
    pub fn new(model: lead::Model, scope: Scope) -> Self {
        Self { model, scope }
    }
}

/// A lead: a person (and their company) who may buy, seen by its owner, their team and
/// managers, and `crm:admin`.
#[Object(requires_scopes = "crm:read")]
impl Lead {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The person's name.
    async fn person_name(&self) -> &str {
        &self.model.person_name
    }

    /// The company they work for.
    async fn company_name(&self) -> Option<&str> {
        self.model.company_name.as_deref()
    }

    /// Their job title.
    async fn title(&self) -> Option<&str> {
        self.model.title.as_deref()
    }

    /// E-mail address (lower case).
    async fn email(&self) -> Option<&str> {
        self.model.email.as_deref()
    }

    /// Phone number, as entered.
    async fn phone(&self) -> Option<&str> {
        self.model.phone.as_deref()
    }

    /// Website, as entered.
    async fn website(&self) -> Option<&str> {
        self.model.website.as_deref()
    }

    /// How the lead came in.
    async fn source(&self) -> LeadSource {
        crate::domain::lead::LeadSource::from_db(&self.model.source)
            .unwrap_or(crate::domain::lead::LeadSource::Other)
            .into()
    }

    /// The UTM parameters of the link it came through.
    async fn utm(&self) -> Utm {
        Utm {
            source: self.model.utm_source.clone(),
            medium: self.model.utm_medium.clone(),
            campaign: self.model.utm_campaign.clone(),
            term: self.model.utm_term.clone(),
            content: self.model.utm_content.clone(),
        }
    }

    /// The sales territory (territory assignment rules match on it).
    async fn territory(&self) -> Option<&str> {
        self.model.territory.as_deref()
    }

    /// The user who owns the lead.
    async fn owner_id(&self) -> Option<ID> {
        self.model.owner_id.clone().map(ID)
    }

    /// The score from the tenant's scoring rules, 0 to 1000 (recomputed when the lead or its
    /// activities change).
    async fn score(&self) -> i32 {
        self.model.score
    }

    /// Where the lead is.
    async fn status(&self) -> LeadStatus {
        crate::domain::lead::LeadStatus::from_db(&self.model.status)
            .unwrap_or(crate::domain::lead::LeadStatus::New)
            .into()
    }

    /// Why it was disqualified.
    async fn disqualify_reason(&self) -> Option<&str> {
        self.model.disqualify_reason.as_deref()
    }

    /// The company client the conversion created (or attached).
    async fn converted_client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.converted_client_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The contact person the conversion created.
    async fn converted_contact(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.converted_contact_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The opportunity the conversion created.
    async fn converted_opportunity(&self, ctx: &Context<'_>) -> Result<Option<Opportunity>> {
        match &self.model.converted_opportunity_id {
            Some(id) => load_opportunity(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// When it was converted.
    async fn converted_at(&self) -> Option<DateTime> {
        self.model.converted_at.map(instant)
    }

    /// Set when merged into another lead: the one that holds its activities now.
    async fn merged_into(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        match &self.model.merged_into_id {
            Some(id) => load_lead(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The id of the record in the system it was imported from.
    async fn external_id(&self) -> Option<&str> {
        self.model.external_id.as_deref()
    }

    /// Counts the lead's changes (1 when created).
    async fn version(&self) -> i32 {
        i32::try_from(self.model.version).unwrap_or(i32::MAX)
    }

    /// When the lead was captured.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When the lead last changed.
    async fn updated_at(&self) -> DateTime {
        instant(self.model.updated_at)
    }
}

/// A call, e-mail, meeting, task or note on a lead, a client or an opportunity.
pub struct Activity {
    pub model: activity::Model,
    pub scope: Scope,
}

/// A call, e-mail, meeting, task or note on a lead, a client or an opportunity.
#[Object(requires_scopes = "crm:read")]
impl Activity {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// What kind of touch.
    async fn kind(&self) -> ActivityKind {
        crate::domain::lead::ActivityKind::from_db(&self.model.kind)
            .unwrap_or(crate::domain::lead::ActivityKind::Note)
            .into()
    }

    /// What it was about.
    async fn subject(&self) -> &str {
        &self.model.subject
    }

    /// Notes.
    async fn notes(&self) -> Option<&str> {
        self.model.notes.as_deref()
    }

    /// When it is due (tasks, planned calls and meetings).
    async fn due_at(&self) -> Option<DateTime> {
        self.model.due_at.map(instant)
    }

    /// When it was done.
    async fn completed_at(&self) -> Option<DateTime> {
        self.model.completed_at.map(instant)
    }

    /// Who logged it.
    async fn owner_id(&self) -> ID {
        ID(self.model.owner_id.clone())
    }

    /// The lead it is about.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        match &self.model.lead_id {
            Some(id) => load_lead(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The client it is about.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.client_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The opportunity it is about.
    async fn opportunity(&self, ctx: &Context<'_>) -> Result<Option<Opportunity>> {
        match &self.model.opportunity_id {
            Some(id) => load_opportunity(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// When it was logged.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A sales pipeline: the stages one kind of opportunity goes through.
pub struct Pipeline {
    pub model: pipeline::Model,
    pub scope: Scope,
}

/// A sales pipeline: the stages one kind of opportunity goes through.
#[Object(requires_scopes = "crm:read")]
impl Pipeline {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The pipeline's name (unique in the tenant).
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// What it sells: `new business`, `renewal`, `services`...
    async fn opportunity_type(&self) -> &str {
        &self.model.opportunity_type
    }

    /// The stages, in order.
    async fn stages(&self, ctx: &Context<'_>) -> Result<Vec<Stage>> {
        Ok(ctx
            .data_unchecked::<DataLoader<StagesLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| Stage::new(model, self.scope.clone()))
            .collect())
    }

    /// When the pipeline was set up.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A stage of a pipeline.
pub struct Stage {
    pub model: stage::Model,
    pub scope: Scope,
}

impl Stage {
    pub fn new(model: stage::Model, scope: Scope) -> Self {
        Self { model, scope }
    }
}

/// A stage of a pipeline, with the chance an opportunity in it is won.
#[Object(requires_scopes = "crm:read")]
impl Stage {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The stage's name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Its place in the pipeline, from 0.
    async fn position(&self) -> i32 {
        self.model.position
    }

    /// The chance an opportunity here is won, 0 to 100 (percent): the weight of the forecast.
    async fn probability(&self) -> i32 {
        self.model.probability
    }

    /// Days in the stage after which an open opportunity rots (flagged on the board).
    async fn rotting_days(&self) -> Option<i32> {
        self.model.rotting_days
    }

    /// The pipeline it belongs to.
    async fn pipeline(&self, ctx: &Context<'_>) -> Result<Option<Pipeline>> {
        Ok(ctx
            .data_unchecked::<DataLoader<PipelineLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.pipeline_id))
            .await?
            .map(|model| Pipeline {
                model,
                scope: self.scope.clone(),
            }))
    }
}

/// One entry of an opportunity's audit trail.
pub struct HistoryEntry {
    pub model: audit::Model,
    pub scope: Scope,
}

/// One entry of an opportunity's audit trail: what happened, who did it, when.
#[Object(requires_scopes = "crm:read")]
impl HistoryEntry {
    /// What happened.
    async fn action(&self) -> Option<OpportunityAction> {
        OpportunityAction::from_db(&self.model.action)
    }

    /// The user who did it.
    async fn actor_id(&self) -> ID {
        ID(self.model.actor.clone())
    }

    /// When.
    async fn at(&self) -> DateTime {
        instant(self.model.at)
    }

    /// The stage before (a stage change, a reopen).
    #[graphql(name = "fromStage")]
    async fn stage_before(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        self.stage(ctx, "from_stage_id").await
    }

    /// The stage after.
    #[graphql(name = "toStage")]
    async fn stage_after(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        self.stage(ctx, "to_stage_id").await
    }

    /// The reason given (a loss, a reopen).
    async fn reason(&self) -> Option<String> {
        self.detail()["reason"].as_str().map(str::to_owned)
    }
}

impl HistoryEntry {
    fn detail(&self) -> serde_json::Value {
        serde_json::from_str(&self.model.detail).unwrap_or_default()
    }

    async fn stage(&self, ctx: &Context<'_>, field: &str) -> Result<Option<Stage>> {
        let Some(id) = self.detail()[field].as_str().map(str::to_owned) else {
            return Ok(None);
        };
        Ok(ctx
            .data_unchecked::<DataLoader<StageLoader>>()
            .load_one(tenant_key(&self.scope, &id))
            .await?
            .map(|model| Stage::new(model, self.scope.clone())))
    }
}

/// An opportunity: a deal in a pipeline.
pub struct Opportunity {
    pub model: opportunity::Model,
    pub scope: Scope,
}

impl Opportunity {
    pub fn new(model: opportunity::Model, scope: Scope) -> Self {
        Self { model, scope }
    }

    async fn stage_model(&self, ctx: &Context<'_>) -> Result<Option<stage::Model>> {
        ctx.data_unchecked::<DataLoader<StageLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.stage_id))
            .await
    }
}

/// An opportunity: a deal in a pipeline, worth an amount, expected to close on a day, owned by
/// a user; seen by its owner, their team and managers, and `crm:admin`.
#[Object(requires_scopes = "crm:read")]
impl Opportunity {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// What the deal is.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// What it is worth.
    async fn amount(&self) -> Result<Money> {
        money(self.model.amount_minor, &self.model.currency)
    }

    /// The amount times its stage's probability (what the forecast counts while it is open).
    async fn weighted_amount(&self, ctx: &Context<'_>) -> Result<Money> {
        let probability = self
            .stage_model(ctx)
            .await?
            .map_or(0, |stage| stage.probability);
        money(
            weighted(self.model.amount_minor, probability),
            &self.model.currency,
        )
    }

    /// Open, won or lost.
    async fn status(&self) -> OpportunityStatus {
        crate::domain::pipeline::OpportunityStatus::from_db(&self.model.status)
            .unwrap_or(crate::domain::pipeline::OpportunityStatus::Open)
            .into()
    }

    /// Its stage (the last one it was in, once won or lost).
    async fn stage(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        Ok(self
            .stage_model(ctx)
            .await?
            .map(|model| Stage::new(model, self.scope.clone())))
    }

    /// Its pipeline.
    async fn pipeline(&self, ctx: &Context<'_>) -> Result<Option<Pipeline>> {
        Ok(ctx
            .data_unchecked::<DataLoader<PipelineLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.pipeline_id))
            .await?
            .map(|model| Pipeline {
                model,
                scope: self.scope.clone(),
            }))
    }

    /// The client it is for.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        load_client(ctx, &self.scope, &self.model.client_id).await
    }

    /// The contact person.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.model.contact_id {
            Some(id) => load_client(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The lead it was converted from.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        match &self.model.lead_id {
            Some(id) => load_lead(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// The user who owns it.
    async fn owner_id(&self) -> ID {
        ID(self.model.owner_id.clone())
    }

    /// The day it is expected to close.
    async fn expected_close(&self) -> Option<Date> {
        self.model.expected_close.map(Date)
    }

    /// Why it was lost.
    async fn lost_reason(&self) -> Option<&str> {
        self.model.lost_reason.as_deref()
    }

    /// When it was won or lost.
    async fn closed_at(&self) -> Option<DateTime> {
        self.model.closed_at.map(instant)
    }

    /// When it entered its stage.
    async fn stage_entered_at(&self) -> DateTime {
        instant(self.model.stage_entered_at)
    }

    /// Whether it has sat in its stage longer than the stage's rotting days (open only).
    async fn rotting(&self, ctx: &Context<'_>) -> Result<bool> {
        if self.model.status != "open" {
            return Ok(false);
        }
        let days = self.stage_model(ctx).await?.and_then(|s| s.rotting_days);
        Ok(is_rotting(
            self.model.stage_entered_at,
            days,
            chrono::Utc::now().timestamp_millis(),
        ))
    }

    /// Every change, oldest first: created, stage changes, wins, losses (with the reason),
    /// reopens, reassignments.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<HistoryEntry>> {
        Ok(ctx
            .data_unchecked::<DataLoader<HistoryLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| HistoryEntry {
                model,
                scope: self.scope.clone(),
            })
            .collect())
    }

    /// Counts its changes (1 when created): give it back as `expectedVersion` to refuse a
    /// change made on a stale copy.
    async fn version(&self) -> i32 {
        i32::try_from(self.model.version).unwrap_or(i32::MAX)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        instant(self.model.updated_at)
    }
}

/// A quote: its versions carry the content.
pub struct Quote {
    pub model: quote::Model,
    pub scope: Scope,
}

impl Quote {
    pub fn new(model: quote::Model, scope: Scope) -> Self {
        Self { model, scope }
    }

    async fn versions_of(&self, ctx: &Context<'_>) -> Result<Vec<quote_version::Model>> {
        Ok(ctx
            .data_unchecked::<DataLoader<VersionsLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default())
    }

    fn version(&self, model: quote_version::Model) -> QuoteVersion {
        QuoteVersion {
            model,
            quote: self.model.clone(),
            scope: self.scope.clone(),
        }
    }
}

/// A quote for a client: a sequence of versions, the newest one current.
#[Object(requires_scopes = "crm:read")]
impl Quote {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The tenant's quote number, e.g. `Q-000042`.
    async fn number(&self) -> &str {
        &self.model.number
    }

    /// The client it is for.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        load_client(ctx, &self.scope, &self.model.client_id).await
    }

    /// The opportunity it belongs to.
    async fn opportunity(&self, ctx: &Context<'_>) -> Result<Option<Opportunity>> {
        match &self.model.opportunity_id {
            Some(id) => load_opportunity(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// Its currency (every amount of every version is in it).
    async fn currency(&self) -> Result<Currency> {
        Currency::parse(&self.model.currency)
            .map_err(|_| ApiError::internal("a stored currency is unknown").into())
    }

    /// The newest version: the one a client can still act on.
    async fn current_version(&self, ctx: &Context<'_>) -> Result<Option<QuoteVersion>> {
        Ok(self
            .versions_of(ctx)
            .await?
            .into_iter()
            .find(|v| v.version == self.model.current_version)
            .map(|model| self.version(model)))
    }

    /// Every version, oldest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<QuoteVersion>> {
        Ok(self
            .versions_of(ctx)
            .await?
            .into_iter()
            .map(|model| self.version(model))
            .collect())
    }

    /// The current version's status as the client sees it.
    async fn status(&self, ctx: &Context<'_>) -> Result<Option<QuoteStatus>> {
        let Some(current) = self.current_version(ctx).await? else {
            return Ok(None);
        };
        current.status_of(ctx).await.map(Some)
    }

    /// The user who owns it.
    async fn owner_id(&self) -> ID {
        ID(self.model.owner_id.clone())
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When its last version was made.
    async fn updated_at(&self) -> DateTime {
        instant(self.model.updated_at)
    }
}

/// One version of a quote.
pub struct QuoteVersion {
    pub model: quote_version::Model,
    pub quote: quote::Model,
    pub scope: Scope,
}

impl QuoteVersion {
    async fn zone(&self, ctx: &Context<'_>) -> Result<chrono_tz::Tz> {
        Ok(ctx
            .data_unchecked::<DataLoader<TimeZoneLoader>>()
            .load_one(tenant_key(&self.scope, ""))
            .await?
            .unwrap_or(chrono_tz::Tz::UTC))
    }

    async fn status_of(&self, ctx: &Context<'_>) -> Result<QuoteStatus> {
        let stored = crate::domain::quote::QuoteStatus::from_db(&self.model.status)
            .unwrap_or(crate::domain::quote::QuoteStatus::Draft);
        Ok(effective_status(
            stored,
            self.model.valid_until,
            self.zone(ctx).await?,
            chrono::Utc::now(),
        )
        .into())
    }
}

/// One version of a quote: its lines, totals, validity and what the client decided.
#[Object(requires_scopes = "crm:read")]
impl QuoteVersion {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// 1 for the first version, one more for each revision.
    async fn version(&self) -> i32 {
        self.model.version
    }

    /// Its status as the client sees it (`EXPIRED` once the valid-until day is over in the
    /// tenant's time zone).
    async fn status(&self, ctx: &Context<'_>) -> Result<QuoteStatus> {
        self.status_of(ctx).await
    }

    /// The last day it may be accepted, in the tenant's time zone.
    async fn valid_until(&self) -> Date {
        Date(self.model.valid_until)
    }

    /// The instant it expires: the end of `validUntil` in the tenant's time zone.
    async fn expires_at(&self, ctx: &Context<'_>) -> Result<DateTime> {
        Ok(DateTime::from(expires_at(
            self.model.valid_until,
            self.zone(ctx).await?,
        )))
    }

    /// Terms and conditions.
    async fn terms(&self) -> Option<&str> {
        self.model.terms.as_deref()
    }

    /// The lines, in order (optional ones too; only selected ones count).
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<QuoteLine>> {
        Ok(ctx
            .data_unchecked::<DataLoader<LinesLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| QuoteLine {
                model,
                currency: self.quote.currency.clone(),
            })
            .collect())
    }

    /// Σ quantity × unit price of the counted lines.
    async fn subtotal(&self) -> Result<Money> {
        money(self.model.subtotal_minor, &self.quote.currency)
    }

    /// Σ discounts of the counted lines.
    async fn discount(&self) -> Result<Money> {
        money(self.model.discount_minor, &self.quote.currency)
    }

    /// Σ taxes of the counted lines.
    async fn tax(&self) -> Result<Money> {
        money(self.model.tax_minor, &self.quote.currency)
    }

    /// subtotal − discount + tax.
    async fn total(&self) -> Result<Money> {
        money(self.model.total_minor, &self.quote.currency)
    }

    /// SHA-256 (hex) of the version as sent: an acceptance gives it back to prove what the
    /// client was shown. Null while a draft.
    async fn content_hash(&self) -> Option<&str> {
        self.model.content_hash.as_deref()
    }

    /// When it was sent.
    async fn sent_at(&self) -> Option<DateTime> {
        self.model.sent_at.map(instant)
    }

    /// When the client accepted or declined it.
    async fn decided_at(&self) -> Option<DateTime> {
        self.model.decided_at.map(instant)
    }

    /// Who accepted (the name signed) or declined it.
    async fn decided_by(&self) -> Option<&str> {
        self.model.decided_by.as_deref()
    }

    /// The reason given with a decline.
    async fn decision_note(&self) -> Option<&str> {
        self.model.decision_note.as_deref()
    }

    /// When the version was made.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A line of a quote version.
pub struct QuoteLine {
    pub model: quote_line::Model,
    pub currency: String,
}

/// A line of a quote version: quantity × unit price, less a discount, plus tax.
#[Object(requires_scopes = "crm:read")]
impl QuoteLine {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its place in the version, from 0.
    async fn position(&self) -> i32 {
        self.model.position
    }

    /// The price list item's code, when it came from one.
    async fn code(&self) -> Option<&str> {
        self.model.code.as_deref()
    }

    /// What is sold.
    async fn description(&self) -> &str {
        &self.model.description
    }

    /// How many (up to three decimals).
    async fn quantity(&self) -> Decimal {
        scaled(self.model.quantity_milli, 3)
    }

    /// The price of one.
    async fn unit_price(&self) -> Result<Money> {
        money(self.model.unit_price_minor, &self.currency)
    }

    /// The discount, in percent (up to two decimals).
    async fn discount_percent(&self) -> Decimal {
        scaled(i64::from(self.model.discount_bp), 2)
    }

    /// The tax rate, in percent (up to two decimals).
    async fn tax_rate_percent(&self) -> Decimal {
        scaled(i64::from(self.model.tax_rate_bp), 2)
    }

    /// An optional line is offered; it counts only when selected.
    async fn optional(&self) -> bool {
        self.model.optional
    }

    /// Whether it counts in the totals (always for a required line).
    async fn selected(&self) -> bool {
        self.model.selected
    }

    /// quantity × unit price, rounded to the minor unit.
    async fn net(&self) -> Result<Money> {
        money(self.model.net_minor, &self.currency)
    }

    /// The discount on the net amount.
    async fn discount(&self) -> Result<Money> {
        money(self.model.discount_minor, &self.currency)
    }

    /// The tax on the discounted amount.
    async fn tax(&self) -> Result<Money> {
        money(self.model.tax_minor, &self.currency)
    }

    /// net − discount + tax.
    async fn total(&self) -> Result<Money> {
        money(self.model.total_minor, &self.currency)
    }
}

/// A proposal wrapping one or more quotes in sections.
pub struct Proposal {
    pub model: proposal::Model,
    pub sections: Vec<proposal_section::Model>,
    pub scope: Scope,
}

/// A proposal: sections of text, some wrapping quotes, accepted as a whole.
#[Object(requires_scopes = "crm:read")]
impl Proposal {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its title.
    async fn title(&self) -> &str {
        &self.model.title
    }

    /// Where it is.
    async fn status(&self) -> ProposalStatus {
        crate::domain::quote::ProposalStatus::from_db(&self.model.status)
            .unwrap_or(crate::domain::quote::ProposalStatus::Draft)
            .into()
    }

    /// The client it is for.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        load_client(ctx, &self.scope, &self.model.client_id).await
    }

    /// The opportunity it belongs to.
    async fn opportunity(&self, ctx: &Context<'_>) -> Result<Option<Opportunity>> {
        match &self.model.opportunity_id {
            Some(id) => load_opportunity(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }

    /// Its sections, in order.
    async fn sections(&self) -> Vec<ProposalSection> {
        self.sections
            .iter()
            .cloned()
            .map(|model| ProposalSection {
                model,
                scope: self.scope.clone(),
            })
            .collect()
    }

    /// SHA-256 (hex) of the proposal as sent: its title, sections and the exact versions of
    /// its quotes. An acceptance gives it back. Null while a draft.
    async fn content_hash(&self) -> Option<&str> {
        self.model.content_hash.as_deref()
    }

    /// When it was (last) sent.
    async fn sent_at(&self) -> Option<DateTime> {
        self.model.sent_at.map(instant)
    }

    /// When the client accepted or rejected it.
    async fn decided_at(&self) -> Option<DateTime> {
        self.model.decided_at.map(instant)
    }

    /// Who accepted (the name signed) or rejected it.
    async fn decided_by(&self) -> Option<&str> {
        self.model.decided_by.as_deref()
    }

    /// The reason given with a rejection.
    async fn decision_note(&self) -> Option<&str> {
        self.model.decision_note.as_deref()
    }

    /// The user who owns it.
    async fn owner_id(&self) -> ID {
        ID(self.model.owner_id.clone())
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A section of a proposal.
pub struct ProposalSection {
    pub model: proposal_section::Model,
    pub scope: Scope,
}

/// A section of a proposal: a title, text and, maybe, a quote.
#[Object(requires_scopes = "crm:read")]
impl ProposalSection {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its place in the proposal, from 0.
    async fn position(&self) -> i32 {
        self.model.position
    }

    /// Its title.
    async fn title(&self) -> &str {
        &self.model.title
    }

    /// Its text.
    async fn body(&self) -> &str {
        &self.model.body
    }

    /// The quote it wraps.
    async fn quote(&self, ctx: &Context<'_>) -> Result<Option<Quote>> {
        match &self.model.quote_id {
            Some(id) => load_quote(ctx, &self.scope, id).await,
            None => Ok(None),
        }
    }
}

/// A price list in one currency.
pub struct PriceList {
    pub model: price_list::Model,
    pub scope: Scope,
}

/// A price list: products and services at a price in one currency.
#[Object(requires_scopes = "crm:read")]
impl PriceList {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Its currency.
    async fn currency(&self) -> Result<Currency> {
        Currency::parse(&self.model.currency)
            .map_err(|_| ApiError::internal("a stored currency is unknown").into())
    }

    /// Its items, by code.
    async fn items(&self, ctx: &Context<'_>) -> Result<Vec<PriceListItem>> {
        Ok(ctx
            .data_unchecked::<DataLoader<ItemsLoader>>()
            .load_one(tenant_key(&self.scope, &self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| PriceListItem {
                model,
                currency: self.model.currency.clone(),
            })
            .collect())
    }

    /// When it was set up.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A product or service on a price list.
pub struct PriceListItem {
    pub model: price_list_item::Model,
    pub currency: String,
}

/// A product or service on a price list.
#[Object(requires_scopes = "crm:read")]
impl PriceListItem {
    /// Stable id (UUIDv7): what a quote line names as `itemId`.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its code (unique in the list).
    async fn code(&self) -> &str {
        &self.model.code
    }

    /// Its name (a quote line's description by default).
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// The price of one.
    async fn unit_price(&self) -> Result<Money> {
        money(self.model.unit_price_minor, &self.currency)
    }

    /// The tax rate, in percent.
    async fn tax_rate_percent(&self) -> Decimal {
        scaled(i64::from(self.model.tax_rate_bp), 2)
    }
}
