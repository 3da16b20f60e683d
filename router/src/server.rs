//! The router's entry point: hive-router 0.2.19's `router_entrypoint`, with the edge listener
//! bound by us ([`crate::edge_tls`]: TLS 1.3 only, or plain HTTP on loopback when asked for).
//!
//! hive-router's own function loads the configuration and binds with
//! `rustls::ServerConfig::builder()` (TLS 1.2 and 1.3) and has no hook for the listener. The
//! pieces it assembles are public API of the crate (`configure_app_from_config`,
//! `configure_ntex_app`, `build_http_service_config`, the middlewares, `RouterPaths`,
//! `invoke_shutdown_hooks`), so this is the same assembly in the same order, except:
//!
//! - the listener: [`EdgeListener`] instead of `traffic_shaping.router.tls`;
//! - `/readiness` also looks at the subgraphs ([`crate::readiness`], `ERP_READINESS_MODE`);
//! - no landing page (laboratory is off at the edge anyway): unknown paths are 404;
//! - the non-GraphQL paths of `erp_http_routes` ([`crate::http_routes`]) are mounted;
//! - `subscriptions.callback.listen` (a second callback server) is refused: we use none;
//! - `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` adds an OTLP trace exporter ([`crate::tracing_export`]).
//!
//! KEEP IN SYNC with `hive-router-0.2.19/src/lib.rs` (`router_entrypoint`) when upgrading.

use hive_router::background_tasks::BackgroundTasksManager;
use hive_router::config::load_config;
use hive_router::config::subscriptions::CallbackConfig;
use hive_router::error::RouterInitError;
use hive_router::ntex::web;
use hive_router::ntex::SharedCfg;
use hive_router::pipeline::long_lived_client_limit::LongLivedClientLimitService;
use hive_router::pipeline::request_identifiers::RequestIdentifiersService;
use hive_router::pipeline::request_summary::RequestSummaryService;
use hive_router::pipeline::response_compression::ResponseCompressionService;
use hive_router::plugins::plugins_service::PluginService;
use hive_router::telemetry::Telemetry;
use hive_router::{
    add_callback_handler, build_http_service_config, configure_app_from_config, configure_ntex_app,
    invoke_shutdown_hooks, PluginRegistry, RouterPaths,
};

use crate::edge_tls::{self, EdgeListener, EdgeTlsError, TlsSource};
use crate::readiness::{self, SubgraphReadiness};

/// Why the router could not start or stopped with an error.
#[derive(thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Router(#[from] RouterInitError),
    #[error(transparent)]
    EdgeListener(#[from] EdgeTlsError),
    #[error("cannot start the subgraph readiness probes: {0}")]
    ReadinessProbes(std::io::Error),
    #[error("{0}")]
    ReadinessMode(String),
    #[error("{0}")]
    TraceExport(String),
    #[error("subscriptions.callback.listen (a separate callback server) is not supported by erp-router; mount the callback on the main listener (callback.path)")]
    CallbackListenUnsupported,
}

// `main` returning Err prints Debug: print the message.
impl std::fmt::Debug for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Loads the configuration (`ROUTER_CONFIG_FILE_PATH`), decides the edge listener and runs the
/// router until it is stopped.
pub async fn serve(plugin_registry: PluginRegistry) -> Result<(), ServeError> {
    let config_path = std::env::var("ROUTER_CONFIG_FILE_PATH").ok();
    let mut router_config = load_config(config_path).map_err(RouterInitError::from)?;
    let traces = crate::tracing_export::apply(&mut router_config, |name| std::env::var(name).ok())
        .map_err(ServeError::TraceExport)?;
    let router_config = router_config.into_static();
    // Before telemetry: a refused listener should not leave half a router behind.
    let listener = edge_tls::resolve(router_config, |name| std::env::var(name).ok())?;
    if matches!(
        router_config.callback_conf(),
        Some(CallbackConfig {
            listen: Some(_),
            ..
        })
    ) {
        return Err(ServeError::CallbackListenUnsupported);
    }

    let telemetry = Telemetry::init_global(router_config).map_err(RouterInitError::from)?;
    for warning in router_config.from_env_warnings() {
        tracing::info!("{warning}");
    }
    if let Some(endpoint) = &traces {
        tracing::info!(%endpoint, "exporting traces (OTLP/HTTP), traceparent sent to subgraphs");
    }
    let prometheus = telemetry
        .prometheus
        .as_ref()
        .and_then(|prom| prom.to_attached());
    tracing::info!(
        hive_router = "0.2.19",
        router = env!("CARGO_PKG_VERSION"),
        "erp-router starting..."
    );
    let addr = router_config.address();
    let graphql_path = router_config.graphql_path().to_string();
    let websocket_path = router_config.websocket_path().map(|p| p.to_string());
    let callback_path = router_config.callback_conf().map(|cb| cb.path.to_string());
    let workers = router_config.workers();
    let mut bg_tasks_manager = BackgroundTasksManager::new();
    let (shared_state, schema_state) = configure_app_from_config(
        router_config,
        telemetry.context.clone(),
        &mut bg_tasks_manager,
        plugin_registry,
    )
    .await?;

    let shared_state_clone = shared_state.clone();
    let callback_subscriptions_for_handler = schema_state.callback_subscriptions.clone();

    let paths = RouterPaths::new(graphql_path.clone(), websocket_path, callback_path.clone());
    paths.detect_conflicts(&prometheus)?;

    // `/readiness` also waits for the subgraphs (see crate::readiness).
    let (probes, unprobed) = readiness::probes_from_config(router_config);
    if !unprobed.is_empty() {
        tracing::warn!(subgraphs = ?unprobed, "no static URL in override_subgraph_urls: not probed by /readiness");
    }
    let mode = match std::env::var("ERP_READINESS_MODE") {
        Ok(value) => value.parse().map_err(ServeError::ReadinessMode)?,
        Err(_) => readiness::ReadinessMode::default(),
    };
    let subgraph_readiness =
        SubgraphReadiness::start(mode, probes).map_err(ServeError::ReadinessProbes)?;

    let long_lived_client_limit_service =
        LongLivedClientLimitService::new(shared_state.router_config);
    let response_compression_service = ResponseCompressionService::new(shared_state.router_config);

    let mut server = web::HttpServer::new(async move || {
        let prometheus = prometheus.clone();
        let long_lived_client_limit_service = long_lived_client_limit_service.clone();
        let response_compression_service = response_compression_service.clone();
        let paths_for_plugin = paths.clone();
        let callback_path = callback_path.clone();
        let readiness_path = paths.readiness.clone();
        // erp_http_routes' paths (its plugin initialised them above), one client per worker.
        let http_routes = crate::http_routes::installed();
        let route_state = http_routes.clone().map(crate::http_routes::RouteState::new);
        web::App::new()
            .middleware(long_lived_client_limit_service)
            .middleware(PluginService::new(
                paths_for_plugin,
                prometheus.as_ref().map(|p| p.endpoint.clone()),
            ))
            .middleware(RequestSummaryService::new(&graphql_path))
            .middleware(RequestIdentifiersService)
            .middleware(response_compression_service)
            .state(shared_state.clone())
            .state(schema_state.clone())
            .state(shared_state.telemetry_context.clone())
            .state(callback_subscriptions_for_handler.clone())
            .state(subgraph_readiness.clone())
            // Before hive-router's routes: the first registered match wins.
            .route(
                readiness_path.as_str(),
                web::get().to(readiness::readiness_handler),
            )
            .configure(|m| {
                if let (Some(routes), Some(state)) = (&http_routes, &route_state) {
                    m.state(state.clone());
                    crate::http_routes::mount(m, routes);
                }
            })
            .configure(|m| configure_ntex_app(m, &paths, prometheus))
            .configure(|m| {
                if let Some(ref callback) = callback_path {
                    add_callback_handler(m, callback);
                }
            })
            .default_service(web::to(|| async { web::HttpResponse::NotFound().finish() }))
    });

    if let Some(workers) = workers {
        tracing::info!(workers_count = workers, "configuring HTTP server worker(s)");
        server = server.workers(workers.get());
    }

    let cfg = SharedCfg::new("HIVE_ROUTER").add(build_http_service_config(router_config));
    server = server
        .config(cfg)
        .shutdown_timeout(router_config.shutdown_timeout());

    let server = match listener {
        EdgeListener::Tls { config, source } => {
            match &source {
                TlsSource::Environment => {
                    tracing::info!(%addr, "TLS 1.3 only, certificate from ERP_TLS_CERT_FILE")
                }
                TlsSource::ConfigFile => tracing::info!(
                    %addr,
                    "TLS 1.3 only, certificate from traffic_shaping.router.tls"
                ),
                TlsSource::DevCertificate { .. } => tracing::warn!(
                    %addr,
                    "TLS 1.3 only with a GENERATED SELF-SIGNED development certificate: configure \
                     ERP_TLS_CERT_FILE/ERP_TLS_KEY_FILE (or traffic_shaping.router.tls) outside development"
                ),
            }
            server.bind_rustls(&addr, &config)
        }
        EdgeListener::Plain => {
            tracing::warn!(%addr, "plain HTTP on loopback (ERP_ROUTER_PLAIN_HTTP): development only");
            server.bind(&addr)
        }
    };
    let maybe_error = server
        .map_err(|err| RouterInitError::HttpServerBindError(addr.to_string(), err))?
        .run()
        .await
        .map_err(RouterInitError::HttpServerStartError);

    tracing::info!("router stopped, clearing background tasks");
    bg_tasks_manager.graceful_shutdown().await;
    telemetry.graceful_shutdown().await;
    invoke_shutdown_hooks(&shared_state_clone).await;

    Ok(maybe_error?)
}
