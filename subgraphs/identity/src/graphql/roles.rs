//! Roles and the scope registry.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::RequestContext;

use super::context::identity;
use crate::domain::scopes;
use crate::store::entities::role;

/// A named set of permissions (scopes).
pub struct Role(pub role::Model);

/// A role: a named set of scopes a user's tokens carry.
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

/// A role to create.
#[derive(InputObject)]
pub struct CreateRoleInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// Registered scopes only.
    pub permissions: Vec<String>,
}

#[derive(Default)]
pub struct RolesQuery;

#[Object]
impl RolesQuery {
    /// The caller's tenant's roles.
    #[graphql(requires_scopes = "identity:admin")]
    async fn roles(
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
    ) -> Result<Option<Connection<String, Role, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = identity(ctx)?.roles(&tenant, &page).await?;
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
}

#[derive(Default)]
pub struct RolesMutation;

#[Object]
impl RolesMutation {
    /// Creates a role from registered scopes.
    #[graphql(requires_scopes = "identity:admin")]
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's name and scopes.")] input: CreateRoleInput,
    ) -> Result<Option<Role>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        Ok(Some(Role(
            identity(ctx)?
                .create_role(&tenant, &actor, &input.name, input.permissions)
                .await?,
        )))
    }
}
