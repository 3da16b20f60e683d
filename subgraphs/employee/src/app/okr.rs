//! OKRs: objectives (aligned under a parent, never in a loop), key results and check-ins.
//! An objective and its key results are changed by its owner, the managers above the owner,
//! or HR.

use std::collections::HashMap;

use chrono::NaiveDate;

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::org::Viewer;
use super::{now_ms, Employee};
use crate::domain::okr::{
    check_alignment, check_key_result_count, check_owner_rights, elapsed, progress,
    suggested_status, OkrStatus,
};
use crate::events;
use crate::store::entities::{key_result, objective, okr_check_in as check_in};
use crate::store::okr::{self as store, NewKeyResult, NewObjective, ObjectiveFilter};
use crate::store::{org, people};

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

impl Employee {
    /// FORBIDDEN (NOT_OWNER) unless the viewer owns the objective, manages its owner, or is
    /// HR.
    async fn require_owner_rights(&self, viewer: &Viewer, owner_id: &str) -> ApiResult<()> {
        let owner = people::employee(&self.db, &viewer.tenant, owner_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("ownerId", "no such employee"))?;
        check_owner_rights(self.standing_of(viewer, &owner).await?)?;
        Ok(())
    }

    /// Creates an objective (aligned under `parent_id` when given); publishes
    /// `okr.objective_created`.
    pub async fn create_objective(
        &self,
        viewer: &Viewer,
        new: NewObjective,
    ) -> ApiResult<objective::Model> {
        let tenant = &viewer.tenant;
        self.require_owner_rights(viewer, &new.owner_id).await?;
        let txn = begin_write(&self.db).await?;
        if people::employee(&txn, tenant, &new.owner_id)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_input("ownerId", "no such employee"));
        }
        if let Some(parent) = &new.parent_id {
            if store::objective(&txn, tenant, parent).await?.is_none() {
                return Err(ApiError::bad_input("parentId", "no such objective"));
            }
        }
        let model = store::insert_objective(&txn, tenant, new, &viewer.user_id, now_ms()).await?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::OBJECTIVE_CREATED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "objective_id": model.id,
                "owner_id": model.owner_id,
                "parent_id": model.parent_id,
                "period_start": model.period_start,
                "period_end": model.period_end,
            }),
        )?;
        self.outbox.enqueue(&txn, &created).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Aligns an objective under `parent_id` (or detaches it); publishes
    /// `okr.objective_aligned`. A parent aligned (indirectly) under the objective is refused:
    /// BAD_USER_INPUT, reason OBJECTIVE_CYCLE.
    pub async fn align_objective(
        &self,
        viewer: &Viewer,
        objective_id: &str,
        parent_id: Option<&str>,
    ) -> ApiResult<objective::Model> {
        let tenant = &viewer.tenant;
        let found = store::objective(&self.db, tenant, objective_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        self.require_owner_rights(viewer, &found.owner_id).await?;
        let txn = begin_write(&self.db).await?;
        org::lock_tree(&txn, tenant, "okr").await?;
        let found = store::objective(&txn, tenant, &found.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        if let Some(parent) = parent_id {
            if store::objective(&txn, tenant, parent).await?.is_none() {
                return Err(ApiError::bad_input("parentId", "no such objective"));
            }
        }
        let parents = store::objective_parents(&txn, tenant).await?;
        check_alignment(&found.id, parent_id, |o| parents.get(o).cloned().flatten())?;
        let previous = found.parent_id.clone();
        let model = store::update_parent(&txn, found, parent_id).await?;
        let aligned = EventEnvelope::by_actor(
            tenant,
            events::OBJECTIVE_ALIGNED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "objective_id": model.id,
                "parent_id": model.parent_id,
                "previous_parent_id": previous,
            }),
        )?;
        self.outbox.enqueue(&txn, &aligned).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Adds a key result (at most 10 per objective: CONFLICT, reason KEY_RESULT_LIMIT);
    /// publishes `okr.key_result_added`.
    pub async fn add_key_result(
        &self,
        viewer: &Viewer,
        objective_id: &str,
        new: NewKeyResult,
    ) -> ApiResult<key_result::Model> {
        let tenant = &viewer.tenant;
        let found = store::objective(&self.db, tenant, objective_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        self.require_owner_rights(viewer, &found.owner_id).await?;
        let txn = begin_write(&self.db).await?;
        let found = store::objective(&txn, tenant, &found.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("objective".into()))?;
        let held = store::key_result_count(&txn, tenant, &found.id).await?;
        check_key_result_count(usize::try_from(held).unwrap_or(usize::MAX))?;
        let model = store::insert_key_result(&txn, tenant, &found.id, new, now_ms()).await?;
        let added = EventEnvelope::by_actor(
            tenant,
            events::KEY_RESULT_ADDED,
            &found.id,
            &viewer.user_id,
            serde_json::json!({
                "objective_id": found.id,
                "key_result_id": model.id,
                "start_value": model.start_value,
                "target_value": model.target_value,
            }),
        )?;
        self.outbox.enqueue(&txn, &added).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Records a check-in of a key result: its new value and status (the pace-based status
    /// when none is given); publishes `okr.checked_in`.
    pub async fn check_in_key_result(
        &self,
        viewer: &Viewer,
        key_result_id: &str,
        report: KeyResultCheckIn,
    ) -> ApiResult<(key_result::Model, check_in::Model)> {
        let tenant = &viewer.tenant;
        let result = store::key_result(&self.db, tenant, key_result_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("key result".into()))?;
        let owner = store::objective(&self.db, tenant, &result.objective_id)
            .await?
            .ok_or_else(|| ApiError::internal("a key result's objective is missing"))?
            .owner_id;
        self.require_owner_rights(viewer, &owner).await?;
        let KeyResultCheckIn {
            value,
            status,
            note,
            today,
        } = report;
        let txn = begin_write(&self.db).await?;
        let found = store::key_result(&txn, tenant, &result.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("key result".into()))?;
        let parent = store::objective(&txn, tenant, &found.objective_id)
            .await?
            .ok_or_else(|| ApiError::internal("a key result's objective is missing"))?;
        let done = progress(found.start_value, found.target_value, value);
        let status = status.unwrap_or_else(|| {
            suggested_status(done, elapsed(parent.period_start, parent.period_end, today))
        });
        let now = now_ms();
        let recorded = store::insert_check_in(
            &txn,
            tenant,
            &found.id,
            value,
            status,
            note,
            &viewer.user_id,
            now,
        )
        .await?;
        let updated = store::update_key_result(&txn, found, value, status, now).await?;
        let checked_in = EventEnvelope::by_actor(
            tenant,
            events::OKR_CHECKED_IN,
            &parent.id,
            &viewer.user_id,
            serde_json::json!({
                "objective_id": parent.id,
                "key_result_id": updated.id,
                "check_in_id": recorded.id,
                "value": value,
                "progress": done,
                "status": status.as_str(),
            }),
        )?;
        self.outbox.enqueue(&txn, &checked_in).await?;
        self.outbox.commit(txn).await?;
        Ok((updated, recorded))
    }

    pub async fn objective(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<objective::Model>> {
        Ok(store::objective(&self.db, tenant, id).await?)
    }

    pub async fn objectives_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, objective::Model>> {
        Ok(store::objectives_by_ids(&self.db, tenant, ids).await?)
    }

    pub async fn list_objectives(
        &self,
        tenant: &TenantId,
        filter: &ObjectiveFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<objective::Model>> {
        Ok(store::list_objectives(&self.db, tenant, filter, page).await?)
    }

    /// The key results of a batch of objectives (one query), in creation order.
    pub async fn key_results_of(
        &self,
        tenant: &TenantId,
        objective_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<key_result::Model>>> {
        Ok(store::key_results_of(&self.db, tenant, objective_ids).await?)
    }

    pub async fn list_check_ins(
        &self,
        tenant: &TenantId,
        key_result_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<check_in::Model>> {
        Ok(store::list_check_ins(&self.db, tenant, key_result_id, page).await?)
    }
}
