//! The audit trail (`crm_audit`): every stage move, win, loss, reopen, status change and
//! conversion, with who did it and when, written in the change's own transaction.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use erp_kit::TenantId;

use super::entities::audit;
use super::new_id;

/// One audited change about to be written.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// `opportunity`, `lead`, `client`, `quote`, `proposal`.
    pub entity_kind: &'a str,
    pub entity_id: &'a str,
    /// `stage_changed`, `won`, `lost`, `reopened`, `status_changed`, `converted`, ...
    pub action: &'a str,
    pub actor: &'a str,
    pub at_ms: i64,
    pub detail: serde_json::Value,
}

pub async fn record(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    entry: AuditEntry<'_>,
) -> Result<(), DbErr> {
    audit::Entity::insert(audit::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        entity_kind: Set(entry.entity_kind.to_owned()),
        entity_id: Set(entry.entity_id.to_owned()),
        action: Set(entry.action.to_owned()),
        actor: Set(entry.actor.to_owned()),
        at: Set(entry.at_ms),
        detail: Set(entry.detail.to_string()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The audit trail of one record, oldest first (ids are time-ordered).
pub async fn trail(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    entity_kind: &str,
    entity_id: &str,
) -> Result<Vec<audit::Model>, DbErr> {
    audit::Entity::find()
        .filter(audit::Column::TenantId.eq(tenant.as_str()))
        .filter(audit::Column::EntityKind.eq(entity_kind))
        .filter(audit::Column::EntityId.eq(entity_id))
        .order_by_asc(audit::Column::Id)
        .all(db)
        .await
}

/// The audit trails of several records of one kind, oldest first.
pub async fn trails(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    entity_kind: &str,
    entity_ids: &[String],
) -> Result<Vec<audit::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in entity_ids.chunks(super::IN_LIST_CHUNK) {
        found.extend(
            audit::Entity::find()
                .filter(audit::Column::TenantId.eq(tenant.as_str()))
                .filter(audit::Column::EntityKind.eq(entity_kind))
                .filter(audit::Column::EntityId.is_in(chunk.iter().cloned()))
                .order_by_asc(audit::Column::Id)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}
