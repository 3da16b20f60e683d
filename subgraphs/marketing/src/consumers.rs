//! The events marketing consumes, through the kit's durable consumer and marketing's SQL inbox
//! (`marketing_inbox`, written in the same transaction as each effect):
//!
//! - `erp.marketing.conversions` reads `erp.crm.events`: `lead.created` records a lead a
//!   campaign brought (its `utm_campaign` is the campaign's id), `lead.converted` counts it
//!   converted in the campaign's funnel (`crate::app::conversions`).

use serde::Deserialize;

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    topic_for, Consumer, ConsumerConfig, ConsumerHandle, EventEnvelope, EventHandler, HandlerError,
    SqlInbox,
};
use erp_kit::runtime::Runtime;
use erp_kit::TenantId;

use crate::app::Marketing;
use crate::events::DOMAIN;

/// The consumer group that follows CRM's leads for the funnel's `converted` stage.
pub const CONVERSIONS_GROUP: &str = "erp.marketing.conversions";
/// CRM's event types it reads.
pub const LEAD_CREATED: &str = "lead.created";
pub const LEAD_CONVERTED: &str = "lead.converted";

/// How marketing's consumers run.
#[derive(Debug, Clone, Default)]
pub struct ConsumerOptions {
    /// Appended to every group name (a test on a shared broker reads as a group of its own).
    pub group_suffix: String,
    /// Only these tenants' events (a deployment cell serving some tenants, or a test on a
    /// shared broker); all when None.
    pub tenants: Option<Vec<String>>,
}

/// `lead.created` and `lead.converted` as marketing reads them (other fields ignored).
#[derive(Debug, Deserialize)]
struct LeadEvent {
    lead_id: String,
    #[serde(default)]
    utm_campaign: Option<String>,
}

/// Keeps the campaigns' conversions from CRM's lead events.
pub struct ConversionsHandler {
    pub marketing: Marketing,
    pub tenants: Option<Vec<String>>,
}

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for ConversionsHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(event.event_type.as_str(), LEAD_CREATED | LEAD_CONVERTED)
            && self
                .tenants
                .as_ref()
                .is_none_or(|tenants| tenants.contains(&event.tenant_id))
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let lead: LeadEvent = event.decode_payload()?;
        let tenant = TenantId::from_claim(&event.tenant_id);
        let at = event.occurred_at.timestamp_millis();
        let done = if event.event_type == LEAD_CREATED {
            self.marketing
                .lead_created(
                    write,
                    &tenant,
                    &lead.lead_id,
                    lead.utm_campaign.as_deref(),
                    at,
                )
                .await
        } else {
            self.marketing
                .lead_converted(write, &tenant, &lead.lead_id, at)
                .await
        };
        done.map(|_| ())
            .map_err(|err| HandlerError::failed(err.message()))
    }
}

/// Starts marketing's consumers on the runtime's bus (keep the handles: dropping one stops it).
pub fn start_consumers(
    runtime: &Runtime,
    options: &ConsumerOptions,
    marketing: &Marketing,
) -> Vec<ConsumerHandle> {
    let crm_topic = topic_for("crm");
    vec![Consumer::new(
        ConsumerConfig::new(
            format!("{CONVERSIONS_GROUP}{}", options.group_suffix),
            &[crm_topic.as_str()],
        ),
        runtime.bus.clone(),
        SqlInbox::new(DOMAIN, runtime.db.clone()),
        ConversionsHandler {
            marketing: marketing.clone(),
            tenants: options.tenants.clone(),
        },
        &runtime.metrics,
    )
    .spawn()]
}
