//! Finance through the router (issue 17), on real PostgreSQL + Redis (+ Kafka for the outbox
//! relay when KAFKA_BROKERS is set):
//!
//! 1. one journal entry of BENCH_JOURNAL_LINES lines (10,000) validated, numbered and posted:
//!    the request's wall time (target < 1 s);
//! 2. sustained posting: BENCH_POSTERS clients posting entries of BENCH_ENTRY_LINES lines
//!    (100) for BENCH_SECONDS across BENCH_JOURNALS journals (a journal's numbers are gapless:
//!    its postings queue on its sequence; separate series post in parallel): lines/s (target
//!    20,000 lines/s), with the trial balance checked zero after;
//! 3. single invoice posting at BENCH_INVOICE_RATE/s (500) for BENCH_INVOICE_SECONDS (10), open
//!    loop, latency from the scheduled time (no coordinated omission): p99 (target < 25 ms);
//! 4. one payment allocated across BENCH_ALLOCATIONS (1,000) open invoices: the request's wall
//!    time (target < 500 ms), every invoice paid after;
//! 5. trial balance and AR ageing, BENCH_REPORTS (50) times each: p95 (target < 100 ms over tier
//!    L's 12 months; here over the bench's own data: the seed has no finance tier yet).
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench finance
//! ```
//!
//! Environment: DATABASE_URL, REDIS_URL (required), KAFKA_BROKERS (optional), and the
//! BENCH_* settings above; BENCH_OUT (default bench-results/finance.md).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use futures::StreamExt;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

const SCOPES: &[&str] = &["finance:read", "finance:write", "finance:admin"];

const POST: &str = "mutation Post($input: PostJournalEntryInput!) { postJournalEntry(input: $input) { entry { number total { amount } } } }";
const POST_INVOICE: &str = "mutation PostInvoice($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { status reference } } }";
const CREATE_INVOICE: &str = "mutation Draft($input: CreateInvoiceInput!) { createInvoice(input: $input) { invoice { id } } }";

/// A report verdict measured on the bench's own data, not on tier L.
fn not_tier_l(verdict: String) -> String {
    verdict + " (not tier L)"
}

/// Keeps the first error of a phase.
fn remember(first: &Mutex<Option<String>>, error: String) {
    if let Ok(mut first) = first.lock() {
        first.get_or_insert(error);
    }
}

/// `"123.45"` for `cents`.
fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

/// An entry of `lines` lines: `lines - 1` debits of 1.00 to 12.99 over the debit accounts, one
/// credit balancing them.
fn entry(
    key: &str,
    journal: &str,
    date: &str,
    lines: usize,
    debit_accounts: &[String],
    credit: &str,
) -> Value {
    let mut rows = Vec::with_capacity(lines);
    let mut total = 0i64;
    for n in 0..lines.saturating_sub(1) {
        let cents = 100 + (n as i64 * 37) % 1200;
        total += cents;
        rows.push(json!({"accountId": debit_accounts[n % debit_accounts.len()], "debit": decimal(cents), "projectId": format!("prj-{}", n % 20)}));
    }
    rows.push(json!({"accountId": credit, "credit": decimal(total)}));
    json!({"input": {"idempotencyKey": key, "journalId": journal, "date": date, "currency": "EUR", "lines": rows}})
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let journal_lines = env_number("BENCH_JOURNAL_LINES", 10_000)?.max(2) as usize;
    let posters = env_number("BENCH_POSTERS", 16)?.max(1) as usize;
    let entry_lines = env_number("BENCH_ENTRY_LINES", 100)?.max(2) as usize;
    let journals = env_number("BENCH_JOURNALS", 4)?.max(1) as usize;
    let seconds = env_number("BENCH_SECONDS", 15)?.max(1);
    let invoice_rate = env_number("BENCH_INVOICE_RATE", 500)?.max(1) as f64;
    let invoice_seconds = env_number("BENCH_INVOICE_SECONDS", 10)?.max(1) as f64;
    let allocations = env_number("BENCH_ALLOCATIONS", 1000)?.max(1) as usize;
    let reports = env_number("BENCH_REPORTS", 50)?.max(1) as usize;
    let max_inflight = env_number("BENCH_MAX_INFLIGHT", 256)? as usize;
    let admin_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let kafka = std::env::var("KAFKA_BROKERS").ok();
    let machine = machine();

    let dir = std::env::temp_dir().join(format!("erp-bench-finance-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let signer = Signer::start().await?;
    let http = load_client(64)?;
    let database = common::fresh_postgres_database(&admin_url, "finance").await?;
    let kafka_env: Vec<(&str, &str)> = kafka
        .as_deref()
        .map(|brokers| ("KAFKA_BROKERS", brokers))
        .into_iter()
        .collect();
    let BehindRouter {
        subgraph,
        router,
        subgraph_url: finance_url,
        router_url: url,
        ..
    } = start_subgraph_behind_router(
        &http, &signer, &dir, "finance", &database, &redis_url, &kafka_env,
    )
    .await?;

    // Set-up (through the router too).
    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let token = signer.token(&tenant, "usr_accountant", SCOPES)?;
    let today = chrono::Utc::now().date_naive().to_string();
    let y = year();
    let settings = graphql(
        &http,
        &url,
        &token,
        "mutation($input: SetUpFinanceInput!) { setUpFinance(input: $input) { settings { defaultBankAccount { id } defaultIncomeAccount { id } defaultExpenseAccount { id } generalJournal { id } } } }",
        json!({"input": {"baseCurrency": "EUR", "taxRounding": "GLOBAL", "fiscalYear": {"name": y.to_string(), "startsOn": format!("{y}-01-01"), "endsOn": format!("{y}-12-31")}}}),
    )
    .await
    .map_err(|e| anyhow!("setUpFinance: {e}"))?;
    let settings = &settings["setUpFinance"]["settings"];
    let id = |key: &str| settings[key]["id"].as_str().unwrap_or_default().to_owned();
    let (bank, expense, general) = (
        id("defaultBankAccount"),
        id("defaultExpenseAccount"),
        id("generalJournal"),
    );
    let mut debit_accounts = vec![expense.clone()];
    for n in 0..7 {
        let data = graphql(
            &http,
            &url,
            &token,
            "mutation($input: CreateAccountInput!) { createAccount(input: $input) { account { id } } }",
            json!({"input": {"code": format!("61{n:02}"), "name": format!("Cost centre {n}"), "kind": "EXPENSE"}}),
        )
        .await
        .map_err(|e| anyhow!("createAccount: {e}"))?;
        debit_accounts.push(
            data["createAccount"]["account"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut journal_ids = Vec::new();
    for n in 0..journals {
        let data = graphql(
            &http,
            &url,
            &token,
            "mutation($input: CreateJournalInput!) { createJournal(input: $input) { journal { id } } }",
            json!({"input": {"code": format!("B{n}"), "name": format!("Bench {n}"), "kind": "GENERAL", "hashChain": true}}),
        )
        .await
        .map_err(|e| anyhow!("createJournal: {e}"))?;
        journal_ids.push(
            data["createJournal"]["journal"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }

    // 1. One big journal entry.
    eprintln!("1. one entry of {journal_lines} lines...");
    let big = entry(
        "big-1",
        &general,
        &today,
        journal_lines,
        &debit_accounts,
        &bank,
    );
    let started = Instant::now();
    let data = graphql(&http, &url, &token, POST, big)
        .await
        .map_err(|e| anyhow!("the {journal_lines}-line entry: {e}"))?;
    let big_ms = started.elapsed().as_secs_f64() * 1000.0;
    if data["postJournalEntry"]["entry"]["number"] != 1 {
        bail!("the big entry: {data}");
    }

    // 2. Sustained posting.
    eprintln!(
        "2. {posters} posters, {entry_lines}-line entries, {journals} journals, {seconds} s..."
    );
    let client = load_client(max_inflight)?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let posted_lines = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..posters {
        let (client, url, token, journal, accounts, bank, today) = (
            client.clone(),
            url.clone(),
            token.clone(),
            journal_ids[p % journal_ids.len()].clone(),
            debit_accounts.clone(),
            bank.clone(),
            today.clone(),
        );
        let (posted_lines, failed, first_error) =
            (posted_lines.clone(), failed.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let input = entry(
                    &format!("s-{p}-{n}"),
                    &journal,
                    &today,
                    entry_lines,
                    &accounts,
                    &bank,
                );
                match graphql(&client, &url, &token, POST, input).await {
                    Ok(_) => {
                        posted_lines.fetch_add(entry_lines as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        remember(&first_error, e);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let sustained_seconds = started.elapsed().as_secs_f64();
    let sustained_lines = posted_lines.load(Ordering::Relaxed);
    let lines_per_second = sustained_lines as f64 / sustained_seconds;
    let sustained_failed = failed.load(Ordering::Relaxed);

    // 3. Invoice posting at a fixed rate: drafts first (straight on the subgraph), then the
    // postings through the router.
    let count = (invoice_rate * invoice_seconds) as usize;
    // Customer 0 holds every `customers`-th invoice: enough of them for step 4's allocations.
    let customers = (count / allocations).clamp(1, 10);
    let mut customer_ids = Vec::new();
    for c in 0..customers {
        let data = graphql(
            &http,
            &finance_url,
            &token,
            "mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id } } }",
            json!({"input": {"kind": "CUSTOMER", "name": format!("Customer {c}")}}),
        )
        .await
        .map_err(|e| anyhow!("createPartner: {e}"))?;
        customer_ids.push(
            data["createPartner"]["partner"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    eprintln!("3. {count} draft invoices, then posted at {invoice_rate}/s...");
    let drafts: Vec<Result<String>> = futures::stream::iter(0..count)
        .map(|i| {
            let (http, finance_url, token, customer, today) =
                (&http, &finance_url, &token, customer_ids[i % customers].clone(), &today);
            async move {
                let data = graphql(
                    http,
                    finance_url,
                    token,
                    CREATE_INVOICE,
                    json!({"input": {"partnerId": customer, "date": today, "currency": "EUR", "projectId": format!("prj-{}", i % 20),
                        "lines": [{"description": "Consulting", "quantity": "8", "unitPrice": "95.00"}, {"description": "Travel", "quantity": "1", "unitPrice": "42.50"}]}}),
                )
                .await
                .map_err(|e| anyhow!("createInvoice: {e}"))?;
                Ok(data["createInvoice"]["invoice"]["id"].as_str().unwrap_or_default().to_owned())
            }
        })
        .buffered(16)
        .collect()
        .await;
    let drafts: Vec<String> = drafts.into_iter().collect::<Result<_>>()?;
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let invoice_failed = Arc::new(AtomicU64::new(0));
    let inflight = Arc::new(tokio::sync::Semaphore::new(max_inflight));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, draft) in drafts.iter().enumerate() {
        let due = started + Duration::from_secs_f64(n as f64 / invoice_rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            break;
        };
        let (client, url, token, draft, latencies, invoice_failed, first_error) = (
            client.clone(),
            url.clone(),
            token.clone(),
            draft.clone(),
            latencies.clone(),
            invoice_failed.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let result = graphql(
                &client,
                &url,
                &token,
                POST_INVOICE,
                json!({"input": {"idempotencyKey": format!("inv-{draft}"), "invoiceId": draft}}),
            )
            .await;
            drop(permit);
            let micros = due.elapsed().as_micros() as u64;
            match result {
                Ok(data) if data["postInvoice"]["invoice"]["status"] == "POSTED" => {
                    latencies.lock().map(|mut l| l.0.push(micros)).ok();
                }
                Ok(data) => {
                    invoice_failed.fetch_add(1, Ordering::Relaxed);
                    remember(&first_error, format!("unexpected: {data}"));
                }
                Err(e) => {
                    invoice_failed.fetch_add(1, Ordering::Relaxed);
                    remember(&first_error, e);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let invoice_seconds_taken = started.elapsed().as_secs_f64();
    let mut invoice_latency =
        std::mem::take(&mut *latencies.lock().map_err(|_| anyhow!("poisoned"))?);
    invoice_latency.sort();
    let invoice_failed = invoice_failed.load(Ordering::Relaxed);

    // 4. One payment across `allocations` open invoices of one customer (each 802.50).
    let customer = customer_ids[0].clone();
    let open: Vec<String> = drafts
        .iter()
        .enumerate()
        .filter(|(i, _)| i % customers == 0)
        .map(|(_, id)| id.clone())
        .take(allocations)
        .collect();
    let allocated = open.len();
    eprintln!("4. one payment allocated across {allocated} invoices...");
    let rows: Vec<Value> = open
        .iter()
        .map(|id| json!({"invoiceId": id, "amount": "802.50"}))
        .collect();
    let started = Instant::now();
    let data = graphql(
        &client,
        &url,
        &token,
        "mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment { allocated { amount } unallocated { amount } } } }",
        json!({"input": {"idempotencyKey": "pay-all", "direction": "INBOUND", "partnerId": customer, "date": today, "currency": "EUR",
            "amount": decimal(80_250 * allocated as i64), "allocations": rows}}),
    )
    .await
    .map_err(|e| anyhow!("recordPayment: {e}"))?;
    let payment_ms = started.elapsed().as_secs_f64() * 1000.0;
    if data["recordPayment"]["payment"]["unallocated"]["amount"] != "0.00" {
        bail!("the payment: {data}");
    }

    // 5. Reports.
    eprintln!("5. trial balance and AR ageing, {reports} times each...");
    let mut trial = Latencies::default();
    let mut ageing = Latencies::default();
    let mut balanced = true;
    for _ in 0..reports {
        let started = Instant::now();
        let data = graphql(
            &client,
            &url,
            &token,
            "query($to: Date!) { trialBalance(to: $to) { balanced totalDebit { amount } } }",
            json!({"to": format!("{y}-12-31")}),
        )
        .await
        .map_err(|e| anyhow!("trialBalance: {e}"))?;
        trial.0.push(started.elapsed().as_micros() as u64);
        balanced &= data["trialBalance"]["balanced"] == true;
        let started = Instant::now();
        graphql(&client, &url, &token, "query($d: Date!) { agedReceivables(asOf: $d) { total { amount } partners { total { amount } } } }", json!({"d": today}))
            .await
            .map_err(|e| anyhow!("agedReceivables: {e}"))?;
        ageing.0.push(started.elapsed().as_micros() as u64);
    }
    trial.sort();
    ageing.sort();
    let db = sea_orm::Database::connect(&database).await?;
    let count_of = |table: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await?
                .ok_or_else(|| anyhow!("no count"))?;
            Ok::<i64, anyhow::Error>(row.try_get::<i64>("", "n")?)
        }
    };
    let (entries, lines, documents) = (
        count_of("finance_entries").await?,
        count_of("finance_entry_lines").await?,
        count_of("finance_documents").await?,
    );
    drop(router);
    drop(subgraph);

    let error = first_error
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .unwrap_or_else(|| "none".into());
    let body = format!(
        "Through the router (`erp-os router`) in front of `erp-os finance` on PostgreSQL{kafka}, both release builds on this machine; one tenant.\n\n\
         | measure | result | target | verdict |\n|---|---|---|---|\n\
         | one {journal_lines}-line journal entry validated, numbered, posted | {big_ms:.0} ms | < 1,000 ms | {v1} |\n\
         | sustained posting ({posters} clients, {entry_lines}-line entries, {journals} journals, {sustained_seconds:.1} s) | {lines_per_second:.0} lines/s ({sustained_lines} lines, {sustained_failed} failed) | 20,000 lines/s | {v2} |\n\
         | single invoice posting at {invoice_rate}/s for {invoice_seconds}s (open loop, {taken:.1} s to drain) | {inv_summary}; {invoice_failed} failed | p99 < 25 ms | {v3} |\n\
         | one payment allocated across {allocated} open invoices | {payment_ms:.0} ms | < 500 ms | {v4} |\n\
         | trial balance ({reports} runs) | {trial_summary}; p95 {trial95:.1} ms; balanced: {balanced} | p95 < 100 ms on tier L | {v5} |\n\
         | AR ageing ({reports} runs) | {ageing_summary}; p95 {ageing95:.1} ms | p95 < 100 ms on tier L | {v6} |\n\n\
         Data at the end: {entries} journal entries, {lines} ledger lines, {documents} invoices. The report targets are for tier L's 12 months \
         (about 5 M lines); the seed has no finance tier yet, so they ran over this bench's own data only (not comparable).\n\n\
         First error: {error}\n",
        kafka = if kafka.is_some() { " with Kafka for the outbox" } else { "" },
        v1 = verdict_max(big_ms, 1000.0, "ms"),
        v2 = verdict_min(lines_per_second, 20_000.0, "lines/s"),
        taken = invoice_seconds_taken,
        inv_summary = invoice_latency.summary(),
        v3 = verdict_max(invoice_latency.ms(0.99), 25.0, "ms"),
        v4 = verdict_max(payment_ms, 500.0, "ms"),
        trial_summary = trial.summary(),
        trial95 = trial.ms(0.95),
        v5 = not_tier_l(verdict_max(trial.ms(0.95), 100.0, "ms")),
        ageing_summary = ageing.summary(),
        ageing95 = ageing.ms(0.95),
        v6 = not_tier_l(verdict_max(ageing.ms(0.95), 100.0, "ms")),
    );
    println!("{body}");
    write_report(
        "finance",
        "Finance: posting, invoices, payments, reports (issue 17)",
        &machine,
        &body,
    )?;
    Ok(())
}
