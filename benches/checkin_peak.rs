//! The morning check-in peak (workload.md "07:00-09:30 check-ins", issue 5), through the
//! router, on real PostgreSQL + Redis (+ Kafka for the outbox relay):
//!
//! 1. a fresh tenant with BENCH_EMPLOYEES employees in BENCH_DEPARTMENTS departments, each
//!    employee linked to their own user and so holding their own token;
//! 2. one department-board subscriber per department (`attendanceBoard(departmentId)`,
//!    graphql-transport-ws through the router), proven live by a probe punch each;
//! 3. an open-loop load: check-ins (and, on the next round through the company, check-outs)
//!    scheduled at a rate ramping to BENCH_RATE over BENCH_RAMP_SECONDS, held for
//!    BENCH_SECONDS; latency counted from the scheduled time (no coordinated omission); every
//!    response checked (status 200, no errors, the punch's kind and key), every punch expected
//!    exactly once on its department's board (missing and duplicate deliveries counted);
//! 4. a kiosk-resync burst: BENCH_RESYNC punches each sent BENCH_RESYNC_REPEATS times with the
//!    same punchKey at 200/s; every repeat must return the same punch, and the board must see
//!    it once.
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench checkin_peak
//! ```
//!
//! With BENCH_TENANT=<tenant id> the company is a tenant written by `erp-os seed --tier L
//! --services` into the same PostgreSQL (its departments and active people, read through the
//! subgraph; tokens signed for their seeded user ids) instead of a fresh one: the punches then
//! land in tables holding the tier's 12 months of history. Punch keys carry a run id, so a
//! seeded tenant can be punched by more than one run.
//!
//! Environment: DATABASE_URL, REDIS_URL (required), KAFKA_BROKERS (optional), BENCH_TENANT, BENCH_EMPLOYEES
//! (2000; tier L is 10000), BENCH_DEPARTMENTS (20), BENCH_RATE (1000), BENCH_RAMP_SECONDS (5),
//! BENCH_SECONDS (15; workload.md says 60), BENCH_MAX_INFLIGHT (256), BENCH_RESYNC (200),
//! BENCH_RESYNC_REPEATS (3), BENCH_OUT.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use futures::StreamExt;
use serde_json::json;

const HIRE: &str = "mutation($n: String!, $e: String!, $u: ID!, $d: ID!) { hireEmployee(input: { employeeNumber: $n, displayName: $n, workEmail: $e, userId: $u, departmentId: $d, hiredOn: \"2025-01-06\" }) { id } }";
const BOARD: &str = "subscription Board($d: ID!) { attendanceBoard(departmentId: $d) { punchId employeeId departmentId punchKind occurredAt } }";
const CHECK_IN: &str =
    "mutation CheckIn($k: String!) { checkIn(input: { punchKey: $k, source: KIOSK }) { id kind punchKey } }";
const CHECK_OUT: &str =
    "mutation CheckOut($k: String!) { checkOut(input: { punchKey: $k, source: KIOSK }) { id kind punchKey } }";

struct Person {
    token: String,
    department: usize,
    /// One punch of a person at a time (their device waits for the answer).
    turn: tokio::sync::Mutex<u64>,
}

/// What the boards received: punch id -> (department board index, wall-clock ms) per delivery.
/// The scopes of the HR tokens: the setup's and each board watcher's.
const HR_SCOPES: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
    "hr:read",
    "attendance:read",
];

type Deliveries = Arc<Mutex<HashMap<String, Vec<(usize, i64)>>>>;

const SEEDED_DEPARTMENTS: &str = "query($after: String) { departments(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }";
const SEEDED_PEOPLE: &str = "query($after: String) { employees(filter: { status: ACTIVE }, first: 100, after: $after) { edges { node { id userId department { id } attendance { checkedIn } } } pageInfo { hasNextPage endCursor } } }";

/// Every page of a connection `field` of `query` (variables: `after`).
async fn all_nodes(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    field: &str,
) -> Result<Vec<serde_json::Value>> {
    let mut nodes = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let data = graphql(http, url, token, query, json!({ "after": after }))
            .await
            .map_err(|e| anyhow!("{field}: {e}"))?;
        let connection = &data[field];
        for edge in connection["edges"].as_array().into_iter().flatten() {
            nodes.push(edge["node"].clone());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            return Ok(nodes);
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
}

/// The departments (those with active people who log in) and up to `employees` + one probe per
/// department of a tenant written by `erp-os seed --services` (BENCH_TENANT): each person's
/// token is signed for their seeded user id.
async fn seeded_company(
    http: &reqwest::Client,
    employee_url: &str,
    hr: &str,
    signer: &Signer,
    tenant: &str,
    employees: usize,
) -> Result<(Vec<String>, Vec<Person>)> {
    eprintln!("reading the seeded tenant {tenant}...");
    let departments = all_nodes(http, employee_url, hr, SEEDED_DEPARTMENTS, "departments").await?;
    let staff = all_nodes(http, employee_url, hr, SEEDED_PEOPLE, "employees").await?;
    // Per department: (user id, checked in now: a seeded tenant punched by an earlier run).
    let mut by_department: Vec<Vec<(&str, bool)>> = vec![Vec::new(); departments.len()];
    let index: HashMap<&str, usize> = departments
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d["id"].as_str().map(|id| (id, i)))
        .collect();
    for person in &staff {
        let (Some(user), Some(&d)) = (
            person["userId"].as_str(),
            person["department"]["id"]
                .as_str()
                .and_then(|id| index.get(id)),
        ) else {
            continue;
        };
        by_department[d].push((user, person["attendance"]["checkedIn"] == true));
    }
    // Only departments with people; one probe each, then round-robin up to `employees`.
    let used: Vec<usize> = (0..departments.len())
        .filter(|&d| !by_department[d].is_empty())
        .collect();
    if used.is_empty() {
        bail!("tenant {tenant} has no active employee with a user in a department: is it seeded?");
    }
    let mut picked: Vec<(usize, (&str, bool))> = Vec::new();
    let mut next = vec![0usize; used.len()];
    let target = employees + used.len();
    while picked.len() < target {
        let before = picked.len();
        for (slot, &d) in used.iter().enumerate() {
            if picked.len() == target {
                break;
            }
            if let Some(&user) = by_department[d].get(next[slot]) {
                picked.push((slot, user));
                next[slot] += 1;
            }
        }
        if picked.len() == before {
            break;
        }
    }
    eprintln!(
        "{} of {} active people in {} departments",
        picked.len(),
        staff.len(),
        used.len()
    );
    let people = picked
        .into_iter()
        .map(|(slot, (user, checked_in))| {
            Ok(Person {
                token: signer.token(tenant, user, &["attendance:checkin"])?,
                department: slot,
                // Odd turns check out.
                turn: tokio::sync::Mutex::new(u64::from(checked_in)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ids = used
        .iter()
        .map(|&d| departments[d]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    Ok((ids, people))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let employees = env_number("BENCH_EMPLOYEES", 2000)? as usize;
    let departments = env_number("BENCH_DEPARTMENTS", 20)?.max(1) as usize;
    let rate = env_number("BENCH_RATE", 1000)?.max(1) as f64;
    let ramp = env_number("BENCH_RAMP_SECONDS", 5)? as f64;
    let hold = env_number("BENCH_SECONDS", 15)? as f64;
    let max_inflight = env_number("BENCH_MAX_INFLIGHT", 256)? as usize;
    let resync = env_number("BENCH_RESYNC", 200)? as usize;
    let repeats = env_number("BENCH_RESYNC_REPEATS", 3)?.max(2) as usize;
    let database_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let kafka = std::env::var("KAFKA_BROKERS").ok();
    let machine = machine();

    let dir = std::env::temp_dir().join(format!("erp-bench-checkin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let signer = Signer::start().await?;
    let http = load_client(64)?;

    // The employee subgraph (release erp-os) on PostgreSQL + Redis, and the router.
    let employee_port = free_port()?;
    let mut command = base_command(&erp_os_binary(), &signer);
    command
        .arg("employee")
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url)
        .env("ERP_BIND", format!("127.0.0.1:{employee_port}"))
        .env("ERP_KEK_FILE", dir.join("kek.key"));
    if let Some(brokers) = &kafka {
        command.env("KAFKA_BROKERS", brokers);
    }
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

    // The company: a tenant seeded by `erp-os seed --services` (BENCH_TENANT), or a fresh one
    // whose departments and people are written straight to the subgraph (setup, not load).
    let seeded = env_text("BENCH_TENANT");
    let tenant = seeded.clone().unwrap_or_else(|| {
        format!(
            "tnt_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    });
    // Punch keys of this run (a seeded tenant is punched by more than one run).
    let run: &'static str = uuid::Uuid::new_v4().simple().to_string()[..8]
        .to_owned()
        .leak();
    let hr = signer.token(&tenant, "usr_hr", HR_SCOPES)?;
    let hiring = Instant::now();
    let (department_ids, people, departments, employees) = if seeded.is_some() {
        let (department_ids, people) =
            seeded_company(&http, &employee_url, &hr, &signer, &tenant, employees).await?;
        let departments = department_ids.len();
        let employees = people.len() - departments;
        (department_ids, people, departments, employees)
    } else {
        let mut department_ids = Vec::new();
        for d in 0..departments {
            let data = graphql(
                &http,
                &employee_url,
                &hr,
                "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
                json!({ "n": format!("Department {d:03}") }),
            )
            .await
            .map_err(|e| anyhow!("createDepartment: {e}"))?;
            department_ids.push(
                data["createDepartment"]["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no department id: {data}"))?
                    .to_owned(),
            );
        }
        // One probe person per department (the board's liveness check), then the company.
        let total = employees + departments;
        eprintln!("hiring {total} people in {departments} departments...");
        let people: Vec<Person> = futures::stream::iter(0..total)
            .map(|i| {
                let (http, employee_url, hr, ids, signer) =
                    (&http, &employee_url, &hr, &department_ids, &signer);
                let tenant = tenant.clone();
                async move {
                    let department = i % departments;
                    let user = format!("usr_{i:05}");
                    graphql(
                        http,
                        employee_url,
                        hr,
                        HIRE,
                        json!({ "n": format!("E{i:05}"), "e": format!("e{i:05}@bench.example"), "u": user, "d": ids[department] }),
                    )
                    .await
                    .map_err(|e| anyhow!("hireEmployee {i}: {e}"))?;
                    Ok::<_, anyhow::Error>(Person {
                        token: signer.token(&tenant, &user, &["attendance:checkin"])?,
                        department,
                        turn: tokio::sync::Mutex::new(0),
                    })
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        (department_ids, people, departments, employees)
    };
    let department_ids = Arc::new(department_ids);
    let hiring_seconds = hiring.elapsed().as_secs_f64();
    let people = Arc::new(people);

    // Department boards through the router.
    let deliveries: Deliveries = Arc::new(Mutex::new(HashMap::new()));
    let board_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut boards = Vec::new();
    for (index, id) in department_ids.iter().enumerate() {
        // One HR watcher per board: a user may hold at most 25 live subscriptions
        // (ERP_MAX_SUBSCRIPTIONS_PER_USER) and tier L has 60 departments.
        let board_token = signer.token(&tenant, &format!("usr_board_{index}"), HR_SCOPES)?;
        let mut socket = subscribe(&router_ws, &board_token, BOARD, json!({ "d": id })).await?;
        let (deliveries, errors, id) = (deliveries.clone(), board_errors.clone(), id.clone());
        boards.push(tokio::spawn(async move {
            loop {
                let message = match next_json(&mut socket, Duration::from_secs(3600)).await {
                    Ok(message) => message,
                    Err(e) => {
                        errors.lock().unwrap().push(format!("board {index}: {e}"));
                        return;
                    }
                };
                let received = now_ms();
                let event = &message["payload"]["data"]["attendanceBoard"];
                if message["type"] != "next" || event["departmentId"] != id.as_str() {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("board {index}: unexpected {message}"));
                    continue;
                }
                let punch = event["punchId"].as_str().unwrap_or_default().to_owned();
                deliveries
                    .lock()
                    .unwrap()
                    .entry(punch)
                    .or_default()
                    .push((index, received));
            }
        }));
    }
    let rss_before = (rss_kib(router.pid()), rss_kib(subgraph.pid()));

    // Probes: one person per department checks in; wait until every board has its punch.
    let mut probe_ids = Vec::new();
    let mut probe_people = vec![None; departments];
    for (i, person) in people.iter().enumerate() {
        if probe_people[person.department].is_none() {
            probe_people[person.department] = Some(i);
        }
    }
    let probe_people: Vec<usize> = probe_people.into_iter().flatten().collect();
    for &i in &probe_people {
        // A seeded tenant's person may still be checked in from an earlier run: the punch
        // follows their turn (even: check in).
        let mut turn = people[i].turn.lock().await;
        let checking_in = *turn % 2 == 0;
        let data = graphql(
            &http,
            &router_url,
            &people[i].token,
            if checking_in { CHECK_IN } else { CHECK_OUT },
            json!({ "k": format!("{run}-probe-{i}") }),
        )
        .await
        .map_err(|e| anyhow!("probe punch: {e}"))?;
        *turn += 1;
        probe_ids.push(
            data[if checking_in { "checkIn" } else { "checkOut" }]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let probe_wait = Instant::now();
    loop {
        let seen = {
            let map = deliveries.lock().unwrap();
            probe_ids.iter().filter(|id| map.contains_key(*id)).count()
        };
        if seen == probe_ids.len() {
            break;
        }
        if probe_wait.elapsed() > Duration::from_secs(30) {
            bail!(
                "only {seen} of {} boards received their probe punch: {:?}\n{}",
                probe_ids.len(),
                board_errors.lock().unwrap(),
                std::fs::read_to_string(&router.log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load_people: Vec<usize> = (0..people.len())
        .filter(|i| !probe_people.contains(i))
        .collect();
    let load_people = Arc::new(load_people);

    // The open-loop load.
    eprintln!("load: ramp to {rate}/s over {ramp} s, hold {hold} s...");
    let sent_at: Arc<Mutex<HashMap<String, (i64, usize)>>> = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let inflight = Arc::new(tokio::sync::Semaphore::new(max_inflight));
    let client = load_client(max_inflight)?;
    let ticks = (
        cpu_ticks(&router.pid().to_string()),
        cpu_ticks(&subgraph.pid().to_string()),
    );
    // Transactions committed in the database during the load (every session on it: the
    // subgraph's punches and its outbox relay), to count commits per punch.
    let stats = sea_orm::Database::connect(database_url.as_str()).await?;
    let commits_before = committed_transactions(&stats).await?;
    let started = Instant::now();
    let total_seconds = ramp + hold;
    // Punch n is scheduled at t(n): rate ramps linearly to `rate` over `ramp`, then holds.
    let schedule = |n: f64| -> f64 {
        let ramp_punches = rate * ramp / 2.0;
        if n < ramp_punches && ramp > 0.0 {
            (2.0 * n * ramp / rate).sqrt()
        } else {
            ramp + (n - ramp_punches) / rate
        }
    };
    let mut tasks = Vec::new();
    let mut n: u64 = 0;
    loop {
        let at = schedule(n as f64);
        if at >= total_seconds {
            break;
        }
        let due = started + Duration::from_secs_f64(at);
        tokio::time::sleep_until(due.into()).await;
        let permit = inflight.clone().acquire_owned().await?;
        let index = load_people[(n as usize) % load_people.len()];
        let (people, client, url) = (people.clone(), client.clone(), router_url.clone());
        let (sent_at, latencies, ok, failed, first_error) = (
            sent_at.clone(),
            latencies.clone(),
            ok.clone(),
            failed.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let person = &people[index];
            let mut turn = person.turn.lock().await;
            let checking_in = *turn % 2 == 0;
            let key = format!("{run}-p{index}-{}", *turn);
            let wall = now_ms();
            let result = graphql(
                &client,
                &url,
                &person.token,
                if checking_in { CHECK_IN } else { CHECK_OUT },
                json!({ "k": key }),
            )
            .await
            .and_then(|data| {
                let punch = &data[if checking_in { "checkIn" } else { "checkOut" }];
                let kind = punch["kind"].as_str().unwrap_or_default();
                let expected = if checking_in { "in" } else { "out" };
                if !kind.eq_ignore_ascii_case(expected) || punch["punchKey"] != key.as_str() {
                    return Err(format!("unexpected punch: {data}"));
                }
                punch["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no punch id: {data}"))
            });
            drop(permit);
            match result {
                Ok(id) => {
                    *turn += 1;
                    let micros = due.elapsed().as_micros() as u64;
                    latencies.lock().unwrap().0.push(micros);
                    ok.fetch_add(1, Ordering::Relaxed);
                    sent_at
                        .lock()
                        .unwrap()
                        .insert(id, (wall, person.department));
                }
                Err(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(e);
                }
            }
        }));
        n += 1;
    }
    let scheduled = n;
    let scheduling_done = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let cpu = (
        cpu_ticks(&router.pid().to_string()) - ticks.0,
        cpu_ticks(&subgraph.pid().to_string()) - ticks.1,
    );
    let rss_after = (rss_kib(router.pid()), rss_kib(subgraph.pid()));
    // A backend reports its counters within a second of its last transaction.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits = committed_transactions(&stats).await? - commits_before;

    // Wait (bounded) for the boards to catch up with every acknowledged punch.
    let expected_punches: Vec<(String, i64, usize)> = sent_at
        .lock()
        .unwrap()
        .iter()
        .map(|(id, (wall, d))| (id.clone(), *wall, *d))
        .collect();
    let catch_up = Instant::now();
    loop {
        let seen = {
            let map = deliveries.lock().unwrap();
            expected_punches
                .iter()
                .filter(|(id, _, _)| map.contains_key(id))
                .count()
        };
        if seen == expected_punches.len() || catch_up.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The kiosk resync burst: each punch repeated, at 200 punch sends/s.
    eprintln!("kiosk resync burst: {resync} punches x {repeats}...");
    let resync_people: Vec<usize> = load_people.iter().copied().take(resync).collect();
    let mut resync_tasks = Vec::new();
    let burst_started = Instant::now();
    let mut sends = 0u64;
    for _ in 0..repeats {
        for &index in &resync_people {
            let due = burst_started + Duration::from_secs_f64(sends as f64 / 200.0);
            sends += 1;
            tokio::time::sleep_until(due.into()).await;
            let (people, client, url) = (people.clone(), client.clone(), router_url.clone());
            resync_tasks.push(tokio::spawn(async move {
                let person = &people[index];
                // The turn is the punch's sequence number before the burst; all repeats use it.
                let turn = { *person.turn.lock().await };
                let checking_in = turn % 2 == 0;
                let key = format!("{run}-resync-{index}-{turn}");
                let data = graphql(
                    &client,
                    &url,
                    &person.token,
                    if checking_in { CHECK_IN } else { CHECK_OUT },
                    json!({ "k": key }),
                )
                .await?;
                let punch = &data[if checking_in { "checkIn" } else { "checkOut" }];
                if punch["punchKey"] != key.as_str() {
                    return Err(format!("unexpected punch: {data}"));
                }
                Ok::<_, String>((index, punch["id"].as_str().unwrap_or_default().to_owned()))
            }));
        }
    }
    let mut resync_ids: HashMap<usize, Vec<String>> = HashMap::new();
    let mut resync_errors = Vec::new();
    for task in resync_tasks {
        match task.await {
            Ok(Ok((index, id))) => resync_ids.entry(index).or_default().push(id),
            Ok(Err(e)) => resync_errors.push(e),
            Err(e) => resync_errors.push(e.to_string()),
        }
    }
    let burst_seconds = burst_started.elapsed().as_secs_f64();
    let resync_distinct_violations = resync_ids
        .values()
        .filter(|ids| ids.iter().any(|id| id != &ids[0]))
        .count();
    let resync_punch_ids: Vec<String> = resync_ids.values().map(|ids| ids[0].clone()).collect();
    let resync_wait = Instant::now();
    loop {
        let seen = {
            let map = deliveries.lock().unwrap();
            resync_punch_ids
                .iter()
                .filter(|id| map.contains_key(*id))
                .count()
        };
        if seen == resync_punch_ids.len() || resync_wait.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a duplicate (if the server made one) reach the board before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Delivery accounting.
    let map = deliveries.lock().unwrap().clone();
    let mut delivery = Latencies::default();
    let mut missing = 0;
    let mut duplicated = 0;
    let mut wrong_board = 0;
    for (id, wall, department) in &expected_punches {
        match map.get(id) {
            None => missing += 1,
            Some(list) => {
                if list.len() > 1 {
                    duplicated += 1;
                }
                if list[0].0 != *department {
                    wrong_board += 1;
                }
                delivery.0.push(((list[0].1 - wall).max(0) * 1000) as u64);
            }
        }
    }
    let resync_board_missing = resync_punch_ids
        .iter()
        .filter(|id| !map.contains_key(*id))
        .count();
    let resync_board_duplicates = resync_punch_ids
        .iter()
        .filter(|id| map.get(*id).map(Vec::len).unwrap_or(0) > 1)
        .count();
    let board_errors = board_errors.lock().unwrap().clone();

    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    delivery.sort();
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let hold_rate = ok as f64 / load_seconds;
    let ticks_per_second = 100.0;
    let (company, setup) = match &seeded {
        Some(tenant) => (
            format!("the tenant `{tenant}` written by `erp-os seed --services` (BENCH_TENANT; its history in the same tables)"),
            "read from the subgraph",
        ),
        None => ("a fresh tenant".to_owned(), "hired straight on the subgraph"),
    };
    let body = format!(
        "`cargo bench -p erp-os --bench checkin_peak` (benches/checkin_peak.rs). Release `erp-os employee` on \
real PostgreSQL + Redis{kafka} and release `erp-os router` (checked-in router.config.yaml, rate limits raised \
to 10^9/min, plain HTTP on loopback) on this machine with the load client; everything shares the CPUs.\n\n\
## Workload\n\n\
- {employees} employees (+{departments} probe people) in {departments} departments of {company}, each with their own RS256 token \
(`attendance:checkin`), {setup} in {hiring_seconds:.0} s (setup, not measured). Tier L is 10,000 \
(BENCH_EMPLOYEES=10000).\n\
- {departments} department boards (`attendanceBoard(departmentId)`, graphql-transport-ws through the router), each proven live by a probe punch.\n\
- Open loop: rate ramping to {rate:.0}/s over {ramp:.0} s then held {hold:.0} s ({scheduled} punches scheduled; \
scheduling ended at {scheduling_done:.1} s); each person alternates check-in/check-out, one punch at a time; at most {max_inflight} \
requests in flight; latency from the SCHEDULED send time. workload.md asks for 60 s at 1,000/s (BENCH_SECONDS=60).\n\n\
## Results\n\n\
| figure | value | workload.md target | verdict |\n|---|---:|---|---|\n\
| punches acknowledged (checked: 200, no errors, kind and punchKey) | {ok} | | |\n\
| failed punches | {failed} | 0 | {failed_verdict} |\n\
| achieved rate over the whole load (incl. ramp and drain) | {hold_rate:.0}/s over {load_seconds:.1} s | 1,000/s | {rate_verdict} |\n\
| check-in latency p50 / p90 / p99 / max | {p50:.1} / {p90:.1} / {p99:.1} / {pmax:.1} ms | p99 < 50 ms | {p99_verdict} |\n\
| delivery to the department board (client send -> board receipt) p50 / p90 / p99 / max | {d50:.1} / {d90:.1} / {d99:.1} / {dmax:.1} ms | (each fanned out to its board) | |\n\
| punches missing from their board / duplicated / on the wrong board | {missing} / {duplicated} / {wrong_board} | 0 / 0 / 0 | {fanout_verdict} |\n\
| board errors | {board_error_count} | 0 | |\n\
| router CPU / subgraph CPU during the load | {router_cpu:.1} s / {subgraph_cpu:.1} s ({router_us:.0} / {subgraph_us:.0} µs per punch) | | |\n\
| database commits during the load (all its sessions: punches, outbox relay) | {commits} ({commits_per_punch:.2} per punch) | | |\n\
| RSS router / subgraph before -> after load | {rb} -> {ra} KiB / {sb} -> {sa} KiB | | |\n\n\
## Kiosk resync burst\n\n\
{resync} punches, each sent {repeats} times with the same punchKey, {sends} sends at 200/s in {burst_seconds:.1} s.\n\n\
| check | value | expected |\n|---|---:|---:|\n\
| failed sends | {resync_failed} | 0 |\n\
| punches whose repeats returned different punch ids (duplicates) | {resync_distinct_violations} | 0 |\n\
| resync punches missing from the board | {resync_board_missing} | 0 |\n\
| resync punches delivered more than once to the board | {resync_board_duplicates} | 0 |\n\n\
{first}",
        kafka = if kafka.is_some() { " + Kafka (outbox relay)" } else { "" },
        p50 = latencies.ms(0.5),
        p90 = latencies.ms(0.9),
        p99 = latencies.ms(0.99),
        pmax = latencies.ms(1.0),
        d50 = delivery.ms(0.5),
        d90 = delivery.ms(0.9),
        d99 = delivery.ms(0.99),
        dmax = delivery.ms(1.0),
        failed_verdict = if failed == 0 { "met" } else { "MISSED" },
        rate_verdict = verdict_min(hold_rate, 1000.0, "punches/s"),
        p99_verdict = verdict_max(latencies.ms(0.99), 50.0, "ms"),
        fanout_verdict = if missing + duplicated + wrong_board == 0 { "met" } else { "MISSED" },
        board_error_count = board_errors.len(),
        commits_per_punch = commits as f64 / ok.max(1) as f64,
        router_cpu = cpu.0 as f64 / ticks_per_second,
        subgraph_cpu = cpu.1 as f64 / ticks_per_second,
        router_us = cpu.0 as f64 / ticks_per_second * 1e6 / ok.max(1) as f64,
        subgraph_us = cpu.1 as f64 / ticks_per_second * 1e6 / ok.max(1) as f64,
        rb = rss_before.0,
        ra = rss_after.0,
        sb = rss_before.1,
        sa = rss_after.1,
        resync_failed = resync_errors.len(),
        first = {
            let mut text = String::new();
            if let Some(e) = first_error.lock().unwrap().as_ref() {
                text.push_str(&format!("First punch error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            if let Some(e) = resync_errors.first() {
                text.push_str(&format!("First resync error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            if let Some(e) = board_errors.first() {
                text.push_str(&format!("First board error: `{}`\n\n", e.chars().take(300).collect::<String>()));
            }
            text
        },
    );
    print!("{body}");
    write_report("checkin_peak", "Check-in peak benchmark", &machine, &body)?;
    for board in boards {
        board.abort();
    }
    drop((router, subgraph));
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0
        || !resync_errors.is_empty()
        || resync_distinct_violations > 0
        || missing > 0
        || duplicated > 0
        || wrong_board > 0
        || resync_board_duplicates > 0
    {
        bail!("some responses or deliveries were not as expected (see the report)");
    }
    Ok(())
}

/// `pg_stat_database.xact_commit` of the bench's database.
async fn committed_transactions(db: &sea_orm::DatabaseConnection) -> Result<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await?
        .ok_or_else(|| anyhow!("no pg_stat_database row"))?;
    Ok(row.try_get::<i64>("", "xact_commit")?)
}
