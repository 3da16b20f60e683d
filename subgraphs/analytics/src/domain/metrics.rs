//! The one metrics layer: a catalogue of typed metrics (a measure over facts, the dimensions it
//! may be grouped and filtered by, its unit and its privacy class), and the compiler that turns
//! a request into the SQL of either engine.
//!
//! The compiler is the only way to the facts: the SQL it writes reads them through one
//! tenant-filtered, deduplicated source (`FINAL` on ClickHouse, the highest version per
//! (kind, entity) on DataFusion), so no metric can forget the tenant or count a replayed event
//! twice. Time entries are the exception when the store keeps them rolled up (both stores do,
//! [`MetricQuery::with_time_rollups`]): the time-entry reports read the tenant-filtered groups
//! of its current entries ([`TIME_BY_DAY`]) instead, deduplicated when they were written. Field
//! scopes are checked before any SQL is written:
//! - payroll-derived cost only with a finance or HR scope ([`COST_SCOPES`]);
//! - person-level figures (grouping or filtering by person) only with a manager or HR scope
//!   ([`PEOPLE_SCOPES`]);
//! - in people analytics every group of fewer than [`MIN_GROUP`] people is suppressed (its value
//!   withheld), whoever asks, unless the rows are one person each (which needs the scope).
//!
//! Values are exact integers: seconds, counts, minor units, basis points (1/10,000) and
//! hundredths, divided with integer division the same way on both engines.

use chrono::{Datelike, NaiveDate, Weekday};

use erp_kit::ApiError;

use super::calendar::Calendar;
use super::facts::WORKDAY_SECONDS;
use super::reasons;

/// People-analytics groups smaller than this are suppressed.
pub const MIN_GROUP: u64 = 5;
/// Dimensions one request may group by.
pub const MAX_DIMENSIONS: usize = 3;
/// The longest range one request may cover (days), and how far back facts are kept.
pub const MAX_RANGE_DAYS: i64 = 3 * 366;
pub const RETENTION_DAYS: i64 = 10 * 366;
/// Punctual: the first check-in of the day at or before 09:15 in the tenant's time zone (the
/// events carry no shift start yet).
pub const PUNCTUAL_BY_MINUTE: i64 = 9 * 60 + 15;

/// Scopes that open payroll-derived cost.
pub const COST_SCOPES: &[&str] = &["analytics:cost", "finance:read", "hr:admin"];
/// Scopes that open person-level productivity (managers hold `analytics:people`).
pub const PEOPLE_SCOPES: &[&str] = &["analytics:people", "hr:read", "hr:admin"];

/// What a metric's values count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Count,
    /// 1/10,000 (utilization, punctuality).
    BasisPoints,
    /// 1/100 (average tasks per sprint).
    Hundredths,
    /// Integer minor units of the row's currency.
    MinorUnits,
}

impl Unit {
    /// Its name in the API (`MetricUnit`).
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "SECONDS",
            Unit::Count => "COUNT",
            Unit::BasisPoints => "BASIS_POINTS",
            Unit::Hundredths => "HUNDREDTHS",
            Unit::MinorUnits => "MINOR_UNITS",
        }
    }
}

/// A dimension: a column of the facts a metric is grouped or filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Person,
    Department,
    Project,
    Client,
    Day,
    Week,
    Month,
    Billable,
    Currency,
    /// The tenant's fiscal year (`FY2026`, or `FY2026-27` for years starting in another
    /// month than January).
    FiscalYear,
}

impl Dimension {
    pub const ALL: [Dimension; 10] = [
        Dimension::Person,
        Dimension::Department,
        Dimension::Project,
        Dimension::Client,
        Dimension::Day,
        Dimension::Week,
        Dimension::Month,
        Dimension::Billable,
        Dimension::Currency,
        Dimension::FiscalYear,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Person => "person",
            Dimension::Department => "department",
            Dimension::Project => "project",
            Dimension::Client => "client",
            Dimension::Day => "day",
            Dimension::Week => "week",
            Dimension::Month => "month",
            Dimension::Billable => "billable",
            Dimension::Currency => "currency",
            Dimension::FiscalYear => "fiscal_year",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The column of a metric's rows (`billable` is the facts' flag: its text is another
    /// name, or ClickHouse's aliases would shadow the flag in the same SELECT).
    fn column(self) -> &'static str {
        match self {
            Dimension::Billable => "billable_text",
            other => other.name(),
        }
    }
}

/// How a metric aggregates its rows' `num` (and `den`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    /// sum(num) * scale / sum(den), 0 when the denominator is 0.
    Ratio(i64),
}

/// The privacy class of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Privacy {
    /// Figures about work, not people (throughput, revenue).
    Open,
    /// Figures about people: person-level needs [`PEOPLE_SCOPES`], small groups suppressed.
    People,
    /// People analytics of payroll-derived cost: also needs [`COST_SCOPES`].
    PeopleCost,
}

/// The metrics of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    HoursLogged,
    BillableHours,
    Capacity,
    Utilization,
    TaskThroughput,
    SprintVelocity,
    Punctuality,
    InvoicedRevenue,
    LabourCost,
    DealsWon,
    TicketsOpened,
    SlaBreaches,
    Profitability,
    WorkInProgress,
}

use Dimension as D;

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::HoursLogged,
        Metric::BillableHours,
        Metric::Capacity,
        Metric::Utilization,
        Metric::TaskThroughput,
        Metric::SprintVelocity,
        Metric::Punctuality,
        Metric::InvoicedRevenue,
        Metric::LabourCost,
        Metric::DealsWon,
        Metric::TicketsOpened,
        Metric::SlaBreaches,
        Metric::Profitability,
        Metric::WorkInProgress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::HoursLogged => "hours_logged",
            Metric::BillableHours => "billable_hours",
            Metric::Capacity => "capacity",
            Metric::Utilization => "utilization",
            Metric::TaskThroughput => "task_throughput",
            Metric::SprintVelocity => "sprint_velocity",
            Metric::Punctuality => "punctuality",
            Metric::InvoicedRevenue => "invoiced_revenue",
            Metric::LabourCost => "labour_cost",
            Metric::DealsWon => "deals_won",
            Metric::TicketsOpened => "tickets_opened",
            Metric::SlaBreaches => "sla_breaches",
            Metric::Profitability => "profitability",
            Metric::WorkInProgress => "work_in_progress",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Metric::HoursLogged => "Time logged on tasks (stopped timers), in seconds.",
            Metric::BillableHours => "Billable time logged on tasks, in seconds.",
            Metric::Capacity => {
                "Available working time: working days of the range x 8 h, less approved leave, per employee, in seconds."
            }
            Metric::Utilization => {
                "Billable time / available time (capacity), in basis points (10,000 = 100 %)."
            }
            Metric::TaskThroughput => "Tasks completed in closed sprints.",
            Metric::SprintVelocity => "Tasks completed per closed sprint, in hundredths.",
            Metric::Punctuality => {
                "Share of attendance days whose first check-in is at or before 09:15 (the tenant's time zone), in basis points."
            }
            Metric::InvoicedRevenue => "Posted customer invoices, in minor units per currency.",
            Metric::LabourCost => {
                "Payroll's employer cost (payroll-derived: finance and HR only), in minor units per currency."
            }
            Metric::DealsWon => "Won opportunities' amounts, in minor units per currency.",
            Metric::TicketsOpened => "Helpdesk tickets opened.",
            Metric::SlaBreaches => "Helpdesk SLA breaches.",
            Metric::Profitability => {
                "Revenue invoiced (in the base currency, by invoice date) plus work in progress (approved billable time not invoiced by the range's end, at the bill rate, by the approved week's last day) less vendor bills and approved expense claims on its projects (base currency, by bill date and by the day the expense was posted) and labour cost: each person's employer cost for a month (payroll-derived: finance and HR only) allocated to projects by the hours they logged on each that month (a month without hours stays unallocated, project ''), in minor units per currency. Rows whose cost is the pay of fewer than 5 people are withheld."
            }
            Metric::WorkInProgress => {
                "Approved billable time not yet invoiced, at the project's bill rate (the line finance put on the project's draft invoice), dated the approved week's last day: a line counts until its invoice is posted with a date on or before the range's end, or its draft is deleted by then (its lines then are on no invoice). Minor units per currency."
            }
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::HoursLogged | Metric::BillableHours | Metric::Capacity => Unit::Seconds,
            Metric::Utilization | Metric::Punctuality => Unit::BasisPoints,
            Metric::SprintVelocity => Unit::Hundredths,
            Metric::InvoicedRevenue
            | Metric::LabourCost
            | Metric::DealsWon
            | Metric::Profitability
            | Metric::WorkInProgress => Unit::MinorUnits,
            Metric::TaskThroughput | Metric::TicketsOpened | Metric::SlaBreaches => Unit::Count,
        }
    }

    /// The dimensions it may be grouped and filtered by.
    pub fn dimensions(self) -> &'static [Dimension] {
        match self {
            Metric::HoursLogged | Metric::BillableHours => &[
                D::Person,
                D::Project,
                D::Day,
                D::Week,
                D::Month,
                D::FiscalYear,
                D::Billable,
            ],
            Metric::Capacity | Metric::Utilization => &[D::Person, D::Department],
            Metric::TaskThroughput | Metric::SprintVelocity => {
                &[D::Project, D::Day, D::Week, D::Month, D::FiscalYear]
            }
            Metric::Punctuality => &[
                D::Person,
                D::Department,
                D::Day,
                D::Week,
                D::Month,
                D::FiscalYear,
            ],
            Metric::InvoicedRevenue => &[
                D::Project,
                D::Client,
                D::Day,
                D::Week,
                D::Month,
                D::FiscalYear,
                D::Currency,
            ],
            Metric::LabourCost => &[
                D::Person,
                D::Day,
                D::Week,
                D::Month,
                D::FiscalYear,
                D::Currency,
            ],
            Metric::DealsWon => &[
                D::Client,
                D::Person,
                D::Day,
                D::Week,
                D::Month,
                D::FiscalYear,
                D::Currency,
            ],
            Metric::TicketsOpened | Metric::SlaBreaches => {
                &[D::Client, D::Day, D::Week, D::Month, D::FiscalYear]
            }
            // Payroll periods are months: no finer calendar.
            Metric::Profitability => &[D::Project, D::Client, D::Month, D::FiscalYear, D::Currency],
            Metric::WorkInProgress => {
                &[D::Project, D::Client, D::Month, D::FiscalYear, D::Currency]
            }
        }
    }

    fn aggregate(self) -> Aggregate {
        match self {
            Metric::Utilization | Metric::Punctuality => Aggregate::Ratio(10_000),
            Metric::SprintVelocity => Aggregate::Ratio(100),
            _ => Aggregate::Sum,
        }
    }

    fn privacy(self) -> Privacy {
        match self {
            Metric::HoursLogged
            | Metric::BillableHours
            | Metric::Capacity
            | Metric::Utilization
            | Metric::Punctuality => Privacy::People,
            Metric::LabourCost | Metric::Profitability => Privacy::PeopleCost,
            // A deal's owner is a salesperson's own figure, but pipelines are shown by owner
            // in the CRM already: open.
            _ => Privacy::Open,
        }
    }

    /// Whether amounts of different currencies could meet: the currency is always a
    /// dimension of its rows (never summed across currencies).
    fn is_money(self) -> bool {
        self.unit() == Unit::MinorUnits
    }

    /// Whether its groups are people analytics (suppressed under [`MIN_GROUP`] people).
    pub fn is_people_analytics(self) -> bool {
        self.privacy() != Privacy::Open
    }

    pub fn needs_cost_scope(self) -> bool {
        self.privacy() == Privacy::PeopleCost
    }
}

/// The engine a query is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    ClickHouse,
    DataFusion,
}

/// Who asks: their tenant (from the verified token) and scopes.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant_id: String,
    pub scopes: Vec<String>,
}

impl Viewer {
    fn holds_any(&self, scopes: &[&str]) -> bool {
        self.scopes.iter().any(|s| scopes.contains(&s.as_str()))
    }

    pub fn sees_people(&self) -> bool {
        self.holds_any(PEOPLE_SCOPES)
    }

    pub fn sees_cost(&self) -> bool {
        self.holds_any(COST_SCOPES)
    }
}

/// A request, as names (from the API) before the compiler checks them.
#[derive(Debug, Clone)]
pub struct MetricRequest {
    pub metric: String,
    pub group_by: Vec<String>,
    /// Dimension name and the values it must take (any of them).
    pub filters: Vec<(String, Vec<String>)>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A checked request: what the compiler writes SQL for.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub metric: Metric,
    /// The output dimensions (the requested ones, plus the currency for money).
    pub dimensions: Vec<Dimension>,
    pub filters: Vec<(Dimension, Vec<String>)>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Groups under [`MIN_GROUP`] people have their value withheld.
    pub suppress_small_groups: bool,
    /// The tenant's days and fiscal years (UTC and January until the caller sets the
    /// tenant's: [`MetricQuery::on_calendar`]).
    pub calendar: Calendar,
    /// Read time entries from the store's rollups ([`TIME_BY_DAY`], [`TIME_BY_MONTH`]) instead of the facts ([`MetricQuery::with_time_rollups`]).
    pub time_rollups: bool,
}

/// The stores' time entries per tenant, local day, person, login, project and billable flag
/// (`day`, `week`, `month`, `person_id`, `user_id`, `project_id`, `billable`, `quantity` the
/// seconds, `entries` the count): the current versions only, on the tenant's time zone. The
/// embedded store hands it over as one row per group; on ClickHouse it is a
/// `SummingMergeTree` of signed rows ("minus old, plus new"), summed per group on read.
pub const TIME_BY_DAY: &str = "time_by_day";
/// [`TIME_BY_DAY`] per local month (no `day` or `week`; on ClickHouse the columns are there,
/// empty).
pub const TIME_BY_MONTH: &str = "time_by_month";

/// The SQL of one engine. Its result columns are always `d0`..`d3` (strings, `''` when unused),
/// `value` (64-bit integer) and `people` (distinct people in the group, unsigned 64-bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledSql {
    pub sql: String,
    /// ClickHouse only: the `{tenant:String}` parameter's value (bound, never spliced).
    pub tenant: String,
}

/// Freshness: per fact kind of `viewer`'s tenant, the newest fact's `occurred_ms` as `value`
/// and its newest `ingested_ms` as `people` (the result shape of [`CompiledSql`]; both are
/// instants in Unix milliseconds, never negative for facts of real events).
pub fn freshness_sql(dialect: Dialect, viewer: &Viewer) -> Result<CompiledSql, ApiError> {
    if !is_plain_value(&viewer.tenant_id) {
        return Err(ApiError::internal("a tenant id with unexpected characters"));
    }
    let f = facts_source(dialect, &viewer.tenant_id);
    let (value, people) = match dialect {
        Dialect::ClickHouse => (
            "toInt64(MAX(occurred_ms))".to_owned(),
            "toUInt64(greatest(MAX(ingested_ms), 0))".to_owned(),
        ),
        Dialect::DataFusion => (
            "CAST(MAX(occurred_ms) AS BIGINT)".to_owned(),
            "CAST(GREATEST(MAX(ingested_ms), 0) AS BIGINT UNSIGNED)".to_owned(),
        ),
    };
    Ok(CompiledSql {
        sql: format!(
            "SELECT kind AS d0, '' AS d1, '' AS d2, '' AS d3, {value} AS value, {people} AS people \
             FROM {f} AS f GROUP BY kind ORDER BY kind"
        ),
        tenant: viewer.tenant_id.clone(),
    })
}

/// The SQL of a reconciliation (see [`reconciliation_sql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationSql {
    /// Control totals: `d0` the entity (`<source>:<day>`), `d1` the day, `d2` the currency,
    /// `value` the amount, `people` the count.
    pub controls: CompiledSql,
    /// The facts the controls count, per kind and day: `d0` the kind, `d1` the day, `value`
    /// the sum of amounts, `people` the number of facts.
    pub facts: CompiledSql,
}

/// Wraps an SQL expression in a cast.
type Cast = fn(&str) -> String;

/// The casts to a signed and an unsigned 64-bit integer of `dialect`.
fn int_casts(dialect: Dialect) -> (Cast, Cast) {
    match dialect {
        Dialect::ClickHouse => (
            |expr| format!("toInt64({expr})"),
            |expr| format!("toUInt64({expr})"),
        ),
        Dialect::DataFusion => (
            |expr| format!("CAST({expr} AS BIGINT)"),
            |expr| format!("CAST({expr} AS BIGINT UNSIGNED)"),
        ),
    }
}

/// The control totals of `tenant` from `from` to `to` and the facts of `kinds` they control,
/// per day (deduplicated like every metric: a replayed event counts once).
pub fn reconciliation_sql(
    dialect: Dialect,
    tenant: &str,
    kinds: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<ReconciliationSql, ApiError> {
    if !is_plain_value(tenant) || !kinds.iter().all(|kind| is_plain_value(kind)) {
        return Err(ApiError::internal(
            "a tenant or kind with unexpected characters",
        ));
    }
    let f = facts_source(dialect, tenant);
    let (int, uint) = int_casts(dialect);
    let range = format!(
        "day >= '{}' AND day <= '{}'",
        from.format("%Y-%m-%d"),
        to.format("%Y-%m-%d")
    );
    let kinds: Vec<String> = kinds.iter().map(|kind| literal(kind)).collect();
    let compiled = |sql: String| CompiledSql {
        sql,
        tenant: tenant.to_owned(),
    };
    Ok(ReconciliationSql {
        controls: compiled(format!(
            "SELECT entity_id AS d0, day AS d1, currency AS d2, '' AS d3, {} AS value, \
             {} AS people FROM {f} AS f WHERE kind = 'control_total' AND {range} \
             ORDER BY d0",
            int("amount"),
            uint("quantity")
        )),
        facts: compiled(format!(
            "SELECT kind AS d0, day AS d1, '' AS d2, '' AS d3, {} AS value, {} AS people \
             FROM {f} AS f WHERE kind IN ({}) AND {range} GROUP BY kind, day \
             ORDER BY kind, day",
            int("COALESCE(SUM(amount), 0)"),
            uint("COUNT(*)"),
            kinds.join(", ")
        )),
    })
}

/// The reconciliation job's work, across tenants: (`d0` tenant, `d1` day) of every control
/// total stored at or after `since_ms` (Unix milliseconds).
pub fn recent_controls_sql(dialect: Dialect, since_ms: i64) -> CompiledSql {
    let (int, uint) = int_casts(dialect);
    CompiledSql {
        sql: format!(
            "SELECT DISTINCT tenant_id AS d0, day AS d1, '' AS d2, '' AS d3, {} AS value, \
             {} AS people FROM facts WHERE kind = 'control_total' AND ingested_ms >= {since_ms} \
             ORDER BY d0, d1",
            int("0"),
            uint("0")
        ),
        tenant: String::new(),
    }
}

/// The SQL of profitability's inputs (see [`MetricQuery::profitability_sql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfitabilitySql {
    pub revenue: CompiledSql,
    pub hours: CompiledSql,
    pub cost: CompiledSql,
    pub bills: CompiledSql,
    /// Approved expense claims (project, month, currency): direct cost like bills.
    pub expenses: CompiledSql,
    /// Work in progress (project, month, currency): billed time not invoiced by the range's
    /// end.
    pub wip: CompiledSql,
    pub staff: CompiledSql,
    pub projects: CompiledSql,
}

/// Output columns carrying dimensions.
pub const DIMENSION_COLUMNS: usize = 4;

/// One result row as both engines return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    /// The dimension values, in the query's order.
    pub dimensions: Vec<String>,
    /// None: suppressed (a people-analytics group of fewer than [`MIN_GROUP`] people).
    pub value: Option<i64>,
}

/// Ids and values a filter may carry: what ids, days and codes are made of.
fn is_plain_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

/// Checks `request` against the catalogue and the viewer's scopes.
pub fn check(
    request: &MetricRequest,
    viewer: &Viewer,
    today: NaiveDate,
) -> Result<MetricQuery, ApiError> {
    let metric = Metric::parse(&request.metric).ok_or_else(|| {
        ApiError::rule(
            reasons::UNKNOWN_METRIC,
            format!("no metric is called `{}`", request.metric),
        )
        .on_field("metric")
    })?;
    if !is_plain_value(&viewer.tenant_id) {
        return Err(ApiError::internal("a tenant id with unexpected characters"));
    }
    if metric.needs_cost_scope() && !viewer.sees_cost() {
        return Err(ApiError::rule(
            reasons::COST_FORBIDDEN,
            format!(
                "`{}` is payroll-derived cost: it needs one of {}",
                metric.name(),
                COST_SCOPES.join(", ")
            ),
        ));
    }
    let offered = |name: &str, field: &str| -> Result<Dimension, ApiError> {
        Dimension::parse(name)
            .filter(|d| metric.dimensions().contains(d))
            .ok_or_else(|| {
                ApiError::rule(
                    reasons::UNKNOWN_DIMENSION,
                    format!(
                        "`{}` has no dimension `{name}` (it has: {})",
                        metric.name(),
                        metric
                            .dimensions()
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .on_field(field)
            })
    };
    let mut dimensions = Vec::new();
    for name in &request.group_by {
        let dimension = offered(name, "groupBy")?;
        if dimension == Dimension::Person && metric.is_people_analytics() && !viewer.sees_people() {
            return Err(ApiError::rule(
                reasons::PERSON_LEVEL_FORBIDDEN,
                format!(
                    "`{}` per person needs one of {}",
                    metric.name(),
                    PEOPLE_SCOPES.join(", ")
                ),
            )
            .on_field("groupBy"));
        }
        if !dimensions.contains(&dimension) {
            dimensions.push(dimension);
        }
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(ApiError::rule(
            reasons::INVALID_QUERY,
            format!("group by at most {MAX_DIMENSIONS} dimensions"),
        )
        .on_field("groupBy"));
    }
    if metric.is_money() && !dimensions.contains(&Dimension::Currency) {
        dimensions.push(Dimension::Currency);
    }
    let mut filters = Vec::new();
    for (name, values) in &request.filters {
        let dimension = offered(name, "filters")?;
        if dimension == Dimension::Person
            && (metric.is_people_analytics() || metric == Metric::DealsWon)
            && !viewer.sees_people()
        {
            return Err(ApiError::rule(
                reasons::FORBIDDEN_FILTER,
                format!(
                    "filtering `{}` by person needs one of {}",
                    metric.name(),
                    PEOPLE_SCOPES.join(", ")
                ),
            )
            .on_field("filters"));
        }
        if values.is_empty() || values.len() > 100 || !values.iter().all(|v| is_plain_value(v)) {
            return Err(ApiError::rule(
                reasons::INVALID_QUERY,
                format!("the `{name}` filter takes 1 to 100 ids (letters, digits, - _ . : @)"),
            )
            .on_field("filters"));
        }
        filters.push((dimension, values.clone()));
    }
    if request.from > request.to {
        return Err(ApiError::rule(
            reasons::INVALID_RANGE,
            format!(
                "the range ends ({}) before it starts ({})",
                request.to, request.from
            ),
        )
        .on_field("to"));
    }
    if (request.to - request.from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::rule(
            reasons::INVALID_RANGE,
            format!("a range covers at most {MAX_RANGE_DAYS} days"),
        )
        .on_field("to"));
    }
    if (today - request.from).num_days() > RETENTION_DAYS {
        return Err(ApiError::rule(
            reasons::BEYOND_RETENTION,
            format!("facts are kept {RETENTION_DAYS} days: the range starts before that"),
        )
        .on_field("from"));
    }
    let per_person = dimensions.contains(&Dimension::Person);
    Ok(MetricQuery {
        metric,
        dimensions,
        filters,
        from: request.from,
        to: request.to,
        suppress_small_groups: metric.is_people_analytics() && !per_person,
        calendar: Calendar::default(),
        time_rollups: false,
    })
}

/// Monday to Friday in `[from, to]`.
pub fn working_days(from: NaiveDate, to: NaiveDate) -> i64 {
    from.iter_days()
        .take_while(|day| *day <= to)
        .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
        .count() as i64
}

/// A string literal of a plain value (checked by [`is_plain_value`]: nothing to escape).
fn literal(value: &str) -> String {
    format!("'{value}'")
}

/// The tenant-filtered, deduplicated facts: the only source the compiled SQL reads.
fn facts_source(dialect: Dialect, tenant: &str) -> String {
    facts_source_of(dialect, tenant, false)
}

/// [`facts_source`], on DataFusion without the time entries when `no_time_entries` (a query
/// that reads them from the rollups: deduplicating per (kind, entity), the other kinds keep the
/// same rows).
fn facts_source_of(dialect: Dialect, tenant: &str, no_time_entries: bool) -> String {
    let kinds = if no_time_entries {
        " AND kind <> 'time_entry'"
    } else {
        ""
    };
    match dialect {
        // ReplacingMergeTree(version): FINAL keeps the highest version per sorting key
        // (tenant_id, kind, entity_id). The tenant is a bound parameter.
        Dialect::ClickHouse => {
            format!("(SELECT * FROM facts FINAL WHERE tenant_id = {{tenant:String}}{kinds})")
        }
        // Dedupe on read: the highest version per (kind, entity), the same rows FINAL keeps.
        Dialect::DataFusion => format!(
            "(SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY kind, entity_id \
             ORDER BY version DESC, event_id DESC) AS rn FROM facts WHERE tenant_id = {}{kinds}) \
             AS ranked WHERE rn = 1)",
            literal(tenant)
        ),
    }
}

/// The fiscal year label of the `YYYY-MM` column `month` for months from `first` to `last`
/// ('' beyond them).
fn fiscal_case(calendar: &Calendar, first: NaiveDate, last: NaiveDate, month: &str) -> String {
    let mut fiscal = String::from("CASE");
    for (label, first_month, last_month) in calendar.fiscal_years(first, last) {
        fiscal.push_str(&format!(
            " WHEN {month} >= '{first_month}' AND {month} <= '{last_month}' THEN '{label}'"
        ));
    }
    fiscal.push_str(" ELSE '' END");
    fiscal
}

/// The facts of `source` (tenant-filtered, deduplicated, aliased `c` inside) on `calendar`
/// for local days from `first` to `last`: a fact dated by an instant (`at_ms`) gets the local
/// `day`, `week` and `month` of that instant (and a check-in its local minute of the day as
/// `quantity`), computed at query time, so a calendar set after the facts were stored applies
/// to them too; every fact gets its `fiscal_year`.
fn on_local_calendar(
    dialect: Dialect,
    calendar: &Calendar,
    first: NaiveDate,
    last: NaiveDate,
    f: &str,
) -> String {
    let spans = calendar.offset_spans(first, last);
    let offset = match spans.as_slice() {
        [only] => only.offset_ms.to_string(),
        _ => {
            let mut case = String::from("CASE");
            for pair in spans.windows(2) {
                case.push_str(&format!(
                    " WHEN c.at_ms < {} THEN {}",
                    pair[1].start_ms, pair[0].offset_ms
                ));
            }
            let last = spans.last().map(|span| span.offset_ms).unwrap_or(0);
            case.push_str(&format!(" ELSE {last} END"));
            case
        }
    };
    let (day, week, month, minute) = match dialect {
        Dialect::ClickHouse => {
            let local = format!(
                "fromUnixTimestamp64Milli(toInt64(assumeNotNull(c.at_ms) + {offset}), 'UTC')"
            );
            (
                format!("formatDateTime({local}, '%Y-%m-%d')"),
                format!(
                    "concat(toString(toISOYear({local})), '-W', \
                     leftPad(toString(toISOWeek({local})), 2, '0'))"
                ),
                format!("formatDateTime({local}, '%Y-%m')"),
                format!(
                    "toInt64(intDiv(toInt64(assumeNotNull(c.at_ms) + {offset}), 60000) % 1440)"
                ),
            )
        }
        Dialect::DataFusion => {
            let local = format!("to_timestamp_millis(c.at_ms + {offset})");
            (
                format!("to_char({local}, '%Y-%m-%d')"),
                format!("to_char({local}, '%G-W%V')"),
                format!("to_char({local}, '%Y-%m')"),
                format!("CAST(((c.at_ms + {offset}) / 60000) % 1440 AS BIGINT)"),
            )
        }
    };
    let fiscal = fiscal_case(calendar, first, last, "l.month");
    format!(
        "(SELECT l.*, {fiscal} AS fiscal_year FROM (SELECT c.tenant_id AS tenant_id, \
         c.kind AS kind, c.entity_id AS entity_id, c.version AS version, \
         c.event_id AS event_id, c.occurred_ms AS occurred_ms, \
         c.ingested_ms AS ingested_ms, c.person_id AS person_id, c.user_id AS user_id, \
         c.project_id AS project_id, c.client_id AS client_id, \
         c.department_id AS department_id, \
         CASE WHEN c.kind = 'check_in' AND c.at_ms IS NOT NULL THEN {minute} \
         ELSE c.quantity END AS quantity, \
         c.amount AS amount, c.currency AS currency, c.billable AS billable, \
         c.document_id AS document_id, c.at_ms AS at_ms, \
         CASE WHEN c.at_ms IS NULL THEN c.day ELSE {day} END AS day, \
         CASE WHEN c.at_ms IS NULL THEN c.week ELSE {week} END AS week, \
         CASE WHEN c.at_ms IS NULL THEN c.month ELSE {month} END AS month \
         FROM {f} AS c) AS l)"
    )
}

impl MetricQuery {
    /// This query on the tenant's `calendar`.
    pub fn on_calendar(mut self, calendar: Calendar) -> Self {
        self.calendar = calendar;
        self
    }

    /// The tenant-filtered, deduplicated facts on the tenant's calendar: the only source a
    /// metric's SQL reads. A fact dated by an instant (`at_ms`) gets the local `day`, `week`
    /// and `month` of that instant (and a check-in its local minute of the day as
    /// `quantity`); every fact gets its `fiscal_year`.
    fn facts(&self, dialect: Dialect, tenant: &str) -> String {
        let f = facts_source_of(dialect, tenant, self.reads_rollups(dialect));
        // Whole months around the range: profitability reads the range's whole months.
        let (first, last) = self.whole_months();
        on_local_calendar(dialect, &self.calendar, first, last, &f)
    }

    /// This query reading time entries from the store's rollups (`on`: the store keeps them,
    /// [`crate::store::FactStore::time_rollups`]).
    pub fn with_time_rollups(mut self, on: bool) -> Self {
        self.time_rollups = on;
        self
    }

    fn reads_rollups(&self, _dialect: Dialect) -> bool {
        self.time_rollups
    }

    /// The first day of the range's first month and the last day of its last month.
    fn whole_months(&self) -> (NaiveDate, NaiveDate) {
        let first = self.from.with_day(1).unwrap_or(self.from);
        let last = self
            .to
            .checked_add_months(chrono::Months::new(1))
            .and_then(|next| next.with_day(1))
            .and_then(|next| next.pred_opt())
            .unwrap_or(self.to);
        (first, last)
    }

    /// The tenant's time entries from the rollups, with the columns of the facts on the local
    /// calendar that time-entry queries read (`person_id`, `user_id`, `project_id`,
    /// `billable`, `day`, `week`, `month`, `fiscal_year`, `quantity`, and `entries`), within
    /// local days `from` to `to`: the month rollup when they are whole months and the query
    /// needs no day or week (`by_day` false), else the day rollup.
    ///
    /// On ClickHouse the day rollup holds signed rows (a restatement subtracts its old group
    /// and adds its new one): they are summed per group (per month without the day) and the
    /// groups left without entries dropped, so a moved entry leaves no empty group behind.
    fn rolled_up_time(
        &self,
        dialect: Dialect,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
        by_day: bool,
    ) -> String {
        let (first, last) = self.whole_months();
        let fiscal = fiscal_case(&self.calendar, first, last, "month");
        let whole = from.day() == 1 && to.succ_opt().is_none_or(|next| next.day() == 1) && !by_day;
        if dialect == Dialect::ClickHouse {
            let (table, column, first, last) = if whole {
                (
                    TIME_BY_MONTH,
                    "month",
                    from.format("%Y-%m"),
                    to.format("%Y-%m"),
                )
            } else {
                (
                    TIME_BY_DAY,
                    "day",
                    from.format("%Y-%m-%d"),
                    to.format("%Y-%m-%d"),
                )
            };
            return format!(
                "(SELECT tenant_id, person_id, user_id, project_id, billable, day, week, month, \
                 {fiscal} AS fiscal_year, seconds AS quantity, counted AS entries \
                 FROM (SELECT tenant_id, day, week, month, person_id, user_id, project_id, \
                 billable, toInt64(sum(quantity)) AS seconds, toInt64(sum(entries)) AS counted \
                 FROM {table} WHERE tenant_id = {{tenant:String}} AND {column} >= '{first}' \
                 AND {column} <= '{last}' \
                 GROUP BY tenant_id, day, week, month, person_id, user_id, project_id, billable \
                 HAVING counted <> 0))"
            );
        }
        let tenant = literal(tenant);
        if whole {
            format!(
                "(SELECT tenant_id, person_id, user_id, project_id, billable, '' AS day, \
                 '' AS week, month, {fiscal} AS fiscal_year, quantity, entries \
                 FROM {TIME_BY_MONTH} WHERE tenant_id = {tenant} AND month >= '{}' \
                 AND month <= '{}')",
                from.format("%Y-%m"),
                to.format("%Y-%m")
            )
        } else {
            format!(
                "(SELECT tenant_id, person_id, user_id, project_id, billable, day, week, month, \
                 {fiscal} AS fiscal_year, quantity, entries \
                 FROM {TIME_BY_DAY} WHERE tenant_id = {tenant} AND day >= '{}' \
                 AND day <= '{}')",
                from.format("%Y-%m-%d"),
                to.format("%Y-%m-%d")
            )
        }
    }

    /// Whether the query groups or filters by a dimension finer than a month.
    fn needs_days(&self) -> bool {
        self.dimensions
            .iter()
            .chain(self.filters.iter().map(|(dimension, _)| dimension))
            .any(|dimension| matches!(dimension, Dimension::Day | Dimension::Week))
    }

    fn range(&self) -> String {
        format!(
            "day >= '{}' AND day <= '{}'",
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d")
        )
    }

    /// [`MetricQuery::range`] on the columns of the facts aliased `alias`.
    fn range_of(&self, alias: &str) -> String {
        format!(
            "{alias}.day >= '{}' AND {alias}.day <= '{}'",
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d")
        )
    }

    /// Billed time (aliased `f`) whose invoice was neither posted with a date on or before
    /// the range's end nor deleted as a draft by then (its lines are on no invoice any more):
    /// work in progress as of that day.
    fn unbilled(&self, dialect: Dialect, tenant: &str) -> String {
        format!(
            "f.document_id NOT IN (SELECT fi.entity_id FROM {} AS fi \
             WHERE (fi.kind = 'invoice' OR fi.kind = 'draft_deleted') AND fi.day <= '{}')",
            self.facts(dialect, tenant),
            self.to.format("%Y-%m-%d")
        )
    }

    /// The metric's rows: one per fact (or per person / person-day), with the columns every
    /// dimension names and `num`, `den`, `who`.
    fn rows(&self, dialect: Dialect, tenant: &str) -> String {
        let f = self.facts(dialect, tenant);
        let range = self.range();
        let kind_rows = |kind: &str, num: &str| {
            format!(
                "SELECT person_id AS person, department_id AS department, project_id AS project, \
                 client_id AS client, day, week, month, fiscal_year, \
                 CASE WHEN billable = 1 THEN 'true' ELSE 'false' END AS billable_text, currency, \
                 {num} AS num, 1 AS den, person_id AS who \
                 FROM {f} AS f WHERE kind = '{kind}' AND {range}"
            )
        };
        // Time entries from the rollups: one row per group, `entries` facts.
        let time_rows = |num: &str| {
            format!(
                "SELECT person_id AS person, '' AS department, project_id AS project, \
                 '' AS client, day, week, month, fiscal_year, \
                 CASE WHEN billable = 1 THEN 'true' ELSE 'false' END AS billable_text, \
                 '' AS currency, {num} AS num, entries AS den, person_id AS who \
                 FROM {} AS f",
                self.rolled_up_time(dialect, tenant, self.from, self.to, self.needs_days())
            )
        };
        let rollups = self.reads_rollups(dialect);
        match self.metric {
            Metric::HoursLogged if rollups => time_rows("quantity"),
            Metric::BillableHours if rollups => {
                time_rows("CASE WHEN billable = 1 THEN quantity ELSE 0 END")
            }
            Metric::HoursLogged => kind_rows("time_entry", "quantity"),
            Metric::BillableHours => kind_rows(
                "time_entry",
                "CASE WHEN billable = 1 THEN quantity ELSE 0 END",
            ),
            Metric::TaskThroughput | Metric::SprintVelocity => {
                let kind = if self.metric == Metric::TaskThroughput {
                    "task_completed"
                } else {
                    "sprint"
                };
                kind_rows(kind, "quantity")
            }
            Metric::InvoicedRevenue => kind_rows("invoice", "amount"),
            // Its revenue side only: profitability runs [`MetricQuery::profitability_sql`]
            // and allocates the cost in the domain (`profitability`).
            Metric::Profitability => kind_rows("invoice_base", "amount"),
            Metric::LabourCost => kind_rows("payroll_cost", "amount"),
            // A project's client is the one PMO names for it (billed lines carry none).
            Metric::WorkInProgress => format!(
                "SELECT '' AS person, '' AS department, f.project_id AS project, \
                 COALESCE(p.project_client, '') AS client, f.day AS day, f.week AS week, \
                 f.month AS month, f.fiscal_year AS fiscal_year, 'false' AS billable_text, \
                 f.currency AS currency, \
                 f.amount AS num, 1 AS den, '' AS who \
                 FROM {f} AS f LEFT JOIN (SELECT entity_id AS project_key, \
                 client_id AS project_client FROM {f} AS fp WHERE kind = 'project') AS p \
                 ON p.project_key = f.project_id \
                 WHERE f.kind = 'time_billed' AND {} AND {}",
                self.range_of("f"),
                self.unbilled(dialect, tenant)
            ),
            Metric::DealsWon => kind_rows("deal_won", "amount"),
            Metric::TicketsOpened => kind_rows("ticket", "quantity"),
            Metric::SlaBreaches => kind_rows("sla_breach", "quantity"),
            Metric::Punctuality => format!(
                "SELECT person_id AS person, MAX(department_id) AS department, '' AS project, \
                 '' AS client, day, week, month, fiscal_year, 'false' AS billable_text, \
                 '' AS currency, \
                 CASE WHEN MIN(quantity) <= {PUNCTUAL_BY_MINUTE} THEN 1 ELSE 0 END AS num, \
                 1 AS den, person_id AS who \
                 FROM {f} AS f WHERE kind = 'check_in' AND {range} \
                 GROUP BY person_id, day, week, month, fiscal_year"
            ),
            Metric::Capacity | Metric::Utilization => {
                // Per employee linked to a login (time entries name the login): the range's
                // working time less approved leave starting in it, and the billable time.
                let workday_seconds = working_days(self.from, self.to) * WORKDAY_SECONDS;
                let capacity = format!(
                    "CASE WHEN {workday_seconds} - COALESCE(l.leave_s, 0) < 0 THEN 0 \
                     ELSE {workday_seconds} - COALESCE(l.leave_s, 0) END"
                );
                let (num, den) = if self.metric == Metric::Capacity {
                    (capacity, "1".to_owned())
                } else {
                    ("COALESCE(t.billable_s, 0)".to_owned(), capacity)
                };
                let time = if rollups {
                    format!(
                        "{} AS ft",
                        self.rolled_up_time(dialect, tenant, self.from, self.to, false)
                    )
                } else {
                    format!("{f} AS ft WHERE kind = 'time_entry' AND {range}")
                };
                format!(
                    "SELECT e.user_id AS person, e.department_id AS department, '' AS project, \
                     '' AS client, '' AS day, '' AS week, '' AS month, 'false' AS billable_text, \
                     '' AS currency, {num} AS num, {den} AS den, e.user_id AS who \
                     FROM (SELECT person_id, user_id, department_id FROM {f} AS fe \
                           WHERE kind = 'employee' AND user_id <> '') AS e \
                     LEFT JOIN (SELECT person_id AS leave_person, SUM(quantity) AS leave_s \
                           FROM {f} AS fl WHERE kind = 'leave' AND {range} \
                           GROUP BY person_id) AS l ON l.leave_person = e.person_id \
                     LEFT JOIN (SELECT user_id AS time_user, \
                           SUM(CASE WHEN billable = 1 THEN quantity ELSE 0 END) AS billable_s \
                           FROM {time} \
                           GROUP BY user_id) AS t ON t.time_user = e.user_id"
                )
            }
        }
    }

    /// The SQL of `dialect` for `viewer`'s tenant.
    pub fn compile(&self, dialect: Dialect, viewer: &Viewer) -> CompiledSql {
        let tenant = viewer.tenant_id.as_str();
        let rows = self.rows(dialect, tenant);
        let dims: Vec<&str> = self.dimensions.iter().map(|d| d.column()).collect();
        let mut select = Vec::new();
        for index in 0..DIMENSION_COLUMNS {
            let expr = dims.get(index).copied().unwrap_or("''");
            select.push(format!("{expr} AS d{index}"));
        }
        let (num, den) = ("COALESCE(SUM(num), 0)", "COALESCE(SUM(den), 0)");
        let value = match self.metric.aggregate() {
            Aggregate::Sum => num.to_owned(),
            Aggregate::Ratio(scale) => {
                let quotient = match dialect {
                    // `/` is float division on ClickHouse; intDiv truncates like DataFusion's
                    // integer `/`.
                    Dialect::ClickHouse => format!("intDiv({num} * {scale}, {den})"),
                    Dialect::DataFusion => format!("({num} * {scale}) / {den}"),
                };
                format!("CASE WHEN {den} = 0 THEN 0 ELSE {quotient} END")
            }
        };
        let (value, people) = match dialect {
            Dialect::ClickHouse => (
                format!("toInt64({value})"),
                "toUInt64(COUNT(DISTINCT who))".to_owned(),
            ),
            Dialect::DataFusion => (
                format!("CAST({value} AS BIGINT)"),
                "CAST(COUNT(DISTINCT who) AS BIGINT UNSIGNED)".to_owned(),
            ),
        };
        select.push(format!("{value} AS value"));
        select.push(format!("{people} AS people"));
        let mut filters = Vec::new();
        for (dimension, values) in &self.filters {
            let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
            filters.push(format!("{} IN ({})", dimension.column(), list.join(", ")));
        }
        let mut sql = format!("SELECT {} FROM ({rows}) AS r", select.join(", "));
        if !filters.is_empty() {
            sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
        }
        if !dims.is_empty() {
            let list = dims.join(", ");
            sql.push_str(&format!(" GROUP BY {list} ORDER BY {list}"));
        }
        CompiledSql {
            sql,
            tenant: tenant.to_owned(),
        }
    }

    /// Profitability's inputs ([`super::profitability::Inputs`]), each in the result shape of
    /// [`CompiledSql`] (`d0`..`d3`, `value`, `people`): revenue (project, client, month,
    /// currency), hours (login, project, month) over the whole months of the range, cost
    /// (employee, month, currency), staff (employee, login) and projects (project, client).
    pub fn profitability_sql(&self, dialect: Dialect, viewer: &Viewer) -> ProfitabilitySql {
        let tenant = viewer.tenant_id.as_str();
        let f = self.facts(dialect, tenant);
        let range = self.range();
        let first = self.from.with_day(1).unwrap_or(self.from);
        let last = self
            .to
            .checked_add_months(chrono::Months::new(1))
            .and_then(|next| next.with_day(1))
            .and_then(|next| next.pred_opt())
            .unwrap_or(self.to);
        let months = format!(
            "day >= '{}' AND day <= '{}'",
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        );
        let (int, uint) = match dialect {
            Dialect::ClickHouse => ("toInt64", "toUInt64"),
            Dialect::DataFusion => ("", ""),
        };
        let cast = |expr: &str, unsigned: bool| match dialect {
            Dialect::ClickHouse => format!("{}({expr})", if unsigned { uint } else { int }),
            Dialect::DataFusion => format!(
                "CAST({expr} AS {})",
                if unsigned {
                    "BIGINT UNSIGNED"
                } else {
                    "BIGINT"
                }
            ),
        };
        let zero = cast("0", true);
        let sql = |select: &str, kind: &str, range: &str, group: &str| {
            let mut sql =
                format!("SELECT {select}, {zero} AS people FROM {f} AS f WHERE kind = '{kind}'");
            if !range.is_empty() {
                sql.push_str(&format!(" AND {range}"));
            }
            if !group.is_empty() {
                sql.push_str(&format!(" GROUP BY {group} ORDER BY {group}"));
            }
            CompiledSql {
                sql,
                tenant: tenant.to_owned(),
            }
        };
        let sum = |column: &str| cast(&format!("SUM({column})"), false);
        ProfitabilitySql {
            revenue: sql(
                &format!(
                    "project_id AS d0, client_id AS d1, month AS d2, currency AS d3, {} AS value",
                    sum("amount")
                ),
                "invoice_base",
                &range,
                "project_id, client_id, month, currency",
            ),
            hours: if self.reads_rollups(dialect) {
                let list = "user_id, project_id, month";
                CompiledSql {
                    sql: format!(
                        "SELECT user_id AS d0, project_id AS d1, month AS d2, '' AS d3, \
                         {} AS value, {zero} AS people FROM {} AS f GROUP BY {list} \
                         ORDER BY {list}",
                        sum("quantity"),
                        self.rolled_up_time(dialect, tenant, first, last, false)
                    ),
                    tenant: tenant.to_owned(),
                }
            } else {
                sql(
                    &format!(
                        "user_id AS d0, project_id AS d1, month AS d2, '' AS d3, {} AS value",
                        sum("quantity")
                    ),
                    "time_entry",
                    &months,
                    "user_id, project_id, month",
                )
            },
            cost: sql(
                &format!(
                    "person_id AS d0, month AS d1, currency AS d2, '' AS d3, {} AS value",
                    sum("amount")
                ),
                "payroll_cost",
                &range,
                "person_id, month, currency",
            ),
            bills: sql(
                &format!(
                    "project_id AS d0, month AS d1, currency AS d2, '' AS d3, {} AS value",
                    sum("amount")
                ),
                "bill_base",
                &range,
                "project_id, month, currency",
            ),
            expenses: sql(
                &format!(
                    "project_id AS d0, month AS d1, currency AS d2, '' AS d3, {} AS value",
                    sum("amount")
                ),
                "expense_base",
                &range,
                "project_id, month, currency",
            ),
            wip: sql(
                &format!(
                    "project_id AS d0, month AS d1, currency AS d2, '' AS d3, {} AS value",
                    sum("amount")
                ),
                "time_billed",
                &format!("{range} AND {}", self.unbilled(dialect, tenant)),
                "project_id, month, currency",
            ),
            staff: sql(
                &format!(
                    "person_id AS d0, user_id AS d1, '' AS d2, '' AS d3, {} AS value",
                    cast("0", false)
                ),
                "employee",
                "",
                "",
            ),
            projects: sql(
                &format!(
                    "entity_id AS d0, client_id AS d1, '' AS d2, '' AS d3, {} AS value",
                    cast("0", false)
                ),
                "project",
                "",
                "",
            ),
        }
    }

    /// A result row from the engine's columns, with small groups suppressed.
    pub fn row(&self, columns: [String; DIMENSION_COLUMNS], value: i64, people: u64) -> MetricRow {
        let dimensions = columns.into_iter().take(self.dimensions.len()).collect();
        let suppressed = self.suppress_small_groups && people < MIN_GROUP;
        MetricRow {
            dimensions,
            value: (!suppressed).then_some(value),
        }
    }

    /// Whether a fact of this tenant on `day` (its stored day: UTC for an instant) could
    /// change this query's result (live tiles): a day either side of the range too, where an
    /// instant may fall on a local day of the range.
    pub fn covers_day(&self, day: NaiveDate) -> bool {
        let before = self.from.pred_opt().unwrap_or(self.from);
        let after = self.to.succ_opt().unwrap_or(self.to);
        day >= before && day <= after
    }
}

/// An export of the tenant's time entries in a range, as of one instant: its rows and its
/// row count read the same snapshot (facts ingested at or before `as_of_ms`). Days and weeks
/// are the tenant's (`calendar`, fixed when the export is prepared): an entry's day is the
/// local day it started on, computed from its instant at query time like every report's.
/// Exports are person-level: the caller checks [`Viewer::sees_people`] and
/// `analytics:export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of_ms: i64,
    pub calendar: Calendar,
}

/// The CSV columns of a time-entry export.
pub const EXPORT_COLUMNS: &[&str] = &[
    "time_entry_id",
    "person",
    "project",
    "day",
    "week",
    "seconds",
    "billable",
];

impl ExportQuery {
    fn source(&self) -> String {
        // An instant's local day is within a day of its UTC day (offsets stay within
        // +-14 h): entries started further out are left out before the calendar is applied.
        let day_ms = 86_400_000;
        let midnight = |day: NaiveDate| {
            day.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp_millis()
        };
        let stored = format!(
            "(SELECT * FROM facts FINAL WHERE tenant_id = {{tenant:String}} \
             AND kind = 'time_entry' AND ingested_ms <= {} \
             AND (at_ms IS NULL OR (at_ms >= {} AND at_ms < {})))",
            self.as_of_ms,
            midnight(self.from) - day_ms,
            midnight(self.to) + 2 * day_ms
        );
        format!(
            "(SELECT * FROM {} AS entries WHERE day >= '{}' AND day <= '{}')",
            on_local_calendar(
                Dialect::ClickHouse,
                &self.calendar,
                self.from,
                self.to,
                &stored
            ),
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d"),
        )
    }

    /// ClickHouse: how many rows the export has.
    pub fn count_sql(&self) -> String {
        format!("SELECT toUInt64(count()) FROM {} AS f", self.source())
    }

    /// ClickHouse: the rows, oldest day first (the format is the caller's: CSVWithNames).
    pub fn rows_sql(&self) -> String {
        format!(
            "SELECT entity_id AS time_entry_id, person_id AS person, project_id AS project, day, \
             week, quantity AS seconds, billable FROM {} AS f ORDER BY day, entity_id",
            self.source()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn viewer(scopes: &[&str]) -> Viewer {
        Viewer {
            tenant_id: "tenant-1".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn request(metric: &str, group_by: &[&str]) -> MetricRequest {
        MetricRequest {
            metric: metric.into(),
            group_by: group_by.iter().map(|s| (*s).to_owned()).collect(),
            filters: Vec::new(),
            from: day("2027-01-01"),
            to: day("2027-01-31"),
        }
    }

    fn refusal(result: Result<MetricQuery, ApiError>) -> String {
        match result {
            Err(ApiError::Rule { reason, .. }) => reason.name().to_owned(),
            other => panic!("expected a rule refusal, got {other:?}"),
        }
    }

    const TODAY: &str = "2027-02-01";

    #[test]
    fn unknown_metrics_and_dimensions_are_refused_by_name() {
        let analyst = viewer(&["analytics:read"]);
        let today = day(TODAY);
        assert_eq!(
            refusal(check(&request("happiness", &[]), &analyst, today)),
            "UNKNOWN_METRIC"
        );
        assert_eq!(
            refusal(check(&request("hours_logged", &["mood"]), &analyst, today)),
            "UNKNOWN_DIMENSION"
        );
        // A real dimension the metric does not offer.
        assert_eq!(
            refusal(check(
                &request("task_throughput", &["person"]),
                &analyst,
                today
            )),
            "UNKNOWN_DIMENSION"
        );
    }

    #[test]
    fn person_level_and_cost_need_their_scopes() {
        let analyst = viewer(&["analytics:read"]);
        let today = day(TODAY);
        assert_eq!(
            refusal(check(
                &request("hours_logged", &["person"]),
                &analyst,
                today
            )),
            "PERSON_LEVEL_FORBIDDEN"
        );
        assert_eq!(
            refusal(check(&request("labour_cost", &["month"]), &analyst, today)),
            "COST_FORBIDDEN"
        );
        let mut filtered = request("punctuality", &["week"]);
        filtered.filters = vec![("person".into(), vec!["u1".into()])];
        assert_eq!(
            refusal(check(&filtered, &analyst, today)),
            "FORBIDDEN_FILTER"
        );
        let manager = viewer(&["analytics:read", "analytics:people"]);
        let query = check(&request("hours_logged", &["person"]), &manager, today).unwrap();
        assert!(!query.suppress_small_groups);
        // Cost also needs a person-level scope to be read per person.
        let finance = viewer(&["analytics:read", "finance:read"]);
        assert!(check(&request("labour_cost", &["month"]), &finance, today).is_ok());
        assert_eq!(
            refusal(check(&request("labour_cost", &["person"]), &finance, today)),
            "PERSON_LEVEL_FORBIDDEN"
        );
    }

    #[test]
    fn ranges_are_checked() {
        let analyst = viewer(&["analytics:read"]);
        let mut reversed = request("task_throughput", &[]);
        reversed.from = day("2027-02-01");
        assert_eq!(
            refusal(check(&reversed, &analyst, day(TODAY))),
            "INVALID_RANGE"
        );
        let mut old = request("task_throughput", &[]);
        old.from = day("2010-01-01");
        old.to = day("2010-02-01");
        assert_eq!(
            refusal(check(&old, &analyst, day(TODAY))),
            "BEYOND_RETENTION"
        );
        let mut bad_filter = request("task_throughput", &[]);
        bad_filter.filters = vec![("project".into(), vec!["p' OR 1=1 --".into()])];
        assert_eq!(
            refusal(check(&bad_filter, &analyst, day(TODAY))),
            "INVALID_QUERY"
        );
    }

    #[test]
    fn money_is_always_split_by_currency_and_people_groups_are_suppressed() {
        let analyst = viewer(&["analytics:read"]);
        let query = check(
            &request("invoiced_revenue", &["project"]),
            &analyst,
            day(TODAY),
        )
        .unwrap();
        assert_eq!(
            query.dimensions,
            vec![Dimension::Project, Dimension::Currency]
        );
        assert!(!query.suppress_small_groups);
        let people = check(&request("hours_logged", &["project"]), &analyst, day(TODAY)).unwrap();
        assert!(people.suppress_small_groups);
        let row = people.row(
            ["p1".into(), String::new(), String::new(), String::new()],
            7200,
            4,
        );
        assert_eq!(row.value, None, "4 people: withheld");
        let row = people.row(
            ["p1".into(), String::new(), String::new(), String::new()],
            7200,
            5,
        );
        assert_eq!(
            (row.dimensions, row.value),
            (vec!["p1".to_owned()], Some(7200))
        );
    }

    #[test]
    fn every_compiled_query_reads_the_facts_only_through_the_tenant_filter() {
        let hr = viewer(&["analytics:read", "hr:admin", "finance:read"]);
        for (metric, rollups) in Metric::ALL
            .into_iter()
            .flat_map(|metric| [(metric, false), (metric, true)])
        {
            let query = check(&request(metric.name(), &["month"]), &hr, day(TODAY))
                .or_else(|_| check(&request(metric.name(), &[]), &hr, day(TODAY)))
                .unwrap()
                .with_time_rollups(rollups);
            for dialect in [Dialect::ClickHouse, Dialect::DataFusion] {
                let profitability = query.profitability_sql(dialect, &hr);
                let mut statements = vec![query.compile(dialect, &hr).sql];
                if metric == Metric::Profitability {
                    statements.extend([
                        profitability.revenue.sql,
                        profitability.hours.sql,
                        profitability.cost.sql,
                        profitability.wip.sql,
                    ]);
                }
                for sql in &statements {
                    // Rollups only when asked, and through the tenant filter too.
                    let rolled = sql.matches("FROM time_by_").count();
                    let filtered = match dialect {
                        Dialect::ClickHouse => {
                            sql.matches("FROM time_by_day WHERE tenant_id = {tenant:String}")
                                .count()
                                + sql
                                    .matches("FROM time_by_month WHERE tenant_id = {tenant:String}")
                                    .count()
                        }
                        Dialect::DataFusion => {
                            sql.matches("FROM time_by_day WHERE tenant_id = 'tenant-1'")
                                .count()
                                + sql
                                    .matches("FROM time_by_month WHERE tenant_id = 'tenant-1'")
                                    .count()
                        }
                    };
                    assert_eq!(rolled, filtered, "{metric:?} {dialect:?}: {sql}");
                    assert!(rolled == 0 || rollups, "{sql}");
                    // With rollups no query reads time entries from the facts.
                    if rollups {
                        let reads = match dialect {
                            Dialect::ClickHouse => "FROM facts FINAL WHERE",
                            Dialect::DataFusion => "FROM facts WHERE",
                        };
                        assert_eq!(
                            sql.matches(reads).count(),
                            sql.matches("AND kind <> 'time_entry')").count(),
                            "{sql}"
                        );
                    }
                }
                let sql = query.compile(dialect, &hr).sql;
                let reads = sql.matches("FROM facts").count();
                let filtered = match dialect {
                    Dialect::ClickHouse => sql
                        .matches("FROM facts FINAL WHERE tenant_id = {tenant:String}")
                        .count(),
                    Dialect::DataFusion => sql
                        .matches("FROM facts WHERE tenant_id = 'tenant-1'")
                        .count(),
                };
                assert!(reads + sql.matches("FROM time_by_").count() > 0, "{sql}");
                assert_eq!(reads, filtered, "{metric:?} {dialect:?}: {sql}");
            }
        }
    }

    #[test]
    fn an_export_selects_and_shows_the_local_days_of_its_tenants_calendar() {
        let utc = ExportQuery {
            from: day("2026-03-29"),
            to: day("2026-03-31"),
            as_of_ms: 1,
            calendar: Calendar::default(),
        };
        let berlin = ExportQuery {
            calendar: Calendar::new(chrono_tz::Europe::Berlin, 1).unwrap(),
            ..utc.clone()
        };
        let (utc, berlin) = (utc.rows_sql(), berlin.rows_sql());
        // The tenant filter is bound, the day computed from the instant with the zone's
        // offsets (+1 h and, from 29 March 01:00 UTC, +2 h), and the range on that day.
        for sql in [&utc, &berlin] {
            assert!(sql.contains("tenant_id = {tenant:String}"), "{sql}");
            assert!(
                sql.contains("day >= '2026-03-29' AND day <= '2026-03-31'"),
                "{sql}"
            );
        }
        assert!(
            berlin.contains("THEN 3600000") && berlin.contains("ELSE 7200000"),
            "{berlin}"
        );
        assert!(!utc.contains("3600000"), "{utc}");
    }

    #[test]
    fn ratios_divide_as_integers_on_both_engines() {
        let hr = viewer(&["analytics:read", "hr:admin"]);
        let query = check(&request("utilization", &["person"]), &hr, day(TODAY)).unwrap();
        let clickhouse = query.compile(Dialect::ClickHouse, &hr).sql;
        assert!(clickhouse.contains("intDiv(COALESCE(SUM(num), 0) * 10000, COALESCE(SUM(den), 0))"));
        let datafusion = query.compile(Dialect::DataFusion, &hr).sql;
        assert!(datafusion.contains("(COALESCE(SUM(num), 0) * 10000) / COALESCE(SUM(den), 0)"));
        // January 2027: 21 working days.
        assert_eq!(working_days(day("2027-01-01"), day("2027-01-31")), 21);
        assert!(clickhouse.contains(&(21 * WORKDAY_SECONDS).to_string()));
    }
}
