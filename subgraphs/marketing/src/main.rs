//! The marketing subgraph (configuration: see erp_kit::config; the SMTP relay and the links'
//! public URL: see erp_marketing::MarketingOptions::from_env).

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = KitConfig::from_env("marketing", erp_marketing::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let bind = config.bind;
    let runtime = Runtime::connect(config).await?;
    let app = erp_marketing::start(&runtime).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "marketing subgraph listening");
    erp_kit::http::serve(listener, app.router).await?;
    app.relay.shutdown().await;
    Ok(())
}
