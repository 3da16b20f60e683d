//! Analytics (issue 22): ingestion rate and report latency over a tier-M-sized year of facts,
//! on the embedded engine (DataFusion, in memory) and, when CLICKHOUSE_URL is set, on
//! ClickHouse (a fresh database). In process, through the analytics use cases (no HTTP, no
//! bus): what the store and the metrics layer cost.
//!
//! 1. ingestion: BENCH_TIME_ENTRIES (440,000: 1,000 people, a year) `timer.stopped` events
//!    turned into facts (the consumer's handler) and stored in batches of BENCH_BATCH (50,000;
//!    the writer inserts up to 100,000), plus employees, projects, a year of payroll costs and
//!    invoices: facts/s;
//! 2. reports, BENCH_REPORT_RUNS (20) times each: hours logged by month over the year,
//!    utilization by department for a month, profitability by project for a month, invoiced
//!    revenue by month over the year: p50 / p95 (targets from the design: dashboard metrics p95
//!    < 100 ms on ClickHouse, < 300 ms embedded, over tier L).
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench analytics
//! ```
//!
//! The embedded engine runs twice: with its time-entry rollups (what `erp-os all` runs) and
//! without them (every report deduplicating the facts on read: the path before rollups;
//! BENCH_EMBEDDED_RAW=0 skips it). ClickHouse too: with its time-entry rollup, and reading
//! `facts FINAL` for every report (BENCH_CLICKHOUSE_RAW=0 skips it), each on a fresh database.
//!
//! Environment: CLICKHOUSE_URL (optional), the BENCH_* settings above; BENCH_OUT (default
//! bench-results/analytics.md).

mod common;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::*;
use erp_analytics::domain::facts::{facts_of, Fact, FactKind};
use erp_analytics::domain::metrics::{MetricRequest, Viewer};
use erp_analytics::store::{SharedFacts, StoredFact};
use erp_analytics::Analytics;
use erp_kit::events::EventEnvelope;
use erp_kit::TenantId;
use serde_json::json;

const TENANT: &str = "bench-analytics";
const PEOPLE: u64 = 1_000;
const PROJECTS: u64 = 50;

fn day_of_year(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default() + Duration::days((n % 365) as i64)
}

/// A fact like `template` of another kind (facts of kinds made from sealed or rare events).
fn fact(template: &Fact, kind: FactKind, entity: String, day: NaiveDate) -> Fact {
    let mut fact = template.clone();
    fact.kind = kind;
    fact.entity_id = entity;
    fact.day = day.format("%Y-%m-%d").to_string();
    fact.month = day.format("%Y-%m").to_string();
    fact.week = format!("{}", day.format("%G-W%V"));
    fact.quantity = 0;
    fact.amount = 0;
    fact.billable = false;
    fact.user_id.clear();
    fact.person_id.clear();
    fact.project_id.clear();
    // Dated by `day` (the template's instant would place it on the template's day).
    fact.at_ms = None;
    fact
}

/// The `i`-th time entry: a person, a project, a day of 2026, 1 to 8 hours.
fn time_entry(i: u64) -> Result<EventEnvelope> {
    let person = (i * 7_919) % PEOPLE;
    let project = (i * 31) % PROJECTS;
    let day = day_of_year(i * 13);
    let started = Utc
        .from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap_or_default())
        .to_rfc3339();
    let seconds = (1 + i % 8) * 3600;
    let mut event = EventEnvelope::new(
        &TenantId::from_claim(TENANT),
        "timer.stopped",
        format!("te{i}"),
        json!({ "timer_id": format!("tm{i}"), "time_entry_id": format!("te{i}"),
                "user_id": format!("u{person}"), "task_id": "k", "project_id": format!("p{project}"),
                "started_at": started, "ended_at": started, "duration_seconds": seconds,
                "billable": !i.is_multiple_of(3) }),
    )?;
    event.occurred_at = Utc::now();
    Ok(event)
}

/// Stores the year; returns (facts stored, seconds).
async fn ingest(store: &SharedFacts, entries: u64, batch: usize) -> Result<(u64, f64)> {
    let started = Instant::now();
    let mut pending: Vec<StoredFact> = Vec::with_capacity(batch);
    let mut stored = 0u64;
    let mut template = None;
    for i in 0..entries {
        let facts =
            facts_of(&time_entry(i)?, None).map_err(|err| anyhow!("a time entry: {err}"))?;
        for fact in facts {
            template.get_or_insert_with(|| fact.clone());
            pending.push(StoredFact {
                fact,
                ingested_ms: now_ms(),
            });
        }
        if pending.len() >= batch {
            let facts = std::mem::take(&mut pending);
            store.insert(&facts).await?;
            stored += facts.len() as u64;
        }
    }
    let template = template.ok_or_else(|| anyhow!("no time entry made"))?;
    // Employees (login u<i>, one of 10 departments), projects (one of 20 clients), a year of
    // payroll costs and 200 invoices a month.
    let mut rest = Vec::new();
    for person in 0..PEOPLE {
        let mut employee = fact(
            &template,
            FactKind::Employee,
            format!("e{person}"),
            day_of_year(0),
        );
        employee.person_id = format!("e{person}");
        employee.user_id = format!("u{person}");
        employee.department_id = format!("d{}", person % 10);
        employee.quantity = 1;
        rest.push(employee);
        for month in 1..=12u32 {
            let end = NaiveDate::from_ymd_opt(2026, month, 28).unwrap_or_default();
            let mut cost = fact(
                &template,
                FactKind::PayrollCost,
                format!("ps{person}-{month}"),
                end,
            );
            cost.person_id = format!("e{person}");
            cost.amount = 500_000 + (person as i64 % 97) * 1_000;
            cost.currency = "EUR".into();
            rest.push(cost);
        }
    }
    for project in 0..PROJECTS {
        let mut row = fact(
            &template,
            FactKind::Project,
            format!("p{project}"),
            day_of_year(0),
        );
        row.project_id = format!("p{project}");
        row.client_id = format!("c{}", project % 20);
        rest.push(row);
    }
    for invoice in 0..2_400u64 {
        let mut row = fact(
            &template,
            FactKind::InvoiceBase,
            format!("inv{invoice}"),
            day_of_year(invoice * 7),
        );
        row.project_id = format!("p{}", invoice % PROJECTS);
        row.client_id = format!("c{}", invoice % 20);
        row.amount = 1_000_000 + invoice as i64;
        row.currency = "EUR".into();
        rest.push(row);
    }
    if !pending.is_empty() {
        store.insert(&pending).await?;
        stored += pending.len() as u64;
    }
    let rest: Vec<StoredFact> = rest
        .into_iter()
        .map(|fact| StoredFact {
            fact,
            ingested_ms: now_ms(),
        })
        .collect();
    for chunk in rest.chunks(batch) {
        store.insert(chunk).await?;
        stored += chunk.len() as u64;
    }
    Ok((stored, started.elapsed().as_secs_f64()))
}

struct Report {
    name: &'static str,
    request: MetricRequest,
}

fn reports() -> Vec<Report> {
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default();
    let request = |metric: &str, group_by: &[&str], from: &str, to: &str| MetricRequest {
        metric: metric.into(),
        group_by: group_by.iter().map(|g| (*g).to_owned()).collect(),
        filters: Vec::new(),
        from: day(from),
        to: day(to),
    };
    vec![
        Report {
            name: "hours logged by month, the year",
            request: request("hours_logged", &["month"], "2026-01-01", "2026-12-31"),
        },
        Report {
            name: "utilization by department, a month",
            request: request("utilization", &["department"], "2026-06-01", "2026-06-30"),
        },
        Report {
            name: "profitability by project, a month",
            request: request("profitability", &["project"], "2026-06-01", "2026-06-30"),
        },
        Report {
            name: "invoiced revenue by month, the year",
            request: request("invoiced_revenue", &["month"], "2026-01-01", "2026-12-31"),
        },
    ]
}

/// Runs the bench on `store`; returns its section of the report.
async fn run(engine: &str, store: SharedFacts, target_ms: f64) -> Result<String> {
    let entries = env_number("BENCH_TIME_ENTRIES", 440_000)?;
    let batch = env_number("BENCH_BATCH", 50_000)? as usize;
    let runs = env_number("BENCH_REPORT_RUNS", 20)?;
    store.prepare().await?;
    let (stored, seconds) = ingest(&store, entries, batch).await?;
    let rate = stored as f64 / seconds;
    eprintln!("{engine}: {stored} facts in {seconds:.1} s ({rate:.0} facts/s)");
    let analytics = Analytics::new(
        store,
        Arc::new(erp_kit::cache::InProcessCache::new()),
        "bench",
    );
    let viewer = Viewer {
        tenant_id: TENANT.into(),
        scopes: vec![
            "analytics:read".into(),
            "finance:read".into(),
            "hr:admin".into(),
        ],
    };
    let mut body = format!(
        "## {engine}\n\n- ingestion: {stored} facts ({entries} time entries through the \
         consumer's handler, plus employees, projects, payroll costs, invoices) in {seconds:.1} s: \
         **{rate:.0} facts/s** (batches of {batch})\n\n| report | rows | latency |\n|---|---|---|\n"
    );
    for report in reports() {
        let mut latencies = Latencies::default();
        let mut rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let table = analytics
                .metric(&viewer, &report.request)
                .await
                .map_err(|err| anyhow!("{}: {err:?}", report.name))?;
            latencies.0.push(started.elapsed().as_micros() as u64);
            rows = table.rows.len();
        }
        latencies.sort();
        body.push_str(&format!(
            "| {} | {rows} | {}; p95 {:.1} ms: {} |\n",
            report.name,
            latencies.summary(),
            latencies.ms(0.95),
            verdict_max(latencies.ms(0.95), target_ms, "ms")
        ));
    }
    body.push('\n');
    Ok(body)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut body = String::from(
        "Tier-M-sized year (1,000 people, 50 projects, 2026), one tenant, in process (no HTTP, \
         no bus). The design's targets are over tier L (10,000 people): these figures are \
         smaller data. **Loaded machine**: run while other sessions built and tested on the \
         same 2 cores.\n\n",
    );
    body.push_str(if cfg!(debug_assertions) {
        "Build: **debug** (`--profile dev`): slower than a release build.\n\n"
    } else {
        "Build: release.\n\n"
    });
    let embedded = erp_analytics::embedded_store(None)?;
    body.push_str(&run("Embedded (DataFusion, in memory)", embedded, 300.0).await?);
    // The same store without its time-entry rollups: every report deduplicates the facts on
    // read (what the rollups replace; BENCH_EMBEDDED_RAW=0 skips it).
    if env_number("BENCH_EMBEDDED_RAW", 1)? != 0 {
        let raw: SharedFacts = Arc::new(
            erp_analytics::store::embedded::EmbeddedStore::open_raw(None)
                .map_err(|err| anyhow!("the embedded store: {err}"))?,
        );
        body.push_str(
            &run(
                "Embedded without rollups (dedupe on read: the path before rollups)",
                raw,
                300.0,
            )
            .await?,
        );
    }
    if let Some(url) = env_text("CLICKHOUSE_URL") {
        let store = || {
            let database = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            erp_analytics::store::clickhouse::ClickHouseStore::new(
                &erp_analytics::store::clickhouse::ClickHouseConfig {
                    url: url.clone(),
                    database,
                    user: None,
                    password: None,
                },
            )
        };
        body.push_str(&run("ClickHouse", Arc::new(store()), 100.0).await?);
        // The same without reading its time-entry rollup: every report reads `facts FINAL`
        // (the path before the rollup; BENCH_CLICKHOUSE_RAW=0 skips it).
        if env_number("BENCH_CLICKHOUSE_RAW", 1)? != 0 {
            body.push_str(
                &run(
                    "ClickHouse without rollups (facts FINAL: the path before rollups)",
                    Arc::new(store().reading_facts_only()),
                    100.0,
                )
                .await?,
            );
        }
    } else {
        body.push_str("## ClickHouse\n\nNot run: CLICKHOUSE_URL is not set.\n");
    }
    write_report(
        "analytics",
        "Analytics: ingestion and report latency",
        &machine(),
        &body,
    )?;
    Ok(())
}
