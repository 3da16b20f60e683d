//! Spawning the real router binary (`erp-router`) in front of in-process subgraphs.
//!
//! The binary is found next to the test executable (`$CARGO_TARGET_DIR/debug/erp-router`, the
//! test itself lives in `.../debug/deps/`), so it works whatever CARGO_TARGET_DIR is. Before the
//! first spawn, `cargo build -p erp-router` brings it up to date (see
//! [`crate::cargo_build_binary`] for the rebuild trap it avoids); `ERP_ROUTER_BIN` skips both
//! and names a binary.
//!
//! Each router runs the checked-in `router/router.config.yaml`, configured through the
//! environment overrides that production uses (PORT, ERP_JWKS_URL, ERP_EMPLOYEE_URL, REDIS_URL,
//! ...), so the tests exercise the real configuration file; only the metrics port (a literal in
//! the file) is rewritten in a temporary copy so that several routers can run at once.
//!
//! The edge listener is TLS 1.3 only unless plain HTTP on loopback is asked for
//! (`ERP_ROUTER_PLAIN_HTTP`): [`Transport::Plain`] is the default here, for the tests that are
//! not about the transport; [`Transport::Tls`] and [`Transport::DevCertificate`] serve HTTPS and
//! the router's [`RouterProcess::http`] client trusts the certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{TestIssuer, ISSUER};

fn repo_root() -> PathBuf {
    crate::tests_dir().join("..").canonicalize().unwrap()
}

/// The router binary, built once per test process.
pub fn router_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ERP_ROUTER_BIN") {
                return PathBuf::from(path);
            }
            crate::cargo_build_binary("erp-router", "erp-router")
        })
        .clone()
}

/// A subgraph address where nothing listens (port 9, discard, is never served on loopback
/// here); [`RouterOptions::env`] overrides it.
pub const CLOSED_SUBGRAPH_URL: &str = "http://127.0.0.1:9/graphql";

pub use crate::ports::free_port;

/// How the router's edge listener is set up.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `ERP_ROUTER_PLAIN_HTTP=true` on 127.0.0.1.
    Plain,
    /// `ERP_TLS_CERT_FILE` / `ERP_TLS_KEY_FILE`; clients trust `cert_pem`.
    Tls {
        cert_file: PathBuf,
        key_file: PathBuf,
        cert_pem: String,
    },
    /// No certificate configured: the router generates one, written to `ERP_TLS_DEV_CERT_OUT`.
    DevCertificate,
}

impl Transport {
    /// A self-signed certificate for `localhost` / `127.0.0.1` made with the openssl CLI (ECDSA
    /// P-256), written to `dir`.
    pub fn openssl_certificate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let cert_file = dir.join("router.crt");
        let key_file = dir.join("router.key");
        let output = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .arg("ec_paramgen_curve:prime256v1")
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext"])
            .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
            // A server certificate, not a CA (webpki refuses a CA as an end entity).
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key_file)
            .arg("-out")
            .arg(&cert_file)
            .output()
            .expect("openssl is needed to make a test certificate");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cert_pem = std::fs::read_to_string(&cert_file).unwrap();
        Self::Tls {
            cert_file,
            key_file,
            cert_pem,
        }
    }
}

/// A reqwest client that trusts `cert_pem` (HTTP/1.1 only, so that WebSocket upgrades work),
/// optionally restricted to a TLS version range.
pub fn tls_client(
    cert_pem: &str,
    min: Option<reqwest::tls::Version>,
    max: Option<reqwest::tls::Version>,
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap());
    if let Some(min) = min {
        builder = builder.min_tls_version(min);
    }
    if let Some(max) = max {
        builder = builder.max_tls_version(max);
    }
    builder.build().unwrap()
}

/// `text` with `insertion` after `anchor`, which must occur exactly once.
fn insert_after_once(text: &str, anchor: &str, insertion: &str) -> String {
    assert_eq!(
        text.matches(anchor).count(),
        1,
        "{anchor:?} in the router configuration"
    );
    text.replacen(anchor, &format!("{anchor}{insertion}"), 1)
}

/// An external OIDC issuer: `oauth2-mock-server` (npm, pinned in router/test-idp), run with its
/// CLI on a free loopback port. Its issuer says `http://localhost:<port>`; it signs RS256 tokens
/// with a key generated at start, published at `/jwks`.
pub struct MockIdp {
    child: Child,
    pub issuer: String,
    pub jwks_url: String,
    token_url: String,
    http: reqwest::Client,
}

/// `router/test-idp/node_modules/.bin/oauth2-mock-server`, installed (`npm ci`) once per test
/// process when missing.
fn mock_idp_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let dir = repo_root().join("router/test-idp");
            let binary = dir.join("node_modules/.bin/oauth2-mock-server");
            if !binary.is_file() {
                let status = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm (Node >= 18) is needed for the mock OIDC issuer");
                assert!(status.success(), "npm ci in router/test-idp failed");
            }
            binary
        })
        .clone()
}

impl MockIdp {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new(mock_idp_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start oauth2-mock-server");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let discovery_url = format!("{base}/.well-known/openid-configuration");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let discovery: Value = loop {
            if let Ok(response) = http.get(&discovery_url).send().await {
                if response.status().is_success() {
                    break response.json().await.unwrap();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "oauth2-mock-server did not answer on {discovery_url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let issuer = discovery["issuer"].as_str().unwrap().to_owned();
        // Its documents name `localhost`; it listens on 127.0.0.1 only.
        let on_loopback = |url: &str| url.replace("//localhost:", "//127.0.0.1:");
        Self {
            child,
            jwks_url: on_loopback(discovery["jwks_uri"].as_str().unwrap()),
            token_url: on_loopback(discovery["token_endpoint"].as_str().unwrap()),
            issuer,
            http,
        }
    }

    /// A client-credentials access token for `audience` with `scope` (space-separated).
    pub async fn token(&self, audience: &str, scope: &str) -> String {
        let response: Value = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "erp-reporting"),
                ("client_secret", "unused"),
                ("aud", audience),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}"))
            .to_owned()
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a spawned router talks to.
pub struct RouterOptions {
    pub jwks_url: String,
    /// The employee subgraph's GraphQL URL.
    pub employee_url: String,
    /// `None`: no REDIS_URL (per-replica buckets).
    pub redis_url: Option<String>,
    /// Isolates this test's rate-limit buckets in a shared Redis.
    pub key_prefix: String,
    /// Extra environment (e.g. ERP_RL_PUBLIC_OPERATIONS, ERP_TRUSTED_PROXIES).
    pub env: Vec<(String, String)>,
    pub transport: Transport,
    /// The address the router binds (`HOST`).
    pub host: String,
    /// More trusted issuers: (issuer, JWKS URL), added to `jwt.issuers` and
    /// `jwt.jwks_providers` of the configuration file, as an operator adds an external IdP.
    pub extra_issuers: Vec<(String, String)>,
}

impl RouterOptions {
    pub fn new(issuer: &TestIssuer, employee_url: String) -> Self {
        Self::with_jwks(issuer.jwks_url.clone(), employee_url)
    }

    /// Options for any JWKS (e.g. the identity service's; set `ERP_JWT_ISSUER` with [`Self::env`]).
    pub fn with_jwks(jwks_url: String, employee_url: String) -> Self {
        Self {
            jwks_url,
            employee_url,
            redis_url: std::env::var("REDIS_URL").ok(),
            key_prefix: format!("erp:rl:test:{}", uuid::Uuid::new_v4().simple()),
            env: vec![],
            transport: Transport::Plain,
            host: "127.0.0.1".into(),
            extra_issuers: vec![],
        }
    }

    /// Trusts another issuer beside the first one (see [`RouterOptions::extra_issuers`]).
    pub fn trust_issuer(mut self, issuer: &str, jwks_url: &str) -> Self {
        self.extra_issuers.push((issuer.into(), jwks_url.into()));
        self
    }

    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }
}

/// A running router process, killed on drop.
pub struct RouterProcess {
    child: Child,
    pub port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    /// Trusts the router's certificate when it serves TLS.
    pub http: reqwest::Client,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The PEM certificate the router serves (TLS transports).
    pub cert_pem: Option<String>,
    config: PathBuf,
    dev_cert: Option<PathBuf>,
}

/// A router process that was started but not waited for (see [`RouterProcess::start`]).
pub struct StartedRouter {
    child: Child,
    pub port: u16,
    pub metrics_port: u16,
    log: PathBuf,
    config: PathBuf,
    dev_cert: Option<PathBuf>,
}

impl RouterProcess {
    pub async fn spawn(options: &RouterOptions) -> Self {
        let mut router = Self::spawn_without_waiting(options);
        router.wait_ready().await;
        if let Some(path) = &router.dev_cert {
            let pem = std::fs::read_to_string(path).unwrap();
            router.http = tls_client(&pem, None, None);
            router.cert_pem = Some(pem);
        }
        router
    }

    /// Starts the router without waiting for `/readiness` (a dev certificate is not trusted
    /// yet: its client accepts any certificate).
    pub fn spawn_without_waiting(options: &RouterOptions) -> Self {
        let started = Self::start(options);
        let StartedRouter {
            child,
            port,
            metrics_port,
            log,
            config,
            dev_cert,
        } = started;
        let (scheme, cert_pem) = match &options.transport {
            Transport::Plain => ("http", None),
            Transport::Tls { cert_pem, .. } => ("https", Some(cert_pem.clone())),
            Transport::DevCertificate => ("https", None),
        };
        let mut router = Self {
            child,
            port,
            metrics_port,
            log,
            http: reqwest::Client::new(),
            scheme,
            cert_pem,
            config,
            dev_cert,
        };
        if let Some(cert) = &router.cert_pem {
            router.http = tls_client(cert, None, None);
        } else if router.scheme == "https" {
            // Until the dev certificate is known, readiness is polled without verification.
            router.http = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
        }
        router
    }

    /// Starts the router process without waiting for it (see [`StartedRouter::wait_exit`]).
    pub fn start(options: &RouterOptions) -> StartedRouter {
        let binary = router_binary();
        let port = free_port();
        let metrics_port = free_port();
        let log = std::env::temp_dir().join(format!("erp-router-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        // The checked-in file, with only the metrics listener moved to a free port (a literal
        // there: hive-router 0.2.19 does not coerce a `from_env` string into that number).
        let checked_in =
            std::fs::read_to_string(repo_root().join("router/router.config.yaml")).unwrap();
        assert_eq!(checked_in.matches("port: 9464").count(), 1);
        let mut config_text = checked_in.replace("port: 9464", &format!("port: {metrics_port}"));
        for (issuer, jwks_url) in &options.extra_issuers {
            config_text =
                insert_after_once(&config_text, "  issuers:\n", &format!("    - {issuer}\n"));
            config_text = insert_after_once(
                &config_text,
                "  jwks_providers:\n",
                &format!("    - source: remote\n      url: {jwks_url}\n      prefetch: true\n"),
            );
        }
        let config = std::env::temp_dir().join(format!("erp-router-{port}.config.yaml"));
        std::fs::write(&config, config_text).unwrap();
        let mut command = Command::new(binary);
        command
            .current_dir(repo_root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROUTER_CONFIG_FILE_PATH", &config)
            .env(
                "SUPERGRAPH_FILE_PATH",
                repo_root().join("schema/supergraph.graphql"),
            )
            .env("HOST", &options.host)
            .env("PORT", port.to_string())
            .env("ERP_JWKS_URL", &options.jwks_url)
            .env("ERP_JWT_ISSUER", ISSUER)
            .env("ERP_EMPLOYEE_URL", &options.employee_url)
            // Most tests run one subgraph: readiness is the supergraph's alone unless a test
            // asks for more (tests/tests/router_readiness.rs); identity, PMO, finance, CRM,
            // operations and analytics point at a closed port, never at whatever listens on the default ones.
            .env("ERP_READINESS_MODE", "off")
            .env("ERP_IDENTITY_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_PMO_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_FINANCE_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_CRM_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_OPS_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_ANALYTICS_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_MARKETING_URL", CLOSED_SUBGRAPH_URL)
            .env("ERP_RL_KEY_PREFIX", &options.key_prefix)
            .env("LOG_FORMAT", "text")
            .env(
                "LOG_LEVEL",
                std::env::var("ROUTER_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file));
        let mut dev_cert = None;
        match &options.transport {
            Transport::Plain => {
                command.env("ERP_ROUTER_PLAIN_HTTP", "true");
            }
            Transport::Tls {
                cert_file,
                key_file,
                ..
            } => {
                command
                    .env("ERP_TLS_CERT_FILE", cert_file)
                    .env("ERP_TLS_KEY_FILE", key_file);
            }
            Transport::DevCertificate => {
                let path = std::env::temp_dir().join(format!("erp-router-{port}.dev-cert.pem"));
                command.env("ERP_TLS_DEV_CERT_OUT", &path);
                dev_cert = Some(path);
            }
        }
        if let Some(redis) = &options.redis_url {
            command.env("REDIS_URL", redis);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let child = command.spawn().expect("cannot start the router");
        StartedRouter {
            child,
            port,
            metrics_port,
            log,
            config,
            dev_cert,
        }
    }

    async fn wait_ready(&self) {
        let url = self.url("/readiness");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self.http.get(&url).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the router on port {} did not become ready in 30 s; its log:\n{}",
                    self.port,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// POSTs `{query, variables}` as JSON; returns (status, headers, body).
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        extra_headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in extra_headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    /// POSTs a GraphQL request and returns (status, body).
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let (status, _, body) = self.post(token, query, variables, &[]).await;
        (status, body)
    }

    /// The Prometheus text of the router's metrics listener.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
        if let Some(dev_cert) = &self.dev_cert {
            let _ = std::fs::remove_file(dev_cert);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl StartedRouter {
    /// Waits (at most `timeout`) for the process to exit by itself; returns its status (None
    /// when it was still running and has been killed) and its log.
    pub async fn wait_exit(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let deadline = tokio::time::Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.config);
        if let Some(dev_cert) = &self.dev_cert {
            let _ = std::fs::remove_file(dev_cert);
        }
        (status, log)
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal graphql-transport-ws client (RFC 6455 framing over reqwest's HTTP/1.1 upgrade, so
// the same client speaks WS and WSS with the router's certificate).

/// What a WebSocket handshake or read gave.
#[derive(Debug, PartialEq)]
pub enum WsEvent {
    /// A text message, parsed as JSON when it is JSON.
    Message(Value),
    /// A close frame: (code, reason).
    Closed(u16, String),
    /// The connection ended without a close frame.
    Ended,
    /// Nothing arrived in time.
    Timeout,
}

pub struct WsClient {
    stream: reqwest::Upgraded,
    buffer: Vec<u8>,
}

/// Why a WebSocket could not be opened: the HTTP status and body of the refusal.
#[derive(Debug)]
pub struct WsRefused {
    pub status: u16,
    pub body: String,
}

impl RouterProcess {
    /// Opens a graphql-transport-ws WebSocket on /graphql (WSS when the router serves TLS).
    pub async fn websocket(&self, origin: Option<&str>) -> Result<WsClient, WsRefused> {
        self.websocket_with(origin, &[]).await
    }

    /// [`Self::websocket`] with more upgrade headers (e.g. `X-Forwarded-For` from a trusted
    /// proxy).
    pub async fn websocket_with(
        &self,
        origin: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, WsRefused> {
        let client = match &self.cert_pem {
            Some(pem) => tls_client(pem, None, None),
            None => reqwest::Client::builder().http1_only().build().unwrap(),
        };
        open_websocket_with(&client, &self.url("/graphql"), origin, headers).await
    }

    /// The router process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of the metric line starting with `name` (no labels, or any), if the router
    /// exports it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }
}

/// The resident memory of process `pid` in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// Opens a graphql-transport-ws WebSocket at `url` (`http(s)://`: the upgrade is an HTTP/1.1
/// request, so `client` must speak HTTP/1.1 and trust the server's certificate).
pub async fn open_websocket(
    client: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
) -> Result<WsClient, WsRefused> {
    open_websocket_with(client, url, origin, &[]).await
}

/// [`open_websocket`] with more headers on the upgrade request.
pub async fn open_websocket_with(
    client: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<WsClient, WsRefused> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    let mut request = client
        .get(url)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", key)
        .header("sec-websocket-protocol", "graphql-transport-ws");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status != 101 {
        return Err(WsRefused {
            status,
            body: response.text().await.unwrap_or_default(),
        });
    }
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws")
    );
    Ok(WsClient {
        stream: response.upgrade().await.unwrap(),
        buffer: Vec::new(),
    })
}

impl WsClient {
    /// Sends a masked text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes()).await;
    }

    pub async fn send_json(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Starts the closing handshake: a Close frame with `code` (none: an empty Close frame).
    pub async fn close(&mut self, code: Option<u16>) {
        let payload: Vec<u8> = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
        self.send_frame(0x8, &payload).await;
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = uuid::Uuid::new_v4().as_bytes()[..4].try_into().unwrap();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        // A peer that already closed makes this fail; reads report what happened.
        let _ = self.stream.write_all(&frame).await;
        let _ = self.stream.flush().await;
    }

    /// The next message or close (pings are answered, pongs skipped), waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> WsEvent {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut message = Vec::new();
        loop {
            let Some((fin, opcode, payload)) =
                (match tokio::time::timeout_at(deadline, self.read_frame()).await {
                    Ok(frame) => frame,
                    Err(_) => return WsEvent::Timeout,
                })
            else {
                return WsEvent::Ended;
            };
            match opcode {
                0x8 => {
                    let code = payload
                        .get(..2)
                        .map(|b| u16::from_be_bytes([b[0], b[1]]))
                        .unwrap_or(1005);
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[]));
                    return WsEvent::Closed(code, reason.into_owned());
                }
                0x9 => self.send_frame(0xA, &payload).await,
                0xA => {}
                _ => {
                    message.extend_from_slice(&payload);
                    if fin {
                        let text = String::from_utf8_lossy(&message).into_owned();
                        return WsEvent::Message(
                            serde_json::from_str(&text).unwrap_or(Value::String(text)),
                        );
                    }
                }
            }
        }
    }

    /// Messages until the server closes; returns them and the close.
    pub async fn until_closed(&mut self, timeout: Duration) -> (Vec<Value>, WsEvent) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                WsEvent::Message(message) => messages.push(message),
                other => return (messages, other),
            }
        }
    }

    async fn fill(&mut self, wanted: usize) -> bool {
        use tokio::io::AsyncReadExt;
        while self.buffer.len() < wanted {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// (fin, opcode, payload) of the next server frame (unmasked), or None at the end.
    async fn read_frame(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        if !self.fill(2).await {
            return None;
        }
        let fin = self.buffer[0] & 0x80 != 0;
        let opcode = self.buffer[0] & 0x0F;
        let (length, header) = match self.buffer[1] & 0x7F {
            126 => {
                if !self.fill(4).await {
                    return None;
                }
                (
                    u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize,
                    4,
                )
            }
            127 => {
                if !self.fill(10).await {
                    return None;
                }
                let bytes: [u8; 8] = self.buffer[2..10].try_into().unwrap();
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            n => (n as usize, 2),
        };
        if !self.fill(header + length).await {
            return None;
        }
        let payload = self.buffer[header..header + length].to_vec();
        self.buffer.drain(..header + length);
        Some((fin, opcode, payload))
    }
}
