//! Payroll inside the finance subgraph, through its HTTP and WebSocket surface: on real
//! PostgreSQL, Redis and Kafka, and in the embedded mode (SQLite, in-process bus) fed by the real
//! employee subgraph's events.
//!
//! The amounts are worked out by hand in the comments (January: 31 days; Alice 60,000.00 a
//! year, Bob 48,000.00 with 2 days of unpaid leave; tax 0 % to 10,000.00 a year, 20 % above).

use chrono::Datelike;
use erp_kit::crypto::{seal_in_transit, LocalKek};
use erp_kit::events::{EventBus, EventEnvelope, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::TenantId;
use erp_tests::analytics::{clickhouse_store, fresh_clickhouse_database, AnalyticsApp};
use erp_tests::finance::{FinanceApp, FINANCE_ADMIN};
use erp_tests::pmo::{ws_next, ws_subscribe, Socket};
use erp_tests::{eventually, TestIssuer};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde_json::{json, Value};

fn year() -> i32 {
    chrono::Utc::now().year()
}

fn admin_scopes() -> Vec<&'static str> {
    let mut scopes = FINANCE_ADMIN.to_vec();
    scopes.extend(["payroll:read", "payroll:admin"]);
    scopes
}

const SET_UP: &str = "mutation($input: SetUpFinanceInput!) { setUpFinance(input: $input) { settings { defaultBankAccount { id } } } }";
const COMPONENT: &str = "mutation($input: CreateSalaryComponentInput!) { createSalaryComponent(input: $input) { component { id code kind rule formula percent percentOf amount { amount } } } }";
const RUN_FIELDS: &str = "id period runType state slipCount failedCount entryId paymentEntryId reversalEntryId approvedBy failures { employeeId reason message }";

fn run_mutation(name: &str, input: &str) -> String {
    format!("mutation($input: {input}!) {{ {name}(input: $input) {{ run {{ {RUN_FIELDS} }} }} }}")
}

fn step_mutation(name: &str, input: &str) -> String {
    format!("mutation($input: {input}!) {{ {name}(input: $input) {{ replayed run {{ {RUN_FIELDS} }} }} }}")
}

const SLIP_FIELDS: &str = "employeeId period runType state gross { amount currency } deductions { amount } net { amount } lines { code kind amount { amount } } bankAccountLast4 fingerprint";

/// A tenant with finance set up and payroll configured: BASIC (prorated by days worked), HRA
/// (40 % of BASIC), PENSION (12 % of BASIC), TAX (the year's slabs) in one structure, and a
/// BONUS component for additional salary.
struct Company {
    tenant: String,
    admin: String,
    accounts: std::collections::HashMap<String, String>,
    structure: String,
    bonus: String,
}

impl Company {
    async fn open(app: &FinanceApp, issuer: &TestIssuer) -> Self {
        Self::open_for(app, issuer, year()).await
    }

    /// [`Company::open`] with fiscal year `y` (and its tax slabs).
    async fn open_for(app: &FinanceApp, issuer: &TestIssuer, y: i32) -> Self {
        let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
        let admin = issuer.token(&tenant, "u-payroll", &admin_scopes());
        app.ok(
            &admin,
            SET_UP,
            json!({"input": {"baseCurrency": "EUR", "taxRounding": "PER_LINE", "fiscalYear": {
                "name": y.to_string(), "startsOn": format!("{y}-01-01"), "endsOn": format!("{y}-12-31")}}}),
        )
        .await;
        let mut accounts = std::collections::HashMap::new();
        for (code, name, kind) in [
            ("6100", "Salaries", "EXPENSE"),
            ("2400", "Pension payable", "LIABILITY"),
            ("2500", "Income tax withheld", "LIABILITY"),
        ] {
            app.ok(
                &admin,
                "mutation($input: CreateAccountInput!) { createAccount(input: $input) { account { id } } }",
                json!({"input": {"code": code, "name": name, "kind": kind}}),
            )
            .await;
        }
        let data = app
            .ok(
                &admin,
                "{ accounts(first: 100) { edges { node { id code } } } }",
                json!({}),
            )
            .await;
        for edge in data["accounts"]["edges"].as_array().unwrap() {
            accounts.insert(
                edge["node"]["code"].as_str().unwrap().to_owned(),
                edge["node"]["id"].as_str().unwrap().to_owned(),
            );
        }
        let component = |input: Value| {
            let admin = admin.clone();
            async move {
                app.ok(&admin, COMPONENT, json!({ "input": input })).await["createSalaryComponent"]
                    ["component"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let basic = component(
            json!({"code": "BASIC", "name": "Basic", "kind": "EARNING", "rule": "FORMULA",
            "formula": "base * days_worked / days_in_period", "accountId": accounts["6100"]}),
        )
        .await;
        let hra = component(
            json!({"code": "HRA", "name": "Housing", "kind": "EARNING", "rule": "PERCENT",
            "percent": "40", "percentOf": "BASIC", "accountId": accounts["6100"]}),
        )
        .await;
        let pension = component(
            json!({"code": "PENSION", "name": "Pension", "kind": "DEDUCTION", "rule": "PERCENT",
            "percent": "12", "percentOf": "BASIC", "accountId": accounts["2400"]}),
        )
        .await;
        let tax = component(
            json!({"code": "TAX", "name": "Income tax", "kind": "DEDUCTION", "rule": "INCOME_TAX",
            "accountId": accounts["2500"]}),
        )
        .await;
        let bonus = component(
            json!({"code": "BONUS", "name": "Bonus", "kind": "EARNING", "rule": "FIXED",
            "amount": "0", "accountId": accounts["6100"]}),
        )
        .await;
        let structure = app
            .ok(
                &admin,
                "mutation($input: CreateSalaryStructureInput!) { createSalaryStructure(input: $input) { structure { id code componentIds } } }",
                json!({"input": {"code": "STD", "name": "Standard", "componentIds": [basic, hra, pension, tax]}}),
            )
            .await["createSalaryStructure"]["structure"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let slabs = app
            .ok(
                &admin,
                "mutation($input: SetTaxSlabsInput!) { setTaxSlabs(input: $input) { slabs { from { amount } rate } } }",
                json!({"input": {"fiscalYear": y.to_string(), "slabs": [{"from": "0", "rate": "0"}, {"from": "10000.00", "rate": "20"}]}}),
            )
            .await;
        assert_eq!(
            slabs["setTaxSlabs"]["slabs"],
            json!([{"from": {"amount": "0.00"}, "rate": "0"}, {"from": {"amount": "10000.00"}, "rate": "20"}])
        );
        Self {
            tenant,
            admin,
            accounts,
            structure,
            bonus,
        }
    }

    async fn assign(&self, app: &FinanceApp, employee: &str) {
        app.ok(
            &self.admin,
            "mutation($input: AssignSalaryStructureInput!) { assignSalaryStructure(input: $input) { assignment { employeeId effectiveFrom } } }",
            json!({"input": {"employeeId": employee, "structureId": self.structure, "effectiveFrom": format!("{}-01-01", year() - 1)}}),
        )
        .await;
    }

    async fn run(&self, app: &FinanceApp, period: &str) -> String {
        app.ok(
            &self.admin,
            &run_mutation("createPayrollRun", "CreatePayrollRunInput"),
            json!({"input": {"period": period}}),
        )
        .await["createPayrollRun"]["run"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn event(tenant: &str, event_type: &str, subject: &str, payload: Value) -> EventEnvelope {
    EventEnvelope::new(&TenantId::from_claim(tenant), event_type, subject, payload).unwrap()
}

/// `employee.compensation_changed` as the employee subgraph writes it: the pay facts sealed in
/// transit under the KEK both subgraphs share.
async fn compensation(
    app: &FinanceApp,
    tenant: &str,
    employee: &str,
    salary: &str,
    bank: Option<&str>,
    tax_id: &str,
) -> EventEnvelope {
    let kek = LocalKek::load_or_create(&app.runtime.config.kek_file).unwrap();
    let sealed = seal_in_transit(
        &kek,
        &format!("employee.compensation_changed|{tenant}|{employee}"),
        &json!({"salary": salary, "currency": "EUR", "bank_account": bank, "tax_id": tax_id})
            .to_string(),
    )
    .await
    .unwrap();
    event(
        tenant,
        "employee.compensation_changed",
        employee,
        json!({"employee_id": employee, "currency": "EUR", "sealed_for_payroll": sealed}),
    )
}

/// Feeds finance the employee subgraph's events, as its consumers would (twice: applying an
/// event again changes nothing).
async fn feed_people(app: &FinanceApp, company: &Company) {
    let t = &company.tenant;
    let y = year();
    let mut events = Vec::new();
    for (employee, user) in [
        ("e-alice", Some("u-alice")),
        ("e-bob", Some("u-bob")),
        ("e-carol", Some("u-carol")),
        ("e-dave", None),
    ] {
        events.push(event(
            t,
            "employee.hired",
            employee,
            json!({"employee_id": employee, "display_name": employee, "user_id": user, "employee_number": employee, "hired_on": format!("{}-06-01", y - 1)}),
        ));
    }
    events.push(
        compensation(
            app,
            t,
            "e-alice",
            "60000.00",
            Some("DE89 3704 0044 0532 0130 00"),
            "TAX-ALICE-1",
        )
        .await,
    );
    events.push(
        compensation(
            app,
            t,
            "e-bob",
            "48000.00",
            Some("FR1420041010050500013M02606"),
            "TAX-BOB-2",
        )
        .await,
    );
    events.push(compensation(app, t, "e-carol", "50000.00", None, "TAX-CAROL-3").await);
    events.push(
        compensation(
            app,
            t,
            "e-dave",
            "40000.00",
            Some("NL91ABNA0417164300"),
            "TAX-DAVE-4",
        )
        .await,
    );
    events.push(event(
        t,
        "leave.type_created",
        "lt-unpaid",
        json!({"leave_type_id": "lt-unpaid", "code": "LWP", "paid": false}),
    ));
    events.push(event(
        t,
        "leave.type_created",
        "lt-annual",
        json!({"leave_type_id": "lt-annual", "code": "AL", "paid": true}),
    ));
    for (request, leave_type, days) in [("lr-1", "lt-unpaid", 2.0), ("lr-2", "lt-annual", 3.0)] {
        events.push(event(
            t,
            "leave.approved",
            request,
            json!({"request_id": request, "employee_id": "e-bob", "leave_type_id": leave_type,
                "start_date": format!("{y}-01-12"), "end_date": format!("{y}-01-14"), "days": days, "status": "approved"}),
        ));
    }
    for event in &events {
        for _ in 0..2 {
            if event.event_type == "employee.hired" {
                app.finance.apply_employee_event(event).await.unwrap();
            }
            app.finance.apply_payroll_event(event).await.unwrap();
        }
    }
}

/// Every row of `table` for the tenant as JSON text (PostgreSQL).
async fn raw_rows(app: &FinanceApp, table: &str, tenant: &str) -> Vec<String> {
    #[derive(FromQueryResult)]
    struct Row {
        row: String,
    }
    Row::find_by_statement(Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        format!("SELECT CAST(row_to_json(t) AS TEXT) AS row FROM {table} t WHERE tenant_id = $1"),
        [tenant.into()],
    ))
    .all(&app.runtime.db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.row)
    .collect()
}

/// The payslip and run amounts of this file, in every form they could be stored in.
const PLAINTEXT: &[&str] = &[
    "5666.67",
    "566667",
    "3908.61",
    "390861",
    "7500.00",
    "750000",
    "5238.72",
    "523872",
    "60000",
    "48000",
    "1233.33",
    "123333",
    "DE89",
    "FR14",
    "NL91",
    "TAX-ALICE",
    "TAX-BOB",
];

fn assert_no_plaintext(what: &str, rows: &[String]) {
    assert!(!rows.is_empty(), "{what}: no rows to check");
    for row in rows {
        for secret in PLAINTEXT {
            assert!(
                !row.contains(secret),
                "{what} holds `{secret}` in clear: {row}"
            );
        }
    }
}

#[tokio::test]
async fn a_run_is_calculated_approved_posted_paid_sealed_and_read_by_its_employees() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    for employee in ["e-alice", "e-bob", "e-carol"] {
        company.assign(&app, employee).await;
    }
    let admin = &company.admin;
    let y = year();
    let period = format!("{y}-01");
    app.ok(
        admin,
        "mutation($input: AddAdditionalSalaryInput!) { addAdditionalSalary(input: $input) { additionalSalary { employeeId period runType componentId note } } }",
        json!({"input": {"employeeId": "e-alice", "period": period, "componentId": company.bonus, "amount": "500.00", "note": "Q4 bonus"}}),
    )
    .await;

    let run = company.run(&app, &period).await;
    // One open run per period and type.
    assert_eq!(
        app.refused(
            admin,
            &run_mutation("createPayrollRun", "CreatePayrollRunInput"),
            json!({"input": {"period": period}})
        )
        .await,
        ("CONFLICT".into(), "PAYROLL_RUN_IN_PROGRESS".into())
    );

    let calculate = run_mutation("calculatePayrollRun", "PayrollRunInput");
    let calculated = app
        .ok(admin, &calculate, json!({"input": {"runId": run}}))
        .await["calculatePayrollRun"]["run"]
        .clone();
    assert_eq!(calculated["state"], "CALCULATED");
    assert_eq!(calculated["slipCount"], 2);
    assert_eq!(calculated["failedCount"], 2);
    // Carol has no bank account, Dave no structure: reported, the run goes on.
    assert_eq!(
        calculated["failures"],
        json!([
            {"employeeId": "e-carol", "reason": "MISSING_BANK_ACCOUNT", "message": "no bank account is known for the employee"},
            {"employeeId": "e-dave", "reason": "MISSING_STRUCTURE", "message": "no salary structure is assigned on the period's end"},
        ])
    );
    let slips_query = format!("query($id: ID!) {{ payrollRun(id: $id) {{ totals {{ gross {{ amount }} deductions {{ amount }} net {{ amount }} }} payslips {{ {SLIP_FIELDS} }} }} }}");
    let first = app.ok(admin, &slips_query, json!({"id": run})).await["payrollRun"].clone();
    // Alice: BASIC 5000.00 (31/31 days), HRA 40 % = 2000.00, PENSION 12 % = 600.00, TAX on
    // 7000.00 x 12 = 84000.00: 20 % of 74000.00 = 14800.00 / 12 = 1233.33, BONUS 500.00.
    // Bob: BASIC 4000.00 x 29/31 (2 unpaid days; paid leave does not count) = 3741.94, HRA
    // 1496.78, PENSION 449.03, TAX 20 % of (5238.72 x 12 - 10000.00) / 12 = 881.08.
    assert_eq!(
        first["payslips"],
        json!([
            {"employeeId": "e-alice", "period": period, "runType": "REGULAR", "state": "DRAFT",
             "gross": {"amount": "7500.00", "currency": "EUR"}, "deductions": {"amount": "1833.33"}, "net": {"amount": "5666.67"},
             "lines": [
                {"code": "BASIC", "kind": "EARNING", "amount": {"amount": "5000.00"}},
                {"code": "HRA", "kind": "EARNING", "amount": {"amount": "2000.00"}},
                {"code": "PENSION", "kind": "DEDUCTION", "amount": {"amount": "600.00"}},
                {"code": "TAX", "kind": "DEDUCTION", "amount": {"amount": "1233.33"}},
                {"code": "BONUS", "kind": "EARNING", "amount": {"amount": "500.00"}}],
             "bankAccountLast4": "3000", "fingerprint": first["payslips"][0]["fingerprint"]},
            {"employeeId": "e-bob", "period": period, "runType": "REGULAR", "state": "DRAFT",
             "gross": {"amount": "5238.72", "currency": "EUR"}, "deductions": {"amount": "1330.11"}, "net": {"amount": "3908.61"},
             "lines": [
                {"code": "BASIC", "kind": "EARNING", "amount": {"amount": "3741.94"}},
                {"code": "HRA", "kind": "EARNING", "amount": {"amount": "1496.78"}},
                {"code": "PENSION", "kind": "DEDUCTION", "amount": {"amount": "449.03"}},
                {"code": "TAX", "kind": "DEDUCTION", "amount": {"amount": "881.08"}}],
             "bankAccountLast4": "2606", "fingerprint": first["payslips"][1]["fingerprint"]},
        ])
    );
    assert_eq!(
        first["totals"],
        json!({"gross": {"amount": "12738.72"}, "deductions": {"amount": "3163.44"}, "net": {"amount": "9575.28"}})
    );
    // A recalculation is deterministic: the same inputs give the same slips.
    app.ok(admin, &calculate, json!({"input": {"runId": run}}))
        .await;
    let again = app.ok(admin, &slips_query, json!({"id": run})).await["payrollRun"].clone();
    assert_eq!(again, first);

    // Nobody approves a run holding their own slip; the slips are not visible before posting.
    let alice = issuer.token(
        &company.tenant,
        "u-alice",
        &["payroll:read", "payroll:admin"],
    );
    let approve = run_mutation("approvePayrollRun", "PayrollRunInput");
    assert_eq!(
        app.refused(&alice, &approve, json!({"input": {"runId": run}}))
            .await,
        ("FORBIDDEN".into(), "PAYROLL_SELF_APPROVAL".into())
    );
    let my = format!("{{ myPayslips {{ {SLIP_FIELDS} }} }}");
    assert_eq!(
        app.ok(&alice, &my, json!({})).await["myPayslips"],
        json!([])
    );
    let approved = app
        .ok(admin, &approve, json!({"input": {"runId": run}}))
        .await["approvePayrollRun"]["run"]
        .clone();
    assert_eq!(approved["state"], "APPROVED");
    assert_eq!(approved["approvedBy"], "u-payroll");
    assert_eq!(
        app.refused(admin, &calculate, json!({"input": {"runId": run}}))
            .await,
        ("CONFLICT".into(), "PAYROLL_RUN_STATE".into())
    );

    // Posting: ONE summarised entry, and the payslips published.
    let post = step_mutation("postPayrollRun", "PayrollRunStepInput");
    let posted = app
        .ok(
            admin,
            &post,
            json!({"input": {"idempotencyKey": "post-1", "runId": run}}),
        )
        .await["postPayrollRun"]
        .clone();
    assert_eq!(posted["replayed"], false);
    assert_eq!(posted["run"]["state"], "POSTED");
    let replay = app
        .ok(
            admin,
            &post,
            json!({"input": {"idempotencyKey": "post-1", "runId": run}}),
        )
        .await["postPayrollRun"]
        .clone();
    assert_eq!(replay["replayed"], true);
    let entry_id = posted["run"]["entryId"].as_str().unwrap().to_owned();
    let entry = app
        .ok(
            admin,
            "query($id: ID!) { journalEntry(id: $id) { date source sourceId lines { account { code } debit { amount } credit { amount } } } }",
            json!({"id": entry_id}),
        )
        .await["journalEntry"]
        .clone();
    assert_eq!(entry["date"], format!("{y}-01-31"));
    assert_eq!(entry["source"], "PAYROLL");
    assert_eq!(entry["sourceId"], run);
    let mut lines: Vec<(String, String, String)> = entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account"]["code"].as_str().unwrap().to_owned(),
                l["debit"]["amount"].as_str().unwrap().to_owned(),
                l["credit"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    // Σ earnings 12738.72 = Σ deductions 3163.44 + the net pay 9575.28 (payroll payable).
    assert_eq!(
        lines,
        vec![
            ("2300".into(), "0.00".into(), "9575.28".into()),
            ("2400".into(), "0.00".into(), "1049.03".into()),
            ("2500".into(), "0.00".into(), "2114.41".into()),
            ("6100".into(), "12738.72".into(), "0.00".into()),
        ]
    );
    assert_eq!(
        app.refused(
            admin,
            &run_mutation("createPayrollRun", "CreatePayrollRunInput"),
            json!({"input": {"period": period}})
        )
        .await,
        ("CONFLICT".into(), "PAYROLL_PERIOD_POSTED".into())
    );

    // Each employee reads their own slip and nobody else's.
    let mine = app.ok(&alice, &my, json!({})).await["myPayslips"].clone();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["employeeId"], "e-alice");
    assert_eq!(mine[0]["net"]["amount"], "5666.67");
    assert_eq!(mine[0]["state"], "SUBMITTED");
    let bob = issuer.token(&company.tenant, "u-bob", &[]);
    let bobs = app.ok(&bob, &my, json!({})).await["myPayslips"].clone();
    assert_eq!(bobs.as_array().unwrap().len(), 1);
    assert_eq!(bobs[0]["employeeId"], "e-bob");
    assert_eq!(bobs[0]["net"]["amount"], "3908.61");
    let carol = issuer.token(&company.tenant, "u-carol", &[]);
    assert_eq!(
        app.ok(&carol, &my, json!({})).await["myPayslips"],
        json!([])
    );
    assert_eq!(
        app.refused(&bob, &slips_query, json!({"id": run})).await.0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );

    // Paying: the bank file's total = Σ nets = the payroll-payable credit.
    let pay = "mutation($input: PayPayrollRunInput!) { payPayrollRun(input: $input) { replayed run { state paymentEntryId bankFile { format content } } } }";
    let paid = app
        .ok(admin, pay, json!({"input": {"idempotencyKey": "pay-1", "runId": run, "date": format!("{y}-02-01")}}))
        .await["payPayrollRun"]["run"]
        .clone();
    assert_eq!(paid["state"], "PAID");
    assert_eq!(paid["bankFile"]["format"], "PAIN001");
    let xml = paid["bankFile"]["content"].as_str().unwrap();
    assert!(
        xml.contains("<NbOfTxs>2</NbOfTxs><CtrlSum>9575.28</CtrlSum>"),
        "{xml}"
    );
    let amounts: Vec<&str> = xml
        .split("<InstdAmt Ccy=\"EUR\">")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap())
        .collect();
    assert_eq!(amounts, vec!["5666.67", "3908.61"]);
    assert!(xml.contains("<IBAN>DE89370400440532013000</IBAN>"));
    let payment = app
        .ok(admin, "query($id: ID!) { journalEntry(id: $id) { source lines { account { code } debit { amount } credit { amount } } } }", json!({"id": paid["paymentEntryId"]}))
        .await["journalEntry"]
        .clone();
    assert_eq!(payment["source"], "PAYROLL_PAYMENT");
    assert_eq!(payment["lines"][0]["account"]["code"], "2300");
    assert_eq!(payment["lines"][0]["debit"]["amount"], "9575.28");
    assert_eq!(payment["lines"][1]["credit"]["amount"], "9575.28");
    let cancel = step_mutation("cancelPayrollRun", "PayrollRunStepInput");
    assert_eq!(
        app.refused(
            admin,
            &cancel,
            json!({"input": {"idempotencyKey": "cancel-1", "runId": run}})
        )
        .await,
        ("CONFLICT".into(), "PAYROLL_RUN_STATE".into())
    );
    assert_eq!(
        app.ok(&alice, &my, json!({})).await["myPayslips"][0]["state"],
        "PAID"
    );

    // At rest and on the bus: no amount, bank account or tax id in clear.
    for table in [
        "finance_payroll_slips",
        "finance_payroll_people",
        "finance_payroll_runs",
        "finance_payroll_additional",
    ] {
        assert_no_plaintext(table, &raw_rows(&app, table, &company.tenant).await);
    }
    let outbox = raw_rows(&app, "finance_outbox", &company.tenant).await;
    let payslip_events: Vec<&String> = outbox
        .iter()
        .filter(|r| r.contains("payslip.published"))
        .collect();
    assert_eq!(payslip_events.len(), 2);
    assert_no_plaintext(
        "the payroll events",
        &outbox
            .iter()
            .filter(|r| r.contains("payslip.") || r.contains("payroll."))
            .cloned()
            .collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn bad_inputs_are_refused_and_a_failed_posting_leaves_nothing_posted() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    let admin = &company.admin;
    let formula = |code: &str, formula: &str| json!({"input": {"code": code, "name": code, "kind": "EARNING", "rule": "FORMULA", "formula": formula, "accountId": company.accounts["6100"]}});
    for (text, reason) in [
        ("base * overtime_rate", "UNKNOWN_FORMULA_INPUT"),
        ("base / (2 - 2)", "FORMULA_DIVISION_BY_ZERO"),
        ("base * (2", "FORMULA_SYNTAX"),
    ] {
        assert_eq!(
            app.refused(admin, COMPONENT, formula("X1", text)).await,
            ("BAD_USER_INPUT".into(), reason.into()),
            "{text}"
        );
    }
    assert_eq!(
        app.refused(admin, COMPONENT, json!({"input": {"code": "H2", "name": "H2", "kind": "EARNING", "rule": "PERCENT", "percent": "10", "percentOf": "NOPE", "accountId": company.accounts["6100"]}})).await,
        ("BAD_USER_INPUT".into(), "UNKNOWN_FORMULA_INPUT".into())
    );
    assert_eq!(
        app.refused(admin, COMPONENT, json!({"input": {"code": "BASIC", "name": "Again", "kind": "EARNING", "rule": "FIXED", "amount": "1", "accountId": company.accounts["6100"]}})).await,
        ("BAD_USER_INPUT".into(), "BAD_CODE".into())
    );
    assert_eq!(
        app.refused(admin, "mutation($input: SetTaxSlabsInput!) { setTaxSlabs(input: $input) { slabs { rate } } }",
            json!({"input": {"fiscalYear": year().to_string(), "slabs": [{"from": "100.00", "rate": "10"}]}})).await,
        ("BAD_USER_INPUT".into(), "BAD_TAX_SLABS".into())
    );
    assert_eq!(
        app.refused(
            admin,
            &run_mutation("createPayrollRun", "CreatePayrollRunInput"),
            json!({"input": {"period": "2026-13"}})
        )
        .await,
        ("BAD_USER_INPUT".into(), "BAD_PAYROLL_PERIOD".into())
    );
    // Without payroll:admin, nothing is configured.
    let reader = issuer.token(&company.tenant, "u-reader", &["payroll:read"]);
    assert_eq!(
        app.refused(&reader, COMPONENT, formula("X2", "base"))
            .await
            .0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );

    feed_people(&app, &company).await;
    company.assign(&app, "e-alice").await;
    let period = format!("{}-01", year());
    let run = company.run(&app, &period).await;
    // Only Alice is assigned: Bob, Carol and Dave are reported, Alice is paid.
    let calculated = app
        .ok(
            admin,
            &run_mutation("calculatePayrollRun", "PayrollRunInput"),
            json!({"input": {"runId": run}}),
        )
        .await;
    assert_eq!(calculated["calculatePayrollRun"]["run"]["slipCount"], 1);
    assert_eq!(calculated["calculatePayrollRun"]["run"]["failedCount"], 3);
    app.ok(
        admin,
        &run_mutation("approvePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": run}}),
    )
    .await;
    // Posting now fails (the period closed in between): nothing is posted, no slip published.
    app.ok(
        admin,
        "mutation($input: SetLockDateInput!) { setLockDate(input: $input) { settings { lockDate } } }",
        json!({"input": {"lockDate": format!("{}-01-31", year())}}),
    )
    .await;
    let post = step_mutation("postPayrollRun", "PayrollRunStepInput");
    assert_eq!(
        app.refused(
            admin,
            &post,
            json!({"input": {"idempotencyKey": "post-locked", "runId": run}})
        )
        .await,
        ("CONFLICT".into(), "PERIOD_LOCKED".into())
    );
    let state = app
        .ok(
            admin,
            &format!(
                "query($id: ID!) {{ payrollRun(id: $id) {{ {RUN_FIELDS} payslips {{ state }} }} }}"
            ),
            json!({"id": run}),
        )
        .await["payrollRun"]
        .clone();
    assert_eq!(state["state"], "APPROVED");
    assert_eq!(state["entryId"], Value::Null);
    assert_eq!(state["payslips"], json!([{"state": "DRAFT"}]));
    let alice = issuer.token(&company.tenant, "u-alice", &[]);
    assert_eq!(
        app.ok(&alice, "{ myPayslips { net { amount } } }", json!({}))
            .await["myPayslips"],
        json!([])
    );
    let outbox = raw_rows(&app, "finance_outbox", &company.tenant).await;
    assert!(!outbox
        .iter()
        .any(|r| r.contains("payslip.published") || r.contains("payroll.posted")));
    let entries = app
        .ok(
            admin,
            "{ journalEntries(first: 50) { edges { node { source } } } }",
            json!({}),
        )
        .await;
    assert_eq!(entries["journalEntries"]["edges"], json!([]));
    // Cancelling the unposted run frees the period.
    let cancel = step_mutation("cancelPayrollRun", "PayrollRunStepInput");
    let cancelled = app
        .ok(
            admin,
            &cancel,
            json!({"input": {"idempotencyKey": "c-1", "runId": run}}),
        )
        .await;
    assert_eq!(cancelled["cancelPayrollRun"]["run"]["state"], "CANCELLED");
    assert_eq!(
        cancelled["cancelPayrollRun"]["run"]["reversalEntryId"],
        Value::Null
    );
    company.run(&app, &period).await;
}

/// Opens `/graphql/ws` on `addr` with the token in `connection_init`.
async fn ws_connect(addr: std::net::SocketAddr, token: &str) -> Socket {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(ws_next(&mut socket).await["type"], "connection_ack");
    socket
}

async fn progress(socket: &mut Socket) -> Value {
    let message = ws_next(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let event = message["payload"]["data"]["payrollRunProgress"].clone();
    json!({"phase": event["phase"], "total": event["total"], "done": event["done"], "failed": event["failed"], "remainingMilliseconds": event["remainingMilliseconds"]})
}

#[tokio::test]
async fn the_embedded_mode_pays_from_the_employee_subgraphs_events_and_streams_progress() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    // The employee subgraph on finance's bus, sealing pay facts with the same KEK.
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Embedded).await;
    runtime.bus = app.runtime.bus.clone();
    runtime.config.kek_file = app.runtime.config.kek_file.clone();
    let employee = erp_tests::EmployeeApp::spawn(runtime).await;
    let company = Company::open(&app, &issuer).await;
    let hr = issuer.token(
        &company.tenant,
        "u-hr",
        &["employee:read", "employee:write", "hr:admin"],
    );
    let mut ids = Vec::new();
    for (number, name, user, salary, bank) in [
        (
            "E1",
            "Alice",
            "u-alice",
            "60000.00",
            "DE89 3704 0044 0532 0130 00",
        ),
        (
            "E2",
            "Bob",
            "u-bob",
            "48000.00",
            "FR1420041010050500013M02606",
        ),
    ] {
        let id = employee
            .hire(&hr, json!({"employeeNumber": number, "displayName": name, "workEmail": format!("{number}@example.com"),
                "userId": user, "hiredOn": format!("{}-06-01", year() - 1)}))
            .await;
        employee
            .ok(&hr, "mutation($input: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $input) { id } }",
                json!({"input": {"employeeId": id, "salary": {"amount": salary, "currency": "EUR"}, "bankAccount": bank, "taxId": format!("TAX-{number}-9")}}))
            .await;
        company.assign(&app, &id).await;
        ids.push(id);
    }
    // Finance's consumers learn the people and their sealed pay from the bus.
    let known = eventually(std::time::Duration::from_secs(20), || async {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let count = Count::find_by_statement(Statement::from_string(
            app.runtime.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM finance_payroll_people WHERE salary_sealed IS NOT NULL AND bank_account_sealed IS NOT NULL".to_owned(),
        ))
        .one(&app.runtime.db)
        .await
        .unwrap()
        .map(|c| c.n)
        .unwrap_or(0);
        (count == 2).then_some(())
    })
    .await;
    assert!(known.is_some(), "finance never learnt both employees' pay");

    let admin = &company.admin;
    let period = format!("{}-01", year());
    let run = company.run(&app, &period).await;
    let mut socket = ws_connect(app.addr, admin).await;
    ws_subscribe(
        &mut socket,
        "p1",
        "subscription($id: ID!) { payrollRunProgress(runId: $id) { runId phase total done failed remainingMilliseconds } }",
        json!({"id": run}),
    )
    .await;
    assert_eq!(
        progress(&mut socket).await,
        json!({"phase": "draft", "total": 0, "done": 0, "failed": 0, "remainingMilliseconds": 0})
    );
    app.ok(
        admin,
        &run_mutation("calculatePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": run}}),
    )
    .await;
    assert_eq!(
        progress(&mut socket).await,
        json!({"phase": "calculated", "total": 2, "done": 2, "failed": 0, "remainingMilliseconds": 0})
    );
    app.ok(
        admin,
        &run_mutation("approvePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": run}}),
    )
    .await;
    assert_eq!(progress(&mut socket).await["phase"], "approved");
    app.ok(
        admin,
        &step_mutation("postPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": "p", "runId": run}}),
    )
    .await;
    assert_eq!(progress(&mut socket).await["phase"], "posted");
    // A subscriber without a payroll scope is refused.
    let stranger = issuer.token(&company.tenant, "u-bob", &[]);
    let mut refused = ws_connect(app.addr, &stranger).await;
    ws_subscribe(
        &mut refused,
        "p2",
        "subscription($id: ID!) { payrollRunProgress(runId: $id) { phase } }",
        json!({"id": run}),
    )
    .await;
    let answer = ws_next(&mut refused).await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(answer["payload"]["data"], Value::Null);
    assert_eq!(
        erp_tests::error_codes(&answer["payload"]),
        vec!["UNAUTHORIZED_FIELD_OR_TYPE"]
    );

    // The employees read their own slips, computed from the employee subgraph's pay.
    let alice = issuer.token(&company.tenant, "u-alice", &[]);
    let mine = app
        .ok(
            &alice,
            "{ myPayslips { employeeId net { amount } gross { amount } } }",
            json!({}),
        )
        .await["myPayslips"]
        .clone();
    // Alice without the BONUS of the other test: 7000.00 - 600.00 - 1233.33 = 5166.67.
    assert_eq!(
        mine,
        json!([{"employeeId": ids[0], "net": {"amount": "5166.67"}, "gross": {"amount": "7000.00"}}])
    );
    let bob = app
        .ok(
            &stranger,
            "{ myPayslips { employeeId net { amount } } }",
            json!({}),
        )
        .await["myPayslips"]
        .clone();
    // Bob without unpaid leave: 5600.00 - 480.00 - 953.33 = 4166.67.
    assert_eq!(
        bob,
        json!([{"employeeId": ids[1], "net": {"amount": "4166.67"}}])
    );

    // The employee subgraph's event carried the pay sealed, never in clear.
    #[derive(FromQueryResult)]
    struct Envelope {
        envelope: String,
    }
    let envelopes: Vec<String> = Envelope::find_by_statement(Statement::from_string(
        employee.runtime.db.get_database_backend(),
        "SELECT envelope FROM employee_outbox WHERE event_type = 'employee.compensation_changed'"
            .to_owned(),
    ))
    .all(&employee.runtime.db)
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.envelope)
    .collect();
    assert_eq!(envelopes.len(), 2);

    // Analytics of the one-process mode (the embedded engine) on finance's in-process bus:
    // each person's employer cost, to the cent.
    let analytics = AnalyticsApp::spawn_with(
        &issuer,
        erp_analytics::embedded_store(None).unwrap(),
        "",
        Some(vec!["erp.finance.events".to_owned()]),
        app.runtime.bus.clone(),
        app.runtime.config.kek_file.clone(),
    )
    .await;
    let analytics_hr = issuer.token(&company.tenant, "u-hr", ANALYTICS_HR);
    await_labour_cost(
        &analytics,
        &analytics_hr,
        &[(ids[0].as_str(), "700000"), (ids[1].as_str(), "560000")],
    )
    .await;
    for envelope in &envelopes {
        assert!(envelope.contains("sealed_for_payroll"), "{envelope}");
        for secret in ["60000", "48000", "DE89", "FR14", "TAX-E1", "TAX-E2"] {
            assert!(
                !envelope.contains(secret),
                "`{secret}` in clear: {envelope}"
            );
        }
    }

    // Bob's exit, recorded in the employee subgraph with a last working day of 15 April
    // (`employee.left`, or `employee.exit_scheduled` before that day: either records the day),
    // reaches payroll over the bus: April (30 days) pays him 15/30 (BASIC 2000.00, HRA 800.00,
    // PENSION 240.00, TAX 20 % of (2800.00 x 12 - 10000.00) / 12 = 393.33), May leaves him out.
    let last_day = format!("{}-04-15", year());
    employee
        .ok(
            &hr,
            "mutation($i: RecordEmployeeExitInput!) { recordEmployeeExit(input: $i) { id } }",
            json!({"i": {"employeeId": ids[1], "lastWorkingDay": last_day, "reason": "RESIGNATION"}}),
        )
        .await;
    let recorded = eventually(std::time::Duration::from_secs(20), || async {
        #[derive(FromQueryResult)]
        struct Day {
            day: String,
        }
        Day::find_by_statement(Statement::from_string(
            app.runtime.db.get_database_backend(),
            "SELECT CAST(last_working_day AS TEXT) AS day FROM finance_payroll_exits".to_owned(),
        ))
        .one(&app.runtime.db)
        .await
        .unwrap()
        .map(|d| d.day)
    })
    .await;
    assert_eq!(recorded.as_deref(), Some(last_day.as_str()));
    let april = post_run(&app, &company, &format!("{}-04", year()), "apr").await;
    let slips = slips_of(&app, &company, april["id"].as_str().unwrap()).await;
    let slip_of = |id: &str| {
        slips
            .iter()
            .find(|slip| slip["employee"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        slip_of(&ids[1]),
        json!({"employee": ids[1], "gross": "2800.00", "deductions": "633.33", "net": "2166.67",
            "lines": ["BASIC 2000.00", "HRA 800.00", "PENSION 240.00", "TAX 393.33"]})
    );
    assert_eq!(slip_of(&ids[0])["net"], "5166.67");
    let may = post_run(&app, &company, &format!("{}-05", year()), "may").await;
    assert_eq!(may["slipCount"], 1);
}

/// Analytics' labour cost of January (the payroll period of these tests) per person, as HR and
/// finance see it: (person, currency) and the value in minor units.
async fn labour_cost(analytics: &AnalyticsApp, token: &str) -> Vec<(String, String, Value)> {
    let y = year();
    let data = analytics
        .ok(
            token,
            "query($i: MetricInput!) { metric(input: $i) { rows { dimensions value } } }",
            json!({"i": {"metric": "labour_cost", "groupBy": ["person"],
                "from": format!("{y}-01-01"), "to": format!("{y}-01-31")}}),
        )
        .await;
    data["metric"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["dimensions"][0].as_str().unwrap().to_owned(),
                row["dimensions"][1].as_str().unwrap().to_owned(),
                row["value"].clone(),
            )
        })
        .collect()
}

/// Waits until analytics' January labour cost is `expected`; fails with what it shows.
async fn await_labour_cost(analytics: &AnalyticsApp, token: &str, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String, Value)> = expected
        .iter()
        .map(|(person, value)| ((*person).to_owned(), "EUR".to_owned(), json!(value)))
        .collect();
    let seen = eventually(std::time::Duration::from_secs(60), || async {
        (labour_cost(analytics, token).await == expected).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "analytics shows {:?}, not {expected:?}",
        labour_cost(analytics, token).await
    );
}

const ANALYTICS_HR: &[&str] = &["analytics:read", "hr:admin", "finance:read"];

#[tokio::test]
async fn a_posted_run_reaches_analytics_labour_cost_sealed_through_kafka_and_a_cancellation_zeroes_it(
) {
    // A broker of this test's own: finance's topic holds this test's events only.
    let (_broker, brokers) = erp_tests::broker::private_broker();
    let issuer = TestIssuer::start().await;
    let app =
        FinanceApp::spawn_with(&issuer, erp_tests::Backends::RealWithKafka(brokers.clone())).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    for employee in ["e-alice", "e-bob"] {
        company.assign(&app, employee).await;
    }
    let admin = &company.admin;
    let t = &company.tenant;
    let run = company.run(&app, &format!("{}-01", year())).await;
    for (name, input) in [
        ("calculatePayrollRun", "PayrollRunInput"),
        ("approvePayrollRun", "PayrollRunInput"),
    ] {
        app.ok(
            admin,
            &run_mutation(name, input),
            json!({"input": {"runId": run}}),
        )
        .await;
    }
    app.ok(
        admin,
        &step_mutation("postPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": "post-a", "runId": run}}),
    )
    .await;

    // Two parts that break the contract, on the same topic: one sealed under another key, one
    // with a currency that is not one.
    let bus = KafkaBus::new(KafkaConfig::new(brokers.clone())).unwrap();
    let stranger = LocalKek::load_or_create(&std::env::temp_dir().join(format!(
        "erp-test-stranger-kek-{}.key",
        uuid::Uuid::new_v4().simple()
    )))
    .unwrap();
    let forged_slips =
        json!({"slips": [{"payslip_id": "ps-forged", "employee_id": "e-alice", "employer_cost": 1}]})
            .to_string();
    let forged = seal_in_transit(
        &stranger,
        &format!("payroll.cost_posted|{t}|run-forged|1|posted"),
        &forged_slips,
    )
    .await
    .unwrap();
    let part = |run_id: &str, currency: &str, sealed: &str| {
        event(
            t,
            "payroll.cost_posted",
            run_id,
            json!({"run_id": run_id, "period": "2000-01", "period_end": format!("{}-01-31", year()),
                "run_type": "regular", "currency": currency, "part": 1, "parts": 1,
                "slip_count": 1, "reversal": false, "sealed_for_analytics": sealed}),
        )
    };
    bus.publish("erp.finance.events", &part("run-forged", "EUR", &forged))
        .await
        .unwrap();
    bus.publish("erp.finance.events", &part("run-euro", "euro", &forged))
        .await
        .unwrap();

    // Analytics on the real ClickHouse, reading finance's topic with the KEK the domains share.
    let database = fresh_clickhouse_database();
    let analytics_bus: SharedBus =
        std::sync::Arc::new(KafkaBus::new(KafkaConfig::new(brokers)).unwrap());
    let analytics = AnalyticsApp::spawn_with(
        &issuer,
        clickhouse_store(&database),
        &database,
        Some(vec!["erp.finance.events".to_owned()]),
        analytics_bus,
        app.runtime.config.kek_file.clone(),
    )
    .await;
    let hr = issuer.token(t, "u-hr", ANALYTICS_HR);
    // Each person's employer cost (the slip's gross) to the cent: Alice 7,000.00 (no bonus
    // here), Bob 5,238.72 (two unpaid days).
    await_labour_cost(
        &analytics,
        &hr,
        &[("e-alice", "700000"), ("e-bob", "523872")],
    )
    .await;
    // A finance reader without `hr:admin` may not read it per person; an analyst not at all.
    let analyst = issuer.token(t, "u-analyst", &["analytics:read"]);
    let (_, refused) = analytics
        .graphql(
            &analyst,
            "query($i: MetricInput!) { metric(input: $i) { rows { value } } }",
            json!({"i": {"metric": "labour_cost", "groupBy": ["month"],
                "from": format!("{}-01-01", year()), "to": format!("{}-01-31", year())}}),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"], "COST_FORBIDDEN",
        "{refused}"
    );

    // The malformed parts are dead-lettered with their reasons; finance's other events
    // (`payroll.posted` with ids and counts, `payslip.published`, `journal.posted`) are not.
    let letters = eventually(std::time::Duration::from_secs(30), || async {
        let letters = dead_letters(&database, &analytics.group).await;
        (letters.len() >= 2).then_some(letters)
    })
    .await
    .unwrap_or_default();
    assert_eq!(
        letters,
        vec![
            (
                "payroll.cost_posted".to_owned(),
                "rejected".to_owned(),
                "`euro` is not an ISO 4217 currency".to_owned()
            ),
            // A part that does not open is retried first (a key service may be down): it is
            // dead-lettered once the consumer's attempts are spent.
            (
                "payroll.cost_posted".to_owned(),
                "exhausted".to_owned(),
                "payroll.cost_posted: `sealed_for_analytics` does not open with this service's key (sealed under another key, for another event, or altered)".to_owned()
            ),
        ]
    );

    // On the bus, the costs travelled sealed.
    let outbox = raw_rows(&app, "finance_outbox", t).await;
    let costs: Vec<String> = outbox
        .iter()
        .filter(|r| r.contains("payroll.cost_posted"))
        .cloned()
        .collect();
    assert_eq!(costs.len(), 1);
    assert!(costs[0].contains("sealed_for_analytics"), "{}", costs[0]);
    assert_no_plaintext("payroll.cost_posted", &costs);

    // Cancelling the run reverses its entry, and its slips' cost in analytics goes to 0.
    app.ok(
        admin,
        &step_mutation("cancelPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": "cancel-a", "runId": run}}),
    )
    .await;
    await_labour_cost(&analytics, &hr, &[("e-alice", "0"), ("e-bob", "0")]).await;
}

/// A consumer group's dead letters in the ClickHouse `database`: (event type, failure, error),
/// sorted.
async fn dead_letters(database: &str, group: &str) -> Vec<(String, String, String)> {
    let body = reqwest::Client::new()
        .post(erp_tests::require_env("CLICKHOUSE_URL"))
        .query(&[("database", database), ("param_group", group)])
        .body(
            "SELECT event_type, failure, error FROM dead_letters FINAL \
             WHERE consumer_group = {group:String} ORDER BY error FORMAT JSONEachRow",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            (
                row["event_type"].as_str().unwrap_or_default().to_owned(),
                row["failure"].as_str().unwrap_or_default().to_owned(),
                row["error"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `employee.left` (or `employee.exit_scheduled`, `employee.exit_cancelled`) as the employee
/// subgraph writes it.
fn exit_event(
    tenant: &str,
    event_type: &str,
    employee: &str,
    last_working_day: &str,
) -> EventEnvelope {
    event(
        tenant,
        event_type,
        employee,
        json!({"employee_id": employee, "employee_number": employee, "display_name": employee,
            "user_id": null, "manager_id": null, "department_id": null,
            "hired_on": format!("{}-06-01", year() - 1), "last_working_day": last_working_day,
            "reason": "resignation"}),
    )
}

/// Creates, calculates, approves and posts a run of `period`; answers the run.
async fn post_run(app: &FinanceApp, company: &Company, period: &str, key: &str) -> Value {
    let run = company.run(app, period).await;
    for (name, input) in [
        ("calculatePayrollRun", "PayrollRunInput"),
        ("approvePayrollRun", "PayrollRunInput"),
    ] {
        app.ok(
            &company.admin,
            &run_mutation(name, input),
            json!({"input": {"runId": run}}),
        )
        .await;
    }
    app.ok(
        &company.admin,
        &step_mutation("postPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": key, "runId": run}}),
    )
    .await["postPayrollRun"]["run"]
        .clone()
}

/// A run's payslips as (employee, gross, deductions, net, [(code, amount)]).
async fn slips_of(app: &FinanceApp, company: &Company, run: &str) -> Vec<Value> {
    let query =
        format!("query($id: ID!) {{ payrollRun(id: $id) {{ payslips {{ {SLIP_FIELDS} }} }} }}");
    app.ok(&company.admin, &query, json!({"id": run})).await["payrollRun"]["payslips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slip| {
            json!({
                "employee": slip["employeeId"],
                "gross": slip["gross"]["amount"],
                "deductions": slip["deductions"]["amount"],
                "net": slip["net"]["amount"],
                "lines": slip["lines"].as_array().unwrap().iter()
                    .map(|l| format!("{} {}", l["code"].as_str().unwrap(), l["amount"]["amount"].as_str().unwrap()))
                    .collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// A journal entry's lines as sorted (account code, debit, credit).
async fn entry_lines(
    app: &FinanceApp,
    token: &str,
    entry: &Value,
) -> (Value, Vec<(String, String, String)>) {
    let entry = app
        .ok(
            token,
            "query($id: ID!) { journalEntry(id: $id) { source sourceId lines { account { code } debit { amount } credit { amount } } } }",
            json!({"id": entry}),
        )
        .await["journalEntry"]
        .clone();
    let mut lines: Vec<(String, String, String)> = entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account"]["code"].as_str().unwrap().to_owned(),
                l["debit"]["amount"].as_str().unwrap().to_owned(),
                l["credit"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    (
        json!({"source": entry["source"], "sourceId": entry["sourceId"]}),
        lines,
    )
}

const LOAN_FIELDS: &str = "id employeeId principal { amount currency } instalment { amount } repaid { amount } outstanding { amount } startPeriod state grantEntryId note closedAt repayments { period amount { amount } state reason } schedule { period amount { amount } }";
const GRANT: &str = "mutation($input: GrantPayrollLoanInput!) { grantPayrollLoan(input: $input) { replayed loan { id employeeId principal { amount currency } instalment { amount } outstanding { amount } startPeriod state grantEntryId } } }";

async fn loan(app: &FinanceApp, company: &Company, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ payrollLoan(id: $id) {{ {LOAN_FIELDS} }} }}");
    app.ok(&company.admin, &query, json!({"id": id})).await["payrollLoan"].clone()
}

#[tokio::test]
async fn a_loan_is_deducted_on_each_slip_repaid_on_posting_restored_on_cancel_and_closed_at_zero_and_a_leaver_settles_it_in_full(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    for employee in ["e-alice", "e-bob", "e-dave"] {
        company.assign(&app, employee).await;
    }
    let admin = &company.admin;
    let t = &company.tenant;
    let y = year();
    let jan = format!("{y}-01");
    let grant = |key: &str, employee: &str, principal: &str, instalment: &str, start: &str| {
        json!({"input": {"idempotencyKey": key, "employeeId": employee, "principal": principal,
            "instalment": instalment, "startPeriod": start, "note": "Salary advance"}})
    };

    // Bad terms, an unknown employee, a bad period, a reader without payroll:admin.
    for (input, expected) in [
        (
            grant("b1", "e-alice", "0", "0", &jan),
            ("BAD_USER_INPUT", "BAD_LOAN_TERMS"),
        ),
        (
            grant("b2", "e-alice", "100.00", "100.01", &jan),
            ("BAD_USER_INPUT", "BAD_LOAN_TERMS"),
        ),
        (
            grant("b3", "e-alice", "100.00", "0", &jan),
            ("BAD_USER_INPUT", "BAD_LOAN_TERMS"),
        ),
        (
            grant("b4", "e-zed", "100.00", "10.00", &jan),
            ("BAD_USER_INPUT", "PAYROLL_EMPLOYEE_UNKNOWN"),
        ),
        (
            grant("b5", "e-alice", "100.00", "10.00", &format!("{y}-13")),
            ("BAD_USER_INPUT", "BAD_PAYROLL_PERIOD"),
        ),
    ] {
        assert_eq!(
            app.refused(admin, GRANT, input.clone()).await,
            (expected.0.to_owned(), expected.1.to_owned()),
            "{input}"
        );
    }
    let reader = issuer.token(t, "u-reader", &["payroll:read"]);
    assert_eq!(
        app.refused(
            &reader,
            GRANT,
            grant("b6", "e-alice", "100.00", "10.00", &jan)
        )
        .await
        .0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    let outsider = issuer.token(t, "u-outsider", &["finance:read"]);
    assert_eq!(
        app.refused(&outsider, "{ payrollLoans { nodes { id } } }", json!({}))
            .await
            .0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );

    // Alice borrows 1200.00 at 500.00 a month; the same key replays the grant.
    let granted = app
        .ok(
            admin,
            GRANT,
            grant("loan-alice", "e-alice", "1200.00", "500.00", &jan),
        )
        .await["grantPayrollLoan"]
        .clone();
    assert_eq!(granted["replayed"], false);
    let alice_loan = granted["loan"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        granted["loan"],
        json!({"id": alice_loan, "employeeId": "e-alice", "principal": {"amount": "1200.00", "currency": "EUR"},
            "instalment": {"amount": "500.00"}, "outstanding": {"amount": "1200.00"}, "startPeriod": jan,
            "state": "OPEN", "grantEntryId": granted["loan"]["grantEntryId"]})
    );
    let replayed = app
        .ok(
            admin,
            GRANT,
            grant("loan-alice", "e-alice", "1200.00", "500.00", &jan),
        )
        .await["grantPayrollLoan"]
        .clone();
    assert_eq!(
        (replayed["replayed"].clone(), replayed["loan"]["id"].clone()),
        (json!(true), json!(alice_loan))
    );
    assert_eq!(
        app.refused(
            admin,
            GRANT,
            grant("loan-alice", "e-alice", "1300.00", "500.00", &jan)
        )
        .await,
        ("CONFLICT".into(), "IDEMPOTENCY_KEY_REUSED".into())
    );
    // The grant pays the loan out: loans receivable (1300, added to the chart) against the bank.
    let (source, lines) = entry_lines(&app, admin, &granted["loan"]["grantEntryId"]).await;
    assert_eq!(
        source,
        json!({"source": "PAYROLL_LOAN", "sourceId": alice_loan})
    );
    assert_eq!(
        lines,
        vec![
            ("1000".into(), "0.00".into(), "1200.00".into()),
            ("1300".into(), "1200.00".into(), "0.00".into()),
        ]
    );

    // Dave borrows 2000.00 at 300.00, then leaves on 10 January: his final slip settles what it
    // can of the whole balance, and nobody lends to a leaver beyond their last period.
    let dave_loan = app
        .ok(
            admin,
            GRANT,
            grant("loan-dave", "e-dave", "2000.00", "300.00", &jan),
        )
        .await["grantPayrollLoan"]["loan"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = exit_event(t, "employee.left", "e-dave", &format!("{y}-01-10"));
    for _ in 0..2 {
        app.finance.apply_payroll_event(&left).await.unwrap();
    }
    assert_eq!(
        app.refused(
            admin,
            GRANT,
            grant(
                "loan-dave-2",
                "e-dave",
                "100.00",
                "10.00",
                &format!("{y}-02")
            )
        )
        .await,
        ("CONFLICT".into(), "PAYROLL_EMPLOYEE_LEFT".into())
    );

    // January: Alice's instalment comes off her net (5166.67 - 500.00); Dave, paid 10/31 days,
    // nets 1241.94 before his loan: all of it goes to the loan (NET_PAY_LIMIT), net 0.
    let run = company.run(&app, &jan).await;
    app.ok(
        admin,
        &run_mutation("calculatePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": run}}),
    )
    .await;
    assert_eq!(
        slips_of(&app, &company, &run).await,
        vec![
            json!({"employee": "e-alice", "gross": "7000.00", "deductions": "2333.33", "net": "4666.67",
                "lines": ["BASIC 5000.00", "HRA 2000.00", "PENSION 600.00", "TAX 1233.33", "LOAN 500.00"]}),
            json!({"employee": "e-bob", "gross": "5238.72", "deductions": "1330.11", "net": "3908.61",
                "lines": ["BASIC 3741.94", "HRA 1496.78", "PENSION 449.03", "TAX 881.08"]}),
            json!({"employee": "e-dave", "gross": "1505.38", "deductions": "1505.38", "net": "0.00",
                "lines": ["BASIC 1075.27", "HRA 430.11", "PENSION 129.03", "TAX 134.41", "LOAN 1241.94"]}),
        ]
    );
    // Calculated, not posted: the balance is unchanged, the instalment reserved.
    let pending = loan(&app, &company, &alice_loan).await;
    assert_eq!(pending["outstanding"], json!({"amount": "1200.00"}));
    assert_eq!(
        pending["repayments"],
        json!([{"period": jan, "amount": {"amount": "500.00"}, "state": "PENDING", "reason": null}])
    );
    assert_eq!(
        pending["schedule"],
        json!([{"period": format!("{y}-02"), "amount": {"amount": "500.00"}},
               {"period": format!("{y}-03"), "amount": {"amount": "200.00"}}])
    );
    for (name, input) in [("approvePayrollRun", "PayrollRunInput")] {
        app.ok(
            admin,
            &run_mutation(name, input),
            json!({"input": {"runId": run}}),
        )
        .await;
    }
    let posted = app
        .ok(
            admin,
            &step_mutation("postPayrollRun", "PayrollRunStepInput"),
            json!({"input": {"idempotencyKey": "jan-1", "runId": run}}),
        )
        .await["postPayrollRun"]["run"]
        .clone();
    // The run's entry stays balanced: Σ earnings 13744.10 = pension 1178.06 + tax 2248.82 +
    // loans receivable 1741.94 (500.00 + 1241.94) + net pay 8575.28.
    let (_, lines) = entry_lines(&app, admin, &posted["entryId"]).await;
    assert_eq!(
        lines,
        vec![
            ("1300".into(), "0.00".into(), "1741.94".into()),
            ("2300".into(), "0.00".into(), "8575.28".into()),
            ("2400".into(), "0.00".into(), "1178.06".into()),
            ("2500".into(), "0.00".into(), "2248.82".into()),
            ("6100".into(), "13744.10".into(), "0.00".into()),
        ]
    );
    let after_post = loan(&app, &company, &alice_loan).await;
    assert_eq!(
        (
            after_post["outstanding"].clone(),
            after_post["repaid"].clone(),
            after_post["repayments"][0]["state"].clone()
        ),
        (
            json!({"amount": "700.00"}),
            json!({"amount": "500.00"}),
            json!("POSTED")
        )
    );
    let dave = loan(&app, &company, &dave_loan).await;
    assert_eq!(
        (
            dave["outstanding"].clone(),
            dave["state"].clone(),
            dave["schedule"].clone(),
            dave["repayments"].clone()
        ),
        (
            json!({"amount": "758.06"}),
            json!("OPEN"),
            json!([]),
            json!([{"period": jan, "amount": {"amount": "1241.94"}, "state": "POSTED", "reason": "NET_PAY_LIMIT"}])
        )
    );

    // Cancelling the posted run reverses its entry and restores the balance.
    app.ok(
        admin,
        &step_mutation("cancelPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": "jan-cancel", "runId": run}}),
    )
    .await;
    let restored = loan(&app, &company, &alice_loan).await;
    assert_eq!(
        (
            restored["outstanding"].clone(),
            restored["repayments"][0]["state"].clone()
        ),
        (json!({"amount": "1200.00"}), json!("CANCELLED"))
    );

    // January again, then February (Dave, gone, is left out) and March: 500 + 500 + 200.
    let jan_again = post_run(&app, &company, &jan, "jan-2").await;
    // Paying it transfers each net pay but Dave's 0.00 (a bank refuses a transfer of 0).
    let pay = "mutation($input: PayPayrollRunInput!) { payPayrollRun(input: $input) { run { bankFile { content } } } }";
    let csv = app
        .ok(admin, pay, json!({"input": {"idempotencyKey": "jan-pay", "runId": jan_again["id"], "format": "CSV"}}))
        .await["payPayrollRun"]["run"]["bankFile"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[1].to_owned(), fields[3].to_owned())
        })
        .collect();
    assert_eq!(
        paid,
        vec![
            ("e-alice".to_owned(), "4666.67".to_owned()),
            ("e-bob".to_owned(), "3908.61".to_owned())
        ]
    );
    let feb = post_run(&app, &company, &format!("{y}-02"), "feb").await;
    // Carol has no structure (reported as ever); Dave is not even reported.
    assert_eq!(feb["slipCount"], 2);
    assert_eq!(feb["failures"][0]["employeeId"], "e-carol");
    assert_eq!(feb["failures"].as_array().unwrap().len(), 1);
    let march = post_run(&app, &company, &format!("{y}-03"), "mar").await;
    let march_slips = slips_of(&app, &company, march["id"].as_str().unwrap()).await;
    assert_eq!(
        march_slips[0],
        json!({"employee": "e-alice", "gross": "7000.00", "deductions": "2033.33", "net": "4966.67",
            "lines": ["BASIC 5000.00", "HRA 2000.00", "PENSION 600.00", "TAX 1233.33", "LOAN 200.00"]})
    );
    let closed = loan(&app, &company, &alice_loan).await;
    assert_eq!(
        (
            closed["outstanding"].clone(),
            closed["repaid"].clone(),
            closed["state"].clone(),
            closed["schedule"].clone()
        ),
        (
            json!({"amount": "0.00"}),
            json!({"amount": "1200.00"}),
            json!("CLOSED"),
            json!([])
        )
    );
    assert!(closed["closedAt"].is_string(), "{closed}");
    let history: Vec<(String, String, String)> = closed["repayments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_owned(),
                r["amount"]["amount"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            (jan.clone(), "500.00".into(), "CANCELLED".into()),
            (jan.clone(), "500.00".into(), "POSTED".into()),
            (format!("{y}-02"), "500.00".into(), "POSTED".into()),
            (format!("{y}-03"), "200.00".into(), "POSTED".into()),
        ]
    );
    // April: the loan is closed, nothing more is deducted.
    let april = company.run(&app, &format!("{y}-04")).await;
    app.ok(
        admin,
        &run_mutation("calculatePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": april}}),
    )
    .await;
    assert_eq!(
        slips_of(&app, &company, &april).await[0]["lines"],
        json!([
            "BASIC 5000.00",
            "HRA 2000.00",
            "PENSION 600.00",
            "TAX 1233.33"
        ])
    );

    // The loans as a Relay connection, in the order granted.
    let page = app
        .ok(admin, "query($after: String) { payrollLoans(first: 1, after: $after) { nodes { employeeId } pageInfo { hasNextPage endCursor } } }", json!({"after": null}))
        .await["payrollLoans"]
        .clone();
    assert_eq!(page["nodes"], json!([{"employeeId": "e-alice"}]));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let next = app
        .ok(admin, "query($after: String) { payrollLoans(first: 1, after: $after) { nodes { employeeId } pageInfo { hasNextPage } } }", json!({"after": page["pageInfo"]["endCursor"]}))
        .await["payrollLoans"]
        .clone();
    assert_eq!(
        next,
        json!({"nodes": [{"employeeId": "e-dave"}], "pageInfo": {"hasNextPage": false}})
    );
    let daves = app
        .ok(
            admin,
            "query($e: ID) { payrollLoans(employeeId: $e) { nodes { id } } }",
            json!({"e": "e-dave"}),
        )
        .await["payrollLoans"]["nodes"]
        .clone();
    assert_eq!(daves, json!([{"id": dave_loan}]));

    // Loan amounts are sealed at rest.
    for table in ["finance_payroll_loans", "finance_payroll_loan_repayments"] {
        let rows = raw_rows(&app, table, t).await;
        assert!(!rows.is_empty(), "{table}");
        for row in &rows {
            for secret in ["120000", "1200.00", "124194", "1241.94"] {
                assert!(
                    !row.contains(secret),
                    "{table} holds `{secret}` in clear: {row}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_leaver_reaches_payroll_through_kafka_once_is_paid_pro_rata_and_left_out_of_later_periods(
) {
    // A broker of this test's own, with finance's consumers reading it.
    let (_broker, brokers) = erp_tests::broker::private_broker();
    let issuer = TestIssuer::start().await;
    let mut runtime =
        erp_tests::runtime(&issuer, erp_tests::Backends::RealWithKafka(brokers.clone())).await;
    runtime.config.service = "finance".into();
    let app = FinanceApp::serve(runtime, erp_finance::FinanceOptions::default()).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    for employee in ["e-alice", "e-bob", "e-dave"] {
        company.assign(&app, employee).await;
    }
    let t = &company.tenant;
    let y = year();

    // Dave leaves on 10 January (delivered twice: the second delivery changes nothing); Bob's
    // exit on 20 April is scheduled then cancelled; Alice's is scheduled for 15 April.
    let bus = KafkaBus::new(KafkaConfig::new(brokers)).unwrap();
    let dave_left = exit_event(t, "employee.left", "e-dave", &format!("{y}-01-10"));
    let events = [
        dave_left.clone(),
        dave_left.clone(),
        exit_event(t, "employee.exit_scheduled", "e-bob", &format!("{y}-04-20")),
        exit_event(t, "employee.exit_cancelled", "e-bob", &format!("{y}-04-20")),
        exit_event(
            t,
            "employee.exit_scheduled",
            "e-alice",
            &format!("{y}-04-15"),
        ),
    ];
    for event in &events {
        bus.publish("erp.employee.events", event).await.unwrap();
    }
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let handled = || async {
        Count::find_by_statement(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM finance_inbox WHERE consumer_group = 'erp.finance.payroll' AND tenant_id = $1",
            [t.as_str().into()],
        ))
        .one(&app.runtime.db)
        .await
        .unwrap()
        .map(|c| c.n)
        .unwrap_or(0)
    };
    let all = eventually(std::time::Duration::from_secs(60), || async {
        (handled().await == 4).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "the consumer handled {} events",
        handled().await
    );
    // Once each: the redelivered event is in the inbox once; the cancelled exit is gone.
    let exits = raw_rows(&app, "finance_payroll_exits", t).await;
    let mut recorded: Vec<(String, String, String)> = exits
        .iter()
        .map(|row| {
            let row: Value = serde_json::from_str(row).unwrap();
            (
                row["employee_id"].as_str().unwrap().to_owned(),
                row["last_working_day"].as_str().unwrap().to_owned(),
                row["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        vec![
            ("e-alice".into(), format!("{y}-04-15"), "scheduled".into()),
            ("e-dave".into(), format!("{y}-01-10"), "left".into()),
        ]
    );

    // January: Dave paid 10 of 31 calendar days: base 3333.33 x 10/31, BASIC 1075.27, HRA 40 %
    // 430.11, PENSION 12 % 129.03, TAX 20 % of (1505.38 x 12 - 10000.00) / 12 = 134.41.
    let jan = post_run(&app, &company, &format!("{y}-01"), "jan").await;
    let slips = slips_of(&app, &company, jan["id"].as_str().unwrap()).await;
    assert_eq!(
        slips[2],
        json!({"employee": "e-dave", "gross": "1505.38", "deductions": "263.44", "net": "1241.94",
            "lines": ["BASIC 1075.27", "HRA 430.11", "PENSION 129.03", "TAX 134.41"]})
    );
    assert_eq!(slips[0]["net"], "5166.67");
    // February: Dave is left out (Carol, without a structure, is reported as ever).
    let feb = post_run(&app, &company, &format!("{y}-02"), "feb").await;
    assert_eq!(feb["slipCount"], 2);
    assert_eq!(
        feb["failures"],
        json!([{"employeeId": "e-carol", "reason": "MISSING_STRUCTURE", "message": "no salary structure is assigned on the period's end"}])
    );
    // April (30 days): Bob's cancelled exit pays him the whole month; Alice, leaving on the
    // 15th, is paid 15/30: BASIC 2500.00, HRA 1000.00, PENSION 300.00, TAX 20 % of
    // (3500.00 x 12 - 10000.00) / 12 = 533.33.
    let april = post_run(&app, &company, &format!("{y}-04"), "apr").await;
    assert_eq!(
        slips_of(&app, &company, april["id"].as_str().unwrap()).await,
        vec![
            json!({"employee": "e-alice", "gross": "3500.00", "deductions": "833.33", "net": "2666.67",
                "lines": ["BASIC 2500.00", "HRA 1000.00", "PENSION 300.00", "TAX 533.33"]}),
            json!({"employee": "e-bob", "gross": "5600.00", "deductions": "1433.33", "net": "4166.67",
                "lines": ["BASIC 4000.00", "HRA 1600.00", "PENSION 480.00", "TAX 953.33"]}),
        ]
    );
    // May: both leavers are out; only Bob is paid.
    let may = post_run(&app, &company, &format!("{y}-05"), "may").await;
    assert_eq!(may["slipCount"], 1);
}

/// `employee.hired` and `employee.compensation_changed` of a new employee, applied as finance's
/// consumers would.
async fn hire_into_payroll(
    app: &FinanceApp,
    company: &Company,
    employee: &str,
    hired_on: &str,
    salary: &str,
) {
    let t = &company.tenant;
    let hired = event(
        t,
        "employee.hired",
        employee,
        json!({"employee_id": employee, "display_name": employee, "user_id": null, "employee_number": employee, "hired_on": hired_on}),
    );
    let pay = compensation(
        app,
        t,
        employee,
        salary,
        Some("GB29NWBK60161331926819"),
        "TAX-NEW-1",
    )
    .await;
    for event in [&hired, &pay] {
        app.finance.apply_employee_event(event).await.unwrap();
        app.finance.apply_payroll_event(event).await.unwrap();
    }
}

#[tokio::test]
async fn a_joiner_is_paid_pro_rata_from_the_hire_date_and_left_out_of_the_periods_before_it() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    let y = year();
    // Erin joins on 11 March, Frank on 1 April; both are assigned a structure dated long
    // before (an assignment does not make anyone employed).
    hire_into_payroll(&app, &company, "e-erin", &format!("{y}-03-11"), "36000.00").await;
    hire_into_payroll(&app, &company, "e-frank", &format!("{y}-04-01"), "36000.00").await;
    for employee in ["e-alice", "e-erin", "e-frank"] {
        company.assign(&app, employee).await;
    }

    // March (31 days): Erin is paid the 11th to the 31st, 21 days: base 3000.00 x 21/31 =
    // 2032.258.. -> BASIC 2032.26, HRA 40 % 812.90, gross 2845.16; PENSION 12 % 243.87, TAX 20 %
    // of (2845.16 x 12 - 10000.00) = 4828.38 / 12 = 402.365 -> 402.37. Frank is left out (no
    // slip, no failure); Alice is paid the whole month.
    let march = post_run(&app, &company, &format!("{y}-03"), "mar").await;
    let slips = slips_of(&app, &company, march["id"].as_str().unwrap()).await;
    assert_eq!(
        slips,
        vec![
            json!({"employee": "e-alice", "gross": "7000.00", "deductions": "1833.33", "net": "5166.67",
                "lines": ["BASIC 5000.00", "HRA 2000.00", "PENSION 600.00", "TAX 1233.33"]}),
            json!({"employee": "e-erin", "gross": "2845.16", "deductions": "646.24", "net": "2198.92",
                "lines": ["BASIC 2032.26", "HRA 812.90", "PENSION 243.87", "TAX 402.37"]}),
        ]
    );
    let failed: Vec<&str> = march["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["employeeId"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["e-bob", "e-carol", "e-dave"]);
    // The entry's net pay is the sum of the slips' nets: 5166.67 + 2198.92.
    let (_, lines) = entry_lines(&app, &company.admin, &march["entryId"]).await;
    assert!(
        lines.contains(&("2300".into(), "0.00".into(), "7365.59".into())),
        "{lines:?}"
    );

    // April (30 days): Frank, hired on its first day, is paid the whole month: BASIC 3000.00,
    // HRA 1200.00, PENSION 360.00, TAX 20 % of (4200.00 x 12 - 10000.00) / 12 = 673.33.
    let april = post_run(&app, &company, &format!("{y}-04"), "apr").await;
    let slips = slips_of(&app, &company, april["id"].as_str().unwrap()).await;
    assert_eq!(
        slips[2],
        json!({"employee": "e-frank", "gross": "4200.00", "deductions": "1033.33", "net": "3166.67",
            "lines": ["BASIC 3000.00", "HRA 1200.00", "PENSION 360.00", "TAX 673.33"]})
    );
    assert_eq!(slips[1]["net"], "3166.67");
}

/// A GraphQL error's (code, reason) from the employee subgraph.
async fn employee_refused(
    employee: &erp_tests::EmployeeApp,
    token: &str,
    query: &str,
    variables: Value,
) -> (String, String) {
    let (_, body) = employee.graphql(Some(token), query, variables).await;
    let error = &body["errors"][0]["extensions"];
    assert!(!error.is_null(), "not refused: {body}");
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

const CLOSE_PERIOD: &str = "mutation($i: CloseAttendancePeriodInput!) { closeAttendancePeriod(input: $i) { employeeId period workedMinutes overtimeMinutes closedBy } }";

#[tokio::test]
async fn overtime_approved_by_closing_the_attendance_period_is_paid_at_the_policys_multiplier() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    // The employee subgraph on finance's bus (the kit's consumers carry its events).
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Embedded).await;
    runtime.bus = app.runtime.bus.clone();
    runtime.config.kek_file = app.runtime.config.kek_file.clone();
    let employee = erp_tests::EmployeeApp::spawn(runtime).await;
    // The last month (always over, always inside the 90 days a correction may reach back).
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month.pred_opt().unwrap().with_day(1).unwrap();
    let period = last_month.format("%Y-%m").to_string();
    let company = Company::open_for(&app, &issuer, last_month.year()).await;
    let hr = issuer.token(
        &company.tenant,
        "u-hr",
        &[
            "employee:read",
            "employee:write",
            "hr:admin",
            "attendance:read",
        ],
    );
    let olga = employee
        .hire(
            &hr,
            json!({"employeeNumber": "E7", "displayName": "Olga", "workEmail": "e7@example.com",
            "userId": "u-olga", "hiredOn": format!("{}-06-01", last_month.year() - 1)}),
        )
        .await;
    employee
        .ok(&hr, "mutation($input: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $input) { id } }",
            json!({"input": {"employeeId": olga, "salary": {"amount": "41600.00", "currency": "EUR"}, "bankAccount": "DE89 3704 0044 0532 0130 00", "taxId": "TAX-E7-1"}}))
        .await;
    let olga_token = issuer.token(
        &company.tenant,
        "u-olga",
        &["attendance:checkin", "attendance:read"],
    );

    // Two corrected days of last month, approved by HR: the 10th 08:00-19:00 (11 h, 3 h over
    // the 8-hour day of someone without a shift), the 11th 09:00-17:30 (30 min over).
    for (day, from, to) in [(10, "08:00", "19:00"), (11, "09:00", "17:30")] {
        let day = last_month.with_day(day).unwrap();
        let requested = employee
            .ok(&olga_token, "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id } }",
                json!({"i": {"day": day.to_string(), "kind": "MISSED_PUNCH", "reason": "badge reader down",
                    "checkIn": format!("{day}T{from}:00Z"), "checkOut": format!("{day}T{to}:00Z")}}))
            .await;
        employee
            .ok(&hr, "mutation($i: DecideAttendanceCorrectionInput!) { decideAttendanceCorrection(input: $i) { status } }",
                json!({"i": {"correctionId": requested["requestAttendanceCorrection"]["id"], "decision": "APPROVE"}}))
            .await;
    }

    // Bad closes: one's own period, someone neither above Olga nor HR, a month not over, a
    // bad month.
    let close = |period: &str| json!({"i": {"employeeId": olga, "period": period}});
    assert_eq!(
        employee_refused(&employee, &olga_token, CLOSE_PERIOD, close(&period)).await,
        ("FORBIDDEN".into(), "SELF_APPROVAL".into())
    );
    let stranger = issuer.token(&company.tenant, "u-stranger", &["attendance:read"]);
    assert_eq!(
        employee_refused(&employee, &stranger, CLOSE_PERIOD, close(&period)).await,
        ("FORBIDDEN".into(), "NOT_APPROVER".into())
    );
    assert_eq!(
        employee_refused(
            &employee,
            &hr,
            CLOSE_PERIOD,
            close(&this_month.format("%Y-%m").to_string())
        )
        .await,
        ("BAD_USER_INPUT".into(), "PERIOD_NOT_OVER".into())
    );
    assert_eq!(
        employee_refused(&employee, &hr, CLOSE_PERIOD, close("2026-13"))
            .await
            .0,
        "BAD_USER_INPUT"
    );
    // HR closes it: 660 + 510 minutes worked, 180 + 30 over.
    let closed = employee.ok(&hr, CLOSE_PERIOD, close(&period)).await;
    assert_eq!(
        closed["closeAttendancePeriod"],
        json!({"employeeId": olga, "period": period, "workedMinutes": 1170, "overtimeMinutes": 210, "closedBy": "u-hr"})
    );
    // Once; and its days are no longer corrected.
    assert_eq!(
        employee_refused(&employee, &hr, CLOSE_PERIOD, close(&period)).await,
        ("CONFLICT".into(), "ATTENDANCE_PERIOD_CLOSED".into())
    );
    let twelfth = last_month.with_day(12).unwrap();
    assert_eq!(
        employee_refused(&employee, &olga_token, "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id } }",
            json!({"i": {"day": twelfth.to_string(), "kind": "MISSED_PUNCH", "reason": "forgot my badge",
                "checkIn": format!("{twelfth}T09:00:00Z"), "checkOut": format!("{twelfth}T20:00:00Z")}}))
            .await,
        ("CONFLICT".into(), "ATTENDANCE_PERIOD_CLOSED".into())
    );

    // Finance learns the overtime from `attendance.period_closed` on the bus (never from the
    // employee subgraph's tables).
    let learnt = eventually(std::time::Duration::from_secs(20), || async {
        #[derive(FromQueryResult)]
        struct Minutes {
            minutes: i64,
        }
        Minutes::find_by_statement(Statement::from_string(
            app.runtime.db.get_database_backend(),
            "SELECT overtime_minutes AS minutes FROM finance_payroll_overtime".to_owned(),
        ))
        .one(&app.runtime.db)
        .await
        .unwrap()
        .map(|m| m.minutes)
    })
    .await;
    assert_eq!(learnt, Some(210));
    let paid = eventually(std::time::Duration::from_secs(20), || async {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        Count::find_by_statement(Statement::from_string(
            app.runtime.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM finance_payroll_people WHERE salary_sealed IS NOT NULL"
                .to_owned(),
        ))
        .one(&app.runtime.db)
        .await
        .unwrap()
        .and_then(|c| (c.n == 1).then_some(()))
    })
    .await;
    assert!(paid.is_some(), "finance never learnt Olga's pay");

    // The policy: double time over a 2080-hour year; out of range is refused.
    let admin = &company.admin;
    const POLICY: &str = "mutation($input: SetPayrollPolicyInput!) { setPayrollPolicy(input: $input) { policy { overtimeMultiplier annualHours } } }";
    assert_eq!(
        app.refused(
            admin,
            POLICY,
            json!({"input": {"overtimeMultiplier": "0.5", "annualHours": 2080}})
        )
        .await,
        ("BAD_USER_INPUT".into(), "BAD_PAYROLL_POLICY".into())
    );
    assert_eq!(
        app.refused(
            admin,
            POLICY,
            json!({"input": {"overtimeMultiplier": "1.5", "annualHours": 0}})
        )
        .await,
        ("BAD_USER_INPUT".into(), "BAD_PAYROLL_POLICY".into())
    );
    assert_eq!(
        app.ok(
            admin,
            "{ payrollPolicy { overtimeMultiplier annualHours } }",
            json!({})
        )
        .await["payrollPolicy"],
        json!({"overtimeMultiplier": "1.5", "annualHours": 2080})
    );
    assert_eq!(
        app.ok(
            admin,
            POLICY,
            json!({"input": {"overtimeMultiplier": "2", "annualHours": 2080}})
        )
        .await["setPayrollPolicy"]["policy"],
        json!({"overtimeMultiplier": "2", "annualHours": 2080})
    );
    // A structure paying overtime: BASIC, then OVERTIME = hourly rate x hours x multiplier.
    let components = app
        .ok(admin, "{ salaryComponents { id code } }", json!({}))
        .await["salaryComponents"]
        .clone();
    let basic = components
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "BASIC")
        .unwrap()["id"]
        .clone();
    let overtime = app
        .ok(admin, COMPONENT, json!({"input": {"code": "OVERTIME", "name": "Overtime", "kind": "EARNING", "rule": "FORMULA",
            "formula": "hourly_rate * overtime_hours * overtime_multiplier", "accountId": company.accounts["6100"]}}))
        .await["createSalaryComponent"]["component"]["id"]
        .clone();
    let structure = app
        .ok(admin, "mutation($input: CreateSalaryStructureInput!) { createSalaryStructure(input: $input) { structure { id } } }",
            json!({"input": {"code": "OT", "name": "With overtime", "componentIds": [basic, overtime]}}))
        .await["createSalaryStructure"]["structure"]["id"]
        .clone();
    app.ok(admin, "mutation($input: AssignSalaryStructureInput!) { assignSalaryStructure(input: $input) { assignment { employeeId } } }",
        json!({"input": {"employeeId": olga, "structureId": structure, "effectiveFrom": format!("{}-01-01", last_month.year() - 1)}}))
        .await;

    // Last month's run: BASIC 41600.00 / 12 = 3466.67; OVERTIME 41600.00 / 2080 = 20.00 an
    // hour x 3.5 h x 2 = 140.00.
    let run = post_run(&app, &company, &period, "ot").await;
    assert_eq!(
        slips_of(&app, &company, run["id"].as_str().unwrap()).await,
        vec![
            json!({"employee": olga, "gross": "3606.67", "deductions": "0.00", "net": "3606.67",
            "lines": ["BASIC 3466.67", "OVERTIME 140.00"]})
        ]
    );
}

#[tokio::test]
async fn an_expense_reimbursed_through_payroll_is_a_non_taxable_line_settled_by_the_run_and_never_paid_by_the_bank(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    feed_people(&app, &company).await;
    for employee in ["e-alice", "e-bob"] {
        company.assign(&app, employee).await;
    }
    let (admin, y) = (&company.admin, year());
    let category = app
        .ok(admin, "mutation($input: CreateExpenseCategoryInput!) { createExpenseCategory(input: $input) { category { id } } }",
            json!({"input": {"code": "TRAVEL", "name": "Travel", "accountId": company.accounts["5000"], "receiptRequired": false}}))
        .await["createExpenseCategory"]["category"]["id"]
        .clone();
    let alice = issuer.token(&company.tenant, "u-alice", &["expense:submit"]);
    let claim = |title: &str, amount: &str| {
        json!({"input": {"title": title, "currency": "EUR", "lines": [{"categoryId": category,
            "spentOn": format!("{y}-01-05"), "description": "Train", "amount": amount}]}})
    };
    let new_claim = |title: &'static str, amount: &'static str| {
        let (app, alice, claim) = (&app, &alice, &claim);
        async move {
            app.ok(alice, "mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { claim { id } } }", claim(title, amount))
                .await["createExpenseClaim"]["claim"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let approved = new_claim("Trip to Lyon", "123.45").await;
    let draft = new_claim("Trip to Nice", "10.00").await;
    app.ok(
        &alice,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": approved}),
    )
    .await;
    app.ok(admin, "mutation($input: ApproveExpenseClaimInput!) { approveExpenseClaim(input: $input) { claim { state } } }",
        json!({"input": {"idempotencyKey": "approve-1", "claimId": approved}}))
        .await;

    const QUEUE: &str = "mutation($input: ReimburseExpenseThroughPayrollInput!) { reimburseExpenseThroughPayroll(input: $input) { reimbursement { expenseId employeeId runId state queuedBy } } }";
    const PAY: &str = "mutation($input: PayExpenseClaimInput!) { payExpenseClaim(input: $input) { claim { state } } }";
    // A claim not approved is not queued.
    assert_eq!(
        app.refused(admin, QUEUE, json!({"input": {"expenseId": draft}}))
            .await,
        ("CONFLICT".into(), "EXPENSE_STATE".into())
    );
    let queued = app
        .ok(admin, QUEUE, json!({"input": {"expenseId": approved}}))
        .await;
    assert_eq!(
        queued["reimburseExpenseThroughPayroll"]["reimbursement"],
        json!({"expenseId": approved, "employeeId": "e-alice", "runId": null, "state": "QUEUED", "queuedBy": "u-payroll"})
    );
    // Queued once; the bank never pays it.
    assert_eq!(
        app.refused(admin, QUEUE, json!({"input": {"expenseId": approved}}))
            .await,
        ("CONFLICT".into(), "EXPENSE_QUEUED_FOR_PAYROLL".into())
    );
    assert_eq!(
        app.refused(
            admin,
            PAY,
            json!({"input": {"idempotencyKey": "bank-1", "claimId": approved}})
        )
        .await,
        ("CONFLICT".into(), "EXPENSE_QUEUED_FOR_PAYROLL".into())
    );

    // January: Alice's slip pays the claim on a REIMBURSEMENT line, outside the taxed pay (TAX
    // 1233.33 as without it): gross 7000.00 + 123.45, net 5166.67 + 123.45.
    let january = post_run(&app, &company, &format!("{y}-01"), "jan").await;
    let run_id = january["id"].as_str().unwrap().to_owned();
    let slips = slips_of(&app, &company, &run_id).await;
    assert_eq!(
        slips[0],
        json!({"employee": "e-alice", "gross": "7123.45", "deductions": "1833.33", "net": "5290.12",
            "lines": ["BASIC 5000.00", "HRA 2000.00", "PENSION 600.00", "TAX 1233.33", "REIMBURSEMENT 123.45"]})
    );
    // Bob: 5600.00 less 2 days of unpaid leave (BASIC 4000.00 x 29/31), no reimbursement.
    assert_eq!(slips[1]["lines"].as_array().unwrap().len(), 4);
    // The run's one entry clears the reimbursement liability (2100) the approval credited and
    // owes the nets, the claim's included, on payroll payable (2300).
    let (_, lines) = entry_lines(&app, admin, &january["entryId"]).await;
    let net_total = {
        let cents = |text: &str| {
            let (whole, fraction) = text.split_once('.').unwrap();
            whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
        };
        let sum: i64 = slips
            .iter()
            .map(|s| cents(s["net"].as_str().unwrap()))
            .sum();
        format!("{}.{:02}", sum / 100, sum % 100)
    };
    assert!(
        lines.contains(&("2100".into(), "123.45".into(), "0.00".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("2300".into(), "0.00".into(), net_total.clone())),
        "{lines:?}"
    );
    // The claim is paid by the run; the bank refuses to pay it again.
    let state = |id: String| {
        let (app, admin) = (&app, admin);
        async move {
            app.ok(
                admin,
                "query($id: ID!) { expenseClaim(id: $id) { state } }",
                json!({"id": id}),
            )
            .await["expenseClaim"]["state"]
                .clone()
        }
    };
    assert_eq!(state(approved.clone()).await, "PAID");
    let reimbursement = |id: String| {
        let (app, admin) = (&app, admin);
        async move {
            app.ok(
                admin,
                "query($id: ID!) { payrollReimbursement(expenseId: $id) { runId state } }",
                json!({"id": id}),
            )
            .await["payrollReimbursement"]
                .clone()
        }
    };
    assert_eq!(
        reimbursement(approved.clone()).await,
        json!({"runId": run_id, "state": "PAID"})
    );
    assert_eq!(
        app.refused(
            admin,
            PAY,
            json!({"input": {"idempotencyKey": "bank-2", "claimId": approved}})
        )
        .await
        .1,
        "EXPENSE_ALREADY_PAID"
    );
    // Paying the run transfers the nets: the bank file's total is the payable credit.
    let paid = app
        .ok(
            admin,
            &step_mutation("payPayrollRun", "PayPayrollRunInput"),
            json!({"input": {"idempotencyKey": "pay-jan", "runId": run_id, "format": "CSV"}}),
        )
        .await;
    let (_, payment) =
        entry_lines(&app, admin, &paid["payPayrollRun"]["run"]["paymentEntryId"]).await;
    assert!(
        payment.contains(&("2300".into(), net_total.clone(), "0.00".into())),
        "{payment:?}"
    );

    // A cancelled posted run (February's, here) gives its claims back to the queue: a second
    // claim, queued and paid by February, is approved and queued again after the reversal, and
    // March pays it.
    let second = new_claim("Trip to Metz", "40.00").await;
    app.ok(
        &alice,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": second}),
    )
    .await;
    app.ok(admin, "mutation($input: ApproveExpenseClaimInput!) { approveExpenseClaim(input: $input) { claim { state } } }",
        json!({"input": {"idempotencyKey": "approve-2", "claimId": second}}))
        .await;
    app.ok(admin, QUEUE, json!({"input": {"expenseId": second}}))
        .await;
    let february = post_run(&app, &company, &format!("{y}-02"), "feb").await;
    assert_eq!(state(second.clone()).await, "PAID");
    app.ok(
        admin,
        &step_mutation("cancelPayrollRun", "PayrollRunStepInput"),
        json!({"input": {"idempotencyKey": "cancel-feb", "runId": february["id"]}}),
    )
    .await;
    assert_eq!(state(second.clone()).await, "APPROVED");
    assert_eq!(
        reimbursement(second.clone()).await,
        json!({"runId": null, "state": "QUEUED"})
    );
    let march = post_run(&app, &company, &format!("{y}-03"), "mar").await;
    let slips = slips_of(&app, &company, march["id"].as_str().unwrap()).await;
    assert_eq!(slips[0]["lines"][4], "REIMBURSEMENT 40.00");
    assert_eq!(slips[0]["net"], "5206.67");
    assert_eq!(state(second).await, "PAID");
}

const LINE_SLIPS: &str = "query($id: ID!) { payrollRun(id: $id) { payslips { employeeId gross { amount } net { amount } fingerprint lines { code name kind amount { amount } forPeriod } } } }";

/// A run's slips as (employee, gross, net, fingerprint, ["CODE name amount forPeriod"]).
async fn slips_with_months(app: &FinanceApp, token: &str, run: &str) -> Vec<Value> {
    let mut slips: Vec<Value> = app.ok(token, LINE_SLIPS, json!({"id": run})).await["payrollRun"]
        ["payslips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slip| {
            json!({
                "employee": slip["employeeId"],
                "gross": slip["gross"]["amount"],
                "net": slip["net"]["amount"],
                "fingerprint": slip["fingerprint"],
                "lines": slip["lines"].as_array().unwrap().iter().map(|l| format!(
                    "{} | {} | {} | {}",
                    l["code"].as_str().unwrap(),
                    l["name"].as_str().unwrap(),
                    l["amount"]["amount"].as_str().unwrap(),
                    l["forPeriod"].as_str().unwrap_or("-"),
                )).collect::<Vec<_>>(),
            })
        })
        .collect();
    slips.sort_by(|a, b| a["employee"].as_str().cmp(&b["employee"].as_str()));
    slips
}

/// A structure of BASIC and OVERTIME (hourly rate x hours x multiplier) assigned to `people`.
async fn overtime_structure(app: &FinanceApp, company: &Company, people: &[&str]) {
    let admin = &company.admin;
    let components = app
        .ok(admin, "{ salaryComponents { id code } }", json!({}))
        .await["salaryComponents"]
        .clone();
    let basic = components
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "BASIC")
        .unwrap()["id"]
        .clone();
    let overtime = app
        .ok(admin, COMPONENT, json!({"input": {"code": "OVERTIME", "name": "Overtime", "kind": "EARNING", "rule": "FORMULA",
            "formula": "hourly_rate * overtime_hours * overtime_multiplier", "accountId": company.accounts["6100"]}}))
        .await["createSalaryComponent"]["component"]["id"]
        .clone();
    let structure = app
        .ok(admin, "mutation($input: CreateSalaryStructureInput!) { createSalaryStructure(input: $input) { structure { id } } }",
            json!({"input": {"code": "OT", "name": "With overtime", "componentIds": [basic, overtime]}}))
        .await["createSalaryStructure"]["structure"]["id"]
        .clone();
    for employee in people {
        app.ok(admin, "mutation($input: AssignSalaryStructureInput!) { assignSalaryStructure(input: $input) { assignment { employeeId } } }",
            json!({"input": {"employeeId": employee, "structureId": structure, "effectiveFrom": format!("{}-01-01", year() - 1)}}))
            .await;
    }
}

/// Overtime that arrives for a month whose regular run is posted (a period closed late, or
/// closed again with more minutes) is paid by the next regular run as an adjustment line of
/// the overtime component labelled with its month, at that run's rates; the posted slip is
/// never changed, and the minutes are paid once (a later run pays nothing again; a rerun of
/// the consumer changes nothing).
#[tokio::test]
async fn late_overtime_of_a_posted_month_is_an_adjustment_line_of_the_next_regular_run() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer).await;
    let (t, y) = (&company.tenant, year());
    let mut events = Vec::new();
    for employee in ["e-olga", "e-pavel"] {
        events.push(event(
            t,
            "employee.hired",
            employee,
            json!({"employee_id": employee, "display_name": employee, "employee_number": employee, "hired_on": format!("{}-06-01", y - 1)}),
        ));
    }
    // 41,600.00 and 62,400.00 a year: 20.00 and 30.00 an hour over 2080 hours; overtime at
    // 1.5 x pays 30.00 and 45.00 an hour.
    events.push(
        compensation(
            &app,
            t,
            "e-olga",
            "41600.00",
            Some("DE89 3704 0044 0532 0130 00"),
            "TAX-O",
        )
        .await,
    );
    events.push(
        compensation(
            &app,
            t,
            "e-pavel",
            "62400.00",
            Some("FR1420041010050500013M02606"),
            "TAX-P",
        )
        .await,
    );
    let closed = |employee: &str, period: &str, minutes: i64| {
        event(
            t,
            "attendance.period_closed",
            employee,
            json!({"employee_id": employee, "period": period, "overtime_minutes": minutes, "worked_minutes": 0}),
        )
    };
    let (march, april, may) = (format!("{y}-03"), format!("{y}-04"), format!("{y}-05"));
    // Olga's March closed in time: 2 hours over.
    events.push(closed("e-olga", &march, 120));
    for event in &events {
        if event.event_type == "employee.hired" {
            app.finance.apply_employee_event(event).await.unwrap();
        }
        app.finance.apply_payroll_event(event).await.unwrap();
    }
    overtime_structure(&app, &company, &["e-olga", "e-pavel"]).await;
    let admin = &company.admin;

    // March: BASIC 41,600.00 / 12 = 3466.67 and 62,400.00 / 12 = 5200.00; Olga's 2 hours
    // 60.00.
    let march_run = post_run(&app, &company, &march, "ot-march").await;
    let march_run = march_run["id"].as_str().unwrap();
    let march_slips = slips_with_months(&app, admin, march_run).await;
    assert_eq!(
        march_slips
            .iter()
            .map(|s| json!([s["employee"], s["gross"], s["lines"]]))
            .collect::<Vec<_>>(),
        vec![
            json!([
                "e-olga",
                "3526.67",
                [
                    "BASIC | Basic | 3466.67 | -",
                    "OVERTIME | Overtime | 60.00 | -"
                ]
            ]),
            json!([
                "e-pavel",
                "5200.00",
                [
                    "BASIC | Basic | 5200.00 | -",
                    "OVERTIME | Overtime | 0.00 | -"
                ]
            ]),
        ]
    );

    // After March is posted: Pavel's March is closed late (1 h 30 min), Olga's closed again
    // with 3 hours (1 more); April's own overtime: Olga 30 minutes. Each event delivered twice.
    for event in [
        closed("e-pavel", &march, 90),
        closed("e-olga", &march, 180),
        closed("e-olga", &april, 30),
    ] {
        for _ in 0..2 {
            app.finance.apply_payroll_event(&event).await.unwrap();
        }
    }
    // April pays them as adjustment lines labelled March, after the overtime component:
    // Olga 30 min own 15.00 + 1 h of March 30.00; Pavel 1 h 30 min of March 67.50.
    let april_run = post_run(&app, &company, &april, "ot-april").await;
    let april_run = april_run["id"].as_str().unwrap();
    let april_slips = slips_with_months(&app, admin, april_run).await;
    assert_eq!(
        april_slips
            .iter()
            .map(|s| json!([s["employee"], s["gross"], s["net"], s["lines"]]))
            .collect::<Vec<_>>(),
        vec![
            json!([
                "e-olga",
                "3511.67",
                "3511.67",
                [
                    "BASIC | Basic | 3466.67 | -",
                    "OVERTIME | Overtime | 15.00 | -",
                    format!("OVERTIME | Overtime ({march}) | 30.00 | {march}"),
                ]
            ]),
            json!([
                "e-pavel",
                "5267.50",
                "5267.50",
                [
                    "BASIC | Basic | 5200.00 | -",
                    "OVERTIME | Overtime | 0.00 | -",
                    format!("OVERTIME | Overtime ({march}) | 67.50 | {march}"),
                ]
            ]),
        ]
    );
    // The posted March slips are unchanged, to the fingerprint.
    assert_eq!(slips_with_months(&app, admin, march_run).await, march_slips);
    // April's journal entry debits salaries with the adjustments: 3511.67 + 5267.50.
    let april = app
        .ok(
            admin,
            "query($id: ID!) { payrollRun(id: $id) { entryId } }",
            json!({"id": april_run}),
        )
        .await;
    let (_, lines) = entry_lines(&app, admin, &april["payrollRun"]["entryId"]).await;
    assert!(
        lines.contains(&("6100".into(), "8779.17".into(), "0.00".into())),
        "{lines:?}"
    );

    // May pays no March overtime again (nor April's): the overtime lines are May's own, none.
    let may_run = company.run(&app, &may).await;
    for _ in 0..2 {
        app.ok(
            admin,
            &run_mutation("calculatePayrollRun", "PayrollRunInput"),
            json!({"input": {"runId": may_run}}),
        )
        .await;
    }
    assert_eq!(
        slips_with_months(&app, admin, &may_run)
            .await
            .iter()
            .map(|s| json!([s["employee"], s["lines"]]))
            .collect::<Vec<_>>(),
        vec![
            json!([
                "e-olga",
                [
                    "BASIC | Basic | 3466.67 | -",
                    "OVERTIME | Overtime | 0.00 | -"
                ]
            ]),
            json!([
                "e-pavel",
                [
                    "BASIC | Basic | 5200.00 | -",
                    "OVERTIME | Overtime | 0.00 | -"
                ]
            ]),
        ]
    );
}

const CLOSE_PERIODS: &str = "mutation($i: CloseAttendancePeriodsInput!) { closeAttendancePeriods(input: $i) { closed { employeeId overtimeMinutes } skipped { employeeId reason } } }";

/// The embedded mode end to end: HR closes one employee's month, the month's run is posted,
/// then HR closes the whole company's month at once (the other employee closed late, the first
/// skipped; a rerun closes nothing): finance stores each employee-month's minutes once, and
/// the late overtime is paid by the next regular run as a line labelled with its month.
#[tokio::test]
async fn a_bulk_close_after_the_run_pays_the_late_overtime_in_the_next_run_embedded() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Embedded).await;
    runtime.bus = app.runtime.bus.clone();
    runtime.config.kek_file = app.runtime.config.kek_file.clone();
    let employee = erp_tests::EmployeeApp::spawn(runtime).await;
    // The last month (always over, inside the 90 days a correction may reach back) and this
    // one, which may be in the next fiscal year.
    let this_month = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let last_month = this_month.pred_opt().unwrap().with_day(1).unwrap();
    let (period, next_period) = (
        last_month.format("%Y-%m").to_string(),
        this_month.format("%Y-%m").to_string(),
    );
    let company = Company::open_for(&app, &issuer, last_month.year()).await;
    if this_month.year() != last_month.year() {
        let y = this_month.year();
        app.ok(&company.admin, "mutation($input: FiscalYearInput!) { createFiscalYear(input: $input) { fiscalYear { id } } }",
            json!({"input": {"name": y.to_string(), "startsOn": format!("{y}-01-01"), "endsOn": format!("{y}-12-31")}}))
            .await;
    }
    let hr = issuer.token(
        &company.tenant,
        "u-hr",
        &[
            "employee:read",
            "employee:write",
            "hr:admin",
            "attendance:read",
        ],
    );
    let mut people = Vec::new();
    for (number, name, salary, bank) in [
        ("E1", "Olga", "41600.00", "DE89 3704 0044 0532 0130 00"),
        ("E2", "Pavel", "62400.00", "FR1420041010050500013M02606"),
    ] {
        let id = employee
            .hire(
                &hr,
                json!({"employeeNumber": number, "displayName": name, "workEmail": format!("{number}@example.com"),
                    "userId": format!("u-{number}"), "hiredOn": format!("{}-06-01", last_month.year() - 1)}),
            )
            .await;
        employee
            .ok(&hr, "mutation($input: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $input) { id } }",
                json!({"input": {"employeeId": id, "salary": {"amount": salary, "currency": "EUR"}, "bankAccount": bank, "taxId": format!("TAX-{number}")}}))
            .await;
        people.push(id);
    }
    let (olga, pavel) = (people[0].clone(), people[1].clone());
    // Olga's corrected 10th: 08:00-19:00, 3 hours over; Pavel's 11th: 09:00-17:30, 30 minutes.
    for (number, day, from, to) in [("E1", 10, "08:00", "19:00"), ("E2", 11, "09:00", "17:30")] {
        let token = issuer.token(
            &company.tenant,
            &format!("u-{number}"),
            &["attendance:checkin", "attendance:read"],
        );
        let day = last_month.with_day(day).unwrap();
        let requested = employee
            .ok(&token, "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id } }",
                json!({"i": {"day": day.to_string(), "kind": "MISSED_PUNCH", "reason": "badge reader down",
                    "checkIn": format!("{day}T{from}:00Z"), "checkOut": format!("{day}T{to}:00Z")}}))
            .await;
        employee
            .ok(&hr, "mutation($i: DecideAttendanceCorrectionInput!) { decideAttendanceCorrection(input: $i) { status } }",
                json!({"i": {"correctionId": requested["requestAttendanceCorrection"]["id"], "decision": "APPROVE"}}))
            .await;
    }
    // Olga's month closed in time.
    employee
        .ok(
            &hr,
            CLOSE_PERIOD,
            json!({"i": {"employeeId": olga, "period": period}}),
        )
        .await;

    /// Finance's stored overtime, as (employee, period, minutes).
    async fn stored(app: &FinanceApp) -> Vec<(String, String, i64)> {
        #[derive(FromQueryResult)]
        struct Row {
            employee_id: String,
            period: String,
            overtime_minutes: i64,
        }
        Row::find_by_statement(Statement::from_string(
            app.runtime.db.get_database_backend(),
            "SELECT employee_id, period, overtime_minutes FROM finance_payroll_overtime ORDER BY employee_id".to_owned(),
        ))
        .all(&app.runtime.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.employee_id, r.period, r.overtime_minutes))
        .collect()
    }
    let learnt = eventually(std::time::Duration::from_secs(20), || async {
        let people = {
            #[derive(FromQueryResult)]
            struct Count {
                n: i64,
            }
            Count::find_by_statement(Statement::from_string(
                app.runtime.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM finance_payroll_people WHERE salary_sealed IS NOT NULL"
                    .to_owned(),
            ))
            .one(&app.runtime.db)
            .await
            .unwrap()
            .map_or(0, |c| c.n)
        };
        let rows = stored(&app).await;
        (people == 2 && rows.len() == 1).then_some(rows)
    })
    .await;
    assert_eq!(learnt, Some(vec![(olga.clone(), period.clone(), 180)]));
    overtime_structure(&app, &company, &[&olga, &pavel]).await;

    // Last month's run: Olga's 3 hours at 30.00 = 90.00; Pavel's month still open.
    let run = post_run(&app, &company, &period, "late-1").await;
    let run = run["id"].as_str().unwrap().to_owned();
    let posted = slips_with_months(&app, &company.admin, &run).await;

    // HR closes the whole company's month at once, late for Pavel; then reruns it.
    let sorted = |mut rows: Vec<Value>| {
        rows.sort_by(|a, b| a["employeeId"].as_str().cmp(&b["employeeId"].as_str()));
        Value::Array(rows)
    };
    let first = employee
        .ok(&hr, CLOSE_PERIODS, json!({"i": {"period": period}}))
        .await;
    assert_eq!(
        first["closeAttendancePeriods"],
        json!({"closed": [{"employeeId": pavel, "overtimeMinutes": 30}],
            "skipped": [{"employeeId": olga, "reason": "ATTENDANCE_PERIOD_CLOSED"}]})
    );
    let again = employee
        .ok(&hr, CLOSE_PERIODS, json!({"i": {"period": period}}))
        .await;
    assert_eq!(
        again["closeAttendancePeriods"],
        json!({"closed": [], "skipped": sorted(vec![
            json!({"employeeId": olga, "reason": "ATTENDANCE_PERIOD_CLOSED"}),
            json!({"employeeId": pavel, "reason": "ATTENDANCE_PERIOD_CLOSED"}),
        ])})
    );
    let mut expected = vec![
        (olga.clone(), period.clone(), 180),
        (pavel.clone(), period.clone(), 30),
    ];
    expected.sort();
    let learnt = eventually(std::time::Duration::from_secs(20), || async {
        let rows = stored(&app).await;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert_eq!(learnt, Some(expected));

    // This month's run pays Pavel's 30 late minutes at 45.00 an hour: 22.50, labelled with
    // last month; the posted slips are unchanged.
    let next = post_run(&app, &company, &next_period, "late-2").await;
    let slips = slips_with_months(&app, &company.admin, next["id"].as_str().unwrap()).await;
    let mut expected = vec![
        json!([
            olga,
            [
                "BASIC | Basic | 3466.67 | -",
                "OVERTIME | Overtime | 0.00 | -"
            ]
        ]),
        json!([
            pavel,
            [
                "BASIC | Basic | 5200.00 | -",
                "OVERTIME | Overtime | 0.00 | -",
                format!("OVERTIME | Overtime ({period}) | 22.50 | {period}")
            ]
        ]),
    ];
    expected.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
    assert_eq!(
        slips
            .iter()
            .map(|s| json!([s["employee"], s["lines"]]))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(slips_with_months(&app, &company.admin, &run).await, posted);
    let olga_march = posted
        .iter()
        .find(|s| s["employee"] == olga.as_str())
        .unwrap();
    assert_eq!(
        olga_march["lines"],
        json!([
            "BASIC | Basic | 3466.67 | -",
            "OVERTIME | Overtime | 90.00 | -"
        ])
    );
}

const ADJUST: &str = "mutation($i: AdjustClosedAttendanceDayInput!) { adjustClosedAttendanceDay(input: $i) { employeeId period day reason revision dayOvertimeMinutesBefore dayOvertimeMinutesAfter workedMinutes overtimeMinutes adjustedBy } }";

/// An authorised correction of a day of a month already closed and paid, on real PostgreSQL
/// and Kafka (the employee subgraph's outbox to finance's consumer): recorded as an adjustment
/// with its reason (never published), `attendance.period_adjusted` carries the month's new
/// overtime, and the next regular run settles the difference as a line labelled with the
/// month: more overtime an arrears line, overtime taken away a recovery (a deduction line of
/// the overtime component). The posted slips never change; a redelivered or stale event
/// changes nothing; a recalculation gives the same bytes. The bad inputs are refused with
/// stable codes and reasons, leaving nothing written.
#[tokio::test]
async fn a_correction_of_a_closed_and_paid_month_is_settled_by_the_next_runs_through_kafka() {
    let (_broker, brokers) = erp_tests::broker::private_broker();
    let issuer = TestIssuer::start().await;
    let mut runtime =
        erp_tests::runtime(&issuer, erp_tests::Backends::RealWithKafka(brokers.clone())).await;
    runtime.config.service = "finance".into();
    let app = FinanceApp::serve(runtime, erp_finance::FinanceOptions::default()).await;
    let mut employee_runtime =
        erp_tests::runtime(&issuer, erp_tests::Backends::RealWithKafka(brokers.clone())).await;
    employee_runtime.config.kek_file = app.runtime.config.kek_file.clone();
    let employee = erp_tests::EmployeeApp::spawn(employee_runtime).await;

    // Last month (over, inside the 90 days a correction request reaches back), this month and
    // the next: their fiscal years.
    let this_month = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let last_month = this_month.pred_opt().unwrap().with_day(1).unwrap();
    let next_month = (this_month + chrono::Days::new(31)).with_day(1).unwrap();
    let two_months_ago = last_month.pred_opt().unwrap().with_day(1).unwrap();
    let label = |d: chrono::NaiveDate| d.format("%Y-%m").to_string();
    let period = label(last_month);
    let company = Company::open_for(&app, &issuer, last_month.year()).await;
    let mut years = vec![this_month.year(), next_month.year()];
    years.dedup();
    for y in years.into_iter().filter(|y| *y != last_month.year()) {
        app.ok(&company.admin, "mutation($input: FiscalYearInput!) { createFiscalYear(input: $input) { fiscalYear { id } } }",
            json!({"input": {"name": y.to_string(), "startsOn": format!("{y}-01-01"), "endsOn": format!("{y}-12-31")}}))
            .await;
    }
    let hr_scopes = [
        "employee:read",
        "employee:write",
        "hr:admin",
        "attendance:read",
    ];
    let hr = issuer.token(&company.tenant, "u-hr", &hr_scopes);
    let mut admin_scopes = hr_scopes.to_vec();
    admin_scopes.push("attendance:admin");
    let attendance_admin = issuer.token(&company.tenant, "u-att", &admin_scopes);
    let olga = employee
        .hire(
            &hr,
            json!({"employeeNumber": "E1", "displayName": "Olga", "workEmail": "e1@example.com",
                "userId": "u-olga", "hiredOn": format!("{}-06-01", two_months_ago.year() - 1)}),
        )
        .await;
    employee
        .ok(&hr, "mutation($input: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $input) { id } }",
            json!({"input": {"employeeId": olga, "salary": {"amount": "41600.00", "currency": "EUR"}, "bankAccount": "DE89 3704 0044 0532 0130 00", "taxId": "TAX-E1"}}))
        .await;
    // Olga's corrected 10th: 08:00-19:00, 3 hours over the 8-hour day of someone without a
    // shift; the month closed with 180 minutes.
    let olga_token = issuer.token(
        &company.tenant,
        "u-olga",
        &["attendance:checkin", "attendance:read", "attendance:admin"],
    );
    let tenth = last_month.with_day(10).unwrap();
    let requested = employee
        .ok(&olga_token, "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id } }",
            json!({"i": {"day": tenth.to_string(), "kind": "MISSED_PUNCH", "reason": "badge reader down",
                "checkIn": format!("{tenth}T08:00:00Z"), "checkOut": format!("{tenth}T19:00:00Z")}}))
        .await;
    employee
        .ok(&hr, "mutation($i: DecideAttendanceCorrectionInput!) { decideAttendanceCorrection(input: $i) { status } }",
            json!({"i": {"correctionId": requested["requestAttendanceCorrection"]["id"], "decision": "APPROVE"}}))
        .await;
    employee
        .ok(
            &hr,
            CLOSE_PERIOD,
            json!({"i": {"employeeId": olga, "period": period}}),
        )
        .await;

    /// Finance's overtime of the tenant: (employee, period, minutes, revision).
    async fn overtime_of(app: &FinanceApp, tenant: &str) -> Vec<(String, String, i64, i64)> {
        #[derive(FromQueryResult)]
        struct Row {
            employee_id: String,
            period: String,
            overtime_minutes: i64,
            revision: i64,
        }
        Row::find_by_statement(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT employee_id, period, overtime_minutes, revision FROM finance_payroll_overtime WHERE tenant_id = $1 ORDER BY period",
            [tenant.into()],
        ))
        .all(&app.runtime.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.employee_id, r.period, r.overtime_minutes, r.revision))
        .collect()
    }
    let tenant = company.tenant.clone();
    let learnt = |minutes: i64, revision: i64| {
        let (app, tenant, olga, period) = (&app, &tenant, &olga, &period);
        async move {
            eventually(std::time::Duration::from_secs(60), || async {
                let rows = overtime_of(app, tenant).await;
                (rows == vec![(olga.clone(), period.clone(), minutes, revision)]).then_some(())
            })
            .await
            .is_some()
        }
    };
    assert!(
        learnt(180, 0).await,
        "{:?}",
        overtime_of(&app, &tenant).await
    );
    let salary_known = eventually(std::time::Duration::from_secs(60), || async {
        let rows = raw_rows(&app, "finance_payroll_people", &tenant).await;
        rows.iter()
            .any(|row| row.contains("salary_sealed\":\""))
            .then_some(())
    })
    .await;
    assert!(salary_known.is_some(), "finance never learnt Olga's pay");
    overtime_structure(&app, &company, &[&olga]).await;
    let admin = &company.admin;

    // Last month: BASIC 3466.67, 3 hours at 1.5 x 20.00 = 90.00; posted and paid.
    let closed_run = post_run(&app, &company, &period, "adj-1").await;
    let closed_run = closed_run["id"].as_str().unwrap().to_owned();
    app.ok(
        admin,
        &step_mutation("payPayrollRun", "PayPayrollRunInput"),
        json!({"input": {"idempotencyKey": "adj-pay-1", "runId": closed_run, "format": "CSV"}}),
    )
    .await;
    let paid_slips = slips_with_months(&app, admin, &closed_run).await;
    assert_eq!(
        paid_slips[0]["lines"],
        json!([
            "BASIC | Basic | 3466.67 | -",
            "OVERTIME | Overtime | 90.00 | -"
        ])
    );

    // Bad adjustments, nothing written: without the scope; one's own; a blank reason; a month
    // not closed; times out of order; an unknown employee.
    let twelfth = last_month.with_day(12).unwrap();
    let adjust = |employee_id: &str, day: chrono::NaiveDate, from: &str, to: &str, reason: &str| {
        json!({"i": {"employeeId": employee_id, "day": day.to_string(), "reason": reason,
            "checkIn": format!("{day}T{from}:00Z"), "checkOut": format!("{day}T{to}:00Z")}})
    };
    let refused = |token: &str, variables: Value| {
        let (employee, token) = (&employee, token.to_owned());
        async move { employee_refused(employee, &token, ADJUST, variables).await }
    };
    assert_eq!(
        refused(
            &hr,
            adjust(&olga, twelfth, "08:00", "18:00", "overtime approved late")
        )
        .await
        .0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    let olga_admin = issuer.token(&company.tenant, "u-olga", &admin_scopes);
    assert_eq!(
        refused(
            &olga_admin,
            adjust(&olga, twelfth, "08:00", "18:00", "my own overtime")
        )
        .await,
        ("FORBIDDEN".into(), "SELF_APPROVAL".into())
    );
    assert_eq!(
        refused(
            &attendance_admin,
            adjust(&olga, twelfth, "08:00", "18:00", "  ")
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        refused(
            &attendance_admin,
            adjust(
                &olga,
                two_months_ago.with_day(12).unwrap(),
                "08:00",
                "18:00",
                "overtime approved late"
            )
        )
        .await,
        ("CONFLICT".into(), "ATTENDANCE_PERIOD_OPEN".into())
    );
    assert_eq!(
        refused(
            &attendance_admin,
            adjust(&olga, twelfth, "18:00", "08:00", "overtime approved late")
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        refused(
            &attendance_admin,
            adjust(
                "e-nobody",
                twelfth,
                "08:00",
                "18:00",
                "overtime approved late"
            )
        )
        .await
        .0,
        "NOT_FOUND"
    );

    // The 12th, with no punch, becomes 08:00-18:00: 2 hours over; the month 300 minutes.
    let first = employee
        .ok(
            &attendance_admin,
            ADJUST,
            adjust(&olga, twelfth, "08:00", "18:00", "site visit approved late"),
        )
        .await;
    assert_eq!(
        first["adjustClosedAttendanceDay"],
        json!({"employeeId": olga, "period": period, "day": twelfth.to_string(),
            "reason": "site visit approved late", "revision": 1, "dayOvertimeMinutesBefore": 0,
            "dayOvertimeMinutesAfter": 120, "workedMinutes": 660 + 600, "overtimeMinutes": 300,
            "adjustedBy": "u-att"})
    );
    // Finance learns the new total through Kafka (revision 1); the reason is never published.
    assert!(
        learnt(300, 1).await,
        "{:?}",
        overtime_of(&app, &tenant).await
    );
    let db = &employee.runtime.db;
    let envelopes: Vec<String> = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT envelope FROM employee_outbox WHERE tenant_id = $1 AND event_type = 'attendance.period_adjusted'",
            [tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "envelope").unwrap())
        .collect();
    assert_eq!(envelopes.len(), 1);
    assert!(!envelopes[0].contains("site visit"), "{}", envelopes[0]);
    let first_event: EventEnvelope = serde_json::from_str(&envelopes[0]).unwrap();

    // This month's run pays the 2 hours as an arrears line labelled last month: 60.00.
    let this_run = post_run(&app, &company, &label(this_month), "adj-2").await;
    let this_run = this_run["id"].as_str().unwrap().to_owned();
    assert_eq!(
        slips_with_months(&app, admin, &this_run).await[0]["lines"],
        json!([
            "BASIC | Basic | 3466.67 | -",
            "OVERTIME | Overtime | 0.00 | -",
            format!("OVERTIME | Overtime ({period}) | 60.00 | {period}"),
        ])
    );

    // The 10th becomes 09:00-17:00: its 3 hours of overtime are taken away, after both runs
    // paid them; the month 120 minutes (revision 2).
    let second = employee
        .ok(
            &attendance_admin,
            ADJUST,
            adjust(&olga, tenth, "09:00", "17:00", "the badge reader was wrong"),
        )
        .await;
    assert_eq!(
        second["adjustClosedAttendanceDay"]["overtimeMinutes"],
        json!(120)
    );
    assert_eq!(second["adjustClosedAttendanceDay"]["revision"], json!(2));
    assert!(
        learnt(120, 2).await,
        "{:?}",
        overtime_of(&app, &tenant).await
    );
    // Idempotent on the event id: the first adjustment's event delivered again is in the
    // inbox once; the same fact under another id (stale: revision 1) changes nothing either.
    let bus = KafkaBus::new(KafkaConfig::new(brokers)).unwrap();
    let mut stale = first_event.clone();
    stale.id = uuid::Uuid::now_v7();
    for event in [&first_event, &stale] {
        bus.publish("erp.employee.events", event).await.unwrap();
    }
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let handled = |id: uuid::Uuid| {
        let (app, tenant) = (&app, &tenant);
        async move {
            Count::find_by_statement(Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT COUNT(*) AS n FROM finance_inbox WHERE consumer_group = 'erp.finance.payroll' AND tenant_id = $1 AND event_id = $2",
                [tenant.as_str().into(), id.to_string().into()],
            ))
            .one(&app.runtime.db)
            .await
            .unwrap()
            .map_or(0, |c| c.n)
        }
    };
    let stale_handled = eventually(std::time::Duration::from_secs(60), || async {
        (handled(stale.id).await == 1).then_some(())
    })
    .await;
    assert!(stale_handled.is_some(), "the stale event was never handled");
    assert_eq!(handled(first_event.id).await, 1);
    assert_eq!(
        overtime_of(&app, &tenant).await,
        vec![(olga.clone(), period.clone(), 120, 2)]
    );

    // Next month's run takes back the 3 hours paid: a recovery line of OVERTIME, a deduction
    // labelled last month, 90.00; net 3466.67 - 90.00. Recalculated, the same bytes.
    let next_run = company.run(&app, &label(next_month)).await;
    app.ok(
        admin,
        &run_mutation("calculatePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": next_run}}),
    )
    .await;
    let calculated = slips_with_months(&app, admin, &next_run).await;
    assert_eq!(
        json!([
            calculated[0]["gross"],
            calculated[0]["net"],
            calculated[0]["lines"]
        ]),
        json!([
            "3466.67",
            "3376.67",
            [
                "BASIC | Basic | 3466.67 | -",
                "OVERTIME | Overtime | 0.00 | -",
                format!("OVERTIME | Overtime ({period}) recovery | 90.00 | {period}"),
            ]
        ])
    );
    let kinds = app
        .ok(
            admin,
            "query($id: ID!) { payrollRun(id: $id) { payslips { lines { kind recovery } } } }",
            json!({"id": next_run}),
        )
        .await;
    assert_eq!(
        kinds["payrollRun"]["payslips"][0]["lines"][2],
        json!({"kind": "DEDUCTION", "recovery": true})
    );
    app.ok(
        admin,
        &run_mutation("calculatePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": next_run}}),
    )
    .await;
    assert_eq!(slips_with_months(&app, admin, &next_run).await, calculated);
    app.ok(
        admin,
        &run_mutation("approvePayrollRun", "PayrollRunInput"),
        json!({"input": {"runId": next_run}}),
    )
    .await;
    let posted = app
        .ok(
            admin,
            &step_mutation("postPayrollRun", "PayrollRunStepInput"),
            json!({"input": {"idempotencyKey": "adj-3", "runId": next_run}}),
        )
        .await;
    // The entry debits salaries with the pay less the recovery, and owes the net.
    let (_, lines) = entry_lines(&app, admin, &posted["postPayrollRun"]["run"]["entryId"]).await;
    assert!(
        lines.contains(&("6100".into(), "3376.67".into(), "0.00".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("2300".into(), "0.00".into(), "3376.67".into())),
        "{lines:?}"
    );
    // The paid slip of the closed month never changed.
    assert_eq!(
        slips_with_months(&app, admin, &closed_run).await,
        paid_slips
    );
}
