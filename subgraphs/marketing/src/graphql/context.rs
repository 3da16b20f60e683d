//! What a resolver needs from the request: the use cases, the caller's tenant and user.

use async_graphql::{Context, Result};

use erp_kit::{RequestContext, TenantId};

/// The caller's tenant and user id (from the verified token).
pub fn caller(ctx: &Context<'_>) -> Result<(TenantId, String)> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok((tenant, claims.sub.clone()))
}
