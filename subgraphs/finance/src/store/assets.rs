//! The reads of the asset postings: whether an entry of a source (an ops asset's period or
//! disposal) was posted already.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use erp_kit::TenantId;

use super::entities::entry;

/// The entry posted from `(source_kind, source_id)`, if any.
pub async fn entry_of_source<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    source_kind: &str,
    source_id: &str,
) -> Result<Option<entry::Model>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .filter(entry::Column::SourceKind.eq(source_kind))
        .filter(entry::Column::SourceId.eq(source_id))
        .one(conn)
        .await
}
