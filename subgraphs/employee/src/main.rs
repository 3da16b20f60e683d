//! Runs the employee subgraph as its own service (configuration: see erp_kit::config).

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = KitConfig::from_env("employee", erp_employee::DEFAULT_PORT)?;
    erp_kit::telemetry::init_logging(config.log_format);
    let bind = config.bind;
    let runtime = Runtime::connect(config).await?;
    let service = erp_employee::start(&runtime).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "employee subgraph listening");
    erp_kit::http::serve(listener, service.router).await?;
    service.relay.shutdown().await;
    Ok(())
}
