//! Runs the PMO subgraph as its own service (configuration: see erp_kit::config; `MONGO_URL`
//! selects MongoDB, unset runs on the in-process store).

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = KitConfig::from_env("pmo", erp_pmo::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let bind = config.bind;
    let runtime = Runtime::connect_without_database(config).await?;
    let store = erp_pmo::connect_store(&runtime).await?;
    let app = erp_pmo::start(&runtime, store, "pmo").await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "pmo subgraph listening");
    erp_kit::http::serve(listener, app.router).await?;
    app.relay.shutdown().await;
    Ok(())
}
