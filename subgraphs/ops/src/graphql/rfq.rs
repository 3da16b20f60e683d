//! Requests for quotation and supplier quotations in GraphQL, and the tenant's approval
//! thresholds of purchase orders.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::loaders::TenantKey;
use erp_kit::money::{Currency, Decimal, Money};
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::context::{minor_of, money, ops};
use super::loaders::RequisitionLoader;
use super::procurement::{lines, PurchaseLine, PurchaseOrder, Requisition};
use crate::app::rfq::NewQuotation;
use crate::domain::rfq::RfqStatus as Status;
use crate::domain::short_text;
use crate::store::{QuotationDoc, RfqDoc};

/// Where a request for quotation is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RfqStatus {
    /// Sent to the suppliers: quotations come in.
    Open,
    /// A quotation won: its purchase order exists. Final.
    Awarded,
    /// Withdrawn without an order. Final.
    Cancelled,
}

impl From<Status> for RfqStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Open => Self::Open,
            Status::Awarded => Self::Awarded,
            Status::Cancelled => Self::Cancelled,
        }
    }
}

impl From<RfqStatus> for Status {
    fn from(status: RfqStatus) -> Self {
        match status {
            RfqStatus::Open => Self::Open,
            RfqStatus::Awarded => Self::Awarded,
            RfqStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// A request for quotation: an approved requisition's lines sent to invited suppliers.
pub struct Rfq(pub RfqDoc);

/// A request for quotation: an approved requisition's lines sent to invited suppliers.
#[Object]
impl Rfq {
    /// The RFQ's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What is requested (the requisition's title).
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The requisition it was raised from.
    async fn requisition(&self, ctx: &Context<'_>) -> Result<Option<Requisition>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data::<DataLoader<RequisitionLoader>>()?
            .load_one(TenantKey::new(&tenant, &self.0.requisition_id))
            .await?
            .map(Requisition))
    }
    /// The currency quotations are in.
    async fn currency(&self) -> Result<Currency> {
        Ok(Currency::parse(&self.0.currency)
            .map_err(|_| ApiError::internal("a stored unknown currency"))?)
    }
    /// The lines to quote (with the requisition's estimated unit prices).
    async fn lines(&self) -> Vec<PurchaseLine> {
        lines(&self.0.lines, &self.0.currency)
    }
    /// The suppliers invited to quote.
    async fn suppliers(&self) -> &[String] {
        &self.0.suppliers
    }
    /// Where it is.
    async fn status(&self) -> RfqStatus {
        self.0.status.into()
    }
    /// The quotations received, cheapest first (ties: the earlier first).
    async fn quotations(&self) -> Vec<Quotation> {
        let mut quotations: Vec<&QuotationDoc> = self.0.quotations.iter().collect();
        quotations.sort_by_key(|q| q.total);
        quotations
            .into_iter()
            .map(|q| Quotation {
                doc: q.clone(),
                currency: self.0.currency.clone(),
                awarded: self.0.awarded_quotation_id.as_deref() == Some(q.id.as_str()),
            })
            .collect()
    }
    /// The purchase order its award raised.
    async fn purchase_order(&self, ctx: &Context<'_>) -> Result<Option<PurchaseOrder>> {
        let Some(id) = &self.0.order_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.order(&tenant, id).await?.map(PurchaseOrder))
    }
    /// Who sent it.
    async fn created_by_id(&self) -> ID {
        ID(self.0.created_by.clone())
    }
    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
}

/// A supplier's quotation for an RFQ.
pub struct Quotation {
    doc: QuotationDoc,
    currency: String,
    awarded: bool,
}

/// A supplier's quotation for an RFQ.
#[Object]
impl Quotation {
    /// The quotation's id.
    async fn id(&self) -> ID {
        ID(self.doc.id.clone())
    }
    /// The supplier.
    async fn supplier(&self) -> &str {
        &self.doc.supplier
    }
    /// The unit price of each RFQ line, in the lines' order.
    async fn unit_prices(&self) -> Result<Vec<Money>> {
        self.doc
            .unit_prices
            .iter()
            .map(|price| money(*price, &self.currency))
            .collect()
    }
    /// The RFQ's quantities at these prices.
    async fn total(&self) -> Result<Money> {
        money(self.doc.total, &self.currency)
    }
    /// The last day the supplier holds the prices.
    async fn valid_until(&self) -> Option<Date> {
        self.doc.valid_until.map(Into::into)
    }
    /// Whether this quotation won the RFQ.
    async fn awarded(&self) -> bool {
        self.awarded
    }
    /// Who recorded it.
    async fn recorded_by_id(&self) -> ID {
        ID(self.doc.recorded_by.clone())
    }
    /// When.
    async fn recorded_at(&self) -> DateTime {
        DateTime::from(self.doc.recorded_at)
    }
}

/// One approval tier: orders from this total on need this many distinct approvers.
#[derive(SimpleObject)]
pub struct ApprovalTier {
    /// The threshold in minor units of the thresholds' currency (a decimal string: totals go
    /// beyond 32-bit integers).
    pub from_minor_units: String,
    /// Distinct approvers needed, never the requester.
    pub approvers: i32,
}

/// The tenant's approval thresholds of purchase orders.
#[derive(SimpleObject)]
pub struct ApprovalThresholds {
    /// The currency of the thresholds; none for the service's default (minor units of any
    /// currency). An order in another currency needs the most approvers (no conversion).
    pub currency: Option<Currency>,
    /// Whether these are the tenant's own (false: the service's default).
    pub custom: bool,
    /// The tiers by ascending threshold; below the first, one approver.
    pub tiers: Vec<ApprovalTier>,
}

/// A new request for quotation (`createRfq`).
#[derive(InputObject)]
pub struct CreateRfqInput {
    /// An approved requisition.
    pub requisition_id: ID,
    /// 1 to 20 suppliers invited to quote, distinct.
    pub suppliers: Vec<String>,
}

/// A supplier's quotation (`recordQuotation`).
#[derive(InputObject)]
pub struct RecordQuotationInput {
    /// The open RFQ.
    pub rfq_id: ID,
    /// An invited supplier that has not quoted yet.
    pub supplier: String,
    /// One unit price per RFQ line, in the lines' order, in the RFQ's currency.
    pub unit_prices: Vec<Decimal>,
    /// The last day the supplier holds the prices.
    pub valid_until: Option<Date>,
}

/// The award of an RFQ (`awardRfq`).
#[derive(InputObject)]
pub struct AwardRfqInput {
    /// The open RFQ.
    pub rfq_id: ID,
    /// The winning quotation (still valid).
    pub quotation_id: ID,
}

/// An RFQ (`cancelRfq`).
#[derive(InputObject)]
pub struct RfqIdInput {
    /// The RFQ.
    pub rfq_id: ID,
}

/// One tier as given.
#[derive(InputObject)]
pub struct ApprovalTierInput {
    /// Orders from this total on (in the thresholds' currency).
    pub from: Decimal,
    /// 1 to 5 distinct approvers.
    pub approvers: i32,
}

/// The tenant's approval thresholds (`setApprovalThresholds`).
#[derive(InputObject)]
pub struct SetApprovalThresholdsInput {
    /// The currency the thresholds are in.
    pub currency: Currency,
    /// 1 to 10 tiers, distinct thresholds.
    pub tiers: Vec<ApprovalTierInput>,
}

/// What an award did.
#[derive(SimpleObject)]
pub struct AwardRfqPayload {
    /// The RFQ, awarded.
    pub rfq: Rfq,
    /// The draft purchase order raised at the winning prices.
    pub purchase_order: PurchaseOrder,
}

/// Requests for quotation.
#[derive(Default)]
pub struct RfqQuery;

#[Object]
impl RfqQuery {
    /// One request for quotation of the caller's tenant.
    #[graphql(requires_scopes = "procurement:read")]
    async fn rfq(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The RFQ's id.")] id: ID,
    ) -> Result<Option<Rfq>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.rfq(&tenant, &id).await?.map(Rfq))
    }

    /// The caller's tenant's requests for quotation, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "procurement:read")]
    #[allow(clippy::too_many_arguments)]
    async fn rfqs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only RFQs in this status.")] status: Option<RfqStatus>,
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
    ) -> Result<Connection<String, Rfq, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?
            .rfqs(&tenant, status.map(Into::into), &page)
            .await?;
        let rows = rows.into_iter().map(Rfq).collect();
        Ok(connection_from_rows(&page, rows, |r| r.0.id.clone()))
    }

    /// The tenant's approval thresholds of purchase orders.
    #[graphql(requires_scopes = "procurement:read")]
    async fn approval_thresholds(&self, ctx: &Context<'_>) -> Result<ApprovalThresholds> {
        let tenant = ctx.tenant()?;
        let (policy, currency) = ops(ctx)?.approval_policy(&tenant).await?;
        Ok(thresholds(&policy, currency))
    }
}

fn thresholds(
    policy: &crate::domain::procurement::ApprovalPolicy,
    currency: Option<String>,
) -> ApprovalThresholds {
    ApprovalThresholds {
        custom: currency.is_some(),
        currency: currency.and_then(|code| Currency::parse(&code).ok()),
        tiers: policy
            .tiers()
            .iter()
            .map(|(from, approvers)| ApprovalTier {
                from_minor_units: from.to_string(),
                approvers: *approvers as i32,
            })
            .collect(),
    }
}

/// Changes to requests for quotation and approval thresholds.
#[derive(Default)]
pub struct RfqMutation;

#[Object]
impl RfqMutation {
    /// Sends an approved requisition's lines to invited suppliers for quotation.
    #[graphql(requires_scopes = "procurement:order")]
    async fn create_rfq(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The requisition and the suppliers.")] input: CreateRfqInput,
    ) -> Result<Rfq> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let suppliers = input
            .suppliers
            .iter()
            .map(|s| short_text("suppliers", s, 200, "supplier"))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Rfq(ops(ctx)?
            .create_rfq(&tenant, claims, &input.requisition_id, suppliers)
            .await?))
    }

    /// Records an invited supplier's quotation (once per supplier, while the RFQ is open).
    #[graphql(requires_scopes = "procurement:order")]
    async fn record_quotation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The RFQ, the supplier and its prices.")] input: RecordQuotationInput,
    ) -> Result<Rfq> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let ops = ops(ctx)?;
        let rfq = ops
            .rfq(&tenant, &input.rfq_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("request for quotation".into()))?;
        let currency = Currency::parse(&rfq.currency)
            .map_err(|_| ApiError::internal("a stored unknown currency"))?;
        let unit_prices = input
            .unit_prices
            .iter()
            .map(|price| minor_of("unitPrices", price, currency))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let new = NewQuotation {
            supplier: short_text("supplier", &input.supplier, 200, "supplier")?,
            unit_prices,
            valid_until: input.valid_until.map(Into::into),
        };
        let (rfq, _) = ops
            .record_quotation(&tenant, claims, &input.rfq_id, new)
            .await?;
        Ok(Rfq(rfq))
    }

    /// Awards an open RFQ to one of its quotations: the draft purchase order is raised at
    /// its prices (requested by the caller) and the requisition becomes ordered, at once.
    #[graphql(requires_scopes = "procurement:order")]
    async fn award_rfq(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The RFQ and the winning quotation.")] input: AwardRfqInput,
    ) -> Result<AwardRfqPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let (rfq, order) = ops(ctx)?
            .award_rfq(&tenant, claims, &input.rfq_id, &input.quotation_id)
            .await?;
        Ok(AwardRfqPayload {
            rfq: Rfq(rfq),
            purchase_order: PurchaseOrder(order),
        })
    }

    /// Cancels an open RFQ (its requisition stays approved).
    #[graphql(requires_scopes = "procurement:order")]
    async fn cancel_rfq(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The RFQ.")] input: RfqIdInput,
    ) -> Result<Rfq> {
        let tenant = ctx.tenant()?;
        Ok(Rfq(ops(ctx)?.cancel_rfq(&tenant, &input.rfq_id).await?))
    }

    /// Sets the tenant's approval thresholds of purchase orders (replacing the ones before).
    #[graphql(requires_scopes = "procurement:budget")]
    async fn set_approval_thresholds(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The currency and the tiers.")] input: SetApprovalThresholdsInput,
    ) -> Result<ApprovalThresholds> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let currency = input.currency;
        let tiers = input
            .tiers
            .iter()
            .map(|tier| {
                let from = minor_of("tiers.from", &tier.from, currency)?;
                let approvers = u32::try_from(tier.approvers)
                    .map_err(|_| ApiError::bad_input("tiers.approvers", "1 to 5 approvers"))?;
                Ok((from, approvers))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        if tiers.is_empty() {
            return Err(ApiError::bad_input("tiers", "at least one tier").into());
        }
        let policy = ops(ctx)?
            .set_approval_thresholds(&tenant, claims, currency, tiers)
            .await?;
        Ok(thresholds(&policy, Some(currency.code().to_owned())))
    }
}
