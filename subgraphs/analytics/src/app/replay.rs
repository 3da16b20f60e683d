//! Replays: rebuilding a tenant's facts from the event log. A replay reads the source domains'
//! topics from the oldest message the bus retains (a consumer group of its own, so the live
//! group's positions are untouched) and hands their facts to the same writer; facts are keyed
//! by (tenant, kind, entity) with the event's version, so whatever is already stored collapses
//! into itself and only what was missing comes back. Admin-only (`analytics:admin`), for the
//! caller's tenant; the reconciliation job requests one when a day drifts.
//!
//! [`Replayer`] runs them (the events module's handler and inbox, a consumer each).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use erp_kit::crypto::KeyEncryptionKey;
use erp_kit::events::{Consumer, ConsumerConfig};
use erp_kit::{ApiError, ApiResult};

use super::Analytics;
use crate::domain::metrics::Viewer;
use crate::domain::reasons;
use crate::events::{FactInbox, FactsHandler, SOURCE_DOMAINS};
use crate::store::writer::FactWriter;
use crate::store::SharedFacts;

/// The scope a replay needs.
pub const ADMIN_SCOPE: &str = "analytics:admin";

/// Why a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayReason {
    /// An administrator asked.
    Requested,
    /// The reconciliation job found a day drifting.
    Drift,
}

impl ReplayReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayReason::Requested => "requested",
            ReplayReason::Drift => "drift",
        }
    }
}

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayState {
    /// Reading the log.
    Running,
    /// Caught up with the log (every retained event read, its facts stored).
    Done,
}

/// A replay and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRun {
    pub id: String,
    pub tenant_id: String,
    /// The source domains read.
    pub sources: Vec<String>,
    pub reason: ReplayReason,
    pub state: ReplayState,
    /// Messages read from the log (every tenant's: only this tenant's make facts).
    pub consumed: u64,
    /// This tenant's events whose facts were handed to the writer.
    pub handled: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Starts and follows replays (the events module's consumers).
#[async_trait::async_trait]
pub trait Replays: Send + Sync + 'static {
    /// Starts replaying `sources` (domains) for `tenant`; for a [`ReplayReason::Drift`], a
    /// drift replay of the same tenant and sources already running is returned instead.
    async fn start(
        &self,
        tenant: &str,
        sources: &[String],
        reason: ReplayReason,
    ) -> Result<ReplayRun, String>;

    /// A replay of `tenant` by id.
    fn run(&self, tenant: &str, id: &str) -> Option<ReplayRun>;
}

impl Analytics {
    /// Replays `sources` (every source domain when empty) for the viewer's tenant.
    pub async fn replay(&self, viewer: &Viewer, sources: &[String]) -> ApiResult<ReplayRun> {
        if !viewer.scopes.iter().any(|scope| scope == ADMIN_SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "replaying events needs the `{ADMIN_SCOPE}` scope"
            )));
        }
        let mut chosen: Vec<String> = Vec::new();
        for source in sources {
            if !SOURCE_DOMAINS.contains(&source.as_str()) {
                return Err(ApiError::rule(
                    reasons::UNKNOWN_SOURCE,
                    format!(
                        "analytics reads no source `{source}` (it reads: {})",
                        SOURCE_DOMAINS.join(", ")
                    ),
                )
                .on_field("sources"));
            }
            if !chosen.contains(source) {
                chosen.push(source.clone());
            }
        }
        if chosen.is_empty() {
            chosen = SOURCE_DOMAINS.iter().map(|s| (*s).to_owned()).collect();
        }
        let replays = self.replays.as_ref().ok_or_else(|| {
            ApiError::rule(
                reasons::REPLAY_UNAVAILABLE,
                "this analytics service has no event log to replay",
            )
        })?;
        replays
            .start(&viewer.tenant_id, &chosen, ReplayReason::Requested)
            .await
            .map_err(|err| ApiError::internal(format!("starting a replay: {err}")))
    }

    /// A replay of the viewer's tenant (admin-only, like starting one).
    pub fn replay_run(&self, viewer: &Viewer, id: &str) -> ApiResult<Option<ReplayRun>> {
        if !viewer.scopes.iter().any(|scope| scope == ADMIN_SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "replays need the `{ADMIN_SCOPE}` scope"
            )));
        }
        Ok(self
            .replays
            .as_ref()
            .and_then(|replays| replays.run(&viewer.tenant_id, id)))
    }
}

/// The replays: each a consumer group of its own reading the source
/// domains' topics from the oldest retained message (a Kafka group new to a topic starts at
/// `earliest`; the in-process log buses keep their retained log), serving one tenant, into the
/// same fact writer as the live group. Done once the group has no lag left; its consumer then
/// stops, committing its positions.
pub struct Replayer {
    bus: erp_kit::events::SharedBus,
    /// Taken (dropped) by [`Replayer::close`]: the writer ends once every handle is gone.
    writer: parking_lot::Mutex<Option<FactWriter>>,
    store: SharedFacts,
    transit: Arc<dyn KeyEncryptionKey>,
    metrics: erp_kit::telemetry::Metrics,
    started: prometheus::IntCounterVec,
    /// The live group's name: a replay's is `<group>.replay.<id>`.
    group: String,
    commit_every: u64,
    runs: Arc<parking_lot::Mutex<ReplayRuns>>,
}

#[derive(Default)]
struct ReplayRuns {
    /// Newest last; at most [`KEPT_REPLAYS`].
    runs: Vec<ReplayRun>,
    /// The consumers of the running ones, by id.
    consumers: std::collections::HashMap<String, erp_kit::events::ConsumerHandle>,
}

/// Finished replays remembered (for `analyticsReplay`).
const KEPT_REPLAYS: usize = 100;
/// How often a replay's progress is read.
const REPLAY_POLL: std::time::Duration = std::time::Duration::from_millis(250);

impl Replayer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bus: erp_kit::events::SharedBus,
        writer: FactWriter,
        store: SharedFacts,
        transit: Arc<dyn KeyEncryptionKey>,
        metrics: erp_kit::telemetry::Metrics,
        started: prometheus::IntCounterVec,
        group: String,
        commit_every: u64,
    ) -> Self {
        Self {
            bus,
            writer: parking_lot::Mutex::new(Some(writer)),
            store,
            transit,
            metrics,
            started,
            group,
            commit_every,
            runs: Arc::default(),
        }
    }

    /// Stops the running replays (committing what they stored) and lets the writer go.
    pub async fn close(&self) {
        self.writer.lock().take();
        let consumers: Vec<_> = {
            let mut runs = self.runs.lock();
            runs.consumers.drain().collect()
        };
        for (_, consumer) in consumers {
            consumer.shutdown().await;
        }
    }
}

#[async_trait::async_trait]
impl Replays for Replayer {
    async fn start(
        &self,
        tenant: &str,
        sources: &[String],
        reason: ReplayReason,
    ) -> Result<ReplayRun, String> {
        let writer = self
            .writer
            .lock()
            .clone()
            .ok_or_else(|| "the service is stopping".to_owned())?;
        let mut runs = self.runs.lock();
        // The job asks again while a drift lasts: one of its replays at a time. An
        // administrator's request always starts one (replays are idempotent).
        if reason == ReplayReason::Drift {
            if let Some(running) = runs.runs.iter().find(|run| {
                run.state == ReplayState::Running
                    && run.tenant_id == tenant
                    && run.sources == sources
            }) {
                return Ok(running.clone());
            }
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        let topics: Vec<String> = sources
            .iter()
            .map(|source| erp_kit::events::topic_for(source))
            .collect();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let consumer = Consumer::new(
            ConsumerConfig {
                commit_every: self.commit_every,
                tenants: Some(vec![tenant.to_owned()]),
                ..ConsumerConfig::new(format!("{}.replay.{id}", self.group), &topic_refs)
            },
            self.bus.clone(),
            FactInbox::new(writer, self.store.clone()),
            FactsHandler::new(self.transit.clone()),
            &self.metrics,
        )
        .spawn();
        let run = ReplayRun {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            sources: sources.to_vec(),
            reason,
            state: ReplayState::Running,
            consumed: 0,
            handled: 0,
            started_at: Utc::now(),
            finished_at: None,
        };
        runs.consumers.insert(id.clone(), consumer);
        runs.runs.push(run.clone());
        if runs.runs.len() > KEPT_REPLAYS {
            if let Some(oldest) = runs
                .runs
                .iter()
                .position(|run| run.state == ReplayState::Done)
            {
                runs.runs.remove(oldest);
            }
        }
        drop(runs);
        self.started.with_label_values(&[reason.as_str()]).inc();
        tokio::spawn(follow(self.runs.clone(), id));
        Ok(run)
    }

    fn run(&self, tenant: &str, id: &str) -> Option<ReplayRun> {
        self.runs
            .lock()
            .runs
            .iter()
            .find(|run| run.id == id && run.tenant_id == tenant)
            .cloned()
    }
}

/// Follows replay `id` until its group has no lag left, then stops its consumer.
async fn follow(runs: Arc<parking_lot::Mutex<ReplayRuns>>, id: String) {
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(REPLAY_POLL).await;
        let caught_up = {
            let mut guard = runs.lock();
            let Some(stats) = guard.consumers.get(&id).map(|consumer| consumer.stats()) else {
                // Closed with the service.
                return;
            };
            if let Some(run) = guard.runs.iter_mut().find(|run| run.id == id) {
                run.consumed = stats.consumed;
                run.handled = stats.handled;
            }
            // A lag is known once the group committed; 0 after a commit interval: caught up.
            stats.lag == Some(0) && started.elapsed() >= std::time::Duration::from_secs(2)
        };
        if caught_up {
            let consumer = runs.lock().consumers.remove(&id);
            if let Some(consumer) = consumer {
                consumer.shutdown().await;
            }
            let mut guard = runs.lock();
            if let Some(run) = guard.runs.iter_mut().find(|run| run.id == id) {
                run.state = ReplayState::Done;
                run.finished_at = Some(Utc::now());
            }
            return;
        }
    }
}
