//! The ERP router: hive-router 0.2.19 with our plugins, on a TLS 1.3-only edge listener.
//! Configuration: `router/router.config.yaml` (or `ROUTER_CONFIG_FILE_PATH`), overridable from
//! the environment; see router/README.md.

// Needed because of ntex's way of defining middlewares.
#![recursion_limit = "256"]

use std::path::Path;

use erp_router::edge_guard::EdgeGuardPlugin;
use erp_router::rate_limit::RateLimitPlugin;
use erp_router::server::{serve, ServeError};
use hive_router::{
    configure_global_allocator, init_rustls_crypto_provider, PluginRegistry, RouterGlobalAllocator,
};
// `#[hive_router::main]` expands to ntex's macro, which names `ntex::...`.
use hive_router::ntex;

configure_global_allocator!();

/// The checked-in configuration, found from the repository root (`cargo run -p erp-router`),
/// from `router/`, or next to the crate when neither has one.
fn default_config_path() -> Option<String> {
    ["router/router.config.yaml", "router.config.yaml"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .or_else(|| {
            let beside_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("router.config.yaml");
            beside_crate
                .is_file()
                .then(|| beside_crate.display().to_string())
        })
}

fn main() -> Result<(), ServeError> {
    // Before any thread exists: hive-router reads ROUTER_CONFIG_FILE_PATH itself.
    if std::env::var_os("ROUTER_CONFIG_FILE_PATH").is_none() {
        if let Some(path) = default_config_path() {
            std::env::set_var("ROUTER_CONFIG_FILE_PATH", path);
        }
    }
    run()
}

#[hive_router::main]
async fn run() -> Result<(), ServeError> {
    init_rustls_crypto_provider();
    // hive-router enables jsonwebtoken's `rust_crypto` feature and our subgraphs its `aws_lc_rs`
    // one; when a workspace build unifies both, jsonwebtoken refuses to pick and panics at the
    // first token. Choose explicitly (RS256 verification is the same either way).
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    );
    serve(
        PluginRegistry::new()
            .register::<EdgeGuardPlugin>()
            .register::<RateLimitPlugin>(),
    )
    .await
}
