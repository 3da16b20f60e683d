//! The identity subgraph's GraphQL schema: accounts and roles for admins, `me` for everybody,
//! and the public login mutations (the router rate-limits them as the "public" class).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{
    Context, EmptySubscription, InputObject, Json, Object, Result, Schema, SchemaBuilder,
    SimpleObject, ID,
};
use chrono::{DateTime, TimeZone, Utc};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext, TenantId};

use crate::domain::{scopes, UserStatus};
use crate::service::{self, IdentityService};
use crate::store::{self, entities};

pub type IdentitySchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema_builder(
    service: Option<IdentityService>,
) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    let builder = Schema::build(Query, Mutation, EmptySubscription);
    match service {
        Some(service) => builder.data(service),
        None => builder,
    }
}

fn service<'a>(ctx: &Context<'a>) -> Result<&'a IdentityService> {
    ctx.data::<IdentityService>()
        .map_err(|_| ApiError::internal("identity service missing from schema data").into())
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A person who can log in.
pub struct User(pub entities::user::Model);

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
        match UserStatus::from_db(&self.0.status) {
            UserStatus::Invited => "INVITED",
            UserStatus::Active => "ACTIVE",
            UserStatus::Deactivated => "DEACTIVATED",
        }
    }

    /// The user's role.
    async fn role(&self, ctx: &Context<'_>) -> Result<Option<Role>> {
        let tenant = TenantId::from_claim(&self.0.tenant_id);
        Ok(
            store::role_in_tenant(service(ctx)?.db(), &tenant, &self.0.role_id)
                .await?
                .map(Role),
        )
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        millis(self.0.created_at)
    }
}

/// A named set of permissions (scopes).
pub struct Role(pub entities::role::Model);

#[Object]
impl Role {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The scopes this role grants.
    async fn permissions(&self) -> Vec<String> {
        self.0.permission_list()
    }
}

/// A scope of the supergraph, from the registry.
#[derive(SimpleObject)]
pub struct Scope {
    /// The scope string, e.g. `task:start`.
    pub name: &'static str,
    /// The subgraph that checks it.
    pub subgraph: &'static str,
    /// What it opens.
    pub description: &'static str,
}

/// Tokens after a completed login or a refresh.
#[derive(SimpleObject)]
pub struct TokenSet {
    /// RS256 access token (JWT) for the `Authorization: Bearer` header.
    pub access_token: String,
    /// One-time refresh token: each use returns a new one.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Recovery codes, returned once right after the first second factor is enrolled.
    pub recovery_codes: Option<Vec<String>>,
}

impl From<service::TokenSet> for TokenSet {
    fn from(t: service::TokenSet) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: t.expires_in,
            recovery_codes: t.recovery_codes,
        }
    }
}

/// The second step a password login asks for.
#[derive(SimpleObject)]
pub struct LoginChallenge {
    /// Names this login attempt in the MFA mutations (valid 5 minutes).
    pub mfa_token: String,
    /// True when no second factor is enrolled yet: enrol one to finish logging in.
    pub enrollment_required: bool,
    /// The second factors available: `totp`, `webauthn`, `recovery_code`.
    pub methods: Vec<String>,
}

/// A TOTP secret to add to an authenticator app.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// An invited user and the one-time token that lets them set a password.
#[derive(SimpleObject)]
pub struct Invitation {
    /// The invited user.
    pub user: User,
    /// Give this to the user (valid 7 days); it is not stored in clear.
    pub invite_token: String,
}

pub struct Query;

#[Object]
impl Query {
    /// The caller's own account.
    #[graphql(directive = authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let claims = ctx.claims()?;
        let tenant = ctx.tenant()?;
        Ok(
            store::user_in_tenant(service(ctx)?.db(), &tenant, &claims.sub)
                .await?
                .map(User),
        )
    }

    /// A user of the caller's tenant.
    #[graphql(requires_scopes = "user:read", requires_scopes = "identity:admin")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        Ok(store::user_in_tenant(service(ctx)?.db(), &tenant, &id)
            .await?
            .map(User))
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
        let rows = store::users_page(service(ctx)?.db(), &tenant, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(User).collect(),
            |u| u.0.id.clone(),
        )))
    }

    /// The caller's tenant's roles.
    #[graphql(requires_scopes = "identity:admin")]
    async fn roles(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Role, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = store::roles_page(service(ctx)?.db(), &tenant, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Role).collect(),
            |r| r.0.id.clone(),
        )))
    }

    /// Every scope the supergraph uses, with what it opens.
    #[graphql(requires_scopes = "identity:admin")]
    async fn scopes(&self) -> Option<Vec<Scope>> {
        Some(
            scopes::REGISTRY
                .iter()
                .map(|s| Scope {
                    name: s.name,
                    subgraph: s.subgraph,
                    description: s.description,
                })
                .collect(),
        )
    }

    /// Federation: resolves a `User` reference from another subgraph (same tenant only).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let tenant = ctx.tenant()?;
        Ok(store::user_in_tenant(service(ctx)?.db(), &tenant, &id)
            .await?
            .map(User))
    }
}

/// Email and password.
#[derive(InputObject)]
pub struct LoginInput {
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
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

/// A role to create.
#[derive(InputObject)]
pub struct CreateRoleInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// Registered scopes only.
    pub permissions: Vec<String>,
}

fn client_ip(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<erp_kit::http::ClientIp>()
        .map(|ip| ip.0.to_string())
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Password step of a login. Always followed by a second factor (or its enrolment).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<LoginChallenge> {
        let challenge = service(ctx)?
            .login(&input.email, &input.password, client_ip(ctx).as_deref())
            .await?;
        Ok(LoginChallenge {
            mfa_token: challenge.mfa_token,
            enrollment_required: challenge.enrollment_required,
            methods: challenge.methods,
        })
    }

    /// Starts TOTP enrolment (only for a login without a second factor yet).
    async fn begin_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<TotpEnrollment> {
        let (secret, otpauth_uri) = service(ctx)?.begin_totp_enrollment(&mfa_token).await?;
        Ok(TotpEnrollment {
            secret,
            otpauth_uri,
        })
    }

    /// Confirms TOTP enrolment with a current code; completes the login and returns recovery codes.
    async fn confirm_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(service(ctx)?
            .confirm_totp_enrollment(&mfa_token, &code)
            .await?
            .into())
    }

    /// Completes a login with a TOTP code (each code works once).
    async fn verify_totp(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(service(ctx)?.verify_totp(&mfa_token, &code).await?.into())
    }

    /// Completes a login with a one-time recovery code.
    async fn verify_recovery_code(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(service(ctx)?
            .verify_recovery_code(&mfa_token, &code)
            .await?
            .into())
    }

    /// Starts registering a WebAuthn authenticator: `PublicKeyCredentialCreationOptions` as JSON.
    async fn begin_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<Json<serde_json::Value>> {
        Ok(Json(
            service(ctx)?
                .begin_webauthn_registration(&mfa_token)
                .await?,
        ))
    }

    /// Finishes the registration with the authenticator's response; completes the login.
    async fn finish_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        credential: Json<serde_json::Value>,
    ) -> Result<TokenSet> {
        Ok(service(ctx)?
            .finish_webauthn_registration(&mfa_token, credential.0)
            .await?
            .into())
    }

    /// Starts a WebAuthn assertion: `PublicKeyCredentialRequestOptions` as JSON.
    async fn begin_webauthn_login(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<Json<serde_json::Value>> {
        Ok(Json(service(ctx)?.begin_webauthn_login(&mfa_token).await?))
    }

    /// Completes a login with the authenticator's assertion.
    async fn finish_webauthn_login(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        credential: Json<serde_json::Value>,
    ) -> Result<TokenSet> {
        Ok(service(ctx)?
            .finish_webauthn_login(&mfa_token, credential.0)
            .await?
            .into())
    }

    /// Exchanges a refresh token for new tokens (the old one stops working).
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<TokenSet> {
        Ok(service(ctx)?.refresh(&refresh_token).await?.into())
    }

    /// Ends the session of this refresh token.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(service(ctx)?.logout(&refresh_token).await?)
    }

    /// Sets the password of an invited user.
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        invite_token: String,
        password: String,
    ) -> Result<bool> {
        service(ctx)?
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
        let (user, invite_token) = service(ctx)?
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
            service(ctx)?
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
            service(ctx)?
                .deactivate_user(&tenant, &actor, &user_id)
                .await?,
        )))
    }

    /// Creates a role from registered scopes.
    #[graphql(requires_scopes = "identity:admin")]
    async fn create_role(&self, ctx: &Context<'_>, input: CreateRoleInput) -> Result<Option<Role>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        Ok(Some(Role(
            service(ctx)?
                .create_role(&tenant, &actor, &input.name, input.permissions)
                .await?,
        )))
    }
}
