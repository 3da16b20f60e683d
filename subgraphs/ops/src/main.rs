//! Runs the operations subgraph as its own service (configuration: see erp_kit::config;
//! `MONGO_URL` selects MongoDB, unset runs on the in-process store).

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = KitConfig::from_env("ops", erp_ops::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let bind = config.bind;
    let runtime = Runtime::connect_without_database(config).await?;
    let store = erp_ops::connect_store(&runtime).await?;
    let app = erp_ops::start(&runtime, store).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %bind, bus = runtime.bus.kind(), "ops subgraph listening");
    erp_kit::http::serve(listener, app.router).await?;
    app.relay.shutdown().await;
    Ok(())
}
