//! Stored idempotency keys: (tenant, key) -> the operation, the request's fingerprint and the
//! result to replay. Written in the same transaction as the effect, so a key exists exactly
//! when its effect does.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use erp_kit::TenantId;

use super::entities::idempotency;

pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<idempotency::Model>, DbErr> {
    idempotency::Entity::find_by_id((tenant.as_str().to_owned(), key.to_owned()))
        .one(conn)
        .await
}

/// Records a key; false when the key already exists (a concurrent request with the same key
/// committed first: PostgreSQL waits for it, then reports the conflict).
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    key: &str,
    operation: &str,
    fingerprint: &str,
    result: &str,
) -> Result<bool, DbErr> {
    let inserted =
        idempotency::Entity::insert(idempotency::ActiveModel::from(idempotency::Model {
            tenant_id: tenant.as_str().to_owned(),
            key: key.to_owned(),
            operation: operation.to_owned(),
            fingerprint: fingerprint.to_owned(),
            result: result.to_owned(),
            created_at: chrono::Utc::now(),
        }))
        .on_conflict(
            OnConflict::columns([idempotency::Column::TenantId, idempotency::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}
