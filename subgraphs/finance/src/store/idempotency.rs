//! Stored idempotency keys: (tenant, key) -> the operation, the request's fingerprint and the
//! result to replay. Written in the same transaction as the effect, so a key exists exactly
//! when its effect does.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

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

/// The stored keys among `keys` (a batch of requests checked in one read).
pub async fn find_many<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    keys: Vec<String>,
) -> Result<Vec<idempotency::Model>, DbErr> {
    idempotency::Entity::find()
        .filter(idempotency::Column::TenantId.eq(tenant.as_str()))
        .filter(idempotency::Column::Key.is_in(keys))
        .all(conn)
        .await
}

/// Records several keys in one insert: how many were new (fewer than given: a concurrent
/// request with one of the keys committed first).
pub async fn record_many<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<idempotency::Model>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    idempotency::Entity::insert_many(rows.into_iter().map(idempotency::ActiveModel::from))
        .on_conflict(
            OnConflict::columns([idempotency::Column::TenantId, idempotency::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
}
