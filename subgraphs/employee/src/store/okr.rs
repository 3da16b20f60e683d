//! OKR persistence: objectives, key results and check-ins, each change with its outbox event
//! in the same transaction.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::employee;
use super::EmployeeStore;
use crate::domain::okr::{
    check_alignment, elapsed, progress, suggested_status, OkrStatus, MAX_KEY_RESULTS,
};
use crate::domain::org::{RuleError, RuleResult};
use crate::events;

pub mod entities {
    pub mod objective {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "objectives")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub owner_id: String,
            pub title: String,
            pub description: Option<String>,
            pub period_start: Date,
            pub period_end: Date,
            pub parent_id: Option<String>,
            pub created_by: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod key_result {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "key_results")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub objective_id: String,
            pub title: String,
            pub start_value: f64,
            pub target_value: f64,
            pub current_value: f64,
            pub unit: Option<String>,
            pub status: Option<String>,
            pub created_at: i64,
            pub updated_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod check_in {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "okr_check_ins")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub key_result_id: String,
            pub value: f64,
            pub status: String,
            pub note: Option<String>,
            pub author: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entities::{check_in, key_result, objective};

/// A validated new objective.
#[derive(Debug, Clone)]
pub struct NewObjective {
    pub owner_id: String,
    pub title: String,
    pub description: Option<String>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub parent_id: Option<String>,
}

/// A validated new key result.
#[derive(Debug, Clone)]
pub struct NewKeyResult {
    pub title: String,
    pub start_value: f64,
    pub target_value: f64,
    pub unit: Option<String>,
}

/// A check-in as reported (the value already checked finite).
#[derive(Debug, Clone)]
pub struct KeyResultCheckIn {
    pub value: f64,
    /// `None`: the status suggested by the pace.
    pub status: Option<OkrStatus>,
    pub note: Option<String>,
    /// The day the pace is measured on.
    pub today: NaiveDate,
}

/// Filters of the objective list.
#[derive(Debug, Clone, Default)]
pub struct ObjectiveFilter {
    pub owner_id: Option<String>,
    pub parent_id: Option<String>,
}

fn envelope(
    tenant: &TenantId,
    event_type: &str,
    aggregate: &str,
    actor: &str,
    payload: serde_json::Value,
) -> ApiResult<EventEnvelope> {
    Ok(EventEnvelope::new(tenant, event_type, aggregate, payload)
        .map_err(ApiError::internal)?
        .with_actor(actor))
}

impl EmployeeStore {
    /// Creates an objective (aligned under `parent_id` when given); publishes
    /// `okr.objective_created`.
    pub async fn create_objective(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewObjective,
    ) -> ApiResult<objective::Model> {
        let txn = begin_write(self.db()).await?;
        if employee::Entity::find_by_id(new.owner_id.clone())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_input("ownerId", "no such employee"));
        }
        if let Some(parent) = &new.parent_id {
            if find_objective(&txn, tenant, parent).await?.is_none() {
                return Err(ApiError::bad_input("parentId", "no such objective"));
            }
        }
        let model = objective::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            owner_id: Set(new.owner_id),
            title: Set(new.title),
            description: Set(new.description),
            period_start: Set(new.period_start),
            period_end: Set(new.period_end),
            parent_id: Set(new.parent_id),
            created_by: Set(actor.to_owned()),
            created_at: Set(chrono::Utc::now().timestamp_millis()),
        }
        .insert(&txn)
        .await?;
        let event = envelope(
            tenant,
            events::OBJECTIVE_CREATED,
            &model.id,
            actor,
            serde_json::json!({
                "objective_id": model.id,
                "owner_id": model.owner_id,
                "parent_id": model.parent_id,
                "period_start": model.period_start,
                "period_end": model.period_end,
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Aligns an objective under `parent_id` (or detaches it); publishes
    /// `okr.objective_aligned`. A parent aligned (indirectly) under the objective is refused:
    /// BAD_USER_INPUT, reason OBJECTIVE_CYCLE.
    pub async fn align_objective(
        &self,
        tenant: &TenantId,
        actor: &str,
        objective_id: &str,
        parent_id: Option<&str>,
    ) -> RuleResult<objective::Model> {
        let txn = begin_write(self.db()).await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Concurrent alignments could close a loop together: a tenant's take turns.
            txn.execute(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                [format!("okr:{tenant}").into()],
            ))
            .await?;
        }
        let found = find_objective(&txn, tenant, objective_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        if let Some(parent) = parent_id {
            if find_objective(&txn, tenant, parent).await?.is_none() {
                return Err(ApiError::bad_input("parentId", "no such objective").into());
            }
        }
        let parents: HashMap<String, Option<String>> = objective::Entity::find()
            .select_only()
            .column(objective::Column::Id)
            .column(objective::Column::ParentId)
            .filter(objective::Column::TenantId.eq(tenant.as_str()))
            .into_tuple::<(String, Option<String>)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        check_alignment(&found.id, parent_id, |o| parents.get(o).cloned().flatten())?;
        let previous = found.parent_id.clone();
        let mut active: objective::ActiveModel = found.into();
        active.parent_id = Set(parent_id.map(str::to_owned));
        let model = active.update(&txn).await?;
        let event = envelope(
            tenant,
            events::OBJECTIVE_ALIGNED,
            &model.id,
            actor,
            serde_json::json!({
                "objective_id": model.id,
                "parent_id": model.parent_id,
                "previous_parent_id": previous,
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Adds a key result (at most [`MAX_KEY_RESULTS`] per objective: CONFLICT, reason
    /// KEY_RESULT_LIMIT); publishes `okr.key_result_added`.
    pub async fn add_key_result(
        &self,
        tenant: &TenantId,
        actor: &str,
        objective_id: &str,
        new: NewKeyResult,
    ) -> RuleResult<key_result::Model> {
        let txn = begin_write(self.db()).await?;
        let found = find_objective(&txn, tenant, objective_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        let count = key_result::Entity::find()
            .filter(key_result::Column::TenantId.eq(tenant.as_str()))
            .filter(key_result::Column::ObjectiveId.eq(found.id.as_str()))
            .count(&txn)
            .await?;
        if count as usize >= MAX_KEY_RESULTS {
            return Err(RuleError::rule(
                ApiError::Conflict(format!(
                    "an objective holds at most {MAX_KEY_RESULTS} key results"
                )),
                "KEY_RESULT_LIMIT",
            ));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let model = key_result::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            objective_id: Set(found.id.clone()),
            title: Set(new.title),
            start_value: Set(new.start_value),
            target_value: Set(new.target_value),
            current_value: Set(new.start_value),
            unit: Set(new.unit),
            status: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let event = envelope(
            tenant,
            events::KEY_RESULT_ADDED,
            &found.id,
            actor,
            serde_json::json!({
                "objective_id": found.id,
                "key_result_id": model.id,
                "start_value": model.start_value,
                "target_value": model.target_value,
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Records a check-in of a key result: its new value and status (the pace-based status
    /// when none is given); publishes `okr.checked_in`.
    pub async fn check_in_key_result(
        &self,
        tenant: &TenantId,
        actor: &str,
        key_result_id: &str,
        report: KeyResultCheckIn,
    ) -> ApiResult<(key_result::Model, check_in::Model)> {
        let KeyResultCheckIn {
            value,
            status,
            note,
            today,
        } = report;
        let txn = begin_write(self.db()).await?;
        let found = key_result::Entity::find_by_id(key_result_id.to_owned())
            .filter(key_result::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::NotFound("key result".into()))?;
        let parent = find_objective(&txn, tenant, &found.objective_id)
            .await?
            .ok_or_else(|| ApiError::internal("a key result's objective is missing"))?;
        let done = progress(found.start_value, found.target_value, value);
        let status = status.unwrap_or_else(|| {
            suggested_status(done, elapsed(parent.period_start, parent.period_end, today))
        });
        let now = chrono::Utc::now().timestamp_millis();
        let recorded = check_in::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            key_result_id: Set(found.id.clone()),
            value: Set(value),
            status: Set(status.as_str().to_owned()),
            note: Set(note),
            author: Set(actor.to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let mut active: key_result::ActiveModel = found.into();
        active.current_value = Set(value);
        active.status = Set(Some(status.as_str().to_owned()));
        active.updated_at = Set(now);
        let updated = active.update(&txn).await?;
        let event = envelope(
            tenant,
            events::OKR_CHECKED_IN,
            &parent.id,
            actor,
            serde_json::json!({
                "objective_id": parent.id,
                "key_result_id": updated.id,
                "check_in_id": recorded.id,
                "value": value,
                "progress": done,
                "status": status.as_str(),
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok((updated, recorded))
    }

    pub async fn objective(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<objective::Model>> {
        find_objective(self.db(), tenant, id).await
    }

    pub async fn objectives_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, objective::Model>> {
        Ok(objective::Entity::find()
            .filter(objective::Column::TenantId.eq(tenant.as_str()))
            .filter(objective::Column::Id.is_in(ids.iter().cloned()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect())
    }

    pub async fn list_objectives(
        &self,
        tenant: &TenantId,
        filter: &ObjectiveFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<objective::Model>> {
        let mut query =
            objective::Entity::find().filter(objective::Column::TenantId.eq(tenant.as_str()));
        if let Some(owner) = &filter.owner_id {
            query = query.filter(objective::Column::OwnerId.eq(owner.as_str()));
        }
        if let Some(parent) = &filter.parent_id {
            query = query.filter(objective::Column::ParentId.eq(parent.as_str()));
        }
        Ok(keyset_page(query, objective::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// The key results of a batch of objectives (one query), in creation order.
    pub async fn key_results_of(
        &self,
        tenant: &TenantId,
        objective_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<key_result::Model>>> {
        let mut grouped: HashMap<String, Vec<key_result::Model>> = HashMap::new();
        for row in key_result::Entity::find()
            .filter(key_result::Column::TenantId.eq(tenant.as_str()))
            .filter(key_result::Column::ObjectiveId.is_in(objective_ids.iter().cloned()))
            .order_by_asc(key_result::Column::Id)
            .all(self.db())
            .await?
        {
            grouped
                .entry(row.objective_id.clone())
                .or_default()
                .push(row);
        }
        Ok(grouped)
    }

    pub async fn key_result(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<key_result::Model>> {
        Ok(key_result::Entity::find_by_id(id.to_owned())
            .filter(key_result::Column::TenantId.eq(tenant.as_str()))
            .one(self.db())
            .await?)
    }

    pub async fn list_check_ins(
        &self,
        tenant: &TenantId,
        key_result_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<check_in::Model>> {
        let query = check_in::Entity::find()
            .filter(check_in::Column::TenantId.eq(tenant.as_str()))
            .filter(check_in::Column::KeyResultId.eq(key_result_id));
        Ok(keyset_page(query, check_in::Column::Id, page)
            .all(self.db())
            .await?)
    }
}

async fn find_objective<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<objective::Model>> {
    Ok(objective::Entity::find_by_id(id.to_owned())
        .filter(objective::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}
