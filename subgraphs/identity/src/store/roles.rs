//! Roles of a tenant.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::role;

pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    name: &str,
    permissions: &[impl AsRef<str>],
) -> ApiResult<role::Model> {
    let permissions: Vec<&str> = permissions.iter().map(AsRef::as_ref).collect();
    Ok(role::ActiveModel {
        id: Set(format!("rol_{}", uuid::Uuid::now_v7().simple())),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        permissions: Set(serde_json::to_string(&permissions).map_err(ApiError::internal)?),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?)
}

pub async fn in_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<role::Model>> {
    Ok(role::Entity::find_by_id(id.to_owned())
        .filter(role::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await?)
}

/// The roles of `ids` found in the tenant, by id.
pub async fn by_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: &[String],
) -> ApiResult<HashMap<String, role::Model>> {
    Ok(role::Entity::find()
        .filter(role::Column::TenantId.eq(tenant.as_str()))
        .filter(role::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(conn)
        .await?
        .into_iter()
        .map(|role| (role.id.clone(), role))
        .collect())
}

/// Every role of the tenant, by name (a tenant has a handful).
pub async fn ids_by_name<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> ApiResult<HashMap<String, String>> {
    Ok(role::Entity::find()
        .filter(role::Column::TenantId.eq(tenant.as_str()))
        .all(conn)
        .await?
        .into_iter()
        .map(|role| (role.name, role.id))
        .collect())
}

pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<role::Model>> {
    let query = role::Entity::find().filter(role::Column::TenantId.eq(tenant.as_str()));
    Ok(keyset_page(query, role::Column::Id, page).all(conn).await?)
}
