//! Social channel accounts and posts: written, scheduled, published by the publisher through
//! the channel adapter, with their UTM attribution (clicks on the tracked link, CRM leads).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::{RequestContext, TenantId};

use super::context::caller;
use super::loaders::ChannelAccountLoader;
use super::objects::instant;
use crate::app::social::{kind_of, PostFields};
use crate::app::Marketing;
use crate::domain::social::{ChannelKind, PostStatus};
use crate::store::entities::{channel_account, social_post};

/// The network a channel account is on (each takes bodies up to its own length).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SocialChannelKind {
    /// X (bodies up to 280 characters).
    X,
    /// LinkedIn (up to 3,000).
    Linkedin,
    /// Facebook (up to 63,206).
    Facebook,
    /// Instagram (up to 2,200).
    Instagram,
    /// Mastodon (up to 500, a default instance's limit).
    Mastodon,
}

impl From<SocialChannelKind> for ChannelKind {
    fn from(kind: SocialChannelKind) -> Self {
        match kind {
            SocialChannelKind::X => ChannelKind::X,
            SocialChannelKind::Linkedin => ChannelKind::LinkedIn,
            SocialChannelKind::Facebook => ChannelKind::Facebook,
            SocialChannelKind::Instagram => ChannelKind::Instagram,
            SocialChannelKind::Mastodon => ChannelKind::Mastodon,
        }
    }
}

impl From<ChannelKind> for SocialChannelKind {
    fn from(kind: ChannelKind) -> Self {
        match kind {
            ChannelKind::X => SocialChannelKind::X,
            ChannelKind::LinkedIn => SocialChannelKind::Linkedin,
            ChannelKind::Facebook => SocialChannelKind::Facebook,
            ChannelKind::Instagram => SocialChannelKind::Instagram,
            ChannelKind::Mastodon => SocialChannelKind::Mastodon,
        }
    }
}

/// Where a social post stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SocialPostStatus {
    /// Being written; not going out.
    Draft,
    /// Goes out at `scheduledAt`.
    Scheduled,
    /// Handed to its channel; the channel's answer is not recorded yet.
    Publishing,
    /// The channel published it (`externalId`).
    Published,
    /// The channel refused it, or its publisher vanished mid-hand-off (`failureReason`
    /// `publish_outcome_unknown`: check the channel before retrying). Only an explicit retry
    /// sends it again.
    Failed,
}

impl From<PostStatus> for SocialPostStatus {
    fn from(status: PostStatus) -> Self {
        match status {
            PostStatus::Draft => SocialPostStatus::Draft,
            PostStatus::Scheduled => SocialPostStatus::Scheduled,
            PostStatus::Publishing => SocialPostStatus::Publishing,
            PostStatus::Published => SocialPostStatus::Published,
            PostStatus::Failed => SocialPostStatus::Failed,
        }
    }
}

impl From<SocialPostStatus> for PostStatus {
    fn from(status: SocialPostStatus) -> Self {
        match status {
            SocialPostStatus::Draft => PostStatus::Draft,
            SocialPostStatus::Scheduled => PostStatus::Scheduled,
            SocialPostStatus::Publishing => PostStatus::Publishing,
            SocialPostStatus::Published => PostStatus::Published,
            SocialPostStatus::Failed => PostStatus::Failed,
        }
    }
}

/// A tenant's account on a social network.
pub struct SocialChannelAccount {
    pub model: channel_account::Model,
}

/// A tenant's account on a social network, which posts are written for.
#[Object]
impl SocialChannelAccount {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The network.
    async fn kind(&self) -> Result<SocialChannelKind> {
        Ok(kind_of(&self.model)?.into())
    }

    /// The account's handle on the network.
    async fn handle(&self) -> &str {
        &self.model.handle
    }

    /// The longest post body the network takes, in characters.
    async fn max_body_length(&self) -> Result<i32> {
        Ok(kind_of(&self.model)?.max_body_chars() as i32)
    }

    /// When it was added.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When it was disabled; null while it is enabled. A disabled account's posts are not
    /// scheduled or retried (CHANNEL_ACCOUNT_DISABLED).
    async fn disabled_at(&self) -> Option<DateTime> {
        self.model.disabled_at.map(instant)
    }

    /// Who disabled it (a user id); null while it is enabled.
    async fn disabled_by(&self) -> Option<&str> {
        self.model.disabled_by.as_deref()
    }

    /// Why it was disabled; null while it is enabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.model.disabled_reason.as_deref()
    }
}

/// A social post.
pub struct SocialPost {
    pub model: social_post::Model,
}

impl SocialPost {
    async fn account_model(&self, ctx: &Context<'_>) -> Result<Option<channel_account::Model>> {
        let key = TenantKey::new(
            &TenantId::from_claim(&self.model.tenant_id),
            &self.model.account_id,
        );
        ctx.data_unchecked::<DataLoader<ChannelAccountLoader>>()
            .load_one(key)
            .await
    }
}

/// A post written for one channel account: its body and link, its schedule and where it
/// stands, what the channel answered, and what it brought (clicks, CRM leads).
#[Object]
impl SocialPost {
    /// Its id (also its `utm_content`).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// The account it goes out on.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<SocialChannelAccount>> {
        Ok(self
            .account_model(ctx)
            .await?
            .map(|model| SocialChannelAccount { model }))
    }

    /// The campaign it belongs to (its `utm_campaign`).
    async fn campaign_id(&self) -> Option<ID> {
        self.model.campaign_id.clone().map(ID)
    }

    /// The text.
    async fn body(&self) -> &str {
        &self.model.body
    }

    /// The link as entered.
    async fn link(&self) -> Option<&str> {
        self.model.link.as_deref()
    }

    /// The link with the post's UTM parameters: `utm_source` the channel, `utm_medium=social`,
    /// `utm_campaign` the campaign, `utm_content` the post.
    async fn utm_link(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(account) = self.account_model(ctx).await? else {
            return Ok(None);
        };
        Ok(Marketing::utm_link(&self.model, kind_of(&account)?))
    }

    /// The link that goes out with the post: each click is counted, then redirected to
    /// `utmLink`.
    async fn tracked_link(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(ctx.use_cases::<Marketing>()?.tracked_link(&self.model))
    }

    /// Where it stands.
    async fn status(&self) -> Result<SocialPostStatus> {
        Ok(PostStatus::parse(&self.model.status)?.into())
    }

    /// When it goes (or went) out.
    async fn scheduled_at(&self) -> Option<DateTime> {
        self.model.scheduled_at.map(instant)
    }

    /// How many times it was handed to its channel.
    async fn attempts(&self) -> i32 {
        self.model.attempts
    }

    /// When the channel published it.
    async fn published_at(&self) -> Option<DateTime> {
        self.model.published_at.map(instant)
    }

    /// The network's id of the published post.
    async fn external_id(&self) -> Option<&str> {
        self.model.external_id.as_deref()
    }

    /// Why it failed (the channel's answer, or `publish_outcome_unknown`).
    async fn failure_reason(&self) -> Option<&str> {
        self.model.failure_reason.as_deref()
    }

    /// When it failed.
    async fn failed_at(&self) -> Option<DateTime> {
        self.model.failed_at.map(instant)
    }

    /// Clicks on its tracked link.
    async fn clicks(&self) -> i64 {
        self.model.clicks
    }

    /// CRM leads it brought (their `utm_content` is the post).
    async fn leads(&self, ctx: &Context<'_>) -> Result<i64> {
        let (leads, _) = self.lead_counts(ctx).await?;
        Ok(leads as i64)
    }

    /// Of its leads, those that converted.
    async fn conversions(&self, ctx: &Context<'_>) -> Result<i64> {
        let (_, converted) = self.lead_counts(ctx).await?;
        Ok(converted as i64)
    }

    /// Bumped by every change.
    async fn version(&self) -> i32 {
        self.model.version
    }

    /// When it was written.
    async fn created_at(&self) -> DateTime {
        instant(self.model.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        instant(self.model.updated_at)
    }
}

impl SocialPost {
    async fn lead_counts(&self, ctx: &Context<'_>) -> Result<(u64, u64)> {
        let tenant = TenantId::from_claim(&self.model.tenant_id);
        Ok(ctx
            .use_cases::<Marketing>()?
            .social_post_leads(&tenant, &self.model.id)
            .await?)
    }
}

/// A new channel account.
#[derive(InputObject)]
pub struct CreateSocialChannelAccountInput {
    /// The network.
    pub kind: SocialChannelKind,
    /// The account's handle there (1 to 100 characters, no spaces; one per network and
    /// tenant).
    pub handle: String,
}

/// A new social post (a draft).
#[derive(InputObject)]
pub struct CreateSocialPostInput {
    /// The channel account it goes out on.
    pub account_id: ID,
    /// The text: not empty, at most the network's length.
    pub body: String,
    /// A link to go with it (absolute http(s)); it goes out tracked, with UTM parameters.
    pub link: Option<String>,
    /// The campaign it belongs to (its `utm_campaign`).
    pub campaign_id: Option<ID>,
}

/// Changes to a post not yet handed off (absent: unchanged; null: cleared).
#[derive(InputObject)]
pub struct UpdateSocialPostInput {
    /// The post.
    pub post_id: ID,
    /// The new text.
    pub body: Option<String>,
    /// The new link; null removes it.
    pub link: MaybeUndefined<String>,
    /// The new campaign; null removes it.
    pub campaign_id: MaybeUndefined<ID>,
}

/// When a post goes out.
#[derive(InputObject)]
pub struct ScheduleSocialPostInput {
    /// The post (a draft, or a scheduled one to move).
    pub post_id: ID,
    /// When: a time still to come.
    pub at: DateTime,
}

/// A failed post sent again.
#[derive(InputObject)]
pub struct RetrySocialPostInput {
    /// The failed post.
    pub post_id: ID,
    /// When (a time still to come); now when absent.
    pub at: Option<DateTime>,
}

/// A channel account to disable.
#[derive(InputObject)]
pub struct DisableSocialChannelAccountInput {
    /// The account.
    pub account_id: ID,
    /// Why (1 to 500 characters), kept on the account.
    pub reason: String,
}

/// A disabled channel account to enable again.
#[derive(InputObject)]
pub struct EnableSocialChannelAccountInput {
    /// The account.
    pub account_id: ID,
}

/// What disabling a channel account did.
#[derive(SimpleObject)]
pub struct DisableSocialChannelAccountPayload {
    /// The account, disabled.
    pub account: SocialChannelAccount,
    /// How many of its scheduled posts went back to draft (0 when it was disabled already).
    pub unscheduled_posts: i32,
}

/// A scheduled post taken back to draft.
#[derive(InputObject)]
pub struct UnscheduleSocialPostInput {
    /// The scheduled post.
    pub post_id: ID,
}

fn maybe<T, U>(value: MaybeUndefined<T>, map: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(map(v))),
    }
}

#[derive(Default)]
pub struct SocialQuery;

#[Object]
impl SocialQuery {
    /// The tenant's social channel accounts, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn social_channel_accounts(
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
    ) -> Result<Connection<String, SocialChannelAccount, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .channel_accounts(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| SocialChannelAccount { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |a| a.model.id.clone()))
    }

    /// A social post.
    #[graphql(requires_scopes = "marketing:read")]
    async fn social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's id.")] id: ID,
    ) -> Result<Option<SocialPost>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .social_post(&tenant, &id)
            .await?
            .map(|model| SocialPost { model }))
    }

    /// The tenant's social posts, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    #[allow(clippy::too_many_arguments)]
    async fn social_posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the posts in this status.")] status: Option<SocialPostStatus>,
        #[graphql(desc = "Only the posts of this channel account.")] account_id: Option<ID>,
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
    ) -> Result<Connection<String, SocialPost, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .social_posts(
                &tenant,
                status.map(Into::into),
                account_id.as_ref().map(|id| id.as_str()),
                &page,
            )
            .await?
            .into_iter()
            .map(|model| SocialPost { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |p| p.model.id.clone()))
    }
}

#[derive(Default)]
pub struct SocialMutation;

#[Object]
impl SocialMutation {
    /// Adds a social channel account (ALREADY_EXISTS for a second one of the same network and
    /// handle; CHANNEL_ACCOUNT_INVALID for a bad handle).
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_social_channel_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] input: CreateSocialChannelAccountInput,
    ) -> Result<SocialChannelAccount> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_channel_account(&tenant, &actor, input.kind.into(), &input.handle)
            .await?;
        Ok(SocialChannelAccount { model })
    }

    /// Disables a channel account: its scheduled posts go back to draft in the same
    /// transaction and none of its posts is scheduled or retried until it is enabled
    /// (CHANNEL_ACCOUNT_DISABLED); a post already handed to the network is not recalled.
    /// Disabling it again changes nothing. NOT_FOUND for an account the tenant does not have;
    /// BAD_USER_INPUT for a reason empty or over 500 characters.
    #[graphql(requires_scopes = "marketing:write")]
    async fn disable_social_channel_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account and why.")] input: DisableSocialChannelAccountInput,
    ) -> Result<DisableSocialChannelAccountPayload> {
        let (tenant, actor) = caller(ctx)?;
        let (model, unscheduled) = ctx
            .use_cases::<Marketing>()?
            .disable_channel_account(&tenant, &actor, &input.account_id, &input.reason)
            .await?;
        Ok(DisableSocialChannelAccountPayload {
            account: SocialChannelAccount { model },
            unscheduled_posts: i32::try_from(unscheduled).unwrap_or(i32::MAX),
        })
    }

    /// Enables a disabled channel account again (its drafts stay drafts until scheduled).
    /// Enabling an enabled account changes nothing; NOT_FOUND for an account the tenant does
    /// not have.
    #[graphql(requires_scopes = "marketing:write")]
    async fn enable_social_channel_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] input: EnableSocialChannelAccountInput,
    ) -> Result<SocialChannelAccount> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .enable_channel_account(&tenant, &input.account_id)
            .await?;
        Ok(SocialChannelAccount { model })
    }

    /// Writes a draft post (SOCIAL_POST_BODY_EMPTY, SOCIAL_POST_BODY_TOO_LONG for the
    /// network, SOCIAL_POST_LINK_INVALID).
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post.")] input: CreateSocialPostInput,
    ) -> Result<SocialPost> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_social_post(
                &tenant,
                &actor,
                &input.account_id,
                PostFields {
                    body: Some(input.body),
                    link: Some(input.link),
                    campaign_id: Some(input.campaign_id.map(|id| id.0)),
                },
            )
            .await?;
        Ok(SocialPost { model })
    }

    /// Changes a post not yet handed off (SOCIAL_POST_NOT_EDITABLE once publishing or
    /// published).
    #[graphql(requires_scopes = "marketing:write")]
    async fn update_social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateSocialPostInput,
    ) -> Result<SocialPost> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .update_social_post(
                &tenant,
                &input.post_id,
                PostFields {
                    body: input.body,
                    link: maybe(input.link, |link| link),
                    campaign_id: maybe(input.campaign_id, |id| id.0),
                },
            )
            .await?;
        Ok(SocialPost { model })
    }

    /// Schedules a draft post, or moves a scheduled one (SOCIAL_POST_SCHEDULE_IN_PAST for a
    /// time gone; SOCIAL_POST_TRANSITION_NOT_ALLOWED for any other status;
    /// CHANNEL_ACCOUNT_DISABLED when its account is disabled).
    #[graphql(requires_scopes = "marketing:send")]
    async fn schedule_social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post and when.")] input: ScheduleSocialPostInput,
    ) -> Result<SocialPost> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .schedule_social_post(&tenant, &actor, &input.post_id, input.at.timestamp_millis())
            .await?;
        Ok(SocialPost { model })
    }

    /// Takes a scheduled post back to draft.
    #[graphql(requires_scopes = "marketing:send")]
    async fn unschedule_social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post.")] input: UnscheduleSocialPostInput,
    ) -> Result<SocialPost> {
        let (tenant, _) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .unschedule_social_post(&tenant, &input.post_id)
            .await?;
        Ok(SocialPost { model })
    }

    /// Sends a failed post again, as a new hand-off (SOCIAL_POST_TRANSITION_NOT_ALLOWED for a
    /// post that did not fail; CHANNEL_ACCOUNT_DISABLED when its account is disabled).
    #[graphql(requires_scopes = "marketing:send")]
    async fn retry_social_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post and when.")] input: RetrySocialPostInput,
    ) -> Result<SocialPost> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .retry_social_post(
                &tenant,
                &actor,
                &input.post_id,
                input.at.map(|at| at.timestamp_millis()),
            )
            .await?;
        Ok(SocialPost { model })
    }
}
