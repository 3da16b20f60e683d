//! The reporting line: manager changes (never closing a loop), and who stands where to whom.

use std::collections::HashMap;

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Employee;
use crate::domain::org::{
    all_reports, chain_of_command, check_new_manager, reports_index, Standing,
};
use crate::domain::EmploymentStatus;
use crate::events;
use crate::store::entities::employee;
use crate::store::org::{self as store, OrgEdge};
use crate::store::people;

/// The caller as the row-level rules see them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant: TenantId,
    pub user_id: String,
    /// The caller's own employee record, when one is linked to their user.
    pub employee: Option<employee::Model>,
    /// `hr:read` or `hr:admin`: every record of the tenant.
    pub hr_read: bool,
    pub hr_admin: bool,
    pub employee_write: bool,
    /// Holds the deprecated `employee:read:private` (see [`Standing::reads_private`]).
    pub reads_private: bool,
}

impl Viewer {
    pub fn employee_id(&self) -> Option<&str> {
        self.employee.as_ref().map(|e| e.id.as_str())
    }

    /// How the viewer stands to `target`, given whether they are above `target` in the
    /// reporting line.
    pub fn standing(&self, target: &employee::Model, is_manager: bool) -> Standing {
        Standing {
            is_self: self.employee_id() == Some(target.id.as_str()),
            is_manager,
            hr_read: self.hr_read,
            hr_admin: self.hr_admin,
            employee_write: self.employee_write,
            reads_private: self.reads_private,
        }
    }
}

impl Employee {
    /// Gives `employee_id` the manager `manager_id` (or none); publishes
    /// `employee.manager_changed`. Refused with MANAGER_CYCLE when the new manager is the
    /// employee or (indirectly) reports to them.
    pub async fn set_manager(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        manager_id: Option<&str>,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        store::lock_tree(&txn, tenant, "org").await?;
        let found = people::employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        if let Some(manager_id) = manager_id {
            let manager = people::employee(&txn, tenant, manager_id).await?;
            if manager.is_none_or(|m| m.status == EmploymentStatus::Terminated.as_str()) {
                return Err(ApiError::bad_input("managerId", "no such active employee"));
            }
        }
        let managers: HashMap<String, Option<String>> = store::org_edges(&txn, tenant)
            .await?
            .into_iter()
            .map(|edge| (edge.employee_id, edge.manager_id))
            .collect();
        check_new_manager(&found.id, manager_id, |e| {
            managers.get(e).cloned().flatten()
        })?;
        let previous = found.manager_id.clone();
        let model = people::update_manager(&txn, found, manager_id, chrono::Utc::now()).await?;
        let changed = EventEnvelope::by_actor(
            tenant,
            events::MANAGER_CHANGED,
            &model.id,
            actor,
            serde_json::json!({
                "employee_id": model.id,
                "manager_id": model.manager_id,
                "previous_manager_id": previous,
            }),
        )?;
        self.outbox.enqueue(&txn, &changed).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// The tenant's whole reporting line in one query (ids only).
    pub async fn org_edges(&self, tenant: &TenantId) -> ApiResult<Vec<OrgEdge>> {
        Ok(store::org_edges(&self.db, tenant).await?)
    }

    /// One page of each manager's direct reports in id order (one query for all of them).
    pub async fn direct_reports_pages(
        &self,
        tenant: &TenantId,
        managers: &[String],
        page: &PageRequest,
    ) -> ApiResult<HashMap<String, Vec<employee::Model>>> {
        Ok(store::direct_reports_pages(&self.db, tenant, managers, page).await?)
    }

    /// The employees whose attendance the viewer sees: `None` for the whole tenant (HR), else
    /// the viewer's direct and indirect reports; FORBIDDEN (NO_EMPLOYEE_RECORD) for a viewer
    /// with neither an HR scope nor an employee record.
    pub async fn visible_employee_ids(&self, viewer: &Viewer) -> ApiResult<Option<Vec<String>>> {
        if viewer.hr_read {
            return Ok(None);
        }
        let Some(me) = viewer.employee_id() else {
            return Err(ApiError::rule(
                crate::domain::reasons::NO_EMPLOYEE_RECORD,
                "no employee record is linked to this user, and HR scopes are missing",
            ));
        };
        let edges = self.org_edges(&viewer.tenant).await?;
        let index = reports_index(
            edges
                .iter()
                .map(|e| (e.employee_id.as_str(), e.manager_id.as_deref())),
        );
        Ok(Some(all_reports(me, &index)))
    }

    /// Whether the viewer sees `employee_id`'s attendance now: HR the whole tenant, anyone
    /// their own, a manager their direct and indirect reports. Read from the database at each
    /// call, so a live board that asks before each event follows the reporting line as it
    /// changes (a report moved away stops reaching the old manager's board).
    pub async fn sees_attendance_of(&self, viewer: &Viewer, employee_id: &str) -> ApiResult<bool> {
        if viewer.hr_read {
            return Ok(true);
        }
        let Some(me) = viewer.employee_id() else {
            return Ok(false);
        };
        if me == employee_id {
            return Ok(true);
        }
        let Some(target) = people::employee(&self.db, &viewer.tenant, employee_id).await? else {
            return Ok(false);
        };
        is_above(&self.db, &viewer.tenant, me, &target).await
    }

    /// How the viewer stands to `target` (the GraphQL layer computes the same through its
    /// DataLoaders for the records it shows).
    pub(crate) async fn standing_of(
        &self,
        viewer: &Viewer,
        target: &employee::Model,
    ) -> ApiResult<Standing> {
        let is_manager = match viewer.employee_id() {
            Some(me) if me != target.id => is_above(&self.db, &viewer.tenant, me, target).await?,
            _ => false,
        };
        Ok(viewer.standing(target, is_manager))
    }
}

/// Whether `employee_id` is above `of` in the reporting line, read level by level (in the
/// caller's transaction when it decides a write).
pub(crate) async fn is_above(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    of: &employee::Model,
) -> ApiResult<bool> {
    let managers = store::managers_above(db, tenant, of).await?;
    Ok(chain_of_command(&of.id, |e| {
        if e == of.id {
            of.manager_id.clone()
        } else {
            managers.get(e).cloned().flatten()
        }
    })
    .iter()
    .any(|above| above == employee_id))
}
