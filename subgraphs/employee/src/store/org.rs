//! The reporting line: who manages whom, read for org charts and row-level rules, and
//! changed only when the change closes no loop.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, QuerySelect, Set, Statement,
};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::employee;
use super::pages::pages_per_parent;
use super::EmployeeStore;
use crate::domain::org::{check_new_manager, RuleResult};
use crate::domain::EmploymentStatus;
use crate::events;

/// One employee's place in the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgEdge {
    pub employee_id: String,
    pub manager_id: Option<String>,
    pub department_id: Option<String>,
}

impl EmployeeStore {
    /// The tenant's whole reporting line in one query (ids only).
    pub async fn org_edges(&self, tenant: &TenantId) -> ApiResult<Vec<OrgEdge>> {
        org_edges(self.db(), tenant).await
    }

    /// One page of each manager's direct reports in id order (one query for all of them).
    pub async fn direct_reports_pages(
        &self,
        tenant: &TenantId,
        managers: &[String],
        page: &PageRequest,
    ) -> ApiResult<HashMap<String, Vec<employee::Model>>> {
        pages_per_parent::<employee::Entity, _>(
            self.db(),
            Condition::all().add(employee::Column::TenantId.eq(tenant.as_str())),
            employee::Column::ManagerId,
            managers,
            employee::Column::Id,
            page,
            |report| report.manager_id.as_deref(),
        )
        .await
    }

    /// The employee records linked to these users (one query).
    pub async fn employees_of_users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> ApiResult<Vec<employee::Model>> {
        Ok(employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::UserId.is_in(user_ids.iter().cloned()))
            .all(self.db())
            .await?)
    }

    /// Gives `employee_id` the manager `manager_id` (or none); publishes
    /// `employee.manager_changed`. Refused with MANAGER_CYCLE when the new manager is the
    /// employee or (indirectly) reports to them.
    pub async fn set_manager(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        manager_id: Option<&str>,
    ) -> RuleResult<employee::Model> {
        let txn = begin_write(self.db()).await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Two concurrent changes could each pass the check and close a loop together:
            // reporting-line changes of a tenant take turns.
            txn.execute(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                [format!("org:{tenant}").into()],
            ))
            .await?;
        }
        let found = employee::Entity::find_by_id(employee_id.to_owned())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        if let Some(manager_id) = manager_id {
            let manager = employee::Entity::find_by_id(manager_id.to_owned())
                .filter(employee::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if manager.is_none_or(|m| m.status == EmploymentStatus::Terminated.as_str()) {
                return Err(ApiError::bad_input("managerId", "no such active employee").into());
            }
        }
        let managers: HashMap<String, Option<String>> = org_edges(&txn, tenant)
            .await?
            .into_iter()
            .map(|edge| (edge.employee_id, edge.manager_id))
            .collect();
        check_new_manager(&found.id, manager_id, |e| {
            managers.get(e).cloned().flatten()
        })?;
        let previous = found.manager_id.clone();
        let mut active: employee::ActiveModel = found.into();
        active.manager_id = Set(manager_id.map(str::to_owned));
        active.updated_at = Set(chrono::Utc::now());
        let model = active.update(&txn).await?;
        let event = EventEnvelope::new(
            tenant,
            events::MANAGER_CHANGED,
            &model.id,
            serde_json::json!({
                "employee_id": model.id,
                "manager_id": model.manager_id,
                "previous_manager_id": previous,
            }),
        )
        .map_err(ApiError::internal)?
        .with_actor(actor);
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }
}

async fn org_edges<C: ConnectionTrait>(db: &C, tenant: &TenantId) -> ApiResult<Vec<OrgEdge>> {
    let rows: Vec<(String, Option<String>, Option<String>)> = employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .column(employee::Column::ManagerId)
        .column(employee::Column::DepartmentId)
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(employee_id, manager_id, department_id)| OrgEdge {
            employee_id,
            manager_id,
            department_id,
        })
        .collect())
}
