//! The finance subgraph: a double-entry general ledger (chart of accounts, journals, fiscal
//! years and lock dates, gapless numbering, an optional hash chain), customer invoices and
//! payments, vendor bills, expenses and cash flow. PostgreSQL in production, SQLite embedded.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod store;

use std::sync::Arc;

use erp_kit::events::{ConsumerHandle, Outbox, OutboxRelay, RelayConfig, RelayHandle};
use erp_kit::http::{BackendReadiness, HttpState};
use erp_kit::runtime::Runtime;

pub use app::Finance;
pub use domain::reasons;
pub use graphql::FinanceSchema;

/// The port the finance subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4004;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(finance: Option<Finance>, limits: &erp_kit::config::Limits) -> FinanceSchema {
    erp_kit::schema::finish(graphql::schema_builder(finance), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The use cases over a runtime's database, migrated (no relay: the seed and tools write
/// events into the outbox for a running service's relay to publish).
pub async fn service(runtime: &Runtime) -> anyhow::Result<Finance> {
    erp_kit::db::migrate::<erp_migrations::finance::Migrator>(&runtime.db).await?;
    let kek = erp_kit::crypto::LocalKek::load_or_create(&runtime.config.kek_file)?;
    Ok(Finance::new(
        runtime.db.clone(),
        Outbox::new(events::DOMAIN),
        Arc::new(kek),
        runtime.cache.clone(),
    ))
}

/// A running finance subgraph: its HTTP router, its use cases, its outbox relay and its event
/// consumers (employee org changes, approved PMO timesheets).
pub struct FinanceApp {
    pub router: axum::Router,
    pub finance: Finance,
    pub relay: RelayHandle,
    pub consumers: Vec<ConsumerHandle>,
}

/// How a finance subgraph starts.
#[derive(Debug, Clone)]
pub struct FinanceOptions {
    /// Run the event consumers (every deployment does; tests on a shared broker may not: a
    /// consumer group is the deployment's, and a new one reads the topics' whole history).
    pub consumers: bool,
    /// Consumer group names get this suffix (a test's own groups on a shared broker).
    pub group_suffix: String,
    /// Only these tenants' events are handled (a test's own on a shared broker); all when none.
    pub tenants: Option<Vec<String>>,
}

impl Default for FinanceOptions {
    fn default() -> Self {
        Self {
            consumers: true,
            group_suffix: String::new(),
            tenants: None,
        }
    }
}

/// Migrates the database, starts the outbox relay and the consumers, builds the HTTP router.
pub async fn start(runtime: &Runtime) -> anyhow::Result<FinanceApp> {
    start_with(runtime, FinanceOptions::default()).await
}

/// [`start`] with options.
pub async fn start_with(runtime: &Runtime, options: FinanceOptions) -> anyhow::Result<FinanceApp> {
    let finance = service(runtime).await?;
    let relay = OutboxRelay::new(
        finance.outbox.clone(),
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    let consumers = if options.consumers {
        consumers::start_consumers(runtime, &finance, &options)
    } else {
        Vec::new()
    };
    let schema = build_schema(Some(finance.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        verifier: Arc::new(runtime.verifier.clone()),
        readiness: Arc::new(BackendReadiness {
            db: Some(runtime.db.clone()),
            cache: Some(runtime.cache.clone()),
        }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    });
    Ok(FinanceApp {
        router,
        finance,
        relay,
        consumers,
    })
}
