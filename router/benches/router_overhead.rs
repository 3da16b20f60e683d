//! Router overhead benchmark (workload.md, "Router overhead"): the same GraphQL query, in one
//! run, against
//!
//! 1. `direct`: the employee subgraph itself;
//! 2. `hive-bare`: hive-router 0.2.19's own entry point without plugins (`router-bare`), a
//!    plain configuration (no JWT, no authorization directives, no CORS, no CSRF, no limits);
//! 3. `hive-security`: the same binary with the checked-in router.config.yaml minus our plugins
//!    (hive-router's JWT, `@authenticated`/`@requiresScopes`, CORS, CSRF, limits, introspection
//!    policy, Prometheus);
//! 4. `erp-router`: our router with the checked-in configuration: all of 3 plus erp_edge_guard
//!    and erp_rate_limit (Redis when REDIS_URL is set, limits raised so they never trip), plain
//!    HTTP on loopback like the others;
//! 5. `erp-router-tls`: the same over TLS 1.3 (informative);
//! 6. `hive-bare-nodedupe` and 7. `erp-router-nodedupe`: 2 and 4 with the router's subgraph
//!    request deduplication off (`traffic_shaping.all.dedupe_enabled: false`). The load sends
//!    the same query from every connection, so with deduplication on (the default, and our
//!    configuration) concurrent identical requests share one subgraph fetch and the subgraph
//!    does a fraction of `direct`'s work; these two make the subgraph answer every request, so
//!    the subgraph's own cost is measured through the router too.
//!
//! Every response is checked (status 200 and the exact expected data); a worker pool of
//! BENCH_CONCURRENCY keep-alive HTTP/1.1 connections runs for BENCH_SECONDS per target and round,
//! targets interleaved over BENCH_ROUNDS rounds. Loopback only. The results, with the machine,
//! go to router/bench-results/router-overhead.md (BENCH_OUT overrides).
//!
//!     cargo bench -p erp-router --bench router_overhead
//!
//! Environment: BENCH_SECONDS (8), BENCH_WARMUP_SECONDS (2), BENCH_ROUNDS (3),
//! BENCH_CONCURRENCY (32), REDIS_URL (optional), BENCH_OUT.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

const QUERY: &str =
    "query Bench { departments(first: 10) { nodes { id name } pageInfo { hasNextPage } } }";
const DEPARTMENTS: usize = 10;
const ORIGIN: &str = "http://localhost:3000";
const TENANT: &str = "tnt_bench";

fn env_number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name} must be a number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process, killed on drop; its output goes to a log file shown when it fails.
struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn start(name: &str, command: &mut Command, dir: &Path) -> Result<Self> {
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
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
                    "{} is not ready at {url} after 60 s:\n{}",
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

/// `cargo build --release <args>` from the repository root, without the `CARGO_*` variables
/// cargo sets for the bench itself (a nested build that inherits `CARGO_MANIFEST_DIR` reruns
/// ring's build script and rebuilds everything above it; see erp_tests::cargo_build_binary).
fn cargo_build(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR" {
            command.env_remove(name.as_ref());
        }
    }
    let status = command
        .args(["build", "--release"])
        .args(args)
        .current_dir(repo_root())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release {} failed", args.join(" "));
    }
    Ok(())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) may contain spaces: count from the closing parenthesis.
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
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the state (field 3).
    tick(11) + tick(12)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The identity service's stand-in: an RSA key signing RS256 tokens, published as a JWKS.
struct Signer {
    pair: RsaKeyPair,
}

impl Signer {
    const KID: &'static str = "bench";

    fn generate() -> Result<Self> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| anyhow!("{e:?}"))?;
        Ok(Self { pair })
    }

    fn jwks(&self) -> Value {
        let public = self.pair.public_key();
        json!({ "keys": [{
            "kty": "RSA", "kid": Self::KID, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]})
    }

    fn sign(&self, claims: &Value) -> Result<String> {
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

struct Target {
    name: &'static str,
    description: &'static str,
    url: String,
    client: reqwest::Client,
    /// The router process (None: the subgraph itself).
    router_pid: Option<u32>,
}

#[derive(Default)]
struct Measurement {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    round_rps: Vec<f64>,
    router_cpu_ticks: u64,
    subgraph_cpu_ticks: u64,
    client_cpu_ticks: u64,
}

impl Measurement {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }

    /// CPU time per successful request, in microseconds.
    fn cpu_us_per_request(&self, ticks: u64, ticks_per_second: u64) -> f64 {
        ticks as f64 * 1_000_000.0 / ticks_per_second as f64 / self.ok.max(1) as f64
    }
}

struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

/// One request; Ok(()) when the answer is status 200 with exactly the expected body.
async fn request(target: &Target, token: &str, expected: &Value) -> Result<(), String> {
    let response = target
        .client
        .post(&target.url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("origin", ORIGIN)
        .body(json!({ "query": QUERY }).to_string())
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
    if &body != expected {
        return Err(format!("unexpected body: {body}"));
    }
    Ok(())
}

/// How every target is loaded.
struct Load {
    token: Arc<String>,
    expected: Arc<Value>,
    concurrency: u64,
    warmup: Duration,
    duration: Duration,
    subgraph_pid: u32,
}

/// Runs `concurrency` workers against `target` for `duration` (after `warmup`).
async fn run(target: Arc<Target>, load: &Load, measurement: &mut Measurement) {
    let Load {
        token,
        expected,
        concurrency,
        warmup,
        duration,
        subgraph_pid,
    } = load;
    let (concurrency, warmup, duration) = (*concurrency, *warmup, *duration);
    let warm_until = Instant::now() + warmup;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (target, token, expected) = (target.clone(), token.clone(), expected.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < warm_until {
                let _ = request(&target, &token, &expected).await;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }

    let router = target.router_pid.map(|pid| pid.to_string());
    let subgraph = subgraph_pid.to_string();
    let before = (
        router.as_deref().map(cpu_ticks).unwrap_or(0),
        cpu_ticks(&subgraph),
        cpu_ticks("self"),
    );
    let started = Instant::now();
    let stop_at = started + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (target, token, expected) = (target.clone(), token.clone(), expected.clone());
        workers.push(tokio::spawn(async move {
            let mut result = WorkerResult {
                ok: 0,
                errors: 0,
                first_error: None,
                latencies_us: Vec::with_capacity(16_384),
            };
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                match request(&target, &token, &expected).await {
                    Ok(()) => {
                        result.ok += 1;
                        let micros = sent.elapsed().as_micros();
                        result
                            .latencies_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                    Err(error) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(error);
                    }
                }
            }
            result
        }));
    }
    let mut ok = 0;
    for worker in workers {
        let Ok(result) = worker.await else { continue };
        ok += result.ok;
        measurement.errors += result.errors;
        if measurement.first_error.is_none() {
            measurement.first_error = result.first_error;
        }
        measurement.latencies_us.extend(result.latencies_us);
    }
    let elapsed = started.elapsed();
    measurement.router_cpu_ticks += router.as_deref().map(cpu_ticks).unwrap_or(0) - before.0;
    measurement.subgraph_cpu_ticks += cpu_ticks(&subgraph) - before.1;
    measurement.client_cpu_ticks += cpu_ticks("self") - before.2;
    measurement.ok += ok;
    measurement.elapsed += elapsed;
    measurement
        .round_rps
        .push(ok as f64 / elapsed.as_secs_f64());
}

fn machine() -> Vec<(String, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_owned();
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
        ("rustc".into(), command("rustc", &["--version"])),
        (
            "commit".into(),
            command(
                "git",
                &[
                    "-C",
                    env!("CARGO_MANIFEST_DIR"),
                    "describe",
                    "--always",
                    "--dirty",
                ],
            ),
        ),
    ]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let seconds = env_number("BENCH_SECONDS", 8)?;
    let warmup = env_number("BENCH_WARMUP_SECONDS", 2)?;
    let rounds = env_number("BENCH_ROUNDS", 3)?;
    let concurrency = env_number("BENCH_CONCURRENCY", 32)?;
    let redis_url = std::env::var("REDIS_URL").ok();
    let out = std::env::var("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("router/bench-results/router-overhead.md"));

    // The binaries: erp-router comes with `cargo bench`; the subgraph and the bare router are
    // built here (release).
    let release_dir = PathBuf::from(env!("CARGO_BIN_EXE_erp-router"))
        .parent()
        .ok_or_else(|| anyhow!("no release directory"))?
        .to_path_buf();
    eprintln!("building the employee subgraph and router-bare (release)...");
    cargo_build(&["-p", "erp-employee", "--bin", "erp-employee"])?;
    cargo_build(&[
        "-p",
        "erp-router",
        "--features",
        "bench",
        "--bin",
        "router-bare",
    ])?;
    let erp_router = PathBuf::from(env!("CARGO_BIN_EXE_erp-router"));
    let router_bare = release_dir.join("router-bare");
    let employee = release_dir.join("erp-employee");

    let dir = std::env::temp_dir().join(format!("erp-router-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let http = reqwest::Client::new();

    // The identity stand-in: an RS256 key whose JWKS is served over HTTP.
    let key = Signer::generate()?;
    let jwks = key.jwks();
    let jwks_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let jwks_addr = jwks_listener.local_addr()?;
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(jwks_listener, app).await });
    let issuer = format!("http://{jwks_addr}");
    let jwks_url = format!("{issuer}/.well-known/jwks.json");
    let token = |scopes: &[&str]| -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let claims = json!({
            "sub": "usr_bench", "name": "Bench", "email": "bench@example.com",
            "tenant_id": TENANT, "role": "Employee", "departments": [],
            "permissions": scopes, "iat": now, "exp": now + 3600,
            "iss": issuer, "aud": "erp", "jti": uuid::Uuid::new_v4().to_string(),
        });
        key.sign(&claims)
    };

    // The employee subgraph (SQLite, in-process cache and bus).
    let employee_port = free_port()?;
    let mut subgraph = Service::start(
        "employee",
        Command::new(&employee)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/employee.db?mode=rwc", dir.display()),
            )
            .env("ERP_BIND", format!("127.0.0.1:{employee_port}"))
            .env("ERP_JWT_ISSUER", &issuer)
            .env("ERP_JWKS_URL", &jwks_url)
            .env("ERP_KEK_FILE", dir.join("kek.key"))
            .env("RUST_LOG", "warn"),
        &dir,
    )?;
    let employee_url = format!("http://127.0.0.1:{employee_port}/graphql");
    subgraph
        .wait_ready(&http, &format!("http://127.0.0.1:{employee_port}/ready"))
        .await?;
    let writer = token(&["department:write", "employee:read"])?;
    for i in 0..DEPARTMENTS {
        let body: Value = http
            .post(&employee_url)
            .bearer_auth(&writer)
            .header("accept", "application/json")
            .json(&json!({
                "query": "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
                "variables": { "n": format!("Department {i:02}") }
            }))
            .send()
            .await?
            .json()
            .await?;
        if !body["errors"].is_null() {
            bail!("seeding failed: {body}");
        }
    }
    let reader = Arc::new(token(&["employee:read"])?);

    // Router configurations.
    let supergraph = repo_root()
        .join("schema/supergraph.graphql")
        .canonicalize()?;
    let checked_in = std::fs::read_to_string(repo_root().join("router/router.config.yaml"))?;
    let replace_once = |text: &str, from: &str, to: &str| -> Result<String> {
        if text.matches(from).count() != 1 {
            bail!("{from:?} is not in router.config.yaml exactly once");
        }
        Ok(text.replacen(from, to, 1))
    };
    let metrics_port = free_port()?;
    let mut ours = replace_once(&checked_in, "port: 9464", &format!("port: {metrics_port}"))?;
    for limit in ["limit: 30", "limit: 500", "limit: 5\n"] {
        let raised = if limit.ends_with('\n') {
            "limit: 1000000000\n"
        } else {
            "limit: 1000000000"
        };
        ours = replace_once(&ours, limit, raised)?;
    }
    let plugins_at = ours
        .find("\nplugins:\n")
        .ok_or_else(|| anyhow!("no plugins section in router.config.yaml"))?;
    let hive_security_metrics_port = free_port()?;
    let hive_security = replace_once(
        &ours[..plugins_at + 1],
        &format!("port: {metrics_port}"),
        &format!("port: {hive_security_metrics_port}"),
    )?;
    let bare = format!(
        "supergraph:\n  source: file\n  path: {}\n\
         laboratory:\n  enabled: false\n\
         override_subgraph_urls:\n  subgraphs:\n    employee:\n      url: {employee_url}\n    identity:\n      url: http://127.0.0.1:9/graphql\n\
         authorization:\n  directives:\n    enabled: false\n\
         headers:\n  all:\n    request:\n      - propagate:\n          named: [Authorization]\n",
        supergraph.display()
    );
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let ours_path = write("ours.config.yaml", &ours)?;
    let tls_metrics_port = free_port()?;
    let ours_tls_path = write(
        "ours-tls.config.yaml",
        &replace_once(
            &ours,
            &format!("port: {metrics_port}"),
            &format!("port: {tls_metrics_port}"),
        )?,
    )?;
    let hive_security_path = write("hive-security.config.yaml", &hive_security)?;
    let bare_path = write("bare.config.yaml", &bare)?;
    // Every subgraph request sent, none shared with an identical one in flight.
    let bare_nodedupe_path = write(
        "bare-nodedupe.config.yaml",
        &format!("{bare}traffic_shaping:\n  all:\n    dedupe_enabled: false\n"),
    )?;
    let nodedupe_metrics_port = free_port()?;
    let ours_nodedupe_path = write(
        "ours-nodedupe.config.yaml",
        &replace_once(
            &replace_once(
                &ours,
                "traffic_shaping:\n  router:",
                "traffic_shaping:\n  all:\n    dedupe_enabled: false\n  router:",
            )?,
            &format!("port: {metrics_port}"),
            &format!("port: {nodedupe_metrics_port}"),
        )?,
    )?;

    let router_command = |binary: &Path, config: &Path, port: u16| {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROUTER_CONFIG_FILE_PATH", config)
            .env("SUPERGRAPH_FILE_PATH", &supergraph)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .env("LOG_FORMAT", "json")
            .env("ERP_JWKS_URL", &jwks_url)
            .env("ERP_JWT_ISSUER", &issuer)
            .env("ERP_EMPLOYEE_URL", &employee_url)
            .env("ERP_CORS_ORIGINS", ORIGIN)
            .env(
                "ERP_RL_KEY_PREFIX",
                format!("erp:rl:bench:{}", uuid::Uuid::new_v4().simple()),
            );
        if let Some(redis) = &redis_url {
            command.env("REDIS_URL", redis);
        }
        command
    };

    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect::<Result<_>>()?;
    let mut bare_router = Service::start(
        "hive-bare",
        &mut router_command(&router_bare, &bare_path, ports[0]),
        &dir,
    )?;
    let mut hive_security_router = Service::start(
        "hive-security",
        &mut router_command(&router_bare, &hive_security_path, ports[1]),
        &dir,
    )?;
    let mut our_router = Service::start(
        "erp-router",
        router_command(&erp_router, &ours_path, ports[2]).env("ERP_ROUTER_PLAIN_HTTP", "true"),
        &dir,
    )?;
    let dev_cert = dir.join("dev-cert.pem");
    let mut our_tls_router = Service::start(
        "erp-router-tls",
        router_command(&erp_router, &ours_tls_path, ports[3])
            .env("ERP_TLS_DEV_CERT_OUT", &dev_cert),
        &dir,
    )?;
    let mut bare_nodedupe_router = Service::start(
        "hive-bare-nodedupe",
        &mut router_command(&router_bare, &bare_nodedupe_path, ports[4]),
        &dir,
    )?;
    let mut our_nodedupe_router = Service::start(
        "erp-router-nodedupe",
        router_command(&erp_router, &ours_nodedupe_path, ports[5])
            .env("ERP_ROUTER_PLAIN_HTTP", "true"),
        &dir,
    )?;
    for (service, port) in [
        (&mut bare_router, ports[0]),
        (&mut hive_security_router, ports[1]),
        (&mut our_router, ports[2]),
        (&mut bare_nodedupe_router, ports[4]),
        (&mut our_nodedupe_router, ports[5]),
    ] {
        service
            .wait_ready(&http, &format!("http://127.0.0.1:{port}/health"))
            .await?;
    }
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    our_tls_router
        .wait_ready(&insecure, &format!("https://127.0.0.1:{}/health", ports[3]))
        .await?;

    let client = || {
        reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(concurrency as usize)
    };
    let tls_client = client()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&dev_cert)?)?)
        .min_tls_version(reqwest::tls::Version::TLS_1_3)
        .build()?;
    let targets: Vec<Arc<Target>> = vec![
        Arc::new(Target {
            name: "direct",
            description: "the employee subgraph itself",
            url: employee_url.clone(),
            client: client().build()?,
            router_pid: None,
        }),
        Arc::new(Target {
            name: "hive-bare",
            description: "hive-router's entry point, no plugins, no JWT/authz/CORS/CSRF/limits",
            url: format!("http://127.0.0.1:{}/graphql", ports[0]),
            client: client().build()?,
            router_pid: Some(bare_router.pid()),
        }),
        Arc::new(Target {
            name: "hive-security",
            description: "hive-router's entry point, checked-in config without our plugins (JWT, authz, CORS, CSRF, limits, metrics)",
            url: format!("http://127.0.0.1:{}/graphql", ports[1]),
            client: client().build()?,
            router_pid: Some(hive_security_router.pid()),
        }),
        Arc::new(Target {
            name: "erp-router",
            description: "our router, checked-in config: hive-security + erp_edge_guard + erp_rate_limit",
            url: format!("http://127.0.0.1:{}/graphql", ports[2]),
            client: client().build()?,
            router_pid: Some(our_router.pid()),
        }),
        Arc::new(Target {
            name: "erp-router-tls",
            description: "erp-router over TLS 1.3 (dev certificate)",
            url: format!("https://127.0.0.1:{}/graphql", ports[3]),
            client: tls_client,
            router_pid: Some(our_tls_router.pid()),
        }),
        Arc::new(Target {
            name: "hive-bare-nodedupe",
            description: "hive-bare with subgraph request deduplication off: the subgraph answers every request",
            url: format!("http://127.0.0.1:{}/graphql", ports[4]),
            client: client().build()?,
            router_pid: Some(bare_nodedupe_router.pid()),
        }),
        Arc::new(Target {
            name: "erp-router-nodedupe",
            description: "erp-router with subgraph request deduplication off: the subgraph answers every request",
            url: format!("http://127.0.0.1:{}/graphql", ports[5]),
            client: client().build()?,
            router_pid: Some(our_nodedupe_router.pid()),
        }),
    ];

    // The expected answer, from the subgraph; every target must give exactly this.
    let expected: Value = targets[0]
        .client
        .post(&employee_url)
        .bearer_auth(reader.as_str())
        .header("accept", "application/json")
        .json(&json!({ "query": QUERY }))
        .send()
        .await?
        .json()
        .await?;
    let nodes = expected["data"]["departments"]["nodes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if nodes != DEPARTMENTS {
        bail!("the subgraph answered {expected}");
    }
    let expected = Arc::new(expected);
    for target in &targets {
        request(target, &reader, &expected)
            .await
            .map_err(|e| anyhow!("{} does not answer as expected: {e}", target.name))?;
    }
    let load = Load {
        token: reader.clone(),
        expected,
        concurrency,
        warmup: Duration::from_secs(warmup),
        duration: Duration::from_secs(seconds),
        subgraph_pid: subgraph.pid(),
    };

    let ticks_per_second = clock_ticks_per_second();
    let machine = machine();
    let mut measurements: Vec<Measurement> =
        targets.iter().map(|_| Measurement::default()).collect();
    for round in 0..rounds {
        // Rotate the order so that no target always runs first or last.
        for offset in 0..targets.len() {
            let index = (offset + round as usize) % targets.len();
            let target = targets[index].clone();
            eprintln!("round {}/{rounds}: {} ...", round + 1, target.name);
            run(target, &load, &mut measurements[index]).await;
        }
    }
    for measurement in &mut measurements {
        measurement.latencies_us.sort_unstable();
    }

    // Report.
    let by_name = |name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| &measurements[i])
            .expect("known target")
    };
    let ratio = |a: &str, b: &str| by_name(a).rps() / by_name(b).rps();
    let ours_vs_bare = ratio("erp-router", "hive-bare");
    let mut report = String::new();
    let mut line = |text: String| {
        report.push_str(&text);
        report.push('\n');
    };
    line("# Router overhead benchmark".into());
    line(String::new());
    line("`cargo bench -p erp-router --bench router_overhead` (router/benches/router_overhead.rs): the same".into());
    line(format!("query, `{QUERY}`, answered with {DEPARTMENTS} departments by the employee subgraph (SQLite, in-process cache and bus), through each target; every response checked (status 200 and exactly the expected JSON). Everything on loopback on this machine: subgraph, routers, Redis and the load client share the CPUs."));
    line(String::new());
    line("## Machine".into());
    line(String::new());
    line("| | |".into());
    line("|---|---|".into());
    for (name, value) in &machine {
        line(format!("| {name} | {value} |"));
    }
    line(String::new());
    line("## Settings".into());
    line(String::new());
    line(format!("{concurrency} concurrent keep-alive HTTP/1.1 connections (reqwest, tokio) per target; {rounds} rounds of {warmup} s warm-up + {seconds} s measured per target, targets interleaved (order rotated each round); router log level warn; rate limiting on {} with limits raised to 10^9/min; token RS256 with `employee:read`; `Origin: {ORIGIN}` on every request (CORS on for the routers configured with it).", if redis_url.is_some() { "Redis (REDIS_URL)" } else { "per-replica memory buckets (no REDIS_URL)" }));
    line(String::new());
    line("## Results".into());
    line(String::new());
    line("| target | what | requests/s | per round | p50 ms | p99 ms | errors | router CPU µs/req | subgraph CPU µs/req | client CPU µs/req |".into());
    line("|---|---|---:|---|---:|---:|---:|---:|---:|---:|".into());
    for (target, m) in targets.iter().zip(&measurements) {
        let rounds: Vec<String> = m.round_rps.iter().map(|r| format!("{r:.0}")).collect();
        let router_cpu = if target.router_pid.is_some() {
            format!(
                "{:.0}",
                m.cpu_us_per_request(m.router_cpu_ticks, ticks_per_second)
            )
        } else {
            "-".into()
        };
        line(format!(
            "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {} | {} | {:.0} | {:.0} |",
            target.name,
            target.description,
            m.rps(),
            rounds.join(" / "),
            m.percentile(0.50),
            m.percentile(0.99),
            m.errors,
            router_cpu,
            m.cpu_us_per_request(m.subgraph_cpu_ticks, ticks_per_second),
            m.cpu_us_per_request(m.client_cpu_ticks, ticks_per_second),
        ));
    }
    line(String::new());
    line("## Ratios (requests/s, same run)".into());
    line(String::new());
    line("| ratio | value |".into());
    line("|---|---:|".into());
    for (a, b) in [
        ("erp-router", "hive-bare"),
        ("erp-router", "hive-security"),
        ("hive-security", "hive-bare"),
        ("hive-bare", "direct"),
        ("erp-router", "direct"),
        ("erp-router-tls", "erp-router"),
        ("erp-router-nodedupe", "hive-bare-nodedupe"),
        ("hive-bare-nodedupe", "direct"),
        ("erp-router-nodedupe", "direct"),
    ] {
        line(format!("| {a} / {b} | {:.3} |", ratio(a, b)));
    }
    line(String::new());
    // The spread: the ratio round by round (the targets of a round run back to back).
    let per_round = |a: &str, b: &str| -> Vec<f64> {
        by_name(a)
            .round_rps
            .iter()
            .zip(&by_name(b).round_rps)
            .map(|(a, b)| a / b)
            .collect()
    };
    for (a, b) in [
        ("erp-router", "hive-bare"),
        ("erp-router-nodedupe", "hive-bare-nodedupe"),
    ] {
        let rounds = per_round(a, b);
        let min = rounds.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = rounds.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let listed: Vec<String> = rounds.iter().map(|r| format!("{r:.3}")).collect();
        line(format!(
            "{a} / {b} round by round: {} (spread {min:.3} to {max:.3}).",
            listed.join(" / ")
        ));
        line(String::new());
    }
    // workload.md / issue 23: >= 95 % of bare hive-router's requests/s, p99 within 1.1x.
    let p99_ratio = by_name("erp-router").percentile(0.99) / by_name("hive-bare").percentile(0.99);
    let met = ours_vs_bare >= 0.95 && p99_ratio <= 1.1;
    let verdict = format!(
        "Target {}: erp-router keeps {:.1} % of bare hive-router's requests/s (target >= 95 %), p99 {:.2}x bare's (target <= 1.1x).",
        if met { "met" } else { "MISSED" },
        ours_vs_bare * 100.0,
        p99_ratio
    );
    line(format!("**{verdict}**"));
    for (target, m) in targets.iter().zip(&measurements) {
        if let Some(error) = &m.first_error {
            line(String::new());
            line(format!(
                "First error of {}: `{}`",
                target.name,
                error.chars().take(300).collect::<String>()
            ));
        }
    }

    print!("{report}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Keep the hand-written analysis below the generated part, if there is one.
    const ANALYSIS: &str = "\n## Where the time goes";
    let analysis = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| old.find(ANALYSIS).map(|i| old[i..].to_owned()))
        .unwrap_or_default();
    std::fs::write(&out, format!("{report}{analysis}"))?;
    eprintln!("written to {}", out.display());
    let total_errors: u64 = measurements.iter().map(|m| m.errors).sum();

    drop(targets);
    drop((
        our_nodedupe_router,
        bare_nodedupe_router,
        our_tls_router,
        our_router,
        hive_security_router,
        bare_router,
        subgraph,
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if total_errors > 0 {
        bail!("{total_errors} responses were not the expected answer");
    }
    Ok(())
}
