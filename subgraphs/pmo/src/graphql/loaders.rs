//! DataLoaders: one store call per batch and tenant, so lists of tasks resolving their project,
//! blockers or board never issue one query per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::TenantId;

use crate::store::{BoardDoc, PmoError, ProjectDoc, SharedStore, SprintDoc, TaskDoc};

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

async fn load_by_tenant<V, F, Fut>(
    keys: &[TenantKey],
    fetch: F,
    id_of: fn(&V) -> &str,
) -> Result<HashMap<TenantKey, V>, async_graphql::Error>
where
    F: Fn(TenantId, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<V>, PmoError>>,
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
        for value in fetch(tenant.clone(), ids).await.map_err(super::gql)? {
            found.insert(TenantKey::new(&tenant, id_of(&value)), value);
        }
    }
    Ok(found)
}

pub struct ProjectLoader(pub SharedStore);

impl Loader<TenantKey> for ProjectLoader {
    type Value = ProjectDoc;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, ProjectDoc>, Self::Error> {
        let store = &self.0;
        load_by_tenant(
            keys,
            |tenant, ids| async move { store.projects_by_ids(&tenant, &ids).await },
            |p| &p.id,
        )
        .await
    }
}

pub struct TaskLoader(pub SharedStore);

impl Loader<TenantKey> for TaskLoader {
    type Value = TaskDoc;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TenantKey]) -> Result<HashMap<TenantKey, TaskDoc>, Self::Error> {
        let store = &self.0;
        load_by_tenant(
            keys,
            |tenant, ids| async move { store.tasks_by_ids(&tenant, &ids).await },
            |t| &t.id,
        )
        .await
    }
}

pub struct BoardLoader(pub SharedStore);

impl Loader<TenantKey> for BoardLoader {
    type Value = BoardDoc;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TenantKey]) -> Result<HashMap<TenantKey, BoardDoc>, Self::Error> {
        let store = &self.0;
        load_by_tenant(
            keys,
            |tenant, ids| async move { store.boards_by_ids(&tenant, &ids).await },
            |b| &b.id,
        )
        .await
    }
}

pub struct SprintLoader(pub SharedStore);

impl Loader<TenantKey> for SprintLoader {
    type Value = SprintDoc;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TenantKey]) -> Result<HashMap<TenantKey, SprintDoc>, Self::Error> {
        let store = &self.0;
        load_by_tenant(
            keys,
            |tenant, ids| async move { store.sprints_by_ids(&tenant, &ids).await },
            |s| &s.id,
        )
        .await
    }
}
