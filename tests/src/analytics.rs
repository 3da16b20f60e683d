//! Spawning the analytics subgraph for tests: the real service on a random port, on the real
//! ClickHouse (a fresh database at `CLICKHOUSE_URL`), Redis and Kafka, with its own consumer
//! group (and, for replay tests, its own topics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use erp_analytics::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use erp_analytics::store::SharedFacts;
use erp_analytics::AnalyticsOptions;
use erp_kit::cache::{RedisCache, SharedCache};
use erp_kit::events::{ConsumerStats, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use serde_json::Value;

use crate::{config, post_graphql, require_env, TestIssuer};

/// A fresh ClickHouse database name for one test.
pub fn fresh_clickhouse_database() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// The store of `database` on the test server.
pub fn clickhouse_store(database: &str) -> SharedFacts {
    Arc::new(ClickHouseStore::new(&ClickHouseConfig {
        url: require_env("CLICKHOUSE_URL"),
        database: database.to_owned(),
        user: None,
        password: None,
    }))
}

/// The shared Kafka broker of the test services.
pub fn shared_kafka() -> SharedBus {
    Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap())
}

/// The KEK file every analytics service of one test shares (one per issuer, so per test): the
/// key a test seals `payroll.cost_posted` parts with.
pub fn kek_file(issuer: &TestIssuer) -> std::path::PathBuf {
    let port = issuer.jwks_url.rsplit(':').next().unwrap_or_default();
    let port: String = port.chars().take_while(char::is_ascii_digit).collect();
    std::env::temp_dir().join(format!(
        "erp-test-analytics-kek-{}-{port}.key",
        std::process::id()
    ))
}

/// A spawned analytics subgraph.
pub struct AnalyticsApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub database: String,
    pub group: String,
    app: Option<erp_analytics::AnalyticsApp>,
    server: tokio::task::JoinHandle<()>,
}

impl AnalyticsApp {
    /// A new service on a fresh ClickHouse database, reading `topics` (None: every domain's)
    /// as a new consumer group.
    pub async fn spawn(issuer: &TestIssuer, topics: Option<Vec<String>>) -> Self {
        Self::spawn_on(issuer, &fresh_clickhouse_database(), topics).await
    }

    /// A new service on a fresh ClickHouse database reading `topics` for `tenant` only (its
    /// facts, control totals and drift are that tenant's alone on a shared broker).
    pub async fn spawn_for_tenant(issuer: &TestIssuer, topics: Vec<String>, tenant: &str) -> Self {
        let database = fresh_clickhouse_database();
        let group = format!("erp.analytics.test-{}", uuid::Uuid::new_v4().simple());
        Self::spawn_serving(
            issuer,
            clickhouse_store(&database),
            &database,
            Some(topics),
            shared_kafka(),
            kek_file(issuer),
            group,
            Some(vec![tenant.to_owned()]),
        )
        .await
    }

    /// A new service (its own consumer group) on the ClickHouse `database`.
    pub async fn spawn_on(
        issuer: &TestIssuer,
        database: &str,
        topics: Option<Vec<String>>,
    ) -> Self {
        Self::spawn_with(
            issuer,
            clickhouse_store(database),
            database,
            topics,
            shared_kafka(),
            kek_file(issuer),
        )
        .await
    }

    /// A new service on the embedded engine of `erp-os all` (DataFusion, in memory), reading
    /// Kafka like the others.
    pub async fn spawn_embedded(issuer: &TestIssuer, topics: Option<Vec<String>>) -> Self {
        let store = erp_analytics::embedded_store(None).unwrap();
        Self::spawn_with(issuer, store, "", topics, shared_kafka(), kek_file(issuer)).await
    }

    /// A new service on `store` (`database`: its ClickHouse database, if any) reading `topics`
    /// (None: every domain's) on `bus`, opening values sealed in transit with the KEK in
    /// `kek_file` (the producing domain's).
    pub async fn spawn_with(
        issuer: &TestIssuer,
        store: SharedFacts,
        database: &str,
        topics: Option<Vec<String>>,
        bus: SharedBus,
        kek_file: std::path::PathBuf,
    ) -> Self {
        let group = format!("erp.analytics.test-{}", uuid::Uuid::new_v4().simple());
        Self::spawn_in_group(issuer, store, database, topics, bus, kek_file, group).await
    }

    /// [`AnalyticsApp::spawn_with`] as consumer group `group` (e.g. the group of an app that
    /// crashed: it resumes from the group's committed positions).
    pub async fn spawn_in_group(
        issuer: &TestIssuer,
        store: SharedFacts,
        database: &str,
        topics: Option<Vec<String>>,
        bus: SharedBus,
        kek_file: std::path::PathBuf,
        group: String,
    ) -> Self {
        Self::spawn_serving(issuer, store, database, topics, bus, kek_file, group, None).await
    }

    /// [`AnalyticsApp::spawn_in_group`] handling only `tenants`' events (all when None).
    #[allow(clippy::too_many_arguments)]
    pub async fn spawn_serving(
        issuer: &TestIssuer,
        store: SharedFacts,
        database: &str,
        topics: Option<Vec<String>>,
        bus: SharedBus,
        kek_file: std::path::PathBuf,
        group: String,
        tenants: Option<Vec<String>>,
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let mut kit = config(issuer, String::new());
        kit.service = "analytics".into();
        kit.kek_file = kek_file;
        let cache: SharedCache = Arc::new(
            RedisCache::connect(&require_env("REDIS_URL"))
                .await
                .unwrap(),
        );
        let runtime =
            Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus);
        let defaults = AnalyticsOptions::default();
        let options = AnalyticsOptions {
            group: group.clone(),
            topics: topics.unwrap_or(defaults.topics),
            writer: erp_analytics::store::writer::WriterConfig {
                // Short, so a test waits little for its facts.
                interval: Duration::from_millis(200),
                ..Default::default()
            },
            cache_prefix: format!("analytics-test-{}", uuid::Uuid::new_v4().simple()),
            // Often, so a test sees a drift found and mended within seconds.
            reconciler: Some(erp_analytics::app::ReconcilerConfig {
                every: Duration::from_millis(300),
                ..Default::default()
            }),
            tenants,
        };
        let app = erp_analytics::start(&runtime, store, options)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Self {
            addr,
            http: reqwest::Client::new(),
            database: database.to_owned(),
            group,
            app: Some(app),
            server,
        }
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

    /// The data of a request that must succeed.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// The service's Prometheus exposition (`GET /metrics`).
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of the sample `name{labels}` in [`AnalyticsApp::metrics`] (`labels` as
    /// exported after the service label, e.g. `reason="drift"`); 0 when absent.
    pub async fn metric_value(&self, name: &str, labels: &str) -> i64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .find(|line| {
                labels
                    .split(',')
                    .all(|label| label.is_empty() || line.contains(label))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }

    /// The consumer group's counts so far.
    pub fn consumer_stats(&self) -> ConsumerStats {
        self.app
            .as_ref()
            .map(|app| app.consumer.stats())
            .unwrap_or_default()
    }

    /// Fact inserts that failed so far (the writer tried each batch again).
    pub fn failed_inserts(&self) -> u64 {
        self.app
            .as_ref()
            .map(|app| app.writer.failed_inserts())
            .unwrap_or_default()
    }

    /// Times the consumer was about to commit its positions and kept them, since its facts
    /// were not stored.
    pub fn failed_flushes(&self) -> u64 {
        self.app
            .as_ref()
            .map(|app| app.writer.failed_flushes())
            .unwrap_or_default()
    }

    /// Stops consuming and writing at once, as a crash would (the HTTP server keeps answering).
    pub async fn kill(&mut self) {
        if let Some(app) = self.app.take() {
            app.kill().await;
        }
    }

    /// Stops consuming and stores every fact in hand (the HTTP server keeps answering).
    pub async fn drain(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

impl Drop for AnalyticsApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A graphql-transport-ws connection to the analytics subgraph, initialised with `token`;
/// returns the socket and the server's first message.
pub async fn ws_connect(app: &AnalyticsApp, token: &str) -> (crate::pmo::Socket, Value) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            serde_json::json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string(),
        ))
        .await
        .unwrap();
    let first = crate::pmo::ws_next(&mut socket).await;
    (socket, first)
}

/// The next message that is not a ping or pong, waiting up to `within`.
pub async fn ws_next_within(socket: &mut crate::pmo::Socket, within: Duration) -> Value {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "pong" {
                    continue;
                }
                return value;
            }
            Message::Close(frame) => {
                return serde_json::json!({ "closed": frame.map(|f| u16::from(f.code)) });
            }
            _ => continue,
        }
    }
}

/// A ClickHouse server of one test's own: the clickhouse-local the local services run (chDB's
/// wheel, `deploy/local/services.sh`), on free ports, whose `users.xml` gives
/// [`IsolatedClickHouse::TENANT_USER`] a row policy on `<database>.facts`: `tenant_id =
/// getSetting('log_comment')`. clickhouse-local keeps users only from `users.xml` (no SQL row
/// policies, no custom settings), so the shared server cannot carry a policy for a test's
/// fresh database; this one is made for it. Stopped (and its files removed) when dropped.
pub struct IsolatedClickHouse {
    pub url: String,
    pub database: String,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl IsolatedClickHouse {
    /// The user tenant queries run as.
    pub const TENANT_USER: &'static str = "erp_tenant";
    /// The built-in string setting that carries the tenant (clickhouse-local has no custom
    /// settings).
    pub const TENANT_SETTING: &'static str = "log_comment";

    /// Starts the server with a fresh database's row policy (the database itself is created
    /// by the store's `prepare`).
    pub async fn start() -> Self {
        let database = fresh_clickhouse_database();
        let python = std::env::var_os("CLICKHOUSE_LOCAL_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(require_env("ERP_SERVICES_DIR")).join("../venv/bin/python")
            });
        let dir = std::env::temp_dir().join(format!(
            "erp-test-clickhouse-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let (http, tcp) = (crate::ports::free_port(), crate::ports::free_port());
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<clickhouse><listen_host>127.0.0.1</listen_host><http_port>{http}</http_port>\
                 <tcp_port>{tcp}</tcp_port><users_config>users.xml</users_config>\
                 <logger><level>warning</level><console>1</console></logger></clickhouse>"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            format!(
                "<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users>\
                 <default><password></password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota></default>\
                 <{user}><password></password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota><databases><{database}><facts>\
                 <filter>tenant_id = getSetting('{setting}')</filter></facts><time_by_day>\
                 <filter>tenant_id = getSetting('{setting}')</filter></time_by_day>\
                 <time_by_month><filter>tenant_id = getSetting('{setting}')</filter>\
                 </time_by_month></{database}></databases></{user}></users></clickhouse>",
                user = Self::TENANT_USER,
                setting = Self::TENANT_SETTING,
            ),
        )
        .unwrap();
        // The listeners serve while this keep-alive query runs (as the services script does).
        std::fs::write(
            dir.join("serve.py"),
            "import os, sys\nfrom chdb import _chdb\nos.chdir(sys.argv[1])\n_chdb.query(\
             \"SYSTEM START LISTEN HTTP; SELECT sleepEachRow(1) FROM numbers(4000000000) \
             SETTINGS max_block_size=1, function_sleep_max_microseconds_per_block=0\", \
             \"TabSeparated\", path=os.path.join(sys.argv[1], \"data\"))\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("clickhouse.log")).unwrap();
        let child = std::process::Command::new(&python)
            .arg(dir.join("serve.py"))
            .arg(&dir)
            .current_dir(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err}", python.display()));
        let server = Self {
            url: format!("http://127.0.0.1:{http}"),
            database,
            child,
            dir,
        };
        let client = reqwest::Client::new();
        let ping = format!("{}/ping", server.url);
        let up = crate::eventually(Duration::from_secs(90), || async {
            let answer = client.get(&ping).send().await.ok()?.text().await.ok()?;
            (answer.trim() == "Ok.").then_some(())
        })
        .await;
        assert!(
            up.is_some(),
            "clickhouse-local did not answer: {}",
            std::fs::read_to_string(server.dir.join("clickhouse.log")).unwrap_or_default()
        );
        server
    }

    /// The store of its database: tenant queries as the tenant user, under the row policy.
    pub fn store(&self) -> ClickHouseStore {
        ClickHouseStore::new(&ClickHouseConfig {
            url: self.url.clone(),
            database: self.database.clone(),
            user: None,
            password: None,
        })
        .with_tenant_isolation(erp_analytics::store::clickhouse::TenantIsolation {
            user: Self::TENANT_USER.to_owned(),
            password: None,
            setting: Self::TENANT_SETTING.to_owned(),
        })
    }
}

impl Drop for IsolatedClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
