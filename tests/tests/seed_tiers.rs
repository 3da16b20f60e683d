//! `erp-os seed` at tier M, through the same bulk path tier L takes (batched punches, the PMO
//! store's import of tasks and time entries), into the embedded stores of a state directory
//! (SQLite files, the PMO journal) and into the real services (PostgreSQL, MongoDB =
//! SecantusDB): exact counts against the plan, a repeated load (`--resume`) that writes nothing
//! twice, a partial PMO history (`--pmo-history-days`) completed by a resume, and what the PMO
//! subgraph's GraphQL API answers: a person's timesheet of a seeded week is the plan's entries,
//! a task is the plan's task, every week with time has its timesheet. Tier L itself is a
//! measurement (bench-results/seed-tier-l.md), not a test.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use erp_pmo::domain::timesheet::IsoWeek;
use erp_pmo::store::{SharedStore, TaskFilter, TimeEntryFilter, TimesheetFilter};
use erp_seed::{PlannedTimeEntry, SeedPlan, Tier};
use erp_tests::pmo::{fresh_mongo_url, PmoApp};
use erp_tests::supergraph::{erp_os_binary, fresh_dir};
use erp_tests::{fresh_postgres, require_env, TestIssuer};

const SEED: u64 = 11;
const ADMIN_PASSWORD: &str = "seed tier admin password 1234";

fn until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

/// The plan `erp-os seed --tier M --seed 11 --until 2026-03-02` writes (its default tenant name
/// and mail domain).
fn plan() -> SeedPlan {
    SeedPlan::new(Tier::M, SEED, "Seed M 11", "seedm11.example", until())
}

/// What one `erp-os seed` run printed: the tenant and, per phase, (written, existing).
struct SeedRun {
    tenant_id: String,
    phases: HashMap<String, (usize, usize)>,
    stdout: String,
}

impl SeedRun {
    fn phase(&self, name: &str) -> (usize, usize) {
        *self
            .phases
            .get(name)
            .unwrap_or_else(|| panic!("no phase {name} in:\n{}", self.stdout))
    }
}

fn run_seed(extra: &[&str], env: &[(&str, &str)]) -> SeedRun {
    run_seed_tier("M", extra, env)
}

fn run_seed_tier(tier: &str, extra: &[&str], env: &[(&str, &str)]) -> SeedRun {
    let mut command = Command::new(erp_os_binary());
    command
        .args(["seed", "--tier", tier, "--seed", &SEED.to_string()])
        .args(["--until", &until().to_string()])
        .args(extra)
        .env("ERP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("cannot run erp-os seed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "erp-os seed {extra:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tenant_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tenant "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no tenant line in:\n{stdout}"))
        .to_owned();
    // "  <phase name>   <written> <existing> <seconds> <rows/s>"
    let mut phases = HashMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("  ")) {
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 {
            continue;
        }
        let numbers = fields.split_off(fields.len() - 4);
        if let (Ok(written), Ok(existing)) = (numbers[0].parse(), numbers[1].parse()) {
            phases.insert(fields.join(" "), (written, existing));
        }
    }
    SeedRun {
        tenant_id,
        phases,
        stdout,
    }
}

/// The plan's time entries from `from` on, in plan order.
fn planned_entries(plan: &SeedPlan, from: NaiveDate) -> Vec<PlannedTimeEntry> {
    plan.attendance()
        .filter(|a| a.day >= from)
        .flat_map(|a| plan.time_entries_of(&a))
        .collect()
}

fn week_of(entry: &PlannedTimeEntry) -> IsoWeek {
    IsoWeek::of(entry.started_at.date())
}

/// The tier-M counts a complete load writes: (phase, rows).
fn complete_counts(plan: &SeedPlan) -> Vec<(&'static str, usize)> {
    let totals = plan.totals();
    vec![
        (
            "departments and locations",
            totals.departments + totals.locations,
        ),
        ("users and employees", totals.employees),
        ("attendance history (punches)", 2 * totals.attendance_days),
        ("projects, members and boards", totals.projects),
        ("tasks", totals.tasks),
        ("time entries", totals.time_entries),
    ]
    .into_iter()
    .chain(finance_counts(plan))
    .collect()
}

/// The finance phases of a complete load: (phase, rows).
fn finance_counts(plan: &SeedPlan) -> Vec<(&'static str, usize)> {
    let finance = plan.totals().finance;
    vec![
        (
            "finance: invoices and bills",
            finance.invoices + finance.bills,
        ),
        ("finance: credit notes", finance.credit_notes),
        ("finance: payments", finance.payments),
        ("finance: expense claims", finance.expense_claims),
        ("finance: payroll people", plan.employees.len()),
        ("finance: payroll runs", plan.payroll_months().len()),
    ]
}

/// Every phase of `run` wrote (first) or found (repeat) exactly the plan's rows.
fn assert_phases(run: &SeedRun, counts: &[(&'static str, usize)], repeat: bool) {
    for (phase, rows) in counts {
        let expected = if repeat { (0, *rows) } else { (*rows, 0) };
        assert_eq!(run.phase(phase), expected, "{phase}:\n{}", run.stdout);
    }
}

/// The relational side: people and punches of the tenant, counted in its databases; the
/// compensation sealed (never the plaintext).
async fn assert_relational(
    plan: &SeedPlan,
    tenant_id: &str,
    identity_url: &str,
    employee_url: &str,
) {
    use erp_employee::store::attendance::punch;
    use erp_employee::store::entities::employee;
    use erp_identity::store::entities::user;
    let employees_db = Database::connect(employee_url).await.unwrap();
    let identity_db = Database::connect(identity_url).await.unwrap();
    let totals = plan.totals();
    let punches = punch::Entity::find()
        .filter(punch::Column::TenantId.eq(tenant_id))
        .count(&employees_db)
        .await
        .unwrap();
    assert_eq!(punches as usize, 2 * totals.attendance_days);
    let people = employee::Entity::find()
        .filter(employee::Column::TenantId.eq(tenant_id))
        .all(&employees_db)
        .await
        .unwrap();
    assert_eq!(people.len(), totals.employees);
    for person in &people {
        let planned = plan
            .employees
            .iter()
            .find(|e| e.number == person.employee_number)
            .unwrap();
        let sealed = person.salary_sealed.as_deref().unwrap();
        assert!(
            !sealed.contains(&planned.salary_eur.to_string()),
            "{sealed}"
        );
        assert!(person.tax_id_index.is_some());
    }
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .count(&identity_db)
        .await
        .unwrap();
    assert_eq!(users as usize, totals.employees);
}

/// The user id of the plan's employee `e` in the identity database.
async fn user_id_of(plan: &SeedPlan, e: usize, identity_url: &str) -> String {
    use erp_identity::store::entities::user;
    let db = Database::connect(identity_url).await.unwrap();
    user::Entity::find()
        .filter(user::Column::Email.eq(plan.employees[e].work_email.as_str()))
        .one(&db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {}", plan.employees[e].work_email))
        .id
}

fn all() -> erp_kit::pagination::PageRequest {
    erp_kit::pagination::PageRequest {
        limit: 100_000,
        after: None,
        before: None,
        backward: false,
    }
}

/// Tasks, time entries and timesheets of the tenant in the PMO store, against the plan (time
/// entries from `from` on): exact counts, and a timesheet for every week with time.
async fn assert_pmo_counts(plan: &SeedPlan, store: &SharedStore, tenant_id: &str, from: NaiveDate) {
    let tenant = erp_kit::TenantId::from_claim(tenant_id);
    let tasks = store
        .list_tasks(&tenant, &TaskFilter::default(), &all())
        .await
        .unwrap();
    assert_eq!(tasks.len(), plan.tasks.len());
    let expected_ids: BTreeSet<String> = (0..plan.tasks.len())
        .map(|n| plan.task_id(tenant_id, n))
        .collect();
    assert_eq!(
        tasks.iter().map(|t| t.id.clone()).collect::<BTreeSet<_>>(),
        expected_ids
    );
    let entries = store
        .list_time_entries(&tenant, &TimeEntryFilter::default(), &all())
        .await
        .unwrap();
    let planned = planned_entries(plan, from);
    assert_eq!(entries.len(), planned.len());
    assert_eq!(
        entries
            .iter()
            .map(|e| e.id.clone())
            .collect::<BTreeSet<_>>(),
        planned
            .iter()
            .map(|e| plan.time_entry_id(tenant_id, e))
            .collect::<BTreeSet<_>>()
    );
    let sheets = store
        .list_timesheets(&tenant, &TimesheetFilter::default(), &all())
        .await
        .unwrap();
    let weeks: BTreeSet<(usize, IsoWeek)> =
        planned.iter().map(|e| (e.employee, week_of(e))).collect();
    assert_eq!(sheets.len(), weeks.len());
}

/// Reads back through the PMO subgraph's GraphQL API: a person's timesheet of the history's
/// last full week is exactly the plan's entries, and one of its tasks is the plan's task.
async fn assert_graphql(
    app: &PmoApp,
    issuer: &TestIssuer,
    plan: &SeedPlan,
    tenant_id: &str,
    identity_url: &str,
) {
    let weeks = plan.working_weeks(plan.history_start());
    let week_days = weeks.iter().rev().find(|w| w.len() == 5).unwrap();
    let week = IsoWeek::of(week_days[0]);
    let in_week: Vec<PlannedTimeEntry> = week_days
        .iter()
        .flat_map(|day| plan.attendance_on(*day))
        .flat_map(|a| plan.time_entries_of(&a))
        .collect();
    let person = in_week[0].employee;
    let expected: Vec<&PlannedTimeEntry> =
        in_week.iter().filter(|e| e.employee == person).collect();
    let user_id = user_id_of(plan, person, identity_url).await;
    let token = issuer.token(tenant_id, &user_id, &["project:read", "task:log"]);
    let data = app
        .ok(
            &token,
            "query($w: IsoWeek!, $u: ID!) { timesheet(week: $w) { userId week state totalHours entries { id startedAt endedAt durationSeconds billable task { id title } } } timesheets(filter: { userId: $u }, first: 100) { edges { node { week state } } } }",
            json!({ "w": week.to_string(), "u": user_id }),
        )
        .await;
    let sheet = &data["timesheet"];
    assert_eq!(sheet["userId"], user_id.as_str());
    assert_eq!(sheet["week"], week.to_string());
    assert_eq!(sheet["state"], "DRAFT");
    let entries = sheet["entries"].as_array().unwrap();
    assert_eq!(entries.len(), expected.len(), "{sheet}");
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let mut minutes = 0;
    for (got, planned) in entries.iter().zip(&expected) {
        let task = &plan.tasks[planned.task];
        let start = planned.started_at.and_utc();
        assert_eq!(got["id"], plan.time_entry_id(tenant_id, planned).as_str());
        assert_eq!(at(&got["startedAt"]), start);
        assert_eq!(
            at(&got["endedAt"]),
            start + chrono::Duration::minutes(i64::from(planned.minutes))
        );
        assert_eq!(got["durationSeconds"], i64::from(planned.minutes) * 60);
        assert_eq!(got["billable"], plan.projects[task.project].billable);
        assert_eq!(
            got["task"]["id"],
            plan.task_id(tenant_id, planned.task).as_str()
        );
        assert_eq!(got["task"]["title"], task.title.as_str());
        minutes += i64::from(planned.minutes);
    }
    assert_eq!(
        sheet["totalHours"],
        ((minutes * 60) as f64 / 36.0).round() / 100.0
    );
    // Every week the person logged time in has its (draft) timesheet.
    let logged: BTreeSet<String> = planned_entries(plan, plan.history_start())
        .iter()
        .filter(|e| e.employee == person)
        .map(|e| week_of(e).to_string())
        .collect();
    let listed: BTreeSet<String> = data["timesheets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            assert_eq!(edge["node"]["state"], "DRAFT");
            edge["node"]["week"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(listed, logged);

    let n = expected[0].task;
    let planned = &plan.tasks[n];
    let data = app
        .ok(
            &token,
            "query($id: ID!) { task(id: $id) { title status estimateMinutes labels } }",
            json!({ "id": plan.task_id(tenant_id, n) }),
        )
        .await;
    let mut labels = planned.labels.clone();
    labels.sort();
    labels.dedup();
    let status = match planned.status.column() {
        0 => "TODO",
        1 => "IN_PROGRESS",
        _ => "DONE",
    };
    assert_eq!(
        data["task"],
        json!({
            "title": planned.title,
            "status": status,
            "estimateMinutes": planned.estimate_minutes,
            "labels": labels,
        })
    );
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

#[tokio::test]
async fn tier_m_into_the_embedded_stores() {
    let plan = plan();
    let dir = fresh_dir("erp-seed-m");
    let state = dir.display().to_string();
    let counts = complete_counts(&plan);

    let first = run_seed(&["--state-dir", &state], &[]);
    assert_phases(&first, &counts, false);
    // The same seed again: every row found, none written.
    let again = run_seed(&["--state-dir", &state, "--resume"], &[]);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert_phases(&again, &counts, true);
    let record: Value = serde_json::from_slice(
        &std::fs::read(dir.join("seeds").join(format!("{}.json", first.tenant_id))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["complete"], true);
    assert_eq!(record["until"], until().to_string());

    let identity = sqlite_url(&dir, "identity.db");
    assert_relational(
        &plan,
        &first.tenant_id,
        &identity,
        &sqlite_url(&dir, "employee.db"),
    )
    .await;
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_embedded_on(&issuer, &dir.join("pmo.journal")).await;
    assert_pmo_counts(
        &plan,
        &app.pmo.store,
        &first.tenant_id,
        plan.history_start(),
    )
    .await;
    assert_graphql(&app, &issuer, &plan, &first.tenant_id, &identity).await;
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tier_m_into_the_services_in_two_parts() {
    require_env("REDIS_URL");
    let plan = plan();
    let identity = fresh_postgres().await;
    let employees = fresh_postgres().await;
    let finance = fresh_postgres().await;
    let mongo = fresh_mongo_url();
    let dir = fresh_dir("erp-seed-m-services");
    std::fs::create_dir_all(&dir).unwrap();
    let kek = dir.join("kek.key").display().to_string();
    let env = [
        ("ERP_IDENTITY_DATABASE_URL", identity.as_str()),
        ("ERP_EMPLOYEE_DATABASE_URL", employees.as_str()),
        ("ERP_FINANCE_DATABASE_URL", finance.as_str()),
        ("MONGO_URL", mongo.as_str()),
        ("ERP_KEK_FILE", kek.as_str()),
    ];
    let counts = complete_counts(&plan);

    // First only the last 7 days of time entries: the report says how many are left out.
    let from = until() - chrono::Duration::days(7);
    let recent = planned_entries(&plan, from).len();
    let left_out = plan.totals().time_entries - recent;
    assert!(recent > 0 && left_out > 0);
    let first = run_seed(&["--services", "--pmo-history-days", "7"], &env);
    for (phase, rows) in &counts[..5] {
        assert_eq!(first.phase(phase), (*rows, 0), "{phase}");
    }
    assert_eq!(first.phase("time entries"), (recent, 0));
    for (phase, rows) in &counts[6..] {
        assert_eq!(first.phase(phase), (*rows, 0), "{phase}");
    }
    assert!(
        first.stdout.contains(&format!(
            "NOT written: {left_out} time entries of the plan before the --pmo-history-days window"
        )),
        "{}",
        first.stdout
    );
    let issuer = TestIssuer::start().await;
    let prefix = format!("seed-test-{}", uuid::Uuid::new_v4().simple());
    let app = PmoApp::spawn_on(&issuer, mongo.clone(), prefix.clone()).await;
    assert_pmo_counts(&plan, &app.pmo.store, &first.tenant_id, from).await;
    drop(app);

    // The resume writes the rest, and nothing it finds twice.
    let rest = run_seed(&["--services", "--resume"], &env);
    assert_eq!(rest.tenant_id, first.tenant_id);
    for (phase, rows) in &counts[..5] {
        assert_eq!(rest.phase(phase), (0, *rows), "{phase}");
    }
    assert_eq!(rest.phase("time entries"), (left_out, recent));
    for (phase, rows) in &counts[6..] {
        assert_eq!(rest.phase(phase), (0, *rows), "{phase}");
    }
    assert!(!rest.stdout.contains("NOT written"), "{}", rest.stdout);

    assert_relational(&plan, &first.tenant_id, &identity, &employees).await;
    let app = PmoApp::spawn_on(&issuer, mongo, prefix).await;
    assert_pmo_counts(
        &plan,
        &app.pmo.store,
        &first.tenant_id,
        plan.history_start(),
    )
    .await;
    assert_graphql(&app, &issuer, &plan, &first.tenant_id, &identity).await;
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A decimal amount of the API ("1234.5", "-12.05", "7") in cents.
fn cents(value: &Value) -> i64 {
    let raw = value
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal: {value}"));
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = format!("{fraction:0<2}");
    assert_eq!(fraction.len(), 2, "{raw}");
    let cents = whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap();
    if negative {
        -cents
    } else {
        cents
    }
}

/// Tier S's finance history into PostgreSQL: exact counts and amounts against the plan read
/// through the finance subgraph's GraphQL API (invoices numbered without gaps, the trial
/// balance balanced, the receivables subledger equal to its control account and to what the
/// plan leaves owed), and a resume that writes nothing twice.
#[tokio::test]
async fn tier_s_finance_history_into_postgres() {
    require_env("REDIS_URL");
    let plan = SeedPlan::new(Tier::S, SEED, "Seed S 11", "seeds11.example", until());
    let planned = plan.finance();
    let totals = planned.totals();
    assert!(totals.invoices > 0 && totals.payments > 0 && totals.expense_claims > 0);
    let identity = fresh_postgres().await;
    let employees = fresh_postgres().await;
    let finance_db = fresh_postgres().await;
    let mongo = fresh_mongo_url();
    let dir = fresh_dir("erp-seed-s-finance");
    std::fs::create_dir_all(&dir).unwrap();
    let kek = dir.join("kek.key").display().to_string();
    let env = [
        ("ERP_IDENTITY_DATABASE_URL", identity.as_str()),
        ("ERP_EMPLOYEE_DATABASE_URL", employees.as_str()),
        ("ERP_FINANCE_DATABASE_URL", finance_db.as_str()),
        ("MONGO_URL", mongo.as_str()),
        ("ERP_KEK_FILE", kek.as_str()),
    ];
    let counts = finance_counts(&plan);
    let first = run_seed_tier("S", &["--services"], &env);
    assert_phases(&first, &counts, false);
    assert!(
        first.stdout.contains(&format!(
            "finance: {} invoices, {} credit notes, {} supplier bills, {} payments, {} expense claims",
            totals.invoices, totals.credit_notes, totals.bills, totals.payments, totals.expense_claims
        )),
        "{}",
        first.stdout
    );
    let again = run_seed_tier("S", &["--services", "--resume"], &env);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert_phases(&again, &counts, true);

    let issuer = TestIssuer::start().await;
    let mut config = erp_tests::config(&issuer, finance_db.clone());
    config.service = "finance".into();
    // The seed's KEK: the payroll amounts are sealed under data keys it wraps.
    config.kek_file = std::path::PathBuf::from(&kek);
    let db = erp_kit::db::connect(&finance_db).await.unwrap();
    let runtime = erp_kit::runtime::Runtime::with_backends(
        config,
        db,
        std::sync::Arc::new(erp_kit::cache::InProcessCache::new()),
        std::sync::Arc::new(erp_kit::events::InProcessBus::new()),
    );
    let app = erp_tests::finance::FinanceApp::serve(
        runtime,
        erp_finance::FinanceOptions {
            consumers: false,
            ..Default::default()
        },
    )
    .await;
    let token = issuer.token(&first.tenant_id, "auditor", &["finance:read"]);
    let data = app
        .ok(
            &token,
            "query($to: Date!) {
                trialBalance(to: $to) { balanced totalDebit { amount } totalCredit { amount } }
                receivablesReconciliation { balanced controlBalance { amount } subledgerBalance { amount } }
                payablesReconciliation { balanced }
                invoices(kinds: [INVOICE], first: 100) { edges { node { reference date untaxed { amount } tax { amount } total { amount } outstanding { amount } } } }
                creditNotes: invoices(kinds: [CREDIT_NOTE], first: 100) { edges { node { total { amount } } } }
                bills: invoices(kinds: [BILL], first: 100) { edges { node { tax { amount } total { amount } } } }
                payments(first: 100) { edges { node { id } } }
                expenseClaims(first: 100) { edges { node { state total { amount } } } }
            }",
            json!({ "to": until().to_string() }),
        )
        .await;
    let nodes = |field: &str| -> Vec<Value> {
        data[field]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("no {field} in {data}"))
            .iter()
            .map(|edge| edge["node"].clone())
            .collect()
    };
    assert_eq!(data["trialBalance"]["balanced"], true, "{data}");
    assert_eq!(
        data["trialBalance"]["totalDebit"],
        data["trialBalance"]["totalCredit"]
    );
    let reconciliation = &data["receivablesReconciliation"];
    assert_eq!(reconciliation["balanced"], true, "{data}");
    assert_eq!(
        cents(&reconciliation["controlBalance"]["amount"]),
        planned.receivable_cents()
    );
    assert_eq!(
        cents(&reconciliation["subledgerBalance"]["amount"]),
        planned.receivable_cents()
    );
    assert_eq!(data["payablesReconciliation"]["balanced"], true, "{data}");

    let invoices = nodes("invoices");
    assert_eq!(invoices.len(), totals.invoices);
    assert_eq!(
        invoices
            .iter()
            .map(|i| cents(&i["total"]["amount"]))
            .sum::<i64>(),
        totals.invoiced_cents
    );
    // Each invoice carries the tenant's 22 % sales VAT on its hours, each bill 22 % input VAT.
    let untaxed: i64 = planned.invoices.iter().map(|i| i.untaxed_cents()).sum();
    assert_eq!(
        invoices
            .iter()
            .map(|i| cents(&i["untaxed"]["amount"]))
            .sum::<i64>(),
        untaxed
    );
    assert_eq!(
        invoices
            .iter()
            .map(|i| cents(&i["tax"]["amount"]))
            .sum::<i64>(),
        totals.invoiced_cents - untaxed
    );
    assert!(totals.invoiced_cents > untaxed);
    let bills = nodes("bills");
    assert_eq!(
        bills
            .iter()
            .map(|b| cents(&b["total"]["amount"]))
            .sum::<i64>(),
        planned.bills.iter().map(|b| b.total_cents()).sum::<i64>()
    );
    assert_eq!(
        bills
            .iter()
            .map(|b| cents(&b["tax"]["amount"]))
            .sum::<i64>(),
        planned
            .bills
            .iter()
            .map(|b| b.total_cents() - b.cents)
            .sum::<i64>()
    );
    assert_eq!(
        invoices
            .iter()
            .map(|i| cents(&i["outstanding"]["amount"]))
            .sum::<i64>(),
        planned.receivable_cents()
    );
    // Numbered in their series and fiscal year without gaps.
    let mut references: Vec<String> = invoices
        .iter()
        .map(|i| i["reference"].as_str().unwrap().to_owned())
        .collect();
    references.sort();
    let mut expected: Vec<String> = Vec::new();
    for year in planned
        .invoices
        .iter()
        .map(|i| i.date.year())
        .collect::<BTreeSet<_>>()
    {
        let count = planned
            .invoices
            .iter()
            .filter(|i| i.date.year() == year)
            .count();
        expected.extend((1..=count).map(|n| format!("INV/FY{year}/{n:05}")));
    }
    expected.sort();
    assert_eq!(references, expected);
    let credited = nodes("creditNotes");
    assert_eq!(credited.len(), totals.credit_notes);
    assert_eq!(
        credited
            .iter()
            .map(|c| cents(&c["total"]["amount"]))
            .sum::<i64>(),
        totals.credited_cents
    );
    assert_eq!(bills.len(), totals.bills);
    assert_eq!(nodes("payments").len(), totals.payments);
    let claims = nodes("expenseClaims");
    assert_eq!(claims.len(), totals.expense_claims);
    let in_state = |state: &str| claims.iter().filter(|c| c["state"] == state).count();
    assert_eq!(in_state("PAID"), totals.claims_paid);
    assert_eq!(
        in_state("APPROVED"),
        totals.claims_approved - totals.claims_paid
    );
    assert_eq!(
        in_state("SUBMITTED"),
        totals.expense_claims - totals.claims_approved
    );
    assert_eq!(
        claims
            .iter()
            .map(|c| cents(&c["total"]["amount"]))
            .sum::<i64>(),
        planned.claims.iter().map(|c| c.total_cents()).sum::<i64>()
    );

    // The payroll history: one posted regular run a month of the history, paying everyone
    // hired by the month's end (a joiner pro rata), none failed; each run ONE journal entry on
    // the month's last day whose payroll-payable credit is the run's net pay.
    let months = plan.payroll_months();
    assert_eq!(
        months.len(),
        3,
        "tier S pays the three months ending in its quarter"
    );
    let payroll = issuer.token(
        &first.tenant_id,
        "auditor",
        &["finance:read", "payroll:read"],
    );
    let runs = app
        .ok(
            &payroll,
            "{ payrollRuns { period runType state slipCount failedCount entryId totals { net { amount } } } }",
            json!({}),
        )
        .await["payrollRuns"]
        .clone();
    let mut runs: Vec<Value> = runs.as_array().unwrap().clone();
    runs.sort_by_key(|run| run["period"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        runs.iter()
            .map(|run| (
                run["period"].as_str().unwrap().to_owned(),
                run["state"].as_str().unwrap().to_owned(),
                run["slipCount"].as_u64().unwrap() as usize,
                run["failedCount"].as_u64().unwrap(),
            ))
            .collect::<Vec<_>>(),
        months
            .iter()
            .map(|m| (m.period.clone(), "POSTED".to_owned(), m.paid.len(), 0))
            .collect::<Vec<_>>()
    );
    for (run, month) in runs.iter().zip(&months) {
        let entry = app
            .ok(
                &token,
                "query($id: ID!) { journalEntry(id: $id) { date lines { account { code } credit { amount } } } }",
                json!({"id": run["entryId"]}),
            )
            .await["journalEntry"]
            .clone();
        let payable: Vec<&Value> = entry["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["account"]["code"] == "2300")
            .collect();
        assert_eq!(entry["date"], month.ends_on.to_string());
        assert_eq!(payable.len(), 1, "{entry}");
        assert_eq!(
            payable[0]["credit"]["amount"],
            run["totals"]["net"]["amount"]
        );
    }
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tier S's CRM into PostgreSQL: the phases write exactly the plan's clients, leads and
/// opportunities (a resume writes nothing again), and the CRM subgraph's GraphQL API answers
/// the plan: the clients (the plan's project clients active, the prospects), the leads, and
/// the seeded pipeline's board with the plan's open opportunities per stage and their totals.
#[tokio::test]
async fn tier_s_crm_into_postgres() {
    use erp_seed::crm::{PlannedOutcome, PIPELINE_NAME, STAGES};
    require_env("REDIS_URL");
    let plan = SeedPlan::new(Tier::S, SEED, "Seed S 11", "seeds11.example", until());
    let crm_plan = plan.crm();
    let totals = crm_plan.totals();
    let identity = fresh_postgres().await;
    let employees = fresh_postgres().await;
    let finance_db = fresh_postgres().await;
    let crm_db = fresh_postgres().await;
    let mongo = fresh_mongo_url();
    let dir = fresh_dir("erp-seed-s-crm");
    std::fs::create_dir_all(&dir).unwrap();
    let kek = dir.join("kek.key").display().to_string();
    let env = [
        ("ERP_IDENTITY_DATABASE_URL", identity.as_str()),
        ("ERP_EMPLOYEE_DATABASE_URL", employees.as_str()),
        ("ERP_FINANCE_DATABASE_URL", finance_db.as_str()),
        ("ERP_CRM_DATABASE_URL", crm_db.as_str()),
        ("MONGO_URL", mongo.as_str()),
        ("ERP_KEK_FILE", kek.as_str()),
    ];
    let counts = [
        ("crm: pipeline", 1),
        ("crm: clients", totals.clients),
        ("crm: leads (import)", totals.leads),
        ("crm: opportunities and quotes", totals.opportunities),
    ];
    let first = run_seed_tier("S", &["--services"], &env);
    assert_phases(&first, &counts, false);
    assert!(
        first.stdout.contains(&format!(
            "crm: {} clients, {} leads, {} opportunities, {} quotes",
            totals.clients, totals.leads, totals.opportunities, totals.quotes
        )),
        "{}",
        first.stdout
    );
    let again = run_seed_tier("S", &["--services", "--resume"], &env);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert_phases(&again, &counts, true);

    let issuer = TestIssuer::start().await;
    let mut config = erp_tests::config(&issuer, crm_db.clone());
    config.service = "crm".into();
    let db = erp_kit::db::connect(&crm_db).await.unwrap();
    let runtime = erp_kit::runtime::Runtime::with_backends(
        config,
        db,
        std::sync::Arc::new(erp_kit::cache::InProcessCache::new()),
        std::sync::Arc::new(erp_kit::events::InProcessBus::new()),
    );
    let app = erp_tests::crm::CrmApp::serve(runtime, erp_crm::CrmOptions { consumers: None }).await;
    let token = issuer.token(&first.tenant_id, "auditor", erp_tests::crm::CRM_ADMIN);
    let data = app
        .ok(
            &token,
            "{ pipelines { id name } clients(first: 100) { nodes { name status } } leads(first: 100) { nodes { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["pipelines"][0]["name"], PIPELINE_NAME, "{data}");
    let mut clients: Vec<(String, String)> = data["clients"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    clients.sort();
    let mut expected: Vec<(String, String)> = crm_plan
        .clients
        .iter()
        .map(|c| (c.name.clone(), c.status.to_ascii_uppercase()))
        .collect();
    expected.sort();
    assert_eq!(clients, expected);
    let mut leads: Vec<String> = data["leads"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["email"].as_str().unwrap().to_owned())
        .collect();
    leads.sort();
    let mut planned_leads: Vec<String> =
        (0..totals.leads).map(|i| crm_plan.lead(i).email).collect();
    planned_leads.sort();
    assert_eq!(leads, planned_leads);

    let board = app
        .ok(
            &token,
            "query($p: ID!) { pipelineBoard(pipelineId: $p) { openCount stages { stage { name } count totals { amount currency } } } }",
            json!({ "p": data["pipelines"][0]["id"] }),
        )
        .await;
    let mut per_stage = vec![(0usize, 0i64); STAGES.len()];
    for i in 0..totals.opportunities {
        let opportunity = crm_plan.opportunity(i);
        if opportunity.outcome == PlannedOutcome::Open {
            per_stage[opportunity.stage].0 += 1;
            per_stage[opportunity.stage].1 += opportunity.amount_cents;
        }
    }
    let expected_stages: Vec<Value> = STAGES
        .iter()
        .zip(&per_stage)
        .map(|((name, _, _), (count, cents))| {
            let totals = if *count == 0 {
                json!([])
            } else {
                json!([{ "amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": "EUR" }])
            };
            json!({ "stage": { "name": name }, "count": count, "totals": totals })
        })
        .collect();
    assert_eq!(
        board["pipelineBoard"]["stages"],
        json!(expected_stages),
        "{board}"
    );
    assert_eq!(
        board["pipelineBoard"]["openCount"],
        per_stage.iter().map(|(count, _)| count).sum::<usize>()
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tier S's marketing into PostgreSQL: the phases write exactly the plan's templates,
/// segments, contacts, list members, newsletter messages and journey (a resume writes nothing
/// again), and the marketing subgraph's GraphQL API answers the plan: each segment's members
/// (computed by the subgraph's incremental membership, checked against the plan's own rules),
/// the consent records, the sent newsletter's funnel, the active journey with its branch.
#[tokio::test]
async fn tier_s_marketing_into_postgres() {
    use erp_seed::marketing::{
        CONSENT_SOURCE, CONSENT_WORDING, EVERYONE, NEWSLETTER, TEMPLATES, WELCOME_JOURNEY,
    };
    require_env("REDIS_URL");
    let plan = SeedPlan::new(Tier::S, SEED, "Seed S 11", "seeds11.example", until());
    let marketing_plan = plan.marketing();
    let totals = marketing_plan.totals();
    let identity = fresh_postgres().await;
    let employees = fresh_postgres().await;
    let finance_db = fresh_postgres().await;
    let crm_db = fresh_postgres().await;
    let marketing_db = fresh_postgres().await;
    let mongo = fresh_mongo_url();
    let dir = fresh_dir("erp-seed-s-marketing");
    std::fs::create_dir_all(&dir).unwrap();
    let kek = dir.join("kek.key").display().to_string();
    let env = [
        ("ERP_IDENTITY_DATABASE_URL", identity.as_str()),
        ("ERP_EMPLOYEE_DATABASE_URL", employees.as_str()),
        ("ERP_FINANCE_DATABASE_URL", finance_db.as_str()),
        ("ERP_CRM_DATABASE_URL", crm_db.as_str()),
        ("ERP_MARKETING_DATABASE_URL", marketing_db.as_str()),
        ("MONGO_URL", mongo.as_str()),
        ("ERP_KEK_FILE", kek.as_str()),
    ];
    // The plan at tier S: 60 contacts, a VIP list of 10, one journey.
    assert_eq!((totals.contacts, totals.journeys), (60, 1));
    let counts = [
        (
            "marketing: templates, segments",
            TEMPLATES.len() + marketing_plan.segments.len(),
        ),
        ("marketing: contacts", 60),
        ("marketing: static list", 10),
        ("marketing: newsletter history", totals.sent),
        ("marketing: journeys", 1),
    ];
    let first = run_seed_tier("S", &["--services"], &env);
    assert_phases(&first, &counts, false);
    assert!(
        first.stdout.contains(&format!(
            "marketing: 60 contacts, 5 segments, {} newsletter messages sent, 1 journeys",
            totals.sent
        )),
        "{}",
        first.stdout
    );
    let again = run_seed_tier("S", &["--services", "--resume"], &env);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert_phases(&again, &counts, true);

    let issuer = TestIssuer::start().await;
    let mut config = erp_tests::config(&issuer, marketing_db.clone());
    config.service = "marketing".into();
    config.kek_file = kek.clone().into();
    let db = erp_kit::db::connect(&marketing_db).await.unwrap();
    let runtime = erp_kit::runtime::Runtime::with_backends(
        config,
        db,
        std::sync::Arc::new(erp_kit::cache::InProcessCache::new()),
        std::sync::Arc::new(erp_kit::events::InProcessBus::new()),
    );
    let app = erp_tests::marketing::MarketingApp::serve(runtime).await;
    let token = issuer.token(
        &first.tenant_id,
        "auditor",
        &["marketing:read", "marketing:write"],
    );
    let data = app
        .ok(
            &token,
            "{ segments { name memberCount } marketingContacts(first: 100) { nodes { email status consents { purpose lawfulBasis source wordingVersion granted } } } }",
            json!({}),
        )
        .await;
    let mut segments: Vec<(String, i64)> = data["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["memberCount"].as_i64().unwrap(),
            )
        })
        .collect();
    segments.sort();
    let mut expected: Vec<(String, i64)> = totals
        .members
        .iter()
        .map(|(name, n)| ((*name).to_owned(), *n as i64))
        .collect();
    expected.sort();
    assert_eq!(segments, expected);
    assert!(expected.contains(&(EVERYONE.to_owned(), 60)));
    let contacts = data["marketingContacts"]["nodes"].as_array().unwrap();
    assert_eq!(contacts.len(), 60);
    for i in 0..60 {
        let planned = marketing_plan.contact(i);
        let contact = contacts
            .iter()
            .find(|c| c["email"] == planned.email.as_str())
            .unwrap_or_else(|| panic!("no contact {}", planned.email));
        if planned.consented {
            assert_eq!(contact["status"], "SUBSCRIBED");
            assert_eq!(
                contact["consents"],
                json!([{ "purpose": "email_marketing", "lawfulBasis": "CONSENT",
                         "source": CONSENT_SOURCE, "wordingVersion": CONSENT_WORDING, "granted": true }])
            );
        } else {
            assert_eq!(contact["status"], "PENDING");
            assert_eq!(contact["consents"], json!([]));
        }
    }

    let data = app
        .ok(
            &token,
            "{ campaigns(first: 10) { nodes { name status funnel { queued sent skipped opened clicked delivered } } } journeys(first: 10) { nodes { name status stepsVersion steps { kind nextIfTrue nextIfFalse } counts { active } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["campaigns"]["nodes"],
        json!([{ "name": NEWSLETTER, "status": "SENT", "funnel": {
            "queued": 0, "sent": totals.sent, "skipped": totals.skipped,
            "opened": totals.opened, "clicked": totals.clicked, "delivered": totals.sent } }])
    );
    assert_eq!(
        data["journeys"]["nodes"],
        json!([{ "name": WELCOME_JOURNEY, "status": "ACTIVE", "stepsVersion": 1,
                 "steps": [
                    { "kind": "SEND", "nextIfTrue": null, "nextIfFalse": null },
                    { "kind": "WAIT", "nextIfTrue": null, "nextIfFalse": null },
                    { "kind": "CONDITION", "nextIfTrue": 3, "nextIfFalse": 5 },
                    { "kind": "SEND", "nextIfTrue": null, "nextIfFalse": null },
                    { "kind": "EXIT", "nextIfTrue": null, "nextIfFalse": null },
                    { "kind": "SEND", "nextIfTrue": null, "nextIfFalse": null } ],
                 "counts": { "active": 0 } }])
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tier S's operations data into the real MongoDB (with the people in PostgreSQL): exact
/// counts of assets by status (a laptop per person, checked out and accepted; the retired
/// ones), SOPs by status (the files in object storage, their hashes in the documents) and
/// tickets by status against the plan; a resume writes nothing twice.
#[tokio::test]
async fn tier_s_ops_into_mongodb() {
    use erp_ops::domain::asset::AssetStatus;
    use erp_ops::domain::helpdesk::TicketStatus;
    use erp_ops::store::assets::{list_assets, AssetFilter};
    use erp_ops::store::helpdesk::list_tickets;
    use erp_seed::ops::{PlannedAssetState, PlannedTicketStatus};
    require_env("REDIS_URL");
    let plan = SeedPlan::new(Tier::S, SEED, "Seed S ops", "seedsops.example", until());
    let ops_plan = plan.ops();
    let totals = ops_plan.totals();
    let identity = fresh_postgres().await;
    let employees = fresh_postgres().await;
    let finance_db = fresh_postgres().await;
    let crm_db = fresh_postgres().await;
    let mongo = fresh_mongo_url();
    let dir = fresh_dir("erp-seed-s-ops");
    std::fs::create_dir_all(&dir).unwrap();
    let kek = dir.join("kek.key").display().to_string();
    let env = [
        ("ERP_IDENTITY_DATABASE_URL", identity.as_str()),
        ("ERP_EMPLOYEE_DATABASE_URL", employees.as_str()),
        ("ERP_FINANCE_DATABASE_URL", finance_db.as_str()),
        ("ERP_CRM_DATABASE_URL", crm_db.as_str()),
        ("MONGO_URL", mongo.as_str()),
        ("ERP_KEK_FILE", kek.as_str()),
    ];
    let counts = [("ops: assets", 24), ("ops: SOPs", 5), ("ops: tickets", 30)];
    assert_eq!(
        (totals.assets, totals.sops, totals.tickets),
        (24, 5, 30),
        "tier S's operations"
    );
    let extra = [
        "--services",
        "--tenant",
        "Seed S ops",
        "--domain",
        "seedsops.example",
    ];
    let first = run_seed_tier("S", &extra, &env);
    assert_phases(&first, &counts, false);
    assert!(
        first.stdout.contains("ops: 24 assets, 5 SOPs, 30 tickets"),
        "{}",
        first.stdout
    );
    let resume: Vec<&str> = extra.iter().copied().chain(["--resume"]).collect();
    let again = run_seed_tier("S", &resume, &env);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert_phases(&again, &counts, true);

    let store = erp_ops::store::mongo::MongoStore::connect(&mongo)
        .await
        .unwrap();
    let tenant = erp_kit::TenantId::from_claim(&first.tenant_id);
    let assets_in = |status: Option<AssetStatus>| {
        let store = &store;
        let tenant = &tenant;
        async move {
            list_assets(store, tenant, &AssetFilter { status }, &all())
                .await
                .unwrap()
        }
    };
    let assets = assets_in(None).await;
    assert_eq!(assets.len(), 24);
    let assigned = assets_in(Some(AssetStatus::Assigned)).await;
    assert_eq!(
        (
            assigned.len(),
            assets_in(Some(AssetStatus::Retired)).await.len(),
            assets_in(Some(AssetStatus::InStock)).await.len()
        ),
        (10, 2, 12)
    );
    assert!(
        assigned.iter().all(|a| a.accepted_at.is_some()),
        "every laptop was accepted by its person"
    );
    let mut tags: Vec<String> = assets.iter().map(|a| a.tag.clone()).collect();
    tags.sort();
    let mut planned: Vec<String> = (0..24).map(|i| ops_plan.asset(i).tag).collect();
    planned.sort();
    assert_eq!(tags, planned);
    let laptops: BTreeSet<&str> = assigned.iter().map(|a| a.tag.as_str()).collect();
    let planned_laptops: BTreeSet<String> = (0..24)
        .map(|i| ops_plan.asset(i))
        .filter(|a| matches!(a.state, PlannedAssetState::CheckedOutTo(_)))
        .map(|a| a.tag)
        .collect();
    assert_eq!(
        laptops,
        planned_laptops.iter().map(String::as_str).collect()
    );

    let sops = erp_ops::store::OpsStore::find(
        &store,
        &tenant,
        erp_ops::store::Kind::Sops,
        &[],
        Some(&all()),
    )
    .await
    .unwrap();
    assert_eq!(sops.len(), 5);
    let published = sops
        .iter()
        .filter(|sop| sop["versions"][0]["status"] == "PUBLISHED")
        .count();
    assert_eq!(published, 4, "{sops:?}");
    assert!(
        sops.iter()
            .all(|sop| sop["versions"][0].get("content").is_none()
                && sop["versions"][0]["hash"]
                    .as_str()
                    .is_some_and(|h| h.len() == 64)),
        "the files are in object storage, the documents hold their hashes"
    );

    let mut expected: HashMap<PlannedTicketStatus, usize> = HashMap::new();
    for i in 0..30 {
        *expected.entry(ops_plan.ticket(i).status).or_default() += 1;
    }
    for (status, planned) in [
        (TicketStatus::New, PlannedTicketStatus::New),
        (TicketStatus::Open, PlannedTicketStatus::Open),
        (TicketStatus::Pending, PlannedTicketStatus::Pending),
        (TicketStatus::Resolved, PlannedTicketStatus::Resolved),
        (TicketStatus::Closed, PlannedTicketStatus::Closed),
    ] {
        let found = list_tickets(&store, &tenant, Some(status), &all())
            .await
            .unwrap()
            .len();
        assert_eq!(
            found,
            expected.get(&planned).copied().unwrap_or(0),
            "{status:?}"
        );
    }
    assert_eq!(
        list_tickets(&store, &tenant, None, &all())
            .await
            .unwrap()
            .len(),
        30
    );
    let _ = std::fs::remove_dir_all(&dir);
}
