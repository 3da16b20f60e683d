//! A tenant's mail provider webhook secrets (sealed; the app opens them).

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};

use erp_kit::TenantId;

use super::entities::webhook_secret;

/// The secrets that verify at `now`: the current one and any rotated one still in its
/// overlap, newest first.
pub async fn in_force(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    now: i64,
) -> Result<Vec<webhook_secret::Model>, DbErr> {
    webhook_secret::Entity::find()
        .filter(webhook_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(
            Condition::any()
                .add(webhook_secret::Column::ValidUntil.is_null())
                .add(webhook_secret::Column::ValidUntil.gt(now)),
        )
        .order_by_desc(webhook_secret::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn insert(db: &impl ConnectionTrait, model: webhook_secret::Model) -> Result<(), DbErr> {
    webhook_secret::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Ends the current secret's term at `until` (it verifies until then).
pub async fn retire_current(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    until: i64,
) -> Result<(), DbErr> {
    webhook_secret::Entity::update_many()
        .col_expr(webhook_secret::Column::ValidUntil, until.into())
        .filter(webhook_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(webhook_secret::Column::ValidUntil.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every rotated secret's overlap now (a second rotation drops the secret before the
/// previous one: two secrets at most verify).
pub async fn end_overlaps(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<(), DbErr> {
    webhook_secret::Entity::delete_many()
        .filter(webhook_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(webhook_secret::Column::ValidUntil.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}
