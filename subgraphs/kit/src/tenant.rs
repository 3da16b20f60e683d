//! Tenant scoping: every row and document carries a tenant id, and the only way to get a
//! [`TenantId`] inside a resolver is from the caller's verified token.

use std::fmt;

use crate::auth::{Claims, Identity};
use crate::error::{ApiError, ApiResult};

/// A tenant id taken from a verified token. Store functions take one as a mandatory argument,
/// so no store call can be made without naming the caller's tenant; that the query inside then
/// filters by it is the store's duty (and its tests'), not the compiler's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Only for verified claims (and trusted internal callers such as the seed generator).
    pub fn from_claim(value: &str) -> Self {
        TenantId(value.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What resolvers ask the GraphQL context for.
pub trait RequestContext {
    /// The caller (anonymous when no token came with the request).
    fn identity(&self) -> &Identity;

    /// The verified claims, or UNAUTHENTICATED.
    fn claims(&self) -> ApiResult<&Claims> {
        self.identity().claims().ok_or(ApiError::Unauthenticated)
    }

    /// The caller's tenant, or UNAUTHENTICATED.
    fn tenant(&self) -> ApiResult<TenantId> {
        self.identity().tenant().ok_or(ApiError::Unauthenticated)
    }

    /// FORBIDDEN unless the caller holds `scope` (for mutations and row-level rules; field-level
    /// rules are declared with `requires_scopes` instead).
    fn require_scope(&self, scope: &str) -> ApiResult<&Claims> {
        let claims = self.claims()?;
        if claims.permissions.iter().any(|granted| granted == scope) {
            Ok(claims)
        } else {
            Err(ApiError::Forbidden(format!(
                "the `{scope}` scope is required"
            )))
        }
    }

    /// The domain's use cases (`Pmo`, `Employee`, ...) the schema was built with; INTERNAL
    /// when the schema was built without them (an SDL export).
    fn use_cases<T: std::any::Any + Send + Sync>(&self) -> ApiResult<&T>;
}

static ANONYMOUS: Identity = Identity::Anonymous;

impl RequestContext for async_graphql::Context<'_> {
    fn identity(&self) -> &Identity {
        self.data_opt::<Identity>().unwrap_or(&ANONYMOUS)
    }

    fn use_cases<T: std::any::Any + Send + Sync>(&self) -> ApiResult<&T> {
        self.data_opt::<T>().ok_or_else(|| {
            ApiError::internal(format!(
                "{} missing from the schema's data",
                std::any::type_name::<T>()
            ))
        })
    }
}
