//! Each subgraph alone, as in production: configuration from the environment (see
//! `erp_kit::config`), the same as the subgraph's own binary (`erp-identity`, `erp-employee`,
//! `erp-pmo`, `erp-finance`, `erp-crm`, `erp-ops`), which stay for their administrative commands (`bootstrap`, `rotate-keys`,
//! `rotate-kek`).

use erp_identity::IdentityConfig;
use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

/// Serves one subgraph until Ctrl-C / SIGTERM.
pub async fn serve(service: Service) -> anyhow::Result<()> {
    let (name, port) = match service {
        Service::Identity => ("identity", erp_identity::DEFAULT_PORT),
        Service::Employee => ("employee", erp_employee::DEFAULT_PORT),
        Service::Pmo => ("pmo", erp_pmo::DEFAULT_PORT),
        Service::Finance => ("finance", erp_finance::DEFAULT_PORT),
        Service::Crm => ("crm", erp_crm::DEFAULT_PORT),
        Service::Ops => ("ops", erp_ops::DEFAULT_PORT),
        Service::Analytics => ("analytics", erp_analytics::DEFAULT_PORT),
        Service::Marketing => ("marketing", erp_marketing::DEFAULT_PORT),
    };
    let config = KitConfig::from_env(name, port)?;
    // Held until the service stops: dropping it flushes the spans not yet exported.
    let telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    if let Some(traces) = &config.traces {
        tracing::info!(endpoint = %traces.endpoint, service = %traces.service_name, "exporting traces (OTLP/HTTP)");
    }
    let bind = config.bind;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    match service {
        Service::Identity => {
            let identity_config = IdentityConfig::from_kit(&config);
            let runtime = Runtime::connect(config).await?;
            let app = erp_identity::start(&runtime, identity_config).await?;
            tracing::info!(address = %bind, "identity subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Employee => {
            let runtime = Runtime::connect(config).await?;
            let app = erp_employee::start(&runtime).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "employee subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Pmo => {
            let runtime = Runtime::connect_without_database(config).await?;
            let store = erp_pmo::connect_store(&runtime).await?;
            let app = erp_pmo::start(&runtime, store, "pmo").await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "pmo subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Finance => {
            let runtime = Runtime::connect(config).await?;
            let app = erp_finance::start(&runtime).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "finance subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Crm => {
            let runtime = Runtime::connect(config).await?;
            // `app.consumers` (the employee events it keeps its team directory from) live
            // until the end of this arm: dropping a handle stops its consumer.
            let app = erp_crm::start(&runtime).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "crm subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Ops => {
            let runtime = Runtime::connect_without_database(config).await?;
            let store = erp_ops::connect_store(&runtime).await?;
            // `app.breach_timer` (the SLA breach clock) runs until the end of this arm.
            let app = erp_ops::start(&runtime, store).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "ops subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Service::Analytics => {
            let runtime = Runtime::connect_without_database(config).await?;
            // ClickHouse at CLICKHOUSE_URL (else the embedded engine when built in).
            let store = erp_analytics::connect_store().await?;
            let app = erp_analytics::start(&runtime, store, Default::default()).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "analytics subgraph listening");
            erp_kit::http::serve(listener, app.router.clone()).await?;
            app.shutdown().await;
        }
        Service::Marketing => {
            let runtime = Runtime::connect(config).await?;
            // `app.sender` (the campaign sender, when ERP_SMTP_URL is set) runs until the end
            // of this arm.
            let app = erp_marketing::start(&runtime).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), sender = app.sender.is_some(), "marketing subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
    }
    drop(telemetry);
    Ok(())
}

/// The subgraphs `erp-os` can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Identity,
    Employee,
    Pmo,
    Finance,
    Crm,
    Ops,
    Analytics,
    Marketing,
}
