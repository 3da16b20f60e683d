//! `analyticsReconciliation` (the domains' control totals against the facts, per day),
//! `replayAnalyticsEvents` and `analyticsReplay` (rebuilding facts from the event log).

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::money::{Currency, Decimal};
use erp_kit::scalars::{Date, DateTime};

use super::metrics::{analytics, decimal, viewer};
use crate::app::{ReplayReason, ReplayRun, ReplayState};
use crate::domain::reconciliation::{Line, Status};

/// How a day's facts compare with its domain's control total.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ReconciliationStatus {
    /// The facts' count and sum are the control total's.
    Matched,
    /// They differ: facts are missing (or more than the domain counts).
    Drift,
    /// Facts on a day the domain published no control total for.
    Uncontrolled,
}

impl From<Status> for ReconciliationStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Matched => ReconciliationStatus::Matched,
            Status::Drift => ReconciliationStatus::Drift,
            Status::Uncontrolled => ReconciliationStatus::Uncontrolled,
        }
    }
}

/// One source's day.
#[derive(SimpleObject)]
pub struct ReconciliationDay {
    /// The controlled source (`invoices`: finance's posted customer invoices by invoice date,
    /// in the base currency).
    pub source: String,
    /// `YYYY-MM-DD`.
    pub day: Date,
    /// How the day's facts compare with its control total.
    pub status: ReconciliationStatus,
    /// The domain's count; null without a control total.
    pub control_count: Option<Decimal>,
    /// The domain's sum in minor units of `currency`; null without a control total.
    pub control_amount: Option<Decimal>,
    /// The control total's currency; null without one.
    pub currency: Option<Currency>,
    /// The facts analytics holds for the day.
    pub fact_count: Decimal,
    /// Their sum, in minor units.
    pub fact_amount: Decimal,
}

/// The reconciliation of a range.
#[derive(SimpleObject)]
pub struct AnalyticsReconciliation {
    /// Every controlled source's days with a control total or facts, by source then day.
    pub days: Vec<ReconciliationDay>,
    /// When it was read.
    pub as_of: DateTime,
}

/// Why a replay runs.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticsReplayReason {
    /// An administrator asked.
    Requested,
    /// The reconciliation job found a day drifting.
    Drift,
}

/// Where a replay is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticsReplayState {
    /// Reading the event log.
    Running,
    /// Caught up: every retained event of its sources read, their facts stored.
    Done,
}

/// A replay of the caller's tenant's events into its facts.
#[derive(SimpleObject)]
pub struct AnalyticsReplay {
    /// Names the replay in `analyticsReplay`.
    pub id: ID,
    /// The source domains read.
    pub sources: Vec<String>,
    /// Why it runs.
    pub reason: AnalyticsReplayReason,
    /// Where it is.
    pub state: AnalyticsReplayState,
    /// Messages read from the log (every tenant's; only the caller's make facts).
    pub consumed: Decimal,
    /// The tenant's events whose facts were stored again (collapsing into those present).
    pub handled: Decimal,
    /// When it started.
    pub started_at: DateTime,
    /// When it caught up with the log; null while running.
    pub finished_at: Option<DateTime>,
}

/// What to replay.
#[derive(InputObject)]
pub struct ReplayAnalyticsEventsInput {
    /// Source domains (`employee`, `pmo`, `finance`, `crm`, `ops`, `marketing`); every one
    /// when empty.
    #[graphql(default)]
    pub sources: Vec<String>,
}

fn instant(at: chrono::DateTime<chrono::Utc>) -> DateTime {
    DateTime::from_millis(at.timestamp_millis()).unwrap_or_else(DateTime::now)
}

fn count(value: u64) -> Result<Decimal> {
    Ok(decimal(i64::try_from(value).unwrap_or(i64::MAX))?)
}

impl TryFrom<ReplayRun> for AnalyticsReplay {
    type Error = async_graphql::Error;

    fn try_from(run: ReplayRun) -> Result<Self> {
        Ok(AnalyticsReplay {
            id: ID(run.id),
            sources: run.sources,
            reason: match run.reason {
                ReplayReason::Requested => AnalyticsReplayReason::Requested,
                ReplayReason::Drift => AnalyticsReplayReason::Drift,
            },
            state: match run.state {
                ReplayState::Running => AnalyticsReplayState::Running,
                ReplayState::Done => AnalyticsReplayState::Done,
            },
            consumed: count(run.consumed)?,
            handled: count(run.handled)?,
            started_at: instant(run.started_at),
            finished_at: run.finished_at.map(instant),
        })
    }
}

fn day_of(line: Line) -> Result<ReconciliationDay> {
    let day = chrono::NaiveDate::parse_from_str(&line.day, "%Y-%m-%d")
        .map_err(|_| erp_kit::ApiError::internal("a stored day that is not a date"))?;
    Ok(ReconciliationDay {
        source: line.source,
        day: Date::from(day),
        status: line.status.into(),
        control_count: line.control.map(|c| decimal(c.count)).transpose()?,
        control_amount: line.control.map(|c| decimal(c.amount)).transpose()?,
        currency: match line.control {
            Some(_) => Some(Currency::parse(&line.currency).map_err(|_| {
                erp_kit::ApiError::internal("a control total in an unknown currency")
            })?),
            None => None,
        },
        fact_count: decimal(line.facts.count)?,
        fact_amount: decimal(line.facts.amount)?,
    })
}

#[derive(Default)]
pub struct ReconciliationQuery;

#[Object]
impl ReconciliationQuery {
    /// The domains' control totals against the facts analytics holds, per source and day, for
    /// the caller's tenant.
    #[graphql(requires_scopes = "analytics:read")]
    async fn analytics_reconciliation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (the records' own dates, e.g. an invoice's date).")] from: Date,
        #[graphql(desc = "Last day, included.")] to: Date,
    ) -> Result<AnalyticsReconciliation> {
        let viewer = viewer(ctx)?;
        let (lines, as_of) = analytics(ctx)?
            .reconciliation(&viewer, from.naive(), to.naive())
            .await?;
        Ok(AnalyticsReconciliation {
            days: lines.into_iter().map(day_of).collect::<Result<_>>()?,
            as_of: instant(as_of),
        })
    }

    /// A replay of the caller's tenant (administrators: `analytics:admin`); null when unknown
    /// (or forgotten: the last 100 are kept).
    #[graphql(requires_scopes = "analytics:admin")]
    async fn analytics_replay(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The replay's id (from `replayAnalyticsEvents`).")] id: ID,
    ) -> Result<Option<AnalyticsReplay>> {
        let viewer = viewer(ctx)?;
        analytics(ctx)?
            .replay_run(&viewer, &id)?
            .map(AnalyticsReplay::try_from)
            .transpose()
    }
}

#[derive(Default)]
pub struct ReconciliationMutation;

#[Object]
impl ReconciliationMutation {
    /// Rebuilds the caller's tenant's facts from the event log: its sources' topics read again
    /// from the oldest retained event (facts are idempotent: what is stored stays, what is
    /// missing comes back). Administrators only (`analytics:admin`).
    #[graphql(requires_scopes = "analytics:admin")]
    async fn replay_analytics_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The sources to replay.")] input: ReplayAnalyticsEventsInput,
    ) -> Result<AnalyticsReplay> {
        let viewer = viewer(ctx)?;
        let run = analytics(ctx)?.replay(&viewer, &input.sources).await?;
        AnalyticsReplay::try_from(run)
    }
}
