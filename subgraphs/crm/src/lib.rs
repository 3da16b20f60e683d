//! The CRM subgraph: clients (companies and people, addresses, tax ids), leads with their
//! activities, scoring and assignment, pipelines and opportunities with a live board,
//! quotes with versions and proposals, the duplicate finder and merges, CSV imports, and
//! the hand-offs by event (`opportunity.won` to PMO, `quote.accepted` to finance), and leads
//! filed from marketing's web forms (`form.submitted`).
//! PostgreSQL in production, SQLite embedded.
//!
//! The floor plan (the same in every subgraph): `domain/` pure rules and newtypes, `app/` the
//! use cases on [`Crm`], `store/` tenant-scoped queries and writes with `store/entities/`
//! the sea-orm models, `graphql/` the schema calling [`Crm`] (and the import endpoint beside
//! it), `events.rs` what is published and the consumer of the employee subgraph's events,
//! `consumers.rs` the lead intake from marketing's web forms.
//! [`start`] wires them into a [`CrmApp`].

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

pub use app::Crm;
pub use domain::reasons;
pub use events::ConsumerOptions;
pub use graphql::CrmSchema;

/// The port the CRM subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4005;

/// The schema with the kit's rules; `None` builds it without data (for SDL export). A board
/// column's cards (`BoardStage.cards`, under the board's at most 20 stages) may ask for
/// [`domain::pipeline::MAX_CARDS_PER_COLUMN`] a page, over the kit's nested page cap.
pub fn build_schema(crm: Option<Crm>, limits: &erp_kit::config::Limits) -> CrmSchema {
    let limits = limits
        .clone()
        .with_nested_page_cap("BoardStage.cards", domain::pipeline::MAX_CARDS_PER_COLUMN);
    erp_kit::schema::finish(graphql::schema_builder(crm), &limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The use cases over the runtime's database (migrated), without the outbox relay: what a
/// bulk load writes through (its events wait in the outbox for a running service's relay).
pub async fn service(runtime: &Runtime) -> anyhow::Result<Crm> {
    erp_kit::db::migrate::<erp_migrations::crm::Migrator>(&runtime.db).await?;
    Ok(Crm::new(
        runtime.db.clone(),
        Outbox::new(events::DOMAIN),
        runtime.cache.clone(),
    ))
}

/// A running CRM subgraph: its HTTP router (GraphQL and the import endpoint), its use cases,
/// its outbox relay and its event consumers.
pub struct CrmApp {
    pub router: axum::Router,
    pub crm: Crm,
    pub relay: RelayHandle,
    pub consumers: Vec<ConsumerHandle>,
}

/// How a CRM subgraph starts.
#[derive(Debug, Clone)]
pub struct CrmOptions {
    /// Run the event consumers (`None`: not; tests on a shared broker give their own group
    /// suffix and tenants).
    pub consumers: Option<ConsumerOptions>,
}

impl Default for CrmOptions {
    fn default() -> Self {
        Self {
            consumers: Some(ConsumerOptions::default()),
        }
    }
}

/// Migrates the database, starts the outbox relay and the consumers, builds the HTTP router.
pub async fn start(runtime: &Runtime) -> anyhow::Result<CrmApp> {
    start_with(runtime, CrmOptions::default()).await
}

/// [`start`] with options.
pub async fn start_with(runtime: &Runtime, options: CrmOptions) -> anyhow::Result<CrmApp> {
    let crm = service(runtime).await?;
    let relay = OutboxRelay::new(
        crm.outbox().clone(),
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    let mut consumers = match &options.consumers {
        Some(consumer_options) => events::start_consumers(runtime, consumer_options),
        None => Vec::new(),
    };
    if let Some(consumer_options) = &options.consumers {
        consumers.push(crate::consumers::start_lead_intake(
            runtime,
            consumer_options,
            &crm,
        ));
    }
    let schema = build_schema(Some(crm.clone()), &runtime.config.limits);
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
    })
    .merge(graphql::import::router(
        crm.clone(),
        runtime.verifier.clone(),
    ));
    Ok(CrmApp {
        router,
        crm,
        relay,
        consumers,
    })
}
