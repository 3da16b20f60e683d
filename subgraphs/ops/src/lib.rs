//! The operations & assets subgraph: assets with depreciation schedules, procurement PR -> PO
//! -> GRN with the three-way match, and (domain rules so far) helpdesk tickets with SLA clocks
//! and SOP versions.
//!
//! Documents live in MongoDB (or, in the one-process mode, in in-process maps persisted to a
//! journal file); the transaction
//! scripts are written once in `app` over the store primitives each backend implements, and
//! events leave through the store's outbox and the kit's relay.
//!
//! The floor plan (who imports whom): `graphql` -> `app` -> `domain`, `store`, `events`;
//! `events` -> `store` (the outbox as the relay's source) and `domain`; `store` -> `domain`;
//! `domain` imports nothing of this crate. This file wires them.

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

pub use app::{Ops, OpsOptions};
/// The operations rule reasons (`extensions.reason`), for the error catalogue.
pub use domain::reasons;
use events::{RelayHandle, Wake};
pub use graphql::OpsSchema;
use store::SharedStore;

/// The port the operations subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4006;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(ops: Option<Ops>, limits: &erp_kit::config::Limits) -> OpsSchema {
    erp_kit::schema::finish(graphql::schema_builder(ops), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// The environment variable naming the embedded store's journal file (`erp-os all` would use
/// `<state-dir>/ops.journal`).
pub const DATA_FILE_ENV: &str = "ERP_OPS_DATA_FILE";

/// The store named by the configuration: MongoDB at `MONGO_URL`, else the embedded store
/// persisted to the journal file at `ERP_OPS_DATA_FILE`, else an embedded store that keeps
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
                        anyhow::anyhow!("opening the ops data file {}: {err}", path.display())
                    })?;
            tracing::info!(file = %path.display(), "ops: embedded store persisted to its journal file");
            Arc::new(store)
        }
        (None, None) => {
            tracing::warn!(
                "ops: no MONGO_URL and no {DATA_FILE_ENV}: assets, procurement and helpdesk \
                 documents are kept in memory only and lost at exit"
            );
            Arc::new(store::memory::MemoryStore::new())
        }
    })
}

/// The environment variable naming the directory of SOP files (`erp-os all`:
/// `<state-dir>/ops-files`).
pub const BLOB_DIR_ENV: &str = "ERP_OPS_BLOB_DIR";

/// The environment variable holding the key that signs SOP download URLs (at least 32
/// bytes, the same on every replica).
pub const URL_KEY_ENV: &str = "ERP_OPS_URL_SIGNING_KEY";

/// Where SOP files and attachments live: the options' directory, else `ERP_OPS_BLOB_DIR`,
/// else the options' S3 bucket, else the one of `ERP_OPS_S3_BUCKET` (store/blobs.rs:
/// [`store::blobs::S3Config::from_env`]), else MongoDB's `ops_sop_files` when the store is
/// MongoDB, else memory; and the key of their URLs (`ERP_OPS_URL_SIGNING_KEY`, else a random
/// key of this process).
async fn sop_files(
    runtime: &Runtime,
    options: &OpsOptions,
) -> anyhow::Result<app::sop_files::SopFiles> {
    let dir = options.blob_dir.clone().or_else(|| {
        std::env::var_os(BLOB_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    });
    let s3 = match (&dir, &options.s3) {
        (Some(_), _) => None,
        (None, Some(s3)) => Some(s3.clone()),
        (None, None) => store::blobs::S3Config::from_env()?,
    };
    let blobs: store::blobs::SharedBlobStore = match (dir, s3, &runtime.config.mongo_url) {
        (Some(dir), _, _) => {
            tracing::info!(dir = %dir.display(), "ops: SOP files on the filesystem");
            Arc::new(store::blobs::LocalBlobStore::new(dir))
        }
        (None, Some(s3), _) => {
            let store = store::blobs::S3BlobStore::connect(&s3).await?;
            tracing::info!(
                bucket = %s3.bucket,
                endpoint = s3.endpoint.as_deref().unwrap_or("AWS"),
                "ops: SOP files and attachments in S3"
            );
            Arc::new(store)
        }
        (None, None, Some(url)) => {
            tracing::info!(
                "ops: SOP files in MongoDB ({})",
                store::blobs::MONGO_COLLECTION
            );
            Arc::new(store::blobs::MongoBlobStore::connect(url).await?)
        }
        (None, None, None) => {
            tracing::warn!(
                "ops: no {BLOB_DIR_ENV}: SOP files are kept in memory only and lost at exit"
            );
            Arc::new(store::blobs::MemoryBlobStore::default())
        }
    };
    let key = match std::env::var(URL_KEY_ENV) {
        Ok(key) if !key.is_empty() => key.into_bytes(),
        _ => {
            tracing::warn!(
                "ops: no {URL_KEY_ENV}: SOP download URLs are signed with a key of this process \
                 (they stop working at a restart and on other replicas)"
            );
            let mut key = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no randomness for the URL signing key"))?;
            key
        }
    };
    app::sop_files::SopFiles::new(blobs, &key)
}

/// The use cases over `store` without serving (the seed's writer): the store prepared, SOP
/// files where the running subgraph keeps them (as [`start_with`] resolves them from
/// `options` and the environment). Events wait in the outbox for the service's relay.
pub async fn service(
    runtime: &Runtime,
    store: SharedStore,
    options: OpsOptions,
) -> anyhow::Result<Ops> {
    store
        .prepare()
        .await
        .map_err(|e| anyhow::anyhow!("preparing the store: {e:?}"))?;
    let files = sop_files(runtime, &options).await?;
    let kek = erp_kit::crypto::LocalKek::load_or_create(&runtime.config.kek_file)?;
    Ok(Ops::new(
        store,
        Wake::default(),
        options,
        runtime.cache.clone(),
        files,
        Arc::new(kek),
    ))
}

struct OpsReadiness {
    store: SharedStore,
}

#[async_trait::async_trait]
impl Readiness for OpsReadiness {
    async fn check(&self) -> Result<(), String> {
        self.store.ping().await
    }
}

/// A running operations subgraph: its HTTP router, its use cases, its outbox relay and its
/// SLA breach timer (stopped when the app is dropped).
pub struct OpsApp {
    pub router: axum::Router,
    pub ops: Ops,
    pub relay: RelayHandle,
    pub breach_timer: BreachTimer,
    /// The event consumers (the employee subgraph's exits); dropping one stops it.
    pub consumers: Vec<erp_kit::events::ConsumerHandle>,
}

/// The running SLA breach timer; dropping it stops it.
pub struct BreachTimer(tokio::task::JoinHandle<()>);

impl Drop for BreachTimer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Prepares the store (collections, indexes), starts the outbox relay and builds the HTTP
/// router.
pub async fn start(runtime: &Runtime, store: SharedStore) -> anyhow::Result<OpsApp> {
    let options = OpsOptions {
        consumers: Some(consumers::ConsumerOptions::default()),
        ..OpsOptions::default()
    };
    start_with(runtime, store, options).await
}

/// [`start`] with explicit options.
pub async fn start_with(
    runtime: &Runtime,
    store: SharedStore,
    options: OpsOptions,
) -> anyhow::Result<OpsApp> {
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
    let files = sop_files(runtime, &options).await?;
    let kek = erp_kit::crypto::LocalKek::load_or_create(&runtime.config.kek_file)?;
    let ops = Ops::new(
        store.clone(),
        wake,
        options,
        runtime.cache.clone(),
        files,
        Arc::new(kek),
    );
    let breach_timer = BreachTimer(ops.spawn_breach_timer());
    let consumers = match &ops.options.consumers {
        Some(consumer_options) => consumers::start_consumers(runtime, &ops, consumer_options),
        None => Vec::new(),
    };
    let schema = build_schema(Some(ops.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        verifier: Arc::new(runtime.verifier.clone()),
        readiness: Arc::new(OpsReadiness { store }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    })
    .merge(graphql::files::router(ops.clone()))
    .merge(graphql::inbound_mail::router(ops.clone()));
    Ok(OpsApp {
        router,
        ops,
        relay,
        breach_timer,
        consumers,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdl_exports_with_its_scopes() {
        let sdl = super::sdl();
        if let Ok(path) = std::env::var("OPS_SDL_OUT") {
            std::fs::write(path, &sdl).unwrap();
        }
        assert!(sdl.contains("type Asset"), "{sdl}");
        assert!(
            sdl.contains("): Asset! @requiresScopes(scopes: [[\"assets:write\"]])"),
            "{sdl}"
        );
        assert!(
            sdl.contains("\"\"\"\nAn asset of the register.\n\"\"\"\ntype Asset {"),
            "{sdl}"
        );
    }
}
