//! The identity subgraph: tenants, users, roles and the scope registry; login with a mandatory
//! second factor (TOTP or WebAuthn, recovery codes); RS256 access tokens with rotating refresh
//! tokens; OIDC discovery, JWKS, token, userinfo and revocation endpoints.
//!
//! The floor plan (each layer imports only the ones below it):
//! - `graphql/<feature>.rs`, `oidc.rs`: the APIs, over `app`;
//! - `app/<feature>.rs`: the use cases ([`Identity`]), one function per mutation;
//! - `domain/<feature>.rs`: the rules and their [`reasons`]; `store/<feature>.rs` and
//!   `store/entities/`: queries and writes; `events.rs`: the audit events' payloads.

pub mod app;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod oidc;
pub mod store;

use std::sync::Arc;

use erp_kit::auth::TokenRules;
use erp_kit::crypto::{FieldCipher, LocalKek};
use erp_kit::events::{Outbox, OutboxRelay, RelayConfig, RelayHandle};
use erp_kit::http::{BackendReadiness, HttpState};
use erp_kit::runtime::Runtime;

pub use app::users::{ImportedUser, ImportedUserOutcome, IMPORT_BATCH};
pub use app::{Identity, IdentityConfig};
pub use domain::reasons;
pub use graphql::IdentitySchema;

use app::key_store::KeyStore;

/// The port the identity subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4001;

pub fn build_schema(
    identity: Option<Identity>,
    limits: &erp_kit::config::Limits,
) -> IdentitySchema {
    erp_kit::schema::finish(graphql::schema_builder(identity), limits)
}

/// The federated SDL of this subgraph.
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The identity use cases, connected (migrations applied, the secrets an earlier version
/// stored in clear sealed, a signing key present). The field cipher's key-encryption key is
/// the kit's (`ERP_KEK_FILE`), as the employee service's.
pub async fn service(runtime: &Runtime, config: IdentityConfig) -> anyhow::Result<Identity> {
    erp_kit::db::migrate::<erp_migrations::identity::Migrator>(&runtime.db).await?;
    let kek = LocalKek::load_or_create(&runtime.config.kek_file)?;
    let cipher = FieldCipher::new(runtime.db.clone(), events::DOMAIN, Arc::new(kek));
    let rules = TokenRules::new(&config.issuer, &config.audience, runtime.config.auth.leeway);
    let keys = Arc::new(KeyStore::new(
        runtime.db.clone(),
        cipher.clone(),
        config.jwks_cache_ttl,
        config.access_ttl,
        rules,
    ));
    let identity = Identity::new(
        runtime.db.clone(),
        runtime.cache.clone(),
        Outbox::new(events::DOMAIN),
        keys.clone(),
        cipher,
        config,
    )?;
    identity
        .seal_legacy_secrets()
        .await
        .map_err(|e| anyhow::anyhow!("sealing stored secrets: {}", e.message()))?;
    keys.ensure_signing_key()
        .await
        .map_err(|e| anyhow::anyhow!("signing key: {}", e.message()))?;
    Ok(identity)
}

/// A running identity subgraph.
pub struct IdentityApp {
    pub router: axum::Router,
    pub identity: Identity,
    pub relay: RelayHandle,
}

/// Connects, starts the outbox relay and builds the HTTP router (GraphQL + OIDC endpoints).
pub async fn start(runtime: &Runtime, config: IdentityConfig) -> anyhow::Result<IdentityApp> {
    let identity = service(runtime, config).await?;
    let relay = OutboxRelay::new(
        identity.outbox().clone(),
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    let schema = build_schema(Some(identity.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        // The service's own keys, and revocations (a deactivated user's tokens).
        verifier: Arc::new(erp_kit::http::RevocationChecked {
            inner: identity.keys().clone(),
            cache: runtime.cache.clone(),
        }),
        readiness: Arc::new(BackendReadiness {
            db: Some(runtime.db.clone()),
            cache: Some(runtime.cache.clone()),
        }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    })
    .merge(oidc::routes(
        identity.clone(),
        runtime.config.trusted_proxies.clone(),
    ));
    Ok(IdentityApp {
        router,
        identity,
        relay,
    })
}
