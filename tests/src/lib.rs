//! Test harness: spawns real services on random ports and talks GraphQL to them over HTTP.
//!
//! The real backends come from the environment that `deploy/local/services.sh start` prints
//! (`DATABASE_URL`, `REDIS_URL`, `KAFKA_BROKERS`, `TANSU_BIN`). A test that needs one and does
//! not find it FAILS with a message saying how to start the services; it never skips.

pub mod analytics;
pub mod broker;
pub mod crm;
pub mod finance;
pub mod identity;
pub mod marketing;
pub mod mongo_url;
pub mod pmo;
pub mod ports;
pub mod router;
pub mod supergraph;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use erp_kit::auth::{Audience, Claims, JwkSet, RsaSigningKey};
use erp_kit::cache::{InProcessCache, RedisCache, SharedCache};
use erp_kit::config::KitConfig;
use erp_kit::events::{InProcessBus, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

pub const ISSUER: &str = "http://erp-test-issuer";
pub const AUDIENCE: &str = "erp";

/// A required environment variable of the real-services tests.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the real services first with \
             `eval \"$(deploy/local/services.sh start)\"` (or run `bash scripts/test.sh`)"
        )
    })
}

/// An identity-service stand-in for the subgraphs' point of view: a real RSA key whose public half
/// is served as a JWKS document over HTTP, and tokens signed with it.
pub struct TestIssuer {
    pub key: RsaSigningKey,
    pub jwks_url: String,
    jwks: Arc<std::sync::Mutex<JwkSet>>,
}

impl TestIssuer {
    pub async fn start() -> Self {
        let key = RsaSigningKey::generate(format!("test-{}", uuid::Uuid::new_v4())).unwrap();
        let jwks = Arc::new(std::sync::Mutex::new(JwkSet {
            keys: vec![key.jwk()],
        }));
        let served = jwks.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                async move { axum::Json(served.lock().unwrap().clone()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            key,
            jwks_url: format!("http://{addr}/.well-known/jwks.json"),
            jwks,
        }
    }

    /// Publishes another key beside the current ones (key rotation).
    pub fn publish(&self, key: &RsaSigningKey) {
        self.jwks.lock().unwrap().keys.push(key.jwk());
    }

    pub fn claims(&self, tenant: &str, sub: &str, scopes: &[&str]) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: sub.into(),
            name: format!("User {sub}"),
            email: format!("{sub}@example.com"),
            tenant_id: tenant.into(),
            role: "Employee".into(),
            departments: vec![],
            permissions: scopes.iter().map(|s| s.to_string()).collect(),
            exp: now + 900,
            iat: now,
            iss: ISSUER.into(),
            aud: Audience::One(AUDIENCE.into()),
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub fn token(&self, tenant: &str, sub: &str, scopes: &[&str]) -> String {
        self.key.sign(&self.claims(tenant, sub, scopes)).unwrap()
    }
}

/// A fresh PostgreSQL database for one test (dropped with the server's data at the end of CI).
pub async fn fresh_postgres() -> String {
    let admin_url = require_env("DATABASE_URL");
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A fresh SQLite file for one embedded-mode test.
pub fn fresh_sqlite() -> String {
    let path = std::env::temp_dir().join(format!("erp-test-{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Which backends a spawned service runs on.
pub enum Backends {
    /// PostgreSQL, Redis and Kafka from the environment.
    Real,
    /// PostgreSQL and Redis from the environment, Kafka at the given brokers.
    RealWithKafka(String),
    /// SQLite, in-process cache and bus (the embedded default).
    Embedded,
}

pub fn config(issuer: &TestIssuer, database_url: String) -> KitConfig {
    let mut config = KitConfig::from_lookup("employee", 0, |_| None).unwrap();
    config.database_url = database_url;
    config.auth.jwks_url = issuer.jwks_url.clone();
    config.auth.issuer = ISSUER.into();
    config.auth.audience = AUDIENCE.into();
    config.auth.min_refetch_interval = Duration::from_millis(50);
    config.kek_file = std::env::temp_dir().join(format!(
        "erp-test-kek-{}.key",
        uuid::Uuid::new_v4().simple()
    ));
    config
}

pub async fn runtime(issuer: &TestIssuer, backends: Backends) -> Runtime {
    runtime_with_db(issuer, backends, |_| {}).await
}

/// Every SQL statement a database connection ran since the last [`StatementLog::take`], with
/// the number of values bound to it, recorded by sea-orm's metric callback (statements of
/// transactions included): for tests that count the queries a request costs.
#[derive(Clone, Default)]
pub struct StatementLog(Arc<std::sync::Mutex<Vec<(String, usize)>>>);

impl StatementLog {
    /// Starts recording `db`'s statements (and those of its clones made afterwards).
    pub fn record(&self, db: &mut sea_orm::DatabaseConnection) {
        let log = self.0.clone();
        db.set_metric_callback(move |info| {
            let values = info.statement.values.as_ref().map_or(0, |v| v.0.len());
            log.lock()
                .unwrap()
                .push((info.statement.sql.clone(), values));
        });
    }

    /// The statements recorded so far, clearing the log.
    pub fn take(&self) -> Vec<(String, usize)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// [`runtime`], with `prepare` given the database connection before anything uses it (e.g.
/// [`StatementLog::record`]).
pub async fn runtime_with_db(
    issuer: &TestIssuer,
    backends: Backends,
    prepare: impl FnOnce(&mut sea_orm::DatabaseConnection),
) -> Runtime {
    match backends {
        Backends::Embedded => {
            let config = config(issuer, fresh_sqlite());
            let mut db = erp_kit::db::connect(&config.database_url).await.unwrap();
            prepare(&mut db);
            let cache: SharedCache = Arc::new(InProcessCache::new());
            let bus: SharedBus = Arc::new(InProcessBus::new());
            Runtime::with_backends(config, db, cache, bus)
        }
        Backends::Real | Backends::RealWithKafka(_) => {
            let config = config(issuer, fresh_postgres().await);
            let brokers = match backends {
                Backends::RealWithKafka(brokers) => brokers,
                _ => require_env("KAFKA_BROKERS"),
            };
            let mut db = erp_kit::db::connect(&config.database_url).await.unwrap();
            prepare(&mut db);
            let cache: SharedCache = Arc::new(
                RedisCache::connect(&require_env("REDIS_URL"))
                    .await
                    .unwrap(),
            );
            let bus: SharedBus = Arc::new(KafkaBus::new(KafkaConfig::new(brokers)).unwrap());
            Runtime::with_backends(config, db, cache, bus)
        }
    }
}

/// A spawned employee subgraph.
pub struct EmployeeApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    /// The subgraph's use cases (its outbox, direct reads in assertions).
    pub employee: erp_employee::Employee,
    pub http: reqwest::Client,
    _relay: erp_kit::events::RelayHandle,
}

impl EmployeeApp {
    pub async fn spawn(runtime: Runtime) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let service = erp_employee::start(&runtime).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                service
                    .router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            addr,
            runtime,
            employee: service.employee,
            http: reqwest::Client::new(),
            _relay: service.relay,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns (status, body).
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        post_graphql(&self.http, &self.url("/graphql"), token, query, variables).await
    }

    /// The `data` of a request that must succeed (200, no errors).
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// Creates a department with `token` (`department:write`) and returns its id.
    pub async fn create_department(&self, token: &str, name: &str) -> String {
        let data = self
            .ok(
                token,
                "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
                json!({ "n": name }),
            )
            .await;
        data["createDepartment"]["id"].as_str().unwrap().to_owned()
    }

    /// Hires `input` (a `HireEmployeeInput`) with `token` (`employee:write`) and returns the id.
    pub async fn hire(&self, token: &str, input: Value) -> String {
        let data = self
            .ok(
                token,
                "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        data["hireEmployee"]["id"].as_str().unwrap().to_owned()
    }
}

/// POSTs a GraphQL request as JSON and returns (status, body).
pub async fn post_graphql(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The `extensions.code` of every error in a response body.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A TCP relay in front of a real service that a test can cut and restore: the service's
/// clients connect to [`TcpRelay::address`]; while cut, every relayed connection is closed and
/// new ones are closed as soon as they are accepted (the service, as its clients see it, is
/// down; the real service keeps running for every other test).
pub struct TcpRelay {
    address: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl TcpRelay {
    /// Relays a loopback port to `target` (`host:port`).
    pub async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, watching) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watching.borrow() {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                let mut watching = watching.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watching.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { address, cut }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes every relayed connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// Polls `check` every 100 ms until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The test crate's directory (`tests/`) of the checkout being tested, read when the test
/// RUNS (cargo sets `CARGO_MANIFEST_DIR` for every test process). TRAP: `env!` bakes in the
/// path of the checkout that compiled the binary, and two checkouts sharing one
/// `CARGO_TARGET_DIR` share test binaries (cargo names them by the path relative to the
/// workspace): a binary built in a clone that was since deleted ran cargo in a missing
/// directory, and one built in another checkout would read that checkout's schema files.
pub fn tests_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Builds `bin` of `package` with the cargo that runs the tests, into the same target dir as the
/// test executable, and returns its path (`$CARGO_TARGET_DIR/<profile>/<bin>`).
///
/// TRAP: cargo runs a test with `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ... set for the test
/// crate. A nested cargo that inherits them hands them to build scripts, and `ring`'s build
/// script reruns when `CARGO_MANIFEST_DIR` changes: ring, rustls, reqwest, hive-router and the
/// whole workspace were rebuilt by every test run and again by the next plain build. The nested
/// build runs without the variables cargo sets for tests.
pub fn cargo_build_binary(package: &str, bin: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // .../debug/deps/<test>-<hash> -> .../debug/<bin>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let repo = tests_dir().join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .contains(&name.as_ref())
            || name.starts_with("CARGO_PKG_");
        if set_for_tests {
            build.env_remove(name.as_ref());
        }
    }
    let status = build
        .args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(repo)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {bin}: {e}"));
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed"
    );
    let binary = profile_dir.join(bin);
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}
