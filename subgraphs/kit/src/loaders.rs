//! DataLoader keys and batching helpers shared by every subgraph: a lookup is keyed by tenant and
//! id, so the batches of concurrent requests of different tenants never mix, and a batch costs
//! one store call per tenant present in it.

use std::collections::HashMap;
use std::future::Future;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::tenant::TenantId;

/// The key of every per-record DataLoader: a tenant and the record's id.
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

/// The ids of a batch grouped by tenant (one store call per group).
pub fn group_by_tenant(keys: &[TenantKey]) -> HashMap<TenantId, Vec<String>> {
    let mut grouped: HashMap<TenantId, Vec<String>> = HashMap::new();
    for key in keys {
        grouped
            .entry(key.tenant.clone())
            .or_default()
            .push(key.id.clone());
    }
    grouped
}

/// Loads a batch with one `fetch` per tenant of the batch; `fetch` answers the values it found
/// by id (missing ids are simply absent).
pub async fn load_by_tenant<V, E, F, Fut>(
    keys: &[TenantKey],
    fetch: F,
) -> Result<HashMap<TenantKey, V>, E>
where
    F: Fn(TenantId, Vec<String>) -> Fut,
    Fut: Future<Output = Result<HashMap<String, V>, E>>,
{
    let mut found = HashMap::new();
    for (tenant, ids) in group_by_tenant(keys) {
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

/// A DataLoader that spawns its batches on the tokio runtime: keys of concurrent requests share
/// a batch; nothing is cached across requests.
pub fn loader<T: Loader<K>, K>(fetch: T) -> DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    DataLoader::new(fetch, tokio::spawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_costs_one_fetch_per_tenant_and_keys_never_cross_tenants() {
        let a = TenantId::from_claim("a");
        let b = TenantId::from_claim("b");
        let keys = vec![
            TenantKey::new(&a, "1"),
            TenantKey::new(&b, "1"),
            TenantKey::new(&a, "2"),
        ];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let found = load_by_tenant::<_, (), _, _>(&keys, |tenant, ids| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                Ok(ids
                    .into_iter()
                    .filter(|id| !(tenant.as_str() == "b" && id == "1"))
                    .map(|id| (id.clone(), format!("{}:{id}", tenant.as_str())))
                    .collect())
            }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(found.len(), 2);
        assert_eq!(found[&TenantKey::new(&a, "2")], "a:2");
        assert!(!found.contains_key(&TenantKey::new(&b, "1")));
    }
}
