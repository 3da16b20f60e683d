//! Open subscriptions (workload.md "websockets", issue 7): as many graphql-transport-ws
//! subscriptions through the router as asked (BENCH_CONNECTIONS, target 20,000), each its own
//! WebSocket and acknowledged, on the employee subgraph's live attendance board (real
//! PostgreSQL + Redis). Reports the memory per connection (RSS growth of the router and of the
//! subgraph divided by the connections) and proves every subscription live: one check-in
//! after all are open must reach every one of them (fan-out time reported).
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench websockets
//! ```
//!
//! Environment: DATABASE_URL, REDIS_URL (required), BENCH_CONNECTIONS (2000),
//! BENCH_CONNECT_CONCURRENCY (64), BENCH_OUT. File descriptors: every subscription costs the
//! client one, the router two (client side and subgraph side) and the subgraph one; the
//! limit of this process (`ulimit -n`) is reported.

mod common;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use futures::StreamExt;
use serde_json::json;

const BOARD: &str =
    "subscription Board { attendanceBoard { punchId employeeId punchKind occurredAt } }";

fn fd_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    l.split_whitespace()
                        .skip(3)
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
        })
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let connections = env_number("BENCH_CONNECTIONS", 2000)? as usize;
    let concurrency = env_number("BENCH_CONNECT_CONCURRENCY", 64)?.max(1) as usize;
    let database_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let machine = machine();

    let dir = std::env::temp_dir().join(format!("erp-bench-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let signer = Signer::start().await?;
    let http = load_client(8)?;
    let employee_port = free_port()?;
    let mut command = profiled_command("employee", &signer)?;
    command
        .arg("employee")
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url)
        .env("ERP_BIND", format!("127.0.0.1:{employee_port}"))
        .env("ERP_KEK_FILE", dir.join("kek.key"));
    let mut subgraph = Service::start("employee", &mut command, &dir)?;
    subgraph
        .wait_ready(&http, &format!("http://127.0.0.1:{employee_port}/ready"))
        .await?;
    let employee_url = format!("http://127.0.0.1:{employee_port}/graphql");
    let router_port = free_port()?;
    let router = start_router(
        &http,
        &signer,
        &dir,
        router_port,
        &employee_url,
        "http://127.0.0.1:9/graphql",
        "http://127.0.0.1:9/graphql",
        Some(&redis_url),
    )
    .await?;
    let router_url = format!("http://127.0.0.1:{router_port}/graphql");
    let router_ws = format!("ws://127.0.0.1:{router_port}/graphql");

    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let hr = signer.token(
        &tenant,
        "usr_hr",
        &[
            "employee:read",
            "employee:write",
            "hr:admin",
            "attendance:read",
        ],
    )?;
    graphql(
        &http,
        &employee_url,
        &hr,
        "mutation { hireEmployee(input: { employeeNumber: \"W1\", displayName: \"Worker\", workEmail: \"w1@bench.example\", userId: \"usr_worker\", hiredOn: \"2025-01-06\" }) { id } }",
        json!({}),
    )
    .await
    .map_err(|e| anyhow!("hireEmployee: {e}"))?;
    let worker = signer.token(&tenant, "usr_worker", &["attendance:checkin"])?;

    // Settle, then the baseline memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = (rss_kib(router.pid()), rss_kib(subgraph.pid()));

    eprintln!("opening {connections} subscriptions through the router...");
    // Every open subscription must receive the next check-in. Each socket gets its reader as
    // soon as it is acknowledged: the reader also answers the router's WebSocket pings (every
    // 5 s; a client silent for 10 s is closed with 1002, as hive-router's heartbeat does), as
    // a browser would; a socket left unread while thousands of others open would be closed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<(String, Instant)>)>();
    let opening = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(0..connections)
        .map(|i| {
            let (url, signer, tenant, tx) = (&router_ws, &signer, &tenant, tx.clone());
            async move {
                // Each subscriber is its own user: an HR dashboard (attendance:read, and hr:read
                // for the whole tenant's board; a viewer without an employee record or an HR
                // scope is refused with NO_EMPLOYEE_RECORD).
                let token = signer.token(
                    tenant,
                    &format!("usr_viewer_{i}"),
                    &["attendance:read", "hr:read"],
                )?;
                let socket = subscribe(url, &token, BOARD, json!({})).await?;
                spawn_reader(i, socket, tx);
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let open_seconds = opening.elapsed().as_secs_f64();
    let mut open_errors = Vec::new();
    for result in results {
        if let Err(e) = result {
            open_errors.push(format!("{e:#}"));
        }
    }
    let open = connections - open_errors.len();
    eprintln!(
        "{open} open ({} refused) in {open_seconds:.1} s",
        open_errors.len()
    );

    drop(tx);
    // Memory with every subscription open (before any event).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = (rss_kib(router.pid()), rss_kib(subgraph.pid()));

    let sent = Instant::now();
    let data = graphql(
        &http,
        &router_url,
        &worker,
        "mutation { checkIn(input: { punchKey: \"ws-1\", source: WEB }) { id } }",
        json!({}),
    )
    .await
    .map_err(|e| anyhow!("checkIn: {e}"))?;
    let punch = data["checkIn"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut received = Latencies::default();
    let mut wrong = 0;
    let mut reader_errors = Vec::new();
    while received.0.len() + wrong + reader_errors.len() < open {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
            Ok(Some((_, Ok((id, at))))) => {
                if id == punch {
                    received.0.push(at.duration_since(sent).as_micros() as u64);
                } else {
                    wrong += 1;
                }
            }
            Ok(Some((_, Err(e)))) => reader_errors.push(format!("{e:#}")),
            Ok(None) | Err(_) => break,
        }
    }
    received.sort();
    let delivered = received.0.len();
    let router_kib = after.0.saturating_sub(before.0);
    let subgraph_kib = after.1.saturating_sub(before.1);
    let per = |kib: u64| kib as f64 * 1024.0 / open.max(1) as f64;
    let both = per(router_kib) + per(subgraph_kib);
    let body = format!(
        "`cargo bench -p erp-os --bench websockets` (benches/websockets.rs). Release `erp-os employee` on real \
PostgreSQL + Redis and release `erp-os router` (checked-in config, plain HTTP on loopback), the client on the same machine.\n\n\
## Workload\n\n\
{connections} graphql-transport-ws connections asked for through the router (each its own user and token, \
`attendanceBoard` of one tenant), opened {concurrency} at a time; then one check-in through the router, which every \
open subscription must receive. Open-file limit of the bench (inherited by the services): {fds}. Each subscription \
holds one descriptor in the client, two in the router (client side, subgraph side) and one in the subgraph: with this \
limit the router cannot hold more than about half of it.\n\n\
## Results\n\n\
| figure | value | workload.md target | verdict |\n|---|---:|---|---|\n\
| subscriptions open and acknowledged | {open} of {connections} in {open_seconds:.1} s | 20,000 | {open_verdict} |\n\
| refused / failed to open | {refused} | | |\n\
| router RSS before -> after | {rb} -> {ra} KiB (+{router_kib} KiB) | | |\n\
| subgraph RSS before -> after | {sb} -> {sa} KiB (+{subgraph_kib} KiB) | | |\n\
| memory per connection: router / subgraph / both | {pr:.0} / {ps:.0} / {both:.0} bytes | < 20 KB | {mem_verdict} |\n\
| subscriptions that received the check-in | {delivered} of {open} | all | {delivery_verdict} |\n\
| fan-out to every subscription (check-in sent -> receipt) p50 / p99 / max | {f50:.0} / {f99:.0} / {fmax:.0} ms | | |\n\
| other event / reader errors | {wrong} / {reader_error_count} | 0 / 0 | |\n\n\
{errors}",
        fds = fd_limit(),
        open_verdict = verdict_min(open as f64, 20000.0, "subscriptions"),
        refused = open_errors.len(),
        rb = before.0,
        ra = after.0,
        sb = before.1,
        sa = after.1,
        pr = per(router_kib),
        ps = per(subgraph_kib),
        mem_verdict = verdict_max(both / 1024.0, 20.0, "KB"),
        delivery_verdict = if delivered == open { "met" } else { "MISSED" },
        f50 = received.ms(0.5),
        f99 = received.ms(0.99),
        fmax = received.ms(1.0),
        reader_error_count = reader_errors.len(),
        errors = {
            let mut text = String::new();
            if let Some(e) = open_errors.first() {
                text.push_str(&format!("First open error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            if let Some(e) = reader_errors.first() {
                text.push_str(&format!("First reader error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            text
        },
    );
    print!("{body}");
    write_report(
        "websockets",
        "Open WebSocket subscriptions benchmark",
        &machine,
        &body,
    )?;
    drop((router, subgraph));
    let _ = std::fs::remove_dir_all(&dir);
    if delivered != open || wrong > 0 {
        bail!("not every open subscription received the check-in (see the report)");
    }
    Ok(())
}

/// Reads one subscription until its first event (answering pings meanwhile), reports it, then
/// keeps the socket open (and read, so pings keep being answered) until the bench ends.
fn spawn_reader(
    index: usize,
    mut socket: Socket,
    tx: tokio::sync::mpsc::UnboundedSender<(usize, Result<(String, Instant)>)>,
) {
    tokio::spawn(async move {
        let result: Result<(String, Instant)> = async {
            let message = next_json(&mut socket, Duration::from_secs(300)).await?;
            let event = &message["payload"]["data"]["attendanceBoard"];
            if message["type"] != "next" || event["punchKind"].as_str().is_none() {
                bail!("unexpected {message}");
            }
            Ok((
                event["punchId"].as_str().unwrap_or_default().to_owned(),
                Instant::now(),
            ))
        }
        .await;
        let _ = tx.send((index, result));
        // Keep reading (pings answered, further events ignored) until the bench ends.
        while next_json(&mut socket, Duration::from_secs(3600))
            .await
            .is_ok()
        {}
    });
}
