//! Leads, activities, scoring rules and assignment rules.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{activity, assignment_rule, lead, scoring_rule};
use super::IN_LIST_CHUNK;

/// The statuses of leads still being worked.
pub const OPEN_STATUSES: [&str; 3] = ["new", "contacted", "qualified"];

/// The filters of the lead list.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub status: Option<String>,
    pub owner_id: Option<String>,
    /// Only records of these owners (the row rules); `None`: every record.
    pub owners: Option<Vec<String>>,
}

pub async fn insert(db: &impl ConnectionTrait, model: lead::Model) -> Result<lead::Model, DbErr> {
    lead::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn lead(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id.to_owned())
        .filter(lead::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// The oldest unmerged, unconverted lead with this e-mail key (the one a new enquiry from the
/// same address joins), locked for the rest of the transaction.
pub async fn lock_unconverted_by_email_key(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    email_key: &str,
) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find()
        .filter(lead::Column::TenantId.eq(tenant.as_str()))
        .filter(lead::Column::EmailKey.eq(email_key))
        .filter(lead::Column::MergedIntoId.is_null())
        .filter(lead::Column::Status.ne("converted"))
        .order_by_asc(lead::Column::CreatedAt)
        .order_by_asc(lead::Column::Id)
        .lock_exclusive()
        .one(db)
        .await
}

/// A lead, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`): a conversion
/// takes it first, so two conversions of one lead cannot both pass.
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id.to_owned())
        .filter(lead::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, lead::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in lead::Entity::find()
            .filter(lead::Column::TenantId.eq(tenant.as_str()))
            .filter(lead::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// One page of the tenant's leads (merged ones left out), in id order.
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &LeadFilter,
    page: &PageRequest,
) -> Result<Vec<lead::Model>, DbErr> {
    let mut query = lead::Entity::find()
        .filter(lead::Column::TenantId.eq(tenant.as_str()))
        .filter(lead::Column::MergedIntoId.is_null());
    if let Some(status) = &filter.status {
        query = query.filter(lead::Column::Status.eq(status.as_str()));
    }
    if let Some(owner) = &filter.owner_id {
        query = query.filter(lead::Column::OwnerId.eq(owner.as_str()));
    }
    if let Some(owners) = &filter.owners {
        query = query.filter(lead::Column::OwnerId.is_in(owners.iter().cloned()));
    }
    keyset_page(query, lead::Column::Id, page).all(db).await
}

/// Writes every field of `model` (its version already bumped by the caller).
pub async fn update(db: &impl ConnectionTrait, model: lead::Model) -> Result<lead::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// How many open leads each of `owners` holds (capacity assignment).
pub async fn open_leads_per_owner(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    owners: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    let mut counts = HashMap::new();
    for chunk in owners.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(Option<String>, i64)> = lead::Entity::find()
            .select_only()
            .column(lead::Column::OwnerId)
            .column_as(Expr::col(lead::Column::Id).count(), "n")
            .filter(lead::Column::TenantId.eq(tenant.as_str()))
            .filter(lead::Column::OwnerId.is_in(chunk.iter().cloned()))
            .filter(lead::Column::Status.is_in(OPEN_STATUSES))
            .filter(lead::Column::MergedIntoId.is_null())
            .group_by(lead::Column::OwnerId)
            .into_tuple()
            .all(db)
            .await?;
        for (owner, count) in rows {
            if let Some(owner) = owner {
                counts.insert(owner, count);
            }
        }
    }
    Ok(counts)
}

pub async fn insert_activity(
    db: &impl ConnectionTrait,
    model: activity::Model,
) -> Result<activity::Model, DbErr> {
    activity::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn activity(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<activity::Model>, DbErr> {
    activity::Entity::find_by_id(id.to_owned())
        .filter(activity::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn update_activity(
    db: &impl ConnectionTrait,
    model: activity::Model,
) -> Result<activity::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// What an activity list is about: exactly one record.
#[derive(Debug, Clone)]
pub enum ActivitiesOf {
    Lead(String),
    Client(String),
    Opportunity(String),
}

/// One page of a record's activities, in id (creation) order.
pub async fn activities_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    of: &ActivitiesOf,
    page: &PageRequest,
) -> Result<Vec<activity::Model>, DbErr> {
    let query = activity::Entity::find().filter(activity::Column::TenantId.eq(tenant.as_str()));
    let query = match of {
        ActivitiesOf::Lead(id) => query.filter(activity::Column::LeadId.eq(id.as_str())),
        ActivitiesOf::Client(id) => query.filter(activity::Column::ClientId.eq(id.as_str())),
        ActivitiesOf::Opportunity(id) => {
            query.filter(activity::Column::OpportunityId.eq(id.as_str()))
        }
    };
    keyset_page(query, activity::Column::Id, page).all(db).await
}

/// A lead's activities per kind (scoring).
pub async fn activity_counts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    lead_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    activity::Entity::find()
        .select_only()
        .column(activity::Column::Kind)
        .column_as(Expr::col(activity::Column::Id).count(), "n")
        .filter(activity::Column::TenantId.eq(tenant.as_str()))
        .filter(activity::Column::LeadId.eq(lead_id))
        .group_by(activity::Column::Kind)
        .into_tuple()
        .all(db)
        .await
}

pub async fn scoring_rules(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<scoring_rule::Model>, DbErr> {
    scoring_rule::Entity::find()
        .filter(scoring_rule::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(scoring_rule::Column::Id)
        .all(db)
        .await
}

pub async fn insert_scoring_rule(
    db: &impl ConnectionTrait,
    model: scoring_rule::Model,
) -> Result<scoring_rule::Model, DbErr> {
    scoring_rule::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

/// Deletes a scoring rule; false when the tenant has no such rule.
pub async fn delete_scoring_rule(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, DbErr> {
    let result = scoring_rule::Entity::delete_many()
        .filter(scoring_rule::Column::TenantId.eq(tenant.as_str()))
        .filter(scoring_rule::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The tenant's assignment rules in priority order (then creation order).
pub async fn assignment_rules(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<assignment_rule::Model>, DbErr> {
    assignment_rule::Entity::find()
        .filter(assignment_rule::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(assignment_rule::Column::Priority)
        .order_by_asc(assignment_rule::Column::Id)
        .all(db)
        .await
}

/// The assignment rules, locked: concurrent new leads take their round-robin turns one
/// after the other (PostgreSQL `FOR UPDATE`).
pub async fn lock_assignment_rules(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<assignment_rule::Model>, DbErr> {
    assignment_rule::Entity::find()
        .filter(assignment_rule::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(assignment_rule::Column::Priority)
        .order_by_asc(assignment_rule::Column::Id)
        .lock_exclusive()
        .all(db)
        .await
}

pub async fn insert_assignment_rule(
    db: &impl ConnectionTrait,
    model: assignment_rule::Model,
) -> Result<assignment_rule::Model, DbErr> {
    assignment_rule::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn set_next_turn(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    rule_id: &str,
    next_turn: i64,
) -> Result<(), DbErr> {
    assignment_rule::Entity::update_many()
        .col_expr(assignment_rule::Column::NextTurn, Expr::value(next_turn))
        .filter(assignment_rule::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment_rule::Column::Id.eq(rule_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes an assignment rule; false when the tenant has no such rule.
pub async fn delete_assignment_rule(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, DbErr> {
    let result = assignment_rule::Entity::delete_many()
        .filter(assignment_rule::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment_rule::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The activities of these leads per kind (an import rescores the leads it updates).
pub async fn activity_counts_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    lead_ids: &[String],
) -> Result<HashMap<String, Vec<(String, i64)>>, DbErr> {
    let mut found: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for chunk in lead_ids.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(Option<String>, String, i64)> = activity::Entity::find()
            .select_only()
            .column(activity::Column::LeadId)
            .column(activity::Column::Kind)
            .column_as(Expr::col(activity::Column::Id).count(), "n")
            .filter(activity::Column::TenantId.eq(tenant.as_str()))
            .filter(activity::Column::LeadId.is_in(chunk.iter().cloned()))
            .group_by(activity::Column::LeadId)
            .group_by(activity::Column::Kind)
            .into_tuple()
            .all(db)
            .await?;
        for (lead, kind, count) in rows {
            if let Some(lead) = lead {
                found.entry(lead).or_default().push((kind, count));
            }
        }
    }
    Ok(found)
}
