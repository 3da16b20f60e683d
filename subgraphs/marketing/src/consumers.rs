//! The events marketing consumes, through the kit's durable consumer and marketing's SQL inbox
//! (`marketing_inbox`, written in the same transaction as each effect):
//!
//! - `erp.marketing.conversions` reads `erp.crm.events`: `lead.created` records a lead a
//!   campaign brought (its `utm_campaign` is the campaign's id) or a social post brought (its
//!   `utm_content` is the post's id), `lead.converted` counts it converted in the campaign's
//!   funnel and on the post (`crate::app::conversions`).

use serde::Deserialize;

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, EventEnvelope, EventHandler, HandlerError, SqlInbox,
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

/// How marketing's consumers run: the kit's group suffix and tenants served.
pub use erp_kit::events::ConsumerOptions;

/// `lead.created` and `lead.converted` as marketing reads them (other fields ignored).
#[derive(Debug, Deserialize)]
struct LeadEvent {
    lead_id: String,
    #[serde(default)]
    utm_campaign: Option<String>,
    /// A social post's link carries the post's id here.
    #[serde(default)]
    utm_content: Option<String>,
}

/// Keeps the campaigns' conversions from CRM's lead events.
pub struct ConversionsHandler {
    pub marketing: Marketing,
}

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for ConversionsHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(event.event_type.as_str(), LEAD_CREATED | LEAD_CONVERTED)
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
                    (lead.utm_campaign.as_deref(), lead.utm_content.as_deref()),
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
        options.config(CONVERSIONS_GROUP, &[crm_topic.as_str()]),
        runtime.bus.clone(),
        SqlInbox::new(DOMAIN, runtime.db.clone()),
        ConversionsHandler {
            marketing: marketing.clone(),
        },
        &runtime.metrics,
    )
    .spawn()]
}
