//! Templates, campaigns and the transactional stream.

use crate::app::Marketing;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;

use super::context::caller;
use super::objects::{instant, AbWinnerBy, Campaign, EmailTemplate, EmailTemplateKind};
use crate::app::campaigns::{AbTestFields, CampaignFields, NewTemplate};
use crate::domain::campaign::CampaignStatus;
use crate::domain::template::TokenValues;

/// A new template; tokens are `{{first_name}}`, `{{last_name}}`, `{{email}}`, `{{country}}`
/// and `{{unsubscribe_url}}` (any other is refused).
#[derive(InputObject)]
pub struct CreateEmailTemplateInput {
    /// Its name.
    pub name: String,
    /// Bulk (campaigns) or transactional.
    pub kind: EmailTemplateKind,
    /// The subject.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// A new campaign (a draft).
#[derive(InputObject)]
pub struct CreateCampaignInput {
    /// Its name.
    pub name: String,
    /// The bulk template it sends.
    pub template_id: ID,
    /// The segment it sends to.
    pub segment_id: ID,
    /// Only contacts subscribed to this topic (its key).
    pub topic: Option<String>,
    /// An A/B test: `templateId` is variant A, the test's templates the challengers.
    pub ab_test: Option<AbTestInput>,
    /// The sending provider it goes through (its rate and daily cap apply); the tenant's
    /// default provider when absent.
    pub provider_id: Option<ID>,
}

/// A campaign's A/B test (AB_TEST_INVALID when out of bounds).
#[derive(InputObject)]
pub struct AbTestInput {
    /// The challengers' bulk templates (variants B, C, ...: 1 to 4 of them); the campaign's
    /// own template is variant A.
    pub variants: Vec<ID>,
    /// The share of the audience the test goes to, split evenly between the variants: 1 to
    /// 100 percent (100: the whole audience is split, the winner is only recorded).
    pub test_percent: i32,
    /// How the winner is chosen.
    pub winner_by: AbWinnerBy,
    /// How long after the start the winner is chosen (OPEN_RATE and CLICK_RATE): 0 to 10,080
    /// minutes (a week); 0 when absent.
    pub wait_minutes: Option<i32>,
}

impl From<AbTestInput> for AbTestFields {
    fn from(input: AbTestInput) -> Self {
        Self {
            challengers: input.variants.into_iter().map(|id| id.0).collect(),
            test_percent: input.test_percent,
            winner_by: input.winner_by.into(),
            wait_ms: i64::from(input.wait_minutes.unwrap_or(0)) * 60_000,
        }
    }
}

/// An A/B test's winner, chosen by hand.
#[derive(InputObject)]
pub struct ChooseCampaignWinnerInput {
    /// The campaign.
    pub campaign_id: ID,
    /// The winning variant (one of the campaign's `abTest.variants`).
    pub variant_id: ID,
}

/// Changes to a draft or scheduled campaign (refused once sending).
#[derive(InputObject)]
pub struct UpdateCampaignInput {
    /// The campaign.
    pub campaign_id: ID,
    /// A new name.
    pub name: Option<String>,
    /// Another bulk template.
    pub template_id: Option<ID>,
    /// Another segment.
    pub segment_id: Option<ID>,
    /// A new A/B test (replacing the one there is).
    pub ab_test: Option<AbTestInput>,
    /// True: the campaign's A/B test is removed.
    pub remove_ab_test: Option<bool>,
    /// Another sending provider.
    pub provider_id: Option<ID>,
    /// True: the campaign goes through the tenant's default provider.
    pub use_default_provider: Option<bool>,
}

/// When a campaign starts.
#[derive(InputObject)]
pub struct ScheduleCampaignInput {
    /// The campaign.
    pub campaign_id: ID,
    /// When it starts sending; now when absent.
    pub at: Option<DateTime>,
}

/// A campaign to pause, resume or cancel.
#[derive(InputObject)]
pub struct CampaignActionInput {
    /// The campaign.
    pub campaign_id: ID,
}

/// A transactional message.
#[derive(InputObject)]
pub struct SendTransactionalInput {
    /// A transactional template.
    pub template_id: ID,
    /// The recipient.
    pub to: String,
    /// The `{{first_name}}` token's value.
    pub first_name: Option<String>,
    /// The `{{last_name}}` token's value.
    pub last_name: Option<String>,
}

/// A transactional message handed to the relay.
#[derive(SimpleObject)]
pub struct TransactionalMessage {
    /// The message's id.
    pub id: ID,
    /// When the relay accepted it.
    pub sent_at: DateTime,
}

#[derive(Default)]
pub struct CampaignsQuery;

#[Object]
impl CampaignsQuery {
    /// A campaign.
    #[graphql(requires_scopes = "marketing:read")]
    async fn campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign's id.")] id: ID,
    ) -> Result<Option<Campaign>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .campaign(&tenant, &id)
            .await?
            .map(|model| Campaign { model }))
    }

    /// The tenant's campaigns, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn campaigns(
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
    ) -> Result<Connection<String, Campaign, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .campaigns(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| Campaign { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |c| c.model.id.clone()))
    }

    /// The tenant's e-mail templates, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn email_templates(
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
    ) -> Result<Connection<String, EmailTemplate, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .templates(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| EmailTemplate { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |t| t.model.id.clone()))
    }
}

#[derive(Default)]
pub struct CampaignsMutation;

async fn move_campaign(
    ctx: &Context<'_>,
    id: &str,
    to: CampaignStatus,
    at: Option<i64>,
) -> Result<Campaign> {
    let (tenant, actor) = caller(ctx)?;
    let model = ctx
        .use_cases::<Marketing>()?
        .move_campaign(&tenant, &actor, id, to, at)
        .await?;
    Ok(Campaign { model })
}

#[Object]
impl CampaignsMutation {
    /// Creates a template (TEMPLATE_UNKNOWN_TOKEN for a token that does not exist).
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_email_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template.")] input: CreateEmailTemplateInput,
    ) -> Result<EmailTemplate> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_template(
                &tenant,
                NewTemplate {
                    name: input.name,
                    kind: input.kind.into(),
                    subject: input.subject,
                    html: input.html,
                    text: input.text,
                },
            )
            .await?;
        Ok(EmailTemplate { model })
    }

    /// Creates a draft campaign.
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign.")] input: CreateCampaignInput,
    ) -> Result<Campaign> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_campaign(
                &tenant,
                &actor,
                CampaignFields {
                    name: Some(input.name),
                    template_id: Some(input.template_id.0),
                    segment_id: Some(input.segment_id.0),
                    topic: Some(input.topic),
                    ab_test: input.ab_test.map(|test| Some(test.into())),
                    provider_id: Some(input.provider_id.map(|id| id.0)),
                },
            )
            .await?;
        Ok(Campaign { model })
    }

    /// Changes a draft or scheduled campaign (CAMPAIGN_NOT_EDITABLE once sending).
    #[graphql(requires_scopes = "marketing:write")]
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateCampaignInput,
    ) -> Result<Campaign> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .update_campaign(
                &tenant,
                &input.campaign_id,
                CampaignFields {
                    name: input.name,
                    template_id: input.template_id.map(|id| id.0),
                    segment_id: input.segment_id.map(|id| id.0),
                    topic: None,
                    ab_test: match (input.ab_test, input.remove_ab_test) {
                        (Some(test), _) => Some(Some(test.into())),
                        (None, Some(true)) => Some(None),
                        (None, _) => None,
                    },
                    provider_id: match (input.provider_id, input.use_default_provider) {
                        (Some(id), _) => Some(Some(id.0)),
                        (None, Some(true)) => Some(None),
                        (None, _) => None,
                    },
                },
            )
            .await?;
        Ok(Campaign { model })
    }

    /// Schedules a draft campaign (now when no time is given).
    #[graphql(requires_scopes = "marketing:send")]
    async fn schedule_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign and when.")] input: ScheduleCampaignInput,
    ) -> Result<Campaign> {
        move_campaign(
            ctx,
            &input.campaign_id,
            CampaignStatus::Scheduled,
            input.at.map(|at| at.timestamp_millis()),
        )
        .await
    }

    /// Pauses a sending campaign: no new message is handed off after the current batch.
    #[graphql(requires_scopes = "marketing:send")]
    async fn pause_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign.")] input: CampaignActionInput,
    ) -> Result<Campaign> {
        move_campaign(ctx, &input.campaign_id, CampaignStatus::Paused, None).await
    }

    /// Resumes a paused campaign.
    #[graphql(requires_scopes = "marketing:send")]
    async fn resume_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign.")] input: CampaignActionInput,
    ) -> Result<Campaign> {
        move_campaign(ctx, &input.campaign_id, CampaignStatus::Sending, None).await
    }

    /// Cancels a campaign that is not sent: messages not handed off are skipped.
    #[graphql(requires_scopes = "marketing:send")]
    async fn cancel_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign.")] input: CampaignActionInput,
    ) -> Result<Campaign> {
        move_campaign(ctx, &input.campaign_id, CampaignStatus::Cancelled, None).await
    }

    /// Chooses an A/B test's winner by hand while the test runs (any test, before its wait
    /// is over): the rest of the audience is sent the winner (AB_WINNER_NOT_ALLOWED for a
    /// campaign without a test, not sending or paused, or whose winner is chosen).
    #[graphql(requires_scopes = "marketing:send")]
    async fn choose_campaign_winner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign and its winning variant.")] input: ChooseCampaignWinnerInput,
    ) -> Result<Campaign> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .choose_winner(&tenant, &actor, &input.campaign_id, &input.variant_id)
            .await?;
        Ok(Campaign { model })
    }

    /// Sends a transactional template to one address now, through the default sending
    /// provider's relay (marketing unsubscribes do not apply; TEMPLATE_KIND_MISMATCH for a bulk
    /// template; PROVIDER_RELAY_MISSING when the deployment no longer has that relay).
    #[graphql(requires_scopes = "marketing:send")]
    async fn send_transactional(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message.")] input: SendTransactionalInput,
    ) -> Result<TransactionalMessage> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .send_transactional(
                &tenant,
                &input.template_id,
                &input.to,
                TokenValues {
                    first_name: input.first_name.unwrap_or_default(),
                    last_name: input.last_name.unwrap_or_default(),
                    ..Default::default()
                },
            )
            .await?;
        Ok(TransactionalMessage {
            id: ID(model.id),
            sent_at: instant(model.sent_at),
        })
    }
}
