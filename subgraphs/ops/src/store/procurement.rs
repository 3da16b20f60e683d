//! Procurement's tenant-scoped reads: requisitions, purchase orders and their receipts.

use serde_json::json;

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::{
    by_ids, decode_all, one, BudgetDoc, Kind, OpsStore, OrderDoc, ProcurementSettingsDoc,
    ReceiptDoc, RequisitionDoc, RfqDoc,
};
use crate::domain::procurement::{OrderStatus, RequisitionStatus};
use crate::domain::rfq::RfqStatus;

pub async fn requisition(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<RequisitionDoc>> {
    one(store, tenant, Kind::Requisitions, id).await
}

pub async fn requisitions_by_ids(
    store: &dyn OpsStore,
    tenant: &TenantId,
    ids: &[String],
) -> ApiResult<Vec<RequisitionDoc>> {
    by_ids(store, tenant, Kind::Requisitions, ids).await
}

/// A page of requisitions, of one status or all.
pub async fn list_requisitions(
    store: &dyn OpsStore,
    tenant: &TenantId,
    status: Option<RequisitionStatus>,
    page: &PageRequest,
) -> ApiResult<Vec<RequisitionDoc>> {
    let fields: Vec<_> = status.map(|s| ("status", json!(s))).into_iter().collect();
    decode_all(
        store
            .find(tenant, Kind::Requisitions, &fields, Some(page))
            .await?,
    )
}

pub async fn order(
    store: &dyn OpsStore,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<OrderDoc>> {
    one(store, tenant, Kind::Orders, id).await
}

/// A page of purchase orders, of one status or all.
pub async fn list_orders(
    store: &dyn OpsStore,
    tenant: &TenantId,
    status: Option<OrderStatus>,
    page: &PageRequest,
) -> ApiResult<Vec<OrderDoc>> {
    let fields: Vec<_> = status.map(|s| ("status", json!(s))).into_iter().collect();
    decode_all(
        store
            .find(tenant, Kind::Orders, &fields, Some(page))
            .await?,
    )
}

/// An order's submitted receipts, oldest first.
pub async fn receipts_of_order(
    store: &dyn OpsStore,
    tenant: &TenantId,
    order_id: &str,
) -> ApiResult<Vec<ReceiptDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::Receipts,
                &[("order_id", json!(order_id))],
                None,
            )
            .await?,
    )
}

/// A page of an order's submitted receipts.
pub async fn receipts_page(
    store: &dyn OpsStore,
    tenant: &TenantId,
    order_id: &str,
    page: &PageRequest,
) -> ApiResult<Vec<ReceiptDoc>> {
    decode_all(
        store
            .find(
                tenant,
                Kind::Receipts,
                &[("order_id", json!(order_id))],
                Some(page),
            )
            .await?,
    )
}

/// The budget of a cost centre, when the tenant has one.
pub async fn budget(
    store: &dyn OpsStore,
    tenant: &TenantId,
    cost_centre: &str,
) -> ApiResult<Option<BudgetDoc>> {
    one(
        store,
        tenant,
        Kind::Budgets,
        &BudgetDoc::id_for(tenant.as_str(), cost_centre),
    )
    .await
}

/// The requisitions and orders drawing on a cost centre (what its commitments count).
pub async fn documents_of_cost_centre(
    store: &dyn OpsStore,
    tenant: &TenantId,
    cost_centre: &str,
) -> ApiResult<(Vec<RequisitionDoc>, Vec<OrderDoc>)> {
    let filter = [("cost_centre", json!(cost_centre))];
    let requisitions = decode_all(
        store
            .find(tenant, Kind::Requisitions, &filter, None)
            .await?,
    )?;
    let orders = decode_all(store.find(tenant, Kind::Orders, &filter, None).await?)?;
    Ok((requisitions, orders))
}

pub async fn rfq(store: &dyn OpsStore, tenant: &TenantId, id: &str) -> ApiResult<Option<RfqDoc>> {
    one(store, tenant, Kind::Rfqs, id).await
}

/// A page of requests for quotation, of one status or all.
pub async fn list_rfqs(
    store: &dyn OpsStore,
    tenant: &TenantId,
    status: Option<RfqStatus>,
    page: &PageRequest,
) -> ApiResult<Vec<RfqDoc>> {
    let fields: Vec<_> = status.map(|s| ("status", json!(s))).into_iter().collect();
    decode_all(store.find(tenant, Kind::Rfqs, &fields, Some(page)).await?)
}

/// The tenant's procurement settings, when it has set any.
pub async fn settings(
    store: &dyn OpsStore,
    tenant: &TenantId,
) -> ApiResult<Option<ProcurementSettingsDoc>> {
    one(store, tenant, Kind::ProcurementSettings, tenant.as_str()).await
}
