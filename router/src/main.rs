//! The ERP router: hive-router 0.2.19 with our plugins, on a TLS 1.3-only edge listener.
//! Configuration: `router/router.config.yaml` (or `ROUTER_CONFIG_FILE_PATH`), overridable from
//! the environment; see router/README.md.

use hive_router::{configure_global_allocator, RouterGlobalAllocator};

configure_global_allocator!();

fn main() -> Result<(), erp_router::server::ServeError> {
    // Before any thread exists: hive-router reads ROUTER_CONFIG_FILE_PATH itself.
    erp_router::default_config_path();
    erp_router::run()
}
