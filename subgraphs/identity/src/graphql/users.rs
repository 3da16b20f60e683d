//! Users: the `User` entity, `me`, the admin's directory and the invitation mutations.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext, TenantId};

use super::context::{identity, millis};
use super::loaders::RoleLoader;
use super::roles::Role;
use crate::domain::users::UserStatus;
use crate::store::entities::user;

/// Where a user account stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "UserStatus", remote = "UserStatus")]
pub enum AccountStatus {
    /// Invited: no password set yet (`acceptInvitation` sets it).
    Invited,
    /// Can log in.
    Active,
    /// Cannot log in; every session was revoked.
    Deactivated,
}

/// A person who can log in.
pub struct User(pub user::Model);

/// A person who can log in: their account in one tenant. Other subgraphs add to it (the
/// employee subgraph: `employee`, the record the user is linked to).
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

    /// Where the account stands.
    async fn status(&self) -> AccountStatus {
        self.0.status().into()
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
    async fn created_at(&self) -> DateTime {
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
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
    ) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        Ok(identity(ctx)?.user(&tenant, &id).await?.map(User))
    }

    /// The caller's tenant's users (Relay connection, `first` at most 100).
    #[graphql(requires_scopes = "user:read", requires_scopes = "identity:admin")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
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
    #[graphql(deprecation = "use `acceptInvitation` (one input)")]
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token of the invitation.")] invite_token: String,
        #[graphql(desc = "The new password (the password policy applies).")] password: String,
    ) -> Result<bool> {
        identity(ctx)?
            .accept_invite(&invite_token, &password)
            .await?;
        Ok(true)
    }

    /// Sets the password of an invited user, who can then log in (and enrol a second factor).
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invitation's token and the new password.")]
        input: AcceptInvitationInput,
    ) -> Result<bool> {
        identity(ctx)?
            .accept_invite(&input.invite_token, &input.password)
            .await?;
        Ok(true)
    }

    /// Invites a user into the caller's tenant.
    #[graphql(requires_scopes = "identity:admin")]
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new user and their role.")] input: InviteUserInput,
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
    #[graphql(
        requires_scopes = "identity:admin",
        deprecation = "use `changeUserRole` (one input)"
    )]
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user.")] user_id: ID,
        #[graphql(desc = "The role, in the caller's tenant.")] role_id: ID,
    ) -> Result<Option<User>> {
        change_role(ctx, user_id, role_id).await
    }

    /// Gives a user another role (effective from their next token).
    #[graphql(requires_scopes = "identity:admin")]
    async fn change_user_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and their new role.")] input: ChangeUserRoleInput,
    ) -> Result<Option<User>> {
        change_role(ctx, input.user_id, input.role_id).await
    }

    /// Deactivates a user and revokes all their sessions.
    #[graphql(
        requires_scopes = "identity:admin",
        deprecation = "use `deactivateUserAccount` (one input)"
    )]
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user.")] user_id: ID,
    ) -> Result<Option<User>> {
        deactivate(ctx, user_id).await
    }

    /// Deactivates a user and revokes all their sessions: they can no longer log in.
    #[graphql(requires_scopes = "identity:admin")]
    async fn deactivate_user_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user.")] input: DeactivateUserAccountInput,
    ) -> Result<Option<User>> {
        deactivate(ctx, input.user_id).await
    }
}

/// `assignRole` and `changeUserRole`.
async fn change_role(ctx: &Context<'_>, user_id: ID, role_id: ID) -> Result<Option<User>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    Ok(Some(User(
        identity(ctx)?
            .assign_role(&tenant, &actor, &user_id, &role_id)
            .await?,
    )))
}

/// `deactivateUser` and `deactivateUserAccount`.
async fn deactivate(ctx: &Context<'_>, user_id: ID) -> Result<Option<User>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    Ok(Some(User(
        identity(ctx)?
            .deactivate_user(&tenant, &actor, &user_id)
            .await?,
    )))
}

/// An invitation to accept.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The token of the invitation (valid 7 days).
    pub invite_token: String,
    /// The new password (the password policy applies).
    pub password: String,
}

/// A user's new role.
#[derive(InputObject)]
pub struct ChangeUserRoleInput {
    /// The user.
    pub user_id: ID,
    /// The role, in the caller's tenant.
    pub role_id: ID,
}

/// A user account to deactivate.
#[derive(InputObject)]
pub struct DeactivateUserAccountInput {
    /// The user.
    pub user_id: ID,
}
