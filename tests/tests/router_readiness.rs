//! The router's `/readiness` looks at the subgraphs (router/src/readiness.rs): the real router
//! binary in front of the real identity, employee, PMO, finance, CRM, operations, marketing and
//! analytics subgraphs (PostgreSQL, MongoDB, ClickHouse, Redis, Kafka), one of them stopped or
//! never started.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use erp_tests::crm::CrmApp;
use erp_tests::finance::FinanceApp;
use erp_tests::identity::IdentityApp;
use erp_tests::marketing::MarketingApp;
use erp_tests::pmo::PmoApp;
use erp_tests::router::{RouterOptions, RouterProcess, CLOSED_SUBGRAPH_URL};
use erp_tests::{eventually, require_env, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

/// The operations subgraph on a fresh MongoDB database, served until dropped.
struct OpsService {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    _app: (erp_ops::events::RelayHandle, erp_ops::BreachTimer),
}

impl OpsService {
    async fn spawn(issuer: &TestIssuer) -> Self {
        let mut kit = erp_tests::config(issuer, String::new());
        kit.service = "ops".into();
        let runtime = erp_kit::runtime::Runtime::with_backends(
            kit,
            sea_orm::DatabaseConnection::Disconnected,
            Arc::new(erp_kit::cache::InProcessCache::new()),
            Arc::new(erp_kit::events::InProcessBus::new()),
        );
        let store = Arc::new(
            erp_ops::store::mongo::MongoStore::connect(&erp_tests::pmo::fresh_mongo_url())
                .await
                .unwrap(),
        );
        let app = erp_ops::start(&runtime, store).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router;
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Self {
            addr,
            server,
            _app: (app.relay, app.breach_timer),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for OpsService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn readiness(router: &RouterProcess) -> (u16, Value) {
    let response = router
        .http
        .get(router.url("/readiness"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn always_mode_is_ready_with_every_subgraph_and_unready_when_one_stops() {
    require_env("MONGO_URL");
    let issuer = TestIssuer::start().await;
    let employee = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let identity = IdentityApp::spawn(|_| {}).await;
    let pmo = PmoApp::spawn(&issuer).await;
    let finance = FinanceApp::spawn(&issuer).await;
    let crm = CrmApp::spawn(&issuer).await;
    let ops = OpsService::spawn(&issuer).await;
    let analytics = erp_tests::analytics::AnalyticsApp::spawn(&issuer, None).await;
    let marketing = MarketingApp::spawn(&issuer).await;
    let options = RouterOptions::new(&issuer, employee.url("/graphql"))
        .env("ERP_READINESS_MODE", "always")
        .env("ERP_IDENTITY_URL", &identity.url("/graphql"))
        .env("ERP_PMO_URL", &pmo.url("/graphql"))
        .env("ERP_FINANCE_URL", &finance.url("/graphql"))
        .env("ERP_CRM_URL", &crm.url("/graphql"))
        .env("ERP_OPS_URL", &ops.url("/graphql"))
        .env("ERP_ANALYTICS_URL", &analytics.url("/graphql"))
        .env("ERP_MARKETING_URL", &marketing.url("/graphql"));
    // `spawn` waits for /readiness: it only returns once all of them answered their /ready.
    let router = RouterProcess::spawn(&options).await;
    let (status, body) = readiness(&router).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "status": "ready",
            "supergraph": "loaded",
            "subgraphs": { "analytics": "up", "crm": "up", "employee": "up", "finance": "up", "identity": "up", "marketing": "up", "ops": "up", "pmo": "up" }
        })
    );

    drop(pmo); // stops its HTTP server
    let unready = eventually(Duration::from_secs(15), || async {
        let (status, body) = readiness(&router).await;
        (status == 503).then_some(body)
    })
    .await
    .expect("the router stayed ready with the PMO subgraph stopped");
    assert_eq!(
        unready,
        json!({
            "status": "unavailable",
            "supergraph": "loaded",
            "subgraphs": { "analytics": "up", "crm": "up", "employee": "up", "finance": "up", "identity": "up", "marketing": "up", "ops": "up", "pmo": "down" }
        })
    );
    // The answer never carries addresses or errors, and the router still serves the others.
    assert!(!unready.to_string().contains("127.0.0.1"));
    let token = issuer.token("tnt_ready", "usr_1", &["employee:read"]);
    let (status, body) = router
        .graphql(
            Some(&token),
            "{ departments(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "data": { "departments": { "nodes": [] } } }));
}

#[tokio::test]
async fn startup_mode_waits_for_every_subgraph_and_says_which_is_missing() {
    let issuer = TestIssuer::start().await;
    let employee = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    // The default mode; identity, PMO, finance, CRM and operations are never started (CLOSED_SUBGRAPH_URL).
    let options = RouterOptions::new(&issuer, employee.url("/graphql"))
        .env("ERP_READINESS_MODE", "startup")
        .env("ERP_IDENTITY_URL", CLOSED_SUBGRAPH_URL);
    let router = RouterProcess::spawn_without_waiting(&options);
    // Up (health) but not ready: the supergraph loads, the missing subgraphs keep it out.
    let body = eventually(Duration::from_secs(30), || async {
        let response = router
            .http
            .get(router.url("/readiness"))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.ok()?;
        (status == 503 && body["supergraph"] == "loaded" && body["subgraphs"]["employee"] == "up")
            .then_some(body)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no 503 with the subgraphs' state; log:\n{}",
            router.log_text()
        )
    });
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "supergraph": "loaded",
            "subgraphs": { "analytics": "down", "crm": "down", "employee": "up", "finance": "down", "identity": "down", "marketing": "down", "ops": "down", "pmo": "down" }
        })
    );
    let health = router.http.get(router.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn an_unknown_readiness_mode_refuses_to_start() {
    let issuer = TestIssuer::start().await;
    let options = RouterOptions::new(&issuer, CLOSED_SUBGRAPH_URL.into())
        .env("ERP_READINESS_MODE", "sometimes");
    let (status, log) = RouterProcess::start(&options)
        .wait_exit(Duration::from_secs(30))
        .await;
    assert!(!status.expect("the router kept running").success());
    assert!(
        log.contains("ERP_READINESS_MODE must be startup, always or off, not \"sometimes\""),
        "{log}"
    );
}
