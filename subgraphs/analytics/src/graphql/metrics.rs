//! Metrics as a table, live tiles, the catalogue, and the export field.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Subscription};
use futures::StreamExt;

use erp_kit::money::Decimal;
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use crate::app::{Analytics, MetricTable};
use crate::domain::metrics::{Metric, MetricRequest, Unit, Viewer};

pub(super) fn analytics<'a>(ctx: &Context<'a>) -> Result<&'a Analytics> {
    ctx.data::<Analytics>()
        .map_err(|_| ApiError::internal("analytics service missing from schema data").into())
}

/// The caller as the metrics layer sees them: the tenant of their token and its scopes.
pub(super) fn viewer(ctx: &Context<'_>) -> Result<Viewer, ApiError> {
    let claims = ctx.claims()?;
    Ok(Viewer {
        tenant_id: ctx.tenant()?.as_str().to_owned(),
        scopes: claims.permissions.clone(),
    })
}

/// What a metric's values count.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    /// Seconds of time.
    Seconds,
    /// A number of things.
    Count,
    /// 1/10,000: 10,000 is 100 %.
    BasisPoints,
    /// 1/100.
    Hundredths,
    /// Integer minor units of the row's currency (the `currency` dimension).
    MinorUnits,
}

impl From<Unit> for MetricUnit {
    fn from(unit: Unit) -> Self {
        match unit {
            Unit::Seconds => MetricUnit::Seconds,
            Unit::Count => MetricUnit::Count,
            Unit::BasisPoints => MetricUnit::BasisPoints,
            Unit::Hundredths => MetricUnit::Hundredths,
            Unit::MinorUnits => MetricUnit::MinorUnits,
        }
    }
}

/// A filter: the dimension must take one of the values.
#[derive(InputObject)]
pub struct MetricFilterInput {
    /// A dimension of the metric (`project`, `person`, ...).
    pub dimension: String,
    /// The values (ids, days `YYYY-MM-DD`, weeks `YYYY-Www`, months `YYYY-MM`, currency codes).
    pub values: Vec<String>,
}

/// A metric request.
#[derive(InputObject)]
pub struct MetricInput {
    /// The metric's name in the catalogue (`metricCatalogue`), e.g. `utilization`.
    pub metric: String,
    /// Dimensions to group by, at most 3 (money metrics are always split by `currency` too).
    #[graphql(default)]
    pub group_by: Vec<String>,
    /// Filters on the metric's dimensions.
    #[graphql(default)]
    pub filters: Vec<MetricFilterInput>,
    /// First day of the range (days of the tenant's calendar: `analyticsCalendar`).
    pub from: Date,
    /// Last day of the range, included.
    pub to: Date,
}

impl MetricInput {
    fn request(self) -> MetricRequest {
        MetricRequest {
            metric: self.metric,
            group_by: self.group_by,
            filters: self
                .filters
                .into_iter()
                .map(|filter| (filter.dimension, filter.values))
                .collect(),
            from: self.from.naive(),
            to: self.to.naive(),
        }
    }
}

/// One row of a metric's table.
#[derive(SimpleObject)]
pub struct MetricResultRow {
    /// The values of the result's dimensions, in its order.
    pub dimensions: Vec<String>,
    /// The exact value in the metric's unit; null when suppressed.
    pub value: Option<Decimal>,
    /// Withheld: a people-analytics group of fewer than 5 people.
    pub suppressed: bool,
}

/// A metric's result as a table.
#[derive(SimpleObject)]
pub struct MetricResult {
    /// The metric's name.
    pub metric: String,
    /// The unit of every value.
    pub unit: MetricUnit,
    /// The dimensions of the rows, in order (money metrics end with `currency`).
    pub dimensions: Vec<String>,
    /// The rows, ordered by their dimensions.
    pub rows: Vec<MetricResultRow>,
    /// When it was computed.
    pub as_of: DateTime,
}

pub(super) fn decimal(value: i64) -> Result<Decimal, ApiError> {
    Decimal::parse(&value.to_string()).ok_or_else(|| ApiError::internal("an unprintable value"))
}

impl TryFrom<MetricTable> for MetricResult {
    type Error = ApiError;

    fn try_from(table: MetricTable) -> Result<Self, ApiError> {
        let mut rows = Vec::with_capacity(table.rows.len());
        for row in table.rows {
            rows.push(MetricResultRow {
                dimensions: row.dimensions,
                suppressed: row.value.is_none(),
                value: row.value.map(decimal).transpose()?,
            });
        }
        Ok(MetricResult {
            metric: table.query.metric.name().to_owned(),
            unit: table.query.metric.unit().into(),
            dimensions: table
                .query
                .dimensions
                .iter()
                .map(|d| d.name().to_owned())
                .collect(),
            rows,
            as_of: DateTime::from_millis(table.as_of.timestamp_millis())
                .unwrap_or_else(DateTime::now),
        })
    }
}

/// A metric of the catalogue.
#[derive(SimpleObject)]
pub struct MetricDefinition {
    /// The name `metric(...)` takes.
    pub name: String,
    /// What it measures.
    pub description: String,
    /// The unit of its values.
    pub unit: MetricUnit,
    /// The dimensions it may be grouped and filtered by.
    pub dimensions: Vec<String>,
    /// Figures about people: per person only for managers and HR, groups under 5 suppressed.
    pub people_analytics: bool,
    /// Payroll-derived cost: finance and HR only.
    pub cost: bool,
}

/// A prepared export: a one-time link streaming CSV (`analyticsExport`) or serving a Parquet
/// file (`metricExport`).
#[derive(SimpleObject)]
pub struct AnalyticsExport {
    /// The link's path on the analytics service (GET; no token needed: the link is the
    /// capability). The response carries `X-Row-Count` and `X-As-Of`.
    pub path: String,
    /// The exact number of rows the file holds (besides a CSV's header line).
    pub row_count: Decimal,
    /// The snapshot: facts stored at or before this instant.
    pub as_of: DateTime,
    /// The link works once, until then.
    pub expires_at: DateTime,
}

/// What to export.
#[derive(InputObject)]
pub struct AnalyticsExportInput {
    /// First day (UTC) of the time entries.
    pub from: Date,
    /// Last day, included.
    pub to: Date,
}

/// The path export links are served under.
pub const EXPORT_PATH: &str = "/analytics/exports";
/// The path metric export links (Parquet files) are served under.
pub const METRIC_EXPORT_PATH: &str = "/analytics/exports/metrics";

fn export_of(ticket: crate::app::ExportTicket, path: &str) -> Result<AnalyticsExport> {
    let instant = |at: chrono::DateTime<chrono::Utc>| {
        DateTime::from_millis(at.timestamp_millis()).unwrap_or_else(DateTime::now)
    };
    Ok(AnalyticsExport {
        path: format!("{path}/{}", ticket.token),
        row_count: decimal(i64::try_from(ticket.row_count).unwrap_or(i64::MAX))?,
        as_of: instant(ticket.as_of),
        expires_at: instant(ticket.expires_at),
    })
}

#[derive(Default)]
pub struct MetricsQuery;

#[Object]
impl MetricsQuery {
    /// The metrics `metric(...)` computes.
    #[graphql(requires_scopes = "analytics:read")]
    async fn metric_catalogue(&self) -> Vec<MetricDefinition> {
        Metric::ALL
            .into_iter()
            .map(|metric| MetricDefinition {
                name: metric.name().to_owned(),
                description: metric.description().to_owned(),
                unit: metric.unit().into(),
                dimensions: metric
                    .dimensions()
                    .iter()
                    .map(|d| d.name().to_owned())
                    .collect(),
                people_analytics: metric.is_people_analytics(),
                cost: metric.needs_cost_scope(),
            })
            .collect()
    }

    /// A metric of the caller's tenant as a table (the tenant filter and the field scopes are
    /// the metrics layer's).
    #[graphql(requires_scopes = "analytics:read")]
    async fn metric(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, its grouping, filters and range.")] input: MetricInput,
    ) -> Result<MetricResult> {
        let viewer = viewer(ctx)?;
        let table = analytics(ctx)?.metric(&viewer, &input.request()).await?;
        Ok(MetricResult::try_from(table)?)
    }

    /// Prepares a CSV export of the tenant's time entries (heavy: 5 per minute per user at the
    /// edge): the row count and snapshot now, the rows streamed from the returned link.
    #[graphql(requires_scopes = "analytics:export")]
    async fn analytics_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to export.")] input: AnalyticsExportInput,
    ) -> Result<AnalyticsExport> {
        let viewer = viewer(ctx)?;
        let ticket = analytics(ctx)?
            .prepare_export(&viewer, input.from.naive(), input.to.naive())
            .await?;
        export_of(ticket, EXPORT_PATH)
    }

    /// Prepares a metric's table as a Parquet file (heavy, like `analyticsExport`): authorised
    /// like `metric` with the same input (tenant filter, field scopes, suppression) and by
    /// `analytics:export`; computed now, at most 1,000,000 rows (`EXPORT_TOO_LARGE`), served
    /// once by the returned link. Columns: one per dimension (text), `value` (INT64, null when
    /// suppressed), `suppressed` (BOOLEAN); the metric, unit, row count and `asOf` in the
    /// file's key-value metadata (`erp.metric`, `erp.unit`, `erp.row_count`, `erp.as_of`).
    #[graphql(requires_scopes = "analytics:export")]
    async fn metric_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, its grouping, filters and range.")] input: MetricInput,
    ) -> Result<AnalyticsExport> {
        let viewer = viewer(ctx)?;
        let ticket = analytics(ctx)?
            .prepare_metric_export(&viewer, &input.request())
            .await?;
        export_of(ticket, METRIC_EXPORT_PATH)
    }
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// A live tile: the metric now, then again whenever new facts change its rows. Before each
    /// push the subscriber's token is checked again.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["analytics:read".into()]]))]
    async fn metric(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, its grouping, filters and range.")] input: MetricInput,
    ) -> Result<impl futures::Stream<Item = Result<MetricResult>>> {
        // The directive documents the scope; a subscription's stream is checked here.
        ctx.require_scope("analytics:read")?;
        let viewer = viewer(ctx)?;
        let identity = ctx.identity().clone();
        let tables = analytics(ctx)?.live_metric(viewer, input.request()).await?;
        let results = tables
            .map(|table| MetricResult::try_from(table).map_err(async_graphql::Error::from))
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, results).map(|item| item.and_then(|r| r)))
    }
}
