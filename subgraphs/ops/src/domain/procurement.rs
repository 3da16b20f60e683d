//! Procurement rules: requisitions (PR) -> purchase orders (PO) with approval thresholds ->
//! goods receipts (GRN), the three-way match of a vendor bill against order and receipts,
//! and the budget check (domains.md O5-O8).
//!
//! Quantities are exact: thousandths of a unit in an `i64` (ERPNext #40340 accepted 100.002
//! against 100 with a 0 % allowance; here that is 100,002 > 100,000). Prices are integer minor
//! units of the order's currency.

use std::collections::HashMap;

use erp_kit::money::{format_minor, parse_minor};
use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

use super::{mul_div_round, OpsRule};

/// Decimals of a quantity.
pub const QUANTITY_DECIMALS: u8 = 3;

/// A quantity in thousandths of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(i64);

impl Quantity {
    /// A positive decimal quantity with at most 3 decimals (`"100"`, `"100.002"`).
    pub fn parse(field: &str, text: &str) -> Result<Self, ApiError> {
        let milli = parse_minor(text, QUANTITY_DECIMALS).map_err(|_| {
            ApiError::bad_input(
                field,
                "a quantity is a decimal with at most 3 decimals, e.g. 12.5",
            )
        })?;
        if milli <= 0 {
            return Err(ApiError::bad_input(field, "a quantity must be positive"));
        }
        Ok(Self(milli))
    }

    pub const fn from_milli(milli: i64) -> Self {
        Self(milli)
    }

    pub fn milli(self) -> i64 {
        self.0
    }

    /// `"100.002"`, `"12.500"`.
    pub fn to_decimal_string(self) -> String {
        format_minor(self.0, QUANTITY_DECIMALS)
    }

    /// The amount of this quantity at `unit_price` minor units, rounded half away from zero.
    pub fn times(self, unit_price: i64) -> i64 {
        mul_div_round(i128::from(self.0), i128::from(unit_price), 1_000) as i64
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity(self.0 + other.0)
    }
}

/// An allowance above a reference, in basis points (1/100 of a percent): 0 means exact, 500 is
/// 5 %, at most 10,000 (100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tolerance(u32);

impl Tolerance {
    pub const EXACT: Tolerance = Tolerance(0);

    pub fn from_basis_points(field: &str, basis_points: i32) -> Result<Self, ApiError> {
        u32::try_from(basis_points)
            .ok()
            .filter(|bp| *bp <= 10_000)
            .map(Self)
            .ok_or_else(|| {
                ApiError::bad_input(field, "a tolerance is 0 to 10000 basis points (0 to 100 %)")
            })
    }

    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// The most `reference` allows: `reference * (1 + tolerance)`, rounded down so that a
    /// tolerance never allows more than it says.
    pub fn ceiling(self, reference: i64) -> i64 {
        (i128::from(reference) * (10_000 + i128::from(self.0)) / 10_000) as i64
    }

    /// The least `reference` allows: `reference * (1 - tolerance)`, rounded up.
    pub fn floor(self, reference: i64) -> i64 {
        let scaled = i128::from(reference) * (10_000 - i128::from(self.0));
        ((scaled + 9_999) / 10_000) as i64
    }
}

/// A requisition's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequisitionStatus {
    Draft,
    Submitted,
    Approved,
    Rejected,
    Cancelled,
    /// A purchase order was raised from it: its amount is now committed by that order.
    Ordered,
}

impl RequisitionStatus {
    /// Submits a draft.
    pub fn submit(self) -> Result<Self, ApiError> {
        match self {
            RequisitionStatus::Draft => Ok(RequisitionStatus::Submitted),
            _ => Err(OpsRule::RequisitionState("only a draft requisition is submitted").into()),
        }
    }

    /// Approves or rejects a submitted requisition; never its own requester.
    pub fn decide(self, requester: &str, by: &str, approve: bool) -> Result<Self, ApiError> {
        if self != RequisitionStatus::Submitted {
            return Err(OpsRule::RequisitionState(
                "only a submitted requisition is approved or rejected",
            )
            .into());
        }
        if requester == by {
            return Err(OpsRule::SelfApproval.into());
        }
        Ok(if approve {
            RequisitionStatus::Approved
        } else {
            RequisitionStatus::Rejected
        })
    }

    pub fn cancel(self) -> Result<Self, ApiError> {
        match self {
            RequisitionStatus::Draft | RequisitionStatus::Submitted => {
                Ok(RequisitionStatus::Cancelled)
            }
            _ => Err(OpsRule::RequisitionState(
                "only a draft or submitted requisition is cancelled",
            )
            .into()),
        }
    }

    /// An order is raised from an approved requisition, once.
    pub fn order(self) -> Result<Self, ApiError> {
        match self {
            RequisitionStatus::Approved => Ok(RequisitionStatus::Ordered),
            _ => Err(OpsRule::RequisitionState(
                "an order is raised only from an approved requisition, once",
            )
            .into()),
        }
    }
}

/// A purchase order's state. The receiving states derive only from submitted receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Draft,
    /// Waiting for its approvals.
    Submitted,
    Approved,
    Sent,
    PartiallyReceived,
    Received,
    Closed,
    Cancelled,
}

impl OrderStatus {
    pub fn submit(self) -> Result<Self, ApiError> {
        match self {
            OrderStatus::Draft => Ok(OrderStatus::Submitted),
            _ => Err(OpsRule::OrderState("only a draft order is submitted for approval").into()),
        }
    }

    pub fn send(self) -> Result<Self, ApiError> {
        match self {
            OrderStatus::Approved => Ok(OrderStatus::Sent),
            _ => Err(OpsRule::OrderState("only an approved order is sent").into()),
        }
    }

    /// Cancels an order nothing was received against yet.
    pub fn cancel(self) -> Result<Self, ApiError> {
        match self {
            OrderStatus::Draft
            | OrderStatus::Submitted
            | OrderStatus::Approved
            | OrderStatus::Sent => Ok(OrderStatus::Cancelled),
            _ => Err(OpsRule::OrderState(
                "an order with receipts, closed or cancelled is not cancelled",
            )
            .into()),
        }
    }

    pub fn close(self) -> Result<Self, ApiError> {
        match self {
            OrderStatus::PartiallyReceived | OrderStatus::Received => Ok(OrderStatus::Closed),
            _ => Err(OpsRule::OrderState("only a (partially) received order is closed").into()),
        }
    }

    /// Whether goods may be received against the order.
    fn receivable(self) -> Result<(), ApiError> {
        match self {
            OrderStatus::Approved
            | OrderStatus::Sent
            | OrderStatus::PartiallyReceived
            | OrderStatus::Received => Ok(()),
            OrderStatus::Cancelled => Err(OpsRule::OrderState(
                "the order is cancelled: nothing is received against it",
            )
            .into()),
            OrderStatus::Closed => Err(OpsRule::OrderState(
                "the order is closed: nothing is received against it",
            )
            .into()),
            OrderStatus::Draft | OrderStatus::Submitted => Err(OpsRule::OrderState(
                "the order is not approved yet: nothing is received against it",
            )
            .into()),
        }
    }
}

/// The most tiers an approval policy has.
pub const MAX_APPROVAL_TIERS: usize = 10;

/// How many distinct approvers an order needs by its total: the tier with the highest
/// threshold at or below the total applies; below every threshold, one approver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApprovalPolicy {
    tiers: Vec<(i64, u32)>,
}

impl ApprovalPolicy {
    /// Tiers as (threshold in minor units, approvers): thresholds distinct and not negative,
    /// 1 to 5 approvers each.
    pub fn new(mut tiers: Vec<(i64, u32)>) -> Result<Self, ApiError> {
        tiers.sort_unstable();
        let bad = tiers
            .iter()
            .any(|(threshold, approvers)| *threshold < 0 || !(1..=5).contains(approvers))
            || tiers.windows(2).any(|pair| pair[0].0 == pair[1].0)
            || tiers.len() > MAX_APPROVAL_TIERS;
        if bad {
            return Err(ApiError::bad_input(
                "tiers",
                "approval tiers (at most 10) have distinct non-negative thresholds and 1 to 5 approvers",
            ));
        }
        Ok(Self { tiers })
    }

    /// The tiers, by ascending threshold.
    pub fn tiers(&self) -> &[(i64, u32)] {
        &self.tiers
    }

    pub fn required(&self, total: i64) -> u32 {
        self.tiers
            .iter()
            .rev()
            .find(|(threshold, _)| *threshold <= total)
            .map_or(1, |(_, approvers)| *approvers)
    }
}

/// The total an order's approvals are counted by: its own when the thresholds are in its
/// currency (or have none, the service's default in minor units); otherwise above every
/// threshold (there is no rate here to convert with, so the check fails closed: the most
/// approvers).
pub fn comparable_total(
    thresholds_currency: Option<&str>,
    order_currency: &str,
    total: i64,
) -> i64 {
    match thresholds_currency {
        Some(currency) if currency != order_currency => i64::MAX,
        _ => total,
    }
}

/// Records `by`'s approval of a submitted order requested by `requester`: never the requester,
/// never twice by the same person. Returns the new status (approved once the policy's count
/// of distinct approvers is reached).
pub fn approve_order(
    status: OrderStatus,
    requester: &str,
    approvals: &mut Vec<String>,
    by: &str,
    policy: &ApprovalPolicy,
    total: i64,
) -> Result<OrderStatus, ApiError> {
    if status != OrderStatus::Submitted {
        return Err(OpsRule::OrderState("only an order submitted for approval is approved").into());
    }
    if by == requester {
        return Err(OpsRule::SelfApproval.into());
    }
    if approvals.iter().any(|approver| approver == by) {
        return Err(OpsRule::AlreadyApproved.into());
    }
    approvals.push(by.to_owned());
    Ok(if approvals.len() as u32 >= policy.required(total) {
        OrderStatus::Approved
    } else {
        OrderStatus::Submitted
    })
}

/// A line of a purchase order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// 1-based line number, unique in the order.
    pub line: u32,
    pub item: String,
    pub quantity: Quantity,
    /// Minor units per unit.
    pub unit_price: i64,
}

/// An order's total in minor units.
pub fn order_total(lines: &[OrderLine]) -> i64 {
    lines
        .iter()
        .map(|line| line.quantity.times(line.unit_price))
        .sum()
}

/// A line of a goods receipt or a vendor bill: which order line, which item, how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    pub line: u32,
    pub item: String,
    pub quantity: Quantity,
}

/// Quantities received (or billed) so far per order line: submitted receipts only.
pub type PerLine = HashMap<u32, Quantity>;

fn order_line<'a>(
    order: &'a [OrderLine],
    line: u32,
    item: &str,
) -> Result<&'a OrderLine, ApiError> {
    let found = order
        .iter()
        .find(|candidate| candidate.line == line)
        .ok_or_else(|| OpsRule::LineMismatch(format!("the order has no line {line}")))?;
    if found.item != item {
        return Err(OpsRule::LineMismatch(format!(
            "line {line} of the order is `{}`, not `{item}`",
            found.item
        ))
        .into());
    }
    Ok(found)
}

/// Submits a goods receipt against an order: the order must be receivable, every line must
/// name a line of this order with its item, and the cumulative received quantity stays within
/// ordered x (1 + tolerance). Returns the received quantities after the receipt and the
/// order's derived status.
pub fn receive(
    status: OrderStatus,
    order: &[OrderLine],
    tolerance: Tolerance,
    received: &PerLine,
    receipt: &[ReceiptLine],
) -> Result<(PerLine, OrderStatus), ApiError> {
    status.receivable()?;
    if receipt.is_empty() {
        return Err(ApiError::bad_input(
            "lines",
            "a receipt has at least one line",
        ));
    }
    let mut after = received.clone();
    for line in receipt {
        let ordered = order_line(order, line.line, &line.item)?;
        let total = after.entry(line.line).or_default();
        *total = *total + line.quantity;
        let allowed = tolerance.ceiling(ordered.quantity.milli());
        if total.milli() > allowed {
            return Err(OpsRule::OverReceipt {
                line: line.line,
                allowed: Quantity(allowed).to_decimal_string(),
                would_be: total.to_decimal_string(),
            }
            .into());
        }
    }
    let status = receipt_status(order, &after);
    Ok((after, status))
}

/// The status the received quantities give an order: received when every line has at least
/// its ordered quantity (one over-received line does not make the order received: ERPNext
/// #31535), partially when anything was received, else approved.
pub fn receipt_status(order: &[OrderLine], received: &PerLine) -> OrderStatus {
    let got = |line: &OrderLine| received.get(&line.line).copied().unwrap_or_default();
    if order.iter().all(|line| got(line) >= line.quantity) {
        OrderStatus::Received
    } else if order.iter().any(|line| got(line).milli() > 0) {
        OrderStatus::PartiallyReceived
    } else {
        OrderStatus::Approved
    }
}

/// A line of a vendor bill: the order line, the item, the quantity and unit price billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub line: u32,
    pub item: String,
    pub quantity: Quantity,
    pub unit_price: i64,
}

/// The tolerances of a three-way match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchTolerances {
    /// Billed (cumulative) may exceed received by this much.
    pub quantity: Tolerance,
    /// The billed unit price may differ from the order's by this much, either way.
    pub price: Tolerance,
}

/// How one bill line compares with its order line and receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    pub line: u32,
    pub ordered: Quantity,
    pub received: Quantity,
    /// Billed by earlier bills and this one.
    pub billed: Quantity,
    /// billed - received, in thousandths (positive: billed more than received).
    pub quantity_variance: i64,
    /// (billed price - ordered price) x quantity billed now, in minor units.
    pub price_variance: i64,
    pub quantity_ok: bool,
    pub price_ok: bool,
}

/// The result of a three-way match: every line, and whether all of them are within tolerance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchReport {
    pub lines: Vec<LineMatch>,
    pub matched: bool,
}

/// Matches a bill against its order and the submitted receipts: billed (with earlier bills)
/// <= received x (1 + quantity tolerance), the unit price within the price tolerance of the
/// order's; quantity and price variances reported separately. A line naming no line of the
/// order, or another item, is refused (a cross-order line).
pub fn three_way_match(
    order: &[OrderLine],
    received: &PerLine,
    billed_before: &PerLine,
    bill: &[BillLine],
    tolerances: MatchTolerances,
) -> Result<MatchReport, ApiError> {
    if bill.is_empty() {
        return Err(ApiError::bad_input("lines", "a bill has at least one line"));
    }
    let by_line: HashMap<u32, &OrderLine> = order.iter().map(|line| (line.line, line)).collect();
    let mut billed_now: PerLine = HashMap::with_capacity(bill.len());
    let mut lines = Vec::with_capacity(bill.len());
    for bill_line in bill {
        let ordered = by_line.get(&bill_line.line).copied().ok_or_else(|| {
            OpsRule::LineMismatch(format!("the order has no line {}", bill_line.line))
        })?;
        if ordered.item != bill_line.item {
            return Err(OpsRule::LineMismatch(format!(
                "line {} of the order is `{}`, not `{}`",
                bill_line.line, ordered.item, bill_line.item
            ))
            .into());
        }
        if bill_line.unit_price < 0 {
            return Err(ApiError::bad_input(
                "unitPrice",
                "a unit price is not negative",
            ));
        }
        let now = billed_now.entry(bill_line.line).or_default();
        *now = *now + bill_line.quantity;
        let billed = billed_before
            .get(&bill_line.line)
            .copied()
            .unwrap_or_default()
            + *now;
        let received_qty = received.get(&bill_line.line).copied().unwrap_or_default();
        let quantity_ok = billed.milli() <= tolerances.quantity.ceiling(received_qty.milli());
        let price_ok = bill_line.unit_price <= tolerances.price.ceiling(ordered.unit_price)
            && bill_line.unit_price >= tolerances.price.floor(ordered.unit_price);
        lines.push(LineMatch {
            line: bill_line.line,
            ordered: ordered.quantity,
            received: received_qty,
            billed,
            quantity_variance: billed.milli() - received_qty.milli(),
            price_variance: bill_line
                .quantity
                .times(bill_line.unit_price - ordered.unit_price),
            quantity_ok,
            price_ok,
        });
    }
    let matched = lines.iter().all(|line| line.quantity_ok && line.price_ok);
    Ok(MatchReport { lines, matched })
}

/// What a budget has committed, each document counted once: requested (requisitions
/// submitted or approved and not yet ordered), ordered (orders approved or later, not
/// cancelled, less what is billed), actual (billed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commitments {
    pub requested: i64,
    pub ordered: i64,
    pub actual: i64,
}

impl Commitments {
    /// Sums the documents: a requisition's amount moves to its order once ordered (a draft
    /// order raised from a requisition counts, so the amount is never counted nowhere), an
    /// order's to actual as it is billed, so nothing is counted twice (ERPNext #40769). Orders
    /// are (status, total, billed, raised from a requisition).
    pub fn from_documents(
        requisitions: impl IntoIterator<Item = (RequisitionStatus, i64)>,
        orders: impl IntoIterator<Item = (OrderStatus, i64, i64, bool)>,
        actual: i64,
    ) -> Self {
        let requested = requisitions
            .into_iter()
            .filter(|(status, _)| {
                matches!(
                    status,
                    RequisitionStatus::Submitted | RequisitionStatus::Approved
                )
            })
            .map(|(_, amount)| amount)
            .sum();
        let ordered = orders
            .into_iter()
            .filter(|(status, _, _, from_requisition)| match status {
                OrderStatus::Cancelled => false,
                OrderStatus::Draft => *from_requisition,
                _ => true,
            })
            .map(|(_, total, billed, _)| (total - billed).max(0))
            .sum();
        Self {
            requested,
            ordered,
            actual,
        }
    }

    pub fn total(&self) -> i64 {
        self.requested + self.ordered + self.actual
    }
}

/// Checks that `amount` more fits the budget. No budget resolved (a blank account, an unknown
/// cost centre) refuses: the check fails closed (ERPNext #58564).
pub fn check_budget(
    budget: Option<i64>,
    committed: Commitments,
    amount: i64,
) -> Result<(), ApiError> {
    let Some(budget) = budget else {
        return Err(OpsRule::BudgetUnresolved.into());
    };
    let available = budget - committed.total();
    if amount > available {
        return Err(OpsRule::BudgetExceeded {
            available,
            requested: amount,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;

    fn q(text: &str) -> Quantity {
        Quantity::parse("quantity", text).unwrap()
    }

    fn id(n: u128) -> String {
        format!("user-{n}")
    }

    fn order() -> Vec<OrderLine> {
        vec![
            OrderLine {
                line: 1,
                item: "cable-m".into(),
                quantity: q("100"),
                unit_price: 250,
            },
            OrderLine {
                line: 2,
                item: "switch".into(),
                quantity: q("2"),
                unit_price: 45_000,
            },
        ]
    }

    fn receipt(line: u32, item: &str, quantity: &str) -> ReceiptLine {
        ReceiptLine {
            line,
            item: item.into(),
            quantity: q(quantity),
        }
    }

    #[test]
    fn quantities_are_exact() {
        assert_eq!(q("100.002").milli(), 100_002);
        assert_eq!(q("12.5").to_decimal_string(), "12.500");
        assert!(Quantity::parse("q", "0").is_err());
        assert!(Quantity::parse("q", "-1").is_err());
        assert!(Quantity::parse("q", "1.0001").is_err());
        assert_eq!(q("2.5").times(199), 498); // 4.975 -> 4.98
        assert_eq!(order_total(&order()), 25_000 + 90_000);
    }

    #[test]
    fn tolerances() {
        assert_eq!(Tolerance::EXACT.ceiling(100_000), 100_000);
        let five = Tolerance::from_basis_points("t", 500).unwrap();
        assert_eq!(five.ceiling(100_000), 105_000);
        assert_eq!(five.floor(100_000), 95_000);
        assert_eq!(five.ceiling(3), 3, "rounded down: never more than it says");
        assert!(Tolerance::from_basis_points("t", -1).is_err());
        assert!(Tolerance::from_basis_points("t", 10_001).is_err());
    }

    #[test]
    fn requisitions_are_never_approved_by_their_requester() {
        let requester = &id(1);
        let submitted = RequisitionStatus::Draft.submit().unwrap();
        let err = submitted.decide(requester, requester, true).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::SELF_APPROVAL));
        assert_eq!(err.code(), erp_kit::ErrorCode::Forbidden);
        assert_eq!(
            submitted.decide(requester, &id(2), true).unwrap(),
            RequisitionStatus::Approved
        );
        assert_eq!(
            submitted.decide(requester, &id(2), false).unwrap(),
            RequisitionStatus::Rejected
        );
        assert_eq!(
            RequisitionStatus::Draft
                .decide(requester, &id(2), true)
                .unwrap_err()
                .reason(),
            Some(reasons::REQUISITION_STATE)
        );
        assert!(submitted.submit().is_err());
        let ordered = RequisitionStatus::Approved.order().unwrap();
        assert!(ordered.order().is_err(), "ordered once");
        assert!(ordered.cancel().is_err());
    }

    #[test]
    fn orders_need_distinct_approvers_by_amount() {
        let policy = ApprovalPolicy::new(vec![(1_000_000, 2), (0, 1)]).unwrap();
        assert_eq!(policy.required(999_999), 1);
        assert_eq!(policy.required(1_000_000), 2);
        let requester = &id(1);
        let mut approvals = vec![];
        let status = OrderStatus::Draft.submit().unwrap();
        let err = approve_order(
            status,
            requester,
            &mut approvals,
            requester,
            &policy,
            2_000_000,
        )
        .unwrap_err();
        assert_eq!(err.reason(), Some(reasons::SELF_APPROVAL));
        assert!(approvals.is_empty());
        let status = approve_order(
            status,
            requester,
            &mut approvals,
            &id(2),
            &policy,
            2_000_000,
        )
        .unwrap();
        assert_eq!(status, OrderStatus::Submitted, "one of two approvals");
        assert_eq!(
            approve_order(
                status,
                requester,
                &mut approvals,
                &id(2),
                &policy,
                2_000_000
            )
            .unwrap_err()
            .reason(),
            Some(reasons::ALREADY_APPROVED)
        );
        let status = approve_order(
            status,
            requester,
            &mut approvals,
            &id(3),
            &policy,
            2_000_000,
        )
        .unwrap();
        assert_eq!(status, OrderStatus::Approved);
        assert!(approve_order(status, requester, &mut approvals, &id(4), &policy, 1).is_err());
        assert!(ApprovalPolicy::new(vec![(0, 1), (0, 2)]).is_err());
        assert!(ApprovalPolicy::new(vec![(0, 0)]).is_err());
    }

    #[test]
    fn received_never_exceeds_ordered_with_zero_tolerance() {
        // ERPNext #40340: 100.002 m against 100 m with a 0 % allowance must be refused.
        let err = receive(
            OrderStatus::Sent,
            &order(),
            Tolerance::EXACT,
            &PerLine::new(),
            &[receipt(1, "cable-m", "100.002")],
        )
        .unwrap_err();
        assert_eq!(err.reason(), Some(reasons::OVER_RECEIPT));
        let (received, status) = receive(
            OrderStatus::Sent,
            &order(),
            Tolerance::EXACT,
            &PerLine::new(),
            &[receipt(1, "cable-m", "60")],
        )
        .unwrap();
        assert_eq!(status, OrderStatus::PartiallyReceived);
        // Cumulative: 60 + 40.001 > 100.
        let err = receive(
            status,
            &order(),
            Tolerance::EXACT,
            &received,
            &[receipt(1, "cable-m", "40.001")],
        )
        .unwrap_err();
        assert_eq!(err.reason(), Some(reasons::OVER_RECEIPT));
        let (received, status) = receive(
            status,
            &order(),
            Tolerance::EXACT,
            &received,
            &[receipt(1, "cable-m", "40"), receipt(2, "switch", "2")],
        )
        .unwrap();
        assert_eq!(status, OrderStatus::Received);
        assert_eq!(received[&1], q("100"));
        // With 5 %, up to 105 in total.
        let five = Tolerance::from_basis_points("t", 500).unwrap();
        let (_, _) = receive(
            status,
            &order(),
            five,
            &received,
            &[receipt(1, "cable-m", "5")],
        )
        .unwrap();
        assert!(receive(
            status,
            &order(),
            five,
            &received,
            &[receipt(1, "cable-m", "5.001")]
        )
        .is_err());
    }

    #[test]
    fn receipt_sequences_never_exceed_the_allowance() {
        // A deterministic sweep over receipt sequences standing in for a property test.
        let mut seed: u64 = 42;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        for _ in 0..500 {
            let tolerance = Tolerance::from_basis_points("t", next(1_000) as i32).unwrap();
            let ordered = 1 + next(50_000) as i64;
            let lines = vec![OrderLine {
                line: 1,
                item: "x".into(),
                quantity: Quantity(ordered),
                unit_price: 1,
            }];
            let mut received = PerLine::new();
            let mut status = OrderStatus::Approved;
            for _ in 0..10 {
                let quantity = Quantity(1 + next(20_000) as i64);
                let before = received.get(&1).copied().unwrap_or_default();
                match receive(
                    status,
                    &lines,
                    tolerance,
                    &received,
                    &[ReceiptLine {
                        line: 1,
                        item: "x".into(),
                        quantity,
                    }],
                ) {
                    Ok((after, next_status)) => {
                        assert!(after[&1].milli() <= tolerance.ceiling(ordered));
                        assert_eq!(after[&1], before + quantity);
                        received = after;
                        status = next_status;
                    }
                    Err(err) => {
                        assert_eq!(err.reason(), Some(reasons::OVER_RECEIPT));
                        assert!((before + quantity).milli() > tolerance.ceiling(ordered));
                    }
                }
            }
        }
    }

    #[test]
    fn receipts_only_against_a_receivable_order_and_its_own_lines() {
        for status in [
            OrderStatus::Cancelled,
            OrderStatus::Closed,
            OrderStatus::Draft,
            OrderStatus::Submitted,
        ] {
            let err = receive(
                status,
                &order(),
                Tolerance::EXACT,
                &PerLine::new(),
                &[receipt(1, "cable-m", "1")],
            )
            .unwrap_err();
            assert_eq!(err.reason(), Some(reasons::ORDER_STATE), "{status:?}");
        }
        let other_line = receive(
            OrderStatus::Sent,
            &order(),
            Tolerance::EXACT,
            &PerLine::new(),
            &[receipt(3, "cable-m", "1")],
        )
        .unwrap_err();
        assert_eq!(other_line.reason(), Some(reasons::LINE_MISMATCH));
        let other_item = receive(
            OrderStatus::Sent,
            &order(),
            Tolerance::EXACT,
            &PerLine::new(),
            &[receipt(1, "switch", "1")],
        )
        .unwrap_err();
        assert_eq!(other_item.reason(), Some(reasons::LINE_MISMATCH));
        assert!(receive(
            OrderStatus::Sent,
            &order(),
            Tolerance::EXACT,
            &PerLine::new(),
            &[]
        )
        .is_err());
    }

    #[test]
    fn one_over_received_line_does_not_receive_the_order() {
        // ERPNext #31535.
        let five = Tolerance::from_basis_points("t", 500).unwrap();
        let (_, status) = receive(
            OrderStatus::Sent,
            &order(),
            five,
            &PerLine::new(),
            &[receipt(1, "cable-m", "104")],
        )
        .unwrap();
        assert_eq!(status, OrderStatus::PartiallyReceived);
        assert_eq!(
            receipt_status(&order(), &PerLine::new()),
            OrderStatus::Approved
        );
    }

    #[test]
    fn order_transitions() {
        assert!(OrderStatus::Draft.send().is_err());
        assert_eq!(OrderStatus::Approved.send().unwrap(), OrderStatus::Sent);
        assert_eq!(OrderStatus::Sent.cancel().unwrap(), OrderStatus::Cancelled);
        assert!(OrderStatus::PartiallyReceived.cancel().is_err());
        assert!(OrderStatus::Cancelled.cancel().is_err());
        assert_eq!(OrderStatus::Received.close().unwrap(), OrderStatus::Closed);
        assert!(OrderStatus::Sent.close().is_err());
    }

    fn bill_line(line: u32, item: &str, quantity: &str, unit_price: i64) -> BillLine {
        BillLine {
            line,
            item: item.into(),
            quantity: q(quantity),
            unit_price,
        }
    }

    #[test]
    fn three_way_match_reports_quantity_and_price_separately() {
        let received: PerLine = [(1, q("100")), (2, q("1"))].into();
        let tolerances = MatchTolerances {
            quantity: Tolerance::EXACT,
            price: Tolerance::from_basis_points("t", 200).unwrap(),
        };
        let report = three_way_match(
            &order(),
            &received,
            &PerLine::new(),
            &[
                bill_line(1, "cable-m", "100", 255),
                bill_line(2, "switch", "1", 45_000),
            ],
            tolerances,
        )
        .unwrap();
        assert!(report.matched, "{report:?}");
        assert_eq!(report.lines[0].price_variance, 500);
        assert_eq!(report.lines[0].quantity_variance, 0);
        // A bill for 10x the receipt (Fabric-Inventory #200) and a price 3 % over.
        let report = three_way_match(
            &order(),
            &received,
            &PerLine::new(),
            &[bill_line(2, "switch", "10", 46_350)],
            tolerances,
        )
        .unwrap();
        assert!(!report.matched);
        assert!(!report.lines[0].quantity_ok);
        assert!(!report.lines[0].price_ok);
        assert_eq!(report.lines[0].quantity_variance, 9_000);
        assert_eq!(report.lines[0].price_variance, 13_500);
        // Earlier bills count: 60 billed before + 50 now > 100 received.
        let before: PerLine = [(1, q("60"))].into();
        let report = three_way_match(
            &order(),
            &received,
            &before,
            &[bill_line(1, "cable-m", "50", 250)],
            tolerances,
        )
        .unwrap();
        assert!(!report.matched);
        assert_eq!(report.lines[0].billed, q("110"));
        // A cross-order line is refused outright.
        let err = three_way_match(
            &order(),
            &received,
            &PerLine::new(),
            &[bill_line(7, "cable-m", "1", 250)],
            tolerances,
        )
        .unwrap_err();
        assert_eq!(err.reason(), Some(reasons::LINE_MISMATCH));
    }

    #[test]
    fn budget_counts_each_document_once_and_fails_closed() {
        let committed = Commitments::from_documents(
            [
                (RequisitionStatus::Submitted, 100),
                (RequisitionStatus::Approved, 200),
                // Ordered: counted by its order, not again here.
                (RequisitionStatus::Ordered, 1_000),
                (RequisitionStatus::Draft, 5_000),
                (RequisitionStatus::Rejected, 5_000),
            ],
            [
                (OrderStatus::Sent, 1_000, 400, true),
                (OrderStatus::Cancelled, 9_000, 0, false),
                (OrderStatus::Draft, 9_000, 0, false),
                // A draft raised from a requisition carries its requisition's amount.
                (OrderStatus::Draft, 500, 0, true),
            ],
            400,
        );
        assert_eq!(
            committed,
            Commitments {
                requested: 300,
                ordered: 1_100,
                actual: 400
            }
        );
        assert_eq!(committed.total(), 1_800);
        check_budget(Some(2_000), committed, 200).unwrap();
        let err = check_budget(Some(2_000), committed, 201).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::BUDGET_EXCEEDED));
        let err = check_budget(None, Commitments::default(), 1).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::BUDGET_UNRESOLVED));
    }
}
