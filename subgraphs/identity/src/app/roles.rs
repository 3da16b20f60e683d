//! Roles: named sets of registered scopes.

use std::collections::HashMap;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{duplicate_is, Identity};
use crate::domain::users::{Permissions, RoleName};
use crate::domain::Violation;
use crate::events::RoleCreated;
use crate::store;
use crate::store::entities::role;

impl Identity {
    /// Creates a role; every permission must be a registered scope.
    pub async fn create_role(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        permissions: Vec<String>,
    ) -> ApiResult<role::Model> {
        let name = RoleName::parse(name)?;
        let permissions = Permissions::parse(permissions)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let role = store::roles::insert(&txn, tenant, name.as_str(), permissions.as_slice())
            .await
            .map_err(duplicate_is(Violation::RoleNameTaken {
                name: name.as_str().to_owned(),
            }))?;
        self.record(
            &txn,
            tenant.as_str(),
            &role.id,
            Some(actor),
            &RoleCreated {
                name: &role.name,
                permissions: permissions.as_slice(),
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(role)
    }

    /// A role of the tenant.
    pub async fn role(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<role::Model>> {
        store::roles::in_tenant(&self.db, tenant, id).await
    }

    /// The roles of `ids` in the tenant, by id (missing ones are absent).
    pub async fn roles_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, role::Model>> {
        store::roles::by_ids(&self.db, tenant, ids).await
    }

    /// A page of the tenant's roles.
    pub async fn roles(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<role::Model>> {
        store::roles::page(&self.db, tenant, page).await
    }
}
