//! What a resolver needs from the request: the use cases, and the caller as the row rules see
//! them (a [`Scope`]: computed once by the root field and carried by every object it
//! returns, so nested fields never recompute it).

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Result};

use erp_kit::{ApiError, RequestContext};

use super::loaders::{ScopeKey, ScopeLoader};
use crate::app::Viewer;
use crate::domain::visibility::Visibility;

/// The scope that opens every record of the tenant.
pub const ADMIN_SCOPE: &str = "crm:admin";

/// The caller and whose records they see.
#[derive(Debug)]
pub struct ScopeData {
    pub viewer: Viewer,
    pub visibility: Visibility,
}

impl ScopeData {
    /// Whether the caller sees a record of `owner`.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        self.visibility.sees(owner)
    }
}

pub type Scope = Arc<ScopeData>;

/// The caller (their tenant and user from the verified token).
pub fn viewer(ctx: &Context<'_>) -> Result<Viewer> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Viewer {
        tenant,
        user_id: claims.sub.clone(),
        admin: ctx.identity().has_scope(ADMIN_SCOPE),
    })
}

/// The caller with their visibility (a few indexed reads; once per root field, and once for
/// the concurrent entity lookups of a federated batch).
pub async fn scope(ctx: &Context<'_>) -> Result<Scope> {
    let viewer = viewer(ctx)?;
    let key = ScopeKey {
        tenant: viewer.tenant.clone(),
        user_id: viewer.user_id.clone(),
        admin: viewer.admin,
    };
    let visibility = ctx
        .data_unchecked::<DataLoader<ScopeLoader>>()
        .load_one(key)
        .await?
        .ok_or_else(|| ApiError::internal("the caller's scope did not load"))?;
    Ok(Arc::new(ScopeData { viewer, visibility }))
}
