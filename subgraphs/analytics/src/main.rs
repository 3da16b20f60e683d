//! Runs the analytics subgraph as its own service (configuration: see erp_kit::config;
//! `CLICKHOUSE_URL` and `CLICKHOUSE_DATABASE` name the fact store).

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = KitConfig::from_env("analytics", erp_analytics::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let bind = config.bind;
    let runtime = Runtime::connect_without_database(config).await?;
    let store = erp_analytics::connect_store().await?;
    let app = erp_analytics::start(&runtime, store, Default::default()).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %bind, bus = runtime.bus.kind(), "analytics subgraph listening");
    erp_kit::http::serve(listener, app.router.clone()).await?;
    app.shutdown().await;
    Ok(())
}
