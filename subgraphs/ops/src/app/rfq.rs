//! Requests for quotation (an approved requisition's lines sent to invited suppliers, their
//! quotations recorded once each, one awarded: the award raises the purchase order and orders
//! the requisition in the same commit) and the tenant's approval thresholds of purchase
//! orders (configurable per tenant; the service's default until a tenant sets its own).

use chrono::{NaiveDate, Utc};

use erp_kit::auth::Claims;
use erp_kit::money::Currency;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::procurement::{NewLine, NewOrder};
use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::procurement::{
    comparable_total, order_total, ApprovalPolicy, OrderLine, Quantity, RequisitionStatus,
    Tolerance,
};
use crate::domain::rfq::{check_invited, check_prices, check_quoting_supplier, RfqStatus};
use crate::domain::OpsRule;
use crate::store::procurement as procurement_store;
use crate::store::{Kind, OrderDoc, ProcurementSettingsDoc, QuotationDoc, RfqDoc, Write};

/// A supplier's quotation as given.
pub struct NewQuotation {
    pub supplier: String,
    /// Minor units per unit, one per RFQ line in its order.
    pub unit_prices: Vec<i64>,
    pub valid_until: Option<NaiveDate>,
}

impl Ops {
    pub async fn rfq(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<RfqDoc>> {
        procurement_store::rfq(&*self.store, tenant, id).await
    }

    pub async fn rfqs(
        &self,
        tenant: &TenantId,
        status: Option<RfqStatus>,
        page: &PageRequest,
    ) -> ApiResult<Vec<RfqDoc>> {
        procurement_store::list_rfqs(&*self.store, tenant, status, page).await
    }

    async fn existing_rfq(&self, tenant: &TenantId, id: &str) -> ApiResult<RfqDoc> {
        self.rfq(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("request for quotation".into()))
    }

    /// Sends the lines of an approved requisition to `suppliers` for quotation. The
    /// requisition stays approved until the award orders it.
    pub async fn create_rfq(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        requisition_id: &str,
        suppliers: Vec<String>,
    ) -> ApiResult<RfqDoc> {
        check_invited(&suppliers)?;
        let requisition = self
            .requisition(tenant, requisition_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("requisition".into()))?;
        if requisition.status != RequisitionStatus::Approved {
            return Err(OpsRule::RequisitionState(
                "only an approved requisition is sent for quotation",
            )
            .into());
        }
        let rfq = RfqDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            requisition_id: requisition.id.clone(),
            title: requisition.title.clone(),
            currency: requisition.currency.clone(),
            lines: requisition.lines.clone(),
            suppliers,
            quotations: vec![],
            status: RfqStatus::Open,
            awarded_quotation_id: None,
            order_id: None,
            created_by: caller.sub.clone(),
            created_at: Utc::now(),
        };
        match outcome(
            self.store
                .commit(tenant, &[Write::insert(Kind::Rfqs, &rfq)?], &[])
                .await?,
        ) {
            Outcome::Done => Ok(rfq),
            _ => Err(collided()),
        }
    }

    /// Records an invited supplier's quotation (once per supplier, while the RFQ is open).
    pub async fn record_quotation(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        rfq_id: &str,
        new: NewQuotation,
    ) -> ApiResult<(RfqDoc, QuotationDoc)> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let rfq = self.existing_rfq(tenant, rfq_id).await?;
            rfq.status.accepts_quotations()?;
            let quoted: Vec<&str> = rfq.quotations.iter().map(|q| q.supplier.as_str()).collect();
            check_quoting_supplier(&rfq.suppliers, &quoted, &new.supplier)?;
            check_prices(rfq.lines.len(), &new.unit_prices)?;
            let lines: Vec<OrderLine> = rfq
                .lines
                .iter()
                .zip(&new.unit_prices)
                .map(|(line, price)| OrderLine {
                    line: line.line,
                    item: line.item.clone(),
                    quantity: Quantity::from_milli(line.quantity),
                    unit_price: *price,
                })
                .collect();
            // The supplier's name as invited (the caller's case may differ).
            let supplier = rfq
                .suppliers
                .iter()
                .find(|s| s.eq_ignore_ascii_case(&new.supplier))
                .cloned()
                .unwrap_or_else(|| new.supplier.clone());
            let quotation = QuotationDoc {
                id: erp_kit::db::new_id(),
                supplier,
                unit_prices: new.unit_prices.clone(),
                total: order_total(&lines),
                valid_until: new.valid_until,
                recorded_by: caller.sub.clone(),
                recorded_at: Utc::now(),
            };
            let mut next = rfq.clone();
            next.rev += 1;
            next.quotations.push(quotation.clone());
            let writes = [Write::replace(Kind::Rfqs, &next, rfq.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok((next, quotation));
            }
        }
        Err(collided())
    }

    /// Awards an open RFQ to one of its quotations: the purchase order (requested by the
    /// caller, at the quotation's prices, for the RFQ's quantities) is created as a draft and
    /// the requisition becomes ordered, with the award, in one commit. A quotation whose
    /// validity ended is not awarded.
    pub async fn award_rfq(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        rfq_id: &str,
        quotation_id: &str,
    ) -> ApiResult<(RfqDoc, OrderDoc)> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let rfq = self.existing_rfq(tenant, rfq_id).await?;
            let status = rfq.status.award()?;
            let quotation = rfq
                .quotations
                .iter()
                .find(|q| q.id == quotation_id)
                .ok_or_else(|| ApiError::NotFound("quotation".into()))?;
            if quotation
                .valid_until
                .is_some_and(|until| until < Utc::now().date_naive())
            {
                return Err(ApiError::bad_input(
                    "quotationId",
                    "the quotation's validity has ended",
                ));
            }
            let currency = Currency::parse(&rfq.currency)
                .map_err(|_| ApiError::internal("a stored unknown currency"))?;
            let new = NewOrder {
                requisition_id: Some(rfq.requisition_id.clone()),
                supplier: quotation.supplier.clone(),
                currency,
                lines: rfq
                    .lines
                    .iter()
                    .zip(&quotation.unit_prices)
                    .map(|(line, price)| NewLine {
                        item: line.item.clone(),
                        quantity: Quantity::from_milli(line.quantity),
                        unit_price: *price,
                    })
                    .collect(),
                receipt_tolerance: Tolerance::EXACT,
            };
            let (order, mut writes) = self.new_order_writes(tenant, caller, &new).await?;
            let awarded = RfqDoc {
                rev: rfq.rev + 1,
                status,
                awarded_quotation_id: Some(quotation.id.clone()),
                order_id: Some(order.id.clone()),
                ..rfq.clone()
            };
            writes.push(Write::replace(Kind::Rfqs, &awarded, rfq.rev)?);
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok((awarded, order));
            }
        }
        Err(collided())
    }

    /// Cancels an open RFQ (the requisition stays approved).
    pub async fn cancel_rfq(&self, tenant: &TenantId, rfq_id: &str) -> ApiResult<RfqDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let rfq = self.existing_rfq(tenant, rfq_id).await?;
            let cancelled = RfqDoc {
                rev: rfq.rev + 1,
                status: rfq.status.cancel()?,
                ..rfq.clone()
            };
            let writes = [Write::replace(Kind::Rfqs, &cancelled, rfq.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(cancelled);
            }
        }
        Err(collided())
    }

    /// The tenant's approval policy of purchase orders and the currency of its thresholds:
    /// its own once set, the service's default (minor units of any currency) before.
    pub async fn approval_policy(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<(ApprovalPolicy, Option<String>)> {
        match procurement_store::settings(&*self.store, tenant).await? {
            Some(settings) => Ok((
                ApprovalPolicy::new(settings.approval_tiers)
                    .map_err(|_| ApiError::internal("stored approval tiers are invalid"))?,
                Some(settings.currency),
            )),
            None => Ok((self.options.approval_policy.clone(), None)),
        }
    }

    /// How many distinct approvers an order of `total` in `currency` needs under the tenant's
    /// policy now.
    pub(super) async fn approvals_required(
        &self,
        tenant: &TenantId,
        currency: &str,
        total: i64,
    ) -> ApiResult<u32> {
        let (policy, thresholds_currency) = self.approval_policy(tenant).await?;
        Ok(policy.required(comparable_total(
            thresholds_currency.as_deref(),
            currency,
            total,
        )))
    }

    /// Sets the tenant's approval thresholds in `currency` (replacing the ones before):
    /// orders submitted and approvals given from now on count under them.
    pub async fn set_approval_thresholds(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        currency: Currency,
        tiers: Vec<(i64, u32)>,
    ) -> ApiResult<ApprovalPolicy> {
        let policy = ApprovalPolicy::new(tiers)?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let current = procurement_store::settings(&*self.store, tenant).await?;
            let settings = ProcurementSettingsDoc {
                id: tenant.as_str().to_owned(),
                tenant_id: tenant.as_str().to_owned(),
                rev: current.as_ref().map_or(0, |c| c.rev + 1),
                approval_tiers: policy.tiers().to_vec(),
                currency: currency.code().to_owned(),
                updated_by: caller.sub.clone(),
                updated_at: Utc::now(),
            };
            let write = match &current {
                Some(current) => Write::replace(Kind::ProcurementSettings, &settings, current.rev)?,
                None => Write::insert(Kind::ProcurementSettings, &settings)?,
            };
            if let Outcome::Done = outcome(self.store.commit(tenant, &[write], &[]).await?) {
                return Ok(policy);
            }
        }
        Err(collided())
    }
}
