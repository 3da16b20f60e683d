//! Delivery settings: the tenant's sending limits, its sending providers (rate and daily
//! cap) and its mail provider webhook (URL and secret rotation).

use crate::app::Marketing;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::{RequestContext, TenantId};

use erp_kit::scalars::DateTime;

use super::context::caller;
use super::objects::instant;
use crate::app::throttle::{ProviderFields, ProviderUsage};
use crate::domain::throttle::SendingLimits as DomainSendingLimits;
use crate::store::entities::provider;

/// A tenant's sending limits: the sender defers (never drops) a message whose minute window
/// is full.
#[derive(SimpleObject)]
pub struct SendingLimits {
    /// Messages per minute for the whole tenant; null: no limit.
    pub per_minute: Option<i32>,
    /// Messages per recipient domain (`example.com`) per minute; null: no limit.
    pub per_domain_per_minute: Option<i32>,
}

impl From<DomainSendingLimits> for SendingLimits {
    fn from(limits: DomainSendingLimits) -> Self {
        Self {
            per_minute: limits.per_minute,
            per_domain_per_minute: limits.per_domain_per_minute,
        }
    }
}

/// New sending limits (each 1 to 1,000,000, the domain cap at most the rate; null: none).
#[derive(InputObject)]
pub struct SetSendingLimitsInput {
    /// Messages per minute for the whole tenant; null: no limit.
    pub per_minute: Option<i32>,
    /// Messages per recipient domain per minute; null: no limit.
    pub per_domain_per_minute: Option<i32>,
}

/// One of the tenant's sending providers (a relay account) with its rate and daily cap: a
/// message that would go over one waits for the next window (second, hour, UTC day), never
/// dropped; every sender instance counts against the same windows.
pub struct SendingProvider {
    model: provider::Model,
}

/// One of the tenant's sending providers (a relay account) with its rate and daily cap: a
/// message that would go over one waits for the next window (second, hour, UTC day), never
/// dropped; every sender instance counts against the same windows.
#[Object]
impl SendingProvider {
    /// The provider's id (a campaign's `providerId`).
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Messages per second; null: no limit.
    async fn per_second(&self) -> Option<i32> {
        self.model.per_second
    }

    /// Messages per hour; null: no limit.
    async fn per_hour(&self) -> Option<i32> {
        self.model.per_hour
    }

    /// Messages per UTC day; null: no cap.
    async fn per_day(&self) -> Option<i32> {
        self.model.per_day
    }

    /// Whether campaigns without a provider and journeys send through it (and transactional
    /// mail and double opt-in confirmations through its relay, not counted in its rate or cap).
    async fn is_default(&self) -> bool {
        self.model.is_default
    }

    /// The deployment's named SMTP relay its messages go through (one of `mailRelays`); null:
    /// the deployment's default relay.
    async fn relay(&self) -> Option<&str> {
        self.model.relay.as_deref()
    }

    /// Messages handed to it in the current hour (null: it has no hourly rate).
    async fn sent_this_hour(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(self.usage(ctx).await?.this_hour)
    }

    /// Messages handed to it in the current UTC day (null: it has no daily cap).
    async fn sent_today(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(self.usage(ctx).await?.today)
    }
}

impl SendingProvider {
    async fn usage(&self, ctx: &Context<'_>) -> Result<ProviderUsage> {
        let tenant = TenantId::from_claim(&self.model.tenant_id);
        Ok(ctx
            .use_cases::<Marketing>()?
            .provider_usage(&tenant, &self.model, chrono::Utc::now().timestamp_millis())
            .await?)
    }
}

/// A sending provider to create, or to change (by name).
#[derive(InputObject)]
pub struct SetSendingProviderInput {
    /// Its name (1 to 64 characters of a-z, 0-9, `-`, `_`, `.`; case is ignored): an
    /// existing provider of that name is changed.
    pub name: String,
    /// Messages per second (1 to 100,000,000); null: no limit.
    pub per_second: Option<i32>,
    /// Messages per hour (1 to 100,000,000); null: no limit.
    pub per_hour: Option<i32>,
    /// Messages per UTC day (1 to 100,000,000); null: no cap.
    pub per_day: Option<i32>,
    /// True: the tenant's default provider (the previous default stops being one).
    #[graphql(default = false)]
    pub is_default: bool,
    /// The deployment's named SMTP relay its messages go through (one of `mailRelays`);
    /// absent or null: the deployment's default relay.
    pub relay: Option<String>,
}

/// The tenant's mail provider webhook (bounces and complaints). The secret itself is shown
/// only once, by `rotateMailWebhookSecret`.
#[derive(SimpleObject)]
pub struct MailWebhook {
    /// The URL to configure at the provider: it names the tenant.
    pub url: String,
    /// When the current secret was generated; null: none yet (the URL answers 404).
    pub current_secret_since: Option<DateTime>,
    /// Until when the previous secret still verifies after a rotation.
    pub previous_secret_valid_until: Option<DateTime>,
}

/// A webhook secret rotation.
#[derive(InputObject)]
pub struct RotateMailWebhookSecretInput {
    /// How long the previous secret keeps verifying (seconds, 0 to 604800; a day when not
    /// given), so the provider can switch without losing calls.
    #[graphql(default = 86400)]
    pub overlap_seconds: i64,
}

/// A new webhook secret: shown this once, stored sealed.
#[derive(SimpleObject)]
pub struct RotatedMailWebhookSecret {
    /// The secret the provider signs with (`v1=` HMAC-SHA256 of `<timestamp>.<body>`).
    pub secret: String,
    /// The tenant's webhook URL.
    pub url: String,
    /// When the secret was generated.
    pub created_at: DateTime,
    /// Until when the previous secret still verifies; null: there was none, or no overlap.
    pub previous_secret_valid_until: Option<DateTime>,
}

#[derive(Default)]
pub struct DeliveryQuery;

#[Object]
impl DeliveryQuery {
    /// The tenant's sending limits.
    #[graphql(requires_scopes = "marketing:read")]
    async fn sending_limits(&self, ctx: &Context<'_>) -> Result<SendingLimits> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .sending_limits(&tenant)
            .await?
            .into())
    }

    /// The names of the deployment's named SMTP relays (`ERP_SMTP_RELAYS`), which a sending
    /// provider may go through instead of the default relay; by name.
    #[graphql(requires_scopes = "marketing:read")]
    async fn mail_relays(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(ctx.use_cases::<Marketing>()?.relay_names())
    }

    /// The tenant's sending providers, by name.
    #[graphql(requires_scopes = "marketing:read")]
    async fn sending_providers(&self, ctx: &Context<'_>) -> Result<Vec<SendingProvider>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .sending_providers(&tenant)
            .await?
            .into_iter()
            .map(|model| SendingProvider { model })
            .collect())
    }

    /// The tenant's mail provider webhook.
    #[graphql(requires_scopes = "marketing:write")]
    async fn mail_webhook(&self, ctx: &Context<'_>) -> Result<MailWebhook> {
        let (tenant, _) = caller(ctx)?;
        let marketing = ctx.use_cases::<Marketing>()?;
        let settings = marketing.webhook_settings(&tenant).await?;
        Ok(MailWebhook {
            url: marketing.webhook_url(&tenant),
            current_secret_since: settings.current_since.map(instant),
            previous_secret_valid_until: settings.previous_valid_until.map(instant),
        })
    }
}

#[derive(Default)]
pub struct DeliveryMutation;

#[Object]
impl DeliveryMutation {
    /// Sets the tenant's sending limits (SENDING_LIMIT_INVALID out of range).
    #[graphql(requires_scopes = "marketing:send")]
    async fn set_sending_limits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The limits.")] input: SetSendingLimitsInput,
    ) -> Result<SendingLimits> {
        let (tenant, actor) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .set_sending_limits(
                &tenant,
                &actor,
                input.per_minute,
                input.per_domain_per_minute,
            )
            .await?
            .into())
    }

    /// Creates or changes (by name) a sending provider with its rate, daily cap and relay
    /// (SENDING_LIMIT_INVALID out of range; PROVIDER_RELAY_UNKNOWN for a relay the deployment
    /// does not have). Every field is set as given: an absent relay is the default one.
    #[graphql(requires_scopes = "marketing:send")]
    async fn set_sending_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider.")] input: SetSendingProviderInput,
    ) -> Result<SendingProvider> {
        let (tenant, actor) = caller(ctx)?;
        let model = ctx
            .use_cases::<Marketing>()?
            .set_sending_provider(
                &tenant,
                &actor,
                ProviderFields {
                    name: input.name,
                    per_second: input.per_second,
                    per_hour: input.per_hour,
                    per_day: input.per_day,
                    is_default: input.is_default,
                    relay: input.relay,
                },
            )
            .await?;
        Ok(SendingProvider { model })
    }

    /// Generates a new secret for the tenant's mail provider webhook; the previous one keeps
    /// verifying for the overlap (WEBHOOK_ROTATION_INVALID out of range).
    #[graphql(requires_scopes = "marketing:write")]
    async fn rotate_mail_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The overlap.")] input: RotateMailWebhookSecretInput,
    ) -> Result<RotatedMailWebhookSecret> {
        let (tenant, actor) = caller(ctx)?;
        let marketing = ctx.use_cases::<Marketing>()?;
        let rotated = marketing
            .rotate_webhook_secret(&tenant, &actor, input.overlap_seconds)
            .await?;
        Ok(RotatedMailWebhookSecret {
            secret: rotated.secret,
            url: marketing.webhook_url(&tenant),
            created_at: instant(rotated.created_at),
            previous_secret_valid_until: rotated.previous_valid_until.map(instant),
        })
    }
}
