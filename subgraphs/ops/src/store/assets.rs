//! The asset register's tenant-scoped reads.

use serde_json::json;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{by_ids, decode_all, one, AssetDoc, Kind, MovementDoc, OpsStore};
use crate::domain::asset::AssetStatus;

/// Filters of the asset list.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub status: Option<AssetStatus>,
}

pub async fn asset(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<AssetDoc>> {
    one(store, tenant, Kind::Assets, id).await
}

/// The assets with these ids, in the order asked (missing ones left out).
pub async fn assets_by_ids(
    store: &dyn OpsStore,
    tenant: &TenantId,
    ids: &[String],
) -> ApiResult<Vec<AssetDoc>> {
    by_ids(store, tenant, Kind::Assets, ids).await
}

/// A page of the tenant's assets.
pub async fn list_assets(
    store: &dyn OpsStore,
    tenant: &TenantId,
    filter: &AssetFilter,
    page: &PageRequest,
) -> ApiResult<Vec<AssetDoc>> {
    let mut fields = Vec::new();
    if let Some(status) = filter.status {
        fields.push(("status", json!(status)));
    }
    decode_all(
        store
            .find(tenant, Kind::Assets, &fields, Some(page))
            .await?,
    )
}

/// An asset's history, oldest first.
pub async fn movements(
    store: &dyn OpsStore,
    tenant: &TenantId,
    asset_id: &str,
) -> ApiResult<Vec<MovementDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::AssetMovements,
                &[("asset_id", json!(asset_id))],
                None,
            )
            .await?,
    )
}

/// A page of an asset's history.
pub async fn movements_page(
    store: &dyn OpsStore,
    tenant: &TenantId,
    asset_id: &str,
    page: &PageRequest,
) -> ApiResult<Vec<MovementDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::AssetMovements,
                &[("asset_id", json!(asset_id))],
                Some(page),
            )
            .await?,
    )
}
