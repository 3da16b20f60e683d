//! DataLoaders: one store call per batch and tenant, so lists of tasks resolving their project,
//! blockers or board, of projects resolving their boards, tasks or sprints, of tasks resolving
//! their subtasks or comments, or of time entries resolving their edits never issue one query
//! per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::loaders::{load_by_tenant, TenantKey};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, TenantId};

use crate::domain::sprint::SprintState;
use crate::store::{
    BoardDoc, CommentDoc, ProjectDoc, SharedStore, SprintDoc, TaskDoc, TaskFilter, TimeEntryEditDoc,
};

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
                Ok(load_by_tenant(keys, |tenant, ids| async move {
                    let found = store.$fetch(&tenant, &ids).await?;
                    Ok::<_, ApiError>(found.into_iter().map(|v| (v.$id.clone(), v)).collect())
                })
                .await?)
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
                Ok(load_by_tenant(keys, |tenant, ids| async move {
                    let mut found: HashMap<String, Vec<$value>> = HashMap::new();
                    for value in store.$fetch(&tenant, &ids).await? {
                        found.entry(value.$parent.clone()).or_default().push(value);
                    }
                    Ok::<_, ApiError>(found)
                })
                .await?)
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

/// One page of a list (`list` says which: a task filter, a task's comments...), as a loader key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey<L> {
    pub tenant: TenantId,
    pub list: L,
    limit: u64,
    after: Option<String>,
    before: Option<String>,
    backward: bool,
}

impl<L> PageKey<L> {
    pub fn new(tenant: &TenantId, list: L, page: &PageRequest) -> Self {
        Self {
            tenant: tenant.clone(),
            list,
            limit: page.limit,
            after: page.after.clone(),
            before: page.before.clone(),
            backward: page.backward,
        }
    }

    fn page(&self) -> PageRequest {
        PageRequest {
            limit: self.limit,
            after: self.after.clone(),
            before: self.before.clone(),
            backward: self.backward,
        }
    }
}

/// Defines a loader of list pages, one `$fetch` store call per batch and tenant for all the
/// pages asked (each with its own filter and cursor).
macro_rules! pages_loader {
    ($(#[$doc:meta])* $name:ident, $list:ty, $value:ty, $fetch:ident) => {
        $(#[$doc])*
        pub struct $name(pub SharedStore);

        impl Loader<PageKey<$list>> for $name {
            type Value = Vec<$value>;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[PageKey<$list>],
            ) -> Result<HashMap<PageKey<$list>, Vec<$value>>, Self::Error> {
                let mut by_tenant: HashMap<TenantId, Vec<&PageKey<$list>>> = HashMap::new();
                for key in keys {
                    by_tenant.entry(key.tenant.clone()).or_default().push(key);
                }
                let mut found = HashMap::new();
                for (tenant, keys) in by_tenant {
                    let lists: Vec<($list, PageRequest)> =
                        keys.iter().map(|k| (k.list.clone(), k.page())).collect();
                    let pages = self.0.$fetch(&tenant, &lists).await?;
                    for (key, rows) in keys.into_iter().zip(pages) {
                        found.insert(key.clone(), rows);
                    }
                }
                Ok(found)
            }
        }
    };
}

pages_loader!(
    /// Pages of task lists (a project's, a sprint's, a task's subtasks), keyed by filter and page.
    TaskPagesLoader,
    TaskFilter,
    TaskDoc,
    task_pages
);
pages_loader!(
    /// Pages of tasks' comments, keyed by task and page.
    CommentPagesLoader,
    String,
    CommentDoc,
    comment_pages
);
pages_loader!(
    /// Pages of projects' sprints (optionally in one state), keyed by project, state and page.
    SprintPagesLoader,
    (String, Option<SprintState>),
    SprintDoc,
    sprint_pages
);
