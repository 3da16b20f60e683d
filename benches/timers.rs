//! Running timers (workload.md "timers", issue 6) through the router on real MongoDB + Redis:
//!
//! 1. BENCH_TIMERS people (2,600; target 10,000) as contributors of projects of 100, each
//!    starting a timer on a task of their project at BENCH_RATE/s (200) through the router,
//!    so that BENCH_TIMERS timers run at once;
//! 2. BENCH_SUBSCRIBERS of them (200) subscribe to `myTimer` through the router
//!    (graphql-transport-ws): the snapshot must show their running timer, then every TICK is
//!    checked (their timer id, RUNNING, elapsed not going back) and its delivery measured
//!    (receipt minus the tick's server time `at`, same clock) for BENCH_TICK_SECONDS (10);
//! 3. a start/stop burst: BENCH_BURST_SECONDS (10) at BENCH_RATE/s, people other than the
//!    subscribers alternately stopping (the time entry returned is checked) and starting
//!    again, with latency from the scheduled time;
//! 4. every timer stopped at the end (checked).
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench timers
//! ```
//!
//! Environment: MONGO_URL, REDIS_URL (required), KAFKA_BROKERS (optional), BENCH_TIMERS,
//! BENCH_RATE, BENCH_SUBSCRIBERS, BENCH_TICK_SECONDS, BENCH_BURST_SECONDS,
//! BENCH_MAX_INFLIGHT (256), PMO_TIMER_TICK_MS (1000), BENCH_OUT.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use futures::StreamExt;
use serde_json::json;

const MEMBER: &[&str] = &["project:read", "task:start", "task:log"];
const START: &str =
    "mutation Start($t: ID!) { startTaskTimer(input: { taskId: $t }) { id state } }";
const STOP: &str = "mutation Stop { stopTimer { id durationSeconds } }";
const MY_TIMER: &str = "subscription MyTimer { myTimer { kind timerId state elapsedSeconds at } }";
const PER_PROJECT: usize = 100;
const TASKS_PER_PROJECT: usize = 10;

struct Person {
    token: String,
    task: String,
    /// Started timers so far; odd = running. One operation at a time per person.
    turn: tokio::sync::Mutex<u64>,
}

/// Results of an open-loop phase.
#[derive(Default)]
struct Phase {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    start: Latencies,
    stop: Latencies,
    seconds: f64,
}

/// Runs `count` operations at `rate`/s over the people at `indices` (round robin), each a start
/// or a stop by the person's turn (even: start, odd: stop).
async fn open_loop(
    people: &Arc<Vec<Person>>,
    indices: &[usize],
    count: usize,
    rate: f64,
    max_inflight: usize,
    client: &reqwest::Client,
    url: &str,
) -> Phase {
    let inflight = Arc::new(tokio::sync::Semaphore::new(max_inflight));
    let phase = Arc::new(Mutex::new(Phase::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..count {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            break;
        };
        let index = indices[n % indices.len()];
        let (people, client, url, phase) = (
            people.clone(),
            client.clone(),
            url.to_owned(),
            phase.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let person = &people[index];
            let mut turn = person.turn.lock().await;
            let starting = *turn % 2 == 0;
            let result = if starting {
                graphql(
                    &client,
                    &url,
                    &person.token,
                    START,
                    json!({ "t": person.task }),
                )
                .await
                .and_then(|data| {
                    if data["startTaskTimer"]["state"] == "RUNNING"
                        && data["startTaskTimer"]["id"].is_string()
                    {
                        Ok(())
                    } else {
                        Err(format!("unexpected start: {data}"))
                    }
                })
            } else {
                graphql(&client, &url, &person.token, STOP, json!({}))
                    .await
                    .and_then(|data| {
                        if data["stopTimer"]["id"].is_string()
                            && data["stopTimer"]["durationSeconds"]
                                .as_i64()
                                .is_some_and(|s| s >= 0)
                        {
                            Ok(())
                        } else {
                            Err(format!("unexpected stop: {data}"))
                        }
                    })
            };
            drop(permit);
            let micros = due.elapsed().as_micros() as u64;
            let mut phase = phase.lock().unwrap();
            match result {
                Ok(()) => {
                    *turn += 1;
                    phase.ok += 1;
                    if starting {
                        phase.start.0.push(micros);
                    } else {
                        phase.stop.0.push(micros);
                    }
                }
                Err(e) => {
                    phase.failed += 1;
                    phase.first_error.get_or_insert(e);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut phase = std::mem::take(&mut *phase.lock().unwrap());
    phase.seconds = started.elapsed().as_secs_f64();
    phase.start.sort();
    phase.stop.sort();
    phase
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let timers = env_number("BENCH_TIMERS", 2600)?.max(1) as usize;
    let rate = env_number("BENCH_RATE", 200)?.max(1) as f64;
    let subscribers = (env_number("BENCH_SUBSCRIBERS", 200)? as usize).min(timers);
    let tick_seconds = env_number("BENCH_TICK_SECONDS", 10)?;
    let burst_seconds = env_number("BENCH_BURST_SECONDS", 10)? as f64;
    let max_inflight = env_number("BENCH_MAX_INFLIGHT", 256)? as usize;
    let tick_ms = env_number("PMO_TIMER_TICK_MS", 1000)?;
    let mongo_url =
        std::env::var("MONGO_URL").context("MONGO_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let kafka = std::env::var("KAFKA_BROKERS").ok();
    let machine = machine();

    let dir = std::env::temp_dir().join(format!("erp-bench-timers-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let signer = Signer::start().await?;
    let http = load_client(64)?;
    let pmo_port = free_port()?;
    let mut command = base_command(&erp_os_binary(), &signer);
    command
        .arg("pmo")
        .env("MONGO_URL", &mongo_url)
        .env("REDIS_URL", &redis_url)
        .env("PMO_TIMER_TICK_MS", tick_ms.to_string())
        .env("ERP_BIND", format!("127.0.0.1:{pmo_port}"))
        .env("ERP_KEK_FILE", dir.join("kek.key"));
    if let Some(brokers) = &kafka {
        command.env("KAFKA_BROKERS", brokers);
    }
    let mut subgraph = Service::start("pmo", &mut command, &dir)?;
    subgraph
        .wait_ready(&http, &format!("http://127.0.0.1:{pmo_port}/ready"))
        .await?;
    let pmo_url = format!("http://127.0.0.1:{pmo_port}/graphql");
    let router_port = free_port()?;
    let router = start_router(
        &http,
        &signer,
        &dir,
        router_port,
        "http://127.0.0.1:9/graphql",
        &pmo_url,
        "http://127.0.0.1:9/graphql",
        Some(&redis_url),
    )
    .await?;
    let router_url = format!("http://127.0.0.1:{router_port}/graphql");
    let router_ws = format!("ws://127.0.0.1:{router_port}/graphql");

    // Projects of 100 contributors with 10 tasks each (setup straight on the subgraph).
    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let pm = signer.token(
        &tenant,
        "usr_pm",
        &["project:read", "project:write", "task:start", "task:log"],
    )?;
    let projects = timers.div_ceil(PER_PROJECT);
    eprintln!("setup: {projects} projects, {timers} members...");
    let setup = Instant::now();
    let mut project_tasks = Vec::new();
    for p in 0..projects {
        let data = graphql(
            &http,
            &pmo_url,
            &pm,
            "mutation($n: String!) { createProject(input: { name: $n, billable: true }) { id } }",
            json!({ "n": format!("Project {p:04}") }),
        )
        .await
        .map_err(|e| anyhow!("createProject: {e}"))?;
        let project = data["createProject"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut tasks = Vec::new();
        for t in 0..TASKS_PER_PROJECT {
            let data = graphql(
                &http,
                &pmo_url,
                &pm,
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
                json!({ "i": { "projectId": project, "title": format!("Task {t}") } }),
            )
            .await
            .map_err(|e| anyhow!("createTask: {e}"))?;
            tasks.push(
                data["createTask"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        project_tasks.push((project, tasks));
    }
    let project_tasks = Arc::new(project_tasks);
    // Members are added 8 at a time, in an order that interleaves the projects: two changes
    // of one project's member list at once collide (CONFLICT), which is retried as a client
    // would.
    let mut order: Vec<usize> = (0..timers).collect();
    order.sort_by_key(|i| (i % PER_PROJECT, i / PER_PROJECT));
    let people: Vec<Result<Person>> = futures::stream::iter(order)
        .map(|i| {
            let (http, pmo_url, pm, signer, tenant, project_tasks) =
                (&http, &pmo_url, &pm, &signer, &tenant, project_tasks.clone());
            async move {
                let (project, tasks) = &project_tasks[i / PER_PROJECT];
                let user = format!("usr_{i:05}");
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match graphql(
                        http,
                        pmo_url,
                        pm,
                        "mutation($p: ID!, $u: ID!) { setProjectMembership(input: { projectId: $p, userId: $u, role: CONTRIBUTOR }) { id } }",
                        json!({ "p": project, "u": user }),
                    )
                    .await
                    {
                        Ok(_) => break,
                        Err(e) if attempt < 10 && e.to_string().contains("\"CONFLICT\"") => {
                            tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
                        }
                        Err(e) => bail!("setProjectMembership {i}: {e}"),
                    }
                }
                Ok(Person {
                    token: signer.token(tenant, &user, MEMBER)?,
                    task: tasks[i % TASKS_PER_PROJECT].clone(),
                    turn: tokio::sync::Mutex::new(0),
                })
            }
        })
        .buffered(8)
        .collect()
        .await;
    let people: Arc<Vec<Person>> = Arc::new(people.into_iter().collect::<Result<_>>()?);
    let setup_seconds = setup.elapsed().as_secs_f64();
    let client = load_client(max_inflight)?;
    let rss_before = (rss_kib(router.pid()), rss_kib(subgraph.pid()));

    // 1. Everyone starts a timer.
    eprintln!("starting {timers} timers at {rate}/s through the router...");
    let all: Vec<usize> = (0..timers).collect();
    let ramp = open_loop(
        &people,
        &all,
        timers,
        rate,
        max_inflight,
        &client,
        &router_url,
    )
    .await;
    let running = people.len() as u64 - ramp.failed;

    // 2. Ticks to subscribers.
    eprintln!("{subscribers} myTimer subscribers, {tick_seconds} s of ticks...");
    let tick_latency = Arc::new(Mutex::new(Latencies::default()));
    let tick_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let tick_count = Arc::new(AtomicU64::new(0));
    let listen_until = Instant::now() + Duration::from_secs(tick_seconds) + Duration::from_secs(30);
    let stop_listening = Arc::new(tokio::sync::Notify::new());
    let mut readers = Vec::new();
    let subscribed: Vec<Result<Socket>> = futures::stream::iter(0..subscribers)
        .map(|i| {
            let (url, token) = (&router_ws, people[i].token.clone());
            async move { subscribe(url, &token, MY_TIMER, json!({})).await }
        })
        .buffered(32)
        .collect()
        .await;
    for (i, socket) in subscribed.into_iter().enumerate() {
        let mut socket = socket?;
        let (latency, errors, count, stop) = (
            tick_latency.clone(),
            tick_errors.clone(),
            tick_count.clone(),
            stop_listening.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut timer_id: Option<String> = None;
            let mut last_elapsed = -1;
            let mut measuring = false;
            loop {
                let message = tokio::select! {
                    m = next_json(&mut socket, Duration::from_secs(60)) => m,
                    _ = stop.notified() => return,
                };
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        errors.lock().unwrap().push(format!("subscriber {i}: {e}"));
                        return;
                    }
                };
                let received = now_ms();
                let event = &message["payload"]["data"]["myTimer"];
                if message["type"] != "next" || event.is_null() {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("subscriber {i}: {message}"));
                    return;
                }
                let kind = event["kind"].as_str().unwrap_or_default();
                let elapsed = event["elapsedSeconds"].as_i64().unwrap_or(-1);
                match kind {
                    "SNAPSHOT" => {
                        if event["state"] != "RUNNING" || !event["timerId"].is_string() {
                            errors.lock().unwrap().push(format!(
                                "subscriber {i}: snapshot without a running timer: {event}"
                            ));
                            return;
                        }
                        timer_id = event["timerId"].as_str().map(str::to_owned);
                        last_elapsed = elapsed;
                        measuring = true;
                    }
                    "TICK" if measuring => {
                        if event["timerId"].as_str() != timer_id.as_deref()
                            || event["state"] != "RUNNING"
                            || elapsed < last_elapsed
                        {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("subscriber {i}: bad tick {event}"));
                            return;
                        }
                        last_elapsed = elapsed;
                        let at = event["at"]
                            .as_str()
                            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                            .map(|t| t.timestamp_millis())
                            .unwrap_or(received);
                        latency
                            .lock()
                            .unwrap()
                            .0
                            .push(((received - at).max(0) * 1000) as u64);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    // The burst below does not touch subscribers' timers; anything else is
                    // the end of the phase's measurements.
                    _ => measuring = false,
                }
                if Instant::now() > listen_until {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(tick_seconds)).await;
    let ticks_in_window = tick_count.load(Ordering::Relaxed);

    // 3. The start/stop burst, by people who are not subscribers (ticks keep flowing).
    eprintln!("start/stop burst: {burst_seconds} s at {rate}/s...");
    // Half as many people as operations: each stops their timer, then starts it again.
    let count = (burst_seconds * rate) as usize;
    let others: Vec<usize> = (subscribers..timers).take(count.div_ceil(2)).collect();
    let burst = if others.is_empty() {
        Phase::default()
    } else {
        open_loop(
            &people,
            &others,
            count,
            rate,
            max_inflight,
            &client,
            &router_url,
        )
        .await
    };
    let ticks_total = tick_count.load(Ordering::Relaxed);
    stop_listening.notify_waiters();
    for reader in readers {
        reader.abort();
    }
    let rss_after = (rss_kib(router.pid()), rss_kib(subgraph.pid()));

    // 4. Stop every running timer (checked).
    let still_running: Vec<usize> = {
        let mut list = Vec::new();
        for (i, person) in people.iter().enumerate() {
            if *person.turn.lock().await % 2 == 1 {
                list.push(i);
            }
        }
        list
    };
    let cleanup = open_loop(
        &people,
        &still_running,
        still_running.len(),
        rate * 2.0,
        max_inflight,
        &client,
        &router_url,
    )
    .await;

    let mut ticks = std::mem::take(&mut *tick_latency.lock().unwrap());
    ticks.sort();
    let tick_errors = tick_errors.lock().unwrap().clone();
    let mut burst_all = Latencies(
        burst
            .start
            .0
            .iter()
            .chain(burst.stop.0.iter())
            .copied()
            .collect(),
    );
    burst_all.sort();
    let expected_ticks = subscribers as f64 * tick_seconds as f64 * 1000.0 / tick_ms as f64;
    let body = format!(
        "`cargo bench -p erp-os --bench timers` (benches/timers.rs). Release `erp-os pmo` on real MongoDB (SecantusDB stand-in) + \
Redis{kafka} and release `erp-os router` (checked-in config, rate limits raised, plain HTTP on loopback), the load client on the same machine.\n\n\
## Workload\n\n\
- {timers} people in {projects} projects of {PER_PROJECT} (set up straight on the subgraph in {setup_seconds:.0} s, not measured), each with their own token; target 10,000 (BENCH_TIMERS=10000).\n\
- Phase 1: every person starts a timer through the router, open loop at {rate:.0}/s.\n\
- Phase 2: {subscribers} of them subscribe to `myTimer` through the router; ticks every {tick_ms} ms checked and timed for {tick_seconds} s (and during phase 3).\n\
- Phase 3: start/stop burst for {burst_seconds:.0} s at {rate:.0}/s by the others (stop, then start again, per person).\n\
- Phase 4: every running timer stopped.\n\n\
## Results\n\n\
| figure | value | workload.md target | verdict |\n|---|---:|---|---|\n\
| timers running at once after phase 1 | {running} | 10,000 (realistic 2,000-2,600) | {running_verdict} |\n\
| phase 1 starts: ok / failed, achieved rate | {r_ok} / {r_failed}, {r_rate:.0}/s | 200/s | {r_rate_verdict} |\n\
| phase 1 start latency p50 / p99 / max | {r50:.1} / {r99:.1} / {rmax:.1} ms | p99 < 50 ms | {r99_verdict} |\n\
| phase 3 burst: ok / failed, achieved rate | {b_ok} / {b_failed}, {b_rate:.0}/s | 200/s | {b_rate_verdict} |\n\
| phase 3 start latency p50 / p99 | {bs50:.1} / {bs99:.1} ms | p99 < 50 ms | |\n\
| phase 3 stop latency p50 / p99 | {bt50:.1} / {bt99:.1} ms | p99 < 50 ms | |\n\
| phase 3 start+stop latency p99 | {b99:.1} ms | p99 < 50 ms | {b99_verdict} |\n\
| ticks received (phase 2 window / whole) | {ticks_in_window} (about {expected_ticks:.0} expected) / {ticks_total} | | |\n\
| tick delivery (server `at` -> receipt) p50 / p99 / max | {t50:.1} / {t99:.1} / {tmax:.1} ms | p99 < 100 ms | {t99_verdict} |\n\
| subscriber errors (bad snapshot, bad tick, closed) | {tick_error_count} | 0 | |\n\
| phase 4 stops: ok / failed | {c_ok} / {c_failed} | all | |\n\
| RSS router / subgraph before -> after phase 3 | {rb} -> {ra} KiB / {sb} -> {sa} KiB | | |\n\n\
Tick latency is measured against the tick's own server time (`at`, whole milliseconds or coarser as the server formats it) on the same clock.\n\n\
{errors}",
        kafka = if kafka.is_some() { " + Kafka (outbox relay)" } else { "" },
        running_verdict = verdict_min(running as f64, 10000.0, "timers"),
        r_ok = ramp.ok,
        r_failed = ramp.failed,
        r_rate = ramp.ok as f64 / ramp.seconds.max(1e-9),
        r_rate_verdict = verdict_min(ramp.ok as f64 / ramp.seconds.max(1e-9), 200.0, "ops/s"),
        r50 = ramp.start.ms(0.5),
        r99 = ramp.start.ms(0.99),
        rmax = ramp.start.ms(1.0),
        r99_verdict = verdict_max(ramp.start.ms(0.99), 50.0, "ms"),
        b_ok = burst.ok,
        b_failed = burst.failed,
        b_rate = burst.ok as f64 / burst.seconds.max(1e-9),
        b_rate_verdict = verdict_min(burst.ok as f64 / burst.seconds.max(1e-9), 200.0, "ops/s"),
        bs50 = burst.start.ms(0.5),
        bs99 = burst.start.ms(0.99),
        bt50 = burst.stop.ms(0.5),
        bt99 = burst.stop.ms(0.99),
        b99 = burst_all.ms(0.99),
        b99_verdict = verdict_max(burst_all.ms(0.99), 50.0, "ms"),
        t50 = ticks.ms(0.5),
        t99 = ticks.ms(0.99),
        tmax = ticks.ms(1.0),
        t99_verdict = verdict_max(ticks.ms(0.99), 100.0, "ms"),
        tick_error_count = tick_errors.len(),
        c_ok = cleanup.ok,
        c_failed = cleanup.failed,
        rb = rss_before.0,
        ra = rss_after.0,
        sb = rss_before.1,
        sa = rss_after.1,
        errors = {
            let mut text = String::new();
            for (name, phase) in [("phase 1", &ramp), ("phase 3", &burst), ("phase 4", &cleanup)] {
                if let Some(e) = &phase.first_error {
                    text.push_str(&format!("First {name} error: `{}`\n\n", e.chars().take(300).collect::<String>()));
                }
            }
            if let Some(e) = tick_errors.first() {
                text.push_str(&format!("First subscriber error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            text
        },
    );
    print!("{body}");
    write_report("timers", "Timers benchmark", &machine, &body)?;
    drop((router, subgraph));
    let _ = std::fs::remove_dir_all(&dir);
    if ramp.failed + burst.failed + cleanup.failed > 0
        || !tick_errors.is_empty()
        || ticks_total == 0
    {
        bail!("some operations or ticks were not as expected (see the report)");
    }
    Ok(())
}
