//! Users: the `User` entity, `me`, the admin's directory and the invitation mutations.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::context::{identity, millis};
use super::loaders::RoleLoader;
use super::roles::Role;
use crate::domain::users::UserStatus;
use crate::store::entities::user;

/// A person who can log in.
pub struct User(pub user::Model);

#[Object]
impl User {
    /// Stable id (UUIDv7); the `sub` of their tokens.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Login email (unique).
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Departments the user belongs to (copied into tokens).
    async fn departments(&self) -> Vec<String> {
        self.0.department_list()
    }

    /// `INVITED`, `ACTIVE` or `DEACTIVATED`.
    async fn status(&self) -> &'static str {
        match self.0.status() {
            UserStatus::Invited => "INVITED",
            UserStatus::Active => "ACTIVE",
            UserStatus::Deactivated => "DEACTIVATED",
        }
    }

    /// The user's role.
    async fn role(&self, ctx: &Context<'_>) -> Result<Option<Role>> {
        let tenant = TenantId::from_claim(&self.0.tenant_id);
        let loader = ctx
            .data::<DataLoader<RoleLoader>>()
            .map_err(|_| ApiError::internal("role loader missing from schema data"))?;
        Ok(loader
            .load_one(TenantKey::new(&tenant, &self.0.role_id))
            .await?
            .map(Role))
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        millis(self.0.created_at)
    }
}

/// An invited user and the one-time token that lets them set a password.
#[derive(SimpleObject)]
pub struct Invitation {
    /// The invited user.
    pub user: User,
    /// Give this to the user (valid 7 days); it is not stored in clear.
    pub invite_token: String,
}

/// A user to invite.
#[derive(InputObject)]
pub struct InviteUserInput {
    /// Login email (unique).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Departments, copied into tokens.
    #[graphql(default)]
    pub departments: Vec<String>,
    /// The role, in the caller's tenant.
    pub role_id: ID,
}

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The caller's own account.
    #[graphql(directive = authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let claims = ctx.claims()?;
        let tenant = ctx.tenant()?;
        Ok(identity(ctx)?.user(&tenant, &claims.sub).await?.map(User))
    }

    /// A user of the caller's tenant.
    #[graphql(requires_scopes = "user:read", requires_scopes = "identity:admin")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        Ok(identity(ctx)?.user(&tenant, &id).await?.map(User))
    }

    /// The caller's tenant's users (Relay connection, `first` at most 100).
    #[graphql(requires_scopes = "user:read", requires_scopes = "identity:admin")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, User, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = identity(ctx)?.users(&tenant, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(User).collect(),
            |u| u.0.id.clone(),
        )))
    }

    /// Federation: resolves a `User` reference from another subgraph (same tenant only).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        Ok(identity(ctx)?.user(&tenant, &id).await?.map(User))
    }
}

#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Sets the password of an invited user.
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        invite_token: String,
        password: String,
    ) -> Result<bool> {
        identity(ctx)?
            .accept_invite(&invite_token, &password)
            .await?;
        Ok(true)
    }

    /// Invites a user into the caller's tenant.
    #[graphql(requires_scopes = "identity:admin")]
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        input: InviteUserInput,
    ) -> Result<Option<Invitation>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let (user, invite_token) = identity(ctx)?
            .invite_user(
                &tenant,
                &actor,
                &input.email,
                &input.name,
                input.departments,
                &input.role_id,
            )
            .await?;
        Ok(Some(Invitation {
            user: User(user),
            invite_token,
        }))
    }

    /// Gives a user another role (effective from their next token).
    #[graphql(requires_scopes = "identity:admin")]
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_id: ID,
    ) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        Ok(Some(User(
            identity(ctx)?
                .assign_role(&tenant, &actor, &user_id, &role_id)
                .await?,
        )))
    }

    /// Deactivates a user and revokes all their sessions.
    #[graphql(requires_scopes = "identity:admin")]
    async fn deactivate_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        Ok(Some(User(
            identity(ctx)?
                .deactivate_user(&tenant, &actor, &user_id)
                .await?,
        )))
    }
}
