//! The helpdesk's hot paths (issue 20), the operations subgraph in this process on real
//! MongoDB (SecantusDB at MONGO_URL, a fresh database) + Redis (the live queue's pub/sub),
//! over its HTTP surface:
//!
//! 1. ticket creation with assignment under concurrency: BENCH_CREATORS clients (32) opening
//!    tickets for BENCH_SECONDS (10) into ONE round-robin queue (every assignment serialises
//!    on the team's turn counter, one atomic increment per ticket: the contended case): tickets/s and latency, with the check
//!    that the turns were taken evenly (no two tickets on the same turn);
//! 2. `ticketCounts` over BENCH_TICKETS (100,000) tickets of the tenant across statuses and
//!    teams, as a helpdesk admin (every ticket) and as an agent (the row rule: the unrouted
//!    ones and their team's), BENCH_READS (30) times each: latency, with the counts checked
//!    exact against what was seeded;
//! 3. the queue page an agent works from (`tickets(status: OPEN, first: 50)`) over the same
//!    data, BENCH_READS times: latency.
//!
//! The tickets of 2 and 3 are written straight to the store in batches (not the tier seed:
//! the seed has no operations data yet). domains.md names no target for these paths: the
//! report gives the figures without a verdict.
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench helpdesk
//! ```
//!
//! Environment: MONGO_URL, REDIS_URL (required), the BENCH_* settings above; BENCH_OUT
//! (default bench-results/helpdesk.md).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use serde_json::{json, Value};

use erp_kit::events::{InProcessBus, SharedBus};
use erp_kit::runtime::Runtime;
use erp_kit::TenantId;
use erp_ops::store::{Kind, SharedStore, Write};

const ADMIN: &[&str] = &[
    "helpdesk:read",
    "helpdesk:write",
    "helpdesk:submit",
    "helpdesk:admin",
];
const AGENT: &[&str] = &["helpdesk:read", "helpdesk:write", "helpdesk:submit"];
const STATUSES: [&str; 5] = ["NEW", "OPEN", "PENDING", "RESOLVED", "CLOSED"];

/// A fresh database next to MONGO_URL's.
fn fresh_mongo_url(url: &str) -> String {
    let name = format!(
        "bench_helpdesk_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    mongo_url::with_database(url, &name)
}

fn id_of(data: &Value, path: &[&str]) -> Result<String> {
    let mut at = data;
    for key in path {
        at = &at[*key];
    }
    at.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no {path:?} in {data}"))
}

async fn timed_reads(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    reads: u64,
) -> Result<(Latencies, Value)> {
    let mut latencies = Latencies::default();
    let mut last = Value::Null;
    for _ in 0..reads {
        let started = Instant::now();
        last = graphql(http, url, token, query, json!({}))
            .await
            .map_err(|e| anyhow!("{query}: {e}"))?;
        latencies.0.push(started.elapsed().as_micros() as u64);
    }
    latencies.sort();
    Ok((latencies, last))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let creators = env_number("BENCH_CREATORS", 32)?.max(1) as usize;
    let seconds = env_number("BENCH_SECONDS", 10)?.max(1);
    let seeded = env_number("BENCH_TICKETS", 100_000)?.max(10) as usize;
    let reads = env_number("BENCH_READS", 30)?.max(1);
    let mongo =
        std::env::var("MONGO_URL").context("MONGO_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let machine = machine();
    let signer = Signer::start().await?;

    // The subgraph, in this process.
    let mut config = erp_kit::config::KitConfig::from_lookup("ops", 0, |_| None)
        .map_err(|e| anyhow!("config: {e}"))?;
    config.auth.jwks_url = signer.jwks_url.clone();
    config.auth.issuer = signer.issuer.clone();
    config.auth.audience = "erp".into();
    config.kek_file = std::env::temp_dir().join(format!(
        "erp-bench-kek-{}.key",
        uuid::Uuid::new_v4().simple()
    ));
    let cache: erp_kit::cache::SharedCache =
        Arc::new(erp_kit::cache::RedisCache::connect(&redis_url).await?);
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let runtime = Runtime::with_backends(
        config,
        sea_orm::DatabaseConnection::Disconnected,
        cache,
        bus,
    );
    let store: SharedStore =
        Arc::new(erp_ops::store::mongo::MongoStore::connect(&fresh_mongo_url(&mongo)).await?);
    let files = std::env::temp_dir().join(format!("erp-bench-ops-files-{}", std::process::id()));
    let options = erp_ops::OpsOptions {
        blob_dir: Some(files),
        ..Default::default()
    };
    let service = erp_ops::start_with(&runtime, store.clone(), options).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = service.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let url = format!("http://{addr}/graphql");
    let http = load_client(creators.max(8) + 8)?;

    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = signer.token(&tenant, "usr_admin", ADMIN)?;
    let members: Vec<String> = (0..8).map(|n| format!("usr_agent_{n}")).collect();
    let agent = signer.token(&tenant, &members[0], AGENT)?;
    let customer = signer.token(&tenant, "usr_customer", &["helpdesk:submit"])?;
    let mut teams = Vec::new();
    for (n, name) in ["Hardware", "Billing", "Access"].iter().enumerate() {
        let team_members: Vec<Value> = members
            .iter()
            .skip(n * 2)
            .take(if n == 0 { 8 } else { 2 })
            .map(|user| json!({ "userId": user }))
            .collect();
        let data = graphql(
            &http,
            &url,
            &admin,
            "mutation($i: CreateHelpdeskTeamInput!) { createHelpdeskTeam(input: $i) { id } }",
            json!({ "i": { "name": name, "members": team_members } }),
        )
        .await
        .map_err(|e| anyhow!("team: {e}"))?;
        let team = id_of(&data, &["createHelpdeskTeam", "id"])?;
        graphql(&http, &url, &admin,
            "mutation($i: CreateHelpdeskQueueInput!) { createHelpdeskQueue(input: $i) { id } }",
            json!({ "i": { "name": name, "teamId": team, "position": n,
                "conditions": { "categories": [name.to_lowercase()], "priorities": [], "channels": [] } } }))
            .await.map_err(|e| anyhow!("queue: {e}"))?;
        teams.push(team);
    }

    // 1. Concurrent creation into one round-robin queue.
    eprintln!("1. {creators} creators for {seconds} s into one round-robin queue...");
    let created = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..creators {
        let (http, url, customer) = (http.clone(), url.clone(), customer.clone());
        let (created, failed, first_error, latencies) = (
            created.clone(),
            failed.clone(),
            first_error.clone(),
            latencies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let begun = Instant::now();
                let outcome = graphql(&http, &url, &customer,
                    "mutation($i: CreateTicketInput!) { createTicket(input: $i) { id assigneeId } }",
                    json!({ "i": { "subject": format!("Laptop {c}-{n}"), "description": "It broke.", "category": "hardware" } })).await;
                match outcome {
                    Ok(data) if data["createTicket"]["assigneeId"].is_string() => {
                        created.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = latencies.lock() {
                            l.0.push(begun.elapsed().as_micros() as u64);
                        }
                    }
                    Ok(data) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(format!("unassigned: {data}"));
                        }
                    }
                    Err(error) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(error);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let created = created.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let mut create_latencies =
        std::mem::take(&mut *latencies.lock().map_err(|_| anyhow!("poisoned"))?);
    create_latencies.sort();
    // Round-robin over 8 available members: each took created / 8 turns, give or take one.
    let data = graphql(
        &http,
        &url,
        &admin,
        "{ helpdeskTeams { id turnsTaken } }",
        json!({}),
    )
    .await
    .map_err(|e| anyhow!("teams: {e}"))?;
    let turns = data["helpdeskTeams"][0]["turnsTaken"].as_u64().unwrap_or(0);
    let mut per_member = std::collections::HashMap::<String, u64>::new();
    let mut after: Option<String> = None;
    loop {
        let data = graphql(&http, &url, &admin,
            "query($a: String) { tickets(first: 100, after: $a) { nodes { assigneeId } pageInfo { hasNextPage endCursor } } }",
            json!({ "a": after })).await.map_err(|e| anyhow!("tickets: {e}"))?;
        for node in data["tickets"]["nodes"].as_array().into_iter().flatten() {
            if let Some(user) = node["assigneeId"].as_str() {
                *per_member.entry(user.to_owned()).or_default() += 1;
            }
        }
        if data["tickets"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["tickets"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let (least, most) = (
        per_member.values().min().copied().unwrap_or(0),
        per_member.values().max().copied().unwrap_or(0),
    );
    if most - least > 1 || turns != created {
        bail!("round-robin uneven: {per_member:?}, {turns} turns for {created} tickets");
    }

    // 2 and 3. Seed the tenant's tickets straight into the store, from one real ticket.
    eprintln!("2. seeding {seeded} tickets...");
    let template_id = {
        let data = graphql(
            &http,
            &url,
            &customer,
            "mutation($i: CreateTicketInput!) { createTicket(input: $i) { id } }",
            json!({ "i": { "subject": "Template", "description": "x" } }),
        )
        .await
        .map_err(|e| anyhow!("template: {e}"))?;
        id_of(&data, &["createTicket", "id"])?
    };
    let tenant_id = TenantId::from_claim(&tenant);
    let template = store
        .get(&tenant_id, Kind::Tickets, &[template_id])
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .pop()
        .ok_or_else(|| anyhow!("the template ticket"))?;
    // Expected counts: by status, for the admin and for agent 0 (Hardware: unrouted + team 0).
    let mut all_counts = [0u64; 5];
    let mut agent_counts = [0u64; 5];
    let seeding = Instant::now();
    let mut batch = Vec::with_capacity(500);
    for n in 0..seeded {
        let status = n % STATUSES.len();
        // A quarter unrouted, the rest spread over the three teams.
        let team = match n % 4 {
            0 => None,
            k => Some(&teams[k - 1]),
        };
        let mut doc = template.clone();
        doc["_id"] = json!(erp_kit::db::new_id());
        doc["status"] = json!(STATUSES[status]);
        doc["team_id"] = json!(team);
        doc["assignee_id"] = json!(team.map(|_| &members[n % members.len()]));
        doc["next_breach_at"] = Value::Null;
        all_counts[status] += 1;
        if team.is_none() || team == Some(&teams[0]) {
            agent_counts[status] += 1;
        }
        batch.push(Write::Insert {
            kind: Kind::Tickets,
            doc,
        });
        if batch.len() == 500 || n + 1 == seeded {
            let commit = store
                .commit(&tenant_id, &batch, &[])
                .await
                .map_err(|e| anyhow!("{e:?}"))?;
            if commit != erp_ops::store::Commit::Written {
                bail!("a seeding commit: {commit:?}");
            }
            batch.clear();
        }
    }
    let seeding_s = seeding.elapsed().as_secs_f64();
    // What phase 1 and the template added (all NEW): Hardware for phase 1, unrouted template.
    all_counts[0] += created + 1;
    agent_counts[0] += created + 1;
    let expected = |counts: &[u64; 5]| -> Value {
        json!(STATUSES
            .iter()
            .zip(counts)
            .filter(|(_, n)| **n > 0)
            .map(|(status, n)| json!({ "status": status, "count": n }))
            .collect::<Vec<_>>())
    };

    eprintln!("2. ticketCounts x {reads}, admin and agent...");
    let counts = "{ ticketCounts { status count } }";
    let (admin_counts, got) = timed_reads(&http, &url, &admin, counts, reads).await?;
    if got["ticketCounts"] != expected(&all_counts) {
        bail!("admin counts {got} != {}", expected(&all_counts));
    }
    let (agent_counts_l, got) = timed_reads(&http, &url, &agent, counts, reads).await?;
    if got["ticketCounts"] != expected(&agent_counts) {
        bail!("agent counts {got} != {}", expected(&agent_counts));
    }
    eprintln!("3. the OPEN queue page x {reads}...");
    let queue = "{ tickets(status: OPEN, first: 50) { nodes { id status assigneeId sla { resolution { dueAt } } } } }";
    let (admin_queue, got) = timed_reads(&http, &url, &admin, queue, reads).await?;
    if got["tickets"]["nodes"].as_array().map_or(0, Vec::len) != 50 {
        bail!("the admin's queue page: {got}");
    }
    let (agent_queue, _) = timed_reads(&http, &url, &agent, queue, reads).await?;

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let body = format!(
        "Run: `cargo bench -p erp-os --bench helpdesk` (BENCH_CREATORS={creators}, BENCH_SECONDS={seconds}, \
BENCH_TICKETS={seeded}, BENCH_READS={reads}); the ops subgraph in the bench's process on SecantusDB + Redis, \
over HTTP on loopback (no router). Load average at the end: {load}\n\
| path | figure |\n|---|---|\n\
| 1. createTicket with round-robin assignment, {creators} concurrent clients, one queue | {:.0} tickets/s ({created} in {elapsed:.1} s, {failed} failed); {} ; turns even ({least}..{most} per member over 8) |\n\
| 2. ticketCounts over {} tickets, helpdesk admin | {} (counts exact) |\n\
| 2. ticketCounts, agent under the row rule | {} (counts exact) |\n\
| 3. tickets(status: OPEN, first: 50), admin | {} |\n\
| 3. tickets(status: OPEN, first: 50), agent | {} |\n\
| seeding {seeded} tickets in commits of 500 | {seeding_s:.1} s |\n\n\
First error of phase 1: {}\n\n\
domains.md names no target for these paths: no verdict.\n",
        created as f64 / elapsed,
        create_latencies.summary(),
        seeded + created as usize + 1,
        admin_counts.summary(),
        agent_counts_l.summary(),
        admin_queue.summary(),
        agent_queue.summary(),
        first_error.lock().map(|e| e.clone().unwrap_or_else(|| "none".into())).unwrap_or_default(),
    );
    print!("{body}");
    write_report("helpdesk", "Helpdesk hot paths (issue 20)", &machine, &body)?;
    drop(service);
    Ok(())
}
