//! Spawning the finance subgraph for tests: on real PostgreSQL, Redis and Kafka, or on the
//! embedded defaults of the one-process mode (SQLite, in-process cache and bus).

use std::net::SocketAddr;

use erp_kit::runtime::Runtime;
use serde_json::Value;

use crate::{post_graphql, runtime, Backends, TestIssuer};

/// A spawned finance subgraph.
pub struct FinanceApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    pub finance: erp_finance::Finance,
    pub http: reqwest::Client,
    _relay: erp_kit::events::RelayHandle,
    _consumers: Vec<erp_kit::events::ConsumerHandle>,
}

impl FinanceApp {
    /// A new service on a fresh PostgreSQL database, the shared Redis and Kafka.
    pub async fn spawn(issuer: &TestIssuer) -> Self {
        Self::spawn_with(issuer, Backends::Real).await
    }

    /// A new service on the embedded defaults: a fresh SQLite file, in-process cache and bus.
    pub async fn spawn_embedded(issuer: &TestIssuer) -> Self {
        Self::spawn_with(issuer, Backends::Embedded).await
    }

    /// On the real services the event consumers do not run: their groups are a deployment's,
    /// shared by every test process on the broker, and a group new to a topic reads its whole
    /// history. The consumers are tested on the embedded bus, which is each test's own.
    pub async fn spawn_with(issuer: &TestIssuer, backends: Backends) -> Self {
        let consumers = matches!(backends, Backends::Embedded);
        let mut runtime = runtime(issuer, backends).await;
        runtime.config.service = "finance".into();
        Self::serve(
            runtime,
            erp_finance::FinanceOptions {
                consumers,
                ..Default::default()
            },
        )
        .await
    }

    /// Serves the finance subgraph on `runtime`.
    pub async fn serve(runtime: Runtime, options: erp_finance::FinanceOptions) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let app = erp_finance::start_with(&runtime, options).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router;
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            addr,
            runtime,
            finance: app.finance,
            http: reqwest::Client::new(),
            _relay: app.relay,
            _consumers: app.consumers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns (status, body).
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        post_graphql(
            &self.http,
            &self.url("/graphql"),
            Some(token),
            query,
            variables,
        )
        .await
    }

    /// The `data` of a request that must succeed (200, no errors).
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// The first error's (`extensions.code`, `extensions.reason`) of a request that must fail.
    pub async fn refused(&self, token: &str, query: &str, variables: Value) -> (String, String) {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert!(!error.is_null(), "expected an error: {body}");
        (
            error["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            error["extensions"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    }
}

/// Every finance scope (a finance administrator's token).
pub const FINANCE_ADMIN: &[&str] = &[
    "finance:read",
    "finance:write",
    "finance:admin",
    "expense:submit",
    "expense:approve",
];
