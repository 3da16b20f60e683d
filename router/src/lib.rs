//! The router and edge: hive-router 0.2.19 as a library, plus our plugins.
//!
//! - [`edge_guard::EdgeGuardPlugin`] (`erp_edge_guard`): what hive-router's configuration cannot
//!   express: the root-field limit, and 401 for an invalid bearer token (hive-router treats it as
//!   an anonymous caller unless every request must be authenticated).
//! - [`rate_limit::RateLimitPlugin`] (`erp_rate_limit`): the three rate-limit classes of
//!   edge-security.md, GCRA in Redis shared by every replica, per-replica fallback, charged by
//!   each operation's estimated [`cost`] (refused above its limit); the client's address
//!   ([`client_ip`]) told to every subgraph; the WebSocket connection caps ([`ws_caps`]).
//!
//! - [`http_routes::HttpRoutesPlugin`] (`erp_http_routes`): non-GraphQL paths of subgraphs
//!   (the CRM's CSV import, signed SOP file URLs) proxied at the edge with its protections
//!   (token, rate limit, body limit), mounted by [`server::serve`].
//!
//! - [`server::serve`]: hive-router's entry point with our edge listener ([`edge_tls`]: TLS 1.3
//!   only, or plain HTTP on loopback when asked for).
//!
//! Both plugins decide in the `on_graphql_analysis` hook (after parsing, validation and JWT
//! verification, before planning) and put their response headers on the final response in the
//! `on_http_request` end callback, because an early analysis response carries only a body and a
//! status. A WebSocket's operations have no HTTP response of their own (and share their
//! connection's plugin context for as long as it lives): nothing is queued for them.

#![recursion_limit = "256"]

pub mod client_ip;
pub mod config_value;
pub mod cost;
pub mod edge_guard;
pub mod edge_tls;
pub mod gcra;
pub mod http_routes;
pub mod rate_limit;
pub mod readiness;
pub mod server;
pub mod tracing_export;
pub mod ws_caps;

/// The one entry point both `erp-router` and `erp-os router`/`erp-os all` run: hive-router on the
/// current thread (an ntex system) with our plugins and edge listener, until it is stopped.
/// Configuration: `ROUTER_CONFIG_FILE_PATH` (see [`default_config_path`]) and the environment
/// overrides of router/router.config.yaml.
#[hive_router::main]
pub async fn run() -> Result<(), server::ServeError> {
    hive_router::init_rustls_crypto_provider();
    // hive-router enables jsonwebtoken's `rust_crypto` feature and the subgraph kit its
    // `aws_lc_rs` one; when a build unifies both, jsonwebtoken refuses to pick and panics at the
    // first token. Choose explicitly (RS256 verification is the same either way; the first
    // choice wins).
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    );
    server::serve(
        hive_router::PluginRegistry::new()
            .register::<edge_guard::EdgeGuardPlugin>()
            .register::<rate_limit::RateLimitPlugin>()
            .register::<http_routes::HttpRoutesPlugin>(),
    )
    .await
}

/// When `ROUTER_CONFIG_FILE_PATH` is unset, points it at the checked-in configuration found
/// from the working directory (`router/router.config.yaml` from the repository root,
/// `router.config.yaml` from `router/`), else beside this crate's sources. Call before any
/// thread is started: it sets an environment variable.
pub fn default_config_path() {
    if std::env::var_os("ROUTER_CONFIG_FILE_PATH").is_some() {
        return;
    }
    let found = ["router/router.config.yaml", "router.config.yaml"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let beside_crate =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("router.config.yaml");
            beside_crate.is_file().then_some(beside_crate)
        });
    if let Some(path) = found {
        std::env::set_var("ROUTER_CONFIG_FILE_PATH", path);
    }
}

// `#[hive_router::main]` expands to ntex's macro, which names `ntex::...`.
use hive_router::ntex;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use hive_router::executor::execution::plan::PlanExecutionOutput;
use hive_router::http::StatusCode;
use hive_router::ntex::http::header::{HeaderName, HeaderValue};
use hive_router::opentelemetry::metrics::ObservableGauge;
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookPayload, OnHttpRequestHookResult,
};
use hive_router::plugins::plugin_context::PluginContext;
use hive_router::plugins::plugin_trait::{EndHookPayload, StartHookPayload};

/// Headers a plugin wants on the final HTTP response of this request. Created for each HTTP
/// request in `on_http_request` ([`apply_response_headers_on_end`]), never for a WebSocket
/// upgrade: a WebSocket's operations run with their connection's plugin context and are never
/// answered by an HTTP response, so a queue there would only grow (issue 16.6).
#[derive(Default)]
struct ExtraResponseHeaders(Vec<(HeaderName, HeaderValue)>);

/// Response headers queued and not yet applied, over every request of this process (the
/// `erp_router_queued_response_headers` gauge): it returns to 0 whenever no HTTP request is in
/// flight, however many WebSocket operations ran.
static QUEUED_HEADERS: AtomicI64 = AtomicI64::new(0);

/// Registers the `erp_router_queued_response_headers` gauge (once per process).
pub(crate) fn register_queued_headers_metric() {
    static GAUGE: OnceLock<ObservableGauge<i64>> = OnceLock::new();
    GAUGE.get_or_init(|| {
        hive_router::opentelemetry::global::meter("erp_router")
            .i64_observable_gauge("erp_router_queued_response_headers")
            .with_description(
                "Response headers queued by the router's plugins and not yet applied to a response",
            )
            .with_callback(|observer| observer.observe(QUEUED_HEADERS.load(Ordering::Relaxed), &[]))
            .build()
    });
}

/// Queues a response header for this request (applied by [`apply_response_headers_on_end`]).
pub(crate) fn add_response_header(context: &PluginContext, name: &'static str, value: &str) {
    let Ok(value) = HeaderValue::from_str(value) else {
        tracing::warn!(name, value, "not a valid header value; dropped");
        return;
    };
    add_response_header_value(context, name, value);
}

/// [`add_response_header`] with a value already built (a header fixed by the configuration).
/// Nothing is queued where there is no HTTP response to carry it (a WebSocket operation).
pub(crate) fn add_response_header_value(
    context: &PluginContext,
    name: &'static str,
    value: HeaderValue,
) {
    if let Some(mut headers) = context.get_mut::<ExtraResponseHeaders>() {
        headers.0.push((HeaderName::from_static(name), value));
        QUEUED_HEADERS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a request asks to become a WebSocket.
pub(crate) fn is_websocket_upgrade(headers: &hive_router::ntex::http::HeaderMap) -> bool {
    headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Opens this request's response-header queue and registers the end callback that moves the
/// queued headers onto the response. Every plugin of ours calls it, so headers arrive whichever
/// plugins are enabled; the first callback to run takes them all. A WebSocket upgrade gets no
/// queue (see [`ExtraResponseHeaders`]).
pub(crate) fn apply_response_headers_on_end(
    payload: OnHttpRequestHookPayload<'_>,
) -> OnHttpRequestHookResult<'_> {
    if is_websocket_upgrade(payload.router_http_request.headers()) {
        return payload.proceed();
    }
    if !payload.context.contains::<ExtraResponseHeaders>() {
        payload.context.insert(ExtraResponseHeaders::default());
    }
    payload.on_end(|end| {
        let queued = end
            .context
            .get_mut::<ExtraResponseHeaders>()
            .map(|mut headers| std::mem::take(&mut headers.0))
            .unwrap_or_default();
        if queued.is_empty() {
            return end.proceed();
        }
        QUEUED_HEADERS.fetch_sub(queued.len() as i64, Ordering::Relaxed);
        end.map_response(|mut response| {
            let headers = response.headers_mut();
            for (name, value) in queued {
                headers.insert(name, value);
            }
            response
        })
        .proceed()
    })
}

/// A GraphQL error response produced at the edge: `{"errors":[{"message","extensions":{"code"}}]}`.
pub(crate) fn edge_error(status: StatusCode, code: &str, message: &str) -> PlanExecutionOutput {
    edge_error_with(status, code, message, serde_json::json!({}))
}

/// [`edge_error`] with more `extensions` (an object) beside the code.
pub(crate) fn edge_error_with(
    status: StatusCode,
    code: &str,
    message: &str,
    extensions: serde_json::Value,
) -> PlanExecutionOutput {
    let mut extensions = match extensions {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    extensions.insert("code".into(), code.into());
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": extensions }]
    });
    PlanExecutionOutput {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        error_count: 1,
        status_code: status,
    }
}
