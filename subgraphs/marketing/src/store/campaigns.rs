//! Templates, campaigns and their A/B variants.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{campaign, template, transactional, variant};

pub async fn insert_template(
    db: &impl ConnectionTrait,
    model: template::Model,
) -> Result<template::Model, DbErr> {
    template::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn template(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<template::Model>, DbErr> {
    template::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

pub async fn templates(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<template::Model>, DbErr> {
    let query = template::Entity::find().filter(template::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, template::Column::Id, page).all(db).await
}

pub async fn insert(
    db: &impl ConnectionTrait,
    model: campaign::Model,
) -> Result<campaign::Model, DbErr> {
    campaign::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn campaign(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<campaign::Model>, DbErr> {
    campaign::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// A campaign, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`).
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<campaign::Model>, DbErr> {
    campaign::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<campaign::Model>, DbErr> {
    let query = campaign::Entity::find().filter(campaign::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, campaign::Column::Id, page).all(db).await
}

/// Writes every field of `model` (its version already bumped by the caller).
pub async fn update(
    db: &impl ConnectionTrait,
    model: campaign::Model,
) -> Result<campaign::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// Scheduled campaigns due at `now_ms`, of every tenant (the sender's tick), oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<campaign::Model>, DbErr> {
    campaign::Entity::find()
        .filter(campaign::Column::Status.eq("scheduled"))
        .filter(campaign::Column::ScheduledAt.lte(now_ms))
        .order_by_asc(campaign::Column::ScheduledAt)
        .limit(limit)
        .all(db)
        .await
}

/// Campaigns sending now, of every tenant (the sender finishes those with nothing left).
pub async fn sending(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<campaign::Model>, DbErr> {
    campaign::Entity::find()
        .filter(campaign::Column::Status.eq("sending"))
        .order_by_asc(campaign::Column::StartedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn insert_transactional(
    db: &impl ConnectionTrait,
    model: transactional::Model,
) -> Result<(), DbErr> {
    transactional::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Replaces a campaign's A/B variants (none: the test is removed).
pub async fn replace_variants(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    rows: Vec<variant::Model>,
) -> Result<(), DbErr> {
    variant::Entity::delete_many()
        .filter(variant::Column::TenantId.eq(tenant.as_str()))
        .filter(variant::Column::CampaignId.eq(campaign_id))
        .exec(db)
        .await?;
    if !rows.is_empty() {
        variant::Entity::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A campaign's A/B variants, A first.
pub async fn variants(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<Vec<variant::Model>, DbErr> {
    variant::Entity::find()
        .filter(variant::Column::TenantId.eq(tenant.as_str()))
        .filter(variant::Column::CampaignId.eq(campaign_id))
        .order_by_asc(variant::Column::Position)
        .all(db)
        .await
}

pub async fn variant(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<variant::Model>, DbErr> {
    variant::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// Sending campaigns of every tenant whose A/B test has no winner yet and chooses it itself
/// (not by hand), oldest first: the sender decides those whose wait is over.
pub async fn undecided_tests(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<campaign::Model>, DbErr> {
    campaign::Entity::find()
        .filter(campaign::Column::Status.eq("sending"))
        .filter(campaign::Column::AbTestPercent.is_not_null())
        .filter(campaign::Column::AbWinnerVariantId.is_null())
        .filter(campaign::Column::AbWinnerBy.ne("manual"))
        .order_by_asc(campaign::Column::StartedAt)
        .limit(limit)
        .all(db)
        .await
}
