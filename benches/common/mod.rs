//! What every workload benchmark shares: release binaries, child processes killed on drop, an
//! RS256 signer with its JWKS server (the identity service's stand-in), the router configured
//! for a bench, graphql-transport-ws clients, percentiles and the machine description.
//! Modelled on router/benches/router_overhead.rs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub fn env_number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name} must be a number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

/// A text setting: None when unset or empty.
pub fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[path = "../../tests/src/ports.rs"]
mod ports;

#[path = "../../tests/src/mongo_url.rs"]
pub mod mongo_url;

/// A fresh PostgreSQL database named `bench_<what>_<random>` next to `admin_url`'s (a bench
/// never writes into a database it did not create).
pub async fn fresh_postgres_database(admin_url: &str, what: &str) -> Result<String> {
    use sea_orm::ConnectionTrait as _;
    let admin = sea_orm::Database::connect(admin_url).await?;
    let name = format!(
        "bench_{what}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| anyhow!("DATABASE_URL has no database name"))?;
    Ok(format!("{base}/{name}"))
}

/// A loopback port for a child process (see tests/src/ports.rs: never a released `bind(0)` port).
pub fn free_port() -> Result<u16> {
    Ok(ports::free_port())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A child process, killed on drop; its output goes to a log file shown when it fails.
pub struct Service {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Service {
    pub fn start(name: &str, command: &mut Command, dir: &Path) -> Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self {
            name: name.into(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(response) = client.get(url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}):\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} is not ready at {url} after 90 s:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The erp-os binary of this `cargo bench` (release: the bench profile inherits it), or
/// BENCH_ERP_OS_BIN: the target directory's `erp-os` is shared by every worktree building
/// into it, so another worktree's build can replace it between this bench's build and run.
pub fn erp_os_binary() -> PathBuf {
    std::env::var_os("BENCH_ERP_OS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_erp-os")))
}

/// Resident set size of a process, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// The identity service's stand-in: an RSA key signing RS256 tokens, published as a JWKS.
pub struct Signer {
    pair: RsaKeyPair,
    pub issuer: String,
    pub jwks_url: String,
}

impl Signer {
    const KID: &'static str = "bench";

    /// A fresh key and an HTTP server publishing its JWKS on loopback.
    pub async fn start() -> Result<Self> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| anyhow!("{e:?}"))?;
        let public = pair.public_key();
        let jwks = json!({ "keys": [{
            "kty": "RSA", "kid": Self::KID, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let issuer = format!("http://{addr}");
        let jwks_url = format!("{issuer}/.well-known/jwks.json");
        Ok(Self {
            pair,
            issuer,
            jwks_url,
        })
    }

    /// A token of `user` in `tenant` with `scopes`, valid for two hours.
    pub fn token(&self, tenant: &str, user: &str, scopes: &[&str]) -> Result<String> {
        let now = now_ms() / 1000;
        let claims = json!({
            "sub": user, "name": user, "email": format!("{user}@bench.example"),
            "tenant_id": tenant, "role": "Employee", "departments": [],
            "permissions": scopes, "iat": now, "exp": now + 7200,
            "iss": self.issuer, "aud": "erp", "jti": uuid::Uuid::new_v4().to_string(),
        });
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": Self::KID });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The environment every spawned service gets: nothing of the caller's but PATH.
pub fn base_command(binary: &Path, signer: &Signer) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ERP_JWT_ISSUER", &signer.issuer)
        .env("ERP_JWKS_URL", &signer.jwks_url)
        .env("RUST_LOG", "warn")
        .env("ERP_LOG_FORMAT", "json");
    command
}

/// [`base_command`] for `erp-os`, or, when `BENCH_<SERVICE>_WRAPPER` is set (e.g.
/// `BENCH_ROUTER_WRAPPER="heaptrack -o /tmp/router"` or `"perf record -g -o /tmp/p.data --"`),
/// `erp-os` run under that profiler. The service's RSS figures are then the wrapper's.
pub fn profiled_command(service: &str, signer: &Signer) -> Result<Command> {
    let variable = format!("BENCH_{}_WRAPPER", service.to_uppercase());
    let Some(wrapper) = env_text(&variable) else {
        return Ok(base_command(&erp_os_binary(), signer));
    };
    let mut words = wrapper.split_whitespace();
    let program = words
        .next()
        .with_context(|| format!("{variable} is empty"))?;
    let mut command = base_command(Path::new(program), signer);
    command.args(words).arg(erp_os_binary());
    Ok(command)
}

pub const ORIGIN: &str = "http://localhost:3000";

/// The router's environment in a benchmark: rate limits raised out of the way (each bench client
/// is one user sending far more than a person would) and no per-address WebSocket cap (every
/// client comes from loopback). The checked-in configuration reads these from the environment.
pub const BENCH_ROUTER_ENV: &[(&str, &str)] = &[
    ("ERP_RL_PUBLIC_LIMIT", "1000000000"),
    ("ERP_RL_AUTHENTICATED_LIMIT", "1000000000"),
    ("ERP_RL_HEAVY_LIMIT", "1000000000"),
    ("ERP_WS_MAX_CONNECTIONS_PER_IP", "0"),
];

/// The checked-in router configuration with its metrics on a free port (run it with
/// [`BENCH_ROUTER_ENV`]).
pub fn router_config(dir: &Path) -> Result<PathBuf> {
    let checked_in = std::fs::read_to_string(repo_root().join("router/router.config.yaml"))?;
    let replace_once = |text: &str, from: &str, to: &str| -> Result<String> {
        if text.matches(from).count() != 1 {
            bail!("{from:?} is not in router.config.yaml exactly once");
        }
        Ok(text.replacen(from, to, 1))
    };
    let supergraph = repo_root()
        .join("schema/supergraph.graphql")
        .canonicalize()?;
    let mut config = replace_once(
        &checked_in,
        "port: 9464",
        &format!("port: {}", free_port()?),
    )?;
    config = replace_once(
        &config,
        "path: ../schema/supergraph.graphql",
        &format!("path: {}", supergraph.display()),
    )?;
    let path = dir.join("router.config.yaml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// `erp-os router` on plain HTTP on loopback in front of the given subgraph URLs, returned
/// once its `/readiness` answers (its supergraph is loaded: before that it answers 503
/// `NO_SUPERGRAPH_AVAILABLE`). The finance subgraph points at a closed port.
#[allow(clippy::too_many_arguments)]
pub async fn start_router(
    http: &reqwest::Client,
    signer: &Signer,
    dir: &Path,
    port: u16,
    employee_url: &str,
    pmo_url: &str,
    identity_url: &str,
    redis_url: Option<&str>,
) -> Result<Service> {
    start_router_with(
        http,
        signer,
        dir,
        port,
        &[
            ("ERP_EMPLOYEE_URL", employee_url),
            ("ERP_PMO_URL", pmo_url),
            ("ERP_IDENTITY_URL", identity_url),
            ("ERP_FINANCE_URL", "http://127.0.0.1:9/graphql"),
        ],
        redis_url,
    )
    .await
}

/// [`start_router`] with every subgraph URL given as (`ERP_<NAME>_URL`, url).
pub async fn start_router_with(
    http: &reqwest::Client,
    signer: &Signer,
    dir: &Path,
    port: u16,
    subgraph_urls: &[(&str, &str)],
    redis_url: Option<&str>,
) -> Result<Service> {
    let config = router_config(dir)?;
    let mut command = profiled_command("router", signer)?;
    command
        .arg("router")
        .current_dir(repo_root())
        .env("ROUTER_CONFIG_FILE_PATH", &config)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .env("LOG_FORMAT", "json")
        .env("ERP_ROUTER_PLAIN_HTTP", "true")
        .env("ERP_READINESS_MODE", "off")
        .env("ERP_CORS_ORIGINS", ORIGIN)
        .envs(BENCH_ROUTER_ENV.iter().copied())
        .env(
            "ERP_RL_KEY_PREFIX",
            format!("erp:rl:bench:{}", uuid::Uuid::new_v4().simple()),
        );
    for (name, url) in subgraph_urls {
        command.env(name, url);
    }
    if let Some(redis) = redis_url {
        command.env("REDIS_URL", redis);
    }
    let mut router = Service::start("router", &mut command, dir)?;
    router
        .wait_ready(http, &format!("http://127.0.0.1:{port}/readiness"))
        .await?;
    Ok(router)
}

/// The router's subgraph URL settings, one per subgraph (`ERP_<NAME>_URL`).
pub const SUBGRAPH_URL_VARS: &[&str] = &[
    "ERP_IDENTITY_URL",
    "ERP_EMPLOYEE_URL",
    "ERP_PMO_URL",
    "ERP_FINANCE_URL",
    "ERP_CRM_URL",
    "ERP_OPS_URL",
    "ERP_ANALYTICS_URL",
    "ERP_MARKETING_URL",
];

/// One subgraph of this build and `erp-os router` in front of it (what
/// [`start_subgraph_behind_router`] returns); both are killed on drop.
pub struct BehindRouter {
    pub subgraph: Service,
    pub router: Service,
    /// The subgraph's own GraphQL endpoint (straight, without the router).
    pub subgraph_url: String,
    pub router_port: u16,
    /// The router's GraphQL endpoint.
    pub router_url: String,
}

/// `erp-os <name>` on a free port over `database` and `redis_url` (plus `env`), once ready,
/// then `erp-os router` in front of it (the checked-in configuration, the bench's raised rate
/// limits, limited in `redis_url`) with every other subgraph pointed at a closed port: a bench
/// of one subgraph sends no query that needs them.
#[allow(clippy::too_many_arguments)]
pub async fn start_subgraph_behind_router(
    http: &reqwest::Client,
    signer: &Signer,
    dir: &Path,
    name: &str,
    database: &str,
    redis_url: &str,
    env: &[(&str, &str)],
) -> Result<BehindRouter> {
    let url_var = format!("ERP_{}_URL", name.to_uppercase());
    if !SUBGRAPH_URL_VARS.contains(&url_var.as_str()) {
        bail!("{name} is not a subgraph the router knows");
    }
    let port = free_port()?;
    let mut command = base_command(&erp_os_binary(), signer);
    command
        .arg(name)
        .env("DATABASE_URL", database)
        .env("REDIS_URL", redis_url)
        .env("ERP_BIND", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied());
    let mut subgraph = Service::start(name, &mut command, dir)?;
    subgraph
        .wait_ready(http, &format!("http://127.0.0.1:{port}/ready"))
        .await?;
    let subgraph_url = format!("http://127.0.0.1:{port}/graphql");
    let closed = "http://127.0.0.1:9/graphql";
    let urls: Vec<(&str, &str)> = SUBGRAPH_URL_VARS
        .iter()
        .map(|&var| {
            let url = if var == url_var {
                subgraph_url.as_str()
            } else {
                closed
            };
            (var, url)
        })
        .collect();
    let router_port = free_port()?;
    let router = start_router_with(http, signer, dir, router_port, &urls, Some(redis_url)).await?;
    Ok(BehindRouter {
        subgraph,
        router,
        subgraph_url,
        router_port,
        router_url: format!("http://127.0.0.1:{router_port}/graphql"),
    })
}

/// A keep-alive HTTP/1.1 client for load.
pub fn load_client(pool: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// One GraphQL request; Ok(data) when the status is 200, there are no errors and data is an
/// object.
pub async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("origin", ORIGIN)
        .body(json!({ "query": query, "variables": variables }).to_string())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON ({e}): {bytes:?}"))?;
    if !body["errors"].is_null() {
        return Err(format!("errors: {}", body["errors"]));
    }
    if !body["data"].is_object() {
        return Err(format!("no data: {body}"));
    }
    Ok(body["data"].clone())
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection through `url` (ws://), acknowledged, with one
/// subscription started under id "1".
pub async fn subscribe(url: &str, token: &str, query: &str, variables: Value) -> Result<Socket> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("websocket connect")?;
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string(),
        ))
        .await?;
    let ack = next_json(&mut socket, Duration::from_secs(30)).await?;
    if ack["type"] != "connection_ack" {
        bail!("no connection_ack: {ack}");
    }
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } })
                .to_string(),
        ))
        .await?;
    Ok(socket)
}

/// The next graphql-transport-ws message that is not a ping/pong (answering pings).
pub async fn next_json(socket: &mut Socket, timeout: Duration) -> Result<Value> {
    loop {
        let message = tokio::time::timeout(timeout, socket.next())
            .await
            .map_err(|_| anyhow!("no message within {timeout:?}"))?
            .ok_or_else(|| anyhow!("the socket closed"))??;
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text)?;
                if value["type"] == "ping" {
                    socket
                        .send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await?;
                    continue;
                }
                if value["type"] == "pong" {
                    continue;
                }
                return Ok(value);
            }
            Message::Close(frame) => bail!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// Latencies in microseconds, sorted on demand.
#[derive(Default)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    pub fn sort(&mut self) {
        self.0.sort_unstable();
    }

    /// The p-th quantile in milliseconds (sorted first).
    pub fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index] as f64 / 1000.0
    }

    pub fn summary(&self) -> String {
        format!(
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(1.0),
            self.0.len()
        )
    }
}

/// The machine, as a list of (name, value) rows.
pub fn machine() -> Vec<(String, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map(|v| {
            let kib: f64 = v.trim().trim_end_matches(" kB").parse().unwrap_or(0.0);
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        })
        .unwrap_or_default();
    let command = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_default();
    // Other heavy processes sharing the CPUs (compilers of the other engineers, databases).
    let others = command("ps", &["-eo", "comm", "--sort=-%cpu"])
        .lines()
        .skip(1)
        .take(8)
        .collect::<Vec<_>>()
        .join(", ");
    let root = repo_root();
    vec![
        (
            "date (UTC)".into(),
            command("date", &["-u", "+%Y-%m-%d %H:%M"]),
        ),
        ("nproc".into(), nproc),
        ("CPU".into(), cpu),
        ("memory".into(), memory),
        (
            "kernel".into(),
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        (
            "load average at start".into(),
            read("/proc/loadavg")
                .split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("busiest processes at start (by CPU)".into(), others),
        ("rustc".into(), command("rustc", &["--version"])),
        // The services run from the same build as this bench (CARGO_BIN_EXE_erp-os).
        (
            "build profile".into(),
            if cfg!(debug_assertions) {
                "DEBUG (unoptimised; not a release figure, read the text's \"release\" as debug)"
                    .into()
            } else {
                "release".into()
            },
        ),
        (
            "commit".into(),
            command(
                "git",
                &[
                    "-C",
                    &root.display().to_string(),
                    "describe",
                    "--always",
                    "--dirty",
                ],
            ),
        ),
    ]
}

/// Writes a report: the machine table, then `body`; keeps a hand-written "## Where the time
/// goes" section of an older file below it.
pub fn write_report(
    name: &str,
    title: &str,
    machine: &[(String, String)],
    body: &str,
) -> Result<PathBuf> {
    let out = std::env::var("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(format!("bench-results/{name}.md")));
    let mut report = format!("# {title}\n\n## Machine\n\n| | |\n|---|---|\n");
    for (key, value) in machine {
        report.push_str(&format!("| {key} | {value} |\n"));
    }
    report.push('\n');
    report.push_str(body);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    const ANALYSIS: &str = "\n## Where the time goes";
    let analysis = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| old.find(ANALYSIS).map(|i| old[i..].to_owned()))
        .unwrap_or_default();
    std::fs::write(&out, format!("{report}{analysis}"))?;
    eprintln!("written to {}", out.display());
    Ok(out)
}

/// A miss, named: "met" or "MISSED by x".
pub fn verdict_max(value: f64, target: f64, unit: &str) -> String {
    if value.is_nan() {
        "not measured".into()
    } else if value <= target {
        format!("met (target < {target} {unit})")
    } else {
        format!(
            "MISSED by {:.1} {unit} ({:.1}x the target of {target} {unit})",
            value - target,
            value / target
        )
    }
}

pub fn verdict_min(value: f64, target: f64, unit: &str) -> String {
    if value >= target {
        format!("met (target >= {target} {unit})")
    } else {
        format!(
            "MISSED by {:.0} {unit} ({:.0} % of the target of {target} {unit})",
            target - value,
            value / target * 100.0
        )
    }
}
