//! The real router binary (`erp-router`, the checked-in router/router.config.yaml) in front of
//! the employee subgraph on real PostgreSQL, Redis and Kafka. Tokens come from the TestIssuer's
//! JWKS (the identity service's stand-in), which both the router and the subgraph verify.
//!
//! Needs the real services (`eval "$(deploy/local/services.sh start)"`); the router binary is
//! built on first use (see tests/src/router.rs).

use erp_tests::router::{RouterOptions, RouterProcess};
use erp_tests::{error_codes, require_env, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
];
const READER: &[&str] = &["employee:read"];

const HIRE: &str = r#"mutation Hire($input: HireEmployeeInput!) {
  hireEmployee(input: $input) { id displayName personalEmail }
}"#;

struct Stand {
    issuer: TestIssuer,
    app: EmployeeApp,
}

async fn stand() -> Stand {
    require_env("REDIS_URL");
    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    let app = EmployeeApp::spawn(runtime).await;
    Stand { issuer, app }
}

impl Stand {
    fn options(&self) -> RouterOptions {
        RouterOptions::new(&self.issuer, self.app.url("/graphql"))
    }
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `query <name> { a0: departments(first: 1) { pageInfo { hasNextPage } } ... }`
fn root_fields_query(name: &str, count: usize) -> String {
    let fields = (0..count)
        .map(|i| format!("a{i}: departments(first: 1) {{ pageInfo {{ hasNextPage }} }}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!("query {name} {{ {fields} }}")
}

#[tokio::test]
async fn a_query_goes_through_the_router_and_a_denied_field_is_null_while_the_rest_arrives() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options()).await;
    let hr = stand.issuer.token("tnt_a", "usr_hr", HR);
    let reader = stand.issuer.token("tnt_a", "usr_reader", READER);

    let (status, headers, body) = router
        .post(
            Some(&hr),
            HIRE,
            json!({ "input": {
                "employeeNumber": "E-1",
                "displayName": "Rahul Verma",
                "workEmail": "rahul@company.com",
                "personalEmail": "rahul@home.example",
                "hiredOn": "2026-01-05"
            }}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let id = body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body["data"]["hireEmployee"]["personalEmail"],
        "rahul@home.example"
    );
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        "\"authenticated\";q=500;w=60"
    );
    assert!(header(&headers, "ratelimit").starts_with("\"authenticated\";r=499;"));

    let read = r#"query One($id: ID!) { employee(id: $id) { id displayName personalEmail } }"#;
    let (status, body) = router
        .graphql(Some(&reader), read, json!({ "id": id }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({ "employee": { "id": id, "displayName": "Rahul Verma", "personalEmail": null } }),
        "{body}"
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["employee", "personalEmail"])
    );

    // HR may read it; the subgraph receives the forwarded token (it resolves the tenant from it).
    let (_, body) = router.graphql(Some(&hr), read, json!({ "id": id })).await;
    assert_eq!(
        body["data"]["employee"]["personalEmail"], "rahul@home.example",
        "{body}"
    );
    assert!(body["errors"].is_null(), "{body}");

    // Another tenant's token sees nothing of tenant A (the subgraph's tenancy, via the router).
    let other = stand.issuer.token("tnt_b", "usr_b", HR);
    let (_, body) = router
        .graphql(Some(&other), read, json!({ "id": id }))
        .await;
    assert_eq!(body["data"]["employee"], Value::Null, "{body}");
}

#[tokio::test]
async fn the_31st_public_operation_in_a_minute_is_429_and_a_second_replica_shares_the_bucket() {
    let stand = stand().await;
    let options = stand.options();
    let first = RouterProcess::spawn(&options).await;
    let second = RouterProcess::spawn(&options).await;
    let login = "query Login { __typename }";

    for i in 0..30 {
        let router = if i % 2 == 0 { &first } else { &second };
        let (status, headers, body) = router.post(None, login, json!({}), &[]).await;
        assert_eq!(status, 200, "operation {} was refused: {body}", i + 1);
        assert_eq!(header(&headers, "ratelimit-policy"), "\"public\";q=30;w=60");
        assert!(
            header(&headers, "ratelimit").starts_with(&format!("\"public\";r={};", 29 - i)),
            "{:?}",
            headers
        );
    }
    for router in [&second, &first] {
        let (status, headers, body) = router.post(None, login, json!({}), &[]).await;
        assert_eq!(status, 429, "{body}");
        let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
        assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(header(&headers, "ratelimit-policy"), "\"public\";q=30;w=60");
        assert!(header(&headers, "ratelimit").starts_with("\"public\";r=0;t="));
        assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // An authenticated caller from the same address has its own budget.
    let token = stand.issuer.token("tnt_a", "usr_1", READER);
    let (status, body) = first
        .graphql(Some(&token), "query Mine { __typename }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn aliased_operations_count_one_by_one() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options()).await;
    // Ten aliased root fields cost ten public operations: the fourth request is over 30.
    let query = root_fields_query("Login", 10);
    for _ in 0..3 {
        let (status, body) = router.graphql(None, &query, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = router.graphql(None, &query, json!({})).await;
    assert_eq!(status, 429, "{body}");

    // The same for a signed-in user: 25 x 20 root fields = 500, the 26th request is refused.
    // The bucket refills at 500/min (one 20-field request every 2.4 s): on a loaded machine the
    // 25 requests may take long enough for one more to be allowed, and that many only.
    let token = stand.issuer.token("tnt_a", "usr_busy", READER);
    let query = root_fields_query("Dashboard", 20);
    let started = std::time::Instant::now();
    for i in 0..25 {
        let (status, body) = router.graphql(Some(&token), &query, json!({})).await;
        assert_eq!(status, 200, "request {}: {body}", i + 1);
    }
    let refilled = (started.elapsed().as_secs_f64() * 500.0 / 60.0 / 20.0).ceil() as usize;
    let mut extra = 0;
    let (headers, body) = loop {
        let (status, headers, body) = router.post(Some(&token), &query, json!({}), &[]).await;
        if status == 429 {
            break (headers, body);
        }
        assert_eq!(status, 200, "{body}");
        extra += 1;
        assert!(
            extra <= refilled,
            "{extra} requests allowed beyond 500 operations, {refilled} refilled"
        );
    };
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        "\"authenticated\";q=500;w=60"
    );
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
}

#[tokio::test]
async fn heavy_operations_have_their_own_small_budget_per_user() {
    let stand = stand().await;
    let router = RouterProcess::spawn(
        &stand
            .options()
            .env("ERP_RL_HEAVY_OPERATIONS", "HeavyExport"),
    )
    .await;
    let alice = stand.issuer.token("tnt_a", "usr_alice", READER);
    let bob = stand.issuer.token("tnt_a", "usr_bob", READER);
    let heavy = "query HeavyExport { departments(first: 1) { pageInfo { hasNextPage } } }";
    for _ in 0..5 {
        let (status, body) = router.graphql(Some(&alice), heavy, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, headers, body) = router.post(Some(&alice), heavy, json!({}), &[]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "ratelimit-policy"), "\"heavy\";q=5;w=60");
    // 60 s / 5: the next one is admitted in at most 12 s.
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    // Bob's budget, and Alice's ordinary operations, are untouched.
    let (status, _) = router.graphql(Some(&bob), heavy, json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = router
        .graphql(Some(&alice), "query Other { __typename }", json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    let stand = stand().await;
    let behind_proxy =
        RouterProcess::spawn(&stand.options().env("ERP_TRUSTED_PROXIES", "127.0.0.1/32")).await;
    let login = "query Login { __typename }";
    for _ in 0..30 {
        let (status, _, _) = behind_proxy
            .post(
                None,
                login,
                json!({}),
                &[("x-forwarded-for", "203.0.113.1")],
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = behind_proxy
        .post(
            None,
            login,
            json!({}),
            &[("x-forwarded-for", "203.0.113.1")],
        )
        .await;
    assert_eq!(status, 429);
    let (status, _, _) = behind_proxy
        .post(
            None,
            login,
            json!({}),
            &[("x-forwarded-for", "203.0.113.2")],
        )
        .await;
    assert_eq!(
        status, 200,
        "another client behind the proxy has its own bucket"
    );
    // An IPv6 client is its /64: another address of the same /64 shares its bucket, another
    // /64 does not (a host may use any of its 2^64 addresses).
    for i in 0..30 {
        let address = format!("2001:db8:1:2::{i:x}");
        let (status, _, _) = behind_proxy
            .post(None, login, json!({}), &[("x-forwarded-for", &address)])
            .await;
        assert_eq!(status, 200);
    }
    for (address, expected) in [
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", 429),
        ("2001:db8:1:3::1", 200),
    ] {
        let (status, _, _) = behind_proxy
            .post(None, login, json!({}), &[("x-forwarded-for", address)])
            .await;
        assert_eq!(status, expected, "{address}");
    }

    // Without trusted proxies, a client cannot escape its bucket by inventing addresses.
    let direct = RouterProcess::spawn(&stand.options()).await;
    for i in 0..30 {
        let spoofed = format!("198.51.100.{i}");
        let (status, _, _) = direct
            .post(None, login, json!({}), &[("x-forwarded-for", &spoofed)])
            .await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = direct
        .post(
            None,
            login,
            json!({}),
            &[("x-forwarded-for", "198.51.100.99")],
        )
        .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn when_redis_is_unreachable_each_replica_still_limits_and_says_so() {
    let stand = stand().await;
    let mut options = stand.options();
    options.redis_url = Some("redis://127.0.0.1:1/".into());
    let router = RouterProcess::spawn(&options).await;
    let login = "query Login { __typename }";
    for _ in 0..30 {
        let (status, body) = router.graphql(None, login, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = router.graphql(None, login, json!({})).await;
    assert_eq!(status, 429, "{body}");
    let metrics = router.metrics().await;
    let fallbacks = metrics
        .lines()
        .find(|l| l.starts_with("erp_router_rate_limit_fallbacks"))
        .unwrap_or_else(|| panic!("no fallback counter in:\n{metrics}"));
    let count: f64 = fallbacks.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, 31.0, "{fallbacks}");
    // The decisions, by class, outcome and backend: 30 admitted and 1 refused, all in memory.
    let decisions = |outcome: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("erp_router_rate_limit_decisions")
                    && l.contains(r#"class="public""#)
                    && l.contains(&format!(r#"outcome="{outcome}""#))
                    && l.contains(r#"backend="memory""#)
            })
            .unwrap_or_else(|| panic!("no {outcome} decisions in:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(decisions("allowed"), 30.0);
    assert_eq!(decisions("limited"), 1.0);
    assert!(
        router.log_text().contains("Redis failed"),
        "{}",
        router.log_text()
    );
}

#[tokio::test]
async fn every_request_limit_trips_with_its_code() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options()).await;
    let bearer = stand.issuer.token("tnt_a", "usr_limits", READER);
    let token = Some(bearer.as_str());

    // Depth 12: departments > nodes > parent x 12 > id is deeper.
    let deep = format!(
        "query Deep {{ departments {{ nodes {{ {} id {} }} }} }}",
        "parent { ".repeat(12),
        "} ".repeat(12)
    );
    let (status, body) = router.graphql(token, &deep, json!({})).await;
    assert_eq!(
        error_codes(&body),
        ["MAX_DEPTH_EXCEEDED"],
        "{status} {body}"
    );

    // Aliases 30.
    let aliases = (0..31)
        .map(|i| format!("a{i}: id"))
        .collect::<Vec<_>>()
        .join(" ");
    let (status, body) = router
        .graphql(
            token,
            &format!("{{ departments {{ nodes {{ {aliases} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        ["MAX_ALIASES_EXCEEDED"],
        "{status} {body}"
    );

    // Root fields 20 (our edge guard), refused before any rate-limit charge.
    let (status, body) = router
        .graphql(token, &root_fields_query("Wide", 21), json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["MAX_ROOT_FIELDS_EXCEEDED"], "{body}");
    let (status, body) = router
        .graphql(token, &root_fields_query("Wide", 20), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    // Directives 50.
    let directives = "id @include(if: true) ".repeat(51);
    let (status, body) = router
        .graphql(
            token,
            &format!("{{ departments {{ nodes {{ {directives} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(
        error_codes(&body).contains(&"MAX_DIRECTIVES_EXCEEDED".to_string()),
        "{status} {body}"
    );

    // Tokens 15,000.
    let tokens = "id ".repeat(15_000);
    let (status, body) = router
        .graphql(
            token,
            &format!("{{ departments {{ nodes {{ {tokens} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        ["TOKEN_LIMIT_EXCEEDED"],
        "{status} {body}"
    );

    // Body 2 MB -> 413, read by the client: the router discards the declared body before it
    // answers and closes (vendored hive-router patch 9), so the client, still writing it,
    // gets the answer and not a connection reset.
    let padding = " ".repeat(2 * 1024 * 1024);
    let oversized = json!({ "query": format!("{{ __typename {padding} }}") }).to_string();
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("content-type", "application/json")
        .bearer_auth(&bearer)
        .body(oversized)
        .send()
        .await
        .expect("the 2 MB body is answered, not reset");
    assert_eq!(response.status().as_u16(), 413);

    // Batching is off: an array body is refused.
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("content-type", "application/json")
        .body(r#"[{"query":"{ __typename }"},{"query":"{ __typename }"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // CSRF: a simple (form-like) request without a preflight header is refused...
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        error_codes(&body),
        ["CSRF_PREVENTION_FAILED"],
        "{status} {body}"
    );
    assert_eq!(status, 403, "{body}");
    // ...and so is a GET without one; with one, a query over GET works.
    let get = |preflight: bool| {
        let mut request = router
            .http
            .get(router.url("/graphql"))
            .query(&[("query", "{ __typename }")])
            .header("accept", "application/json");
        if preflight {
            request = request.header("graphql-require-preflight", "1");
        }
        request.send()
    };
    assert_eq!(get(false).await.unwrap().status().as_u16(), 403);
    assert_eq!(get(true).await.unwrap().status().as_u16(), 200);
    // Mutations over GET are refused.
    let response = router
        .http
        .get(router.url("/graphql"))
        .query(&[("query", "mutation { __typename }")])
        .header("accept", "application/json")
        .header("graphql-require-preflight", "1")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 405, "{body}");

    // Introspection only with schema:read.
    let introspect = "{ __schema { queryType { name } } }";
    let (_, body) = router.graphql(token, introspect, json!({})).await;
    assert_eq!(error_codes(&body), ["INTROSPECTION_DISABLED"], "{body}");
    let (_, body) = router.graphql(None, introspect, json!({})).await;
    assert_eq!(error_codes(&body), ["INTROSPECTION_DISABLED"], "{body}");
    let schema_reader = stand.issuer.token("tnt_a", "usr_tools", &["schema:read"]);
    let (status, body) = router
        .graphql(Some(&schema_reader), introspect, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );

    // A token the router does not accept is 401, not an anonymous call.
    let foreign = erp_kit::auth::RsaSigningKey::generate("foreign").unwrap();
    let forged = foreign
        .sign(&stand.issuer.claims("tnt_a", "usr_x", HR))
        .unwrap();
    let (status, headers, body) = router
        .post(Some(&forged), "{ __typename }", json!({}), &[])
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        header(&headers, "www-authenticate"),
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let mut expired = stand.issuer.claims("tnt_a", "usr_x", HR);
    expired.exp = expired.iat - 3600;
    let expired = stand.issuer.key.sign(&expired).unwrap();
    let (status, body) = router
        .graphql(Some(&expired), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
}

/// Field suggestions never reach a caller: hive-router's validator (graphql-tools 0.5) does not
/// suggest names and the subgraphs are built with `disable_suggestions()`, so a typo learns
/// nothing about the schema whatever the caller's scopes; introspection alone (schema:read)
/// shows it.
#[tokio::test]
async fn a_misspelt_field_gets_no_suggestion() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options()).await;
    let reader = stand.issuer.token("tnt_sugg", "usr_1", READER);
    for (query, rule) in [
        (
            "{ departmnts(first: 1) { nodes { id } } }",
            "FieldsOnCorrectType",
        ),
        (
            "{ departments(frist: 1) { nodes { id } } }",
            "KnownArgumentNames",
        ),
    ] {
        let (status, body) = router.graphql(Some(&reader), query, json!({})).await;
        // hive-router answers validation errors with 200; the code is GRAPHQL_VALIDATION_FAILED
        // and the rule's name is in `extensions.rule` (issue 15: one naming style for every
        // code; hive-router put the rule's name in `code`).
        assert_eq!(status, 200, "{body}");
        assert!(body["data"].is_null(), "{body}");
        assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["rule"], rule, "{body}");
        let text = body.to_string();
        assert!(!text.contains("Did you mean"), "{text}");
        assert!(!text.contains("\"departments\""), "{text}");
    }
    // Directly at the subgraph too.
    let (_, body) = stand
        .app
        .graphql(
            Some(&reader),
            "{ departmnts(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(!body.to_string().contains("Did you mean"), "{body}");
}

/// The transport contract of issue 15 through the live router: CORS lets a browser client send
/// the headers GraphQL clients send and never answers `Access-Control-Allow-Origin: null`;
/// introspection declares each directive once and lists the types in one stable order (the
/// composed API's, schema/api.graphql); a refused introspection says what it needs; a bad
/// variable is BAD_USER_INPUT, never an outage; every code is in one naming style.
#[tokio::test]
async fn the_transport_contract_holds_through_the_router() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options()).await;

    // CORS preflight from the allowed origin with the headers Apollo Client and urql send.
    let wanted = "accept, content-type, authorization, x-apollo-operation-name, \
                  apollographql-client-name, apollographql-client-version, \
                  apollo-require-preflight, graphql-require-preflight";
    let response = router
        .http
        .request(reqwest::Method::OPTIONS, router.url("/graphql"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", wanted)
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        "http://localhost:3000"
    );
    let allowed = header(&headers, "access-control-allow-headers").to_ascii_lowercase();
    for name in wanted.split(',').map(str::trim) {
        assert!(
            allowed.split(',').any(|a| a.trim() == name),
            "{name} not in {allowed}"
        );
    }
    // Another origin, and the opaque origin `null` (a sandboxed iframe, a file: page), get no
    // Access-Control-Allow-Origin at all (upstream answered `null`, which `Origin: null` matches).
    for origin in ["https://evil.example", "null"] {
        for method in [reqwest::Method::OPTIONS, reqwest::Method::POST] {
            let response = router
                .http
                .request(method.clone(), router.url("/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("content-type", "application/json")
                .body(r#"{"query":"{ __typename }"}"#)
                .send()
                .await
                .unwrap();
            let headers = response.headers();
            assert!(
                headers.get("access-control-allow-origin").is_none(),
                "{origin} {method}: {headers:?}"
            );
            let vary = header(headers, "vary");
            assert!(
                vary.split(',').any(|v| v.trim() == "Origin"),
                "{origin} {method}: vary {vary}"
            );
        }
    }

    // Introspection: refused without schema:read, and saying so.
    let reader = stand.issuer.token("tnt_t", "usr_reader", READER);
    let introspect = "{ __schema { types { name } directives { name } } }";
    let (_, body) = router.graphql(Some(&reader), introspect, json!({})).await;
    assert_eq!(error_codes(&body), ["INTROSPECTION_DISABLED"], "{body}");
    assert_eq!(
        body["errors"][0]["message"], "Introspection needs a token with the schema:read scope",
        "{body}"
    );
    // With it: each directive once, the types in the composed API's order, every time.
    let schema_reader = stand.issuer.token("tnt_t", "usr_tools", &["schema:read"]);
    let (status, first) = router
        .graphql(Some(&schema_reader), introspect, json!({}))
        .await;
    assert_eq!(status, 200, "{first}");
    let directives: Vec<&str> = first["data"]["__schema"]["directives"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for builtin in ["include", "skip", "deprecated", "specifiedBy"] {
        assert_eq!(
            directives.iter().filter(|d| **d == builtin).count(),
            1,
            "{builtin} in {directives:?}"
        );
    }
    let types: Vec<&str> = first["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|name| !name.starts_with("__"))
        .collect();
    let api =
        std::fs::read_to_string(erp_tests::tests_dir().join("../schema/api.graphql")).unwrap();
    let api_types: Vec<&str> = api
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("type" | "interface" | "union" | "enum" | "input" | "scalar") => words
                    .next()
                    .map(|name| name.trim_end_matches(|c: char| !c.is_alphanumeric())),
                _ => None,
            }
        })
        .collect();
    let built_in = ["String", "Int", "Float", "Boolean", "ID"];
    let declared: Vec<&str> = types
        .iter()
        .copied()
        .filter(|t| !built_in.contains(t))
        .collect();
    let mut api_sorted = api_types.clone();
    api_sorted.sort_unstable();
    let mut declared_sorted = declared.clone();
    declared_sorted.sort_unstable();
    assert_eq!(
        declared_sorted, api_sorted,
        "introspection vs schema/api.graphql"
    );
    for _ in 0..3 {
        let (_, again) = router
            .graphql(Some(&schema_reader), introspect, json!({}))
            .await;
        assert_eq!(again, first, "introspection answered in another order");
    }

    // A bad variable is the caller's mistake: BAD_USER_INPUT, not an outage.
    let board = "query($s: [AttendanceStatus!]) { attendanceToday { entries(status: $s, first: 1) { pageInfo { hasNextPage } } } }";
    let hr = stand
        .issuer
        .token("tnt_t", "usr_hr", &["attendance:read", "hr:read"]);
    let (status, body) = router
        .graphql(Some(&hr), board, json!({ "s": ["ASLEEP"] }))
        .await;
    // The router coerces the variables: refused before any subgraph is asked (200 under
    // `Accept: application/json`, the GraphQL-over-HTTP rule for that media type).
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    // Under `application/graphql-response+json` the same refusal is HTTP 400.
    let response = router
        .http
        .post(router.url("/graphql"))
        .bearer_auth(&hr)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": board, "variables": { "s": ["ASLEEP"] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let day = "query($d: Date) { attendanceToday(day: $d) { day } }";
    let (status, body) = router
        .graphql(Some(&hr), day, json!({ "d": "2026-1-5" }))
        .await;
    // A custom scalar is the subgraph's to check: its BAD_USER_INPUT, naming the argument,
    // passes through (before issue 15: DOWNSTREAM_SERVICE_ERROR).
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "day", "{body}");
    assert!(body["data"]["attendanceToday"].is_null(), "{body}");
    let (status, body) = router
        .graphql(Some(&hr), day, json!({ "d": "2026-01-05" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["attendanceToday"]["day"], "2026-01-05",
        "{body}"
    );

    // One naming style: a validation failure is GRAPHQL_VALIDATION_FAILED (the rule in
    // `extensions.rule`), like every other code in SCREAMING_SNAKE_CASE.
    let (status, body) = router
        .graphql(
            Some(&reader),
            "{ departmnts(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["rule"],
        "FieldsOnCorrectType"
    );
}

/// The operations subgraph on its embedded document store (its SOP files in a fresh
/// directory), served on a random port; answers its GraphQL URL and the running app.
async fn spawn_ops(issuer: &TestIssuer) -> (String, erp_ops::OpsApp) {
    use std::sync::Arc;
    let mut kit = erp_tests::config(issuer, String::new());
    kit.service = "ops".into();
    let journal = std::env::temp_dir().join(format!("ops-edge-{}.journal", uuid::Uuid::new_v4()));
    let store: erp_ops::store::SharedStore =
        Arc::new(erp_ops::store::memory::MemoryStore::open(&journal).unwrap());
    let runtime = erp_kit::runtime::Runtime::with_backends(
        kit,
        sea_orm::DatabaseConnection::Disconnected,
        Arc::new(erp_kit::cache::InProcessCache::new()),
        Arc::new(erp_kit::events::InProcessBus::new()),
    );
    let options = erp_ops::OpsOptions {
        blob_dir: Some(
            std::env::temp_dir().join(format!("ops-edge-files-{}", uuid::Uuid::new_v4())),
        ),
        ..Default::default()
    };
    let app = erp_ops::start_with(&runtime, store, options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    (format!("http://{addr}/graphql"), app)
}

/// The CRM's CSV import and the operations subgraph's signed SOP file URLs through the edge
/// (erp_http_routes) over TLS 1.3: an import needs a token the router verifies (401 before the
/// CRM sees anything), is charged to its user's heavy budget (429 beyond it) and held to the
/// body limit (413, declared or streamed); a signed download and a signed upload pass through
/// untouched and stay verifiable (a tampered signature is still the subgraph's 403); other
/// methods are 405.
#[tokio::test]
async fn the_crm_import_and_sop_files_go_through_the_edge() {
    use erp_tests::crm::{CrmApp, CRM_ADMIN};
    use erp_tests::router::Transport;

    let stand = stand().await;
    let issuer = &stand.issuer;
    let crm = CrmApp::spawn(issuer).await;
    let (ops_url, _ops) = spawn_ops(issuer).await;
    let router = RouterProcess::spawn(
        &stand
            .options()
            .transport(Transport::DevCertificate)
            .env("ERP_CRM_URL", &crm.url("/graphql"))
            .env("ERP_OPS_URL", &ops_url)
            .env("ERP_RL_HEAVY_LIMIT", "3")
            .env("ERP_IMPORT_MAX_BODY_BYTES", "4096"),
    )
    .await;
    assert_eq!(router.scheme, "https");
    let tenant = format!("tnt_edge_{}", uuid::Uuid::new_v4().simple());
    let admin = issuer.token(&tenant, "usr_crm_admin", CRM_ADMIN);
    let import = |token: Option<String>, body: reqwest::Body| {
        let mut request = router
            .http
            .post(router.url("/crm/import/leads?key=email"))
            .header("content-type", "text/csv")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, headers, body)
        }
    };
    let csv = "name,email,company_name,source\nAna Gomez,ana@acme.example,Acme,referral\nBo Li,bo@acme.example,Acme,website\n";

    // Without a token, or with one that does not verify: 401 at the edge.
    for token in [None, Some("not-a-jwt".to_owned())] {
        let (status, _, body) = import(token, csv.into()).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    // A verified token: the CRM imports, its report comes back as it answered it.
    let (status, headers, body) = import(Some(admin.clone()), csv.into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["rows"],
            &body["created"],
            &body["failed"],
            &body["dryRun"]
        ),
        (&json!(2), &json!(2), &json!(0), &json!(false)),
        "{body}"
    );
    assert_eq!(header(&headers, "ratelimit-policy"), "\"heavy\";q=3;w=60");
    let leads = crm
        .ok(
            &admin,
            "{ leads(first: 10) { nodes { email } } }",
            json!({}),
        )
        .await;
    let mut emails: Vec<&str> = leads["leads"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["ana@acme.example", "bo@acme.example"]);
    // The CRM's own answers pass through: a bad header is its 400 with its reason.
    let (status, _, body) = import(Some(admin.clone()), "name,fax\nAna,1\n".into()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "IMPORT_BAD_HEADER"
    );
    // Over the body limit (4,096 bytes here): declared, 413 before anything is sent on; a
    // streamed body without a length is cut at the limit, 413 too.
    let big = format!(
        "name,email\n{}",
        (0..200)
            .map(|n| format!("Person {n},p{n}@big.example\n"))
            .collect::<String>()
    );
    assert!(big.len() > 4096);
    let other = issuer.token(&tenant, "usr_other_admin", CRM_ADMIN);
    let (status, _, body) = import(Some(other.clone()), big.clone().into()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    // A declared body far larger than the socket buffers (2 MB): the router reads and discards
    // it before answering, so the client reads the 413 instead of a connection reset.
    let huge: Vec<u8> = big
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(2_000_000)
        .collect();
    // (Its own user: each user's heavy budget is 3 a minute here.)
    let third = issuer.token(&tenant, "usr_third_admin", CRM_ADMIN);
    let (status, _, body) = import(Some(third), huge.into()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.as_bytes().chunks(512).map(|c| Ok(c.to_vec())).collect();
    let (status, _, body) = import(
        Some(other.clone()),
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    // The heavy budget (3 a minute here) is per user: the admin's fourth import is refused.
    let (status, _, body) = import(Some(admin.clone()), csv.into()).await;
    assert_eq!(status, 200, "{body}");
    let (status, refused, body) = import(Some(admin.clone()), csv.into()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (429, vec!["RATE_LIMITED".to_owned()]),
        "{body}"
    );
    assert!(header(&refused, "retry-after").parse::<u64>().unwrap() >= 1);
    // Only POST is routed.
    let response = router
        .http
        .get(router.url("/crm/import/leads"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    // SOP files: a signed download URL from the operations subgraph, fetched at the edge.
    let author = issuer.token(&tenant, "olga", &["sop:read", "sop:write", "sop:publish"]);
    let ops_graphql = |query: &'static str, variables: Value| {
        let http = reqwest::Client::new();
        let url = ops_url.clone();
        let author = author.clone();
        async move {
            let (status, body) =
                erp_tests::post_graphql(&http, &url, Some(&author), query, variables).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let content = "# Fire drill\n\n1. Leave by the stairs.\n";
    let data = ops_graphql(
        "mutation($input: CreateSopInput!) { createSop(input: $input) { id } }",
        json!({ "input": { "title": "Fire drill", "content": content } }),
    )
    .await;
    let sop = data["createSop"]["id"].as_str().unwrap().to_owned();
    let data = ops_graphql(
        "query($id: ID!) { sop(id: $id) { versions { downloadUrl(expiresInSeconds: 300) { url } } } }",
        json!({ "id": sop }),
    )
    .await;
    let download = data["sop"]["versions"][0]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(download.starts_with("/sop-files/"), "{download}");
    let response = router.http.get(router.url(&download)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(response.headers(), "content-type"),
        "text/markdown; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), content);
    // A tampered signature is still refused, by the subgraph that signed it.
    let tampered = if download.ends_with('0') {
        format!("{}1", &download[..download.len() - 1])
    } else {
        format!("{}0", &download[..download.len() - 1])
    };
    let response = router.http.get(router.url(&tampered)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    // A signed upload of the next version, through the edge.
    for step in ["submitSopVersion", "publishSopVersion"] {
        let query: &'static str = if step == "submitSopVersion" {
            "mutation($id: ID!) { submitSopVersion(input: { sopId: $id, version: 1 }) { id } }"
        } else {
            "mutation($id: ID!) { publishSopVersion(input: { sopId: $id, version: 1 }) { id } }"
        };
        ops_graphql(query, json!({ "id": sop })).await;
    }
    let data = ops_graphql(
        "mutation($id: ID!) { sopUploadUrl(input: { sopId: $id, expiresInSeconds: 300 }) { url } }",
        json!({ "id": sop }),
    )
    .await;
    let upload = data["sopUploadUrl"]["url"].as_str().unwrap().to_owned();
    let second = "# Fire drill\n\n1. Leave by the stairs.\n2. Meet at the gate.\n";
    let response = router
        .http
        .put(router.url(&upload))
        .header("content-type", "text/markdown")
        .body(second)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sopId"], sop.as_str());
    assert_eq!(body["version"], 2);
    let data = ops_graphql(
        "query($id: ID!) { sop(id: $id) { versions { number content } } }",
        json!({ "id": sop }),
    )
    .await;
    assert_eq!(
        data["sop"]["versions"][1],
        json!({ "number": 2, "content": second })
    );
    // Other methods are not routed.
    let response = router
        .http
        .delete(router.url(&download))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

/// The helpdesk's inbound e-mail and ticket attachment downloads through the edge over TLS
/// 1.3: a provider's signed POST reaches the operations subgraph with its signature headers
/// and body untouched (a ticket opens; a wrong signature is still the subgraph's 401 with its
/// reason); a body over the route's limit is 413 at the edge, declared or streamed, and opens
/// nothing; the attachment's signed URL is served at the edge as a download, and an altered
/// one is the subgraph's 403; only POST is routed to the webhook, only GET to the files.
#[tokio::test]
async fn inbound_mail_and_ticket_attachments_go_through_the_edge() {
    use base64::Engine as _;
    use erp_tests::router::Transport;

    let stand = stand().await;
    let issuer = &stand.issuer;
    let (ops_url, _ops) = spawn_ops(issuer).await;
    let router = RouterProcess::spawn(
        &stand
            .options()
            .transport(Transport::DevCertificate)
            .env("ERP_OPS_URL", &ops_url)
            .env("ERP_INBOUND_MAIL_MAX_BODY_BYTES", "4096"),
    )
    .await;
    assert_eq!(router.scheme, "https");
    let tenant = format!("tnt_mail_{}", uuid::Uuid::new_v4().simple());
    let admin = issuer.token(
        &tenant,
        "usr_help_admin",
        &["helpdesk:read", "helpdesk:admin"],
    );
    let ops_graphql = |query: &'static str, variables: Value| {
        let http = reqwest::Client::new();
        let url = ops_url.clone();
        let admin = admin.clone();
        async move {
            let (status, body) =
                erp_tests::post_graphql(&http, &url, Some(&admin), query, variables).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let secret = ops_graphql(
        "mutation { rotateInboundMailSecret(input: {}) { secret path } }",
        json!({}),
    )
    .await["rotateInboundMailSecret"]
        .clone();
    let path = secret["path"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/ops/helpdesk/inbound-mail/{tenant}"));
    let secret = secret["secret"].as_str().unwrap().to_owned();
    let message = |id: &str, attachment: &[u8]| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
        format!(
            "From: Ada <ada@example.com>\r\nTo: help@acme.test\r\nSubject: VPN down\r\n\
Date: Mon, 7 Dec 2026 08:00:00 +0000\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe VPN drops every minute.\r\n\
--b\r\nContent-Type: text/plain; name=\"vpn.log\"\r\nContent-Disposition: attachment; filename=\"vpn.log\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
        )
        .into_bytes()
    };
    let post = |raw: reqwest::Body, signature: String, at: i64| {
        let request = router
            .http
            .post(router.url(&path))
            .header("content-type", "message/rfc822")
            .header("x-erp-webhook-timestamp", at.to_string())
            .header("x-erp-webhook-signature", signature)
            .body(raw);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let now = || chrono::Utc::now().timestamp();
    let tickets = || async {
        ops_graphql(
            "{ tickets(first: 10) { nodes { id subject attachments { name sha256 downloadUrl { url } } } } }",
            json!({}),
        )
        .await["tickets"]["nodes"]
            .as_array()
            .unwrap()
            .clone()
    };

    // Signed with another secret: the subgraph's 401 and reason, relayed as it answered.
    let log = b"08:00:01 tunnel down\n08:00:59 tunnel up\n";
    let raw = message("vpn-1@example.com", log);
    let at = now();
    let forged = erp_kit::webhook::sign(b"whsec_forged", at, &raw);
    let (status, body) = post(raw.clone().into(), forged, at).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "MAIL_SIGNATURE_INVALID" })
    );
    // Over the route's body limit (4,096 bytes here): 413 at the edge, declared or streamed,
    // and nothing reaches the subgraph.
    let big_log: Vec<u8> = b"08:00:01 tunnel down\n".repeat(250);
    let big = message("vpn-big@example.com", &big_log);
    assert!(big.len() > 4096);
    let at = now();
    let signature = erp_kit::webhook::sign(secret.as_bytes(), at, &big);
    let (status, body) = post(big.clone().into(), signature.clone(), at).await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let (status, body) = post(
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
        signature,
        at,
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    assert_eq!(tickets().await, Vec::<Value>::new(), "nothing was opened");

    // A genuine message under the limit: the signature verifies at the subgraph, a ticket
    // opens with its attachment.
    let at = now();
    let signature = erp_kit::webhook::sign(secret.as_bytes(), at, &raw);
    let (status, body) = post(raw.clone().into(), signature, at).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], false, "{body}");
    let ticket = body["ticketId"].as_str().unwrap().to_owned();
    let listed = tickets().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], ticket.as_str());
    assert_eq!(listed[0]["subject"], "VPN down");
    assert_eq!(listed[0]["attachments"][0]["name"], "vpn.log");
    // Only POST reaches the webhook.
    let response = router.http.get(router.url(&path)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);

    // The attachment's signed URL, fetched at the edge: the file as a download.
    let download = listed[0]["attachments"][0]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(download.starts_with("/ticket-files/"), "{download}");
    let response = router.http.get(router.url(&download)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(response.headers(), "content-type"), "text/plain");
    assert_eq!(
        header(response.headers(), "content-disposition"),
        "attachment; filename=\"vpn.log\"; filename*=UTF-8''vpn.log"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), log);
    let altered = download.replace("name=vpn.log", "name=vpn.html");
    let response = router.http.get(router.url(&altered)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "FORBIDDEN", "reason": "SIGNED_URL_INVALID" })
    );
    let response = router
        .http
        .put(router.url(&download))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

/// Inbound e-mail is limited per tenant at the edge (`rate_limit_class: tenant`, the
/// `tenant` class of erp_rate_limit, ERP_RL_TENANT_LIMIT; in Redis), not per client address:
/// one provider address posting for two tenants, tenant A runs out of its budget (429
/// RATE_LIMITED in the GraphQL error shape with `retryAfter`, `Retry-After` and the tenant
/// policy header) and the refused mail opens nothing, while tenant B's mail and a login from
/// the same address still go through. A path naming no plausible tenant is 404 before
/// anything is charged or forwarded.
#[tokio::test]
async fn inbound_mail_is_limited_per_tenant_not_per_address() {
    use erp_tests::router::Transport;

    let stand = stand().await;
    let issuer = &stand.issuer;
    let (ops_url, _ops) = spawn_ops(issuer).await;
    let router = RouterProcess::spawn(
        &stand
            .options()
            .transport(Transport::DevCertificate)
            .env("ERP_OPS_URL", &ops_url)
            .env("ERP_RL_TENANT_LIMIT", "3"),
    )
    .await;
    let http = reqwest::Client::new();
    // Each tenant's webhook secret, and a way to list its tickets, straight at the subgraph.
    let tenant_a = format!("tnt_mail_a_{}", uuid::Uuid::new_v4().simple());
    let tenant_b = format!("tnt_mail_b_{}", uuid::Uuid::new_v4().simple());
    let admin_of = |tenant: &str| {
        issuer.token(
            tenant,
            "usr_help_admin",
            &["helpdesk:read", "helpdesk:admin"],
        )
    };
    let ops_data = |token: String, query: &'static str| {
        let (http, url) = (http.clone(), ops_url.clone());
        async move {
            let (status, body) =
                erp_tests::post_graphql(&http, &url, Some(&token), query, json!({})).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let secret_of = |tenant: String| {
        let token = admin_of(&tenant);
        let ops_data = &ops_data;
        async move {
            ops_data(
                token,
                "mutation { rotateInboundMailSecret(input: {}) { secret } }",
            )
            .await["rotateInboundMailSecret"]["secret"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let subjects_of = |tenant: &str| {
        let token = admin_of(tenant);
        let ops_data = &ops_data;
        async move {
            let data = ops_data(token, "{ tickets(first: 50) { nodes { subject } } }").await;
            let mut subjects: Vec<String> = data["tickets"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|node| node["subject"].as_str().unwrap().to_owned())
                .collect();
            subjects.sort();
            subjects
        }
    };
    let secret_a = secret_of(tenant_a.clone()).await;
    let secret_b = secret_of(tenant_b.clone()).await;
    let mail = |tenant: &str, secret: &str, n: usize| {
        let raw = format!(
            "From: Ada <ada@example.com>\r\nTo: help@acme.test\r\nSubject: Printer {n}\r\n\
Date: Mon, 7 Dec 2026 08:00:00 +0000\r\nMessage-ID: <printer-{n}@example.com>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nThe printer is jammed again.\r\n"
        )
        .into_bytes();
        let at = chrono::Utc::now().timestamp();
        let signature = erp_kit::webhook::sign(secret.as_bytes(), at, &raw);
        let request = router
            .http
            .post(router.url(&format!("/ops/helpdesk/inbound-mail/{tenant}")))
            .header("content-type", "message/rfc822")
            .header("x-erp-webhook-timestamp", at.to_string())
            .header("x-erp-webhook-signature", signature)
            .body(raw);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, headers, body)
        }
    };

    // Tenant A: 3 a minute. The bucket refills one mail every 20 s, so on a slow machine a
    // fourth may be admitted before the refusal; never more than the refill allows.
    let started = std::time::Instant::now();
    let mut admitted = Vec::new();
    let (headers, body) = loop {
        let n = admitted.len() + 1;
        let (status, headers, body) = mail(&tenant_a, &secret_a, n).await;
        if status == 429 {
            break (headers, body);
        }
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["duplicate"], false, "{body}");
        assert_eq!(header(&headers, "ratelimit-policy"), "\"tenant\";q=3;w=60");
        admitted.push(format!("Printer {n}"));
        let refilled = 3 + started.elapsed().as_secs() as usize / 20;
        assert!(admitted.len() <= refilled, "{} admitted", admitted.len());
    };
    assert!(admitted.len() >= 3, "the 3 of the budget are admitted");
    assert_eq!(
        body,
        json!({ "errors": [{
            "message": body["errors"][0]["message"],
            "extensions": { "code": "RATE_LIMITED", "retryAfter": body["errors"][0]["extensions"]["retryAfter"] }
        }] })
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Too many requests: this tenant's limit of 3 requests per 60 s is used up"
        ),
        "{message}"
    );
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry_after);
    assert_eq!(header(&headers, "ratelimit-policy"), "\"tenant\";q=3;w=60");
    assert!(header(&headers, "ratelimit").starts_with("\"tenant\";r=0;t="));
    // The refused mail opened nothing: tenant A has exactly the admitted ones.
    assert_eq!(subjects_of(&tenant_a).await, admitted);

    // Tenant B, from the same address: its own budget.
    let (status, headers, body) = mail(&tenant_b, &secret_b, 1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "ratelimit-policy"), "\"tenant\";q=3;w=60");
    assert!(header(&headers, "ratelimit").starts_with("\"tenant\";r=2;t="));
    assert_eq!(subjects_of(&tenant_b).await, ["Printer 1"]);
    // Nor did the mails spend the address's public budget (logins).
    let (status, headers, body) = router
        .post(None, "query Login { __typename }", json!({}), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "ratelimit").starts_with("\"public\";r=29;t="));

    // No plausible tenant in the path: 404 at the edge, nothing charged or forwarded.
    let too_long = format!("/ops/helpdesk/inbound-mail/{}", "t".repeat(129));
    for path in ["/ops/helpdesk/inbound-mail/tnt%20a", too_long.as_str()] {
        let response = router
            .http
            .post(router.url(path))
            .header("content-type", "message/rfc822")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{path}: {body}");
    }
}

/// Marketing's sending relays and channel accounts through the router, as a client meets
/// them: the router refuses what a token's scopes do not cover before the subgraph acts
/// (nothing changes), the subgraph's refusals (CHANNEL_ACCOUNT_DISABLED,
/// PROVIDER_RELAY_UNKNOWN, PROVIDER_RELAY_MISSING) reach the client with their codes and
/// reasons, and transactional mail goes out on the tenant's default provider's relay.
#[tokio::test]
async fn marketing_relays_and_channel_accounts_hold_through_the_router() {
    use erp_tests::marketing::{MarketingApp, SmtpRecorder};
    use sea_orm::ConnectionTrait;

    let stand = stand().await;
    let issuer = &stand.issuer;
    let eu = SmtpRecorder::start().await;
    let eu_url = eu.url.clone();
    let marketing = MarketingApp::spawn_on_with_settings(issuer, Backends::Real, move |settings| {
        settings.smtp_relays = vec![("eu".into(), eu_url)];
    })
    .await;
    let router = RouterProcess::spawn(
        &stand
            .options()
            .env("ERP_MARKETING_URL", &marketing.url("/graphql")),
    )
    .await;
    let tenant = format!("tnt_mkt_{}", uuid::Uuid::new_v4().simple());
    let staff = issuer.token(
        &tenant,
        "usr_staff",
        &["marketing:read", "marketing:write", "marketing:send"],
    );
    let reader = issuer.token(&tenant, "usr_reader", &["marketing:read"]);
    let call = |token: &str, query: &'static str, variables: Value| {
        let token = token.to_owned();
        let router = &router;
        async move { router.graphql(Some(&token), query, variables).await }
    };
    // (code, reason) of the first error of an answer that has one.
    let refusal = |body: &Value| {
        (
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            body["errors"][0]["extensions"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    const PROVIDERS: &str = "{ sendingProviders { name relay isDefault } }";
    const SET_PROVIDER: &str = "mutation($i: SetSendingProviderInput!) { setSendingProvider(input: $i) { name relay isDefault } }";

    // The deployment's relays, to a reader; a reader cannot pick one (the router refuses).
    let (status, body) = call(&reader, "{ mailRelays }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "mailRelays": ["eu"] } }));
    let pick = json!({ "i": { "name": "eu-pool", "relay": "eu", "isDefault": true } });
    let (_, body) = call(&reader, SET_PROVIDER, pick.clone()).await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let (_, body) = call(&staff, PROVIDERS, json!({})).await;
    assert_eq!(body, json!({ "data": { "sendingProviders": [] } }));
    let (_, body) = call(
        &staff,
        SET_PROVIDER,
        json!({ "i": { "name": "eu-pool", "relay": "elsewhere" } }),
    )
    .await;
    assert_eq!(
        refusal(&body),
        ("BAD_USER_INPUT".into(), "PROVIDER_RELAY_UNKNOWN".into()),
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["field"], "relay", "{body}");
    let (_, body) = call(&staff, SET_PROVIDER, pick).await;
    assert_eq!(
        body,
        json!({ "data": { "setSendingProvider": { "name": "eu-pool", "relay": "eu", "isDefault": true } } })
    );

    // Transactional mail through the router leaves on the default provider's relay.
    let (_, body) = call(
        &staff,
        "mutation($i: CreateEmailTemplateInput!) { createEmailTemplate(input: $i) { id } }",
        json!({ "i": { "name": "Reset", "kind": "TRANSACTIONAL", "subject": "Reset",
                       "html": "<p>Reset</p>", "text": "Reset" } }),
    )
    .await;
    let template = body["data"]["createEmailTemplate"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    const SEND: &str =
        "mutation($i: SendTransactionalInput!) { sendTransactional(input: $i) { id } }";
    let to = format!("reset@{tenant}.example");
    let (_, body) = call(
        &reader,
        SEND,
        json!({ "i": { "templateId": template, "to": to } }),
    )
    .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert!(eu.recipients().is_empty());
    let (_, body) = call(
        &staff,
        SEND,
        json!({ "i": { "templateId": template, "to": to } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(eu.recipients(), vec![to.clone()]);
    // The relay gone from the deployment: refused with its reason, nothing sent anywhere.
    marketing
        .runtime
        .db
        .execute_unprepared(&format!(
            "UPDATE mkt_providers SET relay = 'gone' WHERE tenant_id = '{tenant}'"
        ))
        .await
        .unwrap();
    let (status, body) = call(
        &staff,
        SEND,
        json!({ "i": { "templateId": template, "to": to } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "PROVIDER_RELAY_MISSING".into()),
        "{body}"
    );
    assert_eq!(eu.recipients().len(), 1);

    // A channel account: a reader cannot disable it; staff can, and then nothing is scheduled
    // on it until it is enabled.
    let (_, body) = call(
        &staff,
        "mutation($i: CreateSocialChannelAccountInput!) { createSocialChannelAccount(input: $i) { id } }",
        json!({ "i": { "kind": "X", "handle": "@brand" } }),
    )
    .await;
    let account = body["data"]["createSocialChannelAccount"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let (_, body) = call(
        &staff,
        "mutation($i: CreateSocialPostInput!) { createSocialPost(input: $i) { id } }",
        json!({ "i": { "accountId": account, "body": "Hello" } }),
    )
    .await;
    let post = body["data"]["createSocialPost"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    const SCHEDULE: &str =
        "mutation($i: ScheduleSocialPostInput!) { scheduleSocialPost(input: $i) { status } }";
    let (_, body) = call(
        &staff,
        SCHEDULE,
        json!({ "i": { "postId": post, "at": at } }),
    )
    .await;
    assert_eq!(
        body,
        json!({ "data": { "scheduleSocialPost": { "status": "SCHEDULED" } } })
    );
    const DISABLE: &str = "mutation($i: DisableSocialChannelAccountInput!) { disableSocialChannelAccount(input: $i) { unscheduledPosts account { disabledReason } } }";
    let disable = json!({ "i": { "accountId": account, "reason": "access revoked" } });
    let (_, body) = call(&reader, DISABLE, disable.clone()).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    const STATUS: &str =
        "query($id: ID!) { socialPost(id: $id) { status account { disabledAt } } }";
    let (_, body) = call(&reader, STATUS, json!({ "id": post })).await;
    assert_eq!(
        body,
        json!({ "data": { "socialPost": { "status": "SCHEDULED", "account": { "disabledAt": null } } } })
    );
    let (_, body) = call(&staff, DISABLE, disable).await;
    assert_eq!(
        body,
        json!({ "data": { "disableSocialChannelAccount": {
            "unscheduledPosts": 1, "account": { "disabledReason": "access revoked" } } } })
    );
    let (_, body) = call(
        &staff,
        SCHEDULE,
        json!({ "i": { "postId": post, "at": at } }),
    )
    .await;
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "CHANNEL_ACCOUNT_DISABLED".into()),
        "{body}"
    );
    let (_, body) = call(
        &staff,
        "mutation($i: EnableSocialChannelAccountInput!) { enableSocialChannelAccount(input: $i) { disabledAt } }",
        json!({ "i": { "accountId": account } }),
    )
    .await;
    assert_eq!(
        body,
        json!({ "data": { "enableSocialChannelAccount": { "disabledAt": null } } })
    );
    let (_, body) = call(
        &staff,
        SCHEDULE,
        json!({ "i": { "postId": post, "at": at } }),
    )
    .await;
    assert_eq!(
        body,
        json!({ "data": { "scheduleSocialPost": { "status": "SCHEDULED" } } })
    );
    // Another tenant's staff sees none of it.
    let other = issuer.token(
        &format!("tnt_other_{}", uuid::Uuid::new_v4().simple()),
        "usr_other",
        &["marketing:read", "marketing:write"],
    );
    let (_, body) = call(&other, STATUS, json!({ "id": post })).await;
    assert_eq!(body, json!({ "data": { "socialPost": null } }));
}
