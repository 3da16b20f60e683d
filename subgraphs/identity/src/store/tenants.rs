//! Tenants.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Set};

use erp_kit::{ApiResult, TenantId};

use super::entities::tenant;

pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    name: &str,
) -> ApiResult<tenant::Model> {
    Ok(tenant::ActiveModel {
        id: Set(id.to_owned()),
        name: Set(name.to_owned()),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?)
}

pub async fn by_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> ApiResult<Option<tenant::Model>> {
    Ok(tenant::Entity::find_by_id(tenant.as_str().to_owned())
        .one(conn)
        .await?)
}

/// Whether any tenant exists (a fresh installation has none).
pub async fn any<C: ConnectionTrait>(conn: &C) -> ApiResult<bool> {
    Ok(tenant::Entity::find().count(conn).await? > 0)
}
