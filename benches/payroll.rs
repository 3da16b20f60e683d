//! Payroll for BENCH_EMPLOYEES (10,000: tier L's headcount) employees through the router
//! (issue 18), on real PostgreSQL + Redis (+ Kafka for the outbox relay when KAFKA_BROKERS is
//! set): calculate + approve + post (one summarised entry) + pay (the pain.001 bank file), with
//! the `payrollRunProgress` subscription open through the router's WebSocket the whole time.
//! Target: < 10 s end to end.
//!
//! The employees' pay facts are loaded first, untimed, through finance's own event handler (what
//! its consumer does with `employee.compensation_changed`: open the pay sealed in transit,
//! re-seal it under finance's keys) and the assignment use case, in the same database as the
//! `erp-os finance` process the router talks to.
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench payroll
//! ```
//!
//! Environment: DATABASE_URL, REDIS_URL (required), KAFKA_BROKERS (optional), BENCH_EMPLOYEES,
//! BENCH_OUT (default bench-results/payroll.md).
//!
//! `BENCH_MODE=close-attendance` measures instead what feeds payroll its overtime: HR's
//! `closeAttendancePeriods` of last month for the whole company (BENCH_EMPLOYEES people,
//! default 500: tier M's headcount), through the router in front of `erp-os employee`, each
//! person with a check-in and a check-out on every weekday of the month (imported untimed as
//! the seed imports its history). One call closes every employee-month in one transaction, one
//! `attendance.period_closed` each through the outbox.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;
use erp_kit::crypto::{seal_in_transit, LocalKek};
use erp_kit::events::{EventEnvelope, Outbox};
use erp_kit::TenantId;
use futures::StreamExt;
use serde_json::{json, Value};

const SCOPES: &[&str] = &[
    "finance:read",
    "finance:write",
    "finance:admin",
    "payroll:read",
    "payroll:admin",
];

const RUN: &str = "run { id state slipCount failedCount entryId paymentEntryId }";

fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

/// `"123.45"` for `cents`.
fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// "123.45" as cents.
fn cents(text: &str) -> Result<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    Ok(whole.parse::<i64>()? * 100 + format!("{fraction:0<2}")[..2].parse::<i64>()?)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    if env_text("BENCH_MODE").as_deref() == Some("close-attendance") {
        return close_attendance().await;
    }
    let employees = env_number("BENCH_EMPLOYEES", 10_000)?.max(1) as usize;
    let admin_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let kafka = std::env::var("KAFKA_BROKERS").ok();
    let machine = machine();

    let dir = std::env::temp_dir().join(format!("erp-bench-payroll-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kek_file = dir.join("kek.key");
    let kek = LocalKek::load_or_create(&kek_file)?;
    let signer = Signer::start().await?;
    let http = load_client(64)?;
    let database = common::fresh_postgres_database(&admin_url, "payroll").await?;
    let finance_port = free_port()?;
    let mut command = base_command(&erp_os_binary(), &signer);
    command
        .arg("finance")
        .env("DATABASE_URL", &database)
        .env("REDIS_URL", &redis_url)
        .env("ERP_KEK_FILE", &kek_file)
        .env("ERP_BIND", format!("127.0.0.1:{finance_port}"));
    if let Some(brokers) = &kafka {
        command.env("KAFKA_BROKERS", brokers);
    }
    let mut subgraph = Service::start("finance", &mut command, &dir)?;
    subgraph
        .wait_ready(&http, &format!("http://127.0.0.1:{finance_port}/ready"))
        .await?;
    let finance_url = format!("http://127.0.0.1:{finance_port}/graphql");
    let router_port = free_port()?;
    let closed = "http://127.0.0.1:9/graphql";
    let _router = start_router_with(
        &http,
        &signer,
        &dir,
        router_port,
        &[
            ("ERP_EMPLOYEE_URL", closed),
            ("ERP_PMO_URL", closed),
            ("ERP_IDENTITY_URL", closed),
            ("ERP_FINANCE_URL", &finance_url),
        ],
        Some(&redis_url),
    )
    .await?;
    let url = format!("http://127.0.0.1:{router_port}/graphql");
    let ws_url = format!("ws://127.0.0.1:{router_port}/graphql");

    // Set-up through the router.
    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let token = signer.token(&tenant, "usr_payroll", SCOPES)?;
    let y = year();
    let call = |query: &'static str, variables: Value| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            graphql(&http, &url, &token, query, variables)
                .await
                .map_err(|e| anyhow!("{e}"))
        }
    };
    call(
        "mutation($input: SetUpFinanceInput!) { setUpFinance(input: $input) { settings { baseCurrency } } }",
        json!({"input": {"baseCurrency": "EUR", "taxRounding": "GLOBAL", "fiscalYear": {"name": y.to_string(), "startsOn": format!("{y}-01-01"), "endsOn": format!("{y}-12-31")}}}),
    )
    .await?;
    let mut accounts = std::collections::HashMap::new();
    for (code, name, kind) in [
        ("6100", "Salaries", "EXPENSE"),
        ("2400", "Pension payable", "LIABILITY"),
        ("2500", "Income tax withheld", "LIABILITY"),
    ] {
        let data = call(
            "mutation($input: CreateAccountInput!) { createAccount(input: $input) { account { id } } }",
            json!({"input": {"code": code, "name": name, "kind": kind}}),
        )
        .await?;
        accounts.insert(
            code,
            data["createAccount"]["account"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut components = Vec::new();
    for input in [
        json!({"code": "BASIC", "name": "Basic", "kind": "EARNING", "rule": "FORMULA", "formula": "base * days_worked / days_in_period", "accountId": accounts["6100"]}),
        json!({"code": "HRA", "name": "Housing", "kind": "EARNING", "rule": "PERCENT", "percent": "40", "percentOf": "BASIC", "accountId": accounts["6100"]}),
        json!({"code": "TRAVEL", "name": "Travel", "kind": "EARNING", "rule": "FIXED", "amount": "150.00", "accountId": accounts["6100"]}),
        json!({"code": "PENSION", "name": "Pension", "kind": "DEDUCTION", "rule": "PERCENT", "percent": "12", "percentOf": "BASIC", "accountId": accounts["2400"]}),
        json!({"code": "TAX", "name": "Income tax", "kind": "DEDUCTION", "rule": "INCOME_TAX", "accountId": accounts["2500"]}),
    ] {
        let data = call(
            "mutation($input: CreateSalaryComponentInput!) { createSalaryComponent(input: $input) { component { id } } }",
            json!({ "input": input }),
        )
        .await?;
        components.push(
            data["createSalaryComponent"]["component"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let structure = call(
        "mutation($input: CreateSalaryStructureInput!) { createSalaryStructure(input: $input) { structure { id } } }",
        json!({"input": {"code": "STD", "name": "Standard", "componentIds": components}}),
    )
    .await?["createSalaryStructure"]["structure"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call(
        "mutation($input: SetTaxSlabsInput!) { setTaxSlabs(input: $input) { slabs { rate } } }",
        json!({"input": {"fiscalYear": y.to_string(), "slabs": [{"from": "0", "rate": "0"}, {"from": "12000.00", "rate": "20"}, {"from": "60000.00", "rate": "35"}]}}),
    )
    .await?;

    // The employees' pay facts, untimed: finance's own consumer path, 16 at a time.
    eprintln!("loading {employees} employees' pay facts...");
    let db = erp_kit::db::connect(&database).await?;
    let cache: erp_kit::cache::SharedCache = Arc::new(erp_kit::cache::InProcessCache::new());
    let loader = erp_finance::Finance::new(
        db.clone(),
        Outbox::new("finance"),
        Arc::new(LocalKek::load_or_create(&kek_file)?),
        cache,
    );
    let actor = erp_finance::app::Actor {
        tenant: TenantId::from_claim(&tenant),
        user_id: "usr_loader".into(),
        finance_admin: true,
    };
    let loaded_at = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(0..employees)
        .map(|n| {
            let (loader, kek, tenant, actor, structure) =
                (&loader, &kek, &tenant, &actor, &structure);
            async move {
                let employee = format!("emp-{n:06}");
                // 30,000.00 to 129,999.00 a year.
                let salary = decimal(3_000_000 + (n as i64 * 7_919) % 10_000_000);
                let sealed = seal_in_transit(
                    kek,
                    &format!("employee.compensation_changed|{tenant}|{employee}"),
                    &json!({"salary": salary, "currency": "EUR", "bank_account": format!("DE{:02}{:018}", n % 97, n), "tax_id": format!("TX{n:08}")}).to_string(),
                )
                .await
                .map_err(|e| anyhow!("{e:?}"))?;
                let event = EventEnvelope::new(
                    &TenantId::from_claim(tenant),
                    "employee.compensation_changed",
                    &employee,
                    json!({"employee_id": employee, "currency": "EUR", "sealed_for_payroll": sealed}),
                )?;
                loader
                    .apply_payroll_event(&event)
                    .await
                    .map_err(|e| anyhow!("{e:?}"))?;
                loader
                    .assign_salary_structure(
                        actor,
                        &employee,
                        structure,
                        chrono::NaiveDate::from_ymd_opt(y - 1, 1, 1).unwrap_or_default(),
                    )
                    .await
                    .map_err(|e| anyhow!("{e:?}"))?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        bail!("loading: {e}");
    }
    let load_seconds = loaded_at.elapsed().as_secs_f64();

    // The timed part, through the router, with the progress subscription open.
    let period = format!("{y}-01");
    let run = call(
        "mutation($input: CreatePayrollRunInput!) { createPayrollRun(input: $input) { run { id } } }",
        json!({"input": {"period": period}}),
    )
    .await?["createPayrollRun"]["run"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut socket = subscribe(
        &ws_url,
        &token,
        "subscription($id: ID!) { payrollRunProgress(runId: $id) { phase total done failed remainingMilliseconds } }",
        json!({"id": run}),
    )
    .await?;
    let first = next_json(&mut socket, Duration::from_secs(30)).await?;
    if first["payload"]["data"]["payrollRunProgress"]["phase"] != "draft" {
        bail!("the subscription's first event: {first}");
    }
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(f64, Value)> = Vec::new();
        let started = Instant::now();
        while let Ok(message) = next_json(&mut socket, Duration::from_secs(120)).await {
            let event = message["payload"]["data"]["payrollRunProgress"].clone();
            let done = event["phase"] == "paid";
            seen.push((started.elapsed().as_secs_f64() * 1000.0, event));
            if done {
                break;
            }
        }
        seen
    });

    eprintln!("calculate, approve, post, pay...");
    let started = Instant::now();
    let step = async |query: &'static str, variables: Value| -> Result<(Value, f64)> {
        let at = Instant::now();
        let data = call(query, variables).await?;
        Ok((data, at.elapsed().as_secs_f64() * 1000.0))
    };
    let (calculated, calculate_ms) = step(
        "mutation($input: PayrollRunInput!) { calculatePayrollRun(input: $input) { run { id state slipCount failedCount } } }",
        json!({"input": {"runId": run}}),
    )
    .await?;
    let (_, approve_ms) = step(
        "mutation($input: PayrollRunInput!) { approvePayrollRun(input: $input) { run { state } } }",
        json!({"input": {"runId": run}}),
    )
    .await?;
    let (posted, post_ms) = step(
        "mutation($input: PayrollRunStepInput!) { postPayrollRun(input: $input) { run { id state slipCount failedCount entryId paymentEntryId } } }",
        json!({"input": {"idempotencyKey": "bench-post", "runId": run}}),
    )
    .await?;
    let (paid, pay_ms) = step(
        "mutation($input: PayPayrollRunInput!) { payPayrollRun(input: $input) { run { id state slipCount failedCount entryId paymentEntryId } } }",
        json!({"input": {"idempotencyKey": "bench-pay", "runId": run, "format": "PAIN001"}}),
    )
    .await?;
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _ = RUN;

    // Checks: every slip, Σ nets = the bank file's control sum = the payroll-payable credit.
    let slips = calculated["calculatePayrollRun"]["run"]["slipCount"]
        .as_i64()
        .unwrap_or(0);
    let failed = calculated["calculatePayrollRun"]["run"]["failedCount"]
        .as_i64()
        .unwrap_or(-1);
    if paid["payPayrollRun"]["run"]["state"] != "PAID" {
        bail!("not paid: {paid}");
    }
    let (file, download_ms) = step(
        "query($id: ID!) { payrollRun(id: $id) { totals { net { amount } } bankFile { content } } }",
        json!({"id": run}),
    )
    .await?;
    let net = file["payrollRun"]["totals"]["net"]["amount"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let content = file["payrollRun"]["bankFile"]["content"]
        .as_str()
        .unwrap_or_default();
    let control_sum = content
        .split("<CtrlSum>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_default()
        .to_owned();
    let transfers: i64 = content
        .split("<InstdAmt Ccy=\"EUR\">")
        .skip(1)
        .map(|rest| cents(rest.split('<').next().unwrap_or("0")).unwrap_or(0))
        .sum();
    let entry = call(
        "query($id: ID!) { journalEntry(id: $id) { lines { account { code } credit { amount } } } }",
        json!({"id": posted["postPayrollRun"]["run"]["entryId"]}),
    )
    .await?;
    let payable = entry["journalEntry"]["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["account"]["code"] == "2300")
        .and_then(|l| l["credit"]["amount"].as_str())
        .unwrap_or_default()
        .to_owned();
    let line_count = entry["journalEntry"]["lines"]
        .as_array()
        .map(|l| l.len())
        .unwrap_or(0);
    let invariant = net == control_sum && net == payable && cents(&net)? == transfers;
    let progress = watcher.await.unwrap_or_default();
    let phases: Vec<String> = progress
        .iter()
        .map(|(ms, e)| {
            format!(
                "{:.0} ms {} {}/{}",
                ms,
                e["phase"].as_str().unwrap_or("?"),
                e["done"],
                e["total"]
            )
        })
        .collect();

    let body = format!(
        "Through the router (`erp-os router`) in front of `erp-os finance` on PostgreSQL{kafka}, {build} on this machine; one tenant of {employees} employees (one structure of five components: a formula, two percentages, a fixed amount, income tax by three slabs). The pay facts were loaded first through finance's own consumer path in {load_seconds:.1} s (untimed). The `payrollRunProgress` subscription was open through the router's WebSocket for the whole run.\n\n\
| step | wall time |\n|---|---|\n\
| calculate ({slips} slips, {failed} failed: decrypt, compute, seal, multi-row insert) | {calculate_ms:.0} ms |\n\
| approve | {approve_ms:.0} ms |\n\
| post (one entry of {line_count} lines, {slips} payslip events in the outbox) | {post_ms:.0} ms |\n\
| pay (pain.001 of {slips} transfers, sealed; the payment entry) | {pay_ms:.0} ms |\n\
| **calculate + approve + post + pay** | **{total_ms:.0} ms** |\n\
| (reading the bank file back: {bytes} bytes) | {download_ms:.0} ms |\n\n\
| measure | result | target | verdict |\n|---|---|---|---|\n\
| {employees} payslips end to end | {total_ms:.0} ms ({rate:.0} slips/s) | < 10,000 ms | {verdict} |\n\
| Σ net = bank file control sum = payroll-payable credit | {net} = {control_sum} = {payable} (Σ transfers {transfers_text}) | equal | {invariant} |\n\n\
Progress events received: {events} ({phase_list}).\n",
        kafka = if kafka.is_some() { " with Kafka for the outbox" } else { "" },
        build = if cfg!(debug_assertions) {
            "both unoptimised debug builds (`cargo bench --profile dev`)"
        } else {
            "both release builds"
        },
        bytes = content.len(),
        rate = slips as f64 / (total_ms / 1000.0),
        verdict = verdict_max(total_ms, 10_000.0, "ms"),
        transfers_text = decimal(transfers),
        invariant = if invariant { "holds" } else { "BROKEN" },
        events = progress.len(),
        phase_list = phases.join("; "),
    );
    write_report(
        "payroll",
        "Payroll: 10,000 payslips calculated, approved, posted and paid (issue 18)",
        &machine,
        &body,
    )?;
    eprintln!("{body}");
    drop(subgraph);
    if !invariant || slips as usize != employees {
        bail!("payroll invariants broken: {slips} slips, {net} / {control_sum} / {payable}");
    }
    Ok(())
}

/// `BENCH_MODE=close-attendance`: the company's bulk close of last month (see the module
/// comment).
async fn close_attendance() -> Result<()> {
    use chrono::{Datelike, NaiveDate, Weekday};
    use erp_employee::app::import::{HistoricPunch, PersonImport};
    use erp_employee::domain::attendance::PunchKind;
    use erp_employee::domain::{DisplayName, EmployeeNumber, NewHire};
    use erp_kit::types::EmailAddress;

    let employees = env_number("BENCH_EMPLOYEES", 500)?.max(1) as usize;
    let admin_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;
    let machine = machine();
    let dir = std::env::temp_dir().join(format!("erp-bench-close-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kek_file = dir.join("kek.key");
    let kek = Arc::new(LocalKek::load_or_create(&kek_file)?);
    let signer = Signer::start().await?;
    let http = load_client(8)?;
    let database = common::fresh_postgres_database(&admin_url, "close_attendance").await?;
    let employee_port = free_port()?;
    let mut command = base_command(&erp_os_binary(), &signer);
    command
        .arg("employee")
        .env("DATABASE_URL", &database)
        .env("REDIS_URL", &redis_url)
        .env("ERP_KEK_FILE", &kek_file)
        .env("ERP_BIND", format!("127.0.0.1:{employee_port}"));
    let mut subgraph = Service::start("employee", &mut command, &dir)?;
    subgraph
        .wait_ready(&http, &format!("http://127.0.0.1:{employee_port}/ready"))
        .await?;
    let employee_url = format!("http://127.0.0.1:{employee_port}/graphql");
    let router_port = free_port()?;
    let closed = "http://127.0.0.1:9/graphql";
    let _router = start_router_with(
        &http,
        &signer,
        &dir,
        router_port,
        &[
            ("ERP_EMPLOYEE_URL", &employee_url),
            ("ERP_PMO_URL", closed),
            ("ERP_IDENTITY_URL", closed),
            ("ERP_FINANCE_URL", closed),
        ],
        Some(&redis_url),
    )
    .await?;
    let url = format!("http://127.0.0.1:{router_port}/graphql");
    let tenant = format!(
        "tnt_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let t = TenantId::from_claim(&tenant);

    // The people and their month of punches, untimed, in the employee subgraph's own database.
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    let first = this_month
        .pred_opt()
        .and_then(|d| d.with_day(1))
        .ok_or_else(|| anyhow!("no last month"))?;
    let period = format!("{:04}-{:02}", first.year(), first.month());
    let weekdays: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d < this_month)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect();
    eprintln!(
        "importing {employees} people and {} punches...",
        employees * weekdays.len() * 2
    );
    let loaded_at = Instant::now();
    let db = erp_kit::db::connect(&database).await?;
    let cache: erp_kit::cache::SharedCache = Arc::new(erp_kit::cache::InProcessCache::new());
    let loader = erp_employee::Employee::new(
        db.clone(),
        Outbox::new("employee"),
        erp_kit::crypto::FieldCipher::new(db.clone(), "employee", kek),
        cache,
    );
    let hired_on = first - chrono::Duration::days(400);
    let ids: Vec<Result<String>> = futures::stream::iter(0..employees)
        .map(|n| {
            let (loader, t) = (&loader, &t);
            async move {
                let bad = |e: erp_kit::ApiError| anyhow!("{e:?}");
                let hire = NewHire {
                    employee_number: EmployeeNumber::parse("n", &format!("C-{n:05}"))
                        .map_err(bad)?,
                    display_name: DisplayName::parse("d", &format!("Person {n}")).map_err(bad)?,
                    work_email: EmailAddress::parse("e", &format!("p{n}@bench.example"))
                        .map_err(bad)?,
                    personal_email: None,
                    date_of_birth: None,
                    title: None,
                    department_id: None,
                    manager_id: None,
                    user_id: None,
                    hired_on,
                };
                let person = loader
                    .import_person(
                        t,
                        "usr_loader",
                        PersonImport {
                            hire,
                            compensation: None,
                        },
                        None,
                    )
                    .await
                    .map_err(bad)?;
                Ok(person.employee_id)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let ids: Vec<String> = ids.into_iter().collect::<Result<_>>()?;
    // 08:30 to 18:00 UTC on every weekday: 9 h 30 min, 90 minutes over the 8-hour day of
    // someone without a shift.
    let mut punches = Vec::with_capacity(ids.len() * weekdays.len() * 2);
    for (n, id) in ids.iter().enumerate() {
        for day in &weekdays {
            for (kind, hour, minute) in [(PunchKind::In, 8, 30), (PunchKind::Out, 18, 0)] {
                let at = day
                    .and_hms_opt(hour, minute, 0)
                    .map(|t| t.and_utc().timestamp_millis())
                    .unwrap_or_default();
                punches.push(HistoricPunch {
                    id: uuid::Uuid::now_v7().to_string(),
                    employee_id: id.clone(),
                    kind,
                    at,
                    day: *day,
                    source: "bench".into(),
                    point: None,
                    location_id: None,
                    punch_key: format!("bench:{n}:{day}:{}", kind.as_str()),
                });
            }
        }
    }
    let punch_count = punches.len();
    let mut remaining = punches.into_iter().peekable();
    while remaining.peek().is_some() {
        let chunk: Vec<HistoricPunch> = remaining.by_ref().take(10_000).collect();
        loader
            .import_punches(&t, chunk)
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    let load_seconds = loaded_at.elapsed().as_secs_f64();

    // The timed call, through the router.
    let token = signer.token(&tenant, "usr_hr", &["employee:read", "hr:admin"])?;
    let started = Instant::now();
    let data = graphql(
        &http,
        &url,
        &token,
        "mutation($i: CloseAttendancePeriodsInput!) { closeAttendancePeriods(input: $i) { closed { employeeId overtimeMinutes } skipped { employeeId } } }",
        json!({"i": {"period": period}}),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let close_ms = started.elapsed().as_secs_f64() * 1000.0;
    let closed = data["closeAttendancePeriods"]["closed"]
        .as_array()
        .map(|c| c.len())
        .unwrap_or(0);
    let overtime: i64 = data["closeAttendancePeriods"]["closed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["overtimeMinutes"].as_i64())
        .sum();
    let expected_overtime = (employees * weekdays.len()) as i64 * 90;
    // A rerun closes nothing (each skipped, closed already).
    let started = Instant::now();
    let again = graphql(
        &http,
        &url,
        &token,
        "mutation($i: CloseAttendancePeriodsInput!) { closeAttendancePeriods(input: $i) { closed { employeeId } skipped { employeeId } } }",
        json!({"i": {"period": period}}),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let rerun_ms = started.elapsed().as_secs_f64() * 1000.0;
    let skipped_again = again["closeAttendancePeriods"]["skipped"]
        .as_array()
        .map(|c| c.len())
        .unwrap_or(0);
    let holds = closed == employees && overtime == expected_overtime && skipped_again == employees;

    let body = format!(
        "`BENCH_MODE=close-attendance`: through the router (`erp-os router`) in front of `erp-os employee` on PostgreSQL, {build} on this machine; one tenant of {employees} employees without a shift, each with a check-in (08:30) and a check-out (18:00 UTC) on each of last month's {days} weekdays ({punch_count} punches, imported untimed with the people in {load_seconds:.1} s).\n\n\
| step | wall time |\n|---|---|\n\
| `closeAttendancePeriods` of {period} for the company: {closed} employee-months closed (each day computed, one `attendance.period_closed` each, one transaction) | {close_ms:.0} ms ({per_person:.2} ms a person) |\n\
| the same again: {skipped_again} skipped as closed already | {rerun_ms:.0} ms |\n\n\
| check | result |\n|---|---|\n\
| closed = employees, overtime = {employees} x {days} days x 90 min ({expected_overtime}), rerun skips everyone | {verdict} (closed {closed}, overtime {overtime}) |\n",
        build = if cfg!(debug_assertions) {
            "both unoptimised debug builds (`cargo bench --profile dev`)"
        } else {
            "both release builds"
        },
        days = weekdays.len(),
        per_person = close_ms / employees as f64,
        verdict = if holds { "holds" } else { "BROKEN" },
    );
    write_report(
        "payroll-close-attendance",
        "Closing a month of attendance for the whole company (issue 18)",
        &machine,
        &body,
    )?;
    eprintln!("{body}");
    drop(subgraph);
    if !holds {
        bail!("close-attendance checks broken: {closed} closed, {overtime} min, {skipped_again} skipped again");
    }
    Ok(())
}
