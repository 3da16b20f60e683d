//! Spawning the PMO subgraph for tests, on real MongoDB (SecantusDB), Redis and Kafka, or with
//! the embedded store of the one-process mode (a journal file in a temp dir) on the same Redis
//! and Kafka ([`Store`], [`on_both_stores!`](crate::on_both_stores)), or on the embedded
//! defaults of the one-process mode (the journal-backed store, in-process cache and bus).

use std::net::SocketAddr;
use std::sync::Arc;

use erp_kit::cache::{InProcessCache, RedisCache, SharedCache};
use erp_kit::events::{InProcessBus, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use erp_pmo::store::mongo::{CommandObserver, MongoStore};
use erp_pmo::store::SharedStore;
use serde_json::Value;

use crate::{config, post_graphql, require_env, TestIssuer};

/// A fresh MongoDB database URL for one test (`MONGO_URL` with its own database name).
pub fn fresh_mongo_url() -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    crate::mongo_url::with_database(&require_env("MONGO_URL"), &name)
}

/// The commands a PMO subgraph sent to MongoDB (see [`PmoApp::spawn_observed`]).
#[derive(Clone, Default)]
pub struct CommandLog(Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl CommandLog {
    /// What to give [`MongoStore::connect_observed`] to log its commands here.
    pub fn observer(&self) -> CommandObserver {
        let log = self.0.clone();
        Arc::new(move |command: &str, collection: &str| {
            if let Ok(mut log) = log.lock() {
                log.push((command.to_owned(), collection.to_owned()));
            }
        })
    }

    /// The commands of the use cases since the last call, as `command collection` (the outbox
    /// relay's polling, marking and lease left out: it runs on its own schedule).
    pub fn take(&self) -> Vec<String> {
        self.take_all()
            .into_iter()
            .filter(|command| {
                !command.ends_with(" pmo_leases")
                    && !matches!(command.as_str(), "find pmo_outbox" | "update pmo_outbox")
            })
            .collect()
    }

    /// Every command since the last call, as `command collection`.
    pub fn take_all(&self) -> Vec<String> {
        let taken = std::mem::take(&mut *self.0.lock().unwrap());
        taken
            .into_iter()
            .map(|(command, collection)| format!("{command} {collection}").trim().to_owned())
            .collect()
    }
}

/// The store a PMO test runs on; the cache and the bus are the real Redis and Kafka either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// MongoDB (SecantusDB at `MONGO_URL`), a fresh database.
    Mongo,
    /// The embedded store of the one-process mode, persisted to a fresh journal file.
    Embedded,
}

/// Runs an async test body `fn(Store)` twice, as `<name>::mongo` and `<name>::embedded`: once on
/// MongoDB and once on the embedded journal-backed store.
#[macro_export]
macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test]
                async fn mongo() {
                    super::$test($crate::pmo::Store::Mongo).await;
                }

                #[tokio::test]
                async fn embedded() {
                    super::$test($crate::pmo::Store::Embedded).await;
                }
            }
        )+
    };
}

/// A spawned PMO subgraph; [`PmoApp::respawn`] starts a new process image on the same backends.
pub struct PmoApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    pub pmo: erp_pmo::Pmo,
    pub http: reqwest::Client,
    pub mongo_url: String,
    pub cache_prefix: String,
    server: tokio::task::JoinHandle<()>,
    relay: Option<erp_pmo::events::RelayHandle>,
    /// Its event consumers (none unless spawned consuming): dropping one stops it.
    pub consumers: Vec<erp_kit::events::ConsumerHandle>,
    /// The journal of an embedded store, removed with the app that owns it.
    journal: Option<std::path::PathBuf>,
}

impl PmoApp {
    /// A new service on a fresh MongoDB database, the shared Redis (own key prefix) and Kafka.
    pub async fn spawn(issuer: &TestIssuer) -> Self {
        Self::spawn_with(issuer, Store::Mongo).await
    }

    /// A new service on `store` (a fresh MongoDB database, or the embedded store on a fresh
    /// journal file), the shared Redis (own key prefix) and Kafka.
    pub async fn spawn_with(issuer: &TestIssuer, store: Store) -> Self {
        let prefix = format!("pmo-test-{}", uuid::Uuid::new_v4().simple());
        match store {
            Store::Mongo => Self::spawn_on(issuer, fresh_mongo_url(), prefix).await,
            Store::Embedded => {
                let journal =
                    std::env::temp_dir().join(format!("pmo-test-{}.journal", uuid::Uuid::new_v4()));
                Self::spawn_journal_on(issuer, journal, prefix).await
            }
        }
    }

    /// The embedded store on `journal` (owned: removed with the app), Redis and Kafka.
    async fn spawn_journal_on(
        issuer: &TestIssuer,
        journal: std::path::PathBuf,
        cache_prefix: String,
    ) -> Self {
        let runtime = services_runtime_of(issuer, None).await;
        // A restarted image waits until the one before it let go of the journal (its lock).
        let store = crate::eventually(std::time::Duration::from_secs(10), || async {
            erp_pmo::connect_store_at(&runtime, Some(&journal))
                .await
                .ok()
        })
        .await
        .expect("the journal is free within 10 s");
        Self::serve(runtime, store, String::new(), cache_prefix, Some(journal)).await
    }

    /// [`PmoApp::spawn`], logging every command the store sends to MongoDB.
    pub async fn spawn_observed(issuer: &TestIssuer) -> (Self, CommandLog) {
        let log = CommandLog::default();
        let prefix = format!("pmo-test-{}", uuid::Uuid::new_v4().simple());
        let mongo_url = fresh_mongo_url();
        let (runtime, _) = services_runtime(issuer, &mongo_url).await;
        let store: SharedStore = Arc::new(
            MongoStore::connect_observed(&mongo_url, Some(log.observer()))
                .await
                .unwrap(),
        );
        let app = Self::serve(runtime, store, mongo_url, prefix, None).await;
        (app, log)
    }

    /// A new service on the embedded defaults of `erp-os all`: the store in memory, persisted
    /// to its own journal file, with the in-process cache and bus.
    pub async fn spawn_embedded(issuer: &TestIssuer) -> Self {
        let journal =
            std::env::temp_dir().join(format!("pmo-test-{}.journal", uuid::Uuid::new_v4()));
        let mut app = Self::spawn_embedded_on(issuer, &journal).await;
        app.journal = Some(journal);
        app
    }

    /// [`PmoApp::spawn_embedded`] on an existing journal (e.g. one `erp-os seed` wrote), which
    /// is kept when the app goes.
    pub async fn spawn_embedded_on(issuer: &TestIssuer, journal: &std::path::Path) -> Self {
        let mut kit = config(issuer, String::new());
        kit.service = "pmo".into();
        let cache: SharedCache = Arc::new(InProcessCache::new());
        let bus: SharedBus = Arc::new(InProcessBus::new());
        let runtime =
            Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus);
        let store = erp_pmo::connect_store_at(&runtime, Some(journal))
            .await
            .unwrap();
        Self::serve(runtime, store, String::new(), "pmo".into(), None).await
    }

    pub async fn spawn_on(issuer: &TestIssuer, mongo_url: String, cache_prefix: String) -> Self {
        let (runtime, store) = services_runtime(issuer, &mongo_url).await;
        Self::serve(runtime, store, mongo_url, cache_prefix, None).await
    }

    async fn serve(
        runtime: Runtime,
        store: SharedStore,
        mongo_url: String,
        cache_prefix: String,
        journal: Option<std::path::PathBuf>,
    ) -> Self {
        Self::serve_consuming(runtime, store, mongo_url, cache_prefix, journal, None).await
    }

    /// A new service on `store` whose consumers read the shared broker (Kafka) as a group of
    /// its own, handling only `tenants`' events (the topics hold every test's history).
    pub async fn spawn_consuming(issuer: &TestIssuer, store: Store, tenants: &[&str]) -> Self {
        let consumers = erp_pmo::ConsumerOptions {
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(tenants.iter().map(|t| t.to_string()).collect()),
        };
        let prefix = format!("pmo-test-{}", uuid::Uuid::new_v4().simple());
        match store {
            Store::Mongo => {
                let mongo_url = fresh_mongo_url();
                let (runtime, store) = services_runtime(issuer, &mongo_url).await;
                Self::serve_consuming(runtime, store, mongo_url, prefix, None, Some(consumers))
                    .await
            }
            Store::Embedded => {
                let journal =
                    std::env::temp_dir().join(format!("pmo-test-{}.journal", uuid::Uuid::new_v4()));
                let runtime = services_runtime_of(issuer, None).await;
                let store = erp_pmo::connect_store_at(&runtime, Some(&journal))
                    .await
                    .unwrap();
                Self::serve_consuming(
                    runtime,
                    store,
                    String::new(),
                    prefix,
                    Some(journal),
                    Some(consumers),
                )
                .await
            }
        }
    }

    /// [`PmoApp::spawn_embedded`] (store, cache and bus of the one-process mode) with its
    /// consumers on that in-process bus, as `erp-os all` runs them.
    pub async fn spawn_embedded_consuming(issuer: &TestIssuer) -> Self {
        Self::spawn_embedded_consuming_on(issuer, Arc::new(InProcessBus::new())).await
    }

    /// [`PmoApp::spawn_embedded_consuming`] on a given in-process bus (another subgraph's, as
    /// in `erp-os all`, where every subgraph shares one).
    pub async fn spawn_embedded_consuming_on(issuer: &TestIssuer, bus: SharedBus) -> Self {
        let journal =
            std::env::temp_dir().join(format!("pmo-test-{}.journal", uuid::Uuid::new_v4()));
        let mut kit = config(issuer, String::new());
        kit.service = "pmo".into();
        let cache: SharedCache = Arc::new(InProcessCache::new());
        let runtime =
            Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus);
        let store = erp_pmo::connect_store_at(&runtime, Some(&journal))
            .await
            .unwrap();
        Self::serve_consuming(
            runtime,
            store,
            String::new(),
            "pmo".into(),
            Some(journal),
            Some(erp_pmo::ConsumerOptions::default()),
        )
        .await
    }

    async fn serve_consuming(
        runtime: Runtime,
        store: SharedStore,
        mongo_url: String,
        cache_prefix: String,
        journal: Option<std::path::PathBuf>,
        consumers: Option<erp_pmo::ConsumerOptions>,
    ) -> Self {
        // Short ticks, so a test sees several without waiting long.
        let options = erp_pmo::PmoOptions {
            timer_tick: std::time::Duration::from_millis(200),
        };
        let service = erp_pmo::start_consuming(&runtime, store, &cache_prefix, options, consumers)
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
            consumers: service.consumers,
            journal,
        }
    }

    /// Stops this service (server and relay) and starts a new one on the same store (MongoDB
    /// database, or journal file) and Redis prefix: what a restart of the subgraph looks like.
    pub async fn respawn(mut self, issuer: &TestIssuer) -> Self {
        self.server.abort();
        let _ = (&mut self.server).await;
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
        let cache_prefix = self.cache_prefix.clone();
        match self.journal.take() {
            Some(journal) => {
                drop(self);
                Self::spawn_journal_on(issuer, journal, cache_prefix).await
            }
            None => Self::spawn_on(issuer, self.mongo_url.clone(), cache_prefix).await,
        }
    }

    /// A second replica of the same subgraph (same store and Redis prefix, its own
    /// connections), running beside this one. The embedded store has one process: its
    /// "replica" is a second server of this process image on the same store.
    pub async fn replica(&self, issuer: &TestIssuer) -> Self {
        if self.mongo_url.is_empty() {
            let runtime = services_runtime_of(issuer, None).await;
            let store = self.pmo.store.clone();
            return Self::serve(
                runtime,
                store,
                String::new(),
                self.cache_prefix.clone(),
                None,
            )
            .await;
        }
        Self::spawn_on(issuer, self.mongo_url.clone(), self.cache_prefix.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Runs an operation that must succeed (200, no errors) and returns its `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// A project owned by the token's user; returns its id.
    pub async fn project(&self, token: &str, name: &str, billable: bool) -> String {
        let data = self
            .ok(
                token,
                "mutation($n: String!, $b: Boolean!) { createProject(input: { name: $n, billable: $b }) { id } }",
                serde_json::json!({ "n": name, "b": billable }),
            )
            .await;
        data["createProject"]["id"].as_str().unwrap().to_owned()
    }

    /// Makes `user` a member of the project in `role` (a `ProjectRole` value).
    pub async fn add_member(&self, token: &str, project: &str, user: &str, role: &str) {
        self.ok(
            token,
            &format!(
                "mutation($p: ID!, $u: ID!) {{ setProjectMembership(input: {{ projectId: $p, userId: $u, role: {role} }}) {{ id }} }}"
            ),
            serde_json::json!({ "p": project, "u": user }),
        )
        .await;
    }

    /// A timer of `token`'s user started and stopped at once on `task`; returns the time entry
    /// id.
    pub async fn stopped_entry(&self, token: &str, task: &str) -> String {
        self.ok(
            token,
            "mutation($t: ID!) { startTaskTimer(input: { taskId: $t }) { id } }",
            serde_json::json!({ "t": task }),
        )
        .await;
        let data = self
            .ok(
                token,
                "mutation { stopTimer { id } }",
                serde_json::json!({}),
            )
            .await;
        data["stopTimer"]["id"].as_str().unwrap().to_owned()
    }

    /// A board with columns Todo, Doing (WIP 5), Done; returns (board, [column ids]).
    pub async fn board(&self, token: &str, project: &str) -> (String, Vec<String>) {
        let data = self
            .ok(
                token,
                r#"mutation($p: ID!) { createProjectBoard(input: { projectId: $p, name: "Board", columns: [
                    { name: "Todo", status: TODO }, { name: "Doing", status: IN_PROGRESS, wipLimit: 5 },
                    { name: "Done", status: DONE }] }) { id columns { id } } }"#,
                serde_json::json!({ "p": project }),
            )
            .await;
        let board = &data["createProjectBoard"];
        let columns = board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        (board["id"].as_str().unwrap().to_owned(), columns)
    }

    /// A task in the project (with extra `CreateTaskInput` fields); returns its id.
    pub async fn task(&self, token: &str, project: &str, title: &str, extra: Value) -> String {
        let mut input = serde_json::json!({ "projectId": project, "title": title });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        let data = self
            .ok(
                token,
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
                serde_json::json!({ "i": input }),
            )
            .await;
        data["createTask"]["id"].as_str().unwrap().to_owned()
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
        if let Some(journal) = &self.journal {
            let _ = std::fs::remove_file(journal);
            let _ = std::fs::remove_file(journal.with_extension("journal.lock"));
        }
    }
}

/// The runtime of a PMO subgraph on the real services (MongoDB at `mongo_url`, Redis, Kafka),
/// and its store.
async fn services_runtime(issuer: &TestIssuer, mongo_url: &str) -> (Runtime, SharedStore) {
    let runtime = services_runtime_of(issuer, Some(mongo_url)).await;
    let store = erp_pmo::connect_store(&runtime).await.unwrap();
    (runtime, store)
}

/// The runtime of a PMO subgraph on Redis and Kafka, with MongoDB at `mongo_url` when given.
async fn services_runtime_of(issuer: &TestIssuer, mongo_url: Option<&str>) -> Runtime {
    if std::env::var_os("TEST_LOG").is_some() {
        erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
    }
    let mut kit = config(issuer, String::new());
    kit.service = "pmo".into();
    kit.mongo_url = mongo_url.map(str::to_owned);
    let cache: SharedCache = Arc::new(
        RedisCache::connect(&require_env("REDIS_URL"))
            .await
            .unwrap(),
    );
    let bus: SharedBus =
        Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap());
    Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus)
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` (graphql-transport-ws) with the token in `connection_init`; returns the
/// socket and the server's first answer (`connection_ack` or the refusal).
pub async fn ws_connect(app: &PmoApp, token: &str) -> (Socket, Value) {
    ws_connect_at(app.addr, token).await
}

/// [`ws_connect`] to any subgraph listening at `addr`.
pub async fn ws_connect_at(addr: std::net::SocketAddr, token: &str) -> (Socket, Value) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut request = format!("ws://{addr}/graphql/ws")
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
    let first = ws_next(&mut socket).await;
    (socket, first)
}

/// The next protocol message (pings skipped); `{"closed": code}` when the server closed.
/// Waits at most 10 s, so a missing message fails the test instead of hanging it.
pub async fn ws_next(socket: &mut Socket) -> Value {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
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

/// A fresh tenant id.
pub fn tenant() -> String {
    format!("tnt_{}", uuid::Uuid::new_v4().simple())
}

/// The `extensions.reason` of the first error.
pub fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or("")
}

/// Sends a `subscribe` message with operation id `id`.
pub async fn ws_subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    socket
        .send(Message::text(
            serde_json::json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                .to_string(),
        ))
        .await
        .unwrap();
}
