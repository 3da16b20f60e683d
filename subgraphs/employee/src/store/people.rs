//! Employees and departments.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{department, employee};
use super::IN_LIST_CHUNK;
use crate::domain::{EmploymentStatus, NewHire};

/// Filters of the employee list.
#[derive(Debug, Clone, Default)]
pub struct EmployeeFilter {
    pub department_id: Option<String>,
    pub manager_id: Option<String>,
    pub status: Option<EmploymentStatus>,
}

/// An employee's compensation as stored: every value sealed by the kit's `FieldCipher`, the tax
/// id also as its blind index.
#[derive(Debug, Clone)]
pub struct SealedCompensation {
    pub salary: String,
    pub currency: String,
    pub bank_account: Option<String>,
    pub tax_id: Option<String>,
    pub tax_id_index: Option<String>,
}

pub async fn employee(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<employee::Model>, DbErr> {
    employee::Entity::find_by_id(id.to_owned())
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// An employee row, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`; SQLite
/// serialises writers anyway): the writes that move a leave balance take it first.
pub async fn lock_employee(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<employee::Model>, DbErr> {
    employee::Entity::find_by_id(id.to_owned())
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

/// Employees by id (one query per 500 ids).
pub async fn employees_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, employee::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// The employee record linked to a user.
pub async fn employee_of_user(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Option<employee::Model>, DbErr> {
    employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// The employee records linked to these users (one query).
pub async fn employees_of_users(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_ids: &[String],
) -> Result<Vec<employee::Model>, DbErr> {
    employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::UserId.is_in(user_ids.iter().cloned()))
        .all(db)
        .await
}

/// The employee whose tax id has this blind index.
pub async fn employee_by_tax_index(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    index: &str,
) -> Result<Option<employee::Model>, DbErr> {
    employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::TaxIdIndex.eq(index))
        .one(db)
        .await
}

/// Every employee's id, number, user and whether a compensation is stored (what a bulk import
/// needs to skip the people it wrote before), in one query.
pub async fn employee_keys(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<(String, String, Option<String>, Option<String>)>, DbErr> {
    employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .column(employee::Column::EmployeeNumber)
        .column(employee::Column::UserId)
        .column(employee::Column::SalarySealed)
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .into_tuple()
        .all(db)
        .await
}

/// One page of employees in id order (ids are time-ordered UUIDv7), `limit + 1` rows.
pub async fn list_employees(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &EmployeeFilter,
    page: &PageRequest,
) -> Result<Vec<employee::Model>, DbErr> {
    let mut query = employee::Entity::find().filter(employee::Column::TenantId.eq(tenant.as_str()));
    if let Some(department_id) = &filter.department_id {
        query = query.filter(employee::Column::DepartmentId.eq(department_id.as_str()));
    }
    if let Some(manager_id) = &filter.manager_id {
        query = query.filter(employee::Column::ManagerId.eq(manager_id.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(employee::Column::Status.eq(status.as_str()));
    }
    keyset_page(query, employee::Column::Id, page).all(db).await
}

/// One page (`limit + 1` rows, keyset on the id) of the employees still employed: of one
/// department or all, and only `visible` ones when given.
pub async fn employed_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    department_id: Option<&str>,
    visible: Option<&[String]>,
    page: &PageRequest,
) -> Result<Vec<employee::Model>, DbErr> {
    let mut query = employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::Status.ne(EmploymentStatus::Terminated.as_str()));
    if let Some(department_id) = department_id {
        query = query.filter(employee::Column::DepartmentId.eq(department_id));
    }
    if let Some(visible) = visible {
        if visible.is_empty() {
            return Ok(Vec::new());
        }
        query = query.filter(employee::Column::Id.is_in(visible.iter().cloned()));
    }
    keyset_page(query, employee::Column::Id, page).all(db).await
}

/// Writes a hire as an active employee.
pub async fn insert_employee(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    hire: &NewHire,
    now: DateTime<Utc>,
) -> Result<employee::Model, DbErr> {
    employee::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        employee_number: Set(hire.employee_number.as_str().to_owned()),
        user_id: Set(hire.user_id.clone()),
        display_name: Set(hire.display_name.as_str().to_owned()),
        work_email: Set(hire.work_email.as_str().to_owned()),
        personal_email: Set(hire.personal_email.as_ref().map(|e| e.as_str().to_owned())),
        date_of_birth: Set(hire.date_of_birth),
        title: Set(hire.title.clone()),
        status: Set(EmploymentStatus::Active.as_str().to_owned()),
        department_id: Set(hire.department_id.clone()),
        manager_id: Set(hire.manager_id.clone()),
        hired_on: Set(hire.hired_on),
        created_at: Set(now),
        updated_at: Set(now),
        salary_sealed: Set(None),
        salary_currency: Set(None),
        bank_account_sealed: Set(None),
        tax_id_sealed: Set(None),
        tax_id_index: Set(None),
        location_id: Set(None),
        last_working_day: Set(None),
        exit_reason: Set(None),
        exit_notes: Set(None),
        exit_recorded_by: Set(None),
        exit_recorded_at: Set(None),
        left_at: Set(None),
    }
    .insert(db)
    .await
}

/// Replaces an employee's sealed compensation.
pub async fn update_compensation(
    db: &impl ConnectionTrait,
    found: employee::Model,
    sealed: SealedCompensation,
    now: DateTime<Utc>,
) -> Result<employee::Model, DbErr> {
    let mut active: employee::ActiveModel = found.into();
    active.salary_sealed = Set(Some(sealed.salary));
    active.salary_currency = Set(Some(sealed.currency));
    active.bank_account_sealed = Set(sealed.bank_account);
    active.tax_id_sealed = Set(sealed.tax_id);
    active.tax_id_index = Set(sealed.tax_id_index);
    active.updated_at = Set(now);
    active.update(db).await
}

/// Gives an employee a manager (or none).
pub async fn update_manager(
    db: &impl ConnectionTrait,
    found: employee::Model,
    manager_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<employee::Model, DbErr> {
    let mut active: employee::ActiveModel = found.into();
    active.manager_id = Set(manager_id.map(str::to_owned));
    active.updated_at = Set(now);
    active.update(db).await
}

pub async fn department(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<department::Model>, DbErr> {
    department::Entity::find_by_id(id.to_owned())
        .filter(department::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn departments_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, department::Model>, DbErr> {
    Ok(department::Entity::find()
        .filter(department::Column::TenantId.eq(tenant.as_str()))
        .filter(department::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect())
}

/// Every department of the tenant, in id order.
pub async fn all_departments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<department::Model>, DbErr> {
    department::Entity::find()
        .filter(department::Column::TenantId.eq(tenant.as_str()))
        .all(db)
        .await
}

pub async fn list_departments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<department::Model>, DbErr> {
    let query = department::Entity::find().filter(department::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, department::Column::Id, page)
        .all(db)
        .await
}

pub async fn insert_department(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
    parent_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<department::Model, DbErr> {
    department::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        parent_id: Set(parent_id),
        created_at: Set(now),
    }
    .insert(db)
    .await
}
