//! OpenTelemetry traces across the edge: the real router binary and the employee subgraph, both
//! exporting over OTLP/HTTP (protobuf) to a receiver in this test that decodes what arrives
//! with the OpenTelemetry protocol's own message types. One request through the router is one
//! trace: the client's `traceparent` is continued by the router, the router's subgraph call
//! carries it on, and the subgraph's server span is a child of that call.
//!
//! Needs the real services (`eval "$(deploy/local/services.sh start)"`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use erp_kit::config::{LogFormat, TraceExport};
use erp_tests::router::{RouterOptions, RouterProcess};
use erp_tests::{eventually, require_env, Backends, EmployeeApp, TestIssuer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP traces receiver on a free loopback port; returns its base URL.
async fn receiver(spans: Arc<Mutex<Vec<Received>>>) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let spans = spans.clone();
            async move {
                let request = match ExportTraceServiceRequest::decode(body) {
                    Ok(request) => request,
                    Err(_) => return axum::http::StatusCode::BAD_REQUEST,
                };
                let mut spans = spans.lock().unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                        .map(|v| match v {
                            AnyValue::StringValue(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            spans.push(Received {
                                service: service.clone(),
                                name: span.name,
                                kind: span.kind,
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent_span_id: hex(&span.parent_span_id),
                            });
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn one_request_through_the_router_is_one_trace_from_the_client_to_the_subgraph() {
    require_env("REDIS_URL");
    let spans = Arc::new(Mutex::new(Vec::new()));
    let collector = receiver(spans.clone()).await;

    // This process serves the employee subgraph: its telemetry exports like `erp-os employee`'s.
    let telemetry = erp_kit::telemetry::init(
        LogFormat::Pretty,
        Some(&TraceExport {
            endpoint: format!("{collector}/v1/traces"),
            service_name: "erp-employee".into(),
            sampling: 1.0,
            schedule_delay: Duration::from_millis(100),
        }),
    )
    .expect("the first subscriber of this test process");
    assert!(telemetry.exports_traces());

    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    let app = EmployeeApp::spawn(runtime).await;
    let router = RouterProcess::spawn(
        &RouterOptions::new(&issuer, app.url("/graphql"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            // hive-router's level filter applies to its spans too: at `warn` none is recorded.
            .env("LOG_LEVEL", "info"),
    )
    .await;

    let token = issuer.token("tnt_trace", "usr_reader", &["employee:read"]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let (status, _, body) = router
        .post(
            Some(&token),
            "query Traced { departments(first: 1) { pageInfo { hasNextPage } } }",
            json!({}),
            &[("traceparent", &format!("00-{trace_id}-{client_span}-01"))],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "departments": { "pageInfo": { "hasNextPage": false } } } })
    );

    // Both exporters flush every 100 ms.
    let trace = eventually(Duration::from_secs(15), || {
        let spans = spans.clone();
        async move {
            let spans = spans.lock().unwrap();
            let trace: Vec<Received> = spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            // The router's root span ends after the response, so it may come in a later
            // export batch than its children: wait for it too, not just any router span.
            let has_router = trace
                .iter()
                .any(|s| s.service != "erp-employee" && s.parent_span_id == client_span);
            let has_subgraph = trace
                .iter()
                .any(|s| s.service == "erp-employee" && s.name == "POST /graphql");
            (has_router && has_subgraph).then_some(trace)
        }
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "spans received: {:#?}\nrouter log:\n{}",
            spans.lock().unwrap(),
            router.log_text()
        )
    });

    // The router continued the client's trace: its root span's parent is the client's span.
    let router_spans: Vec<&Received> = trace
        .iter()
        .filter(|s| s.service != "erp-employee")
        .collect();
    assert!(
        router_spans.iter().any(|s| s.parent_span_id == client_span),
        "{router_spans:#?}"
    );
    // The subgraph's server span is a child of one of the router's spans (its subgraph call).
    let server = trace
        .iter()
        .find(|s| s.service == "erp-employee" && s.name == "POST /graphql")
        .unwrap();
    assert_eq!(server.kind, SpanKind::Server as i32, "{server:?}");
    let parent = router_spans
        .iter()
        .find(|s| s.span_id == server.parent_span_id)
        .unwrap_or_else(|| panic!("{server:?} has no parent among {router_spans:#?}"));
    assert_eq!(parent.kind, SpanKind::Client as i32, "{parent:?}");

    // Only the requests' spans and what runs inside them are exported, not the database
    // drivers' (the outbox relay polls on its own) nor the readiness probes'.
    let names: std::collections::BTreeSet<String> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.service == "erp-employee")
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["POST /graphql"],
        "the router's /ready probes are not traced either"
    );

    // A request without `traceparent` starts a trace of its own at the router, still continued
    // by the subgraph.
    let (status, _, _) = router
        .post(
            Some(&token),
            "query Untraced { departments(first: 1) { pageInfo { hasNextPage } } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let own = eventually(Duration::from_secs(15), || {
        let spans = spans.clone();
        async move {
            let spans = spans.lock().unwrap();
            spans
                .iter()
                .filter(|s| {
                    s.service == "erp-employee"
                        && s.name == "POST /graphql"
                        && s.trace_id != trace_id
                })
                .find_map(|server| {
                    spans
                        .iter()
                        .find(|r| {
                            r.service != "erp-employee"
                                && r.span_id == server.parent_span_id
                                && r.trace_id == server.trace_id
                        })
                        .map(|_| server.trace_id.clone())
                })
        }
    })
    .await;
    assert!(
        own.is_some(),
        "spans received: {:#?}",
        spans.lock().unwrap()
    );
    drop(telemetry);
}
