//! People: hires, departments, sealed compensation, and the employee directory's reads.

use std::collections::HashMap;

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{already_exists, no_employee_record, Employee};
use crate::domain::{EmploymentStatus, NewHire, Salary};
use crate::events;
use crate::store::entities::{department, employee};
use crate::store::people::{self as store, EmployeeFilter, SealedCompensation};

/// The `employees` table, as the field cipher's associated data names it.
const EMPLOYEES: &str = "employees";

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

impl Employee {
    /// Hires an employee: the department and the manager (active) must exist in the tenant,
    /// and the user (when given) must not be linked to another employee record
    /// (USER_ALREADY_LINKED); records `employee.hired`, in one transaction.
    pub async fn hire(
        &self,
        tenant: &TenantId,
        actor: &str,
        hire: NewHire,
    ) -> ApiResult<employee::Model> {
        let txn = begin_write(&self.db).await?;
        if let Some(user_id) = &hire.user_id {
            // Serialises hires that link a user, so that two at once cannot both pass the
            // check below (one user, one employee record: the row rules find the caller's
            // record by their user).
            crate::store::org::lock_tree(&txn, tenant, "user-link").await?;
            if store::employee_of_user(&txn, tenant, user_id)
                .await?
                .is_some()
            {
                return Err(ApiError::rule(
                    crate::domain::reasons::USER_ALREADY_LINKED,
                    "this user is linked to another employee record already",
                ));
            }
        }
        if let Some(department_id) = &hire.department_id {
            if store::department(&txn, tenant, department_id)
                .await?
                .is_none()
            {
                return Err(ApiError::bad_input("departmentId", "no such department"));
            }
        }
        if let Some(manager_id) = &hire.manager_id {
            let manager = store::employee(&txn, tenant, manager_id).await?;
            if manager.is_none_or(|m| m.status == EmploymentStatus::Terminated.as_str()) {
                return Err(ApiError::bad_input("managerId", "no such active employee"));
            }
        }
        let model = store::insert_employee(&txn, tenant, &hire, chrono::Utc::now())
            .await
            .map_err(already_exists(
                "an employee with this employee number or work email already exists",
            ))?;
        let hired = EventEnvelope::by_actor(
            tenant,
            events::EMPLOYEE_HIRED,
            &model.id,
            actor,
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
        )?;
        self.outbox.enqueue(&txn, &hired).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
    }

    /// Creates a department (under `parent_id`, which must exist in the tenant); records
    /// `department.created`, in one transaction.
    pub async fn create_department(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        parent_id: Option<String>,
    ) -> ApiResult<department::Model> {
        let txn = begin_write(&self.db).await?;
        if let Some(parent_id) = &parent_id {
            if store::department(&txn, tenant, parent_id).await?.is_none() {
                return Err(ApiError::bad_input("parentId", "no such department"));
            }
        }
        let model = store::insert_department(&txn, tenant, name, parent_id, chrono::Utc::now())
            .await
            .map_err(already_exists(format!(
                "a department named `{name}` already exists"
            )))?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::DEPARTMENT_CREATED,
            &model.id,
            actor,
            events::DepartmentCreated {
                department_id: &model.id,
                name: &model.name,
                parent_id: model.parent_id.as_deref(),
            },
        )?;
        self.outbox.enqueue(&txn, &created).await?;
        self.outbox.commit(txn).await?;
        Ok(model)
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
        // Finance's payroll reads the pay facts from the event, sealed in transit (the bus
        // never carries them in clear); finance opens them with the same context
        // (`employee.compensation_changed|tenant|employee`) and re-seals them under its keys.
        let for_payroll = match &self.transit {
            Some(kek) => Some(
                erp_kit::crypto::seal_in_transit(
                    kek.as_ref(),
                    &format!("{}|{tenant}|{employee_id}", events::COMPENSATION_CHANGED),
                    &serde_json::json!({
                        "salary": change.salary.amount,
                        "currency": change.salary.currency,
                        "bank_account": change.bank_account,
                        "tax_id": change.tax_id,
                    })
                    .to_string(),
                )
                .await?,
            ),
            None => None,
        };
        let salary = seal("salary", change.salary.amount.clone()).await?;
        let bank_account = match change.bank_account {
            Some(account) => Some(seal("bank_account", account).await?),
            None => None,
        };
        let (tax_id, tax_id_index) = match change.tax_id {
            Some(tax_id) => (
                Some(seal("tax_id", tax_id.clone()).await?),
                Some(self.cipher.blind_index(tenant, "tax_id", &tax_id).await?),
            ),
            None => (None, None),
        };
        let sealed = SealedCompensation {
            salary,
            currency: change.salary.currency.clone(),
            bank_account,
            tax_id,
            tax_id_index,
        };
        let txn = begin_write(&self.db).await?;
        let found = store::employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let model = store::update_compensation(&txn, found, sealed, chrono::Utc::now()).await?;
        let changed = EventEnvelope::by_actor(
            tenant,
            events::COMPENSATION_CHANGED,
            &model.id,
            actor,
            serde_json::json!({
                "employee_id": model.id,
                "currency": change.salary.currency,
                "sealed_for_payroll": for_payroll,
            }),
        )?;
        self.outbox.enqueue(&txn, &changed).await?;
        self.outbox.commit(txn).await?;
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
        Ok(store::employee_by_tax_index(&self.db, tenant, &index).await?)
    }

    /// Creates the tenant's data key and blind-index key if they are missing, outside any
    /// transaction: a bulk load sealing many people at once would otherwise race to create
    /// them inside its writes (SQLite answers "database is locked").
    pub async fn prepare_sealing(&self, tenant: &TenantId) -> ApiResult<()> {
        self.cipher
            .encrypt(tenant, EMPLOYEES, "salary", "data-key", "0")
            .await?;
        self.cipher.blind_index(tenant, "tax_id", "0").await?;
        Ok(())
    }

    pub async fn employee(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<employee::Model>> {
        Ok(store::employee(&self.db, tenant, id).await?)
    }

    /// Employees by id, for DataLoaders (one query for a whole batch).
    pub async fn employees_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, employee::Model>> {
        Ok(store::employees_by_ids(&self.db, tenant, ids).await?)
    }

    /// The employee records linked to these users (one query).
    pub async fn employees_of_users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> ApiResult<Vec<employee::Model>> {
        Ok(store::employees_of_users(&self.db, tenant, user_ids).await?)
    }

    /// The employee record of a user, if there is one.
    pub async fn employee_of_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> ApiResult<Option<employee::Model>> {
        Ok(store::employee_of_user(&self.db, tenant, user_id).await?)
    }

    /// The caller's own employee record: FORBIDDEN (NO_EMPLOYEE_RECORD) without one.
    pub async fn own_record(&self, tenant: &TenantId, user_id: &str) -> ApiResult<employee::Model> {
        self.employee_of_user(tenant, user_id)
            .await?
            .ok_or_else(no_employee_record)
    }

    /// One page of employees in id order (ids are time-ordered UUIDv7), `limit + 1` rows.
    pub async fn list_employees(
        &self,
        tenant: &TenantId,
        filter: &EmployeeFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<employee::Model>> {
        Ok(store::list_employees(&self.db, tenant, filter, page).await?)
    }

    pub async fn departments_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, department::Model>> {
        Ok(store::departments_by_ids(&self.db, tenant, ids).await?)
    }

    pub async fn list_departments(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<department::Model>> {
        Ok(store::list_departments(&self.db, tenant, page).await?)
    }
}
