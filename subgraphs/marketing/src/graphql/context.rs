//! What a resolver needs from the request: the use cases, the caller's tenant and user.

use async_graphql::{Context, Result};

use erp_kit::{ApiError, RequestContext, TenantId};

use crate::app::Marketing;

/// The use cases, from the schema's data.
pub fn use_cases<'a>(ctx: &Context<'a>) -> Result<&'a Marketing> {
    ctx.data::<Marketing>().map_err(|_| {
        ApiError::internal("the marketing use cases are missing from schema data").into()
    })
}

/// The caller's tenant and user id (from the verified token).
pub fn caller(ctx: &Context<'_>) -> Result<(TenantId, String)> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok((tenant, claims.sub.clone()))
}
