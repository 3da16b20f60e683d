//! hive-router 0.2.19's own binary (its `src/main.rs`): `router_entrypoint` without plugins, on
//! hive-router's own listener. The baseline of the router benchmark (`benches/router_overhead.rs`);
//! built only with `--features bench`.

// Needed because of ntex's way of defining middlewares.
#![recursion_limit = "256"]

use hive_router::{
    configure_global_allocator, error::RouterInitError, init_rustls_crypto_provider,
    router_entrypoint, PluginRegistry, RouterGlobalAllocator,
};

// `#[hive_router::main]` expands to ntex's macro, which names `ntex::...`.
use hive_router::ntex;

configure_global_allocator!();

#[hive_router::main]
async fn main() -> Result<(), RouterInitError> {
    init_rustls_crypto_provider();
    router_entrypoint(PluginRegistry::new()).await
}
