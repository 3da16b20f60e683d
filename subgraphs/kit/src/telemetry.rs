//! JSON logs, Prometheus metrics and OpenTelemetry traces.
//!
//! Traces: with `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` set ([`crate::config::TraceExport`]),
//! every HTTP request's span (and the spans below it) is exported over OTLP/HTTP (protobuf),
//! as a child of the caller's W3C `traceparent` when one came with the request: the router's
//! subgraph call and the subgraph's work are one trace. Without it nothing is exported and the
//! request path does no trace work.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    span_processor_with_async_runtime::BatchSpanProcessor, BatchConfigBuilder, Sampler,
    SdkTracerProvider,
};
use opentelemetry_sdk::{runtime, Resource};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, TraceExport};

/// Installs the global log subscriber (once per process; later calls are no-ops). No traces:
/// see [`init`].
pub fn init_logging(format: LogFormat) {
    let _ = install(format, None);
}

/// Whether this process exports traces (read on every request: no extraction work without).
static TRACES_EXPORTED: AtomicBool = AtomicBool::new(false);

/// The process's telemetry; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the finished spans now.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            if let Err(error) = provider.force_flush() {
                tracing::warn!(%error, "spans not flushed");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            TRACES_EXPORTED.store(false, Ordering::Relaxed);
            if let Err(error) = provider.shutdown() {
                tracing::warn!(%error, "trace export not shut down cleanly");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("trace exporter: {0}")]
    Exporter(String),
    #[error("a log subscriber is already installed in this process: traces would not be exported")]
    AlreadyInstalled,
}

/// Installs logs and, when configured, the trace export. Call once, first thing in `main`, and
/// keep the guard for the life of the process.
pub fn init(format: LogFormat, traces: Option<&TraceExport>) -> Result<Telemetry, TelemetryError> {
    install(format, traces)
}

fn install(format: LogFormat, traces: Option<&TraceExport>) -> Result<Telemetry, TelemetryError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let provider = traces.map(tracer_provider).transpose()?;
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("erp-kit"))
            .with_filter(span_filter())
    });
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .try_init()
        .is_ok();
    match (installed, provider) {
        (true, Some(provider)) => {
            TRACES_EXPORTED.store(true, Ordering::Relaxed);
            Ok(Telemetry {
                provider: Some(provider),
            })
        }
        (false, Some(provider)) => {
            let _ = provider.shutdown();
            Err(TelemetryError::AlreadyInstalled)
        }
        (_, None) => Ok(Telemetry { provider: None }),
    }
}

/// Which spans are exported: `ERP_TRACE_FILTER` (`RUST_LOG` syntax), by default `info` without
/// the database drivers' own spans (the outbox relays and lease renewals poll several times a
/// second: each poll would be a trace of its own).
fn span_filter() -> tracing_subscriber::EnvFilter {
    const DEFAULT: &str = "info,sqlx=warn,sea_orm=warn,mongodb=warn";
    std::env::var("ERP_TRACE_FILTER")
        .ok()
        .and_then(|raw| tracing_subscriber::EnvFilter::try_new(raw).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(DEFAULT))
}

fn tracer_provider(config: &TraceExport) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(config.endpoint.clone())
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    // The exporter's reqwest client is async: the batch processor runs on a runtime thread of
    // its own (as hive-router does), so it works whatever runtime the service has.
    let processor = BatchSpanProcessor::builder(exporter, runtime::TokioCurrentThread)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(config.schedule_delay)
                .build(),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sampling,
        ))))
        .with_resource(
            Resource::builder()
                .with_attributes([KeyValue::new("service.name", config.service_name.clone())])
                .build(),
        )
        .build())
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the trace the request's `traceparent` names (W3C Trace Context),
/// when traces are exported.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    if !TRACES_EXPORTED.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

/// The metrics every service exports on `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub graphql_errors: IntCounterVec,
    /// The event consumers' counts and lag (`erp_events_*`).
    pub consumers: crate::events::ConsumerMetrics,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        let registry = Registry::new_custom(
            Some("erp".into()),
            Some(
                [("service".to_string(), service.to_string())]
                    .into_iter()
                    .collect(),
            ),
        )
        .unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("static metric definition");
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["route"],
        )
        .expect("static metric definition");
        let graphql_errors = IntCounterVec::new(
            Opts::new("graphql_errors_total", "GraphQL errors by extensions.code"),
            &["code"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(graphql_errors.clone()),
        ] {
            let _ = registry.register(collector);
        }
        let consumers = crate::events::ConsumerMetrics::register(&registry);
        Self {
            registry,
            http_requests,
            http_latency,
            graphql_errors,
            consumers,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
