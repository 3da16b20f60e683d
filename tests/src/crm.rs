//! Spawning the CRM subgraph for tests: on real PostgreSQL, Redis and Kafka, or on the
//! embedded defaults of the one-process mode (SQLite, in-process cache and bus).

use std::net::SocketAddr;

use erp_kit::runtime::Runtime;
use serde_json::{json, Value};

use crate::{post_graphql, runtime, Backends, TestIssuer};

/// A spawned CRM subgraph.
pub struct CrmApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    pub crm: erp_crm::Crm,
    pub http: reqwest::Client,
    _relay: erp_kit::events::RelayHandle,
    _consumers: Vec<erp_kit::events::ConsumerHandle>,
}

impl CrmApp {
    /// A new service on a fresh PostgreSQL database, the shared Redis and Kafka, without
    /// consumers (see [`CrmApp::spawn_consuming`]).
    pub async fn spawn(issuer: &TestIssuer) -> Self {
        Self::spawn_with(issuer, Backends::Real, None).await
    }

    /// A new service on the embedded defaults (a fresh SQLite file, in-process cache and
    /// bus), its consumers on that bus.
    pub async fn spawn_embedded(issuer: &TestIssuer) -> Self {
        Self::spawn_with(
            issuer,
            Backends::Embedded,
            Some(erp_crm::ConsumerOptions::default()),
        )
        .await
    }

    /// A new service on the real services whose consumers read the shared broker as groups of
    /// their own, handling only `tenants`' events (the topics hold every test's history).
    pub async fn spawn_consuming(issuer: &TestIssuer, tenants: &[&str]) -> Self {
        let options = erp_crm::ConsumerOptions {
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(tenants.iter().map(|t| t.to_string()).collect()),
        };
        Self::spawn_with(issuer, Backends::Real, Some(options)).await
    }

    pub async fn spawn_with(
        issuer: &TestIssuer,
        backends: Backends,
        consumers: Option<erp_crm::ConsumerOptions>,
    ) -> Self {
        let mut runtime = runtime(issuer, backends).await;
        runtime.config.service = "crm".into();
        Self::serve(runtime, erp_crm::CrmOptions { consumers }).await
    }

    /// Serves the CRM subgraph on `runtime`.
    pub async fn serve(runtime: Runtime, options: erp_crm::CrmOptions) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let app = erp_crm::start_with(&runtime, options).await.unwrap();
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
            crm: app.crm,
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
        assert!(body["errors"].is_null(), "{query}\n{body}");
        body["data"].clone()
    }

    /// The first error's (`extensions.code`, `extensions.reason`) of a request that must fail.
    pub async fn refused(&self, token: &str, query: &str, variables: Value) -> (String, String) {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert!(!error.is_null(), "expected an error: {query}\n{body}");
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

    /// POSTs a CSV file to the import endpoint and returns (status, body).
    pub async fn import(
        &self,
        token: Option<&str>,
        kind: &str,
        query: &str,
        csv: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/import/{kind}?{query}")))
            .header("content-type", "text/csv")
            .body(csv);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(json!(null));
        (status, body)
    }
}

/// Every CRM scope (a CRM administrator's token).
pub const CRM_ADMIN: &[&str] = &["crm:read", "crm:write", "crm:admin"];
/// A sales rep's scopes.
pub const CRM_REP: &[&str] = &["crm:read", "crm:write"];
