//! OKRs: objectives, key results and check-ins.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{key_result, objective, okr_check_in as check_in};
use crate::domain::okr::OkrStatus;

/// Filters of the objective list.
#[derive(Debug, Clone, Default)]
pub struct ObjectiveFilter {
    pub owner_id: Option<String>,
    pub parent_id: Option<String>,
}

/// An objective to write (each value already parsed).
#[derive(Debug, Clone)]
pub struct NewObjective {
    pub owner_id: String,
    pub title: String,
    pub description: Option<String>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub parent_id: Option<String>,
}

/// A key result to write (each value already parsed).
#[derive(Debug, Clone)]
pub struct NewKeyResult {
    pub title: String,
    pub start_value: f64,
    pub target_value: f64,
    pub unit: Option<String>,
}

pub async fn objective(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<objective::Model>, DbErr> {
    objective::Entity::find_by_id(id.to_owned())
        .filter(objective::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn objectives_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, objective::Model>, DbErr> {
    Ok(objective::Entity::find()
        .filter(objective::Column::TenantId.eq(tenant.as_str()))
        .filter(objective::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect())
}

/// Each objective's parent (ids only), in one query.
pub async fn objective_parents(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<HashMap<String, Option<String>>, DbErr> {
    Ok(objective::Entity::find()
        .select_only()
        .column(objective::Column::Id)
        .column(objective::Column::ParentId)
        .filter(objective::Column::TenantId.eq(tenant.as_str()))
        .into_tuple::<(String, Option<String>)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

pub async fn list_objectives(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &ObjectiveFilter,
    page: &PageRequest,
) -> Result<Vec<objective::Model>, DbErr> {
    let mut query =
        objective::Entity::find().filter(objective::Column::TenantId.eq(tenant.as_str()));
    if let Some(owner) = &filter.owner_id {
        query = query.filter(objective::Column::OwnerId.eq(owner.as_str()));
    }
    if let Some(parent) = &filter.parent_id {
        query = query.filter(objective::Column::ParentId.eq(parent.as_str()));
    }
    keyset_page(query, objective::Column::Id, page)
        .all(db)
        .await
}

pub async fn insert_objective(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: NewObjective,
    created_by: &str,
    now_ms: i64,
) -> Result<objective::Model, DbErr> {
    objective::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        owner_id: Set(new.owner_id),
        title: Set(new.title),
        description: Set(new.description),
        period_start: Set(new.period_start),
        period_end: Set(new.period_end),
        parent_id: Set(new.parent_id),
        created_by: Set(created_by.to_owned()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn update_parent(
    db: &impl ConnectionTrait,
    found: objective::Model,
    parent_id: Option<&str>,
) -> Result<objective::Model, DbErr> {
    let mut active: objective::ActiveModel = found.into();
    active.parent_id = Set(parent_id.map(str::to_owned));
    active.update(db).await
}

pub async fn key_result(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<key_result::Model>, DbErr> {
    key_result::Entity::find_by_id(id.to_owned())
        .filter(key_result::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// How many key results an objective holds.
pub async fn key_result_count(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    objective_id: &str,
) -> Result<u64, DbErr> {
    key_result::Entity::find()
        .filter(key_result::Column::TenantId.eq(tenant.as_str()))
        .filter(key_result::Column::ObjectiveId.eq(objective_id))
        .count(db)
        .await
}

/// The key results of a batch of objectives (one query), in creation order.
pub async fn key_results_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    objective_ids: &[String],
) -> Result<HashMap<String, Vec<key_result::Model>>, DbErr> {
    let mut grouped: HashMap<String, Vec<key_result::Model>> = HashMap::new();
    for row in key_result::Entity::find()
        .filter(key_result::Column::TenantId.eq(tenant.as_str()))
        .filter(key_result::Column::ObjectiveId.is_in(objective_ids.iter().cloned()))
        .order_by_asc(key_result::Column::Id)
        .all(db)
        .await?
    {
        grouped
            .entry(row.objective_id.clone())
            .or_default()
            .push(row);
    }
    Ok(grouped)
}

pub async fn insert_key_result(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    objective_id: &str,
    new: NewKeyResult,
    now_ms: i64,
) -> Result<key_result::Model, DbErr> {
    key_result::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        objective_id: Set(objective_id.to_owned()),
        title: Set(new.title),
        start_value: Set(new.start_value),
        target_value: Set(new.target_value),
        current_value: Set(new.start_value),
        unit: Set(new.unit),
        status: Set(None),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
    }
    .insert(db)
    .await
}

/// A key result's new value and status.
pub async fn update_key_result(
    db: &impl ConnectionTrait,
    found: key_result::Model,
    value: f64,
    status: OkrStatus,
    now_ms: i64,
) -> Result<key_result::Model, DbErr> {
    let mut active: key_result::ActiveModel = found.into();
    active.current_value = Set(value);
    active.status = Set(Some(status.as_str().to_owned()));
    active.updated_at = Set(now_ms);
    active.update(db).await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_check_in(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    key_result_id: &str,
    value: f64,
    status: OkrStatus,
    note: Option<String>,
    author: &str,
    now_ms: i64,
) -> Result<check_in::Model, DbErr> {
    check_in::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        key_result_id: Set(key_result_id.to_owned()),
        value: Set(value),
        status: Set(status.as_str().to_owned()),
        note: Set(note),
        author: Set(author.to_owned()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn list_check_ins(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    key_result_id: &str,
    page: &PageRequest,
) -> Result<Vec<check_in::Model>, DbErr> {
    let query = check_in::Entity::find()
        .filter(check_in::Column::TenantId.eq(tenant.as_str()))
        .filter(check_in::Column::KeyResultId.eq(key_result_id));
    keyset_page(query, check_in::Column::Id, page).all(db).await
}
