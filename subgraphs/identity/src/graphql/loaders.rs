//! DataLoaders: one query per batch of lookups, keyed by tenant (the kit's [`TenantKey`]) so
//! batches of concurrent requests of different tenants never mix.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::loaders::{load_by_tenant, TenantKey};

use crate::app::Identity;
use crate::store::entities::role;

/// A user's role (a page of users asks for each one's).
pub struct RoleLoader(pub Identity);

impl Loader<TenantKey> for RoleLoader {
    type Value = role::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let identity = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            identity.roles_by_ids(&tenant, &ids).await
        })
        .await?)
    }
}
