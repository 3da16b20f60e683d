//! Procurement: requisitions (draft -> submitted -> approved / rejected -> ordered), purchase
//! orders with approvals by amount (never by the requester), goods receipts within the
//! ordered quantity and its tolerance, and the three-way match of a vendor bill.

use std::collections::HashMap;

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::money::Currency;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::procurement::{
    approve_order, check_budget, comparable_total, order_total, receive, three_way_match, BillLine,
    Commitments, MatchReport, MatchTolerances, OrderLine, OrderStatus, PerLine, Quantity,
    ReceiptLine, RequisitionStatus, Tolerance,
};
use crate::events;
use crate::store::procurement as procurement_store;
use crate::store::{
    BudgetDoc, Kind, LineDoc, OrderDoc, ReceiptDoc, ReceiptLineDoc, ReceivedDoc, RequisitionDoc,
    Write,
};
use erp_kit::events::EventEnvelope;

/// A line as given: item, quantity, unit price in minor units of the document's currency.
pub struct NewLine {
    pub item: String,
    pub quantity: Quantity,
    pub unit_price: i64,
}

/// A new requisition, parsed.
pub struct NewRequisition {
    pub title: String,
    pub cost_centre: Option<String>,
    pub currency: Currency,
    pub lines: Vec<NewLine>,
}

/// A new purchase order, parsed.
pub struct NewOrder {
    pub requisition_id: Option<String>,
    pub supplier: String,
    pub currency: Currency,
    pub lines: Vec<NewLine>,
    pub receipt_tolerance: Tolerance,
}

/// The most lines a requisition, order, receipt or bill has.
pub const MAX_LINES: usize = 1_000;

fn line_docs(lines: Vec<NewLine>) -> ApiResult<Vec<LineDoc>> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ApiError::bad_input(
            "lines",
            format!("a document has 1 to {MAX_LINES} lines"),
        ));
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| {
            if line.unit_price < 0 {
                return Err(ApiError::bad_input(
                    "unitPrice",
                    "a unit price is not negative",
                ));
            }
            Ok(LineDoc {
                line: index as u32 + 1,
                item: line.item,
                quantity: line.quantity.milli(),
                unit_price: line.unit_price,
            })
        })
        .collect()
}

fn order_lines(lines: &[LineDoc]) -> Vec<OrderLine> {
    lines
        .iter()
        .map(|line| OrderLine {
            line: line.line,
            item: line.item.clone(),
            quantity: Quantity::from_milli(line.quantity),
            unit_price: line.unit_price,
        })
        .collect()
}

fn received_of(order: &OrderDoc) -> PerLine {
    order
        .received
        .iter()
        .map(|received| (received.line, Quantity::from_milli(received.quantity)))
        .collect()
}

impl Ops {
    pub async fn requisition(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<RequisitionDoc>> {
        procurement_store::requisition(&*self.store, tenant, id).await
    }

    /// The requisitions of the ids given that the tenant has, in one read (the orders list's
    /// loader).
    pub async fn requisitions_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<Vec<RequisitionDoc>> {
        procurement_store::requisitions_by_ids(&*self.store, tenant, ids).await
    }

    pub async fn requisitions(
        &self,
        tenant: &TenantId,
        status: Option<RequisitionStatus>,
        page: &PageRequest,
    ) -> ApiResult<Vec<RequisitionDoc>> {
        procurement_store::list_requisitions(&*self.store, tenant, status, page).await
    }

    pub async fn order(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<OrderDoc>> {
        procurement_store::order(&*self.store, tenant, id).await
    }

    pub async fn orders(
        &self,
        tenant: &TenantId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> ApiResult<Vec<OrderDoc>> {
        procurement_store::list_orders(&*self.store, tenant, status, page).await
    }

    pub async fn receipts(&self, tenant: &TenantId, order_id: &str) -> ApiResult<Vec<ReceiptDoc>> {
        procurement_store::receipts_of_order(&*self.store, tenant, order_id).await
    }

    /// A page of an order's submitted receipts.
    pub async fn receipts_page(
        &self,
        tenant: &TenantId,
        order_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ReceiptDoc>> {
        procurement_store::receipts_page(&*self.store, tenant, order_id, page).await
    }

    async fn existing_requisition(&self, tenant: &TenantId, id: &str) -> ApiResult<RequisitionDoc> {
        self.requisition(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("requisition".into()))
    }

    async fn existing_order(&self, tenant: &TenantId, id: &str) -> ApiResult<OrderDoc> {
        self.order(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("purchase order".into()))
    }

    /// Creates a draft requisition requested by the caller.
    pub async fn create_requisition(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewRequisition,
    ) -> ApiResult<RequisitionDoc> {
        let lines = line_docs(new.lines)?;
        let total = order_total(&order_lines(&lines));
        let requisition = RequisitionDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            requester_id: caller.sub.clone(),
            title: new.title,
            cost_centre: new.cost_centre,
            currency: new.currency.code().to_owned(),
            lines,
            total,
            status: RequisitionStatus::Draft,
            decided_by: None,
            created_at: Utc::now(),
        };
        let writes = [Write::insert(Kind::Requisitions, &requisition)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(requisition),
            _ => Err(collided()),
        }
    }

    /// Submits a draft requisition (its requester only) after the budget check of its cost
    /// centre: requested + ordered + actual + this <= budget, each document counted once; no
    /// cost centre or no budget fails closed. The budget's revision is bumped in the same
    /// commit, so concurrent submissions are checked one after the other. Publishes
    /// `requisition.submitted`.
    pub async fn submit_requisition(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<RequisitionDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let requisition = self.existing_requisition(tenant, id).await?;
            if requisition.requester_id != caller.sub {
                return Err(ApiError::Forbidden(
                    "only the requester submits a requisition".into(),
                ));
            }
            let status = requisition.status.submit()?;
            let budget = match &requisition.cost_centre {
                Some(cost_centre) => {
                    procurement_store::budget(&*self.store, tenant, cost_centre).await?
                }
                None => None,
            };
            let budget = budget.filter(|budget| budget.currency == requisition.currency);
            let committed = match (&budget, &requisition.cost_centre) {
                (Some(_), Some(cost_centre)) => {
                    let (requisitions, orders) = procurement_store::documents_of_cost_centre(
                        &*self.store,
                        tenant,
                        cost_centre,
                    )
                    .await?;
                    Commitments::from_documents(
                        requisitions.iter().map(|r| (r.status, r.total)),
                        orders
                            .iter()
                            .map(|o| (o.status, o.total, 0, o.requisition_id.is_some())),
                        0,
                    )
                }
                _ => Commitments::default(),
            };
            check_budget(
                budget.as_ref().map(|b| b.amount),
                committed,
                requisition.total,
            )?;
            let next = RequisitionDoc {
                rev: requisition.rev + 1,
                status,
                ..requisition.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::REQUISITION_SUBMITTED,
                &next.id,
                &caller.sub,
                events::RequisitionChanged {
                    requisition_id: &next.id,
                    status,
                    currency: &next.currency,
                    total_minor: next.total,
                    decided_by: None,
                },
            )?;
            let mut writes = vec![Write::replace(Kind::Requisitions, &next, requisition.rev)?];
            if let Some(budget) = &budget {
                let bumped = BudgetDoc {
                    rev: budget.rev + 1,
                    ..budget.clone()
                };
                writes.push(Write::replace(Kind::Budgets, &bumped, budget.rev)?);
            }
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Sets the budget of a cost centre.
    pub async fn set_budget(
        &self,
        tenant: &TenantId,
        cost_centre: String,
        amount: erp_kit::money::Money,
    ) -> ApiResult<BudgetDoc> {
        if amount.minor() < 0 {
            return Err(ApiError::bad_input("amount", "a budget is not negative"));
        }
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let current = procurement_store::budget(&*self.store, tenant, &cost_centre).await?;
            let budget = BudgetDoc {
                id: BudgetDoc::id_for(tenant.as_str(), &cost_centre),
                tenant_id: tenant.as_str().to_owned(),
                rev: current.as_ref().map_or(0, |b| b.rev + 1),
                cost_centre: cost_centre.clone(),
                currency: amount.currency().code().to_owned(),
                amount: amount.minor(),
            };
            let write = match &current {
                Some(current) => Write::replace(Kind::Budgets, &budget, current.rev)?,
                None => Write::insert(Kind::Budgets, &budget)?,
            };
            if let Outcome::Done = outcome(self.store.commit(tenant, &[write], &[]).await?) {
                return Ok(budget);
            }
        }
        Err(collided())
    }

    /// Approves or rejects a submitted requisition: never its requester. Publishes
    /// `requisition.decided`.
    pub async fn decide_requisition(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        approve: bool,
    ) -> ApiResult<RequisitionDoc> {
        self.change_requisition(tenant, caller, id, |requisition| {
            let status =
                requisition
                    .status
                    .decide(&requisition.requester_id, &caller.sub, approve)?;
            Ok((status, events::REQUISITION_DECIDED))
        })
        .await
    }

    /// Withdraws a draft or submitted requisition (its requester only): its amount leaves the
    /// budget's commitments. Publishes `requisition.decided`.
    pub async fn cancel_requisition(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<RequisitionDoc> {
        self.change_requisition(tenant, caller, id, |requisition| {
            if requisition.requester_id != caller.sub {
                return Err(ApiError::Forbidden(
                    "only the requester withdraws a requisition".into(),
                ));
            }
            Ok((requisition.status.cancel()?, events::REQUISITION_DECIDED))
        })
        .await
    }

    async fn change_requisition(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        change: impl Fn(&RequisitionDoc) -> ApiResult<(RequisitionStatus, &'static str)>,
    ) -> ApiResult<RequisitionDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let requisition = self.existing_requisition(tenant, id).await?;
            let (status, event_type) = change(&requisition)?;
            let decided = matches!(
                status,
                RequisitionStatus::Approved | RequisitionStatus::Rejected
            );
            let next = RequisitionDoc {
                rev: requisition.rev + 1,
                status,
                decided_by: if decided {
                    Some(caller.sub.clone())
                } else {
                    requisition.decided_by.clone()
                },
                ..requisition.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                event_type,
                &next.id,
                &caller.sub,
                events::RequisitionChanged {
                    requisition_id: &next.id,
                    status,
                    currency: &next.currency,
                    total_minor: next.total,
                    decided_by: next.decided_by.as_deref(),
                },
            )?;
            let writes = [Write::replace(Kind::Requisitions, &next, requisition.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Creates a draft purchase order requested by the caller; raised from an approved
    /// requisition, that requisition becomes ordered in the same commit (once).
    pub async fn create_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewOrder,
    ) -> ApiResult<OrderDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let (order, writes) = self.new_order_writes(tenant, caller, &new).await?;
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(order);
            }
        }
        Err(collided())
    }

    /// A new draft order requested by the caller and its writes: the order, and its
    /// requisition (when it has one) becoming ordered. What `create_order` and an RFQ's award
    /// commit.
    pub(super) async fn new_order_writes(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: &NewOrder,
    ) -> ApiResult<(OrderDoc, Vec<Write>)> {
        let lines = line_docs(
            new.lines
                .iter()
                .map(|line| NewLine {
                    item: line.item.clone(),
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                })
                .collect(),
        )?;
        let total = order_total(&order_lines(&lines));
        let mut writes = Vec::with_capacity(2);
        let mut cost_centre = None;
        if let Some(requisition_id) = &new.requisition_id {
            let requisition = self.existing_requisition(tenant, requisition_id).await?;
            if requisition.currency != new.currency.code() {
                return Err(ApiError::bad_input(
                    "currency",
                    "the order is in the currency of its requisition",
                ));
            }
            let ordered = RequisitionDoc {
                rev: requisition.rev + 1,
                status: requisition.status.order()?,
                ..requisition.clone()
            };
            cost_centre = requisition.cost_centre.clone();
            writes.push(Write::replace(
                Kind::Requisitions,
                &ordered,
                requisition.rev,
            )?);
        }
        let order = OrderDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            requisition_id: new.requisition_id.clone(),
            cost_centre,
            requester_id: caller.sub.clone(),
            supplier: new.supplier.clone(),
            currency: new.currency.code().to_owned(),
            lines,
            total,
            status: OrderStatus::Draft,
            approvals: vec![],
            required_approvals: self
                .approvals_required(tenant, new.currency.code(), total)
                .await?,
            receipt_tolerance: new.receipt_tolerance.basis_points(),
            received: vec![],
            created_at: Utc::now(),
        };
        writes.push(Write::insert(Kind::Orders, &order)?);
        Ok((order, writes))
    }

    /// Submits a draft order for approval (its requester only).
    pub async fn submit_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<OrderDoc> {
        let (policy, thresholds_currency) = self.approval_policy(tenant).await?;
        self.change_order(tenant, caller, id, |order| {
            if order.requester_id != caller.sub {
                return Err(ApiError::Forbidden(
                    "only the requester submits an order".into(),
                ));
            }
            let mut next = order.clone();
            next.status = order.status.submit()?;
            next.required_approvals = policy.required(comparable_total(
                thresholds_currency.as_deref(),
                &order.currency,
                order.total,
            ));
            Ok((next, None))
        })
        .await
    }

    /// Records the caller's approval of a submitted order (never the requester's, once per
    /// person); with enough approvers for its amount the order is approved and `po.approved`
    /// published.
    pub async fn approve_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<OrderDoc> {
        let (policy, thresholds_currency) = self.approval_policy(tenant).await?;
        self.change_order(tenant, caller, id, |order| {
            let mut next = order.clone();
            next.status = approve_order(
                order.status,
                &order.requester_id,
                &mut next.approvals,
                &caller.sub,
                &policy,
                comparable_total(thresholds_currency.as_deref(), &order.currency, order.total),
            )?;
            let event = (next.status == OrderStatus::Approved).then_some(events::PO_APPROVED);
            Ok((next, event))
        })
        .await
    }

    /// Marks an approved order sent to the supplier.
    pub async fn send_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<OrderDoc> {
        self.change_order(tenant, caller, id, |order| {
            let mut next = order.clone();
            next.status = order.status.send()?;
            Ok((next, None))
        })
        .await
    }

    /// Closes a (partially) received order: nothing more is received against it.
    pub async fn close_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<OrderDoc> {
        self.change_order(tenant, caller, id, |order| {
            let mut next = order.clone();
            next.status = order.status.close()?;
            Ok((next, None))
        })
        .await
    }

    /// Cancels an order nothing was received against. Publishes `po.cancelled`.
    pub async fn cancel_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
    ) -> ApiResult<OrderDoc> {
        self.change_order(tenant, caller, id, |order| {
            let mut next = order.clone();
            next.status = order.status.cancel()?;
            Ok((next, Some(events::PO_CANCELLED)))
        })
        .await
    }

    async fn change_order(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        change: impl Fn(&OrderDoc) -> ApiResult<(OrderDoc, Option<&'static str>)>,
    ) -> ApiResult<OrderDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let order = self.existing_order(tenant, id).await?;
            let (mut next, event_type) = change(&order)?;
            next.rev = order.rev + 1;
            let events = match event_type {
                Some(event_type) => vec![EventEnvelope::by_actor(
                    tenant,
                    event_type,
                    &next.id,
                    &caller.sub,
                    events::OrderChanged {
                        order_id: &next.id,
                        supplier: &next.supplier,
                        currency: &next.currency,
                        total_minor: next.total,
                        approvers: &next.approvals,
                    },
                )?],
                None => vec![],
            };
            let writes = [Write::replace(Kind::Orders, &next, order.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &events).await?) {
                if !events.is_empty() {
                    self.wake();
                }
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Submits a goods receipt against an order: every line of this order with its item,
    /// the cumulative received quantity within ordered x (1 + tolerance), the order receivable
    /// (never cancelled or closed). The order's status derives from the receipts. Publishes
    /// `grn.received`.
    pub async fn receive_goods(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        order_id: &str,
        lines: Vec<ReceiptLine>,
    ) -> ApiResult<(ReceiptDoc, OrderDoc)> {
        if lines.len() > MAX_LINES {
            return Err(ApiError::bad_input(
                "lines",
                format!("a receipt has at most {MAX_LINES} lines"),
            ));
        }
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let order = self.existing_order(tenant, order_id).await?;
            let tolerance =
                Tolerance::from_basis_points("receiptTolerance", order.receipt_tolerance as i32)?;
            let (received, status) = receive(
                order.status,
                &order_lines(&order.lines),
                tolerance,
                &received_of(&order),
                &lines,
            )?;
            let mut received: Vec<ReceivedDoc> = received
                .into_iter()
                .map(|(line, quantity)| ReceivedDoc {
                    line,
                    quantity: quantity.milli(),
                })
                .collect();
            received.sort_by_key(|received| received.line);
            let receipt = ReceiptDoc {
                id: erp_kit::db::new_id(),
                tenant_id: tenant.as_str().to_owned(),
                order_id: order.id.clone(),
                lines: lines
                    .iter()
                    .map(|line| ReceiptLineDoc {
                        line: line.line,
                        item: line.item.clone(),
                        quantity: line.quantity.milli(),
                    })
                    .collect(),
                received_by: caller.sub.clone(),
                received_at: Utc::now(),
            };
            let next = OrderDoc {
                rev: order.rev + 1,
                status,
                received,
                ..order.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::GRN_RECEIVED,
                &order.id,
                &caller.sub,
                events::GoodsReceived {
                    receipt_id: &receipt.id,
                    order_id: &order.id,
                    lines: receipt
                        .lines
                        .iter()
                        .map(|line| events::ReceivedLine {
                            line: line.line,
                            item: &line.item,
                            quantity_milli: line.quantity,
                        })
                        .collect(),
                    order_status: status,
                },
            )?;
            let writes = [
                Write::replace(Kind::Orders, &next, order.rev)?,
                Write::insert(Kind::Receipts, &receipt)?,
            ];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok((receipt, next));
            }
        }
        Err(collided())
    }

    /// Matches a vendor bill (held by finance) against the order and its submitted receipts,
    /// with quantity and price tolerances; `billed_before` is what earlier bills of the order
    /// billed per line. Reads only.
    pub async fn match_bill(
        &self,
        tenant: &TenantId,
        order_id: &str,
        bill: &[BillLine],
        billed_before: &HashMap<u32, Quantity>,
        tolerances: MatchTolerances,
    ) -> ApiResult<MatchReport> {
        if bill.len() > MAX_LINES {
            return Err(ApiError::bad_input(
                "lines",
                format!("a bill has at most {MAX_LINES} lines"),
            ));
        }
        let order = self.existing_order(tenant, order_id).await?;
        three_way_match(
            &order_lines(&order.lines),
            &received_of(&order),
            billed_before,
            bill,
            tolerances,
        )
    }
}
