//! DataLoaders: one query per batch of lookups, keyed by tenant (the kit's
//! [`TenantKey`]) so batches of concurrent requests of different tenants never mix.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};
use chrono::{NaiveDate, Utc};

use erp_kit::loaders::{load_by_tenant, loader, TenantKey};
use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;

use crate::app::attendance::{AppliedShift, ComputedDay, ShiftSubject};
use crate::app::Employee;
use crate::store::attendance::location;
use crate::store::entities::{
    attendance_correction as correction, department, employee, key_result, leave_type, objective,
};

/// Registers every loader of the schema over `employee`.
pub fn register<Q, M, S>(
    builder: SchemaBuilder<Q, M, S>,
    employee: &Employee,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .data(loader(EmployeeLoader(employee.clone())))
        .data(loader(UserEmployeeLoader(employee.clone())))
        .data(loader(DayAttendanceLoader(employee.clone())))
        .data(loader(ObjectiveLoader(employee.clone())))
        .data(loader(KeyResultsLoader(employee.clone())))
        .data(loader(DepartmentLoader(employee.clone())))
        .data(loader(DirectReportsLoader(employee.clone())))
        .data(loader(ShiftLoader(employee.clone())))
        .data(loader(CorrectionsLoader(employee.clone())))
        .data(loader(LocationLoader(employee.clone())))
        .data(loader(LeaveTypeLoader(employee.clone())))
}

/// Employees by id.
pub struct EmployeeLoader(pub Employee);

impl Loader<TenantKey> for EmployeeLoader {
    type Value = employee::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.employees_by_ids(&tenant, &ids).await
        })
        .await?)
    }
}

/// The employee record linked to each user id.
pub struct UserEmployeeLoader(pub Employee);

impl Loader<TenantKey> for UserEmployeeLoader {
    type Value = employee::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, users| async move {
            Ok::<_, erp_kit::ApiError>(
                employee
                    .employees_of_users(&tenant, &users)
                    .await?
                    .into_iter()
                    .filter_map(|model| Some((model.user_id.clone()?, model)))
                    .collect(),
            )
        })
        .await?)
    }
}

/// Departments by id.
pub struct DepartmentLoader(pub Employee);

impl Loader<TenantKey> for DepartmentLoader {
    type Value = department::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.departments_by_ids(&tenant, &ids).await
        })
        .await?)
    }
}

/// Work locations by id.
pub struct LocationLoader(pub Employee);

impl Loader<TenantKey> for LocationLoader {
    type Value = location::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.locations_by_ids(&tenant, &ids).await
        })
        .await?)
    }
}

/// Leave types by id.
pub struct LeaveTypeLoader(pub Employee);

impl Loader<TenantKey> for LeaveTypeLoader {
    type Value = leave_type::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.leave_types_by_ids(&tenant, ids).await
        })
        .await?)
    }
}

/// Objectives by id.
pub struct ObjectiveLoader(pub Employee);

impl Loader<TenantKey> for ObjectiveLoader {
    type Value = objective::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.objectives_by_ids(&tenant, &ids).await
        })
        .await?)
    }
}

/// The key results of objectives, by objective id.
pub struct KeyResultsLoader(pub Employee);

impl Loader<TenantKey> for KeyResultsLoader {
    type Value = Vec<key_result::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let employee = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            employee.key_results_of(&tenant, &ids).await
        })
        .await?)
    }
}

/// A Relay page request as part of a DataLoader key: every list item asking for the same page
/// (`directReports(first: 5)` on each employee of a list) lands in the same batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    limit: u64,
    after: Option<String>,
    before: Option<String>,
    backward: bool,
}

impl From<&PageRequest> for PageKey {
    fn from(page: &PageRequest) -> Self {
        Self {
            limit: page.limit,
            after: page.after.clone(),
            before: page.before.clone(),
            backward: page.backward,
        }
    }
}

impl From<&PageKey> for PageRequest {
    fn from(key: &PageKey) -> Self {
        Self {
            limit: key.limit,
            after: key.after.clone(),
            before: key.before.clone(),
            backward: key.backward,
        }
    }
}

/// One page of a parent's children, with the children's filter (`()` for none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildPageKey<F> {
    pub tenant: TenantId,
    pub parent_id: String,
    pub page: PageKey,
    pub filter: F,
}

/// Loads a batch of child pages with one `fetch` per (tenant, page, filter) in the batch:
/// usually one, since a list asks the same page of every item.
pub async fn load_child_pages<F, V, Fetch, Fut>(
    keys: &[ChildPageKey<F>],
    fetch: Fetch,
) -> Result<HashMap<ChildPageKey<F>, Vec<V>>, async_graphql::Error>
where
    F: Clone + Eq + std::hash::Hash,
    Fetch: Fn(TenantId, PageRequest, F, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = erp_kit::ApiResult<HashMap<String, Vec<V>>>>,
{
    let mut grouped: HashMap<(TenantId, PageKey, F), Vec<String>> = HashMap::new();
    for key in keys {
        grouped
            .entry((key.tenant.clone(), key.page.clone(), key.filter.clone()))
            .or_default()
            .push(key.parent_id.clone());
    }
    let mut found = HashMap::new();
    for ((tenant, page, filter), parents) in grouped {
        let mut pages = fetch(
            tenant.clone(),
            PageRequest::from(&page),
            filter.clone(),
            parents.clone(),
        )
        .await?;
        // A parent without children gets an empty page, not a missing one.
        for parent_id in parents {
            let rows = pages.remove(&parent_id).unwrap_or_default();
            found.insert(
                ChildPageKey {
                    tenant: tenant.clone(),
                    parent_id,
                    page: page.clone(),
                    filter: filter.clone(),
                },
                rows,
            );
        }
    }
    Ok(found)
}

/// Each employee's direct reports, one page per manager.
pub struct DirectReportsLoader(pub Employee);

impl Loader<ChildPageKey<()>> for DirectReportsLoader {
    type Value = Vec<employee::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildPageKey<()>],
    ) -> Result<HashMap<ChildPageKey<()>, Self::Value>, Self::Error> {
        let employee = &self.0;
        load_child_pages(keys, |tenant, page, (), managers| async move {
            employee
                .direct_reports_pages(&tenant, &managers, &page)
                .await
        })
        .await
    }
}

/// Each employee's attendance corrections (of one stored status, or all), one page per
/// employee.
pub struct CorrectionsLoader(pub Employee);

impl Loader<ChildPageKey<Option<String>>> for CorrectionsLoader {
    type Value = Vec<correction::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildPageKey<Option<String>>],
    ) -> Result<HashMap<ChildPageKey<Option<String>>, Self::Value>, Self::Error> {
        let employee = &self.0;
        load_child_pages(keys, |tenant, page, status, employees| async move {
            employee
                .corrections_pages(&tenant, &employees, status.as_deref(), &page)
                .await
        })
        .await
    }
}

/// The key of the shift of one employee on one day (their department's default applies when
/// they have none of their own, so the department is part of the key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShiftKey {
    pub tenant: TenantId,
    pub employee_id: String,
    pub department_id: Option<String>,
    pub day: NaiveDate,
}

/// The shifts of a batch of employees: one query per tenant and day.
pub struct ShiftLoader(pub Employee);

impl Loader<ShiftKey> for ShiftLoader {
    type Value = AppliedShift;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ShiftKey],
    ) -> Result<HashMap<ShiftKey, AppliedShift>, Self::Error> {
        let mut groups: HashMap<(&TenantId, NaiveDate), Vec<&ShiftKey>> = HashMap::new();
        for key in keys {
            groups.entry((&key.tenant, key.day)).or_default().push(key);
        }
        let mut found = HashMap::new();
        for ((tenant, day), group) in groups {
            let subjects: Vec<ShiftSubject<'_>> = group
                .iter()
                .map(|key| ShiftSubject {
                    employee_id: &key.employee_id,
                    department_id: key.department_id.as_deref(),
                })
                .collect();
            let mut shifts = self.0.shifts_of(tenant, &subjects, day).await?;
            for key in group {
                if let Some(shift) = shifts.remove(&key.employee_id) {
                    found.insert(key.clone(), shift);
                }
            }
        }
        Ok(found)
    }
}

/// The key of one employee's computed day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayKey {
    pub tenant: TenantId,
    pub employee_id: String,
    pub day: NaiveDate,
}

/// Computes the days of a batch of employees with a handful of queries per tenant and day.
pub struct DayAttendanceLoader(pub Employee);

impl Loader<DayKey> for DayAttendanceLoader {
    type Value = ComputedDay;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[DayKey]) -> Result<HashMap<DayKey, ComputedDay>, Self::Error> {
        let mut groups: HashMap<(TenantId, NaiveDate), Vec<String>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.tenant.clone(), key.day))
                .or_default()
                .push(key.employee_id.clone());
        }
        let now_ms = Utc::now().timestamp_millis();
        let mut found = HashMap::new();
        for ((tenant, day), ids) in groups {
            let employees: Vec<employee::Model> = self
                .0
                .employees_by_ids(&tenant, &ids)
                .await?
                .into_values()
                .collect();
            let refs: Vec<&employee::Model> = employees.iter().collect();
            for (employee_id, computed) in
                self.0.days_attendance(&tenant, &refs, day, now_ms).await?
            {
                found.insert(
                    DayKey {
                        tenant: tenant.clone(),
                        employee_id,
                        day,
                    },
                    computed,
                );
            }
        }
        Ok(found)
    }
}
