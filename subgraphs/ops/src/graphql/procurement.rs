//! Procurement in GraphQL: requisitions, purchase orders with approvals by amount, goods
//! receipts, and the three-way match of a vendor bill against order and receipts.

use std::collections::HashMap;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::money::{Currency, Decimal, Money, MoneyInput};
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext};

use super::context::{minor_of, money, money_input, ops};
use super::loaders::RequisitionLoader;
use crate::app::procurement::{NewLine, NewOrder, NewRequisition};
use crate::domain::procurement::{
    self as domain, BillLine, MatchTolerances, Quantity, ReceiptLine, Tolerance,
};
use crate::domain::{optional_text, short_text};
use crate::store::{LineDoc, OrderDoc, ReceiptDoc, RequisitionDoc};
use async_graphql::dataloader::DataLoader;
use erp_kit::loaders::TenantKey;

/// Where a requisition is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RequisitionStatus {
    /// Being written by its requester.
    Draft,
    /// Waiting for a decision.
    Submitted,
    /// Approved: an order may be raised from it.
    Approved,
    /// Rejected.
    Rejected,
    /// Withdrawn.
    Cancelled,
    /// A purchase order was raised from it.
    Ordered,
}

impl From<domain::RequisitionStatus> for RequisitionStatus {
    fn from(status: domain::RequisitionStatus) -> Self {
        use domain::RequisitionStatus as S;
        match status {
            S::Draft => Self::Draft,
            S::Submitted => Self::Submitted,
            S::Approved => Self::Approved,
            S::Rejected => Self::Rejected,
            S::Cancelled => Self::Cancelled,
            S::Ordered => Self::Ordered,
        }
    }
}

impl From<RequisitionStatus> for domain::RequisitionStatus {
    fn from(status: RequisitionStatus) -> Self {
        use RequisitionStatus as S;
        match status {
            S::Draft => Self::Draft,
            S::Submitted => Self::Submitted,
            S::Approved => Self::Approved,
            S::Rejected => Self::Rejected,
            S::Cancelled => Self::Cancelled,
            S::Ordered => Self::Ordered,
        }
    }
}

/// Where a purchase order is. The receiving states derive only from submitted receipts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PurchaseOrderStatus {
    /// Being written by its requester.
    Draft,
    /// Waiting for its approvals.
    Submitted,
    /// Approved by enough approvers for its amount.
    Approved,
    /// Sent to the supplier.
    Sent,
    /// Some goods received.
    PartiallyReceived,
    /// Every line received in full.
    Received,
    /// Closed.
    Closed,
    /// Cancelled before anything was received.
    Cancelled,
}

impl From<domain::OrderStatus> for PurchaseOrderStatus {
    fn from(status: domain::OrderStatus) -> Self {
        use domain::OrderStatus as S;
        match status {
            S::Draft => Self::Draft,
            S::Submitted => Self::Submitted,
            S::Approved => Self::Approved,
            S::Sent => Self::Sent,
            S::PartiallyReceived => Self::PartiallyReceived,
            S::Received => Self::Received,
            S::Closed => Self::Closed,
            S::Cancelled => Self::Cancelled,
        }
    }
}

impl From<PurchaseOrderStatus> for domain::OrderStatus {
    fn from(status: PurchaseOrderStatus) -> Self {
        use PurchaseOrderStatus as S;
        match status {
            S::Draft => Self::Draft,
            S::Submitted => Self::Submitted,
            S::Approved => Self::Approved,
            S::Sent => Self::Sent,
            S::PartiallyReceived => Self::PartiallyReceived,
            S::Received => Self::Received,
            S::Closed => Self::Closed,
            S::Cancelled => Self::Cancelled,
        }
    }
}

/// A quantity in thousandths as the kit's `Decimal` (`"12.500"`).
fn quantity(milli: i64) -> Result<Decimal> {
    Decimal::parse(&Quantity::from_milli(milli).to_decimal_string())
        .ok_or_else(|| ApiError::internal("a quantity that does not format as a decimal").into())
}

/// A line of a requisition or a purchase order.
pub struct PurchaseLine {
    line: LineDoc,
    currency: String,
}

/// A line of a requisition or a purchase order.
#[Object]
impl PurchaseLine {
    /// The line number, from 1.
    async fn line(&self) -> i32 {
        self.line.line as i32
    }
    /// The item.
    async fn item(&self) -> &str {
        &self.line.item
    }
    /// The quantity (up to 3 decimals).
    async fn quantity(&self) -> Result<Decimal> {
        quantity(self.line.quantity)
    }
    /// The price of one unit.
    async fn unit_price(&self) -> Result<Money> {
        money(self.line.unit_price, &self.currency)
    }
    /// quantity x unit price, rounded half away from zero to the minor unit.
    async fn amount(&self) -> Result<Money> {
        money(
            Quantity::from_milli(self.line.quantity).times(self.line.unit_price),
            &self.currency,
        )
    }
}

pub(super) fn lines(lines: &[LineDoc], currency: &str) -> Vec<PurchaseLine> {
    lines
        .iter()
        .map(|line| PurchaseLine {
            line: line.clone(),
            currency: currency.to_owned(),
        })
        .collect()
}

/// A purchase requisition.
pub struct Requisition(pub RequisitionDoc);

/// A purchase requisition.
#[Object]
impl Requisition {
    /// The requisition's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What is requested, in a few words.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The cost centre whose budget it draws on.
    async fn cost_centre(&self) -> Option<&str> {
        self.0.cost_centre.as_deref()
    }
    /// The user who requested it.
    async fn requester_id(&self) -> ID {
        ID(self.0.requester_id.clone())
    }
    /// Where it is.
    async fn status(&self) -> RequisitionStatus {
        self.0.status.into()
    }
    /// The lines (at most 1,000: a bounded part of the document, not a connection).
    async fn lines(&self) -> Vec<PurchaseLine> {
        lines(&self.0.lines, &self.0.currency)
    }
    /// The sum of the lines.
    async fn total(&self) -> Result<Money> {
        money(self.0.total, &self.0.currency)
    }
    /// Who approved or rejected it.
    async fn decided_by_id(&self) -> Option<ID> {
        self.0.decided_by.clone().map(ID)
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
}

/// Quantity received so far of one order line.
#[derive(SimpleObject)]
pub struct ReceivedQuantity {
    /// The order line.
    pub line: i32,
    /// Received by submitted receipts.
    pub quantity: Decimal,
}

/// A purchase order.
pub struct PurchaseOrder(pub OrderDoc);

/// A purchase order.
#[Object]
impl PurchaseOrder {
    /// The order's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The requisition it was raised from.
    async fn requisition_id(&self) -> Option<ID> {
        self.0.requisition_id.clone().map(ID)
    }
    /// The requisition it was raised from.
    async fn requisition(&self, ctx: &Context<'_>) -> Result<Option<Requisition>> {
        let Some(id) = &self.0.requisition_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data::<DataLoader<RequisitionLoader>>()?
            .load_one(TenantKey::new(&tenant, id))
            .await?
            .map(Requisition))
    }
    /// The user who requested it (never one of its approvers).
    async fn requester_id(&self) -> ID {
        ID(self.0.requester_id.clone())
    }
    /// The supplier.
    async fn supplier(&self) -> &str {
        &self.0.supplier
    }
    /// Where it is.
    async fn status(&self) -> PurchaseOrderStatus {
        self.0.status.into()
    }
    /// The lines (at most 1,000: a bounded part of the document, not a connection).
    async fn lines(&self) -> Vec<PurchaseLine> {
        lines(&self.0.lines, &self.0.currency)
    }
    /// The sum of the lines.
    async fn total(&self) -> Result<Money> {
        money(self.0.total, &self.0.currency)
    }
    /// The users who approved it so far.
    async fn approver_ids(&self) -> Vec<ID> {
        self.0.approvals.iter().cloned().map(ID).collect()
    }
    /// How many distinct approvers its amount needs.
    async fn required_approvals(&self) -> i32 {
        self.0.required_approvals as i32
    }
    /// How far above the ordered quantity receipts may go, in basis points (0: exact).
    async fn receipt_tolerance_basis_points(&self) -> i32 {
        self.0.receipt_tolerance as i32
    }
    /// The quantities received so far, per line with receipts.
    async fn received(&self) -> Result<Vec<ReceivedQuantity>> {
        self.0
            .received
            .iter()
            .map(|received| {
                Ok(ReceivedQuantity {
                    line: received.line as i32,
                    quantity: quantity(received.quantity)?,
                })
            })
            .collect()
    }
    /// Its submitted goods receipts, oldest first, as a Relay connection.
    async fn receipts(
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
    ) -> Result<Connection<String, GoodsReceipt, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?.receipts_page(&tenant, &self.0.id, &page).await?;
        let rows = rows.into_iter().map(GoodsReceipt).collect();
        Ok(connection_from_rows(&page, rows, |r| r.0.id.clone()))
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
}

/// A submitted goods receipt.
pub struct GoodsReceipt(pub ReceiptDoc);

/// A line of a goods receipt.
#[derive(SimpleObject)]
pub struct GoodsReceiptLine {
    /// The order line.
    pub line: i32,
    /// The item.
    pub item: String,
    /// The quantity received.
    pub quantity: Decimal,
}

/// A submitted goods receipt.
#[Object]
impl GoodsReceipt {
    /// The receipt's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The order received against.
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.clone())
    }
    /// The lines received (at most 1,000).
    async fn lines(&self) -> Result<Vec<GoodsReceiptLine>> {
        self.0
            .lines
            .iter()
            .map(|line| {
                Ok(GoodsReceiptLine {
                    line: line.line as i32,
                    item: line.item.clone(),
                    quantity: quantity(line.quantity)?,
                })
            })
            .collect()
    }
    /// The user who received the goods.
    async fn received_by_id(&self) -> ID {
        ID(self.0.received_by.clone())
    }
    /// When.
    async fn received_at(&self) -> DateTime {
        DateTime::from(self.0.received_at)
    }
}

/// How one bill line compares with its order line and receipts.
#[derive(SimpleObject)]
pub struct BillLineMatch {
    /// The order line.
    pub line: i32,
    /// Ordered.
    pub ordered: Decimal,
    /// Received by submitted receipts.
    pub received: Decimal,
    /// Billed by earlier bills and this one.
    pub billed: Decimal,
    /// billed - received (positive: billed more than received).
    pub quantity_variance: Decimal,
    /// (billed unit price - ordered unit price) x quantity billed now.
    pub price_variance: Money,
    /// Whether billed <= received x (1 + quantity tolerance).
    pub quantity_within_tolerance: bool,
    /// Whether the unit price is within the price tolerance of the order's.
    pub price_within_tolerance: bool,
}

/// The result of a three-way match.
#[derive(SimpleObject)]
pub struct ThreeWayMatch {
    /// Whether every line is within both tolerances.
    pub matched: bool,
    /// Each bill line, in the bill's order.
    pub lines: Vec<BillLineMatch>,
}

/// A line as given: item, quantity and unit price in the document's currency.
#[derive(InputObject)]
pub struct PurchaseLineInput {
    /// The item, 1 to 200 characters.
    pub item: String,
    /// A positive quantity with at most 3 decimals.
    pub quantity: Decimal,
    /// The price of one unit, not negative, at most as many decimals as the currency has.
    pub unit_price: Decimal,
}

/// A new requisition (`createRequisition`).
#[derive(InputObject)]
pub struct CreateRequisitionInput {
    /// What is requested, 1 to 200 characters.
    pub title: String,
    /// The cost centre whose budget it draws on, 1 to 100 characters. Without one (or without a
    /// budget for it) the submission is refused: the budget check fails closed.
    pub cost_centre: Option<String>,
    /// The currency of the unit prices.
    pub currency: Currency,
    /// 1 to 1,000 lines.
    pub lines: Vec<PurchaseLineInput>,
}

/// A requisition an operation applies to.
#[derive(InputObject)]
pub struct RequisitionIdInput {
    /// The requisition.
    pub requisition_id: ID,
}

/// A new purchase order (`createPurchaseOrder`).
#[derive(InputObject)]
pub struct CreatePurchaseOrderInput {
    /// The approved requisition it is raised from (it becomes ordered).
    pub requisition_id: Option<ID>,
    /// The supplier, 1 to 200 characters.
    pub supplier: String,
    /// The currency of the unit prices.
    pub currency: Currency,
    /// 1 to 1,000 lines.
    pub lines: Vec<PurchaseLineInput>,
    /// How far above the ordered quantity receipts may go, in basis points, 0 to 10000
    /// (default 0: exactly the ordered quantity).
    pub receipt_tolerance_basis_points: Option<i32>,
}

/// A cost centre's budget (`setBudget`).
#[derive(InputObject)]
pub struct SetBudgetInput {
    /// The cost centre, 1 to 100 characters.
    pub cost_centre: String,
    /// The budget: requested + ordered + actual never exceed it.
    pub amount: MoneyInput,
}

/// A cost centre's budget.
#[derive(SimpleObject)]
pub struct Budget {
    /// The cost centre.
    pub cost_centre: String,
    /// The budget.
    pub amount: Money,
}

/// A purchase order an operation applies to.
#[derive(InputObject)]
pub struct PurchaseOrderIdInput {
    /// The order.
    pub order_id: ID,
}

/// A line received.
#[derive(InputObject)]
pub struct ReceiveLineInput {
    /// The order line (its number).
    pub line: i32,
    /// The item, as on the order line.
    pub item: String,
    /// A positive quantity with at most 3 decimals.
    pub quantity: Decimal,
}

/// A goods receipt (`receiveGoods`).
#[derive(InputObject)]
pub struct ReceiveGoodsInput {
    /// The order received against.
    pub order_id: ID,
    /// 1 to 1,000 lines.
    pub lines: Vec<ReceiveLineInput>,
}

/// A line of a vendor bill.
#[derive(InputObject)]
pub struct BillLineInput {
    /// The order line (its number).
    pub line: i32,
    /// The item, as on the order line.
    pub item: String,
    /// The quantity billed.
    pub quantity: Decimal,
    /// The unit price billed, in the order's currency.
    pub unit_price: Decimal,
}

/// Quantity billed by earlier bills of one order line.
#[derive(InputObject)]
pub struct BilledBeforeInput {
    /// The order line.
    pub line: i32,
    /// The quantity.
    pub quantity: Decimal,
}

/// A three-way match (`threeWayMatch`).
#[derive(InputObject)]
pub struct ThreeWayMatchInput {
    /// The order the bill is for.
    pub order_id: ID,
    /// 1 to 1,000 bill lines.
    pub lines: Vec<BillLineInput>,
    /// What earlier bills of the order billed, per line.
    pub billed_before: Option<Vec<BilledBeforeInput>>,
    /// Billed may exceed received by this many basis points (default 0).
    pub quantity_tolerance_basis_points: Option<i32>,
    /// The unit price may differ from the order's by this many basis points (default 0).
    pub price_tolerance_basis_points: Option<i32>,
}

/// What a goods receipt did.
#[derive(SimpleObject)]
pub struct ReceiveGoodsPayload {
    /// The receipt.
    pub receipt: GoodsReceipt,
    /// The order, its received quantities and status after the receipt.
    pub order: PurchaseOrder,
}

fn line_number(field: &str, line: i32) -> Result<u32, ApiError> {
    u32::try_from(line)
        .ok()
        .filter(|line| *line >= 1)
        .ok_or_else(|| ApiError::bad_input(field, "a line number is 1 or more"))
}

fn new_lines(lines: Vec<PurchaseLineInput>, currency: Currency) -> Result<Vec<NewLine>, ApiError> {
    lines
        .into_iter()
        .map(|line| {
            Ok(NewLine {
                item: short_text("item", &line.item, 200, "item")?,
                quantity: Quantity::parse("quantity", line.quantity.as_str())?,
                unit_price: minor_of("unitPrice", &line.unit_price, currency)?,
            })
        })
        .collect()
}

/// Procurement documents.
#[derive(Default)]
pub struct ProcurementQuery;

#[Object]
impl ProcurementQuery {
    /// One requisition of the caller's tenant.
    #[graphql(requires_scopes = "procurement:read")]
    async fn requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition's id.")] id: ID,
    ) -> Result<Option<Requisition>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.requisition(&tenant, &id).await?.map(Requisition))
    }

    /// The caller's tenant's requisitions, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "procurement:read")]
    #[allow(clippy::too_many_arguments)]
    async fn requisitions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only requisitions in this status.")] status: Option<RequisitionStatus>,
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
    ) -> Result<Connection<String, Requisition, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?
            .requisitions(&tenant, status.map(Into::into), &page)
            .await?;
        let rows = rows.into_iter().map(Requisition).collect();
        Ok(connection_from_rows(&page, rows, |r| r.0.id.clone()))
    }

    /// One purchase order of the caller's tenant.
    #[graphql(requires_scopes = "procurement:read")]
    async fn purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] id: ID,
    ) -> Result<Option<PurchaseOrder>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.order(&tenant, &id).await?.map(PurchaseOrder))
    }

    /// The caller's tenant's purchase orders, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "procurement:read")]
    #[allow(clippy::too_many_arguments)]
    async fn purchase_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only orders in this status.")] status: Option<PurchaseOrderStatus>,
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
    ) -> Result<Connection<String, PurchaseOrder, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?
            .orders(&tenant, status.map(Into::into), &page)
            .await?;
        let rows = rows.into_iter().map(PurchaseOrder).collect();
        Ok(connection_from_rows(&page, rows, |o| o.0.id.clone()))
    }

    /// Matches a vendor bill against its purchase order and the submitted receipts: quantity
    /// and price variances per line, each against its tolerance. Writes nothing.
    #[graphql(requires_scopes = "procurement:read")]
    async fn three_way_match(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order, the bill's lines and the tolerances.")]
        input: ThreeWayMatchInput,
    ) -> Result<ThreeWayMatch> {
        let tenant = ctx.tenant()?;
        let ops = ops(ctx)?;
        let order = ops
            .order(&tenant, &input.order_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("purchase order".into()))?;
        let currency = Currency::parse(&order.currency)
            .map_err(|_| ApiError::internal("a stored unknown currency"))?;
        let bill = input
            .lines
            .into_iter()
            .map(|line| {
                Ok(BillLine {
                    line: line_number("line", line.line)?,
                    item: line.item,
                    quantity: Quantity::parse("quantity", line.quantity.as_str())?,
                    unit_price: minor_of("unitPrice", &line.unit_price, currency)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let billed_before: HashMap<u32, Quantity> = input
            .billed_before
            .unwrap_or_default()
            .into_iter()
            .map(|billed| {
                Ok((
                    line_number("billedBefore.line", billed.line)?,
                    Quantity::parse("billedBefore.quantity", billed.quantity.as_str())?,
                ))
            })
            .collect::<Result<_, ApiError>>()?;
        let tolerances = MatchTolerances {
            quantity: Tolerance::from_basis_points(
                "quantityToleranceBasisPoints",
                input.quantity_tolerance_basis_points.unwrap_or(0),
            )?,
            price: Tolerance::from_basis_points(
                "priceToleranceBasisPoints",
                input.price_tolerance_basis_points.unwrap_or(0),
            )?,
        };
        let report = ops
            .match_bill(&tenant, &order.id, &bill, &billed_before, tolerances)
            .await?;
        let lines = report
            .lines
            .into_iter()
            .map(|line| {
                Ok(BillLineMatch {
                    line: line.line as i32,
                    ordered: quantity(line.ordered.milli())?,
                    received: quantity(line.received.milli())?,
                    billed: quantity(line.billed.milli())?,
                    quantity_variance: quantity(line.quantity_variance)?,
                    price_variance: money(line.price_variance, &order.currency)?,
                    quantity_within_tolerance: line.quantity_ok,
                    price_within_tolerance: line.price_ok,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ThreeWayMatch {
            matched: report.matched,
            lines,
        })
    }
}

/// Changes to procurement documents.
#[derive(Default)]
pub struct ProcurementMutation;

#[Object]
impl ProcurementMutation {
    /// Creates a draft requisition requested by the caller.
    #[graphql(requires_scopes = "procurement:request")]
    async fn create_requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The title, currency and lines.")] input: CreateRequisitionInput,
    ) -> Result<Requisition> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let new = NewRequisition {
            title: short_text("title", &input.title, 200, "title")?,
            cost_centre: optional_text(
                "costCentre",
                input.cost_centre.as_deref(),
                100,
                "cost centre",
            )?,
            currency: input.currency,
            lines: new_lines(input.lines, input.currency)?,
        };
        Ok(Requisition(
            ops(ctx)?.create_requisition(&tenant, claims, new).await?,
        ))
    }

    /// Sets the budget of a cost centre (what submitted requisitions are checked against).
    #[graphql(requires_scopes = "procurement:budget")]
    async fn set_budget(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cost centre and its budget.")] input: SetBudgetInput,
    ) -> Result<Budget> {
        let tenant = ctx.tenant()?;
        let cost_centre = short_text("costCentre", &input.cost_centre, 100, "cost centre")?;
        let amount = money_input("amount", &input.amount)?;
        let budget = ops(ctx)?.set_budget(&tenant, cost_centre, amount).await?;
        Ok(Budget {
            cost_centre: budget.cost_centre,
            amount: money(budget.amount, &budget.currency)?,
        })
    }

    /// Submits the caller's draft requisition after the budget check of its cost centre
    /// (requested + ordered + actual + this within the budget; no budget: refused);
    /// publishes `requisition.submitted`.
    #[graphql(requires_scopes = "procurement:request")]
    async fn submit_requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition.")] input: RequisitionIdInput,
    ) -> Result<Requisition> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Requisition(
            ops(ctx)?
                .submit_requisition(&tenant, claims, &input.requisition_id)
                .await?,
        ))
    }

    /// Approves a submitted requisition (never your own); publishes `requisition.decided`.
    #[graphql(requires_scopes = "procurement:approve")]
    async fn approve_requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition.")] input: RequisitionIdInput,
    ) -> Result<Requisition> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Requisition(
            ops(ctx)?
                .decide_requisition(&tenant, claims, &input.requisition_id, true)
                .await?,
        ))
    }

    /// Rejects a submitted requisition (never your own); publishes `requisition.decided`.
    #[graphql(requires_scopes = "procurement:approve")]
    async fn reject_requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition.")] input: RequisitionIdInput,
    ) -> Result<Requisition> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Requisition(
            ops(ctx)?
                .decide_requisition(&tenant, claims, &input.requisition_id, false)
                .await?,
        ))
    }

    /// Withdraws the caller's draft or submitted requisition.
    #[graphql(requires_scopes = "procurement:request")]
    async fn cancel_requisition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition.")] input: RequisitionIdInput,
    ) -> Result<Requisition> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Requisition(
            ops(ctx)?
                .cancel_requisition(&tenant, claims, &input.requisition_id)
                .await?,
        ))
    }

    /// Creates a draft purchase order requested by the caller (from an approved requisition,
    /// which becomes ordered).
    #[graphql(requires_scopes = "procurement:order")]
    async fn create_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The supplier, currency, lines and receipt tolerance.")]
        input: CreatePurchaseOrderInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let new = NewOrder {
            requisition_id: input.requisition_id.map(|id| id.0),
            supplier: short_text("supplier", &input.supplier, 200, "supplier")?,
            currency: input.currency,
            lines: new_lines(input.lines, input.currency)?,
            receipt_tolerance: Tolerance::from_basis_points(
                "receiptToleranceBasisPoints",
                input.receipt_tolerance_basis_points.unwrap_or(0),
            )?,
        };
        Ok(PurchaseOrder(
            ops(ctx)?.create_order(&tenant, claims, new).await?,
        ))
    }

    /// Submits the caller's draft order for approval.
    #[graphql(requires_scopes = "procurement:order")]
    async fn submit_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PurchaseOrderIdInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(PurchaseOrder(
            ops(ctx)?
                .submit_order(&tenant, claims, &input.order_id)
                .await?,
        ))
    }

    /// Records the caller's approval of a submitted order (never the requester's, once per
    /// person); with enough approvers for its amount the order is approved and `po.approved`
    /// published.
    #[graphql(requires_scopes = "procurement:approve")]
    async fn approve_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PurchaseOrderIdInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(PurchaseOrder(
            ops(ctx)?
                .approve_order(&tenant, claims, &input.order_id)
                .await?,
        ))
    }

    /// Marks an approved order sent to its supplier.
    #[graphql(requires_scopes = "procurement:order")]
    async fn send_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PurchaseOrderIdInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(PurchaseOrder(
            ops(ctx)?
                .send_order(&tenant, claims, &input.order_id)
                .await?,
        ))
    }

    /// Closes a (partially) received order: nothing more is received against it.
    #[graphql(requires_scopes = "procurement:order")]
    async fn close_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PurchaseOrderIdInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(PurchaseOrder(
            ops(ctx)?
                .close_order(&tenant, claims, &input.order_id)
                .await?,
        ))
    }

    /// Cancels an order nothing was received against; publishes `po.cancelled`.
    #[graphql(requires_scopes = "procurement:order")]
    async fn cancel_purchase_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PurchaseOrderIdInput,
    ) -> Result<PurchaseOrder> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(PurchaseOrder(
            ops(ctx)?
                .cancel_order(&tenant, claims, &input.order_id)
                .await?,
        ))
    }

    /// Submits a goods receipt against an order: cumulative received never above ordered x
    /// (1 + tolerance); publishes `grn.received`.
    #[graphql(requires_scopes = "procurement:receive")]
    async fn receive_goods(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order and the lines received.")] input: ReceiveGoodsInput,
    ) -> Result<ReceiveGoodsPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let lines = input
            .lines
            .into_iter()
            .map(|line| {
                Ok(ReceiptLine {
                    line: line_number("line", line.line)?,
                    item: line.item,
                    quantity: Quantity::parse("quantity", line.quantity.as_str())?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let (receipt, order) = ops(ctx)?
            .receive_goods(&tenant, claims, &input.order_id, lines)
            .await?;
        Ok(ReceiveGoodsPayload {
            receipt: GoodsReceipt(receipt),
            order: PurchaseOrder(order),
        })
    }
}
