//! The PMO subgraph: projects with members in project roles, kanban boards with WIP limits,
//! tasks with assignees, labels and dependencies, sprints, live timers that become time
//! entries, and weekly timesheets.
//!
//! Projects, boards, tasks and time entries live in MongoDB (or, in the one-process mode, in
//! in-process maps persisted to a journal file); running timers live in the cache (Redis), so
//! they survive a restart.
//!
//! The floor plan (who imports whom): `graphql` -> `app` -> `domain`, `store`, `events`;
//! `events` -> `store` (the outbox as the relay's source) and `domain`; `store` -> `domain`;
//! `domain` imports nothing of this crate; `consumers` (the CRM's hand-offs, through the kit's
//! document inbox) -> `app`. This file wires them.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod store;

use std::sync::Arc;

use erp_kit::events::RelayConfig;
use erp_kit::http::{HttpState, Readiness};
use erp_kit::runtime::Runtime;

pub use app::{Pmo, PmoOptions};
pub use consumers::ConsumerOptions;
/// The PMO's rule reasons (`extensions.reason`), for the error catalogue.
pub use domain::reasons;
use events::{RelayHandle, Wake};
pub use graphql::PmoSchema;
use store::timers::TimerStore;
use store::SharedStore;

/// The port the PMO subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4003;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(pmo: Option<Pmo>, limits: &erp_kit::config::Limits) -> PmoSchema {
    erp_kit::schema::finish(graphql::schema_builder(pmo), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The environment variable naming the embedded store's journal file (`erp-os all` uses
/// `<state-dir>/pmo.journal`).
pub const DATA_FILE_ENV: &str = "ERP_PMO_DATA_FILE";

/// The store named by the configuration: MongoDB at `MONGO_URL`, else the embedded store
/// persisted to the journal file at `ERP_PMO_DATA_FILE`, else an embedded store that keeps
/// nothing across restarts.
pub async fn connect_store(runtime: &Runtime) -> anyhow::Result<SharedStore> {
    let data_file = std::env::var_os(DATA_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    connect_store_at(runtime, data_file.as_deref()).await
}

/// [`connect_store`] with the journal file given instead of read from the environment.
pub async fn connect_store_at(
    runtime: &Runtime,
    data_file: Option<&std::path::Path>,
) -> anyhow::Result<SharedStore> {
    Ok(match (&runtime.config.mongo_url, data_file) {
        (Some(url), _) => Arc::new(store::mongo::MongoStore::connect(url).await?),
        (None, Some(path)) => {
            let file = path.to_owned();
            let store =
                tokio::task::spawn_blocking(move || store::memory::MemoryStore::open(&file))
                    .await?
                    .map_err(|err| {
                        anyhow::anyhow!("opening the PMO data file {}: {err}", path.display())
                    })?;
            tracing::info!(file = %path.display(), "PMO: embedded store persisted to its journal file");
            Arc::new(store)
        }
        (None, None) => {
            tracing::warn!(
                "PMO: no MONGO_URL and no {DATA_FILE_ENV}: projects, tasks and time entries are \
                 kept in memory only and lost at exit"
            );
            Arc::new(store::memory::MemoryStore::new())
        }
    })
}

struct PmoReadiness {
    store: SharedStore,
    cache: erp_kit::cache::SharedCache,
}

#[async_trait::async_trait]
impl Readiness for PmoReadiness {
    async fn check(&self) -> Result<(), String> {
        self.store.ping().await?;
        self.cache.ping().await.map_err(|e| format!("cache: {e}"))
    }
}

/// A running PMO subgraph: its HTTP router, its use cases, its outbox relay and its event
/// consumers (the CRM's hand-offs).
pub struct PmoApp {
    pub router: axum::Router,
    pub pmo: Pmo,
    pub relay: RelayHandle,
    pub consumers: Vec<erp_kit::events::ConsumerHandle>,
}

/// Prepares the store (indexes), starts the outbox relay and builds the HTTP router, with the
/// options from the environment (see [`PmoOptions::from_env`]).
/// `cache_prefix` namespaces the timer keys and live channels in a shared Redis.
pub async fn start(
    runtime: &Runtime,
    store: SharedStore,
    cache_prefix: &str,
) -> anyhow::Result<PmoApp> {
    start_consuming(
        runtime,
        store,
        cache_prefix,
        PmoOptions::from_env()?,
        Some(ConsumerOptions::default()),
    )
    .await
}

/// [`start`] with explicit options, without the event consumers (tests on a shared broker:
/// a consumer group is the deployment's, and a new one reads the topics' whole history).
pub async fn start_with(
    runtime: &Runtime,
    store: SharedStore,
    cache_prefix: &str,
    options: PmoOptions,
) -> anyhow::Result<PmoApp> {
    start_consuming(runtime, store, cache_prefix, options, None).await
}

/// [`start`] with explicit options and consumers (`None`: none run).
pub async fn start_consuming(
    runtime: &Runtime,
    store: SharedStore,
    cache_prefix: &str,
    options: PmoOptions,
    consumers: Option<ConsumerOptions>,
) -> anyhow::Result<PmoApp> {
    store
        .prepare()
        .await
        .map_err(|e| anyhow::anyhow!("preparing the store: {e:?}"))?;
    let wake = Wake::default();
    let relay = events::relay(
        store.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
        wake.clone(),
    )
    .spawn();
    let timers = TimerStore::new(runtime.cache.clone(), cache_prefix);
    let pmo = Pmo::new(store.clone(), timers, wake, options);
    let consumers = match &consumers {
        Some(consumer_options) => consumers::start_consumers(runtime, &pmo, consumer_options),
        None => Vec::new(),
    };
    let schema = build_schema(Some(pmo.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        verifier: Arc::new(runtime.verifier.clone()),
        readiness: Arc::new(PmoReadiness {
            store,
            cache: runtime.cache.clone(),
        }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    });
    Ok(PmoApp {
        router,
        pmo,
        relay,
        consumers,
    })
}
