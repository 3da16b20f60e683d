//! The objects and enums of the schema, over the store's models.

use crate::app::Marketing;
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::loaders::TenantKey;
use erp_kit::scalars::DateTime;
use erp_kit::TenantId;

use super::loaders::{ConsentsLoader, TopicsLoader};
use crate::app::campaigns::Funnel;
use crate::domain::ab_test::{VariantResult, WinnerBy};
use crate::domain::campaign::CampaignStatus as DomainCampaignStatus;
use crate::domain::contact::{
    ContactStatus, LawfulBasis as DomainLawfulBasis, SuppressionReason as DomainSuppressionReason,
};
use crate::domain::template::TemplateKind;
use crate::domain::throttle::LimitKind;
use crate::store::entities::{campaign, consent, contact, segment, suppression, template, topic};

pub(crate) fn instant(ms: i64) -> DateTime {
    DateTime::from_millis(ms).unwrap_or_else(DateTime::now)
}

/// Where a contact stands for marketing mail.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MarketingContactStatus {
    /// Created, no consent yet (waiting for a double opt-in confirmation or a consent record).
    Pending,
    /// Receives marketing mail (with a consent in force).
    Subscribed,
    /// Unsubscribed: the address is suppressed until the contact's own confirmed re-opt-in.
    Unsubscribed,
    /// Personal data erased (GDPR); only a salted hash remains, suppressed.
    Erased,
}

impl From<ContactStatus> for MarketingContactStatus {
    fn from(status: ContactStatus) -> Self {
        match status {
            ContactStatus::Pending => Self::Pending,
            ContactStatus::Subscribed => Self::Subscribed,
            ContactStatus::Unsubscribed => Self::Unsubscribed,
            ContactStatus::Erased => Self::Erased,
        }
    }
}

impl From<MarketingContactStatus> for ContactStatus {
    fn from(status: MarketingContactStatus) -> Self {
        match status {
            MarketingContactStatus::Pending => Self::Pending,
            MarketingContactStatus::Subscribed => Self::Subscribed,
            MarketingContactStatus::Unsubscribed => Self::Unsubscribed,
            MarketingContactStatus::Erased => Self::Erased,
        }
    }
}

/// The GDPR article 6 basis of a consent record.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LawfulBasis {
    /// The person's consent.
    Consent,
    /// The controller's legitimate interest.
    LegitimateInterest,
    /// Needed for a contract with the person.
    Contract,
}

impl From<LawfulBasis> for DomainLawfulBasis {
    fn from(basis: LawfulBasis) -> Self {
        match basis {
            LawfulBasis::Consent => Self::Consent,
            LawfulBasis::LegitimateInterest => Self::LegitimateInterest,
            LawfulBasis::Contract => Self::Contract,
        }
    }
}

impl From<DomainLawfulBasis> for LawfulBasis {
    fn from(basis: DomainLawfulBasis) -> Self {
        match basis {
            DomainLawfulBasis::Consent => Self::Consent,
            DomainLawfulBasis::LegitimateInterest => Self::LegitimateInterest,
            DomainLawfulBasis::Contract => Self::Contract,
        }
    }
}

/// Why an address is suppressed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SuppressionReason {
    /// The person unsubscribed (one click, or a withdrawal recorded by staff).
    Unsubscribed,
    /// The person's data was erased (GDPR).
    Erased,
    /// The mailbox does not exist.
    HardBounce,
    /// The person reported the mail as spam.
    Complaint,
}

impl From<DomainSuppressionReason> for SuppressionReason {
    fn from(reason: DomainSuppressionReason) -> Self {
        match reason {
            DomainSuppressionReason::Unsubscribed => Self::Unsubscribed,
            DomainSuppressionReason::Erased => Self::Erased,
            DomainSuppressionReason::HardBounce => Self::HardBounce,
            DomainSuppressionReason::Complaint => Self::Complaint,
        }
    }
}

/// Bulk or transactional.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EmailTemplateKind {
    /// Sent to segments by campaigns, with the one-click unsubscribe headers.
    Bulk,
    /// Sent to one address (password reset, invoice); a marketing unsubscribe never blocks it.
    Transactional,
}

impl From<EmailTemplateKind> for TemplateKind {
    fn from(kind: EmailTemplateKind) -> Self {
        match kind {
            EmailTemplateKind::Bulk => Self::Bulk,
            EmailTemplateKind::Transactional => Self::Transactional,
        }
    }
}

impl From<TemplateKind> for EmailTemplateKind {
    fn from(kind: TemplateKind) -> Self {
        match kind {
            TemplateKind::Bulk => Self::Bulk,
            TemplateKind::Transactional => Self::Transactional,
        }
    }
}

/// Where a campaign stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CampaignStatus {
    /// Being prepared; editable.
    Draft,
    /// Waiting for its start time; still editable.
    Scheduled,
    /// Messages are going out.
    Sending,
    /// Stopped by staff; resumes where it stopped.
    Paused,
    /// Every message was handled.
    Sent,
    /// Stopped for good; messages not handed off are skipped.
    Cancelled,
}

impl From<DomainCampaignStatus> for CampaignStatus {
    fn from(status: DomainCampaignStatus) -> Self {
        match status {
            DomainCampaignStatus::Draft => Self::Draft,
            DomainCampaignStatus::Scheduled => Self::Scheduled,
            DomainCampaignStatus::Sending => Self::Sending,
            DomainCampaignStatus::Paused => Self::Paused,
            DomainCampaignStatus::Sent => Self::Sent,
            DomainCampaignStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Static list or dynamic filter.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SegmentKind {
    /// Members are the contacts matching the filter, kept up to date as contacts change.
    Dynamic,
    /// Members are added and removed by hand.
    Static,
}

/// A marketing contact (linked to a CRM person).
pub struct MarketingContact {
    pub model: contact::Model,
}

/// A marketing contact (linked to a CRM person): their address, status, consent log and topics.
#[Object]
impl MarketingContact {
    /// The contact's id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The CRM person (a CRM `Client` of kind person) this contact is.
    async fn crm_person_id(&self) -> Option<ID> {
        self.model.crm_person_id.clone().map(ID)
    }

    /// The normalised address (lower-case); null once erased.
    async fn email(&self) -> Option<&str> {
        self.model.email.as_deref()
    }

    /// Given name; null once erased.
    async fn first_name(&self) -> Option<&str> {
        self.model.first_name.as_deref()
    }

    /// Family name; null once erased.
    async fn last_name(&self) -> Option<&str> {
        self.model.last_name.as_deref()
    }

    /// ISO 3166-1 alpha-2 country, upper-case; null once erased.
    async fn country(&self) -> Option<&str> {
        self.model.country.as_deref()
    }

    /// Where the contact stands.
    async fn status(&self) -> Result<MarketingContactStatus> {
        Ok(ContactStatus::parse(&self.model.status)?.into())
    }

    /// When the contact was created.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When the contact's personal data was erased.
    async fn erased_at(&self) -> Option<DateTime> {
        self.model.erased_at.map(instant)
    }

    /// The consent log, oldest first (grants and withdrawals; never changed).
    async fn consents(&self, ctx: &Context<'_>) -> Result<Vec<ConsentRecord>> {
        let key = TenantKey::new(&TenantId::from_claim(&self.model.tenant_id), &self.model.id);
        Ok(ctx
            .data_unchecked::<DataLoader<ConsentsLoader>>()
            .load_one(key)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| ConsentRecord { model })
            .collect())
    }

    /// The keys of the topics the contact is subscribed to.
    async fn topics(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let key = TenantKey::new(&TenantId::from_claim(&self.model.tenant_id), &self.model.id);
        Ok(ctx
            .data_unchecked::<DataLoader<TopicsLoader>>()
            .load_one(key)
            .await?
            .unwrap_or_default()
            .into_iter()
            .collect())
    }
}

/// One consent record: a grant or a withdrawal, with its purpose, lawful basis, source, time
/// and the version of the wording the person saw.
pub struct ConsentRecord {
    pub model: consent::Model,
}

/// One consent record: a grant or a withdrawal, with its purpose, lawful basis, source, time and
/// the version of the wording the person saw.
#[Object]
impl ConsentRecord {
    /// The record's id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// What the consent is for (`email_marketing` for marketing mail).
    async fn purpose(&self) -> &str {
        &self.model.purpose
    }

    /// The GDPR article 6 basis.
    async fn lawful_basis(&self) -> Result<LawfulBasis> {
        Ok(DomainLawfulBasis::parse(&self.model.lawful_basis)?.into())
    }

    /// Where it was collected (a form, an import, `one_click:<campaign>`, `double_opt_in:...`).
    async fn source(&self) -> &str {
        &self.model.source
    }

    /// The version of the consent wording the person saw.
    async fn wording_version(&self) -> &str {
        &self.model.wording_version
    }

    /// True for a grant, false for a withdrawal.
    async fn granted(&self) -> bool {
        self.model.granted
    }

    /// Who recorded it: a staff user id, or `contact` for the person's own act.
    async fn actor(&self) -> &str {
        &self.model.actor
    }

    /// When it was recorded.
    async fn recorded_at(&self) -> DateTime {
        instant(self.model.recorded_at)
    }

    /// Its double opt-in state: `PENDING` (waiting for the contact's confirmation: not in
    /// force), `CONFIRMED`, or null for a record that needed no confirmation.
    async fn confirmation(&self) -> Option<ConsentConfirmation> {
        match self.model.confirmation.as_deref() {
            Some(crate::store::contacts::PENDING) => Some(ConsentConfirmation::Pending),
            Some(crate::store::contacts::CONFIRMED) => Some(ConsentConfirmation::Confirmed),
            _ => None,
        }
    }

    /// When the contact confirmed it.
    async fn confirmed_at(&self) -> Option<DateTime> {
        self.model.confirmed_at.map(instant)
    }

    /// What confirmed it (`confirmation_link`: the signed link of the confirmation mail).
    async fn confirmed_source(&self) -> Option<&str> {
        self.model.confirmed_source.as_deref()
    }

    /// The client address the confirmation came from.
    async fn confirmed_address(&self) -> Option<&str> {
        self.model.confirmed_address.as_deref()
    }
}

/// A consent record's double opt-in state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ConsentConfirmation {
    /// Waiting for the contact's confirmation: the consent is not in force.
    Pending,
    /// Confirmed by the contact: in force.
    Confirmed,
}

/// A preference topic contacts subscribe to.
#[derive(SimpleObject)]
pub struct MarketingTopic {
    /// The topic's key (lower-case).
    pub key: String,
    /// Its display name.
    pub name: String,
}

impl From<topic::Model> for MarketingTopic {
    fn from(model: topic::Model) -> Self {
        Self {
            key: model.key,
            name: model.name,
        }
    }
}

/// A suppressed address, known by its salted hash only.
pub struct Suppression {
    pub model: suppression::Model,
}

/// A suppressed address, known by its salted hash only.
#[Object]
impl Suppression {
    /// The address's HMAC under the tenant's key (the address itself is never kept here).
    async fn address_hash(&self) -> &str {
        &self.model.address_hash
    }

    /// Why it is suppressed.
    async fn reason(&self) -> Result<SuppressionReason> {
        Ok(DomainSuppressionReason::parse(&self.model.reason)?.into())
    }

    /// What suppressed it (`one_click:<campaign>`, `gdpr_erasure`, `staff_withdrawal`).
    async fn source(&self) -> &str {
        &self.model.source
    }

    /// When it was suppressed.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }
}

/// A segment: a dynamic filter over contacts or a static list.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Segment {
    /// The segment's id.
    pub id: ID,
    /// Its name.
    pub name: String,
    /// Dynamic or static.
    pub kind: SegmentKind,
    /// The filter tree as JSON (dynamic segments), in the stored shape.
    pub filter_json: Option<String>,
    #[graphql(skip)]
    pub tenant_id: String,
}

impl From<segment::Model> for Segment {
    fn from(model: segment::Model) -> Self {
        Self {
            id: ID(model.id),
            name: model.name,
            kind: if model.kind == "static" {
                SegmentKind::Static
            } else {
                SegmentKind::Dynamic
            },
            filter_json: model.filter,
            tenant_id: model.tenant_id,
        }
    }
}

#[ComplexObject]
impl Segment {
    /// How many contacts are members now.
    async fn member_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(ctx
            .use_cases::<Marketing>()?
            .segment_member_count(&TenantId::from_claim(&self.tenant_id), &self.id)
            .await? as i64)
    }
}

/// An e-mail template.
pub struct EmailTemplate {
    pub model: template::Model,
}

/// An e-mail template with `{{token}}` placeholders.
#[Object]
impl EmailTemplate {
    /// The template's id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Bulk or transactional.
    async fn kind(&self) -> Result<EmailTemplateKind> {
        Ok(TemplateKind::parse(&self.model.kind)?.into())
    }

    /// The subject, with tokens.
    async fn subject(&self) -> &str {
        &self.model.subject
    }

    /// The HTML part, with tokens.
    async fn html(&self) -> &str {
        &self.model.html
    }

    /// The plain-text part, with tokens.
    async fn text(&self) -> &str {
        &self.model.text
    }
}

/// The sending limit a message waits for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SendingLimitKind {
    /// The tenant's messages per minute.
    TenantPerMinute,
    /// The tenant's messages per recipient domain per minute.
    DomainPerMinute,
    /// The sending provider's messages per second.
    ProviderPerSecond,
    /// The sending provider's messages per hour.
    ProviderPerHour,
    /// The sending provider's daily cap (a UTC day).
    ProviderPerDay,
}

impl From<LimitKind> for SendingLimitKind {
    fn from(kind: LimitKind) -> Self {
        match kind {
            LimitKind::TenantMinute => Self::TenantPerMinute,
            LimitKind::DomainMinute => Self::DomainPerMinute,
            LimitKind::ProviderSecond => Self::ProviderPerSecond,
            LimitKind::ProviderHour => Self::ProviderPerHour,
            LimitKind::ProviderDay => Self::ProviderPerDay,
        }
    }
}

/// How many of a campaign's messages a limit deferred.
#[derive(SimpleObject)]
pub struct DeferredCount {
    /// The limit whose window was full.
    pub limit: SendingLimitKind,
    /// Messages waiting for its next window.
    pub messages: i64,
}

/// A campaign's funnel.
#[derive(SimpleObject)]
pub struct CampaignFunnel {
    /// Messages waiting to be sent.
    pub queued: i64,
    /// Messages waiting for the A/B test's winner (the audience outside the test share).
    pub held: i64,
    /// Of the queued, those deferred to a later window by the tenant's sending limits or its
    /// provider's rate or daily cap.
    pub deferred: i64,
    /// Of the deferred, how many each limit deferred (the longest window first).
    pub deferred_by: Vec<DeferredCount>,
    /// The earliest time a deferred message may go; null: none is deferred.
    pub deferred_until: Option<DateTime>,
    /// Messages the relay accepted.
    pub sent: i64,
    /// Messages not sent at send time (suppressed, unsubscribed, no consent, topic opt-out, cancelled).
    pub skipped: i64,
    /// Messages the relay refused.
    pub failed: i64,
    /// Messages handed to the relay by a sender that died before it heard back: never retried.
    pub in_doubt: i64,
    /// Messages opened (pixel loaded or a link clicked).
    pub opened: i64,
    /// Messages with a link clicked.
    pub clicked: i64,
    /// Sent messages the mail provider reported bounced (hard or soft).
    pub bounced: i64,
    /// Sent messages not reported bounced.
    pub delivered: i64,
    /// Messages the recipient reported as spam (the provider's complaint webhook).
    pub complained: i64,
    /// Contacts who unsubscribed through this campaign's one-click link.
    pub unsubscribed: i64,
    /// Complaints per delivered message, 0 to 1 (Gmail's bulk-sender rules: under 0.003).
    pub complaint_rate: f64,
    /// Unsubscribes per delivered message, 0 to 1.
    pub unsubscribe_rate: f64,
    /// CRM leads the campaign brought (their UTM campaign is the campaign's id) that
    /// converted.
    pub converted: i64,
}

impl From<Funnel> for CampaignFunnel {
    fn from(f: Funnel) -> Self {
        Self {
            complaint_rate: f.complaint_rate(),
            unsubscribe_rate: f.unsubscribe_rate(),
            queued: f.queued,
            held: f.held,
            deferred: f.deferred,
            deferred_by: f
                .deferred_by
                .iter()
                .map(|(limit, messages)| DeferredCount {
                    limit: (*limit).into(),
                    messages: *messages,
                })
                .collect(),
            deferred_until: f.deferred_until.map(instant),
            sent: f.sent,
            skipped: f.skipped,
            failed: f.failed,
            in_doubt: f.in_doubt,
            opened: f.opened,
            clicked: f.clicked,
            bounced: f.bounced,
            delivered: f.delivered,
            complained: f.complained,
            unsubscribed: f.unsubscribed,
            converted: f.converted,
        }
    }
}

/// A broadcast campaign: a bulk template sent to a segment.
pub struct Campaign {
    pub model: campaign::Model,
}

/// A broadcast campaign: a bulk template sent to a segment.
#[Object]
impl Campaign {
    /// The campaign's id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Where it stands.
    async fn status(&self) -> Result<CampaignStatus> {
        Ok(DomainCampaignStatus::parse(&self.model.status)?.into())
    }

    /// The bulk template it sends.
    async fn template_id(&self) -> ID {
        ID(self.model.template_id.clone())
    }

    /// The segment it sends to (membership read when sending starts).
    async fn segment_id(&self) -> ID {
        ID(self.model.segment_id.clone())
    }

    /// Only contacts subscribed to this topic receive it, when set.
    async fn topic(&self) -> Option<&str> {
        self.model.topic.as_deref()
    }

    /// The sending provider it goes through; null: the tenant's default (if any).
    async fn provider_id(&self) -> Option<ID> {
        self.model.provider_id.clone().map(ID)
    }

    /// When it starts sending (scheduled campaigns).
    async fn scheduled_at(&self) -> Option<DateTime> {
        self.model.scheduled_at.map(instant)
    }

    /// When sending started.
    async fn started_at(&self) -> Option<DateTime> {
        self.model.started_at.map(instant)
    }

    /// When it was sent or cancelled.
    async fn finished_at(&self) -> Option<DateTime> {
        self.model.finished_at.map(instant)
    }

    /// Bumped by every change.
    async fn version(&self) -> i32 {
        self.model.version
    }

    /// Sent, skipped, opened, clicked...
    async fn funnel(&self, ctx: &Context<'_>) -> Result<CampaignFunnel> {
        Ok(ctx
            .use_cases::<Marketing>()?
            .funnel(&TenantId::from_claim(&self.model.tenant_id), &self.model.id)
            .await?
            .into())
    }

    /// Its A/B test (null: every contact gets the campaign's template).
    async fn ab_test(&self) -> Option<CampaignAbTest> {
        let percent = self.model.ab_test_percent?;
        Some(CampaignAbTest {
            model: self.model.clone(),
            test_percent: percent,
        })
    }
}

/// How an A/B test's winner is chosen.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AbWinnerBy {
    /// The variant whose test messages were opened most (per message sent), once the wait is
    /// over.
    OpenRate,
    /// The variant whose test messages had a link clicked most (per message sent), once the
    /// wait is over.
    ClickRate,
    /// A person chooses (chooseCampaignWinner); the rest of the audience waits until then.
    Manual,
}

impl From<WinnerBy> for AbWinnerBy {
    fn from(by: WinnerBy) -> Self {
        match by {
            WinnerBy::OpenRate => Self::OpenRate,
            WinnerBy::ClickRate => Self::ClickRate,
            WinnerBy::Manual => Self::Manual,
        }
    }
}

impl From<AbWinnerBy> for WinnerBy {
    fn from(by: AbWinnerBy) -> Self {
        match by {
            AbWinnerBy::OpenRate => Self::OpenRate,
            AbWinnerBy::ClickRate => Self::ClickRate,
            AbWinnerBy::Manual => Self::Manual,
        }
    }
}

/// A campaign's A/B test: variant A is the campaign's template, B, C, ... the challengers;
/// the test share of the audience is split evenly between them, the rest is sent the winner.
pub struct CampaignAbTest {
    model: campaign::Model,
    test_percent: i32,
}

/// A campaign's A/B test: variant A is the campaign's template, B, C, ... the challengers;
/// the test share of the audience is split evenly between them, the rest is sent the winner.
#[Object]
impl CampaignAbTest {
    /// The share of the audience in the test, 1 to 100 percent.
    async fn test_percent(&self) -> i32 {
        self.test_percent
    }

    /// How the winner is chosen.
    async fn winner_by(&self) -> Result<AbWinnerBy> {
        Ok(WinnerBy::parse(self.model.ab_winner_by.as_deref().unwrap_or("manual"))?.into())
    }

    /// How long after the start the winner is chosen (automatic tests), in minutes.
    async fn wait_minutes(&self) -> i64 {
        self.model.ab_wait_ms.unwrap_or(0) / 60_000
    }

    /// When the winner is chosen at the earliest (automatic tests, once sending started;
    /// later when the test's messages are still going out then).
    async fn decide_at(&self) -> Option<DateTime> {
        if self.model.ab_winner_by.as_deref() == Some(WinnerBy::Manual.as_str()) {
            return None;
        }
        self.model
            .started_at
            .map(|at| instant(at + self.model.ab_wait_ms.unwrap_or(0)))
    }

    /// The winning variant, once chosen.
    async fn winner_variant_id(&self) -> Option<ID> {
        self.model.ab_winner_variant_id.clone().map(ID)
    }

    /// When the winner was chosen.
    async fn decided_at(&self) -> Option<DateTime> {
        self.model.ab_decided_at.map(instant)
    }

    /// The variants, A first, each with its funnel.
    async fn variants(&self, ctx: &Context<'_>) -> Result<Vec<CampaignVariant>> {
        let winner = self.model.ab_winner_variant_id.as_deref();
        Ok(ctx
            .use_cases::<Marketing>()?
            .variant_funnels(&TenantId::from_claim(&self.model.tenant_id), &self.model.id)
            .await?
            .into_iter()
            .map(|v| CampaignVariant {
                id: ID(v.variant.id.clone()),
                label: v.variant.label,
                template_id: ID(v.variant.template_id),
                winner: winner == Some(v.variant.id.as_str()),
                funnel: v.funnel.into(),
            })
            .collect())
    }
}

/// One variant of an A/B test.
#[derive(SimpleObject)]
pub struct CampaignVariant {
    /// The variant's id (chooseCampaignWinner takes it).
    pub id: ID,
    /// `A` (the campaign's own template), `B`, `C`, ...
    pub label: String,
    /// The bulk template it sends.
    pub template_id: ID,
    /// Whether it won the test.
    pub winner: bool,
    /// What its messages did: its share of the test and, for the winner, the rest of the
    /// audience.
    pub funnel: VariantFunnel,
}

/// One A/B variant's funnel (the variants' funnels add up to the campaign's, held messages
/// aside). Conversions are counted per campaign only (a lead's UTM names the campaign).
#[derive(SimpleObject)]
pub struct VariantFunnel {
    /// Messages waiting to be sent.
    pub queued: i64,
    /// Messages the relay accepted.
    pub sent: i64,
    /// Messages not sent at send time (suppressed, unsubscribed, no consent, cancelled).
    pub skipped: i64,
    /// Messages the relay refused.
    pub failed: i64,
    /// Messages handed to the relay by a sender that died before it heard back.
    pub in_doubt: i64,
    /// Messages opened (pixel loaded or a link clicked).
    pub opened: i64,
    /// Messages with a link clicked.
    pub clicked: i64,
    /// Sent messages the provider reported bounced.
    pub bounced: i64,
    /// Sent messages not reported bounced.
    pub delivered: i64,
    /// Messages the recipient reported as spam.
    pub complained: i64,
    /// Contacts who unsubscribed through this variant's one-click link.
    pub unsubscribed: i64,
    /// Opened per sent message, 0 to 1 (what OPEN_RATE compares).
    pub open_rate: f64,
    /// Clicked per sent message, 0 to 1 (what CLICK_RATE compares).
    pub click_rate: f64,
}

impl From<Funnel> for VariantFunnel {
    fn from(f: Funnel) -> Self {
        let result = VariantResult {
            sent: f.sent,
            opened: f.opened,
            clicked: f.clicked,
        };
        Self {
            open_rate: result.rate(WinnerBy::OpenRate),
            click_rate: result.rate(WinnerBy::ClickRate),
            queued: f.queued,
            sent: f.sent,
            skipped: f.skipped,
            failed: f.failed,
            in_doubt: f.in_doubt,
            opened: f.opened,
            clicked: f.clicked,
            bounced: f.bounced,
            delivered: f.delivered,
            complained: f.complained,
            unsubscribed: f.unsubscribed,
        }
    }
}
