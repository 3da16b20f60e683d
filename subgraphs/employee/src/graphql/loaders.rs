//! DataLoaders: one query per batch of lookups, keyed by tenant so batches of concurrent
//! requests of different tenants never mix.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;

use crate::store::entities::{department, employee};
use crate::store::EmployeeStore;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantKey {
    pub tenant: TenantId,
    pub id: String,
}

impl TenantKey {
    pub fn new(tenant: &TenantId, id: &str) -> Self {
        Self {
            tenant: tenant.clone(),
            id: id.to_owned(),
        }
    }
}

/// Loads a batch of keys with one `fetch` per tenant present in the batch.
async fn load_by_tenant<V, F, Fut>(
    keys: &[TenantKey],
    fetch: F,
) -> Result<HashMap<TenantKey, V>, async_graphql::Error>
where
    F: Fn(TenantId, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = erp_kit::ApiResult<HashMap<String, V>>>,
{
    let mut grouped: HashMap<TenantId, Vec<String>> = HashMap::new();
    for key in keys {
        grouped
            .entry(key.tenant.clone())
            .or_default()
            .push(key.id.clone());
    }
    let mut found = HashMap::new();
    for (tenant, ids) in grouped {
        for (id, value) in fetch(tenant.clone(), ids).await? {
            found.insert(
                TenantKey {
                    tenant: tenant.clone(),
                    id,
                },
                value,
            );
        }
    }
    Ok(found)
}

pub struct EmployeeLoader(pub EmployeeStore);

impl Loader<TenantKey> for EmployeeLoader {
    type Value = employee::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let store = &self.0;
        load_by_tenant(keys, |tenant, ids| async move {
            store.employees_by_ids(&tenant, &ids).await
        })
        .await
    }
}

pub struct DepartmentLoader(pub EmployeeStore);

impl Loader<TenantKey> for DepartmentLoader {
    type Value = department::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let store = &self.0;
        load_by_tenant(keys, |tenant, ids| async move {
            store.departments_by_ids(&tenant, &ids).await
        })
        .await
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
pub struct DirectReportsLoader(pub EmployeeStore);

impl Loader<ChildPageKey<()>> for DirectReportsLoader {
    type Value = Vec<employee::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildPageKey<()>],
    ) -> Result<HashMap<ChildPageKey<()>, Self::Value>, Self::Error> {
        let store = &self.0;
        load_child_pages(keys, |tenant, page, (), managers| async move {
            store.direct_reports_pages(&tenant, &managers, &page).await
        })
        .await
    }
}
