//! Tenants: creating one with its default roles and first administrator.

use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::login::hash_password;
use super::{duplicate_is, Identity};
use crate::domain::password::NewPassword;
use crate::domain::scopes;
use crate::domain::users::{UserName, UserStatus};
use crate::domain::Violation;
use crate::events::TenantCreated;
use crate::store::entities::{tenant, user};
use crate::store::{self, users::NewUser};

/// The role a tenant's first user holds.
const ADMIN_ROLE: &str = "Admin";

impl Identity {
    /// Creates a tenant with the default roles and its first administrator (active, password
    /// set; a second factor is enrolled at first login).
    pub async fn bootstrap_tenant(
        &self,
        tenant_name: &str,
        admin_email: &str,
        admin_name: &str,
        admin_password: &str,
    ) -> ApiResult<(tenant::Model, user::Model)> {
        let email = EmailAddress::parse("email", admin_email)?;
        let name = UserName::parse(admin_name)?;
        let password = hash_password(NewPassword::parse(admin_password)?).await?;
        let tenant_id = TenantId::from_claim(&format!("tnt_{}", uuid::Uuid::now_v7().simple()));
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let tenant = store::tenants::insert(&txn, tenant_id.as_str(), tenant_name.trim()).await?;
        let mut admin_role = None;
        for (role_name, permissions) in scopes::DEFAULT_ROLES {
            let role = store::roles::insert(&txn, &tenant_id, role_name, permissions).await?;
            if *role_name == ADMIN_ROLE {
                admin_role = Some(role);
            }
        }
        let admin_role = admin_role.ok_or_else(|| ApiError::internal("no Admin role"))?;
        let admin = store::users::insert(
            &txn,
            NewUser {
                id: uuid::Uuid::now_v7().to_string(),
                tenant: &tenant_id,
                email: email.as_str(),
                name: name.as_str(),
                departments: &[],
                role_id: &admin_role.id,
                status: UserStatus::Active,
                password_hash: Some(password),
                invite: None,
            },
        )
        .await
        .map_err(duplicate_is(Violation::EmailInUse))?;
        self.record(
            &txn,
            &tenant.id,
            &tenant.id,
            None,
            &TenantCreated {
                name: &tenant.name,
                admin_user_id: &admin.id,
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok((tenant, admin))
    }

    /// The user whose login name is `email` and their tenant, in whichever tenant (an operator's
    /// lookup: the seed loader finds the tenant it created through its administrator).
    pub async fn account_by_email(
        &self,
        email: &str,
    ) -> ApiResult<Option<(tenant::Model, user::Model)>> {
        let email = EmailAddress::parse("email", email)?;
        let Some(user) = store::users::by_email(&self.db, email.as_str()).await? else {
            return Ok(None);
        };
        let tenant = store::tenants::by_id(&self.db, &TenantId::from_claim(&user.tenant_id))
            .await?
            .ok_or_else(|| {
                ApiError::internal(format!("the tenant of user {} is missing", user.id))
            })?;
        Ok(Some((tenant, user)))
    }

    /// Whether any tenant exists (a fresh installation has none).
    pub async fn has_tenants(&self) -> ApiResult<bool> {
        store::tenants::any(&self.db).await
    }
}
