//! The events PMO consumes, through the kit's durable consumer and PMO's document inbox
//! (`pmo_inbox`, written in the same transaction or journal record as each effect):
//!
//! - `erp.pmo.crm` reads `erp.crm.events`: a won opportunity becomes one project, a new client
//!   links the projects typed with its name, renames and merges (and their undo) move the
//!   projects' client (`crate::app::handoffs`).

use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, DeadLetter, DocumentInbox, DocumentInboxStore,
    DocumentWrite, EventEnvelope, EventHandler, HandlerError, InboxError,
};
use erp_kit::runtime::Runtime;
use erp_kit::{ApiError, ErrorCode, TenantId};

use crate::app::Pmo;
use crate::events::{
    ClientCreated, ClientMerged, ClientUpdated, OpportunityWon, CLIENT_CREATED, CLIENT_MERGED,
    CLIENT_MERGE_UNDONE, CLIENT_UPDATED, CRM_GROUP, OPPORTUNITY_WON,
};
use crate::store::{CrmEffect, DeadLetterDoc, InboxDoc};

/// How PMO's consumers run: the kit's group suffix and tenants served.
pub use erp_kit::events::ConsumerOptions;

/// PMO's inbox as the kit's document inbox store.
pub struct PmoInbox(pub Pmo);

fn unavailable(err: ApiError) -> InboxError {
    InboxError::unavailable(format!("{err:?}"))
}

#[async_trait::async_trait]
impl DocumentInboxStore for PmoInbox {
    type Effect = CrmEffect;

    async fn handled(&self, group: &str, event: &EventEnvelope) -> Result<bool, InboxError> {
        self.0
            .store
            .handled(group, &event.id.to_string())
            .await
            .map_err(unavailable)
    }

    async fn write_handled(
        &self,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
        effect: Option<CrmEffect>,
    ) -> Result<bool, InboxError> {
        let event_id = event.id.to_string();
        let handled = InboxDoc {
            id: InboxDoc::key(group, &event_id),
            group: group.to_owned(),
            event_id,
            topic: topic.to_owned(),
            handled_at: chrono::Utc::now().timestamp_millis(),
        };
        self.0
            .record_handled(&handled, effect.as_ref())
            .await
            .map_err(unavailable)
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        let stored = DeadLetterDoc {
            id: InboxDoc::key(&letter.group, &letter.message_key),
            group: letter.group.clone(),
            message_key: letter.message_key.clone(),
            topic: letter.topic.clone(),
            partition: letter.partition,
            offset: letter.offset,
            event_id: letter.event_id.map(|id| id.to_string()),
            event_type: letter.event_type.clone(),
            tenant_id: letter.tenant_id.clone(),
            payload: letter.payload.clone(),
            failure: letter.failure.as_str().to_owned(),
            error: letter.error.clone(),
            attempts: i64::from(letter.attempts),
            first_failed_at: letter.first_failed_at,
            last_failed_at: letter.last_failed_at,
        };
        self.0.store.dead_letter(&stored).await.map_err(unavailable)
    }
}

/// A use case's refusal will not heal (dead letter at once, its reason or code first); anything
/// else is retried.
fn handler_error(err: ApiError) -> HandlerError {
    match (err.code(), err.reason()) {
        (ErrorCode::Internal, _) => HandlerError::failed(err.message()),
        (_, Some(reason)) => {
            HandlerError::rejected(format!("{}: {}", reason.name(), err.message()))
        }
        (code, None) => HandlerError::rejected(format!("{}: {}", code.as_str(), err.message())),
    }
}

/// The CRM's `opportunity.won`, `client.created`, `client.updated`, `client.merged` and
/// `client.merge_undone` into projects.
pub struct CrmHandler {
    pmo: Pmo,
}

#[async_trait::async_trait]
impl EventHandler<DocumentWrite<CrmEffect>> for CrmHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.event_type.as_str(),
            OPPORTUNITY_WON | CLIENT_CREATED | CLIENT_UPDATED | CLIENT_MERGED | CLIENT_MERGE_UNDONE
        )
    }

    async fn handle(
        &self,
        write: &mut DocumentWrite<CrmEffect>,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let effect = match event.event_type.as_str() {
            OPPORTUNITY_WON => {
                let won: OpportunityWon = event.decode_payload()?;
                self.pmo
                    .project_of_won_opportunity(&tenant, &won)
                    .map_err(handler_error)?
            }
            CLIENT_UPDATED => {
                let updated: ClientUpdated = event.decode_payload()?;
                self.pmo.rename_of_client(&tenant, &updated)
            }
            CLIENT_MERGED => {
                let merged: ClientMerged = event.decode_payload()?;
                self.pmo.move_of_merged_client(&tenant, &merged)
            }
            CLIENT_MERGE_UNDONE => {
                let undone: ClientMerged = event.decode_payload()?;
                self.pmo.move_back_of_undone_merge(&tenant, &undone)
            }
            _ => {
                let created: ClientCreated = event.decode_payload()?;
                self.pmo.link_of_new_client(&tenant, &created)
            }
        };
        write.set_effect(effect);
        Ok(())
    }
}

/// Starts PMO's consumers on the runtime's bus (keep the handles: dropping one stops it).
pub fn start_consumers(
    runtime: &Runtime,
    pmo: &Pmo,
    options: &ConsumerOptions,
) -> Vec<ConsumerHandle> {
    let crm_topic = topic_for("crm");
    vec![Consumer::new(
        options.config(CRM_GROUP, &[crm_topic.as_str()]),
        runtime.bus.clone(),
        DocumentInbox(PmoInbox(pmo.clone())),
        CrmHandler { pmo: pmo.clone() },
        &runtime.metrics,
    )
    .spawn()]
}
