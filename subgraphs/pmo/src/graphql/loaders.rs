//! DataLoaders: one store call per batch and tenant, so lists of tasks resolving their project,
//! blockers or board, of projects resolving their boards, or of time entries resolving their
//! edits never issue one query per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::TenantId;

use crate::store::{
    BoardDoc, PmoError, ProjectDoc, SharedStore, SprintDoc, TaskDoc, TimeEntryEditDoc,
};

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

/// Calls `fetch` once per tenant of the batch with that tenant's ids, and hands every value
/// found to `put`.
async fn fetch_by_tenant<V, F, Fut>(
    keys: &[TenantKey],
    fetch: F,
    mut put: impl FnMut(&TenantId, V),
) -> Result<(), async_graphql::Error>
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
    for (tenant, ids) in grouped {
        for value in fetch(tenant.clone(), ids).await.map_err(super::gql)? {
            put(&tenant, value);
        }
    }
    Ok(())
}

/// Defines a loader of documents by their id (`$id`), one `$fetch` store call per batch and
/// tenant.
macro_rules! by_id_loader {
    ($(#[$doc:meta])* $name:ident, $value:ty, $fetch:ident, $id:ident) => {
        $(#[$doc])*
        pub struct $name(pub SharedStore);

        impl Loader<TenantKey> for $name {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[TenantKey],
            ) -> Result<HashMap<TenantKey, $value>, Self::Error> {
                let store = &self.0;
                let mut found = HashMap::new();
                fetch_by_tenant(
                    keys,
                    |tenant, ids| async move { store.$fetch(&tenant, &ids).await },
                    |tenant, value: $value| {
                        found.insert(TenantKey::new(tenant, &value.$id), value);
                    },
                )
                .await?;
                Ok(found)
            }
        }
    };
}

/// Defines a loader of the documents that belong to a parent (`$parent` names it), keyed by the
/// parent, in the order the store answers; a parent without any maps to none.
macro_rules! children_loader {
    ($(#[$doc:meta])* $name:ident, $value:ty, $fetch:ident, $parent:ident) => {
        $(#[$doc])*
        pub struct $name(pub SharedStore);

        impl Loader<TenantKey> for $name {
            type Value = Vec<$value>;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[TenantKey],
            ) -> Result<HashMap<TenantKey, Vec<$value>>, Self::Error> {
                let store = &self.0;
                let mut found: HashMap<TenantKey, Vec<$value>> = HashMap::new();
                fetch_by_tenant(
                    keys,
                    |tenant, ids| async move { store.$fetch(&tenant, &ids).await },
                    |tenant, value: $value| {
                        found
                            .entry(TenantKey::new(tenant, &value.$parent))
                            .or_default()
                            .push(value);
                    },
                )
                .await?;
                Ok(found)
            }
        }
    };
}

by_id_loader!(ProjectLoader, ProjectDoc, projects_by_ids, id);
by_id_loader!(TaskLoader, TaskDoc, tasks_by_ids, id);
by_id_loader!(BoardLoader, BoardDoc, boards_by_ids, id);
by_id_loader!(SprintLoader, SprintDoc, sprints_by_ids, id);
children_loader!(
    /// A project's boards, oldest first, keyed by the project.
    ProjectBoardsLoader,
    BoardDoc,
    boards_of_projects,
    project_id
);
children_loader!(
    /// A time entry's edits, oldest first, keyed by the entry.
    EntryEditsLoader,
    TimeEntryEditDoc,
    edits_of_entries,
    entry_id
);
