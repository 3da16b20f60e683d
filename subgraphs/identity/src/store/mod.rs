//! Persistence of the identity domain. Every lookup that serves a tenant's caller filters by
//! tenant; login looks users up by email across tenants (the email is the login name).

pub mod entities;

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiResult, TenantId};

use entities::{role, user};

pub async fn user_in_tenant<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id.to_owned())
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

pub async fn user_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn role_in_tenant<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<role::Model>> {
    Ok(role::Entity::find_by_id(id.to_owned())
        .filter(role::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

pub async fn users_page(
    db: &DatabaseConnection,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<user::Model>> {
    let query = user::Entity::find().filter(user::Column::TenantId.eq(tenant.as_str()));
    Ok(keyset_page(query, user::Column::Id, page).all(db).await?)
}

pub async fn roles_page(
    db: &DatabaseConnection,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<role::Model>> {
    let query = role::Entity::find().filter(role::Column::TenantId.eq(tenant.as_str()));
    Ok(keyset_page(query, role::Column::Id, page).all(db).await?)
}
