//! The asset register in GraphQL: assets with their holder, history and depreciation
//! schedule; registering, checking out and in (one or up to 1,000 at once), accepting,
//! repairs, retirement, audits, the depreciation run, revaluation and disposal.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::authz::authenticated;
use erp_kit::money::{Money, MoneyInput};
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::context::{money, money_input, ops};
use crate::app::assets::{AssetAction, DepreciationTerms, NewAsset};
use crate::domain::asset::{self as domain, AssetTag, Holder, Movement};
use crate::domain::depreciation::{self as dep, Change};
use crate::domain::{optional_text, short_text};
use crate::store::assets::AssetFilter;
use crate::store::{AssetDoc, AssetKind as StoredKind, MovementDoc};

/// Where an asset is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AssetStatus {
    /// Ready to be checked out.
    InStock,
    /// Checked out to a person, a location or another asset.
    Assigned,
    /// Away for repair.
    InRepair,
    /// Out of service, still owned.
    Retired,
    /// Sold or scrapped.
    Disposed,
}

impl From<domain::AssetStatus> for AssetStatus {
    fn from(status: domain::AssetStatus) -> Self {
        match status {
            domain::AssetStatus::InStock => AssetStatus::InStock,
            domain::AssetStatus::Assigned => AssetStatus::Assigned,
            domain::AssetStatus::InRepair => AssetStatus::InRepair,
            domain::AssetStatus::Retired => AssetStatus::Retired,
            domain::AssetStatus::Disposed => AssetStatus::Disposed,
        }
    }
}

impl From<AssetStatus> for domain::AssetStatus {
    fn from(status: AssetStatus) -> Self {
        match status {
            AssetStatus::InStock => domain::AssetStatus::InStock,
            AssetStatus::Assigned => domain::AssetStatus::Assigned,
            AssetStatus::InRepair => domain::AssetStatus::InRepair,
            AssetStatus::Retired => domain::AssetStatus::Retired,
            AssetStatus::Disposed => domain::AssetStatus::Disposed,
        }
    }
}

/// What an asset is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AssetKind {
    /// A tagged hardware item.
    Hardware,
    /// A part installed in another asset.
    Component,
}

/// Who or what holds a checked-out asset.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum HolderType {
    /// A person (a user id); they accept the asset.
    Person,
    /// A location.
    Location,
    /// Another asset.
    Asset,
}

/// How the depreciable base (cost - salvage) is spread over the periods.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DepreciationMethod {
    /// The same amount every full period; the last line absorbs the rounding.
    StraightLine,
    /// A fixed rate of the book value each period (`decliningFactorPercent` / 100 / periods);
    /// the last line takes what is left down to salvage.
    DecliningBalance,
    /// Declining balance until straight line over the remaining life is larger, then straight
    /// line.
    DecliningThenLinear,
}

/// The length of a depreciation period.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DepreciationFrequency {
    /// Calendar months.
    Monthly,
    /// Calendar years.
    Yearly,
}

/// Whether a schedule line has been posted to the ledger.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DepreciationLineStatus {
    /// Not posted yet: a revaluation or a change of life may still recompute it.
    Planned,
    /// Posted (an `asset.depreciation.posted` event): never changes again.
    Posted,
}

/// What an entry of an asset's history records.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AssetMovementType {
    /// Checked out to `holder`.
    CheckedOut,
    /// Accepted by the person it was checked out to.
    Accepted,
    /// Checked back in from `holder`.
    CheckedIn,
    /// Sent to repair.
    SentToRepair,
    /// Back from repair.
    BackFromRepair,
    /// Taken out of service.
    Retired,
    /// Disposed of.
    Disposed,
    /// Confirmed where the register says by an audit.
    Audited,
}

/// Who or what holds an asset.
#[derive(SimpleObject, Clone)]
pub struct AssetHolder {
    /// A person, a location or another asset.
    #[graphql(name = "type")]
    pub holder_type: HolderType,
    /// The person's user id, the location's id or the asset's id.
    pub id: ID,
}

pub(crate) fn holder_object(holder: &Holder) -> AssetHolder {
    let holder_type = match holder {
        Holder::Person(_) => HolderType::Person,
        Holder::Location(_) => HolderType::Location,
        Holder::Asset(_) => HolderType::Asset,
    };
    AssetHolder {
        holder_type,
        id: ID(holder.id().to_owned()),
    }
}

/// An asset of the register.
pub struct Asset(pub AssetDoc);

impl Asset {
    fn book_value_minor(&self) -> i64 {
        if let Some(disposal) = &self.0.disposal {
            return disposal.book_value;
        }
        self.0.depreciation.as_ref().map_or(self.0.cost, |dep| {
            dep::posted_book_value(self.0.cost, &dep.lines)
        })
    }
}

/// An asset of the register.
#[Object]
impl Asset {
    /// The asset's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The tag on its label, unique in the tenant whatever its case.
    async fn tag(&self) -> &str {
        &self.0.tag
    }
    /// What the asset is called.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Hardware or a component.
    async fn kind(&self) -> AssetKind {
        match self.0.kind {
            StoredKind::Hardware => AssetKind::Hardware,
            StoredKind::Component => AssetKind::Component,
        }
    }
    /// The manufacturer's serial number.
    async fn serial(&self) -> Option<&str> {
        self.0.serial.as_deref()
    }
    /// The model.
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    /// The category (laptops, monitors, ...).
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    /// Where it is kept when in stock.
    async fn location_id(&self) -> Option<ID> {
        self.0.location_id.clone().map(ID)
    }
    /// Where it is in its life.
    async fn status(&self) -> AssetStatus {
        self.0.status.into()
    }
    /// Who or what holds it while it is assigned.
    async fn holder(&self) -> Option<AssetHolder> {
        self.0.holder.as_ref().map(holder_object)
    }
    /// When the person holding it accepted it (none until then).
    async fn accepted_at(&self) -> Option<DateTime> {
        self.0.accepted_at.map(DateTime::from)
    }
    /// What it cost.
    async fn cost(&self) -> Result<Money> {
        money(self.0.cost, &self.0.currency)
    }
    /// Cost less the posted depreciation (the proceeds' reference at disposal).
    async fn book_value(&self) -> Result<Money> {
        money(self.book_value_minor(), &self.0.currency)
    }
    /// When it was bought.
    async fn purchase_date(&self) -> Option<Date> {
        self.0.purchase_date.map(Date::from)
    }
    /// When it went into use (the schedule starts there).
    async fn in_use_date(&self) -> Date {
        Date::from(self.0.in_use_date)
    }
    /// The last day of its warranty.
    async fn warranty_until(&self) -> Option<Date> {
        self.0.warranty_until.map(Date::from)
    }
    /// When it reaches its end of life.
    async fn end_of_life(&self) -> Option<Date> {
        self.0.end_of_life.map(Date::from)
    }
    /// Its depreciation terms and schedule (none when it does not depreciate).
    async fn depreciation(&self) -> Option<DepreciationSchedule<'_>> {
        self.0
            .depreciation
            .as_ref()
            .map(|dep| DepreciationSchedule(&self.0, dep))
    }
    /// Its disposal, once disposed of.
    async fn disposal(&self) -> Result<Option<AssetDisposal>> {
        let Some(disposal) = &self.0.disposal else {
            return Ok(None);
        };
        Ok(Some(AssetDisposal {
            disposed_at: DateTime::from(disposal.disposed_at),
            proceeds: money(disposal.proceeds, &self.0.currency)?,
            book_value: money(disposal.book_value, &self.0.currency)?,
            gain_or_loss: money(disposal.gain_or_loss, &self.0.currency)?,
        }))
    }
    /// When an audit last confirmed it.
    async fn last_audited_at(&self) -> Option<DateTime> {
        self.0.last_audited_at.map(DateTime::from)
    }
    /// The return due from its holder, who left the company (none once it is checked in).
    async fn return_due(&self) -> Option<AssetReturnDue> {
        self.0.return_due.as_ref().map(|due| AssetReturnDue {
            employee_id: ID(due.employee_id.clone()),
            user_id: ID(due.user_id.clone()),
            last_working_day: Date::from(due.last_working_day),
            opened_at: DateTime::from(due.opened_at),
        })
    }
    /// Every how many days preventive maintenance is due (none without a plan).
    async fn maintenance_every_days(&self) -> Option<i32> {
        self.0.maintenance_plan.map(|plan| plan.every_days as i32)
    }
    /// When preventive maintenance is next due.
    async fn next_maintenance_due(&self) -> Option<Date> {
        self.0
            .maintenance_plan
            .map(|plan| Date::from(plan.next_due))
    }
    /// Its append-only history, oldest first, as a Relay connection.
    async fn history(
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
    ) -> Result<Connection<String, AssetMovement, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?
            .asset_history_page(&tenant, &self.0.id, &page)
            .await?;
        let rows = rows.into_iter().map(AssetMovement).collect();
        Ok(connection_from_rows(&page, rows, |m| m.0.id.clone()))
    }
}

/// An asset's depreciation terms and its schedule.
pub struct DepreciationSchedule<'a>(&'a AssetDoc, &'a crate::store::DepreciationDoc);

/// An asset's depreciation terms and its schedule.
#[Object]
impl DepreciationSchedule<'_> {
    /// How the base is spread.
    async fn method(&self) -> DepreciationMethod {
        match self.1.method {
            dep::Method::StraightLine => DepreciationMethod::StraightLine,
            dep::Method::DecliningBalance { .. } => DepreciationMethod::DecliningBalance,
            dep::Method::DecliningThenLinear { .. } => DepreciationMethod::DecliningThenLinear,
        }
    }
    /// The declining rate as a percentage of the straight-line rate (200 is double declining);
    /// none for straight line.
    async fn declining_factor_percent(&self) -> Option<i32> {
        match self.1.method {
            dep::Method::StraightLine => None,
            dep::Method::DecliningBalance { factor_percent }
            | dep::Method::DecliningThenLinear { factor_percent } => Some(factor_percent as i32),
        }
    }
    /// The period length.
    async fn frequency(&self) -> DepreciationFrequency {
        match self.1.frequency {
            dep::Frequency::Monthly => DepreciationFrequency::Monthly,
            dep::Frequency::Yearly => DepreciationFrequency::Yearly,
        }
    }
    /// The useful life in periods.
    async fn useful_life_periods(&self) -> i32 {
        self.1.periods as i32
    }
    /// The value the book value never drops below.
    async fn salvage(&self) -> Result<Money> {
        money(self.1.salvage, &self.0.currency)
    }
    /// Whether the first period counts only the days in use (leap days included).
    async fn prorata(&self) -> bool {
        self.1.prorata
    }
    /// The lines in order: they sum exactly to cost - salvage (a bounded value list of at most
    /// 1,201 lines, not a connection).
    async fn lines(&self) -> Result<Vec<DepreciationLine>> {
        self.1
            .lines
            .iter()
            .map(|line| {
                Ok(DepreciationLine {
                    index: line.index as i32,
                    period_start: Date::from(line.period_start),
                    period_end: Date::from(line.period_end),
                    amount: money(line.amount, &self.0.currency)?,
                    accumulated: money(line.accumulated, &self.0.currency)?,
                    book_value: money(line.book_value, &self.0.currency)?,
                    status: match line.status {
                        dep::LineStatus::Planned => DepreciationLineStatus::Planned,
                        dep::LineStatus::Posted => DepreciationLineStatus::Posted,
                    },
                })
            })
            .collect()
    }
}

/// One period of a depreciation schedule.
#[derive(SimpleObject)]
pub struct DepreciationLine {
    /// 0-based position in the schedule.
    pub index: i32,
    /// The first day of the period (the in-use date for a prorata first period).
    pub period_start: Date,
    /// The last day of the period.
    pub period_end: Date,
    /// The depreciation of the period.
    pub amount: Money,
    /// The depreciation up to and including this line.
    pub accumulated: Money,
    /// Cost - accumulated after this line.
    pub book_value: Money,
    /// Planned or posted.
    pub status: DepreciationLineStatus,
}

/// What a disposal booked.
#[derive(SimpleObject)]
pub struct AssetDisposal {
    /// When it was disposed of.
    pub disposed_at: DateTime,
    /// What it was sold for (0 when scrapped).
    pub proceeds: Money,
    /// The book value at disposal.
    pub book_value: Money,
    /// Proceeds - book value: a gain when positive, a loss when negative.
    pub gain_or_loss: Money,
}

/// One entry of an asset's history.
pub struct AssetMovement(pub MovementDoc);

/// One entry of an asset's history.
#[Object]
impl AssetMovement {
    /// The entry's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What happened.
    #[graphql(name = "type")]
    async fn movement_type(&self) -> AssetMovementType {
        match &self.0.movement {
            Movement::CheckedOut { .. } => AssetMovementType::CheckedOut,
            Movement::Accepted { .. } => AssetMovementType::Accepted,
            Movement::CheckedIn { .. } => AssetMovementType::CheckedIn,
            Movement::SentToRepair => AssetMovementType::SentToRepair,
            Movement::BackFromRepair => AssetMovementType::BackFromRepair,
            Movement::Retired => AssetMovementType::Retired,
            Movement::Disposed => AssetMovementType::Disposed,
            Movement::Audited => AssetMovementType::Audited,
        }
    }
    /// The holder checked out to or in from (check-outs and check-ins only).
    async fn holder(&self) -> Option<AssetHolder> {
        match &self.0.movement {
            Movement::CheckedOut { holder } | Movement::CheckedIn { from: holder } => {
                Some(holder_object(holder))
            }
            _ => None,
        }
    }
    /// The user who recorded it.
    async fn by_user_id(&self) -> ID {
        ID(self.0.by.clone())
    }
    /// When.
    async fn at(&self) -> DateTime {
        DateTime::from(self.0.at)
    }
}

/// Depreciation terms of a new asset.
#[derive(InputObject)]
pub struct DepreciationTermsInput {
    /// How the base is spread.
    pub method: DepreciationMethod,
    /// For the declining methods: the rate as a percentage of the straight-line rate, 1 to
    /// 1000 (200 is double declining; default 200).
    pub declining_factor_percent: Option<i32>,
    /// The period length.
    pub frequency: DepreciationFrequency,
    /// The useful life in periods, 1 to 1200.
    pub useful_life_periods: i32,
    /// The value the book value never drops below, in the currency of the cost, 0 to the cost.
    pub salvage: MoneyInput,
    /// Whether the first period counts only the days in use.
    pub prorata: bool,
}

/// A new asset (`registerAsset`).
#[derive(InputObject)]
pub struct RegisterAssetInput {
    /// The tag on its label: 1 to 64 letters, digits, `-`, `_`, `.` or `/`; unique in the
    /// tenant whatever its case.
    pub tag: String,
    /// What it is called, 1 to 200 characters.
    pub name: String,
    /// Hardware (default) or a component.
    pub kind: Option<AssetKind>,
    /// The serial number, up to 100 characters.
    pub serial: Option<String>,
    /// The model, up to 200 characters.
    pub model: Option<String>,
    /// The category, up to 100 characters.
    pub category: Option<String>,
    /// Where it is kept when in stock.
    pub location_id: Option<ID>,
    /// What it cost: a positive amount.
    pub cost: MoneyInput,
    /// When it was bought.
    pub purchase_date: Option<Date>,
    /// When it went into use (the schedule starts there).
    pub in_use_date: Date,
    /// The last day of its warranty.
    pub warranty_until: Option<Date>,
    /// When it reaches its end of life.
    pub end_of_life: Option<Date>,
    /// Its depreciation terms (none: it does not depreciate).
    pub depreciation: Option<DepreciationTermsInput>,
}

/// Who or what receives an asset.
#[derive(InputObject)]
pub struct AssetHolderInput {
    /// A person, a location or another asset.
    #[graphql(name = "type")]
    pub holder_type: HolderType,
    /// The person's user id, the location's id or the asset's id.
    pub id: ID,
}

/// Assets to check out (`checkOutAssets`).
#[derive(InputObject)]
pub struct CheckOutAssetsInput {
    /// 1 to 1,000 assets in stock, each once: all are checked out or none.
    pub asset_ids: Vec<ID>,
    /// Who or what receives them.
    pub holder: AssetHolderInput,
}

/// Assets an operation applies to (`checkInAssets`, `auditAssets`).
#[derive(InputObject)]
pub struct AssetIdsInput {
    /// 1 to 1,000 assets, each once: the operation applies to all or none.
    pub asset_ids: Vec<ID>,
}

/// One asset an operation applies to.
#[derive(InputObject)]
pub struct AssetIdInput {
    /// The asset.
    pub asset_id: ID,
}

/// A depreciation run (`runDepreciation`).
#[derive(InputObject)]
pub struct RunDepreciationInput {
    /// Posts every planned line whose period ended on or before this day.
    pub through: Date,
}

/// A revaluation, impairment or change of terms (`revalueAsset`); at least one field.
#[derive(InputObject)]
pub struct RevalueAssetInput {
    /// The asset.
    pub asset_id: ID,
    /// The book value from the next unposted period on (a revaluation or impairment).
    pub book_value: Option<MoneyInput>,
    /// A new salvage value.
    pub salvage: Option<MoneyInput>,
    /// A new useful life, in periods from the start.
    pub useful_life_periods: Option<i32>,
}

/// A disposal (`disposeAsset`).
#[derive(InputObject)]
pub struct DisposeAssetInput {
    /// The asset (in stock, in repair or retired).
    pub asset_id: ID,
    /// What it was sold for (0 when scrapped), in the currency of its cost.
    pub proceeds: MoneyInput,
}

/// The assets a bulk operation changed.
#[derive(SimpleObject)]
pub struct BulkAssetsPayload {
    /// How many assets changed.
    pub count: i32,
    /// The assets after the change, in the order asked.
    pub assets: Vec<Asset>,
}

/// What a depreciation run posted.
#[derive(SimpleObject)]
pub struct DepreciationRunPayload {
    /// Schedule lines posted by this run (0 on a re-run).
    pub posted_lines: i32,
}

/// The asset register.
#[derive(Default)]
pub struct AssetQuery;

#[Object]
impl AssetQuery {
    /// One asset of the caller's tenant.
    #[graphql(requires_scopes = "assets:read")]
    async fn asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset's id.")] id: ID,
    ) -> Result<Option<Asset>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.asset(&tenant, &id).await?.map(Asset))
    }

    /// The caller's tenant's assets, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "assets:read")]
    #[allow(clippy::too_many_arguments)]
    async fn assets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only assets in this status.")] status: Option<AssetStatus>,
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
    ) -> Result<Connection<String, Asset, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = AssetFilter {
            status: status.map(Into::into),
        };
        let rows = ops(ctx)?.assets(&tenant, &filter, &page).await?;
        let rows = rows.into_iter().map(Asset).collect();
        Ok(connection_from_rows(&page, rows, |a| a.0.id.clone()))
    }

    /// The assets due back from people who left the company (checked out to them; each
    /// leaves this list when checked in), oldest first, as a Relay connection.
    #[graphql(requires_scopes = "assets:read")]
    async fn assets_due_for_return(
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
    ) -> Result<Connection<String, Asset, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?.assets_due_for_return(&tenant, &page).await?;
        let rows = rows.into_iter().map(Asset).collect();
        Ok(connection_from_rows(&page, rows, |a| a.0.id.clone()))
    }
}

/// An asset due back because its holder left the company.
#[derive(SimpleObject)]
pub struct AssetReturnDue {
    /// The leaver's employee record.
    pub employee_id: ID,
    /// The user the asset is checked out to.
    pub user_id: ID,
    /// Their last working day.
    pub last_working_day: Date,
    /// When the return was opened (the exit handled).
    pub opened_at: DateTime,
}

pub(crate) fn holder_of(input: AssetHolderInput) -> Result<Holder, ApiError> {
    let id = short_text("holder.id", &input.id, 100, "holder id")?;
    Ok(match input.holder_type {
        HolderType::Person => Holder::Person(id),
        HolderType::Location => Holder::Location(id),
        HolderType::Asset => Holder::Asset(id),
    })
}

fn ids_of(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

fn method_of(input: &DepreciationTermsInput) -> Result<dep::Method, ApiError> {
    let factor = input.declining_factor_percent.unwrap_or(200);
    let factor_percent = u32::try_from(factor).map_err(|_| {
        ApiError::bad_input("decliningFactorPercent", "the factor is 1 to 1000 percent")
    })?;
    Ok(match input.method {
        DepreciationMethod::StraightLine => dep::Method::StraightLine,
        DepreciationMethod::DecliningBalance => dep::Method::DecliningBalance { factor_percent },
        DepreciationMethod::DecliningThenLinear => {
            dep::Method::DecliningThenLinear { factor_percent }
        }
    })
}

fn periods_of(periods: i32) -> Result<u32, ApiError> {
    u32::try_from(periods).map_err(|_| {
        ApiError::bad_input("usefulLifePeriods", "the useful life is 1 to 1200 periods")
    })
}

/// Changes to the asset register.
#[derive(Default)]
pub struct AssetMutation;

#[Object]
impl AssetMutation {
    /// Registers an asset in stock, with its depreciation schedule when it has terms;
    /// publishes `asset.registered`.
    #[graphql(requires_scopes = "assets:write")]
    async fn register_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset's tag, description, cost, dates and depreciation terms.")]
        input: RegisterAssetInput,
    ) -> Result<Asset> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let cost = money_input("cost", &input.cost)?;
        let depreciation = match &input.depreciation {
            None => None,
            Some(terms) => Some(DepreciationTerms {
                method: method_of(terms)?,
                frequency: match terms.frequency {
                    DepreciationFrequency::Monthly => dep::Frequency::Monthly,
                    DepreciationFrequency::Yearly => dep::Frequency::Yearly,
                },
                periods: periods_of(terms.useful_life_periods)?,
                salvage: money_input("salvage", &terms.salvage)?,
                prorata: terms.prorata,
            }),
        };
        let new = NewAsset {
            kind: match input.kind.unwrap_or(AssetKind::Hardware) {
                AssetKind::Hardware => StoredKind::Hardware,
                AssetKind::Component => StoredKind::Component,
            },
            tag: AssetTag::parse("tag", &input.tag)?,
            name: short_text("name", &input.name, 200, "name")?,
            serial: optional_text("serial", input.serial.as_deref(), 100, "serial number")?,
            model: optional_text("model", input.model.as_deref(), 200, "model")?,
            category: optional_text("category", input.category.as_deref(), 100, "category")?,
            location_id: input.location_id.map(|id| id.0),
            cost,
            purchase_date: input.purchase_date.map(Into::into),
            in_use_date: input.in_use_date.into(),
            warranty_until: input.warranty_until.map(Into::into),
            end_of_life: input.end_of_life.map(Into::into),
            depreciation,
        };
        Ok(Asset(ops(ctx)?.register_asset(&tenant, claims, new).await?))
    }

    /// Checks 1 to 1,000 assets in stock out to a person, a location or another asset, all or
    /// none; publishes `asset.moved` for each.
    #[graphql(requires_scopes = "assets:write")]
    async fn check_out_assets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assets and who or what receives them.")] input: CheckOutAssetsInput,
    ) -> Result<BulkAssetsPayload> {
        let holder = holder_of(input.holder)?;
        bulk(ctx, input.asset_ids, AssetAction::CheckOut(holder)).await
    }

    /// Checks 1 to 1,000 checked-out assets back in to stock, all or none.
    #[graphql(requires_scopes = "assets:write")]
    async fn check_in_assets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assets.")] input: AssetIdsInput,
    ) -> Result<BulkAssetsPayload> {
        bulk(ctx, input.asset_ids, AssetAction::CheckIn).await
    }

    /// Records an audit of 1,000 assets at most, all or none (disposed assets are refused).
    #[graphql(requires_scopes = "assets:write")]
    async fn audit_assets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assets found where the register says.")] input: AssetIdsInput,
    ) -> Result<BulkAssetsPayload> {
        bulk(ctx, input.asset_ids, AssetAction::Audit).await
    }

    /// The caller accepts an asset checked out to them.
    #[graphql(directive = authenticated::apply())]
    async fn accept_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset.")] input: AssetIdInput,
    ) -> Result<Asset> {
        one(ctx, input.asset_id, AssetAction::Accept).await
    }

    /// Sends an asset in stock to repair.
    #[graphql(requires_scopes = "assets:write")]
    async fn send_asset_to_repair(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset.")] input: AssetIdInput,
    ) -> Result<Asset> {
        one(ctx, input.asset_id, AssetAction::SendToRepair).await
    }

    /// Takes an asset back from repair into stock.
    #[graphql(requires_scopes = "assets:write")]
    async fn return_asset_from_repair(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset.")] input: AssetIdInput,
    ) -> Result<Asset> {
        one(ctx, input.asset_id, AssetAction::BackFromRepair).await
    }

    /// Takes an asset in stock or in repair out of service.
    #[graphql(requires_scopes = "assets:write")]
    async fn retire_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset.")] input: AssetIdInput,
    ) -> Result<Asset> {
        one(ctx, input.asset_id, AssetAction::Retire).await
    }

    /// Posts every planned depreciation line whose period ended by `through`, one
    /// `asset.depreciation.posted` event per line; a re-run posts nothing.
    #[graphql(requires_scopes = "assets:depreciate")]
    async fn run_depreciation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The last day to post through.")] input: RunDepreciationInput,
    ) -> Result<DepreciationRunPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let posted = ops(ctx)?
            .run_depreciation(&tenant, claims, input.through.into())
            .await?;
        Ok(DepreciationRunPayload {
            posted_lines: i32::try_from(posted).unwrap_or(i32::MAX),
        })
    }

    /// Revalues or impairs an asset, or changes its salvage value or useful life: posted lines
    /// stay, planned ones are recomputed; publishes `asset.revalued`.
    #[graphql(requires_scopes = "assets:depreciate")]
    async fn revalue_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset and what changes.")] input: RevalueAssetInput,
    ) -> Result<Asset> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let book_value = input
            .book_value
            .as_ref()
            .map(|value| money_input("bookValue", value))
            .transpose()?;
        let salvage = input
            .salvage
            .as_ref()
            .map(|value| money_input("salvage", value))
            .transpose()?;
        let asset = ops(ctx)?
            .asset(&tenant, &input.asset_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("asset".into()))?;
        for (field, value) in [("bookValue", &book_value), ("salvage", &salvage)] {
            if value.is_some_and(|money| money.currency().code() != asset.currency) {
                return Err(ApiError::bad_input(
                    field,
                    "the amount must be in the currency of the cost",
                )
                .into());
            }
        }
        let change = Change {
            book_value: book_value.map(|money| money.minor()),
            salvage: salvage.map(|money| money.minor()),
            periods: input.useful_life_periods.map(periods_of).transpose()?,
        };
        if change == Change::default() {
            return Err(ApiError::bad_input(
                "input",
                "give a book value, a salvage value or a useful life",
            )
            .into());
        }
        Ok(Asset(
            ops(ctx)?
                .revalue_asset(&tenant, claims, &input.asset_id, change)
                .await?,
        ))
    }

    /// Disposes of an asset: its schedule stops and the gain or loss (proceeds - book value)
    /// is published with `asset.disposed`.
    #[graphql(requires_scopes = "assets:depreciate")]
    async fn dispose_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset and the proceeds.")] input: DisposeAssetInput,
    ) -> Result<Asset> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let proceeds = money_input("proceeds", &input.proceeds)?;
        Ok(Asset(
            ops(ctx)?
                .dispose_asset(&tenant, claims, &input.asset_id, proceeds)
                .await?,
        ))
    }
}

async fn bulk(ctx: &Context<'_>, ids: Vec<ID>, action: AssetAction) -> Result<BulkAssetsPayload> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let assets = ops(ctx)?
        .act_on_assets(&tenant, claims, &ids_of(ids), action)
        .await?;
    Ok(BulkAssetsPayload {
        count: assets.len() as i32,
        assets: assets.into_iter().map(Asset).collect(),
    })
}

async fn one(ctx: &Context<'_>, id: ID, action: AssetAction) -> Result<Asset> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let mut assets = ops(ctx)?
        .act_on_assets(&tenant, claims, &[id.0], action)
        .await?;
    assets
        .pop()
        .map(Asset)
        .ok_or_else(|| ApiError::internal("an asset action changed nothing").into())
}
