//! Spawning the PMO subgraph for tests, on real MongoDB (SecantusDB), Redis and Kafka.

use std::net::SocketAddr;
use std::sync::Arc;

use erp_kit::cache::{RedisCache, SharedCache};
use erp_kit::events::{KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use serde_json::Value;

use crate::{config, post_graphql, require_env, TestIssuer};

/// A fresh MongoDB database URL for one test (`MONGO_URL` with its own database name).
pub fn fresh_mongo_url() -> String {
    let url = require_env("MONGO_URL");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (url.clone(), String::new()),
    };
    let base = match base.strip_prefix("mongodb://") {
        Some(rest) => format!(
            "mongodb://{}",
            rest.split_once('/').map_or(rest, |(host, _)| host)
        ),
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// A spawned PMO subgraph; [`PmoApp::respawn`] starts a new process image on the same backends.
pub struct PmoApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    pub pmo: erp_pmo::service::Pmo,
    pub http: reqwest::Client,
    pub mongo_url: String,
    pub cache_prefix: String,
    server: tokio::task::JoinHandle<()>,
    relay: Option<erp_pmo::events::RelayHandle>,
}

impl PmoApp {
    /// A new service on a fresh MongoDB database, the shared Redis (own key prefix) and Kafka.
    pub async fn spawn(issuer: &TestIssuer) -> Self {
        let prefix = format!("pmo-test-{}", uuid::Uuid::new_v4().simple());
        Self::spawn_on(issuer, fresh_mongo_url(), prefix).await
    }

    pub async fn spawn_on(issuer: &TestIssuer, mongo_url: String, cache_prefix: String) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let mut kit = config(issuer, String::new());
        kit.service = "pmo".into();
        kit.mongo_url = Some(mongo_url.clone());
        let cache: SharedCache = Arc::new(
            RedisCache::connect(&require_env("REDIS_URL"))
                .await
                .unwrap(),
        );
        let bus: SharedBus =
            Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap());
        let runtime =
            Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus);
        let store = erp_pmo::connect_store(&runtime).await.unwrap();
        let service = erp_pmo::start(&runtime, store, &cache_prefix)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = service.router;
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Self {
            addr,
            runtime,
            pmo: service.pmo,
            http: reqwest::Client::new(),
            mongo_url,
            cache_prefix,
            server,
            relay: Some(service.relay),
        }
    }

    /// Stops this service (server and relay) and starts a new one on the same MongoDB database
    /// and Redis prefix: what a restart of the subgraph looks like.
    pub async fn respawn(mut self, issuer: &TestIssuer) -> Self {
        self.server.abort();
        let _ = (&mut self.server).await;
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
        Self::spawn_on(issuer, self.mongo_url.clone(), self.cache_prefix.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

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
}

impl Drop for PmoApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
