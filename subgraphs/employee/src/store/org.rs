//! The reporting line: who manages whom.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Statement,
};

use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;

use super::entities::employee;
use super::pages::pages_per_parent;
use crate::domain::org::MAX_CHAIN;

/// One employee's place in the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgEdge {
    pub employee_id: String,
    pub manager_id: Option<String>,
    pub department_id: Option<String>,
}

/// The tenant's whole reporting line in one query (ids only).
pub async fn org_edges(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<OrgEdge>, DbErr> {
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

/// Each manager above `of` with their own manager, read level by level (one query per level,
/// at most [`MAX_CHAIN`] levels; a cycle in the data ends the walk).
pub async fn managers_above(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    of: &employee::Model,
) -> Result<HashMap<String, Option<String>>, DbErr> {
    let mut managers: HashMap<String, Option<String>> = HashMap::new();
    let mut next = of.manager_id.clone();
    while let Some(id) = next.take() {
        if id == of.id || managers.contains_key(&id) || managers.len() >= MAX_CHAIN {
            break;
        }
        let manager = employee::Entity::find_by_id(id.clone())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(db)
            .await?;
        next = manager.and_then(|m| m.manager_id);
        managers.insert(id, next.clone());
    }
    Ok(managers)
}

/// One page of each manager's direct reports in id order (one query for all of them).
pub async fn direct_reports_pages(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    managers: &[String],
    page: &PageRequest,
) -> Result<HashMap<String, Vec<employee::Model>>, DbErr> {
    pages_per_parent::<employee::Entity, _>(
        db,
        Condition::all().add(employee::Column::TenantId.eq(tenant.as_str())),
        employee::Column::ManagerId,
        managers,
        employee::Column::Id,
        page,
        |report| report.manager_id.as_deref(),
    )
    .await
}

/// Makes the transaction's changes of a tree of the tenant (`tree`: `org`, `okr`) take turns
/// on PostgreSQL: two concurrent changes could each pass the cycle check and close a loop
/// together. (SQLite serialises writers anyway.)
pub async fn lock_tree(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    tree: &str,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            [format!("{tree}:{tenant}").into()],
        ))
        .await?;
    }
    Ok(())
}
