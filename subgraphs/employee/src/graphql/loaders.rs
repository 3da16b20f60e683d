//! DataLoaders: one query per batch of lookups, keyed by tenant so batches of concurrent
//! requests of different tenants never mix.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

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
