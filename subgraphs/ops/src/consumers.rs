//! The events operations consumes, through the kit's durable consumer and operations' document
//! inbox (`ops_inbox`, written in the same commit as each effect):
//!
//! - `erp.ops.employee` reads `erp.employee.events`: an `employee.left` opens the return of
//!   every asset in the leaver's custody and hands their open tickets back to their queues
//!   (`crate::app::leavers`).

use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, DeadLetter, DocumentInbox, DocumentInboxStore,
    DocumentWrite, EventEnvelope, EventHandler, HandlerError, InboxError,
};
use erp_kit::runtime::Runtime;
use erp_kit::{ApiError, TenantId};

use crate::app::Ops;
use crate::events::{EmployeeLeft, EMPLOYEE_GROUP, EMPLOYEE_LEFT};
use crate::store::{DeadLetterDoc, InboxDoc, Kind, Write};

/// How operations' consumers run: the kit's group suffix and tenants served.
pub use erp_kit::events::ConsumerOptions;

/// What a handled `employee.left` asks for: written with the inbox record.
pub struct Exit {
    left: EmployeeLeft,
    actor: String,
}

/// Operations' inbox as the kit's document inbox store.
pub struct OpsInbox(pub Ops);

fn unavailable(err: ApiError) -> InboxError {
    InboxError::unavailable(format!("{err:?}"))
}

#[async_trait::async_trait]
impl DocumentInboxStore for OpsInbox {
    type Effect = Exit;

    async fn handled(&self, group: &str, event: &EventEnvelope) -> Result<bool, InboxError> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let key = InboxDoc::key(group, &event.id.to_string());
        self.0
            .store
            .get(&tenant, Kind::Inbox, &[key])
            .await
            .map(|found| !found.is_empty())
            .map_err(unavailable)
    }

    async fn write_handled(
        &self,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
        effect: Option<Exit>,
    ) -> Result<bool, InboxError> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let event_id = event.id.to_string();
        let inbox = InboxDoc {
            id: InboxDoc::key(group, &event_id),
            tenant_id: tenant.as_str().to_owned(),
            group: group.to_owned(),
            event_id,
            topic: topic.to_owned(),
            handled_at: chrono::Utc::now().timestamp_millis(),
        };
        match effect {
            Some(exit) => self
                .0
                .hand_back_leaver(&tenant, &exit.left, &exit.actor, &inbox)
                .await
                .map(|handed| handed.is_some())
                .map_err(|err| InboxError::failed(format!("{err:?}"))),
            None => {
                let writes = [Write::insert(Kind::Inbox, &inbox).map_err(unavailable)?];
                self.0
                    .store
                    .commit(&tenant, &writes, &[])
                    .await
                    .map(|commit| commit == crate::store::Commit::Written)
                    .map_err(unavailable)
            }
        }
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        let tenant = TenantId::from_claim(letter.tenant_id.as_deref().unwrap_or_default());
        let stored = DeadLetterDoc {
            id: InboxDoc::key(&letter.group, &letter.message_key),
            tenant_id: tenant.as_str().to_owned(),
            group: letter.group.clone(),
            message_key: letter.message_key.clone(),
            topic: letter.topic.clone(),
            partition: letter.partition,
            offset: letter.offset,
            event_id: letter.event_id.map(|id| id.to_string()),
            event_type: letter.event_type.clone(),
            payload: letter.payload.clone(),
            failure: letter.failure.as_str().to_owned(),
            error: letter.error.clone(),
            attempts: i64::from(letter.attempts),
            first_failed_at: letter.first_failed_at,
            last_failed_at: letter.last_failed_at,
        };
        let writes = [Write::insert(Kind::DeadLetters, &stored).map_err(unavailable)?];
        self.0
            .store
            .commit(&tenant, &writes, &[])
            .await
            .map(|commit| commit == crate::store::Commit::Written)
            .map_err(unavailable)
    }
}

/// The employee subgraph's exits into asset returns and tickets handed back.
pub struct ExitHandler;

#[async_trait::async_trait]
impl EventHandler<DocumentWrite<Exit>> for ExitHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        event.event_type == EMPLOYEE_LEFT
    }

    async fn handle(
        &self,
        write: &mut DocumentWrite<Exit>,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let left: EmployeeLeft = event.decode_payload()?;
        write.set_effect(Exit {
            left,
            actor: event
                .actor
                .clone()
                .unwrap_or_else(|| EMPLOYEE_LEFT.to_owned()),
        });
        Ok(())
    }
}

/// Starts operations' consumers on the runtime's bus (keep the handles: dropping one stops
/// it).
pub fn start_consumers(
    runtime: &Runtime,
    ops: &Ops,
    options: &ConsumerOptions,
) -> Vec<ConsumerHandle> {
    let employee_topic = topic_for("employee");
    vec![Consumer::new(
        options.config(EMPLOYEE_GROUP, &[employee_topic.as_str()]),
        runtime.bus.clone(),
        DocumentInbox(OpsInbox(ops.clone())),
        ExitHandler,
        &runtime.metrics,
    )
    .spawn()]
}
