//! A tenant's sending limits (domain/throttle.rs): set by staff, enforced by the sender in
//! each hand-off's transaction (app/sending.rs).

use erp_kit::{ApiResult, TenantId};

use super::{now_ms, Marketing};
use crate::domain::throttle::SendingLimits;
use crate::store::entities::sending_limit;
use crate::store::throttle;

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
