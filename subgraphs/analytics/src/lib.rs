//! The analytics subgraph: every domain's events into facts (ClickHouse in production,
//! DataFusion over the state directory in the one-process mode), one metrics layer compiled to
//! each engine's SQL with the tenant filter and field scopes enforced by its compiler, live
//! tiles, streamed CSV exports and Parquet exports of metric tables.
//!
//! The floor plan (who imports whom): `graphql` -> `app` -> `store`, `domain`; `events` ->
//! `store`, `domain`; `store` -> `domain`; `domain` imports nothing of this crate. This file
//! wires them.

pub mod app;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod store;

use std::sync::Arc;

use erp_kit::crypto::{KeyEncryptionKey, LocalKek};
use erp_kit::events::{Consumer, ConsumerConfig, ConsumerHandle};
use erp_kit::http::{HttpState, Readiness};
use erp_kit::runtime::Runtime;

pub use app::Analytics;
/// The analytics rule reasons (`extensions.reason`), for the error catalogue.
pub use domain::reasons;
pub use graphql::AnalyticsSchema;
use store::writer::{FactWriter, WriterConfig, WriterTask};
use store::SharedFacts;

/// The port the analytics subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4008;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(
    analytics: Option<Analytics>,
    limits: &erp_kit::config::Limits,
) -> AnalyticsSchema {
    erp_kit::schema::finish(graphql::schema_builder(analytics), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// How the service consumes and writes.
#[derive(Debug, Clone)]
pub struct AnalyticsOptions {
    /// The consumer group ([`events::FACTS_GROUP`]).
    pub group: String,
    /// The topics read ([`events::source_topics`]).
    pub topics: Vec<String>,
    pub writer: WriterConfig,
    /// Namespaces live channels and export tickets in a shared cache.
    pub cache_prefix: String,
    /// The reconciliation job (None: not run).
    pub reconciler: Option<app::ReconcilerConfig>,
    /// Only these tenants' events make facts (a test's own on a shared broker); all when none.
    pub tenants: Option<Vec<String>>,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        Self {
            group: events::FACTS_GROUP.to_owned(),
            topics: events::source_topics(),
            writer: WriterConfig::default(),
            cache_prefix: "erp".to_owned(),
            reconciler: Some(app::ReconcilerConfig::default()),
            tenants: None,
        }
    }
}

/// The environment variable naming the embedded engine's directory (`erp-os all` uses
/// `<state-dir>/analytics`).
pub const DATA_DIR_ENV: &str = "ERP_ANALYTICS_DATA_DIR";

/// The store named by the configuration: ClickHouse at `CLICKHOUSE_URL` (its tenant queries
/// isolated by a row policy with `CLICKHOUSE_TENANT_USER`), else (built with the `embedded`
/// feature) the DataFusion engine over `ERP_ANALYTICS_DATA_DIR`.
pub async fn connect_store() -> anyhow::Result<SharedFacts> {
    if let Some(config) = store::clickhouse::ClickHouseConfig::from_env() {
        let mut store = store::clickhouse::ClickHouseStore::new(&config);
        if let Some(isolation) = store::clickhouse::TenantIsolation::from_env() {
            store = store.with_tenant_isolation(isolation);
        }
        return Ok(Arc::new(store));
    }
    let dir = std::env::var_os(DATA_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    embedded_store(dir.as_deref())
}

/// The embedded engine over `dir` (in memory only without one).
#[cfg(feature = "embedded")]
pub fn embedded_store(dir: Option<&std::path::Path>) -> anyhow::Result<SharedFacts> {
    Ok(Arc::new(store::embedded::EmbeddedStore::open(dir)?))
}

/// Without the `embedded` feature there is no engine but ClickHouse.
#[cfg(not(feature = "embedded"))]
pub fn embedded_store(dir: Option<&std::path::Path>) -> anyhow::Result<SharedFacts> {
    let _ = dir;
    anyhow::bail!(
        "analytics needs CLICKHOUSE_URL (this build has no embedded engine: enable the `embedded` feature)"
    )
}

struct AnalyticsReadiness {
    store: SharedFacts,
}

#[async_trait::async_trait]
impl Readiness for AnalyticsReadiness {
    async fn check(&self) -> Result<(), String> {
        self.store.ping().await
    }
}

/// A running analytics subgraph: its HTTP router (GraphQL and export links), its use cases,
/// its consumer and its fact writer (stopped when dropped; [`AnalyticsApp::shutdown`] stops
/// them in order, flushing the facts in hand).
pub struct AnalyticsApp {
    pub router: axum::Router,
    pub analytics: Analytics,
    pub consumer: ConsumerHandle,
    pub writer: WriterTask,
    /// Replays in progress hold the writer: closed before it finishes.
    pub replayer: Arc<app::replay::Replayer>,
    /// The reconciliation job, if run.
    pub reconciler: Option<tokio::task::JoinHandle<()>>,
}

impl AnalyticsApp {
    /// Stops consuming, then stores the facts in hand.
    pub async fn shutdown(self) {
        if let Some(job) = &self.reconciler {
            job.abort();
        }
        self.consumer.shutdown().await;
        self.replayer.close().await;
        self.writer.finish().await;
    }

    /// Stops at once, as a crash would: the facts not stored yet are lost, and so are the
    /// positions not committed (their events come again to the next consumer of the group).
    pub async fn kill(self) {
        if let Some(job) = &self.reconciler {
            job.abort();
        }
        self.consumer.kill().await;
        self.replayer.close().await;
        self.writer.kill().await;
    }
}

/// Prepares the store, starts the consumer and its writer, and builds the HTTP router.
pub async fn start(
    runtime: &Runtime,
    store: SharedFacts,
    options: AnalyticsOptions,
) -> anyhow::Result<AnalyticsApp> {
    store
        .prepare()
        .await
        .map_err(|err| anyhow::anyhow!("preparing the analytics store: {err}"))?;
    let (writer, writer_task) = FactWriter::spawn(
        store.clone(),
        runtime.cache.clone(),
        options.cache_prefix.clone(),
        options.writer.clone(),
    );
    // The key the domains seal values in transit with (payroll's employer costs): the KEK.
    let transit: Arc<dyn KeyEncryptionKey> =
        Arc::new(LocalKek::load_or_create(&runtime.config.kek_file)?);
    let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
    // Each position commit first stores the writer's batch: commit about once per second (the
    // interval), or when a full batch waits, not per handful of events.
    let commit_every = u64::try_from(options.writer.max_rows).unwrap_or(u64::MAX);
    let consumer = Consumer::new(
        ConsumerConfig {
            commit_every,
            tenants: options.tenants.clone(),
            ..ConsumerConfig::new(options.group.clone(), &topics)
        },
        runtime.bus.clone(),
        events::FactInbox::new(writer.clone(), store.clone()),
        events::FactsHandler::new(transit.clone()),
        &runtime.metrics,
    )
    .spawn();
    let reconciliation = app::ReconciliationMetrics::register(runtime.metrics.registry());
    let replayer = Arc::new(app::replay::Replayer::new(
        runtime.bus.clone(),
        writer,
        store.clone(),
        transit,
        runtime.metrics.clone(),
        reconciliation.replays.clone(),
        options.group.clone(),
        commit_every,
    ));
    let analytics = Analytics::new(store.clone(), runtime.cache.clone(), options.cache_prefix)
        .with_replays(replayer.clone());
    let reconciler = options.reconciler.map(|config| {
        let lag = consumer.lag_reader();
        app::reconciliation::spawn_reconciler(
            analytics.clone(),
            analytics.replays.clone(),
            reconciliation,
            config,
            Arc::new(move || lag.lag() == Some(0)),
        )
    });
    let schema = build_schema(Some(analytics.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        verifier: Arc::new(runtime.verifier.clone()),
        readiness: Arc::new(AnalyticsReadiness { store }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    })
    .merge(graphql::export::routes(analytics.clone()));
    Ok(AnalyticsApp {
        router,
        analytics,
        consumer,
        writer: writer_task,
        replayer,
        reconciler,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdl_exports_with_its_scopes() {
        let sdl = super::sdl();
        assert!(
            sdl.contains("): MetricResult! @requiresScopes(scopes: [[\"analytics:read\"]])"),
            "{sdl}"
        );
        assert!(
            sdl.contains("): AnalyticsExport! @requiresScopes(scopes: [[\"analytics:export\"]])"),
            "{sdl}"
        );
        assert!(sdl.contains("type Subscription"), "{sdl}");
    }
}
