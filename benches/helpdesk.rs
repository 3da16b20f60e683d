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
//!    data, BENCH_READS times: latency;
//! 4. the monthly depreciation run (`runDepreciation`) over BENCH_ASSETS (100,000) assets on a
//!    36-month straight-line schedule (registered in bulk, 500 a commit): one line posted per
//!    asset, each with its `asset.depreciation.posted` event in the outbox (finance's journal
//!    entries; finance is not in this process), then the re-run, which posts nothing;
//! 5. SLA due times: the pure computation (the next breach of a ticket's three clocks on a
//!    business calendar with holidays) per ticket, in-process, over BENCH_SLA_TICKETS (100,000)
//!    clock states; then a calendar change (`setSlaPolicy` adds a holiday) recomputing the due
//!    times of BENCH_OPEN_TICKETS (100,000) open tickets of its priority, written straight to
//!    the store from one real ticket;
//! 6. the three-way match of a 1,000-line vendor bill (`threeWayMatch`, the use case
//!    `Ops::match_bill`): a purchase order of 1,000 lines created, submitted and approved
//!    through GraphQL, received in two goods receipts, then the bill matched BENCH_READS
//!    times over HTTP (and as many times in-process, the use case alone): p50 / p95 / max,
//!    every answer checked (all 1,000 lines within both tolerances), then a bill with one
//!    price off and one with one quantity off, each reported as exactly that line's
//!    exception;
//! 7. bulk check-out of 1,000 assets to one person (`checkOutAssets`), BENCH_READS times over
//!    fresh sets of 1,000 assets in stock (registered in bulk, 500 a commit, in a tenant of
//!    its own): p50 / p95 / max, each checked in the store (every asset of the set assigned
//!    to the holder at its next revision, one movement each, nothing else in the tenant
//!    changed); then the refused bulk (999 assets in stock and one already assigned, last),
//!    BENCH_READS times: CONFLICT `ASSET_ALREADY_ASSIGNED`, and nothing written.
//!
//! BENCH_PHASES (default `1,2,3,4,5,6,7`) picks the phases, e.g. `6,7` with smaller counts
//! on a loaded machine.
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
//! (default bench-results/helpdesk.md). Targets (domains.md 4.4, issue 20): the monthly run
//! of 100,000 assets < 10 s with a re-run writing nothing; a due time < 20 µs per ticket;
//! 100,000 open tickets recomputed after a calendar change < 5 s; the three-way match of a
//! 1,000-line bill < 100 ms; a bulk check-out of 1,000 items < 1 s.

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
    let asset_count = env_number("BENCH_ASSETS", 100_000)?.max(1) as usize;
    let sla_tickets = env_number("BENCH_SLA_TICKETS", 100_000)?.max(1) as usize;
    let open_tickets = env_number("BENCH_OPEN_TICKETS", 100_000)?.max(1) as usize;
    let phases: Vec<u32> = std::env::var("BENCH_PHASES")
        .unwrap_or_else(|_| "1,2,3,4,5,6,7".into())
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|phases: &Vec<u32>| phases.iter().all(|p| (1..=7).contains(p)))
        .context("BENCH_PHASES: a comma list of 1 to 7")?;
    let run = |phase: u32| phases.contains(&phase);
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

    let mut rows: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // 1. Concurrent creation into one round-robin queue.
    let mut phase1_created: u64 = 0;
    if run(1) {
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
        rows.push(format!(
        "| 1. createTicket with round-robin assignment, {creators} concurrent clients, one queue | {:.0} tickets/s ({created} in {elapsed:.1} s, {failed} failed); {} ; turns even ({least}..{most} per member over 8) |",
        created as f64 / elapsed,
        create_latencies.summary(),
    ));
        phase1_created = created;
        notes.push(format!(
            "First error of phase 1: {}",
            first_error
                .lock()
                .map(|e| e.clone().unwrap_or_else(|| "none".into()))
                .unwrap_or_default()
        ));
    }

    // 2 and 3. Seed the tenant's tickets straight into the store, from one real ticket.
    if run(2) || run(3) {
        let created = phase1_created;
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

        rows.push(format!(
            "| 2. ticketCounts over {} tickets, helpdesk admin | {} (counts exact) |",
            seeded + created as usize + 1,
            admin_counts.summary()
        ));
        rows.push(format!(
            "| 2. ticketCounts, agent under the row rule | {} (counts exact) |",
            agent_counts_l.summary()
        ));
        rows.push(format!(
            "| 3. tickets(status: OPEN, first: 50), admin | {} |",
            admin_queue.summary()
        ));
        rows.push(format!(
            "| 3. tickets(status: OPEN, first: 50), agent | {} |",
            agent_queue.summary()
        ));
        rows.push(format!(
            "| seeding {seeded} tickets in commits of 500 | {seeding_s:.1} s |"
        ));
    }

    // The runs of 4 and 5 take minutes at full size: no 30 s client timeout for them.
    let slow = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    if run(4) {
        rows.extend(
            depreciation_phase(&slow, &url, &signer, &tenant, &service.ops, asset_count).await?,
        );
    }
    if run(5) {
        rows.extend(
            sla_phase(
                &slow,
                &url,
                &admin,
                &customer,
                &tenant,
                &store,
                sla_tickets,
                open_tickets,
            )
            .await?,
        );
    }

    if run(6) {
        rows.extend(match_phase(&slow, &url, &signer, &service.ops, reads).await?);
    }
    if run(7) {
        rows.extend(check_out_phase(&slow, &url, &signer, &service.ops, &store, reads).await?);
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let body = format!(
        "Run: `cargo bench -p erp-os --bench helpdesk` (BENCH_PHASES={}, BENCH_CREATORS={creators}, BENCH_SECONDS={seconds}, \
BENCH_TICKETS={seeded}, BENCH_READS={reads}, BENCH_ASSETS={asset_count}, BENCH_SLA_TICKETS={sla_tickets}, \
BENCH_OPEN_TICKETS={open_tickets}); the ops subgraph in the bench's process on SecantusDB + Redis, \
over HTTP on loopback (no router). Load average at the end: {load}\n\
| path | figure |\n|---|---|\n{}\n\n{}\n\n\
Targets (domains.md 4.4, issue 20) for 4 to 7: the monthly run of 100,000 assets < 10 s, re-run 0; a due time < 20 µs \
per ticket; 100,000 open tickets recomputed < 5 s; the three-way match of a 1,000-line bill < 100 ms; a bulk \
check-out of 1,000 items < 1 s (verdicts of 6 and 7 on the p95, release builds only). Phases 1 to 3: no target.\n",
        phases.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        rows.join("\n"),
        notes.join("\n\n"),
    );
    print!("{body}");
    let title = if cfg!(debug_assertions) {
        "Helpdesk hot paths (issue 20), DEBUG build"
    } else {
        "Helpdesk hot paths (issue 20)"
    };
    write_report("helpdesk", title, &machine, &body)?;
    drop(service);
    Ok(())
}

/// Phase 4, the monthly depreciation run over `count` assets: registered in bulk (straight
/// line, 36 months from 1 January 2026), then `runDepreciation` through 31 January 2026
/// posts one line per asset, and a re-run posts nothing. Answers rows of the report.
async fn depreciation_phase(
    http: &reqwest::Client,
    url: &str,
    signer: &Signer,
    tenant: &str,
    ops: &erp_ops::Ops,
    count: usize,
) -> Result<Vec<String>> {
    use erp_kit::money::{Currency, Money};
    use erp_ops::app::assets::{DepreciationTerms, NewAsset};
    use erp_ops::domain::asset::AssetTag;
    use erp_ops::domain::depreciation::{Frequency, Method};

    eprintln!("4. registering {count} assets in bulk...");
    let accountant = signer.token(
        tenant,
        "usr_accountant",
        &["assets:read", "assets:depreciate"],
    )?;
    let now = chrono::Utc::now().timestamp();
    let claims = erp_kit::auth::Claims {
        sub: "usr_asset_admin".into(),
        name: "Asset admin".into(),
        email: String::new(),
        tenant_id: tenant.to_owned(),
        role: "Admin".into(),
        departments: vec![],
        permissions: vec!["assets:write".into()],
        exp: now + 3600,
        iat: now,
        iss: "bench".into(),
        aud: erp_kit::auth::Audience::One("erp".into()),
        jti: uuid::Uuid::now_v7().to_string(),
    };
    let tenant_id = TenantId::from_claim(tenant);
    let eur = Currency::parse("EUR").map_err(|_| anyhow!("EUR"))?;
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).ok_or_else(|| anyhow!("date"))?;
    let registering = Instant::now();
    let mut batch = Vec::with_capacity(500);
    for n in 0..count {
        let cost = Money::from_minor(100_000 + (n as i64 % 97) * 1_000, eur)
            .map_err(|_| anyhow!("an amount"))?;
        batch.push(NewAsset {
            kind: erp_ops::store::AssetKind::Hardware,
            tag: AssetTag::parse("tag", &format!("DEP-{n:06}")).map_err(|e| anyhow!("{e:?}"))?,
            name: "Laptop".into(),
            serial: None,
            model: None,
            category: Some("laptop".into()),
            location_id: None,
            cost,
            purchase_date: Some(start),
            in_use_date: start,
            warranty_until: None,
            end_of_life: None,
            depreciation: Some(DepreciationTerms {
                method: Method::StraightLine,
                frequency: Frequency::Monthly,
                periods: 36,
                salvage: Money::from_minor(0, eur).map_err(|_| anyhow!("zero"))?,
                prorata: true,
            }),
        });
        if batch.len() == 500 || n + 1 == count {
            ops.register_assets(&tenant_id, &claims, std::mem::take(&mut batch))
                .await
                .map_err(|e| anyhow!("registering: {e:?}"))?;
        }
    }
    let registering_s = registering.elapsed().as_secs_f64();

    let run = "mutation($i: RunDepreciationInput!) { runDepreciation(input: $i) { postedLines } }";
    let input = json!({ "i": { "through": "2026-01-31" } });
    eprintln!("4. the monthly run over {count} assets...");
    let started = Instant::now();
    let data = graphql(http, url, &accountant, run, input.clone())
        .await
        .map_err(|e| anyhow!("runDepreciation: {e}"))?;
    let first_s = started.elapsed().as_secs_f64();
    let posted = data["runDepreciation"]["postedLines"].as_u64().unwrap_or(0);
    if posted != count as u64 {
        bail!("the run posted {posted} lines for {count} assets");
    }
    eprintln!("4. the re-run...");
    let started = Instant::now();
    let data = graphql(http, url, &accountant, run, input)
        .await
        .map_err(|e| anyhow!("runDepreciation again: {e}"))?;
    let again_s = started.elapsed().as_secs_f64();
    let again = data["runDepreciation"]["postedLines"]
        .as_u64()
        .unwrap_or(u64::MAX);
    if again != 0 {
        bail!("the re-run posted {again} lines");
    }
    Ok(vec![
        format!("| 4. registering {count} assets (36-line schedules), register_assets in commits of 500 | {registering_s:.1} s ({:.0} assets/s) |", count as f64 / registering_s),
        format!("| 4. runDepreciation (monthly) over {count} assets | {first_s:.1} s, {posted} lines posted with their {posted} asset.depreciation.posted events ({:.2} ms per asset) |", first_s * 1000.0 / count as f64),
        format!("| 4. the re-run | {again_s:.1} s, 0 lines posted (nothing written) |"),
    ])
}

/// Phase 5, SLA due times: the pure computation per ticket over `computed` clock states,
/// then a calendar change recomputing `open` open tickets. Answers rows of the report.
#[allow(clippy::too_many_arguments)]
async fn sla_phase(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    customer: &str,
    tenant: &str,
    store: &SharedStore,
    computed: usize,
    open: usize,
) -> Result<Vec<String>> {
    use erp_ops::domain::sla::{BusinessCalendar, Targets, TicketClocks};

    // The pure computation: tickets opened over the last weeks (one every 7 minutes back
    // from a fixed instant), Berlin office hours with holidays, the three targets.
    let zone: chrono_tz::Tz = "Europe/Berlin".parse().map_err(|_| anyhow!("zone"))?;
    let holidays = [(2026, 12, 24), (2026, 12, 25), (2026, 12, 26), (2027, 1, 1)]
        .into_iter()
        .filter_map(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d))
        .collect();
    let day = vec![(9 * 60, 12 * 60), (13 * 60, 17 * 60)];
    let week = [
        day.clone(),
        day.clone(),
        day.clone(),
        day.clone(),
        day,
        vec![],
        vec![],
    ];
    let calendar =
        BusinessCalendar::new(zone, week, holidays).map_err(|e| anyhow!("calendar: {e:?}"))?;
    let targets = Targets {
        first_response: 60,
        update: 240,
        resolution: 3 * 8 * 60,
    };
    let origin =
        chrono::DateTime::parse_from_rfc3339("2026-12-18T10:00:00Z")?.with_timezone(&chrono::Utc);
    let clocks: Vec<TicketClocks> = (0..computed)
        .map(|n| TicketClocks::start(origin - chrono::Duration::minutes(7 * (n as i64 % 10_000))))
        .collect();
    eprintln!("5. {computed} due-time computations...");
    let started = Instant::now();
    let mut due = 0usize;
    for ticket in &clocks {
        due += usize::from(std::hint::black_box(ticket.next_breach(&targets, &calendar)).is_some());
    }
    let per_ticket_us = started.elapsed().as_secs_f64() * 1e6 / computed as f64;
    if due != computed {
        bail!("{} of {computed} tickets had no due time", computed - due);
    }

    // The calendar change over `open` open tickets of one priority.
    let set = "mutation($i: SetSlaPolicyInput!) { setSlaPolicy(input: $i) { priority } }";
    let hours: Vec<Value> = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
        .iter()
        .map(|d| json!({ "weekday": d, "start": "09:00", "end": "17:00" }))
        .collect();
    let policy = |holidays: Vec<&str>| {
        json!({ "i": { "priority": "LOW", "timeZone": "Europe/Berlin", "weeklyHours": hours,
            "holidays": holidays, "firstResponseMinutes": 480, "updateMinutes": 960, "resolutionMinutes": 2400 } })
    };
    graphql(http, url, admin, set, policy(vec![]))
        .await
        .map_err(|e| anyhow!("setSlaPolicy: {e}"))?;
    let data = graphql(
        http,
        url,
        customer,
        "mutation($i: CreateTicketInput!) { createTicket(input: $i) { id } }",
        json!({ "i": { "subject": "SLA template", "description": "x", "priority": "LOW" } }),
    )
    .await
    .map_err(|e| anyhow!("template: {e}"))?;
    let template_id = id_of(&data, &["createTicket", "id"])?;
    let tenant_id = TenantId::from_claim(tenant);
    let template = store
        .get(&tenant_id, Kind::Tickets, &[template_id])
        .await
        .map_err(|e| anyhow!("{e:?}"))?
        .pop()
        .ok_or_else(|| anyhow!("the template ticket"))?;
    eprintln!("5. seeding {open} open tickets...");
    let mut batch = Vec::with_capacity(500);
    for n in 0..open {
        let mut doc = template.clone();
        doc["_id"] = json!(erp_kit::db::new_id());
        doc["status"] = json!(if n % 2 == 0 { "NEW" } else { "OPEN" });
        batch.push(Write::Insert {
            kind: Kind::Tickets,
            doc,
        });
        if batch.len() == 500 || n + 1 == open {
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
    // The change: a holiday in the coming week moves every open ticket's due time.
    let next_week = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    eprintln!("5. the calendar change over {} open tickets...", open + 1);
    let started = Instant::now();
    graphql(http, url, admin, set, policy(vec![next_week.as_str()]))
        .await
        .map_err(|e| anyhow!("setSlaPolicy (change): {e}"))?;
    let change_s = started.elapsed().as_secs_f64();
    Ok(vec![
        format!("| 5. due time of one ticket (three clocks, office hours with a lunch break and holidays), in-process, {computed} tickets | {per_ticket_us:.2} µs per ticket |"),
        format!("| 5. setSlaPolicy changing the calendar: {} open tickets of its priority recomputed | {change_s:.1} s ({:.2} ms per ticket) |", open + 1, change_s * 1000.0 / (open + 1) as f64),
    ])
}

/// p50 / p95 / max of sorted latencies.
fn p50_p95_max(latencies: &Latencies) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (n = {})",
        latencies.ms(0.5),
        latencies.ms(0.95),
        latencies.ms(1.0),
        latencies.0.len()
    )
}

/// The verdict on a p95 against a target in ms: release builds only.
fn verdict_on(p95_ms: f64, target_ms: f64) -> String {
    if cfg!(debug_assertions) {
        "debug build: no verdict".into()
    } else {
        verdict_max(p95_ms, target_ms, "ms")
    }
}

/// A GraphQL request whose whole answer (data and errors) is wanted: a refusal's codes.
async fn graphql_answer(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("origin", ORIGIN)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?;
    Ok(response.json().await?)
}

/// Claims of a caller of the use cases (the bulk registrations of 4 and 7).
fn claims_of(tenant: &str, user: &str, permissions: &[&str]) -> erp_kit::auth::Claims {
    let now = chrono::Utc::now().timestamp();
    erp_kit::auth::Claims {
        sub: user.into(),
        name: user.into(),
        email: String::new(),
        tenant_id: tenant.to_owned(),
        role: "Admin".into(),
        departments: vec![],
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        exp: now + 3600,
        iat: now,
        iss: "bench".into(),
        aud: erp_kit::auth::Audience::One("erp".into()),
        jti: uuid::Uuid::now_v7().to_string(),
    }
}

fn bench_tenant(what: &str) -> String {
    format!(
        "tnt_bench_{what}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Phase 6, the three-way match of a 1,000-line bill: the order (1,000 lines), its approval
/// and two receipts through GraphQL, then `threeWayMatch` `reads` times over HTTP and
/// `Ops::match_bill` `reads` times in-process, every answer checked; then one price and one
/// quantity off, each reported as exactly that line's exception. Answers rows of the report.
async fn match_phase(
    http: &reqwest::Client,
    url: &str,
    signer: &Signer,
    ops: &erp_ops::Ops,
    reads: u64,
) -> Result<Vec<String>> {
    use erp_ops::domain::procurement::{BillLine, MatchTolerances, Quantity};

    const LINES: usize = 1_000;
    let tenant = bench_tenant("match");
    let buyer = signer.token(
        &tenant,
        "usr_buyer",
        &[
            "procurement:read",
            "procurement:order",
            "procurement:receive",
        ],
    )?;
    // Line n: SKU-n, 1 to 9 units (a half more on every fourth), 1.00 to 200.99 EUR.
    let milli = |n: usize| ((n % 9 + 1) * 1_000 + if n.is_multiple_of(4) { 500 } else { 0 }) as i64;
    let cents = |n: usize| ((n % 200 + 1) * 100 + n % 100) as i64;
    let decimal = |value: i64, scale: i64, digits: usize| {
        format!("{}.{:0digits$}", value / scale, value % scale)
    };
    let item = |n: usize| format!("SKU-{n:04}");
    let order_lines: Vec<Value> = (0..LINES)
        .map(|n| json!({ "item": item(n), "quantity": decimal(milli(n), 1_000, 3), "unitPrice": decimal(cents(n), 100, 2) }))
        .collect();

    eprintln!("6. a purchase order of {LINES} lines, approved and received...");
    let setting_up = Instant::now();
    let data = graphql(
        http,
        url,
        &buyer,
        "mutation($i: CreatePurchaseOrderInput!) { createPurchaseOrder(input: $i) { id lines { line } } }",
        json!({ "i": { "supplier": "Bench Supplies", "currency": "EUR", "lines": order_lines } }),
    )
    .await
    .map_err(|e| anyhow!("createPurchaseOrder: {e}"))?;
    let order_id = id_of(&data, &["createPurchaseOrder", "id"])?;
    if data["createPurchaseOrder"]["lines"]
        .as_array()
        .map_or(0, Vec::len)
        != LINES
    {
        bail!("the order has not {LINES} lines: {data}");
    }
    graphql(
        http,
        url,
        &buyer,
        "mutation($id: ID!) { submitPurchaseOrder(input: { orderId: $id }) { status } }",
        json!({ "id": order_id }),
    )
    .await
    .map_err(|e| anyhow!("submitPurchaseOrder: {e}"))?;
    // As many distinct approvers (never the requester) as its amount needs.
    let mut status = String::new();
    for n in 0..5 {
        let approver = signer.token(
            &tenant,
            &format!("usr_approver_{n}"),
            &["procurement:approve"],
        )?;
        let data = graphql(
            http,
            url,
            &approver,
            "mutation($id: ID!) { approvePurchaseOrder(input: { orderId: $id }) { status } }",
            json!({ "id": order_id }),
        )
        .await
        .map_err(|e| anyhow!("approvePurchaseOrder: {e}"))?;
        status = id_of(&data, &["approvePurchaseOrder", "status"])?;
        if status == "APPROVED" {
            break;
        }
    }
    if status != "APPROVED" {
        bail!("the order is {status} after five approvals");
    }
    // Two receipts: the first half of the lines, then the second.
    for half in [0..LINES / 2, LINES / 2..LINES] {
        let lines: Vec<Value> = half
            .map(|n| json!({ "line": n + 1, "item": item(n), "quantity": decimal(milli(n), 1_000, 3) }))
            .collect();
        let data = graphql(
            http,
            url,
            &buyer,
            "mutation($i: ReceiveGoodsInput!) { receiveGoods(input: $i) { order { status } } }",
            json!({ "i": { "orderId": order_id, "lines": lines } }),
        )
        .await
        .map_err(|e| anyhow!("receiveGoods: {e}"))?;
        status = id_of(&data, &["receiveGoods", "order", "status"])?;
    }
    if status != "RECEIVED" {
        bail!("the order is {status} after its receipts");
    }
    let setup_s = setting_up.elapsed().as_secs_f64();

    // The bill: every line as ordered and received; `off` changes one line.
    let bill = |off: Option<(usize, i64, i64)>| -> Vec<Value> {
        (0..LINES)
            .map(|n| {
                let (dq, dp) = match off {
                    Some((line, dq, dp)) if line == n + 1 => (dq, dp),
                    _ => (0, 0),
                };
                json!({ "line": n + 1, "item": item(n),
                    "quantity": decimal(milli(n) + dq, 1_000, 3), "unitPrice": decimal(cents(n) + dp, 100, 2) })
            })
            .collect()
    };
    let matching = "query($i: ThreeWayMatchInput!) { threeWayMatch(input: $i) { matched
        lines { line quantityWithinTolerance priceWithinTolerance quantityVariance priceVariance { amount } } } }";
    // The lines reported outside a tolerance: (line, quantity ok, price ok, variances).
    let exceptions = |data: &Value| -> Result<(bool, Vec<Value>)> {
        let lines = data["threeWayMatch"]["lines"]
            .as_array()
            .ok_or_else(|| anyhow!("no lines: {data}"))?;
        if lines.len() != LINES
            || lines
                .iter()
                .enumerate()
                .any(|(n, line)| line["line"] != json!(n + 1))
        {
            bail!("the match has not the bill's {LINES} lines in order");
        }
        let out = lines
            .iter()
            .filter(|line| {
                line["quantityWithinTolerance"] != true || line["priceWithinTolerance"] != true
            })
            .cloned()
            .collect();
        Ok((data["threeWayMatch"]["matched"] == true, out))
    };
    let clean = json!({ "i": { "orderId": order_id, "lines": bill(None) } });
    eprintln!("6. threeWayMatch of the {LINES}-line bill x {reads}...");
    let mut over_http = Latencies::default();
    for _ in 0..reads {
        let started = Instant::now();
        let data = graphql(http, url, &buyer, matching, clean.clone())
            .await
            .map_err(|e| anyhow!("threeWayMatch: {e}"))?;
        over_http.0.push(started.elapsed().as_micros() as u64);
        let (matched, out) = exceptions(&data)?;
        if !matched || !out.is_empty() {
            bail!("the clean bill did not match: {out:?}");
        }
    }
    over_http.sort();

    // The use case alone, in-process (no HTTP, no GraphQL): the order's read and the match.
    let tenant_id = TenantId::from_claim(&tenant);
    let bill_lines: Vec<BillLine> = (0..LINES)
        .map(|n| BillLine {
            line: n as u32 + 1,
            item: item(n),
            quantity: Quantity::from_milli(milli(n)),
            unit_price: cents(n),
        })
        .collect();
    let mut in_process = Latencies::default();
    for _ in 0..reads {
        let started = Instant::now();
        let report = ops
            .match_bill(
                &tenant_id,
                &order_id,
                &bill_lines,
                &std::collections::HashMap::new(),
                MatchTolerances::default(),
            )
            .await
            .map_err(|e| anyhow!("match_bill: {e:?}"))?;
        in_process.0.push(started.elapsed().as_micros() as u64);
        if !report.matched || report.lines.len() != LINES {
            bail!("match_bill: not matched");
        }
    }
    in_process.sort();

    // One price off by a cent on line 618 (6 units), then one quantity off by one unit on
    // line 233.
    let mut discrepancies = Vec::new();
    for (line, dq, dp, what) in [(618usize, 0i64, 1i64, "price"), (233, 1_000, 0, "quantity")] {
        let started = Instant::now();
        let data = graphql(
            http,
            url,
            &buyer,
            matching,
            json!({ "i": { "orderId": order_id, "lines": bill(Some((line, dq, dp))) } }),
        )
        .await
        .map_err(|e| anyhow!("threeWayMatch ({what} off): {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (matched, out) = exceptions(&data)?;
        let n = line - 1;
        let expected = json!([{
            "line": line,
            "quantityWithinTolerance": dq == 0,
            "priceWithinTolerance": dp == 0,
            "quantityVariance": decimal(dq, 1_000, 3),
            // (billed price - ordered price) x quantity billed now, in EUR.
            "priceVariance": { "amount": decimal(dp * (milli(n) + dq) / 1_000, 100, 2) },
        }]);
        if matched || json!(out) != expected {
            bail!("the bill with the {what} of line {line} off: {out:?}, expected {expected}");
        }
        discrepancies.push(format!("{what} off on line {line}: {ms:.1} ms"));
    }
    Ok(vec![
        format!("| 6. setting up: a {LINES}-line purchase order created, submitted, approved and received in two goods receipts, through GraphQL | {setup_s:.1} s |"),
        format!("| 6. threeWayMatch of a {LINES}-line bill over HTTP (every line within tolerance, checked) | {}; {} |", p50_p95_max(&over_http), verdict_on(over_http.ms(0.95), 100.0)),
        format!("| 6. Ops::match_bill in-process, the same bill (the order's read and the match, no HTTP or GraphQL) | {} |", p50_p95_max(&in_process)),
        format!("| 6. the same bill with one line off (a single run each), reported as exactly that line's exception | {} |", discrepancies.join("; ")),
    ])
}

/// Phase 7, bulk check-out: `reads` fresh sets of 1,000 assets in stock checked out to one
/// person, each checked in the store; then a refused bulk (999 in stock and one assigned)
/// `reads` times, writing nothing. Answers rows of the report.
async fn check_out_phase(
    http: &reqwest::Client,
    url: &str,
    signer: &Signer,
    ops: &erp_ops::Ops,
    store: &SharedStore,
    reads: u64,
) -> Result<Vec<String>> {
    use erp_kit::money::{Currency, Money};
    use erp_ops::app::assets::NewAsset;
    use erp_ops::domain::asset::{AssetStatus, AssetTag, Holder};
    use erp_ops::store::AssetDoc;

    const SET: usize = 1_000;
    let tenant = bench_tenant("checkout");
    let tenant_id = &TenantId::from_claim(&tenant);
    let it = signer.token(&tenant, "usr_it_desk", &["assets:read", "assets:write"])?;
    let claims = claims_of(&tenant, "usr_asset_admin", &["assets:write"]);
    let eur = Currency::parse("EUR").map_err(|_| anyhow!("EUR"))?;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).ok_or_else(|| anyhow!("date"))?;
    let sets = reads as usize;
    // `sets` sets to check out, and SET - 1 in stock for the refused bulk.
    let count = sets * SET + SET - 1;
    eprintln!("7. registering {count} assets in bulk...");
    let registering = Instant::now();
    let mut registered: Vec<AssetDoc> = Vec::with_capacity(count);
    let mut batch = Vec::with_capacity(500);
    for n in 0..count {
        batch.push(NewAsset {
            kind: erp_ops::store::AssetKind::Hardware,
            tag: AssetTag::parse("tag", &format!("CO-{n:06}")).map_err(|e| anyhow!("{e:?}"))?,
            name: "Laptop".into(),
            serial: Some(format!("SN{n:08}")),
            model: None,
            category: Some("laptop".into()),
            location_id: None,
            cost: Money::from_minor(120_000, eur).map_err(|_| anyhow!("an amount"))?,
            purchase_date: Some(day),
            in_use_date: day,
            warranty_until: None,
            end_of_life: None,
            depreciation: None,
        });
        if batch.len() == 500 || n + 1 == count {
            registered.extend(
                ops.register_assets(tenant_id, &claims, std::mem::take(&mut batch))
                    .await
                    .map_err(|e| anyhow!("registering: {e:?}"))?,
            );
        }
    }
    let registering_s = registering.elapsed().as_secs_f64();

    let holder = "usr_holder";
    let check_out = "mutation($i: CheckOutAssetsInput!) { checkOutAssets(input: $i) {
        count assets { id status holder { type id } } } }";
    let input = |ids: &[String]| json!({ "i": { "assetIds": ids, "holder": { "type": "PERSON", "id": holder } } });
    // Tenant-wide: assets by status, and the movements.
    let tenant_counts = || async {
        let statuses = store
            .count_by(tenant_id, Kind::Assets, &[], None, "status")
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let mut by_status: Vec<(String, u64)> = statuses
            .into_iter()
            .map(|(status, n)| (status.as_str().unwrap_or("?").to_owned(), n))
            .collect();
        by_status.sort();
        let movements: u64 = store
            .count_by(tenant_id, Kind::AssetMovements, &[], None, "tenant_id")
            .await
            .map_err(|e| anyhow!("{e:?}"))?
            .into_iter()
            .map(|(_, n)| n)
            .sum();
        Ok::<_, anyhow::Error>((by_status, movements))
    };
    // The assets `ids` as the store has them, in order, and their movements by asset.
    let stored = |ids: Vec<String>| async move {
        let docs = store
            .get(tenant_id, Kind::Assets, &ids)
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let mut docs: Vec<AssetDoc> = docs
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()?;
        let position: std::collections::HashMap<&String, usize> =
            ids.iter().enumerate().map(|(n, id)| (id, n)).collect();
        docs.sort_by_key(|doc| position.get(&doc.id).copied().unwrap_or(usize::MAX));
        let values: Vec<Value> = ids.iter().map(|id| json!(id)).collect();
        let movements = store
            .count_by(
                tenant_id,
                Kind::AssetMovements,
                &[],
                Some(("asset_id", &values)),
                "asset_id",
            )
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok::<_, anyhow::Error>((docs, movements))
    };

    eprintln!("7. checkOutAssets of {SET} assets x {reads}...");
    let mut latencies = Latencies::default();
    for set in 0..sets {
        let before = &registered[set * SET..(set + 1) * SET];
        let ids: Vec<String> = before.iter().map(|asset| asset.id.clone()).collect();
        let started = Instant::now();
        let data = graphql(http, url, &it, check_out, input(&ids))
            .await
            .map_err(|e| anyhow!("checkOutAssets: {e}"))?;
        latencies.0.push(started.elapsed().as_micros() as u64);
        // The answer: the set, each assigned to the holder.
        let answered = data["checkOutAssets"]["assets"]
            .as_array()
            .ok_or_else(|| anyhow!("no assets: {data}"))?;
        let expected_holder = json!({ "type": "PERSON", "id": holder });
        if data["checkOutAssets"]["count"] != json!(SET)
            || answered.len() != SET
            || answered.iter().zip(&ids).any(|(asset, id)| {
                asset["id"] != json!(id)
                    || asset["status"] != "ASSIGNED"
                    || asset["holder"] != expected_holder
            })
        {
            bail!("set {set}: the answer is not the set assigned to {holder}");
        }
        // The store: each at its next revision, assigned to the holder, otherwise unchanged;
        // one movement each; nothing else in the tenant changed.
        let (docs, movements) = stored(ids.clone()).await?;
        let held = Some(Holder::Person(holder.into()));
        if docs.len() != SET
            || docs.iter().zip(before).any(|(doc, was)| {
                doc.id != was.id
                    || doc.rev != was.rev + 1
                    || doc.status != AssetStatus::Assigned
                    || doc.holder != held
                    || doc.tag != was.tag
                    || doc.serial != was.serial
            })
        {
            bail!("set {set}: the stored assets are not the set assigned to {holder}");
        }
        if movements.len() != SET || movements.iter().any(|(_, n)| *n != 1) {
            bail!("set {set}: not one movement per asset: {movements:?}");
        }
        let (by_status, total) = tenant_counts().await?;
        let assigned = ((set + 1) * SET) as u64;
        let expected = vec![
            ("ASSIGNED".to_owned(), assigned),
            ("IN_STOCK".to_owned(), count as u64 - assigned),
        ];
        let expected: Vec<(String, u64)> = expected.into_iter().filter(|(_, n)| *n > 0).collect();
        if by_status != expected || total != assigned {
            bail!("set {set}: the tenant has {by_status:?} and {total} movements, expected {expected:?} and {assigned}");
        }
    }
    latencies.sort();

    // The refused bulk: the 999 in stock, then one assigned (the last: everything is read and
    // checked before the refusal).
    let reserve: Vec<String> = registered[sets * SET..]
        .iter()
        .map(|asset| asset.id.clone())
        .collect();
    let mut ids = reserve.clone();
    ids.push(registered[0].id.clone());
    eprintln!("7. the refused bulk x {reads}...");
    let mut refused = Latencies::default();
    for _ in 0..reads {
        let started = Instant::now();
        let body = graphql_answer(http, url, &it, check_out, input(&ids)).await?;
        refused.0.push(started.elapsed().as_micros() as u64);
        let error = &body["errors"][0];
        if error["extensions"]["code"] != "CONFLICT"
            || error["extensions"]["reason"] != "ASSET_ALREADY_ASSIGNED"
            || !error["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&registered[0].tag)
            || !body["data"]["checkOutAssets"].is_null()
        {
            bail!("the bulk with an assigned asset was not refused naming it: {body}");
        }
    }
    refused.sort();
    let (docs, movements) = stored(reserve).await?;
    if docs.len() != SET - 1
        || docs
            .iter()
            .any(|doc| doc.rev != 0 || doc.status != AssetStatus::InStock || doc.holder.is_some())
        || !movements.is_empty()
    {
        bail!("the refused bulk wrote something: {movements:?}");
    }
    let (by_status, total) = tenant_counts().await?;
    let assigned = (sets * SET) as u64;
    if by_status
        != vec![
            ("ASSIGNED".to_owned(), assigned),
            ("IN_STOCK".to_owned(), (SET - 1) as u64),
        ]
        || total != assigned
    {
        bail!("after the refused bulks the tenant has {by_status:?} and {total} movements");
    }
    Ok(vec![
        format!("| 7. registering {count} assets, register_assets in commits of 500 | {registering_s:.1} s ({:.0} assets/s) |", count as f64 / registering_s),
        format!("| 7. checkOutAssets of {SET} assets in stock to one person, {sets} fresh sets (each checked: {SET} assigned at their next revision, {SET} movements, nothing else in the tenant changed) | {}; {} |", p50_p95_max(&latencies), verdict_on(latencies.ms(0.95), 1000.0)),
        format!("| 7. the refused bulk: {} in stock and one assigned (last), CONFLICT ASSET_ALREADY_ASSIGNED naming it, nothing written (checked) | {} |", SET - 1, p50_p95_max(&refused)),
    ])
}
