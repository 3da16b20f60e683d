//! Mixed GraphQL traffic (workload.md "GraphQL traffic", issue 7) through the router, in two
//! stands of one run:
//!
//! - `embedded`: `erp-os all` (one process: identity, employee, PMO and the router; SQLite,
//!   in-process store, cache and bus); the token comes from the identity service (the demo
//!   administrator's password login and TOTP enrolment, as a client would);
//! - `services`: `erp-os employee` on PostgreSQL + Redis, `erp-os pmo` on MongoDB + Redis and
//!   `erp-os router`, separate processes; tokens from the bench's RS256 signer.
//!
//! Both get the same data through the router (departments, employees, a project whose tasks
//! have employees as assignees) and the same open-loop mix at BENCH_RATE/s (2,000) for
//! BENCH_SECONDS (15): 40 % dashboard reads (departments and employees, employee subgraph),
//! 40 % federated joins (PMO tasks with their assignees resolved by the employee subgraph),
//! 20 % writes (createTask with assignees, outbox event in the same transaction). Every read
//! must equal, byte for byte, the answer recorded before the load; every write must return its
//! task. Latency counts from the scheduled send time.
//!
//! With BENCH_TENANT=<tenant id> the services stand runs on a tenant written by `erp-os seed
//! --tier L --services` (run it with BENCH_STANDS=services): the dashboard reads its departments
//! and people, the tasks are assigned to its first EMPLOYEES active people, and only the two
//! projects of the mix (and their tasks) are written; the embedded stand keeps its demo tenant
//! unless BENCH_EMBEDDED_STATE (below).
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench mixed_ops
//! ```
//!
//! Environment: BENCH_RATE (2000), BENCH_SECONDS (15), BENCH_MAX_INFLIGHT (256),
//! BENCH_STANDS (embedded,services), BENCH_TENANT, BENCH_EMBEDDED_STATE, BENCH_EMBEDDED_EMAIL,
//! BENCH_EMBEDDED_PASSWORD, DATABASE_URL, REDIS_URL, MONGO_URL (services stand),
//! BENCH_OUT.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use serde_json::{json, Value};

const DEPARTMENTS: usize = 10;
const EMPLOYEES: usize = 60;
const TASKS: usize = 20;
const DASHBOARD: &str = "query Dashboard { departments(first: 50) { nodes { id name } } employees(first: 20) { nodes { id displayName } } }";
const JOIN: &str = "query Join($p: ID!) { tasks(filter: { projectId: $p }, first: 20) { nodes { id title assignees { id displayName } } } }";
const WRITE: &str = "mutation Write($i: CreateTaskInput!) { createTask(input: $i) { id title } }";

/// A running stand: the router's URL, a token allowed everything the mix does, and the
/// processes (killed on drop).
struct Stand {
    description: String,
    url: String,
    token: String,
    /// The tenant written by `erp-os seed --services` whose people the mix reads (BENCH_TENANT).
    seeded: Option<String>,
    services: Vec<Service>,
}

async fn embedded(dir: &std::path::Path, http: &reqwest::Client) -> Result<Stand> {
    // BENCH_EMBEDDED_STATE: a state directory that `erp-os all` started once and `erp-os seed
    // --state-dir` filled (tier L); its administrator BENCH_EMBEDDED_EMAIL /
    // BENCH_EMBEDDED_PASSWORD logs in (TOTP enrolled on the first run, the secret kept in the
    // directory for the next).
    let seeded_state = env_text("BENCH_EMBEDDED_STATE");
    let state = match &seeded_state {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let state = dir.join("embedded-state");
            std::fs::create_dir_all(&state)?;
            state
        }
    };
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect::<Result<_>>()?;
    let config = router_config(dir)?;
    let mut command = std::process::Command::new(erp_os_binary());
    command
        .arg("all")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ERP_STATE_DIR", &state)
        .env("ERP_ROUTER_PORT", ports[0].to_string())
        .env("ERP_IDENTITY_PORT", ports[1].to_string())
        .env("ERP_EMPLOYEE_PORT", ports[2].to_string())
        .env("ERP_PMO_PORT", ports[3].to_string())
        .env("ERP_FINANCE_PORT", ports[5].to_string())
        .env("ERP_METRICS_PORT", ports[4].to_string())
        .env("ERP_ROUTER_PLAIN_HTTP", "true")
        // The checked-in configuration with raised rate limits (one bench user).
        .env("ROUTER_CONFIG_FILE_PATH", &config)
        .envs(BENCH_ROUTER_ENV.iter().copied())
        .env("ERP_CORS_ORIGINS", ORIGIN)
        .env("LOG_LEVEL", "warn")
        .env("RUST_LOG", "warn");
    let mut process = Service::start("erp-os-all", &mut command, dir)?;
    process
        .wait_ready(http, &format!("http://127.0.0.1:{}/health", ports[0]))
        .await?;
    let url = format!("http://127.0.0.1:{}/graphql", ports[0]);
    // The demo administrator (or the seeded one): password, then TOTP enrolment (first login)
    // or verification (the secret kept from an earlier run on the same state directory).
    let (email, password) = match &seeded_state {
        Some(_) => (
            std::env::var("BENCH_EMBEDDED_EMAIL").context("BENCH_EMBEDDED_EMAIL")?,
            std::env::var("BENCH_EMBEDDED_PASSWORD").context("BENCH_EMBEDDED_PASSWORD")?,
        ),
        // The demo password the state directory's first start generated.
        None => (
            "admin@demo.example".to_owned(),
            std::fs::read_to_string(state.join("demo-password"))
                .context("the demo password file")?
                .trim()
                .to_owned(),
        ),
    };
    let login = anonymous(
        http,
        &url,
        "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired } }",
        json!({ "input": { "email": email, "password": password } }),
    )
    .await?;
    let mfa = login["login"]["mfaToken"]
        .as_str()
        .ok_or_else(|| anyhow!("login: {login}"))?
        .to_owned();
    // Enrolled already (a seeded directory's earlier run): verify with the kept secret;
    // otherwise enrol (and keep the secret when the directory outlives this run).
    let secret_file = state.join("bench-totp-secret");
    let (secret, field, confirm) = if login["login"]["enrollmentRequired"] == false {
        let secret = std::fs::read_to_string(&secret_file)
            .with_context(|| format!("{email} is enrolled; its TOTP secret {secret_file:?}"))?;
        (
            secret.trim().to_owned(),
            "completeTotpLogin",
            "mutation($t: String!, $c: String!) { completeTotpLogin(input: { mfaToken: $t, code: $c }) { accessToken } }",
        )
    } else {
        let begin = anonymous(
            http,
            &url,
            "mutation($t: String!) { startTotpEnrollment(input: { mfaToken: $t }) { secret } }",
            json!({ "t": mfa }),
        )
        .await?;
        let secret = begin["startTotpEnrollment"]["secret"]
            .as_str()
            .ok_or_else(|| anyhow!("{begin}"))?
            .to_owned();
        if seeded_state.is_some() {
            std::fs::write(&secret_file, &secret)?;
        }
        (
            secret,
            "completeTotpEnrollment",
            "mutation($t: String!, $c: String!) { completeTotpEnrollment(input: { mfaToken: $t, code: $c }) { accessToken } }",
        )
    };
    let code = erp_identity::domain::totp::code_at(&secret, (now_ms() / 1000) as u64)
        .ok_or_else(|| anyhow!("the TOTP secret is not base32: {secret}"))?;
    let confirmed = anonymous(http, &url, confirm, json!({ "t": mfa, "c": code })).await?;
    let token = confirmed[field]["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow!("{confirmed}"))?
        .to_owned();
    let (description, seeded) = match &seeded_state {
        Some(_) => (
            format!("`erp-os all` on the seeded state directory {state:?}: one process, SQLite + in-process PMO store, cache and bus; token of {email} from the identity service"),
            Some(email),
        ),
        None => (
            "`erp-os all`: one process, SQLite + in-process PMO store, cache and bus; token of the demo administrator from the identity service".into(),
            None,
        ),
    };
    Ok(Stand {
        description,
        url,
        token,
        seeded,
        services: vec![process],
    })
}

async fn anonymous(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
) -> Result<Value> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(json!({ "query": query, "variables": variables }).to_string())
        .send()
        .await?;
    let body: Value = response.json().await?;
    if !body["errors"].is_null() {
        bail!("{query}: {body}");
    }
    Ok(body["data"].clone())
}

async fn services(dir: &std::path::Path, http: &reqwest::Client, signer: &Signer) -> Result<Stand> {
    let database_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let mongo_url = std::env::var("MONGO_URL").context("MONGO_URL")?;
    let (employee_port, pmo_port, router_port) = (free_port()?, free_port()?, free_port()?);
    let mut command = base_command(&erp_os_binary(), signer);
    command
        .arg("employee")
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url)
        .env("ERP_BIND", format!("127.0.0.1:{employee_port}"))
        .env("ERP_KEK_FILE", dir.join("kek.key"));
    let mut employee = Service::start("employee", &mut command, dir)?;
    let mut command = base_command(&erp_os_binary(), signer);
    command
        .arg("pmo")
        .env("MONGO_URL", &mongo_url)
        .env("REDIS_URL", &redis_url)
        .env("ERP_BIND", format!("127.0.0.1:{pmo_port}"))
        .env("ERP_KEK_FILE", dir.join("kek.key"));
    let mut pmo = Service::start("pmo", &mut command, dir)?;
    employee
        .wait_ready(http, &format!("http://127.0.0.1:{employee_port}/ready"))
        .await?;
    pmo.wait_ready(http, &format!("http://127.0.0.1:{pmo_port}/ready"))
        .await?;
    let router = start_router(
        http,
        signer,
        dir,
        router_port,
        &format!("http://127.0.0.1:{employee_port}/graphql"),
        &format!("http://127.0.0.1:{pmo_port}/graphql"),
        "http://127.0.0.1:9/graphql",
        Some(&redis_url),
    )
    .await?;
    let seeded = env_text("BENCH_TENANT");
    let tenant = seeded.clone().unwrap_or_else(|| {
        format!(
            "tnt_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    });
    let token = signer.token(
        &tenant,
        "usr_admin",
        &[
            "employee:read",
            "employee:write",
            "department:write",
            "hr:admin",
            "project:read",
            "project:write",
        ],
    )?;
    Ok(Stand {
        description: "`erp-os employee` (PostgreSQL + Redis), `erp-os pmo` (MongoDB + Redis), `erp-os router`: separate processes".into(),
        url: format!("http://127.0.0.1:{router_port}/graphql"),
        token,
        seeded,
        services: vec![router, pmo, employee],
    })
}

/// The data of the mix, written through the router; returns (read project, write project,
/// assignee ids of the writes).
async fn seed(stand: &Stand, http: &reqwest::Client) -> Result<(String, String, Vec<String>)> {
    let call = |query: &'static str, variables: Value| {
        let (url, token) = (stand.url.clone(), stand.token.clone());
        async move {
            graphql(http, &url, &token, query, variables)
                .await
                .map_err(|e| anyhow!("{query}: {e}"))
        }
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let employees = match &stand.seeded {
        // A seeded tenant (BENCH_TENANT): its own departments and people, the first EMPLOYEES
        // active ones as the assignees.
        Some(tenant) => {
            let data = call(
                "query($n: Int!) { employees(filter: { status: ACTIVE }, first: $n) { nodes { id } } }",
                json!({ "n": EMPLOYEES }),
            )
            .await?;
            let ids: Vec<String> = data["employees"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect();
            if ids.len() < EMPLOYEES {
                bail!("tenant {tenant} has {} active employees, the mix needs {EMPLOYEES}: is it seeded?", ids.len());
            }
            ids
        }
        None => create_people(&call, &run).await?,
    };
    let mut projects = Vec::new();
    for name in ["Bench reads", "Bench writes"] {
        let data = call(
            "mutation($n: String!) { createProject(input: { name: $n, billable: true }) { id } }",
            json!({ "n": format!("{name} {run}") }),
        )
        .await?;
        projects.push(
            data["createProject"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for t in 0..TASKS {
        let assignees: Vec<&String> = (0..3)
            .map(|k| &employees[(t * 3 + k) % EMPLOYEES])
            .collect();
        call(WRITE, json!({ "i": { "projectId": projects[0], "title": format!("Task {t:02}"), "assigneeIds": assignees } })).await?;
    }
    Ok((
        projects[0].clone(),
        projects[1].clone(),
        employees[..3].to_vec(),
    ))
}

/// DEPARTMENTS departments and EMPLOYEES people written through the router (a fresh tenant).
async fn create_people<F, Fut>(call: &F, run: &str) -> Result<Vec<String>>
where
    F: Fn(&'static str, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    let mut departments = Vec::new();
    for d in 0..DEPARTMENTS {
        let data = call(
            "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
            json!({ "n": format!("Bench department {d:02}") }),
        )
        .await?;
        departments.push(
            data["createDepartment"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut employees = Vec::new();
    for e in 0..EMPLOYEES {
        let data = call(
            "mutation($n: String!, $e: String!, $d: ID!) { hireEmployee(input: { employeeNumber: $n, displayName: $n, workEmail: $e, departmentId: $d, hiredOn: \"2025-01-06\" }) { id } }",
            json!({ "n": format!("B{run}-{e:03}"), "e": format!("b{run}-{e:03}@bench.example"), "d": departments[e % DEPARTMENTS] }),
        )
        .await?;
        employees.push(
            data["hireEmployee"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    Ok(employees)
}

#[derive(Default)]
struct Results {
    ok: [u64; 3],
    failed: [u64; 3],
    first_error: Option<String>,
    latencies: [Latencies; 3],
    all: Latencies,
    seconds: f64,
    router_cpu: f64,
}

const KINDS: [&str; 3] = ["dashboard read", "federated join", "write (createTask)"];

async fn load(
    stand: &Stand,
    http: &reqwest::Client,
    rate: f64,
    seconds: u64,
    max_inflight: usize,
) -> Result<Results> {
    let (read_project, write_project, assignees) = seed(stand, http).await?;
    // The expected answers, checked for the data just written.
    let dashboard = graphql(http, &stand.url, &stand.token, DASHBOARD, json!({}))
        .await
        .map_err(|e| anyhow!("dashboard: {e}"))?;
    let departments = dashboard["departments"]["nodes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let employees = dashboard["employees"]["nodes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if departments < DEPARTMENTS || employees != 20 {
        bail!("the dashboard does not show the seeded data: {dashboard}");
    }
    let join = graphql(
        http,
        &stand.url,
        &stand.token,
        JOIN,
        json!({ "p": read_project }),
    )
    .await
    .map_err(|e| anyhow!("join: {e}"))?;
    let tasks = join["tasks"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if tasks.len() != TASKS
        || tasks.iter().any(|t| {
            t["assignees"]
                .as_array()
                .map(|a| a.len() != 3 || a.iter().any(|e| !e["displayName"].is_string()))
                .unwrap_or(true)
        })
    {
        bail!("the federated join does not show every task with its three named assignees: {join}");
    }
    let expected = Arc::new([dashboard, join]);
    let results = Arc::new(Mutex::new(Results::default()));
    let inflight = Arc::new(tokio::sync::Semaphore::new(max_inflight));
    let client = load_client(max_inflight)?;
    let router_pid = stand.services[0].pid().to_string();
    let cpu_before = cpu_ticks(&router_pid);
    let started = Instant::now();
    let count = (rate * seconds as f64) as u64;
    let mut tasks = Vec::new();
    for n in 0..count {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = inflight.clone().acquire_owned().await?;
        // 40 % dashboard, 40 % join, 20 % write, interleaved.
        let kind = match n % 5 {
            0 | 2 => 0,
            1 | 3 => 1,
            _ => 2,
        };
        let (client, url, token, expected, results) = (
            client.clone(),
            stand.url.clone(),
            stand.token.clone(),
            expected.clone(),
            results.clone(),
        );
        let (read_project, write_project, assignees) = (
            read_project.clone(),
            write_project.clone(),
            assignees.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let result = match kind {
                0 => graphql(&client, &url, &token, DASHBOARD, json!({})).await.and_then(|data| {
                    if data == expected[0] { Ok(()) } else { Err(format!("dashboard differs: {data}")) }
                }),
                1 => graphql(&client, &url, &token, JOIN, json!({ "p": read_project })).await.and_then(|data| {
                    if data == expected[1] { Ok(()) } else { Err(format!("join differs: {data}")) }
                }),
                _ => {
                    let title = format!("Written {n}");
                    graphql(&client, &url, &token, WRITE, json!({ "i": { "projectId": write_project, "title": title, "assigneeIds": assignees } }))
                        .await
                        .and_then(|data| {
                            if data["createTask"]["title"] == title.as_str() && data["createTask"]["id"].is_string() { Ok(()) } else { Err(format!("write: {data}")) }
                        })
                }
            };
            drop(permit);
            let micros = due.elapsed().as_micros() as u64;
            let mut results = results.lock().unwrap();
            match result {
                Ok(()) => {
                    results.ok[kind] += 1;
                    results.latencies[kind].0.push(micros);
                    results.all.0.push(micros);
                }
                Err(e) => {
                    results.failed[kind] += 1;
                    results.first_error.get_or_insert(e);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.seconds = started.elapsed().as_secs_f64();
    results.router_cpu = (cpu_ticks(&router_pid) - cpu_before) as f64 / 100.0;
    for l in &mut results.latencies {
        l.sort();
    }
    results.all.sort();
    Ok(results)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let rate = env_number("BENCH_RATE", 2000)?.max(1) as f64;
    let seconds = env_number("BENCH_SECONDS", 15)?;
    let max_inflight = env_number("BENCH_MAX_INFLIGHT", 256)? as usize;
    let stands = std::env::var("BENCH_STANDS").unwrap_or_else(|_| "embedded,services".into());
    let machine = machine();
    let dir = std::env::temp_dir().join(format!("erp-bench-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let http = load_client(16)?;
    let signer = Signer::start().await?;

    let tenant_note = match env_text("BENCH_TENANT") {
        Some(tenant) => format!(
            " **BENCH_TENANT:** the services stand runs on the tenant `{tenant}` written by `erp-os seed --services`: \
its own departments and people are the dashboard's (not the {DEPARTMENTS} + {EMPLOYEES} above), its first {EMPLOYEES} active \
people the assignees, in the same tables and collections as its whole history; only the two projects of the mix and their \
tasks are written."
        ),
        None => String::new(),
    };
    let tenant_note = match env_text("BENCH_EMBEDDED_STATE") {
        Some(state) => format!(
            "{tenant_note} **BENCH_EMBEDDED_STATE:** the embedded stand runs on the state directory `{state}` filled by `erp-os seed \
--state-dir` and logs in as its seeded administrator: that tenant's departments and people are the dashboard's, its first \
{EMPLOYEES} active people the assignees; only the two projects of the mix and their tasks are written."
        ),
        None => tenant_note,
    };
    let mut body = format!(
        "`cargo bench -p erp-os --bench mixed_ops` (benches/mixed_ops.rs). Release `erp-os` binaries, everything on loopback on this \
machine with the load client. Open loop at {rate:.0} ops/s for {seconds} s per stand (at most {max_inflight} in flight; latency from the \
scheduled send time): 40 % dashboard reads (`departments` + `employees`, employee subgraph), 40 % federated joins (PMO `tasks` with \
`assignees` resolved by the employee subgraph through the router's entity calls), 20 % writes (`createTask` with three assignees). \
Every read equals the answer recorded before the load; every write returns its task. Data: {DEPARTMENTS} departments, {EMPLOYEES} \
employees, {TASKS} tasks with 3 assignees each, written through the router before the load (the embedded stand also holds its tier-S demo tenant).{tenant_note}\n\n\
## Results\n\n\
| stand | what | ops ok / failed | achieved ops/s | p50 / p90 / p99 / max ms | target | verdict | router CPU s |\n|---|---|---:|---:|---|---|---|---:|\n"
    );
    let mut details = String::new();
    let mut failures = 0;
    for name in stands.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let stand_dir = dir.join(name);
        std::fs::create_dir_all(&stand_dir)?;
        eprintln!("stand {name}: starting...");
        let stand = match name {
            "embedded" => embedded(&stand_dir, &http).await,
            "services" => services(&stand_dir, &http, &signer).await,
            other => Err(anyhow!("unknown stand {other} (embedded, services)")),
        };
        let stand = match stand {
            Ok(stand) => stand,
            Err(e) => {
                failures += 1;
                body.push_str(&format!(
                    "| {name} | NOT RUN: could not start | | | | | | |\n"
                ));
                details.push_str(&format!(
                    "Stand {name} did not start: `{}`\n\n",
                    format!("{e:#}").chars().take(600).collect::<String>()
                ));
                continue;
            }
        };
        eprintln!("stand {name}: load...");
        match load(&stand, &http, rate, seconds, max_inflight).await {
            Ok(r) => {
                let ok: u64 = r.ok.iter().sum();
                let failed: u64 = r.failed.iter().sum();
                failures += failed as usize;
                let achieved = ok as f64 / r.seconds;
                body.push_str(&format!(
                    "| {name} | {} | {ok} / {failed} | {achieved:.0} | {:.1} / {:.1} / {:.1} / {:.1} | 2,000 ops/s, p99 < 100 ms | {}; {} | {:.1} |\n",
                    stand.description,
                    r.all.ms(0.5), r.all.ms(0.9), r.all.ms(0.99), r.all.ms(1.0),
                    verdict_min(achieved, 2000.0, "ops/s"),
                    verdict_max(r.all.ms(0.99), 100.0, "ms"),
                    r.router_cpu,
                ));
                details.push_str(&format!("### {name}: per operation\n\n| operation | ok / failed | p50 / p99 ms |\n|---|---:|---|\n"));
                for (k, kind) in KINDS.iter().enumerate() {
                    details.push_str(&format!(
                        "| {kind} | {} / {} | {:.1} / {:.1} |\n",
                        r.ok[k],
                        r.failed[k],
                        r.latencies[k].ms(0.5),
                        r.latencies[k].ms(0.99)
                    ));
                }
                details.push('\n');
                if let Some(e) = &r.first_error {
                    details.push_str(&format!(
                        "First error: `{}`\n\n",
                        e.chars().take(300).collect::<String>()
                    ));
                }
            }
            Err(e) => {
                failures += 1;
                body.push_str(&format!(
                    "| {name} | {} | NOT RUN: setup failed | | | | | |\n",
                    stand.description
                ));
                details.push_str(&format!(
                    "Stand {name} failed before the load: `{}`\n\n",
                    format!("{e:#}").chars().take(600).collect::<String>()
                ));
            }
        }
        drop(stand);
    }
    body.push('\n');
    body.push_str(&details);
    print!("{body}");
    write_report(
        "mixed_ops",
        "Mixed GraphQL operations benchmark",
        &machine,
        &body,
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    if failures > 0 {
        bail!("{failures} operations or stands failed (see the report)");
    }
    Ok(())
}
