//! The funnel's last stage: CRM leads a campaign brought (the lead's `utm_campaign` is the
//! campaign's id: the campaign's links carried it to the website, its form to CRM) and their
//! conversion, learnt from CRM's events in the consumer's inbox transaction.

use erp_kit::db::WriteTransaction;
use erp_kit::{ApiResult, TenantId};

use super::Marketing;
use crate::store::entities::conversion;
use crate::store::{campaigns, conversions};

impl Marketing {
    /// A lead CRM created: recorded as the campaign's when its `utm_campaign` names a campaign
    /// of the tenant (answers whether it did); any other lead is not marketing's.
    pub async fn lead_created(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        lead_id: &str,
        utm_campaign: Option<&str>,
        at_ms: i64,
    ) -> ApiResult<bool> {
        let Some(campaign_id) = utm_campaign.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(false);
        };
        if campaigns::campaign(&**txn, tenant, campaign_id)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        conversions::attribute(
            &**txn,
            conversion::Model {
                tenant_id: tenant.as_str().to_owned(),
                lead_id: lead_id.to_owned(),
                campaign_id: campaign_id.to_owned(),
                created_at: at_ms,
                converted_at: None,
            },
        )
        .await?;
        Ok(true)
    }

    /// A lead CRM converted: a campaign's lead counts as converted in its funnel (answers
    /// whether a campaign had brought it).
    pub async fn lead_converted(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        lead_id: &str,
        at_ms: i64,
    ) -> ApiResult<bool> {
        Ok(conversions::mark_converted(&**txn, tenant, lead_id, at_ms).await?)
    }
}
