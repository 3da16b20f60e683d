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

fn by_tenant(keys: &[TenantKey]) -> HashMap<TenantId, Vec<String>> {
    let mut grouped: HashMap<TenantId, Vec<String>> = HashMap::new();
    for key in keys {
        grouped
            .entry(key.tenant.clone())
            .or_default()
            .push(key.id.clone());
    }
    grouped
}

pub struct EmployeeLoader(pub EmployeeStore);

impl Loader<TenantKey> for EmployeeLoader {
    type Value = employee::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (tenant, ids) in by_tenant(keys) {
            for (id, model) in self.0.employees_by_ids(&tenant, &ids).await? {
                found.insert(TenantKey::new(&tenant, &id), model);
            }
        }
        Ok(found)
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
        let mut found = HashMap::new();
        for (tenant, ids) in by_tenant(keys) {
            for (id, model) in self.0.departments_by_ids(&tenant, &ids).await? {
                found.insert(TenantKey::new(&tenant, &id), model);
            }
        }
        Ok(found)
    }
}
