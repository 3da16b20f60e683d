//! The GraphQL-over-HTTP contract every subgraph shares (the kit's HTTP layer and limits).

use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

async fn app() -> (TestIssuer, EmployeeApp) {
    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    (issuer, EmployeeApp::spawn(runtime).await)
}

async fn post_raw(
    app: &EmployeeApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: String,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app.http.post(app.url("/graphql")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn content_negotiation_and_status_codes() {
    let (_, app) = app().await;
    let valid = json!({ "query": "{ __typename }" }).to_string();
    let (status, headers, body) =
        post_raw(&app, Some("application/json"), None, valid.clone()).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "application/json")
    );
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));

    let (status, headers, _) = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        valid.clone(),
    )
    .await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "application/graphql-response+json")
    );

    let invalid = json!({ "query": "{ nope }" }).to_string();
    let (status, _, _) = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        invalid.clone(),
    )
    .await;
    assert_eq!(
        status, 400,
        "a request that cannot execute is 400 in the new media type"
    );
    let (status, _, body) = post_raw(
        &app,
        Some("application/json"),
        Some("application/json"),
        invalid,
    )
    .await;
    assert_eq!(status, 200, "and 200 in the legacy one");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    assert!(
        !body.to_string().contains("Did you mean"),
        "no field suggestions: {body}"
    );

    let (status, _, body) = post_raw(
        &app,
        Some("application/json"),
        Some("text/html"),
        valid.clone(),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (406, vec!["NOT_ACCEPTABLE".to_string()])
    );

    let (status, _, body) =
        post_raw(&app, Some("application/json"), None, "{not json".into()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["BAD_REQUEST".to_string()])
    );
}

#[tokio::test]
async fn batching_csrf_get_and_body_limits() {
    let (_, app) = app().await;
    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string();
    let (status, _, body) = post_raw(&app, Some("application/json"), None, batch).await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["BATCHING_NOT_ALLOWED".to_string()])
    );

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let (status, _, body) = post_raw(
            &app,
            content_type,
            None,
            json!({ "query": "{ __typename }" }).to_string(),
        )
        .await;
        assert_eq!(
            (status, error_codes(&body)),
            (403, vec!["CSRF_PREVENTION_FAILED".to_string()]),
            "{content_type:?}"
        );
    }

    // GET: queries with a preflight header only; mutations never.
    let get = |query: &str, preflight: bool| {
        let mut request = app.http.get(app.url("/graphql")).query(&[("query", query)]);
        if preflight {
            request = request.header("apollo-require-preflight", "true");
        }
        request.send()
    };
    let response = get("{ __typename }", true).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "data": { "__typename": "Query" } })
    );
    let response = get("{ __typename }", false).await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = get(
        "mutation { createDepartment(input: { name: \"x\" }) { id } }",
        true,
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        error_codes(&response.json().await.unwrap()),
        ["METHOD_NOT_ALLOWED"]
    );

    let huge = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(2 * 1024 * 1024)) })
        .to_string();
    let (status, _, body) = post_raw(&app, Some("application/json"), None, huge).await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["PAYLOAD_TOO_LARGE".to_string()])
    );
}

#[tokio::test]
async fn request_limits_trip_with_their_codes() {
    let (issuer, app) = app().await;
    let token = issuer.token("tnt_a", "usr_1", &["employee:read"]);
    let deep = format!(
        "{{ employees {{ edges {{ node {{ {}id{} }} }} }} }}",
        "manager { ".repeat(10),
        " }".repeat(10)
    );
    let aliases = format!(
        "{{ {} }}",
        (0..31)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let roots = format!(
        "{{ {} }}",
        (0..21).map(|_| "__typename").collect::<Vec<_>>().join(" ")
    );
    let directives = format!(
        "{{ __typename {} }}",
        (0..51)
            .map(|i| format!("f{i}: __typename @include(if: true)"))
            .take(51)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (query, code) in [
        (deep, "MAX_DEPTH_EXCEEDED"),
        (aliases, "MAX_ALIASES_EXCEEDED"),
        (roots, "MAX_ROOT_FIELDS_EXCEEDED"),
    ] {
        let (status, body) = app.graphql(Some(&token), &query, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(error_codes(&body), [code], "{body}");
        assert_eq!(body["data"], Value::Null);
    }
    // 51 directives also exceed the alias limit first; check the directive limit alone.
    let limits = erp_kit::config::Limits {
        max_aliases: 1000,
        max_root_fields: 1000,
        ..Default::default()
    };
    let shape = erp_kit::limits::measure(
        &async_graphql::parser::parse_query(&directives).unwrap(),
        100,
    );
    let err = erp_kit::limits::check(&shape, &limits).unwrap_err();
    assert_eq!(
        err.extensions.unwrap().get("code").unwrap().to_string(),
        "\"MAX_DIRECTIVES_EXCEEDED\""
    );
}

#[tokio::test]
async fn introspection_only_for_schema_read() {
    let (issuer, app) = app().await;
    let query = "{ __schema { queryType { name } } }";
    let (_, body) = app.graphql(None, query, json!({})).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let plain = issuer.token("tnt_a", "usr_1", &["employee:read"]);
    let (_, body) = app.graphql(Some(&plain), query, json!({})).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let consumer = issuer.token("tnt_a", "usr_1", &["schema:read"]);
    let (_, body) = app.graphql(Some(&consumer), query, json!({})).await;
    assert_eq!(
        body,
        json!({ "data": { "__schema": { "queryType": { "name": "Query" } } } })
    );

    // The router's `_service` call needs no scope, and serves the patched federation SDL.
    let (_, body) = app.graphql(None, "{ _service { sdl } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap();
    assert!(sdl.contains("federation/v2.6"));
    assert!(sdl.contains("@authenticated"));
    assert!(!sdl.contains("directive @authenticated"));
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let (_, app) = app().await;
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let response = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ready" })
    );
    let response = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
    app.graphql(None, "{ __typename }", json!({})).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "erp_http_requests_total{route=\"/graphql\",status=\"200\",service=\"employee\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("erp_http_request_duration_seconds_bucket"));
}
