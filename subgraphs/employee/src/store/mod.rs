//! Persistence of employees and departments. Every function takes the caller's [`TenantId`] and
//! filters by it: a row of another tenant is indistinguishable from a missing row.

pub mod attendance;
pub mod entities;
pub mod leave;
pub mod okr;
pub mod org;
pub mod pages;
pub mod shift;

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use erp_kit::cache::SharedCache;
use erp_kit::crypto::FieldCipher;
use erp_kit::db::begin_write;
use erp_kit::events::{EventEnvelope, Outbox};
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::{EmploymentStatus, NewHire, Salary};
use crate::events;
use entities::{department, employee};

/// Filters of the employee list.
#[derive(Debug, Clone, Default)]
pub struct EmployeeFilter {
    pub department_id: Option<String>,
    pub manager_id: Option<String>,
    pub status: Option<EmploymentStatus>,
}

/// The employee store on sea-orm (PostgreSQL or SQLite).
#[derive(Clone)]
pub struct EmployeeStore {
    db: DatabaseConnection,
    outbox: Outbox,
    cipher: FieldCipher,
    cache: SharedCache,
}

/// An employee's compensation, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compensation {
    pub salary: Option<Salary>,
    pub bank_account: Option<String>,
    pub tax_id: Option<String>,
}

/// What `set_compensation` writes (each value already parsed).
#[derive(Debug, Clone)]
pub struct CompensationChange {
    pub salary: Salary,
    pub bank_account: Option<String>,
    pub tax_id: Option<String>,
}

const EMPLOYEES: &str = "employees";

fn encode_event(envelope: Result<EventEnvelope, serde_json::Error>) -> ApiResult<EventEnvelope> {
    envelope.map_err(ApiError::internal)
}

impl EmployeeStore {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        cipher: FieldCipher,
        cache: SharedCache,
    ) -> Self {
        Self {
            db,
            outbox,
            cipher,
            cache,
        }
    }

    pub fn cache(&self) -> &SharedCache {
        &self.cache
    }

    pub fn cipher(&self) -> &FieldCipher {
        &self.cipher
    }

    /// Seals and stores an employee's compensation; the event carries no amount.
    pub async fn set_compensation(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        change: CompensationChange,
    ) -> ApiResult<employee::Model> {
        // Sealed before the transaction: a tenant's first seal creates its data key through the
        // pool, which would wait on this transaction's own write lock on SQLite.
        let seal = |column: &'static str, value: String| {
            let cipher = self.cipher.clone();
            let tenant = tenant.clone();
            async move {
                cipher
                    .encrypt(&tenant, EMPLOYEES, column, employee_id, &value)
                    .await
            }
        };
        let salary_sealed = seal("salary", change.salary.amount.clone()).await?;
        let bank_account_sealed = match change.bank_account {
            Some(account) => Some(seal("bank_account", account).await?),
            None => None,
        };
        let (tax_sealed, tax_index) = match change.tax_id {
            Some(tax_id) => (
                Some(seal("tax_id", tax_id.clone()).await?),
                Some(self.cipher.blind_index(tenant, "tax_id", &tax_id).await?),
            ),
            None => (None, None),
        };
        let txn = begin_write(&self.db).await?;
        let found = employee::Entity::find_by_id(employee_id.to_owned())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let mut active: employee::ActiveModel = found.into();
        active.salary_sealed = Set(Some(salary_sealed));
        active.salary_currency = Set(Some(change.salary.currency.clone()));
        active.bank_account_sealed = Set(bank_account_sealed);
        active.tax_id_sealed = Set(tax_sealed);
        active.tax_id_index = Set(tax_index);
        active.updated_at = Set(chrono::Utc::now());
        let model = active.update(&txn).await?;
        let event = encode_event(EventEnvelope::new(
            tenant,
            events::COMPENSATION_CHANGED,
            &model.id,
            serde_json::json!({ "employee_id": model.id, "currency": change.salary.currency }),
        ))?
        .with_actor(actor);
        self.outbox.enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(model)
    }

    /// Opens an employee's sealed fields.
    pub async fn compensation(
        &self,
        tenant: &TenantId,
        model: &employee::Model,
    ) -> ApiResult<Compensation> {
        let open = |column: &'static str, sealed: &Option<String>| {
            let cipher = self.cipher.clone();
            let tenant = tenant.clone();
            let row = model.id.clone();
            let sealed = sealed.clone();
            async move {
                match sealed {
                    Some(sealed) => cipher
                        .decrypt(&tenant, EMPLOYEES, column, &row, &sealed)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            }
        };
        let amount = open("salary", &model.salary_sealed).await?;
        Ok(Compensation {
            salary: amount.map(|amount| Salary {
                amount,
                currency: model.salary_currency.clone().unwrap_or_default(),
            }),
            bank_account: open("bank_account", &model.bank_account_sealed).await?,
            tax_id: open("tax_id", &model.tax_id_sealed).await?,
        })
    }

    /// Finds an employee by tax id through the blind index (no plaintext is searched).
    pub async fn employee_by_tax_id(
        &self,
        tenant: &TenantId,
        tax_id: &str,
    ) -> ApiResult<Option<employee::Model>> {
        let index = self.cipher.blind_index(tenant, "tax_id", tax_id).await?;
        Ok(employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::TaxIdIndex.eq(index))
            .one(&self.db)
            .await?)
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Hires an employee and records `employee.hired`, in one transaction.
    pub async fn hire(
        &self,
        tenant: &TenantId,
        actor: &str,
        hire: NewHire,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        if let Some(department_id) = &hire.department_id {
            let found = department::Entity::find_by_id(department_id.clone())
                .filter(department::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if found.is_none() {
                return Err(ApiError::bad_input("departmentId", "no such department"));
            }
        }
        if let Some(manager_id) = &hire.manager_id {
            let found = employee::Entity::find_by_id(manager_id.clone())
                .filter(employee::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if found.is_none_or(|m| m.status == EmploymentStatus::Terminated.as_str()) {
                return Err(ApiError::bad_input("managerId", "no such active employee"));
            }
        }
        let now = chrono::Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        let model = employee::ActiveModel {
            id: Set(id.clone()),
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
        }
        .insert(&txn)
        .await
        .map_err(|err| match ApiError::from(err) {
            ApiError::Conflict(_) => ApiError::Conflict(
                "an employee with this employee number or work email already exists".into(),
            ),
            other => other,
        })?;
        let event = encode_event(EventEnvelope::new(
            tenant,
            events::EMPLOYEE_HIRED,
            &model.id,
            events::EmployeeHired {
                employee_id: &model.id,
                employee_number: &model.employee_number,
                display_name: &model.display_name,
                work_email: &model.work_email,
                department_id: model.department_id.as_deref(),
                manager_id: model.manager_id.as_deref(),
                hired_on: model.hired_on,
                user_id: model.user_id.as_deref(),
            },
        ))?
        .with_actor(actor);
        self.outbox.enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(model)
    }

    /// Creates a department and records `department.created`, in one transaction.
    pub async fn create_department(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        parent_id: Option<String>,
    ) -> ApiResult<department::Model> {
        let txn = begin_write(&self.db).await?;
        if let Some(parent_id) = &parent_id {
            let found = department::Entity::find_by_id(parent_id.clone())
                .filter(department::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if found.is_none() {
                return Err(ApiError::bad_input("parentId", "no such department"));
            }
        }
        let model = department::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            parent_id: Set(parent_id),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(|err| match ApiError::from(err) {
            ApiError::Conflict(_) => {
                ApiError::Conflict(format!("a department named `{name}` already exists"))
            }
            other => other,
        })?;
        let event = encode_event(EventEnvelope::new(
            tenant,
            events::DEPARTMENT_CREATED,
            &model.id,
            events::DepartmentCreated {
                department_id: &model.id,
                name: &model.name,
                parent_id: model.parent_id.as_deref(),
            },
        ))?
        .with_actor(actor);
        self.outbox.enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(model)
    }

    pub async fn employee(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<employee::Model>> {
        Ok(employee::Entity::find_by_id(id.to_owned())
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .one(&self.db)
            .await?)
    }

    /// Employees by id, for DataLoaders (one query for a whole batch).
    pub async fn employees_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, employee::Model>> {
        Ok(employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect())
    }

    pub async fn departments_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, department::Model>> {
        Ok(department::Entity::find()
            .filter(department::Column::TenantId.eq(tenant.as_str()))
            .filter(department::Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect())
    }

    /// One page of employees in id order (ids are time-ordered UUIDv7), `limit + 1` rows.
    pub async fn list_employees(
        &self,
        tenant: &TenantId,
        filter: &EmployeeFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<employee::Model>> {
        let mut query =
            employee::Entity::find().filter(employee::Column::TenantId.eq(tenant.as_str()));
        if let Some(department_id) = &filter.department_id {
            query = query.filter(employee::Column::DepartmentId.eq(department_id.as_str()));
        }
        if let Some(manager_id) = &filter.manager_id {
            query = query.filter(employee::Column::ManagerId.eq(manager_id.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(employee::Column::Status.eq(status.as_str()));
        }
        Ok(keyset_page(query, employee::Column::Id, page)
            .all(&self.db)
            .await?)
    }

    pub async fn list_departments(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<department::Model>> {
        let query =
            department::Entity::find().filter(department::Column::TenantId.eq(tenant.as_str()));
        Ok(keyset_page(query, department::Column::Id, page)
            .all(&self.db)
            .await?)
    }
}
