//! Whole supergraphs for end-to-end tests, reached only through the router as a client would:
//!
//! - [`ErpOs`]: the one-process `erp-os all` on embedded defaults (SQLite files, in-memory PMO
//!   store, in-process cache and bus) in a temporary state directory, plain HTTP on loopback;
//! - [`ServicesStack`]: the production shape on the real services: `erp-os seed --services`
//!   writes a tier-S tenant, then `erp-os identity`, `erp-os employee`, `erp-os pmo`,
//!   `erp-os finance`, `erp-os crm`, `erp-os ops` and `erp-os analytics` run as their own processes on PostgreSQL,
//!   `erp-os finance`, `erp-os crm`, `erp-os ops` and `erp-os marketing` run as their own processes on PostgreSQL,
//!   Redis, Kafka and MongoDB, behind the `erp-router` process serving TLS (a generated development
//!   certificate, so subscriptions are WSS).
//!
//! Both hand out an [`Edge`]: the router's GraphQL URL with a client that trusts it.
//!
//! Finding the binary: `ERP_OS_BIN` names one; otherwise `cargo build -p erp-os --bin erp-os`
//! runs once per test process and the binary is taken from the target directory. The same
//! `-p erp-os` build every time resolves the same features, so after the first build it is a
//! no-op; `cargo build --workspace --bins` would resolve features over the whole workspace
//! (another variant of hive-router and its dependency tree to compile) and build every other
//! binary too, and taking whatever binary is there without building could run a stale one. (A
//! test cannot depend on a binary: artifact dependencies are unstable in cargo.) The nested
//! build avoids a rebuild trap (see [`crate::cargo_build_binary`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::router::{
    free_port, open_websocket, tls_client, RouterOptions, RouterProcess, Transport, WsClient,
    WsEvent,
};
use crate::{post_graphql, require_env};

/// The `erp-os` binary the tests run (see the module documentation).
pub fn erp_os_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ERP_OS_BIN") {
                return PathBuf::from(path);
            }
            crate::cargo_build_binary("erp-os", "erp-os")
        })
        .clone()
}

/// A fresh temporary directory name (not created).
pub fn fresh_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{what}-{}", uuid::Uuid::new_v4().simple()))
}

/// How long a process may take to answer after start: a debug build (and Argon2id hashes of
/// seed data) on a busy 2-core machine. Not a timing assertion, only when to call it broken.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A child process with its output in a log file, killed on drop.
pub struct LoggedChild {
    child: Child,
    pub log: PathBuf,
    name: String,
}

impl LoggedChild {
    /// Spawns `command` with stdout and stderr into `log` (stdin closed).
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child,
            log,
            name: name.to_owned(),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `url` until it answers 2xx; panics with the log if the process exits first or
    /// [`START_TIMEOUT`] passes.
    pub async fn wait_until_ok(&mut self, http: &reqwest::Client, url: &str) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_text());
            }
            if let Ok(response) = http.get(url).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{} did not answer {url}:\n{}", self.name, self.log_text());
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself; panics with the log after [`START_TIMEOUT`].
    pub async fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{} did not exit:\n{}", self.name, self.log_text());
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client sees of a supergraph: the router's GraphQL URL and clients that trust it.
#[derive(Clone)]
pub struct Edge {
    /// `http(s)://127.0.0.1:<port>/graphql`.
    pub url: String,
    pub http: reqwest::Client,
    /// HTTP/1.1 only (WebSocket upgrades), trusting the same certificate.
    ws_http: reqwest::Client,
}

impl Edge {
    /// Plain HTTP on loopback.
    pub fn plain(url: String) -> Self {
        Self {
            url,
            http: reqwest::Client::new(),
            ws_http: reqwest::Client::builder().http1_only().build().unwrap(),
        }
    }

    /// HTTPS with a server certificate `cert_pem`.
    pub fn tls(url: String, cert_pem: &str) -> Self {
        let client = tls_client(cert_pem, None, None);
        Self {
            url,
            http: client.clone(),
            ws_http: client,
        }
    }

    /// One operation; asserts HTTP 200 and returns the body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = post_graphql(&self.http, &self.url, token, query, variables).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    /// One operation that must succeed; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.graphql(Some(token), query, variables).await;
        assert!(body["errors"].is_null(), "{query}: {body}");
        body["data"].clone()
    }

    /// A graphql-transport-ws connection initialised with `token` (the ack asserted).
    pub async fn websocket(&self, token: &str) -> WsClient {
        let mut socket = open_websocket(&self.ws_http, &self.url, None)
            .await
            .unwrap_or_else(|refused| panic!("WebSocket refused: {refused:?}"));
        socket
            .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        assert_eq!(
            socket.next(Duration::from_secs(30)).await,
            WsEvent::Message(json!({ "type": "connection_ack" }))
        );
        socket
    }

    /// Password login of a user without a second factor, then TOTP enrolment (see
    /// [`crate::identity::login_enrolling_totp_at`]). Returns the access token, the TOTP secret
    /// and the recovery codes.
    pub async fn login_enrolling_totp(
        &self,
        email: &str,
        password: &str,
    ) -> (String, String, Vec<String>) {
        let (tokens, secret) =
            crate::identity::login_enrolling_totp_at(&self.http, &self.url, email, password).await;
        let token = tokens["accessToken"].as_str().unwrap().to_owned();
        let recovery = tokens["recoveryCodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (token, secret, recovery)
    }
}

/// A running `erp-os all`, killed on drop.
pub struct ErpOs {
    process: LoggedChild,
    pub edge: Edge,
    /// The demo users' password the state directory's first start generated (read from
    /// `<state>/demo-password`; empty without the demo).
    pub demo_password: String,
}

/// `erp-os all` on `state` with the router on `router_port`, free ports for the rest, demo
/// seed `demo_seed`, plain HTTP, and `env` on top.
pub fn erp_os_all(state: &Path, router_port: u16, demo_seed: u64, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(erp_os_binary());
    command
        .arg("all")
        .arg("--state-dir")
        .arg(state)
        .args(["--router-port", &router_port.to_string()])
        .args(["--identity-port", &free_port().to_string()])
        .args(["--employee-port", &free_port().to_string()])
        .args(["--pmo-port", &free_port().to_string()])
        .args(["--finance-port", &free_port().to_string()])
        .args(["--crm-port", &free_port().to_string()])
        .args(["--ops-port", &free_port().to_string()])
        .args(["--analytics-port", &free_port().to_string()])
        .args(["--marketing-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()])
        .args(["--demo-seed", &demo_seed.to_string()])
        .env("ERP_ROUTER_PLAIN_HTTP", "true")
        .env_remove("ROUTER_CONFIG_FILE_PATH")
        .env_remove("ERP_KEK_FILE")
        .env_remove("HOST")
        .env_remove("LABORATORY_ENABLED")
        .env_remove("ERP_NO_DEMO");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl ErpOs {
    /// Starts `erp-os all` on `state` with free ports and demo seed `demo_seed`, and waits
    /// until the router answers.
    pub async fn start(state: &Path, demo_seed: u64) -> Self {
        Self::start_with_env(state, demo_seed, &[]).await
    }

    /// [`Self::start`] with more environment (e.g. `ERP_TRUSTED_PROXIES`).
    pub async fn start_with_env(state: &Path, demo_seed: u64, env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(state).unwrap();
        let router_port = free_port();
        let mut process = LoggedChild::spawn(
            "erp-os all",
            erp_os_all(state, router_port, demo_seed, env),
            state.join(format!("erp-os-{router_port}.log")),
        );
        let edge = Edge::plain(format!("http://127.0.0.1:{router_port}/graphql"));
        process
            .wait_until_ok(
                &edge.http,
                &format!("http://127.0.0.1:{router_port}/health"),
            )
            .await;
        let demo_password = std::fs::read_to_string(state.join("demo-password"))
            .map(|p| p.trim().to_owned())
            .unwrap_or_default();
        Self {
            process,
            edge,
            demo_password,
        }
    }

    /// Runs `erp-os all` on `state` with `env`, which must refuse to start: answers its
    /// output (the log is kept beside the state directory, which may not exist).
    pub async fn refused(state: &Path, env: &[(&str, &str)]) -> String {
        let router_port = free_port();
        let log = std::env::temp_dir().join(format!("erp-os-refused-{router_port}.log"));
        let mut process = LoggedChild::spawn(
            "erp-os all",
            erp_os_all(state, router_port, 42, env),
            log.clone(),
        );
        let status = process.wait_for_exit().await;
        let output = process.log_text();
        assert!(!status.success(), "erp-os all started:\n{output}");
        let _ = std::fs::remove_file(log);
        output
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    pub fn stop(self) {
        self.process.stop();
    }
}

/// The production shape on the real services (see the module documentation). Needs
/// DATABASE_URL, REDIS_URL, KAFKA_BROKERS and MONGO_URL; each stack has its own PostgreSQL and
/// MongoDB databases and its own tenant.
pub struct ServicesStack {
    pub router: RouterProcess,
    pub edge: Edge,
    /// The seeded tenant's administrator (the company's first employee).
    pub admin_email: String,
    pub tenant_id: String,
    services: Vec<LoggedChild>,
    dir: PathBuf,
}

impl ServicesStack {
    /// Seeds tier S (seed `seed`, administrator password `admin_password`) into fresh databases
    /// and starts the subgraphs and the router on them.
    pub async fn start(seed: u64, admin_password: &str) -> Self {
        let redis = require_env("REDIS_URL");
        let kafka = require_env("KAFKA_BROKERS");
        let identity_db = crate::fresh_postgres().await;
        let employee_db = crate::fresh_postgres().await;
        let finance_db = crate::fresh_postgres().await;
        let crm_db = crate::fresh_postgres().await;
        let marketing_db = crate::fresh_postgres().await;
        let mongo = crate::pmo::fresh_mongo_url();
        // Operations on a MongoDB database of its own (as a deployment gives each service).
        let ops_mongo = crate::pmo::fresh_mongo_url();
        // Analytics on a ClickHouse database of its own.
        let clickhouse = require_env("CLICKHOUSE_URL");
        let analytics_db = crate::analytics::fresh_clickhouse_database();
        let dir = fresh_dir("erp-services-stack");
        std::fs::create_dir_all(&dir).unwrap();
        let kek = dir.join("local-kek.key");
        let (identity_port, employee_port, pmo_port) = (free_port(), free_port(), free_port());
        let (finance_port, crm_port, ops_port) = (free_port(), free_port(), free_port());
        let analytics_port = free_port();
        let marketing_port = free_port();
        let issuer = format!("http://127.0.0.1:{identity_port}");
        let jwks = format!("{issuer}/.well-known/jwks.json");
        let base = |command: &mut Command| {
            command
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("REDIS_URL", &redis)
                .env("KAFKA_BROKERS", &kafka)
                .env("CLICKHOUSE_URL", &clickhouse)
                .env("ERP_KEK_FILE", &kek)
                .env("ERP_JWT_ISSUER", &issuer)
                .env("ERP_JWKS_URL", &jwks)
                .env("ERP_LOG_FORMAT", "pretty")
                .env("RUST_LOG", "warn");
        };

        // The tenant, written through the services' own stores (as an operator would seed).
        let mut seed_command = Command::new(erp_os_binary());
        base(&mut seed_command);
        seed_command
            .args(["seed", "--tier", "S", "--seed", &seed.to_string()])
            .args(["--tenant", "Day Services Co", "--services"])
            .env("ERP_IDENTITY_DATABASE_URL", &identity_db)
            .env("ERP_EMPLOYEE_DATABASE_URL", &employee_db)
            .env("MONGO_URL", &mongo)
            .env("ERP_ADMIN_PASSWORD", admin_password)
            .stdin(Stdio::null());
        let output = seed_command.output().expect("cannot run erp-os seed");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "erp-os seed failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // "tenant <id> (<company>); administrator <email> (<user id>)"
        let line = stdout
            .lines()
            .find(|l| l.starts_with("tenant "))
            .unwrap_or_else(|| panic!("no tenant line in:\n{stdout}"));
        let tenant_id = line["tenant ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let admin_email = line
            .split("administrator ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_owned();

        let probe = reqwest::Client::new();
        let mut services = Vec::new();
        for (name, port, extra) in [
            ("identity", identity_port, ("DATABASE_URL", &identity_db)),
            ("employee", employee_port, ("DATABASE_URL", &employee_db)),
            ("pmo", pmo_port, ("MONGO_URL", &mongo)),
            ("finance", finance_port, ("DATABASE_URL", &finance_db)),
            ("crm", crm_port, ("DATABASE_URL", &crm_db)),
            ("ops", ops_port, ("MONGO_URL", &ops_mongo)),
            (
                "analytics",
                analytics_port,
                ("CLICKHOUSE_DATABASE", &analytics_db),
            ),
            ("marketing", marketing_port, ("DATABASE_URL", &marketing_db)),
        ] {
            let mut command = Command::new(erp_os_binary());
            base(&mut command);
            command
                .arg(name)
                .env("ERP_BIND", format!("127.0.0.1:{port}"))
                .env(extra.0, extra.1);
            let mut child = LoggedChild::spawn(
                &format!("erp-os {name}"),
                command,
                dir.join(format!("{name}.log")),
            );
            child
                .wait_until_ok(&probe, &format!("http://127.0.0.1:{port}/ready"))
                .await;
            services.push(child);
        }

        let graphql = |port: u16| format!("http://127.0.0.1:{port}/graphql");
        let options = RouterOptions::with_jwks(jwks.clone(), graphql(employee_port))
            .transport(Transport::DevCertificate)
            .env("ERP_JWT_ISSUER", &issuer)
            .env("ERP_IDENTITY_URL", &graphql(identity_port))
            .env("ERP_PMO_URL", &graphql(pmo_port))
            .env("ERP_FINANCE_URL", &graphql(finance_port))
            .env("ERP_CRM_URL", &graphql(crm_port))
            .env("ERP_OPS_URL", &graphql(ops_port))
            .env("ERP_ANALYTICS_URL", &graphql(analytics_port))
            .env("ERP_MARKETING_URL", &graphql(marketing_port))
            .env("ERP_READINESS_MODE", "startup");
        let router = RouterProcess::spawn(&options).await;
        let edge = Edge::tls(
            router.url("/graphql"),
            router.cert_pem.as_deref().expect("the router serves TLS"),
        );
        Self {
            router,
            edge,
            admin_email,
            tenant_id,
            services,
            dir,
        }
    }

    /// The logs of the subgraph processes (for a failure message).
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("--- {}\n{}", s.log.display(), s.log_text()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ServicesStack {
    fn drop(&mut self) {
        for service in self.services.drain(..) {
            service.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
