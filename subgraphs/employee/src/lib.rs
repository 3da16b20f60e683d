//! The employee (HRMS) subgraph: employees and departments (leave, attendance and OKRs build
//! on this).

pub mod domain;
pub mod events;
pub mod graphql;
pub mod store;

use std::sync::Arc;

use erp_kit::events::{Outbox, OutboxRelay, RelayConfig, RelayHandle};
use erp_kit::http::{BackendReadiness, HttpState};
use erp_kit::runtime::Runtime;

pub use graphql::EmployeeSchema;
use store::EmployeeStore;

/// The port the employee subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4002;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(
    store: Option<EmployeeStore>,
    limits: &erp_kit::config::Limits,
) -> EmployeeSchema {
    erp_kit::schema::finish(graphql::schema_builder(store), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// A running employee service: its HTTP router and its outbox relay.
pub struct EmployeeService {
    pub router: axum::Router,
    pub store: EmployeeStore,
    pub relay: RelayHandle,
}

/// Migrates the database, starts the outbox relay and builds the HTTP router.
pub async fn start(runtime: &Runtime) -> anyhow::Result<EmployeeService> {
    erp_kit::db::migrate::<erp_migrations::employee::Migrator>(&runtime.db).await?;
    let outbox = Outbox::new(events::DOMAIN);
    let kek = erp_kit::crypto::LocalKek::load_or_create(&runtime.config.kek_file)?;
    let cipher =
        erp_kit::crypto::FieldCipher::new(runtime.db.clone(), events::DOMAIN, Arc::new(kek));
    let store = EmployeeStore::new(
        runtime.db.clone(),
        outbox.clone(),
        cipher,
        runtime.cache.clone(),
    );
    let relay = OutboxRelay::new(
        outbox,
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    let schema = build_schema(Some(store.clone()), &runtime.config.limits);
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
    Ok(EmployeeService {
        router,
        store,
        relay,
    })
}
