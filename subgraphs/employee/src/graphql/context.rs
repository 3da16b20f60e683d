//! What a resolver needs from the request beyond the kit's `ctx.use_cases::<Employee>()`: the
//! caller as the row-level rules see them (their own employee record, their standing to a
//! record, through the DataLoaders so that a list costs a few batched queries).

use std::collections::HashSet;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Result};

use erp_kit::loaders::TenantKey;
use erp_kit::{ApiError, RequestContext, TenantId};

use super::loaders::{EmployeeLoader, UserEmployeeLoader};
use crate::app::org::Viewer;
use crate::domain::org::{permissions, Permissions, Standing, MAX_CHAIN};
use crate::store::entities::employee;

/// Opened every record's private fields before the row rules did (see
/// [`Standing::reads_private`]).
const DEPRECATED_PRIVATE_SCOPE: &str = "employee:read:private";

/// The caller, with their own employee record (batched).
pub async fn viewer(ctx: &Context<'_>) -> Result<Viewer> {
    let tenant = ctx.tenant()?;
    let identity = ctx.identity();
    let claims = ctx.claims()?;
    let employee = ctx
        .data_unchecked::<DataLoader<UserEmployeeLoader>>()
        .load_one(TenantKey::new(&tenant, &claims.sub))
        .await?;
    let hr_admin = identity.has_scope("hr:admin");
    Ok(Viewer {
        tenant,
        user_id: claims.sub.clone(),
        employee,
        hr_read: hr_admin || identity.has_scope("hr:read"),
        hr_admin,
        employee_write: identity.has_scope("employee:write"),
        reads_private: identity.has_scope(DEPRECATED_PRIVATE_SCOPE),
    })
}

/// The managers above `of`, nearest first (one batched load per level, cycle-safe).
pub async fn chain_models(
    ctx: &Context<'_>,
    tenant: &TenantId,
    of: &employee::Model,
) -> Result<Vec<employee::Model>> {
    let loader = ctx.data_unchecked::<DataLoader<EmployeeLoader>>();
    let mut seen: HashSet<String> = HashSet::from([of.id.clone()]);
    let mut chain = Vec::new();
    let mut next = of.manager_id.clone();
    while let Some(id) = next {
        if chain.len() >= MAX_CHAIN || !seen.insert(id.clone()) {
            break;
        }
        let Some(manager) = loader.load_one(TenantKey::new(tenant, &id)).await? else {
            break;
        };
        next = manager.manager_id.clone();
        chain.push(manager);
    }
    Ok(chain)
}

/// How the viewer stands to `target`.
pub async fn standing(
    ctx: &Context<'_>,
    viewer: &Viewer,
    target: &employee::Model,
) -> Result<Standing> {
    let is_manager = match viewer.employee_id() {
        Some(me) if me != target.id => chain_models(ctx, &viewer.tenant, target)
            .await?
            .iter()
            .any(|above| above.id == me),
        _ => false,
    };
    Ok(viewer.standing(target, is_manager))
}

/// The viewer's permissions on `target`.
pub async fn permissions_on(ctx: &Context<'_>, target: &employee::Model) -> Result<Permissions> {
    let viewer = viewer(ctx).await?;
    Ok(permissions(standing(ctx, &viewer, target).await?))
}

/// A private field of `target` (`field` names it) for the viewer, or UNAUTHORIZED_FIELD_OR_TYPE
/// (the field is null with its path, the rest of the record arrives) unless the row rules let
/// the viewer see the full record: themself, a manager above them, HR.
pub async fn private_field<T>(
    ctx: &Context<'_>,
    target: &employee::Model,
    field: &str,
    value: T,
) -> Result<T> {
    if permissions_on(ctx, target).await?.view_full_record {
        Ok(value)
    } else {
        Err(ApiError::UnauthorizedField(format!(
            "`Employee.{field}`: only the employee, their managers and HR see it"
        ))
        .into())
    }
}

/// FORBIDDEN unless the viewer may see `target`'s attendance (self, a manager above, HR).
pub async fn require_attendance_view(ctx: &Context<'_>, target: &employee::Model) -> Result<()> {
    if permissions_on(ctx, target).await?.view_attendance {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the employee, their managers and HR see this attendance".into(),
        )
        .into())
    }
}
