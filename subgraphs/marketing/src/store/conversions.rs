//! The CRM leads campaigns brought and their conversions.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter};

use erp_kit::TenantId;

use super::entities::conversion;

/// Records that a campaign brought a lead (a second report of the same lead changes nothing).
pub async fn attribute(db: &impl ConnectionTrait, model: conversion::Model) -> Result<(), DbErr> {
    conversion::Entity::insert(model.into_active_model())
        .on_conflict(
            OnConflict::columns([conversion::Column::TenantId, conversion::Column::LeadId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks an attributed lead converted (the first conversion's time stays); false when no
/// campaign brought it.
pub async fn mark_converted(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    lead_id: &str,
    at: i64,
) -> Result<bool, DbErr> {
    Ok(conversion::Entity::update_many()
        .col_expr(conversion::Column::ConvertedAt, Expr::value(at))
        .filter(conversion::Column::TenantId.eq(tenant.as_str()))
        .filter(conversion::Column::LeadId.eq(lead_id))
        .filter(conversion::Column::ConvertedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// The converted leads a campaign brought.
pub async fn converted_count(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    conversion::Entity::find()
        .filter(conversion::Column::TenantId.eq(tenant.as_str()))
        .filter(conversion::Column::CampaignId.eq(campaign_id))
        .filter(conversion::Column::ConvertedAt.is_not_null())
        .count(db)
        .await
}
