//! A tenant's sending limits and sending providers (domain/throttle.rs): set by staff,
//! enforced by the sender in each hand-off's transaction (app/sending.rs).

use erp_kit::{ApiError, ApiResult, TenantId};

use super::{now_ms, Marketing};
use crate::domain::reasons;
use crate::domain::throttle::{provider_name, LimitKind, ProviderLimits, SendingLimits};
use crate::store::entities::{provider, sending_limit};
use crate::store::{new_id, throttle};

impl Marketing {
    /// Sets the tenant's messages per minute and per recipient domain per minute (`None`: no
    /// limit), SENDING_LIMIT_INVALID out of range. The sender's next batch counts with them.
    pub async fn set_sending_limits(
        &self,
        tenant: &TenantId,
        actor: &str,
        per_minute: Option<i32>,
        per_domain_per_minute: Option<i32>,
    ) -> ApiResult<SendingLimits> {
        let limits = SendingLimits::parse(per_minute, per_domain_per_minute)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        throttle::set_limits(
            &*txn,
            sending_limit::Model {
                tenant_id: tenant.as_str().to_owned(),
                per_minute: limits.per_minute,
                per_domain_per_minute: limits.per_domain_per_minute,
                updated_by: actor.to_owned(),
                updated_at: now_ms(),
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(limits)
    }

    pub async fn sending_limits(&self, tenant: &TenantId) -> ApiResult<SendingLimits> {
        Ok(throttle::limits(&self.db, tenant)
            .await?
            .map(|model| SendingLimits {
                per_minute: model.per_minute,
                per_domain_per_minute: model.per_domain_per_minute,
            })
            .unwrap_or_default())
    }
}

/// A sending provider's settings as staff enter them.
#[derive(Debug, Clone)]
pub struct ProviderFields {
    pub name: String,
    pub per_second: Option<i32>,
    pub per_hour: Option<i32>,
    pub per_day: Option<i32>,
    pub is_default: bool,
    /// The named relay (`None`: the default one).
    pub relay: Option<String>,
}

/// How much of a provider's hour and day are used at a time (counted only for a limit that
/// is set: `None` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProviderUsage {
    pub this_hour: Option<i32>,
    pub today: Option<i32>,
}

impl Marketing {
    /// Creates or changes (by name) one of the tenant's sending providers with its rate, daily
    /// cap and relay (SENDING_LIMIT_INVALID out of range, PROVIDER_RELAY_UNKNOWN for a relay
    /// the deployment does not have); the default one replaces the previous default. The
    /// sender's next batch counts with it.
    pub async fn set_sending_provider(
        &self,
        tenant: &TenantId,
        actor: &str,
        fields: ProviderFields,
    ) -> ApiResult<provider::Model> {
        let name = provider_name(&fields.name)?;
        let limits = ProviderLimits::parse(fields.per_second, fields.per_hour, fields.per_day)?;
        let relay = fields.relay.filter(|relay| !relay.is_empty());
        if let Some(relay) = &relay {
            if !self.relays.contains_key(relay) {
                return Err(ApiError::rule(
                    reasons::PROVIDER_RELAY_UNKNOWN,
                    format!(
                        "this deployment has no relay `{relay}` (mailRelays lists those it has)"
                    ),
                )
                .on_field("relay"));
            }
        }
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let model = match throttle::provider_named(&*txn, tenant, &name).await? {
            Some(mut model) => {
                model.per_second = limits.per_second;
                model.per_hour = limits.per_hour;
                model.per_day = limits.per_day;
                model.is_default = fields.is_default;
                model.relay = relay;
                model.updated_by = actor.to_owned();
                model.updated_at = now;
                throttle::update_provider(&*txn, model).await?
            }
            None => {
                throttle::insert_provider(
                    &*txn,
                    provider::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        id: new_id(),
                        name,
                        per_second: limits.per_second,
                        per_hour: limits.per_hour,
                        per_day: limits.per_day,
                        is_default: fields.is_default,
                        relay,
                        updated_by: actor.to_owned(),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?
            }
        };
        if model.is_default {
            throttle::clear_default(&*txn, tenant, &model.id).await?;
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// The tenant's sending providers, by name.
    pub async fn sending_providers(&self, tenant: &TenantId) -> ApiResult<Vec<provider::Model>> {
        Ok(throttle::providers(&self.db, tenant).await?)
    }

    /// How many messages went through a provider in the hour and the UTC day of `now_ms`.
    pub async fn provider_usage(
        &self,
        tenant: &TenantId,
        provider: &provider::Model,
        now_ms: i64,
    ) -> ApiResult<ProviderUsage> {
        let mut usage = ProviderUsage::default();
        for slot in provider_limits(provider).slots(&provider.id) {
            let window = slot.limit.unit().window_of(now_ms);
            let used = throttle::used(&self.db, tenant, &slot.scope, window).await?;
            match slot.limit {
                LimitKind::ProviderHour => usage.this_hour = Some(used),
                LimitKind::ProviderDay => usage.today = Some(used),
                _ => {}
            }
        }
        Ok(usage)
    }
}

/// The limits of a stored provider.
pub fn provider_limits(model: &provider::Model) -> ProviderLimits {
    ProviderLimits {
        per_second: model.per_second,
        per_hour: model.per_hour,
        per_day: model.per_day,
    }
}
