//! The funnel's last stage: CRM leads a campaign brought (the lead's `utm_campaign` is the
//! campaign's id: the campaign's links carried it to the website, its form to CRM) or a social
//! post brought (the lead's `utm_content` is the post's id: its link carried it) and their
//! conversion, learnt from CRM's events in the consumer's inbox transaction.

use erp_kit::db::WriteTransaction;
use erp_kit::{ApiResult, TenantId};

use super::Marketing;
use crate::store::entities::{conversion, social_conversion};
use crate::store::{campaigns, conversions, social};

impl Marketing {
    /// A lead CRM created: recorded as the campaign's when its `utm_campaign` names a campaign
    /// of the tenant, as the social post's when its `utm_content` names a post of the tenant
    /// (answers whether either did); any other lead is not marketing's.
    pub async fn lead_created(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        lead_id: &str,
        (utm_campaign, utm_content): (Option<&str>, Option<&str>),
        at_ms: i64,
    ) -> ApiResult<bool> {
        let by_post = self
            .post_brought(txn, tenant, lead_id, utm_content, at_ms)
            .await?;
        let Some(campaign_id) = utm_campaign.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(by_post);
        };
        if campaigns::campaign(&**txn, tenant, campaign_id)
            .await?
            .is_none()
        {
            return Ok(by_post);
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

    /// Records a lead as the post's when `utm_content` names a post of the tenant.
    async fn post_brought(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        lead_id: &str,
        utm_content: Option<&str>,
        at_ms: i64,
    ) -> ApiResult<bool> {
        let Some(post_id) = utm_content.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(false);
        };
        if social::post(&**txn, tenant, post_id).await?.is_none() {
            return Ok(false);
        }
        social::attribute(
            &**txn,
            social_conversion::Model {
                tenant_id: tenant.as_str().to_owned(),
                lead_id: lead_id.to_owned(),
                post_id: post_id.to_owned(),
                created_at: at_ms,
                converted_at: None,
            },
        )
        .await?;
        Ok(true)
    }

    /// A lead CRM converted: a campaign's (or a social post's) lead counts as converted
    /// (answers whether a campaign or a post had brought it).
    pub async fn lead_converted(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        lead_id: &str,
        at_ms: i64,
    ) -> ApiResult<bool> {
        let by_campaign = conversions::mark_converted(&**txn, tenant, lead_id, at_ms).await?;
        let by_post = social::mark_converted(&**txn, tenant, lead_id, at_ms).await?;
        Ok(by_campaign || by_post)
    }
}
