//! The employee (HRMS) subgraph: people and departments, the reporting line, exits,
//! attendance (punches, shifts, corrections, live boards), leave and OKRs.
//!
//! The floor plan (the same in every subgraph): `domain/` pure rules and newtypes, `app/` the
//! use cases on [`Employee`], `store/` tenant-scoped queries and writes with `store/entities/`
//! the sea-orm models, `graphql/` the schema calling [`Employee`], `events.rs` what is
//! published. [`start`] wires them into an [`EmployeeApp`].

pub mod app;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod store;

use std::path::Path;
use std::sync::Arc;

use erp_kit::crypto::{FieldCipher, LocalKek};
use erp_kit::events::{Outbox, OutboxRelay, RelayConfig, RelayHandle};
use erp_kit::http::{BackendReadiness, HttpState};
use erp_kit::runtime::Runtime;

pub use app::Employee;
pub use domain::reasons;
pub use graphql::EmployeeSchema;

/// The port the employee subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4002;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(
    employee: Option<Employee>,
    limits: &erp_kit::config::Limits,
) -> EmployeeSchema {
    erp_kit::schema::finish(graphql::schema_builder(employee), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The use cases over the runtime's database (migrated) and the field cipher, WITHOUT the
/// outbox relay: what a bulk load writes through (its events wait in the outbox for a running
/// service's relay).
pub async fn service(runtime: &Runtime) -> anyhow::Result<Employee> {
    erp_kit::db::migrate::<erp_migrations::employee::Migrator>(&runtime.db).await?;
    let kek = LocalKek::load_or_create(&runtime.config.kek_file)?;
    let kek: Arc<dyn erp_kit::crypto::KeyEncryptionKey> = Arc::new(kek);
    let cipher = FieldCipher::new(runtime.db.clone(), events::DOMAIN, kek.clone());
    Ok(Employee::new(
        runtime.db.clone(),
        Outbox::new(events::DOMAIN),
        cipher,
        runtime.cache.clone(),
    )
    .with_transit_key(kek))
}

/// A running employee subgraph: its HTTP router, its use cases and its outbox relay.
pub struct EmployeeApp {
    pub router: axum::Router,
    pub employee: Employee,
    pub relay: RelayHandle,
}

/// Migrates the database, starts the outbox relay and builds the HTTP router.
pub async fn start(runtime: &Runtime) -> anyhow::Result<EmployeeApp> {
    let employee = service(runtime).await?;
    let relay = OutboxRelay::new(
        employee.outbox().clone(),
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    // Scheduled exits take effect on their last working day (every replica runs it; an exit
    // takes effect once).
    employee.spawn_exit_scheduler();
    let schema = build_schema(Some(employee.clone()), &runtime.config.limits);
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
    Ok(EmployeeApp {
        router,
        employee,
        relay,
    })
}

/// Re-wraps every tenant data key with the key-encryption key in `new_kek_file` (created if
/// missing); no row is re-encrypted. Answers how many keys were re-wrapped.
pub async fn rotate_kek(runtime: &Runtime, new_kek_file: &Path) -> anyhow::Result<usize> {
    erp_kit::db::migrate::<erp_migrations::employee::Migrator>(&runtime.db).await?;
    let current = LocalKek::load_or_create(&runtime.config.kek_file)?;
    let next = LocalKek::load_or_create(new_kek_file)?;
    let cipher = FieldCipher::new(runtime.db.clone(), events::DOMAIN, Arc::new(current));
    cipher
        .rewrap_all(&next)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))
}
