//! Social posts: channel accounts, posts written for one of them (body checked against the
//! channel's length, link with its UTM parameters), scheduled, unscheduled, retried; and the
//! publisher, which hands each due post to the channel adapter (crate::channels) exactly once.
//!
//! The publisher works like the e-mail sender (app/sending.rs) on the post table as its queue:
//! it leases due posts (store/lease.rs, `SKIP LOCKED` on PostgreSQL), marks each `publishing`
//! in its own commit (the hand-off, its attempt number counted, the lease renewed), then calls
//! the adapter, then records the answer. A publisher that dies between the hand-off and the
//! answer leaves the post `publishing`; once its lease expired the next pass marks it `failed`
//! with `publish_outcome_unknown`, never handing it off again on its own (the network may have
//! it): a person checks the channel and retries. A late answer of that same attempt still
//! lands (the real outcome replaces the doubt).
//!
//! Attribution: the post's link goes out as its tracked link (`/marketing/s/<key>`, a click
//! counted) redirecting to the target with the post's UTM parameters; CRM's `lead.created`
//! with `utm_content` naming the post records the lead as the post's (app/conversions.rs), and
//! its `lead.converted` counts it converted.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinHandle;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{not_found, now_ms, Marketing};
use crate::channels::PublishRequest;
use crate::domain::reasons;
use crate::domain::social::{self, ChannelKind, PostStatus, OUTCOME_UNKNOWN};
use crate::events::{self, SocialPostChanged};
use crate::store::entities::{channel_account, social_post};
use crate::store::{campaigns, new_id, social as store};

/// The public path of a post's tracked link (`<public_url>/marketing/s/<key>`).
pub const SOCIAL_LINK_PATH: &str = "s";

/// The longest reason a channel account is disabled for, in characters.
pub const MAX_DISABLE_REASON_CHARS: usize = 500;

/// How a publisher runs.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// Names this publisher's leases.
    pub worker_id: String,
    /// Posts leased per pass.
    pub batch: u64,
    /// How long a lease (and a hand-off without an answer) lasts before the post is another
    /// publisher's (or, handed off, in doubt).
    pub lease: Duration,
    /// How long an idle publisher sleeps between looks.
    pub idle: Duration,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        Self {
            worker_id: format!("publisher-{}", uuid::Uuid::new_v4().simple()),
            batch: 20,
            lease: Duration::from_secs(120),
            idle: Duration::from_secs(1),
        }
    }
}

/// A running publisher.
pub struct PublisherHandle {
    task: JoinHandle<()>,
}

impl PublisherHandle {
    /// Stops the publisher where it is (as a crash would).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for PublisherHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one publishing pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub published: usize,
    /// Refused by their channel.
    pub failed: usize,
    /// Handed off by a publisher that vanished: failed as `publish_outcome_unknown`.
    pub in_doubt: usize,
    /// Leased but changed (edited, unscheduled) before the hand-off: left alone.
    pub released: usize,
}

impl PublishReport {
    fn busy(&self) -> bool {
        self.published + self.failed + self.in_doubt > 0
    }
}

/// A new post, or the changes to one (`None`: unchanged; `Some(None)` clears).
#[derive(Debug, Clone, Default)]
pub struct PostFields {
    pub body: Option<String>,
    pub link: Option<Option<String>>,
    pub campaign_id: Option<Option<String>>,
}

/// The kind of an account row (a corrupt row is an internal error).
pub fn kind_of(account: &channel_account::Model) -> ApiResult<ChannelKind> {
    ChannelKind::parse(&account.kind)
}

impl Marketing {
    /// A new channel account of the tenant (ALREADY_EXISTS for a second one of the same kind
    /// and handle).
    pub async fn create_channel_account(
        &self,
        tenant: &TenantId,
        actor: &str,
        kind: ChannelKind,
        handle: &str,
    ) -> ApiResult<channel_account::Model> {
        let handle = social::handle(handle)?;
        let model = channel_account::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            kind: kind.as_str().to_owned(),
            handle,
            created_by: actor.to_owned(),
            created_at: now_ms(),
            disabled_at: None,
            disabled_by: None,
            disabled_reason: None,
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if !store::insert_account(&*txn, model.clone()).await? {
            return Err(ApiError::rule(
                reasons::ALREADY_EXISTS,
                format!(
                    "the tenant has a {} account `{}` already",
                    kind.as_str(),
                    model.handle
                ),
            )
            .on_field("handle"));
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// Disables an account (the network revoked its access, the brand left it, ...): in one
    /// transaction the account records when, by whom and why, and every scheduled post of it
    /// goes back to draft (answered with the account: how many), so nothing goes out on it;
    /// its posts are not scheduled or retried again (CHANNEL_ACCOUNT_DISABLED) until it is
    /// enabled. A post already handed to the network (publishing) is not recalled: its
    /// outcome lands as usual. Disabling a disabled account changes nothing (the first
    /// reason stays). The reason: 1 to 500 characters (BAD_USER_INPUT).
    pub async fn disable_channel_account(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> ApiResult<(channel_account::Model, u64)> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_DISABLE_REASON_CHARS {
            return Err(ApiError::bad_input(
                "reason",
                format!("a reason of 1 to {MAX_DISABLE_REASON_CHARS} characters is needed"),
            ));
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut account = store::lock_account(&*txn, tenant, id, true)
            .await?
            .ok_or_else(|| not_found("channel account"))?;
        if account.disabled_at.is_some() {
            return Ok((account, 0));
        }
        let now = now_ms();
        account.disabled_at = Some(now);
        account.disabled_by = Some(actor.to_owned());
        account.disabled_reason = Some(reason.to_owned());
        let account = store::update_account(&*txn, account).await?;
        let unscheduled = store::unschedule_account_posts(&*txn, tenant, id, now).await?;
        self.commit(txn).await?;
        Ok((account, unscheduled))
    }

    /// Enables a disabled account again: its posts can be scheduled again (those disabling
    /// took back to draft stay drafts until someone schedules them). Enabling an enabled
    /// account changes nothing.
    pub async fn enable_channel_account(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<channel_account::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut account = store::lock_account(&*txn, tenant, id, true)
            .await?
            .ok_or_else(|| not_found("channel account"))?;
        if account.disabled_at.is_none() {
            return Ok(account);
        }
        account.disabled_at = None;
        account.disabled_by = None;
        account.disabled_reason = None;
        let account = store::update_account(&*txn, account).await?;
        self.commit(txn).await?;
        Ok(account)
    }

    pub async fn channel_accounts(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<channel_account::Model>> {
        Ok(store::accounts(&self.db, tenant, page).await?)
    }

    /// Channel accounts by id (the DataLoader's batch).
    pub async fn channel_accounts_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, channel_account::Model>> {
        Ok(store::accounts_by_ids(&self.db, tenant, ids)
            .await?
            .into_iter()
            .map(|account| (account.id.clone(), account))
            .collect())
    }

    async fn check_campaign(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        campaign_id: &Option<String>,
    ) -> ApiResult<()> {
        if let Some(id) = campaign_id {
            if campaigns::campaign(db, tenant, id).await?.is_none() {
                return Err(ApiError::bad_input("campaignId", "no such campaign"));
            }
        }
        Ok(())
    }

    /// A new draft post for one of the tenant's accounts: the body checked against the
    /// channel (SOCIAL_POST_BODY_EMPTY, SOCIAL_POST_BODY_TOO_LONG), the link
    /// (SOCIAL_POST_LINK_INVALID), the campaign the tenant's.
    pub async fn create_social_post(
        &self,
        tenant: &TenantId,
        actor: &str,
        account_id: &str,
        fields: PostFields,
    ) -> ApiResult<social_post::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let account = store::account(&*txn, tenant, account_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("accountId", "no such channel account"))?;
        let body = social::body(kind_of(&account)?, fields.body.as_deref().unwrap_or(""))?;
        let link = match fields.link.flatten() {
            Some(link) => Some(social::link(&link)?),
            None => None,
        };
        let campaign_id = fields.campaign_id.flatten();
        self.check_campaign(&*txn, tenant, &campaign_id).await?;
        let now = now_ms();
        let model = store::insert_post(
            &*txn,
            social_post::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                account_id: account.id,
                campaign_id,
                body,
                link,
                tracking_key: new_tracking_key(),
                status: PostStatus::Draft.as_str().to_owned(),
                scheduled_at: None,
                lease_until: None,
                leased_by: None,
                attempts: 0,
                handed_off_at: None,
                published_at: None,
                external_id: None,
                failure_reason: None,
                failed_at: None,
                clicks: 0,
                version: 1,
                created_by: actor.to_owned(),
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Changes a post's body, link or campaign before it is handed off
    /// (SOCIAL_POST_NOT_EDITABLE once publishing or published). A scheduled post stays
    /// scheduled (a publisher that leased the old text lets it go).
    pub async fn update_social_post(
        &self,
        tenant: &TenantId,
        id: &str,
        fields: PostFields,
    ) -> ApiResult<social_post::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = store::lock_post(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("social post"))?;
        PostStatus::parse(&model.status)?.ensure_editable()?;
        if let Some(body) = &fields.body {
            let account = store::account(&*txn, tenant, &model.account_id)
                .await?
                .ok_or_else(|| ApiError::internal("the post's channel account is gone"))?;
            model.body = social::body(kind_of(&account)?, body)?;
        }
        if let Some(link) = fields.link {
            model.link = match link {
                Some(link) => Some(social::link(&link)?),
                None => None,
            };
        }
        if let Some(campaign_id) = fields.campaign_id {
            self.check_campaign(&*txn, tenant, &campaign_id).await?;
            model.campaign_id = campaign_id;
        }
        let model = self.save_changed(&*txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Writes a changed post: its version moves on and any lease is dropped (a publisher that
    /// leased the previous version does not hand it off).
    async fn save_changed(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        mut model: social_post::Model,
    ) -> ApiResult<social_post::Model> {
        model.version += 1;
        model.updated_at = now_ms();
        model.lease_until = None;
        model.leased_by = None;
        Ok(store::update_post(db, model).await?)
    }

    /// Schedules a draft post for `at_ms` (or moves a scheduled one to it): a time still to
    /// come (SOCIAL_POST_SCHEDULE_IN_PAST).
    pub async fn schedule_social_post(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        at_ms: i64,
    ) -> ApiResult<social_post::Model> {
        let at = social::schedule_at(at_ms, now_ms())?;
        self.reschedule(
            tenant,
            actor,
            id,
            at,
            (
                &[PostStatus::Draft, PostStatus::Scheduled],
                "scheduled (a failed post is retried)",
            ),
        )
        .await
    }

    /// Schedules a failed post again (the explicit retry), for `at_ms` or now: the next
    /// publishing pass hands it off as a new attempt.
    pub async fn retry_social_post(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        at_ms: Option<i64>,
    ) -> ApiResult<social_post::Model> {
        let now = now_ms();
        let at = match at_ms {
            Some(at) => social::schedule_at(at, now)?,
            None => now,
        };
        self.reschedule(
            tenant,
            actor,
            id,
            at,
            (&[PostStatus::Failed], "retried (only a failed post is)"),
        )
        .await
    }

    async fn reschedule(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        at: i64,
        (from, refused): (&[PostStatus], &str),
    ) -> ApiResult<social_post::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        // The account first (shared), then the post: the order disabling takes them in, so a
        // scheduling and a disabling never wait on each other both ways. A post's account
        // never changes, so the plain read names the account to lock.
        let account_id = store::post(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("social post"))?
            .account_id;
        let account = store::lock_account(&*txn, tenant, &account_id, false)
            .await?
            .ok_or_else(|| ApiError::internal("the post's channel account is gone"))?;
        if account.disabled_at.is_some() {
            return Err(ApiError::rule(
                reasons::CHANNEL_ACCOUNT_DISABLED,
                format!(
                    "the {} account `{}` is disabled: enable it to schedule its posts",
                    account.kind, account.handle
                ),
            ));
        }
        let mut model = store::lock_post(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("social post"))?;
        let status = PostStatus::parse(&model.status)?;
        if !from.contains(&status) {
            return Err(ApiError::rule(
                reasons::SOCIAL_POST_TRANSITION_NOT_ALLOWED,
                format!("a {} post cannot be {refused}", status.as_str()),
            ));
        }
        model.status = PostStatus::Scheduled.as_str().to_owned();
        model.scheduled_at = Some(at);
        model.failure_reason = None;
        model.failed_at = None;
        let model = self.save_changed(&*txn, model).await?;
        self.enqueue_post_event(&txn, tenant, actor, events::SOCIAL_POST_SCHEDULED, &model)
            .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Takes a scheduled post back to draft (it will not be published).
    pub async fn unschedule_social_post(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<social_post::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = store::lock_post(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("social post"))?;
        PostStatus::parse(&model.status)?.move_to(PostStatus::Draft)?;
        model.status = PostStatus::Draft.as_str().to_owned();
        model.scheduled_at = None;
        let model = self.save_changed(&*txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn social_post(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<social_post::Model>> {
        Ok(store::post(&self.db, tenant, id).await?)
    }

    pub async fn social_posts(
        &self,
        tenant: &TenantId,
        status: Option<PostStatus>,
        account_id: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<social_post::Model>> {
        Ok(store::posts(
            &self.db,
            tenant,
            status.map(PostStatus::as_str),
            account_id,
            page,
        )
        .await?)
    }

    /// How many CRM leads a post brought, and how many of them converted.
    pub async fn social_post_leads(
        &self,
        tenant: &TenantId,
        post_id: &str,
    ) -> ApiResult<(u64, u64)> {
        Ok(store::lead_counts(&self.db, tenant, post_id).await?)
    }

    /// The link that goes out with a post (counts a click, then redirects to the target with
    /// the post's UTM parameters); `None` for a post without a link.
    pub fn tracked_link(&self, post: &social_post::Model) -> Option<String> {
        post.link
            .as_ref()
            .map(|_| self.link_url(SOCIAL_LINK_PATH, &post.tracking_key))
    }

    /// A post's link with its UTM parameters (the tracked link's target).
    pub fn utm_link(post: &social_post::Model, kind: ChannelKind) -> Option<String> {
        post.link
            .as_deref()
            .map(|link| social::utm_link(link, kind, post.campaign_id.as_deref(), &post.id))
    }

    /// A click on a post's tracked link: counted on the post; answers where to redirect
    /// (NotFound for a key no post has, or a post without a link).
    pub async fn follow_social_link(&self, tracking_key: &str) -> ApiResult<String> {
        let post = store::by_tracking_key(&self.db, tracking_key)
            .await?
            .ok_or_else(|| not_found("link"))?;
        let tenant = TenantId::from_claim(&post.tenant_id);
        let account = store::account(&self.db, &tenant, &post.account_id)
            .await?
            .ok_or_else(|| not_found("link"))?;
        let target = Self::utm_link(&post, kind_of(&account)?).ok_or_else(|| not_found("link"))?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        store::count_click(&*txn, &tenant, &post.id).await?;
        txn.commit().await?;
        Ok(target)
    }

    async fn enqueue_post_event(
        &self,
        txn: &erp_kit::db::WriteTransaction,
        tenant: &TenantId,
        actor: &str,
        event_type: &str,
        post: &social_post::Model,
    ) -> ApiResult<()> {
        let channel = match store::account(&**txn, tenant, &post.account_id).await? {
            Some(account) => account.kind,
            None => String::new(),
        };
        self.enqueue(
            txn,
            tenant,
            event_type,
            &post.id,
            actor,
            SocialPostChanged {
                post_id: post.id.clone(),
                account_id: post.account_id.clone(),
                channel,
                campaign_id: post.campaign_id.clone(),
                status: post.status.clone(),
                scheduled_at: post.scheduled_at,
                external_id: post.external_id.clone(),
                failure_reason: post.failure_reason.clone(),
            },
        )
        .await
    }

    /// Starts a publisher loop on the runtime.
    pub fn spawn_publisher(&self, options: PublisherOptions) -> PublisherHandle {
        let marketing = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let busy = match marketing.publish_pass(&options).await {
                    Ok(report) => report.busy(),
                    Err(err) => {
                        tracing::warn!(error = %err.message(), "social publisher pass failed");
                        false
                    }
                };
                if !busy {
                    tokio::time::sleep(options.idle).await;
                }
            }
        });
        PublisherHandle { task }
    }

    /// One pass: fail the posts left in doubt, lease the due ones, hand each to its channel.
    pub async fn publish_pass(&self, options: &PublisherOptions) -> ApiResult<PublishReport> {
        self.publish_pass_at(options, now_ms()).await
    }

    /// [`Self::publish_pass`] as if the clock said `now` (Unix milliseconds): what is due and
    /// what a lease expires against. Tests pass a time past the posts' schedule.
    pub async fn publish_pass_at(
        &self,
        options: &PublisherOptions,
        now: i64,
    ) -> ApiResult<PublishReport> {
        let mut report = PublishReport::default();
        let lease_ms = options.lease.as_millis() as i64;
        {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let doubtful = store::fail_in_doubt(&*txn, now, OUTCOME_UNKNOWN, 100).await?;
            for mut post in doubtful {
                let tenant = TenantId::from_claim(&post.tenant_id);
                post.status = PostStatus::Failed.as_str().to_owned();
                post.failure_reason = Some(OUTCOME_UNKNOWN.to_owned());
                self.enqueue_post_event(
                    &txn,
                    &tenant,
                    "system:publisher",
                    events::SOCIAL_POST_FAILED,
                    &post,
                )
                .await?;
                report.in_doubt += 1;
            }
            self.commit(txn).await?;
        }
        let leased = {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let leased = store::lease_due(
                &*txn,
                &options.worker_id,
                now,
                now + lease_ms,
                options.batch,
            )
            .await?;
            txn.commit().await?;
            leased
        };
        for post in leased {
            match self
                .publish_one(&options.worker_id, lease_ms, post, now)
                .await
            {
                Ok(Some(true)) => report.published += 1,
                Ok(Some(false)) => report.failed += 1,
                Ok(None) => report.released += 1,
                Err(err) => {
                    tracing::warn!(error = %err.message(), "social post not published");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// One leased post: the hand-off mark in its own commit, the adapter, the answer.
    /// `Some(true)`: published; `Some(false)`: refused; `None`: not handed off (changed since
    /// the lease, or its lease was taken over).
    async fn publish_one(
        &self,
        worker: &str,
        lease_ms: i64,
        post: social_post::Model,
        now: i64,
    ) -> ApiResult<Option<bool>> {
        let tenant = TenantId::from_claim(&post.tenant_id);
        let account = store::account(&self.db, &tenant, &post.account_id)
            .await?
            .ok_or_else(|| ApiError::internal("the post's channel account is gone"))?;
        let kind = kind_of(&account)?;
        let attempt = post.attempts + 1;
        {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let moved = store::hand_off(
                &*txn,
                &tenant,
                &post.id,
                worker,
                (attempt, post.version),
                now,
                now + lease_ms,
            )
            .await?;
            txn.commit().await?;
            if !moved {
                return Ok(None);
            }
        }
        // Past this point the post is never handed off again on its own.
        let request = PublishRequest {
            tenant_id: post.tenant_id.clone(),
            post_id: post.id.clone(),
            channel: kind.as_str().to_owned(),
            handle: account.handle.clone(),
            body: post.body.clone(),
            link: self.tracked_link(&post),
            idempotency_key: format!("{}:{attempt}", post.id),
        };
        let answer = self.channels.publish(&request).await;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let outcome = match &answer {
            Ok(external_id) => Ok(external_id.as_str()),
            Err(err) => Err(err.0.as_str()),
        };
        let landed = store::record_outcome(
            &*txn,
            &tenant,
            &post.id,
            attempt,
            OUTCOME_UNKNOWN,
            outcome,
            now,
        )
        .await?;
        if landed {
            let mut post = post;
            post.attempts = attempt;
            let event = match &answer {
                Ok(external_id) => {
                    post.status = PostStatus::Published.as_str().to_owned();
                    post.external_id = Some(external_id.clone());
                    events::SOCIAL_POST_PUBLISHED
                }
                Err(err) => {
                    post.status = PostStatus::Failed.as_str().to_owned();
                    post.failure_reason = Some(err.0.clone());
                    events::SOCIAL_POST_FAILED
                }
            };
            self.enqueue_post_event(&txn, &tenant, "system:publisher", event, &post)
                .await?;
        }
        self.commit(txn).await?;
        Ok(Some(answer.is_ok()))
    }
}

/// An unguessable key of a post's tracked link (244 random bits).
fn new_tracking_key() -> String {
    format!(
        "sp_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
