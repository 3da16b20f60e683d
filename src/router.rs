//! The router (hive-router on the ntex runtime) with erp-router's plugins and edge listener,
//! exactly as the `erp-router` binary runs it: configuration from `ROUTER_CONFIG_FILE_PATH`
//! (hive-router reads it) and the environment overrides of router/router.config.yaml.

use std::path::Path;

use erp_router::edge_guard::EdgeGuardPlugin;
use erp_router::rate_limit::RateLimitPlugin;
use erp_router::server::{serve, ServeError};
use hive_router::{init_rustls_crypto_provider, PluginRegistry};
// `#[hive_router::main]` expands to ntex's macro, which names `ntex::...`.
use hive_router::ntex;

/// For `erp-os router`: when `ROUTER_CONFIG_FILE_PATH` is unset, the checked-in configuration
/// found from the repository root or from `router/`. Call before any thread is started
/// (it sets an environment variable).
pub fn default_config_from_cwd() {
    if std::env::var_os("ROUTER_CONFIG_FILE_PATH").is_some() {
        return;
    }
    if let Some(found) = ["router/router.config.yaml", "router.config.yaml"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
    {
        std::env::set_var("ROUTER_CONFIG_FILE_PATH", found);
    }
}

/// Runs the router on the current thread (an ntex system) until it is stopped (Ctrl-C).
#[hive_router::main]
pub async fn run() -> Result<(), ServeError> {
    init_rustls_crypto_provider();
    // hive-router enables jsonwebtoken's `rust_crypto` feature and the subgraph kit its
    // `aws_lc_rs` one; with both, jsonwebtoken refuses to pick and panics at the first token.
    // Choose explicitly (RS256 verification is the same either way; the first choice wins).
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
