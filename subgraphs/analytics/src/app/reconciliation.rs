//! Reconciliation: the domains' control totals against the facts, on read
//! (`analyticsReconciliation`) and as a job that checks every recently stored control total,
//! raises the drift metric, and requests a replay of the source's topic for a day that drifts
//! twice in a row (once: its facts may still be in flight) with the same figures (a replay
//! that did not mend it is not repeated: the drift stays raised for an operator).
//!
//! Metrics (on the service's `/metrics`):
//! - `erp_analytics_reconciliation_drift{source}`: tenant-days drifting at the last check;
//! - `erp_analytics_reconciliation_checks_total{source,outcome}`: days checked (`matched`,
//!   `drift`);
//! - `erp_analytics_replays_total{reason}`: replays started (`requested`, `drift`), counted
//!   by the replays themselves (a request while the same replay runs starts none).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use erp_kit::{ApiError, ApiResult};

use super::replay::{ReplayReason, Replays};
use super::Analytics;
use crate::domain::facts::FactKind;
use crate::domain::metrics::{recent_controls_sql, reconciliation_sql, Viewer, MAX_RANGE_DAYS};
use crate::domain::reasons;
use crate::domain::reconciliation::{
    controlled, parse_control_entity, reconcile, Control, Line, Status, Totals, CONTROLLED,
};
use crate::store::StoreError;

/// The reconciliation's metrics.
#[derive(Clone)]
pub struct ReconciliationMetrics {
    pub drift: IntGaugeVec,
    pub checks: IntCounterVec,
    pub replays: IntCounterVec,
}

impl ReconciliationMetrics {
    /// Registers them (a registry that has them already keeps its own: these count apart).
    pub fn register(registry: &Registry) -> Self {
        let drift = IntGaugeVec::new(
            Opts::new(
                "analytics_reconciliation_drift",
                "Tenant-days whose facts disagree with their domain's control total (last check)",
            ),
            &["source"],
        )
        .expect("static metric definition");
        let checks = IntCounterVec::new(
            Opts::new(
                "analytics_reconciliation_checks_total",
                "Tenant-days reconciled, by outcome",
            ),
            &["source", "outcome"],
        )
        .expect("static metric definition");
        let replays = IntCounterVec::new(
            Opts::new(
                "analytics_replays_total",
                "Event replays started, by reason",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(drift.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(checks.clone()),
            Box::new(replays.clone()),
        ] {
            let _ = registry.register(collector);
        }
        for c in CONTROLLED {
            drift.with_label_values(&[c.source]).set(0);
        }
        Self {
            drift,
            checks,
            replays,
        }
    }
}

/// How often the job runs and how far back it looks.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Between two checks.
    pub every: Duration,
    /// Control totals stored this long ago or since are checked.
    pub lookback: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(600),
            lookback: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

impl Analytics {
    /// Every controlled source's days from `from` to `to` for the viewer's tenant.
    pub async fn reconciliation(
        &self,
        viewer: &Viewer,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<(Vec<Line>, DateTime<Utc>)> {
        if from > to || (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(ApiError::rule(
                reasons::INVALID_RANGE,
                format!("a reconciliation covers 1 to {MAX_RANGE_DAYS} days, from before to"),
            )
            .on_field("to"));
        }
        let as_of = Utc::now();
        let lines = self.reconcile_tenant(&viewer.tenant_id, from, to).await?;
        Ok((lines, as_of))
    }

    async fn reconcile_tenant(
        &self,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Line>, ApiError> {
        let kinds: Vec<&str> = CONTROLLED.iter().map(|c| c.kind.as_str()).collect();
        let sql = reconciliation_sql(self.store.dialect(), tenant, &kinds, from, to)?;
        let mut controls = Vec::new();
        for row in self.store.query(&sql.controls).await? {
            let Some((source, day)) = parse_control_entity(&row.dimensions[0]) else {
                continue;
            };
            controls.push(Control {
                source: source.to_owned(),
                day: day.to_owned(),
                currency: row.dimensions[2].clone(),
                totals: Totals {
                    count: i64::try_from(row.people).unwrap_or(i64::MAX),
                    amount: row.value,
                },
            });
        }
        let mut facts = BTreeMap::new();
        for row in self.store.query(&sql.facts).await? {
            let Some(source) = FactKind::parse(&row.dimensions[0])
                .and_then(|kind| CONTROLLED.iter().find(|c| c.kind == kind))
            else {
                continue;
            };
            facts.insert(
                (source.source.to_owned(), row.dimensions[1].clone()),
                Totals {
                    count: i64::try_from(row.people).unwrap_or(i64::MAX),
                    amount: row.value,
                },
            );
        }
        Ok(reconcile(&controls, &facts))
    }
}

/// The figures a drift was seen with: a replay is requested once per figures.
type Figures = (Option<Totals>, Totals);

/// The job's memory between checks.
#[derive(Default)]
struct Seen {
    /// (tenant, source, day) -> the figures of its drift at the last check.
    drifting: HashMap<(String, String, String), Figures>,
    /// (tenant, source, day) -> the figures a replay was requested for.
    replayed: HashMap<(String, String, String), Figures>,
}

/// Whether the live consumer group has caught up with its topics (a check while it reads a
/// backlog would find every day whose facts are still ahead of it drifting).
pub type CaughtUp = Arc<dyn Fn() -> bool + Send + Sync>;

/// Starts the job: every `config.every`, once the live group has caught up, the control
/// totals stored within `config.lookback`.
pub fn spawn_reconciler(
    analytics: Analytics,
    replays: Option<Arc<dyn Replays>>,
    metrics: ReconciliationMetrics,
    config: ReconcilerConfig,
    caught_up: CaughtUp,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            tokio::time::sleep(config.every).await;
            if !caught_up() {
                continue;
            }
            if let Err(err) =
                check(&analytics, replays.as_deref(), &metrics, &config, &mut seen).await
            {
                tracing::warn!(error = %err, "reconciliation not run");
            }
        }
    })
}

async fn check(
    analytics: &Analytics,
    replays: Option<&dyn Replays>,
    metrics: &ReconciliationMetrics,
    config: &ReconcilerConfig,
    seen: &mut Seen,
) -> Result<(), StoreError> {
    let lookback = chrono::Duration::from_std(config.lookback).unwrap_or_default();
    let since = (Utc::now() - lookback).timestamp_millis();
    let work = analytics
        .store
        .query(&recent_controls_sql(analytics.store.dialect(), since))
        .await?;
    let mut days: BTreeMap<String, BTreeSet<NaiveDate>> = BTreeMap::new();
    for row in work {
        if let Ok(day) = NaiveDate::parse_from_str(&row.dimensions[1], "%Y-%m-%d") {
            days.entry(row.dimensions[0].clone())
                .or_default()
                .insert(day);
        }
    }
    let mut drifting: BTreeMap<&str, i64> = CONTROLLED.iter().map(|c| (c.source, 0)).collect();
    let mut still = HashMap::new();
    for (tenant, tenant_days) in &days {
        let (Some(first), Some(last)) = (tenant_days.first(), tenant_days.last()) else {
            continue;
        };
        let lines = match analytics.reconcile_tenant(tenant, *first, *last).await {
            Ok(lines) => lines,
            Err(err) => {
                tracing::warn!(tenant, error = ?err, "tenant not reconciled");
                continue;
            }
        };
        let mut replay_domains: BTreeSet<&str> = BTreeSet::new();
        for line in lines {
            let Some(control) = line.control else {
                continue;
            };
            let in_work = NaiveDate::parse_from_str(&line.day, "%Y-%m-%d")
                .is_ok_and(|day| tenant_days.contains(&day));
            let Some(source) = controlled(&line.source) else {
                continue;
            };
            if !in_work {
                continue;
            }
            metrics
                .checks
                .with_label_values(&[source.source, line.status.as_str()])
                .inc();
            let key = (tenant.clone(), line.source.clone(), line.day.clone());
            if line.status != Status::Drift {
                seen.replayed.remove(&key);
                continue;
            }
            *drifting.entry(source.source).or_default() += 1;
            let figures = (Some(control), line.facts);
            // Twice in a row with the same figures: not in flight. Replayed once per figures.
            if seen.drifting.get(&key) == Some(&figures)
                && seen.replayed.get(&key) != Some(&figures)
            {
                replay_domains.insert(source.domain);
                seen.replayed.insert(key.clone(), figures);
            }
            still.insert(key, figures);
        }
        if let (Some(replays), false) = (replays, replay_domains.is_empty()) {
            let sources: Vec<String> = replay_domains.iter().map(|d| (*d).to_owned()).collect();
            match replays.start(tenant, &sources, ReplayReason::Drift).await {
                Ok(run) => {
                    tracing::warn!(tenant, replay = %run.id, sources = ?sources, "reconciliation drift: replaying");
                }
                Err(err) => tracing::warn!(tenant, error = %err, "drift replay not started"),
            }
        }
    }
    seen.drifting = still;
    for (source, count) in drifting {
        metrics.drift.with_label_values(&[source]).set(count);
    }
    Ok(())
}
