//! Leave through the employee subgraph's real HTTP surface, on real PostgreSQL (and one smoke
//! test on SQLite): configuration and its bad inputs, accrual (prorated, idempotent) and the
//! year-end close, requests with weekends/holidays/half days, the manager -> HR approval chain,
//! every refusal with its `extensions.code`, the ledger behind every balance, concurrent
//! requests, and the approval event on Kafka.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use erp_kit::events::{EventBus, KafkaBus, KafkaConfig};
use erp_tests::{error_codes, require_env, Backends, EmployeeApp, TestIssuer};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "hr:admin",
    "leave:apply",
    "leave:approve",
];
const MANAGER: &[&str] = &["employee:read", "leave:apply", "leave:approve"];
const EMPLOYEE: &[&str] = &["employee:read", "leave:apply"];

const REQUEST: &str = "mutation($i: RequestLeaveInput!) { requestLeave(input: $i) { id status days startHalf endHalf manager { id } viewerCan { approve reject cancel } } }";
const APPROVE: &str = "mutation($id: ID!) { approveLeave(id: $id, comment: \"enjoy\") { id status decisionComment viewerCan { approve reject cancel } } }";
const REJECT: &str =
    "mutation($id: ID!, $r: String!) { rejectLeave(id: $id, reason: $r) { id status decisionComment } }";
const CANCEL: &str = "mutation($id: ID!) { cancelLeave(id: $id) { id status cancelledAt } }";
const BALANCES: &str =
    "{ myLeaveBalances { leaveType { code } balanceDays pendingDays availableDays } }";
const ADJUST: &str =
    "mutation($i: AdjustLeaveBalanceInput!) { adjustLeaveBalance(input: $i) { kind days reason } }";

/// One tenant's leave world: an app, an issuer and helpers to act as its people.
struct World {
    app: EmployeeApp,
    issuer: TestIssuer,
    tenant: String,
}

impl World {
    async fn start(backends: Backends) -> Self {
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, backends).await).await;
        Self {
            app,
            issuer,
            tenant: format!("tnt_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn token(&self, user: &str, scopes: &[&str]) -> String {
        self.issuer.token(&self.tenant, user, scopes)
    }

    fn hr(&self) -> String {
        self.token("usr_hr", HR)
    }

    /// Runs an operation and returns the body.
    async fn call(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.app.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Runs an operation that must succeed and returns `data.<field>`.
    async fn ok(&self, token: &str, query: &str, variables: Value, field: &str) -> Value {
        let body = self.call(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"][field].clone()
    }

    async fn hire(
        &self,
        number: &str,
        user: Option<&str>,
        manager: Option<&str>,
        hired_on: &str,
    ) -> String {
        let input = json!({
            "employeeNumber": number,
            "displayName": format!("Person {number}"),
            "workEmail": format!("{number}@company.example"),
            "hiredOn": hired_on,
            "userId": user,
            "managerId": manager,
        });
        self.ok(
            &self.hr(),
            "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
            json!({ "i": input }),
            "hireEmployee",
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn leave_type(&self, input: Value) -> String {
        self.ok(
            &self.hr(),
            "mutation($i: CreateLeaveTypeInput!) { createLeaveType(input: $i) { id } }",
            json!({ "i": input }),
            "createLeaveType",
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn policy(&self, input: Value) -> String {
        self.ok(
            &self.hr(),
            "mutation($i: CreateLeavePolicyInput!) { createLeavePolicy(input: $i) { id } }",
            json!({ "i": input }),
            "createLeavePolicy",
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn assign(&self, employee: &str, policy: &str, location: Option<&str>) {
        self.ok(
            &self.hr(),
            "mutation($i: AssignLeavePolicyInput!) { assignLeavePolicy(input: $i) { policyId } }",
            json!({ "i": { "employeeId": employee, "policyId": policy, "holidayLocationId": location } }),
            "assignLeavePolicy",
        )
        .await;
    }

    async fn adjust(&self, employee: &str, leave_type: &str, days: f64) {
        self.ok(
            &self.hr(),
            ADJUST,
            json!({ "i": { "employeeId": employee, "leaveTypeId": leave_type, "days": days, "reason": "opening balance" } }),
            "adjustLeaveBalance",
        )
        .await;
    }

    async fn balance(&self, token: &str, code: &str) -> (f64, f64, f64) {
        let balances = self.ok(token, BALANCES, json!({}), "myLeaveBalances").await;
        let row = balances
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["leaveType"]["code"] == code)
            .unwrap_or_else(|| panic!("no {code} balance in {balances}"))
            .clone();
        (
            row["balanceDays"].as_f64().unwrap(),
            row["pendingDays"].as_f64().unwrap(),
            row["availableDays"].as_f64().unwrap(),
        )
    }

    /// The leave event types of one aggregate, in outbox order.
    async fn events_of(&self, aggregate: &str) -> Vec<String> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT event_type FROM employee_outbox WHERE envelope LIKE $1 ORDER BY seq"
                }
                _ => "SELECT event_type FROM employee_outbox WHERE envelope LIKE ? ORDER BY seq",
            },
            [format!("%\"aggregate_id\":\"{aggregate}\"%").into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "event_type").unwrap())
        .collect()
    }
}

fn date(d: NaiveDate) -> String {
    d.to_string()
}

/// A Monday at least two months ahead, so every request of the test is in the future.
fn future_monday() -> NaiveDate {
    let mut day = Utc::now().date_naive() + Days::new(60);
    while day.weekday() != Weekday::Mon {
        day = day + Days::new(1);
    }
    day
}

/// The latest weekday up to today (a leave that has started).
fn started_weekday() -> NaiveDate {
    let mut day = Utc::now().date_naive();
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day - Days::new(1);
    }
    day
}

fn code(body: &Value) -> String {
    error_codes(body).join(",")
}

/// A refused rule as a client reads it: the kit's code and the rule's reason,
/// `CONFLICT/LEAVE_OVERLAP`.
fn rule(body: &Value) -> String {
    format!(
        "{}/{}",
        code(body),
        body["errors"][0]["extensions"]["reason"]
            .as_str()
            .unwrap_or("(no reason)")
    )
}

#[tokio::test]
async fn configuration_refuses_bad_input_and_needs_hr() {
    let world = World::start(Backends::Real).await;
    let hr = world.hr();
    let create_type = "mutation($i: CreateLeaveTypeInput!) { createLeaveType(input: $i) { id code name paid allowsHalfDay requiresApproval maxConsecutiveDays allowNegativeBalance } }";
    let annual = world
        .ok(
            &hr,
            create_type,
            json!({ "i": { "code": " annual ", "name": "Annual leave", "maxConsecutiveDays": 10.5 } }),
            "createLeaveType",
        )
        .await;
    assert_eq!(annual["code"], "ANNUAL");
    assert_eq!(annual["paid"], true);
    assert_eq!(annual["allowsHalfDay"], true);
    assert_eq!(annual["requiresApproval"], true);
    assert_eq!(annual["maxConsecutiveDays"], 10.5);
    assert_eq!(annual["allowNegativeBalance"], false);
    let annual_id = annual["id"].as_str().unwrap().to_owned();

    let body = world
        .call(
            &hr,
            create_type,
            json!({ "i": { "code": "ANNUAL", "name": "Again" } }),
        )
        .await;
    assert_eq!(rule(&body), "CONFLICT/ALREADY_EXISTS");
    for (input, field) in [
        (json!({ "code": "annual leave", "name": "x" }), "code"),
        (json!({ "code": "", "name": "x" }), "code"),
        (json!({ "code": "X", "name": "  " }), "name"),
        (
            json!({ "code": "X", "name": "x", "maxConsecutiveDays": 1.3 }),
            "maxConsecutiveDays",
        ),
        (
            json!({ "code": "X", "name": "x", "maxConsecutiveDays": 0 }),
            "maxConsecutiveDays",
        ),
        (
            json!({ "code": "X", "name": "x", "maxConsecutiveDays": 1000 }),
            "maxConsecutiveDays",
        ),
    ] {
        let body = world.call(&hr, create_type, json!({ "i": input })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }

    // Only HR configures leave.
    let employee = world.token("usr_e", EMPLOYEE);
    let body = world
        .call(
            &employee,
            create_type,
            json!({ "i": { "code": "MINE", "name": "Mine" } }),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHORIZED_FIELD_OR_TYPE");
    assert!(body["data"]["createLeaveType"].is_null());
    let body = world
        .call(
            &employee,
            "mutation { runLeaveAccrual(period: \"2025-03\") { entriesCreated } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHORIZED_FIELD_OR_TYPE");

    let create_policy = "mutation($i: CreateLeavePolicyInput!) { createLeavePolicy(input: $i) { id name accrualFrequency prorateJoiners weekendDays lines { leaveType { code } daysPerPeriod carryForwardMaxDays } } }";
    let policy = world
        .ok(
            &hr,
            create_policy,
            json!({ "i": { "name": "Standard", "accrualFrequency": "MONTHLY", "lines": [
                { "leaveTypeId": annual_id, "daysPerPeriod": 1.67, "carryForwardMaxDays": 5 }
            ] } }),
            "createLeavePolicy",
        )
        .await;
    assert_eq!(policy["accrualFrequency"], "MONTHLY");
    assert_eq!(policy["prorateJoiners"], true);
    assert_eq!(policy["weekendDays"], json!([6, 7]));
    assert_eq!(
        policy["lines"],
        json!([{ "leaveType": { "code": "ANNUAL" }, "daysPerPeriod": 1.67, "carryForwardMaxDays": 5.0 }])
    );
    let body = world
        .call(
            &hr,
            "query($id: ID!) { leavePolicy(id: $id) { name lines { daysPerPeriod } } }",
            json!({ "id": policy["id"] }),
        )
        .await;
    assert_eq!(
        body["data"]["leavePolicy"],
        json!({ "name": "Standard", "lines": [{ "daysPerPeriod": 1.67 }] })
    );

    let line = |days: f64| json!({ "leaveTypeId": annual_id, "daysPerPeriod": days });
    for (input, field) in [
        (
            json!({ "name": "P1", "accrualFrequency": "YEARLY", "weekendDays": [8], "lines": [line(1.0)] }),
            "weekendDays",
        ),
        (
            json!({ "name": "P2", "accrualFrequency": "YEARLY", "weekendDays": [6, 6], "lines": [line(1.0)] }),
            "weekendDays",
        ),
        (
            json!({ "name": "P3", "accrualFrequency": "YEARLY", "lines": [] }),
            "lines",
        ),
        (
            json!({ "name": "P4", "accrualFrequency": "YEARLY", "lines": [line(0.0)] }),
            "daysPerPeriod",
        ),
        (
            json!({ "name": "P5", "accrualFrequency": "YEARLY", "lines": [line(1.234)] }),
            "daysPerPeriod",
        ),
        (
            json!({ "name": "P6", "accrualFrequency": "YEARLY", "lines": [line(1.0), line(2.0)] }),
            "lines",
        ),
        (
            json!({ "name": "P7", "accrualFrequency": "YEARLY", "lines": [{ "leaveTypeId": "nope", "daysPerPeriod": 1 }] }),
            "lines",
        ),
        (
            json!({ "name": "P8", "accrualFrequency": "YEARLY", "lines": [{ "leaveTypeId": annual_id, "daysPerPeriod": 1, "carryForwardMaxDays": -1 }] }),
            "carryForwardMaxDays",
        ),
    ] {
        let body = world.call(&hr, create_policy, json!({ "i": input })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = world
        .call(&hr, create_policy, json!({ "i": { "name": "Standard", "accrualFrequency": "YEARLY", "lines": [line(1.0)] } }))
        .await;
    assert_eq!(rule(&body), "CONFLICT/ALREADY_EXISTS");

    // Holidays: tenant-wide or per location, once per calendar and day.
    let add_holiday =
        "mutation($i: AddHolidayInput!) { addHoliday(input: $i) { id day name locationId } }";
    let holiday = world
        .ok(
            &hr,
            add_holiday,
            json!({ "i": { "day": "2027-01-26", "name": "Republic Day" } }),
            "addHoliday",
        )
        .await;
    assert_eq!(holiday["locationId"], Value::Null);
    let body = world
        .call(
            &hr,
            add_holiday,
            json!({ "i": { "day": "2027-01-26", "name": "Again" } }),
        )
        .await;
    assert_eq!(rule(&body), "CONFLICT/ALREADY_EXISTS");
    let body = world
        .call(
            &hr,
            add_holiday,
            json!({ "i": { "day": "2027-01-27", "name": "x", "locationId": "nowhere" } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "locationId");
    let body = world
        .call(
            &hr,
            add_holiday,
            json!({ "i": { "day": "2027-01-27", "name": "" } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let listed = world
        .ok(
            &employee,
            "{ holidays(year: 2027) { edges { node { name day } } } }",
            json!({}),
            "holidays",
        )
        .await;
    assert_eq!(
        listed["edges"],
        json!([{ "node": { "name": "Republic Day", "day": "2027-01-26" } }])
    );
    let body = world
        .call(
            &employee,
            "{ holidays(year: 1999) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");

    // Assignment needs real ids.
    let body = world
        .call(
            &hr,
            "mutation($i: AssignLeavePolicyInput!) { assignLeavePolicy(input: $i) { policyId } }",
            json!({ "i": { "employeeId": "nobody", "policyId": policy["id"] } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "employeeId");

    // Accrual and year-close inputs.
    for period in ["2025-13", "25-03", "March", "2999-01"] {
        let body = world
            .call(
                &hr,
                "mutation($p: String!) { runLeaveAccrual(period: $p) { entriesCreated } }",
                json!({ "p": period }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{period}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "period");
    }
    let this_year = Utc::now().year();
    let body = world
        .call(
            &hr,
            "mutation($y: Int!) { closeLeaveYear(year: $y) { balancesClosed } }",
            json!({ "y": this_year }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "the year has not ended");

    // The leave types list is a Relay connection.
    let types = world
        .ok(
            &employee,
            "{ leaveTypes(first: 10) { edges { node { code } } pageInfo { hasNextPage } } }",
            json!({}),
            "leaveTypes",
        )
        .await;
    assert_eq!(
        types,
        json!({ "edges": [{ "node": { "code": "ANNUAL" } }], "pageInfo": { "hasNextPage": false } })
    );
}

#[tokio::test]
async fn accrual_is_prorated_idempotent_and_the_year_end_caps_the_carry_forward() {
    let world = World::start(Backends::Real).await;
    let hr = world.hr();
    let annual = world
        .leave_type(json!({ "code": "ANNUAL", "name": "Annual leave" }))
        .await;
    let monthly = world
        .policy(json!({ "name": "Monthly", "accrualFrequency": "MONTHLY", "prorateJoiners": true, "lines": [
            { "leaveTypeId": annual, "daysPerPeriod": 1.5, "carryForwardMaxDays": 2 }
        ] }))
        .await;
    let veteran = world.hire("V-1", Some("usr_vet"), None, "2024-01-08").await;
    let joiner = world
        .hire("J-1", Some("usr_join"), None, "2025-03-17")
        .await;
    let later = world
        .hire("L-1", Some("usr_later"), None, "2025-05-01")
        .await;
    let _unassigned = world.hire("U-1", Some("usr_un"), None, "2024-01-08").await;
    for employee in [&veteran, &joiner, &later] {
        world.assign(employee, &monthly, None).await;
    }

    let run = "mutation($p: String!) { runLeaveAccrual(period: $p) { period entriesCreated entriesAlreadyPosted daysPosted } }";
    // March 2025: the veteran earns 1.5 days; the joiner (17 March: 15 of 31 days) 0.73; the
    // later hire nothing.
    let march = world
        .ok(&hr, run, json!({ "p": "2025-03" }), "runLeaveAccrual")
        .await;
    assert_eq!(
        march,
        json!({ "period": "2025-03", "entriesCreated": 2, "entriesAlreadyPosted": 0, "daysPosted": 2.23 })
    );
    // Again: nothing new.
    let again = world
        .ok(&hr, run, json!({ "p": "2025-03" }), "runLeaveAccrual")
        .await;
    assert_eq!(
        again,
        json!({ "period": "2025-03", "entriesCreated": 0, "entriesAlreadyPosted": 2, "daysPosted": 0.0 })
    );
    let april = world
        .ok(&hr, run, json!({ "p": "2025-04" }), "runLeaveAccrual")
        .await;
    assert_eq!(april["entriesCreated"], 2);
    assert_eq!(april["daysPosted"], 3.0);
    // A yearly period does not touch monthly policies.
    let yearly = world
        .ok(&hr, run, json!({ "p": "2025" }), "runLeaveAccrual")
        .await;
    assert_eq!(yearly["entriesCreated"], 0);

    let vet = world.token("usr_vet", EMPLOYEE);
    assert_eq!(world.balance(&vet, "ANNUAL").await, (3.0, 0.0, 3.0));
    let join = world.token("usr_join", EMPLOYEE);
    assert_eq!(world.balance(&join, "ANNUAL").await, (2.23, 0.0, 2.23));
    let un = world.token("usr_un", EMPLOYEE);
    assert_eq!(world.balance(&un, "ANNUAL").await, (0.0, 0.0, 0.0));

    // Year end 2025: each balance carries up to 2 days, the rest lapses.
    let close = "mutation($y: Int!) { closeLeaveYear(year: $y) { year balancesClosed balancesAlreadyClosed daysCarriedForward daysLapsed } }";
    let closed = world
        .ok(&hr, close, json!({ "y": 2025 }), "closeLeaveYear")
        .await;
    assert_eq!(
        closed,
        json!({ "year": 2025, "balancesClosed": 2, "balancesAlreadyClosed": 0, "daysCarriedForward": 4.0, "daysLapsed": 1.23 })
    );
    let again = world
        .ok(&hr, close, json!({ "y": 2025 }), "closeLeaveYear")
        .await;
    assert_eq!(again["balancesClosed"], 0);
    assert_eq!(again["balancesAlreadyClosed"], 2);
    assert_eq!(world.balance(&vet, "ANNUAL").await, (2.0, 0.0, 2.0));
    assert_eq!(world.balance(&join, "ANNUAL").await, (2.0, 0.0, 2.0));

    // The balance is the sum of the ledger.
    let ledger = world
        .ok(
            &vet,
            "{ leaveLedger(first: 20) { edges { node { kind days effectiveOn } } } }",
            json!({}),
            "leaveLedger",
        )
        .await;
    let entries: Vec<Value> = ledger["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(
        entries,
        vec![
            json!({ "kind": "ACCRUAL", "days": 1.5, "effectiveOn": "2025-03-01" }),
            json!({ "kind": "ACCRUAL", "days": 1.5, "effectiveOn": "2025-04-01" }),
            json!({ "kind": "EXPIRY", "days": -3.0, "effectiveOn": "2025-12-31" }),
            json!({ "kind": "CARRY_FORWARD", "days": 2.0, "effectiveOn": "2026-01-01" }),
        ]
    );
    // Only HR reads another employee's ledger.
    let body = world
        .call(
            &vet,
            "query($e: ID!) { leaveLedger(employeeId: $e) { edges { node { id } } } }",
            json!({ "e": joiner }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
    let theirs = world
        .ok(&hr, "query($e: ID!) { leaveLedger(employeeId: $e, first: 1) { edges { node { kind days } } pageInfo { hasNextPage } } }", json!({ "e": joiner }), "leaveLedger")
        .await;
    assert_eq!(
        theirs,
        json!({ "edges": [{ "node": { "kind": "ACCRUAL", "days": 0.73 } }], "pageInfo": { "hasNextPage": true } })
    );
    let balances = world
        .ok(
            &hr,
            "query($e: ID!) { leaveBalances(employeeId: $e) { balanceDays } }",
            json!({ "e": later }),
            "leaveBalances",
        )
        .await;
    assert_eq!(balances, json!([{ "balanceDays": 0.0 }]));
    assert_eq!(world.events_of("accrual:2025-03").await, ["leave.accrued"]);
    assert_eq!(world.events_of("year:2025").await, ["leave.year_closed"]);
}

#[tokio::test]
async fn requests_follow_the_rules_and_the_manager_then_hr_chain() {
    let world = World::start(Backends::Real).await;
    let hr = world.hr();
    let _hr_employee = world.hire("H-1", Some("usr_hr"), None, "2020-01-06").await;
    let manager = world.hire("M-1", Some("usr_mgr"), None, "2020-01-06").await;
    let other_manager = world
        .hire("M-2", Some("usr_mgr2"), None, "2020-01-06")
        .await;
    let employee = world
        .hire("E-1", Some("usr_emp"), Some(&manager), "2024-01-08")
        .await;
    let _colleague = world
        .hire("E-2", Some("usr_col"), Some(&other_manager), "2024-01-08")
        .await;
    let emp = world.token("usr_emp", EMPLOYEE);
    let mgr = world.token("usr_mgr", MANAGER);
    let mgr2 = world.token("usr_mgr2", MANAGER);
    let col = world.token("usr_col", EMPLOYEE);

    let annual = world
        .leave_type(json!({ "code": "ANNUAL", "name": "Annual leave", "maxConsecutiveDays": 10 }))
        .await;
    let sick = world
        .leave_type(json!({ "code": "SICK", "name": "Sick leave", "requiresApproval": false, "allowNegativeBalance": true, "allowsHalfDay": false }))
        .await;
    let unpaid = world
        .leave_type(json!({ "code": "UNPAID", "name": "Leave without pay", "paid": false }))
        .await;
    let policy = world
        .policy(
            json!({ "name": "Standard", "accrualFrequency": "MONTHLY", "lines": [
            { "leaveTypeId": annual, "daysPerPeriod": 1.5 }
        ] }),
        )
        .await;
    let office = world
        .ok(
            &hr,
            "mutation { createLocation(input: { name: \"Pune\", latitude: 18.52, longitude: 73.85, radiusMeters: 300 }) { id } }",
            json!({}),
            "createLocation",
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.assign(&employee, &policy, Some(&office)).await;

    let monday = future_monday();
    let day = |offset: u64| date(monday + Days::new(offset));
    let add_holiday = "mutation($i: AddHolidayInput!) { addHoliday(input: $i) { id } }";
    // Wednesday is a tenant-wide holiday, Thursday one of the Pune office only.
    world
        .ok(
            &hr,
            add_holiday,
            json!({ "i": { "day": day(2), "name": "Festival" } }),
            "addHoliday",
        )
        .await;
    world
        .ok(
            &hr,
            add_holiday,
            json!({ "i": { "day": day(3), "name": "City day", "locationId": office } }),
            "addHoliday",
        )
        .await;

    // HR opens the balance: 5 days. Bad adjustments are refused.
    world.adjust(&employee, &annual, 5.0).await;
    let body = world
        .call(&hr, ADJUST, json!({ "i": { "employeeId": employee, "leaveTypeId": annual, "days": 1, "reason": "  " } }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    let body = world
        .call(&hr, ADJUST, json!({ "i": { "employeeId": employee, "leaveTypeId": annual, "days": 0, "reason": "x" } }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let body = world
        .call(&hr, ADJUST, json!({ "i": { "employeeId": employee, "leaveTypeId": annual, "days": -6, "reason": "too much" } }))
        .await;
    assert_eq!(rule(&body), "CONFLICT/INSUFFICIENT_LEAVE_BALANCE");
    let body = world
        .call(&hr, ADJUST, json!({ "i": { "employeeId": employee, "leaveTypeId": unpaid, "days": 1, "reason": "x" } }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "unpaid leave has no balance");
    let body = world
        .call(&emp, ADJUST, json!({ "i": { "employeeId": employee, "leaveTypeId": annual, "days": 1, "reason": "x" } }))
        .await;
    assert_eq!(code(&body), "UNAUTHORIZED_FIELD_OR_TYPE");
    assert_eq!(world.balance(&emp, "ANNUAL").await, (5.0, 0.0, 5.0));

    // Monday afternoon to Friday: Wednesday and Thursday are holidays -> 2.5 days.
    let week = world
        .ok(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(0), "endDate": day(4), "startHalf": "SECOND_HALF", "reason": "family trip" } }),
            "requestLeave",
        )
        .await;
    assert_eq!(week["status"], "PENDING_MANAGER");
    assert_eq!(week["days"], 2.5);
    assert_eq!(week["startHalf"], "SECOND_HALF");
    assert_eq!(week["endHalf"], Value::Null);
    assert_eq!(week["manager"]["id"], manager.as_str());
    assert_eq!(
        week["viewerCan"],
        json!({ "approve": false, "reject": false, "cancel": true })
    );
    let week_id = week["id"].as_str().unwrap().to_owned();
    assert_eq!(world.balance(&emp, "ANNUAL").await, (5.0, 2.5, 2.5));

    // Friday overlaps; Monday morning does not (the week starts Monday afternoon).
    let body = world
        .call(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(4), "endDate": day(4) } }),
        )
        .await;
    assert_eq!(rule(&body), "CONFLICT/LEAVE_OVERLAP");
    assert_eq!(
        body["errors"][0]["extensions"]["overlappingRequestId"],
        week_id.as_str()
    );
    let morning = world
        .ok(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(0), "endDate": day(0), "startHalf": "FIRST_HALF" } }),
            "requestLeave",
        )
        .await;
    assert_eq!(morning["days"], 0.5);
    assert_eq!(morning["endHalf"], "FIRST_HALF");
    let morning_id = morning["id"].as_str().unwrap().to_owned();
    assert_eq!(world.balance(&emp, "ANNUAL").await, (5.0, 3.0, 2.0));

    // Three days next week: more than the 2 available (pending requests hold the rest).
    let body = world
        .call(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(7), "endDate": day(9) } }),
        )
        .await;
    assert_eq!(rule(&body), "CONFLICT/INSUFFICIENT_LEAVE_BALANCE");
    assert_eq!(body["errors"][0]["extensions"]["availableDays"], 2.0);
    assert_eq!(body["errors"][0]["extensions"]["requestedDays"], 3.0);
    // Other refusals.
    for (input, expected) in [
        (
            json!({ "leaveTypeId": annual, "startDate": day(5), "endDate": day(6) }),
            "BAD_USER_INPUT/NO_WORKING_DAYS",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(14), "endDate": day(28) }),
            "BAD_USER_INPUT/MAX_CONSECUTIVE_DAYS_EXCEEDED",
        ),
        (
            json!({ "leaveTypeId": sick, "startDate": day(7), "endDate": day(7), "startHalf": "FIRST_HALF" }),
            "BAD_USER_INPUT/HALF_DAY_NOT_ALLOWED",
        ),
    ] {
        let body = world.call(&emp, REQUEST, json!({ "i": input })).await;
        assert_eq!(rule(&body), expected, "{input}: {body}");
    }
    for (input, field) in [
        (
            json!({ "leaveTypeId": annual, "startDate": day(9), "endDate": day(7) }),
            "endDate",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(7), "endDate": day(8), "startHalf": "FIRST_HALF" }),
            "startHalf",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(7), "endDate": day(8), "endHalf": "SECOND_HALF" }),
            "endHalf",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(7), "endDate": day(7), "startHalf": "FIRST_HALF", "endHalf": "SECOND_HALF" }),
            "endHalf",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(7), "endDate": day(400) }),
            "endDate",
        ),
        (
            json!({ "leaveTypeId": "nope", "startDate": day(7), "endDate": day(7) }),
            "leaveTypeId",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": "2024-01-05", "endDate": "2024-01-09" }),
            "startDate",
        ),
        (
            json!({ "leaveTypeId": annual, "startDate": day(7), "endDate": day(7), "reason": "x".repeat(501) }),
            "reason",
        ),
    ] {
        let body = world.call(&emp, REQUEST, json!({ "i": input })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    // A user without an employee record has nobody to request leave for.
    let stranger = world.token("usr_nobody", EMPLOYEE);
    let body = world
        .call(
            &stranger,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(7), "endDate": day(7) } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN");

    // Unpaid leave takes no balance.
    let unpaid_leave = world
        .ok(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": unpaid, "startDate": day(14), "endDate": day(18) } }),
            "requestLeave",
        )
        .await;
    assert_eq!(unpaid_leave["status"], "PENDING_MANAGER");
    assert_eq!(unpaid_leave["days"], 5.0);

    // The approval chain. The employee holding an approval scope cannot approve their own.
    let emp_approver = world.token("usr_emp", MANAGER);
    let body = world
        .call(&emp_approver, APPROVE, json!({ "id": week_id }))
        .await;
    assert_eq!(rule(&body), "FORBIDDEN/SELF_APPROVAL");
    let body = world.call(&emp, APPROVE, json!({ "id": week_id })).await;
    assert_eq!(
        code(&body),
        "UNAUTHORIZED_FIELD_OR_TYPE",
        "no approval scope"
    );
    // HR waits for the manager; another manager is not the approver.
    let body = world.call(&hr, APPROVE, json!({ "id": week_id })).await;
    assert_eq!(rule(&body), "FORBIDDEN/NOT_APPROVER");
    let body = world.call(&mgr2, APPROVE, json!({ "id": week_id })).await;
    assert_eq!(rule(&body), "FORBIDDEN/NOT_APPROVER");
    let body = world
        .call(&mgr2, REJECT, json!({ "id": week_id, "r": "no" }))
        .await;
    assert_eq!(rule(&body), "FORBIDDEN/NOT_APPROVER");
    let body = world.call(&mgr, APPROVE, json!({ "id": "missing" })).await;
    assert_eq!(code(&body), "NOT_FOUND");

    let pending_query = "{ pendingLeaveApprovals(first: 10) { edges { node { id status employee { id } viewerCan { approve reject cancel } } } } }";
    let pending = world
        .ok(&mgr, pending_query, json!({}), "pendingLeaveApprovals")
        .await;
    let ids: Vec<&str> = pending["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            week_id.as_str(),
            morning_id.as_str(),
            unpaid_leave["id"].as_str().unwrap()
        ]
    );
    assert_eq!(
        pending["edges"][0]["node"]["viewerCan"],
        json!({ "approve": true, "reject": true, "cancel": false })
    );
    assert_eq!(
        pending["edges"][0]["node"]["employee"]["id"],
        employee.as_str()
    );
    let hr_pending = world
        .ok(&hr, pending_query, json!({}), "pendingLeaveApprovals")
        .await;
    assert_eq!(hr_pending["edges"], json!([]), "nothing has reached HR");
    let none = world
        .ok(&mgr2, pending_query, json!({}), "pendingLeaveApprovals")
        .await;
    assert_eq!(none["edges"], json!([]));

    let step = world
        .ok(&mgr, APPROVE, json!({ "id": week_id }), "approveLeave")
        .await;
    assert_eq!(step["status"], "PENDING_HR");
    assert_eq!(step["decisionComment"], "enjoy");
    assert_eq!(
        step["viewerCan"],
        json!({ "approve": false, "reject": false, "cancel": false })
    );
    let body = world.call(&mgr, APPROVE, json!({ "id": week_id })).await;
    assert_eq!(
        rule(&body),
        "FORBIDDEN/NOT_APPROVER",
        "the manager's step is done"
    );
    let hr_pending = world
        .ok(&hr, pending_query, json!({}), "pendingLeaveApprovals")
        .await;
    assert_eq!(hr_pending["edges"][0]["node"]["id"], week_id.as_str());
    assert_eq!(hr_pending["edges"][0]["node"]["viewerCan"]["approve"], true);
    assert_eq!(
        world.balance(&emp, "ANNUAL").await,
        (5.0, 3.0, 2.0),
        "nothing is taken yet"
    );

    let approved = world
        .ok(&hr, APPROVE, json!({ "id": week_id }), "approveLeave")
        .await;
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(world.balance(&emp, "ANNUAL").await, (2.5, 0.5, 2.0));
    let body = world.call(&hr, APPROVE, json!({ "id": week_id })).await;
    assert_eq!(rule(&body), "CONFLICT/INVALID_LEAVE_STATE");
    let body = world
        .call(
            &hr,
            REJECT,
            json!({ "id": week_id, "r": "changed my mind" }),
        )
        .await;
    assert_eq!(rule(&body), "CONFLICT/INVALID_LEAVE_STATE");

    // Rejection needs a reason.
    let body = world
        .call(&mgr, REJECT, json!({ "id": morning_id, "r": "   " }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    let rejected = world
        .ok(
            &mgr,
            REJECT,
            json!({ "id": morning_id, "r": "team offsite that morning" }),
            "rejectLeave",
        )
        .await;
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["decisionComment"], "team offsite that morning");
    assert_eq!(world.balance(&emp, "ANNUAL").await, (2.5, 0.0, 2.5));

    // Visibility of the request list.
    let list = "query($f: LeaveRequestFilterInput) { leaveRequests(filter: $f, first: 20) { edges { node { id status leaveType { code } } } } }";
    let ids_of = |body: &Value| -> Vec<String> {
        body["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let own = world.ok(&emp, list, json!({}), "leaveRequests").await;
    assert_eq!(ids_of(&own).len(), 3);
    assert_eq!(own["edges"][0]["node"]["leaveType"]["code"], "ANNUAL");
    let approved_only = world
        .ok(
            &emp,
            list,
            json!({ "f": { "status": "APPROVED" } }),
            "leaveRequests",
        )
        .await;
    assert_eq!(ids_of(&approved_only), [week_id.as_str()]);
    let as_manager = world
        .ok(
            &mgr,
            list,
            json!({ "f": { "employeeId": employee } }),
            "leaveRequests",
        )
        .await;
    assert_eq!(ids_of(&as_manager).len(), 3);
    let colleague_view = world
        .ok(
            &col,
            list,
            json!({ "f": { "employeeId": employee } }),
            "leaveRequests",
        )
        .await;
    assert!(
        ids_of(&colleague_view).is_empty(),
        "others' requests are invisible"
    );
    let hr_view = world
        .ok(
            &hr,
            list,
            json!({ "f": { "status": "REJECTED" } }),
            "leaveRequests",
        )
        .await;
    assert_eq!(ids_of(&hr_view), [morning_id.as_str()]);
    let one = world
        .call(
            &col,
            "query($id: ID!) { leaveRequest(id: $id) { id } }",
            json!({ "id": week_id }),
        )
        .await;
    assert_eq!(one["data"]["leaveRequest"], Value::Null);
    let one = world
        .ok(
            &emp,
            "query($id: ID!) { leaveRequest(id: $id) { id days reason } }",
            json!({ "id": week_id }),
            "leaveRequest",
        )
        .await;
    assert_eq!(one["reason"], "family trip");

    // Cancellation: the employee's own, before it starts; an approved one gives the days back.
    let body = world.call(&mgr, CANCEL, json!({ "id": week_id })).await;
    assert_eq!(rule(&body), "FORBIDDEN/NOT_REQUESTER");
    let cancelled = world
        .ok(&emp, CANCEL, json!({ "id": week_id }), "cancelLeave")
        .await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["cancelledAt"].is_string());
    assert_eq!(world.balance(&emp, "ANNUAL").await, (5.0, 0.0, 5.0));
    let body = world.call(&emp, CANCEL, json!({ "id": week_id })).await;
    assert_eq!(rule(&body), "CONFLICT/INVALID_LEAVE_STATE");
    let body = world.call(&emp, CANCEL, json!({ "id": morning_id })).await;
    assert_eq!(
        rule(&body),
        "CONFLICT/INVALID_LEAVE_STATE",
        "a rejected request stays rejected"
    );
    // The cancelled week no longer blocks its days.
    let again = world
        .ok(
            &emp,
            REQUEST,
            json!({ "i": { "leaveTypeId": annual, "startDate": day(4), "endDate": day(4) } }),
            "requestLeave",
        )
        .await;
    assert_eq!(again["days"], 1.0);

    let ledger = world
        .ok(&emp, "query($t: ID) { leaveLedger(leaveTypeId: $t) { edges { node { kind days reason requestId } } } }", json!({ "t": annual }), "leaveLedger")
        .await;
    assert_eq!(
        ledger["edges"],
        json!([
            { "node": { "kind": "ADJUSTMENT", "days": 5.0, "reason": "opening balance", "requestId": null } },
            { "node": { "kind": "USAGE", "days": -2.5, "reason": null, "requestId": week_id } },
            { "node": { "kind": "REVERSAL", "days": 2.5, "reason": "cancelled leave", "requestId": week_id } },
        ])
    );

    // A leave without approval is approved as made, takes the balance (negative allowed here)
    // and, once started, can no longer be cancelled.
    let started = started_weekday();
    let sick_leave = world
        .ok(&emp, REQUEST, json!({ "i": { "leaveTypeId": sick, "startDate": date(started), "endDate": date(started) } }), "requestLeave")
        .await;
    assert_eq!(sick_leave["status"], "APPROVED");
    assert_eq!(world.balance(&emp, "SICK").await, (-1.0, 0.0, -1.0));
    let sick_id = sick_leave["id"].as_str().unwrap().to_owned();
    let body = world.call(&emp, CANCEL, json!({ "id": sick_id })).await;
    assert_eq!(rule(&body), "CONFLICT/LEAVE_ALREADY_STARTED");
    // The manager sees their report's leave approved as made, too.
    let team = world
        .ok(
            &mgr,
            list,
            json!({ "f": { "employeeId": employee, "status": "APPROVED" } }),
            "leaveRequests",
        )
        .await;
    assert_eq!(ids_of(&team), [sick_id.as_str()]);

    // Someone without a manager goes straight to HR.
    let own = world
        .ok(
            &mgr,
            REQUEST,
            json!({ "i": { "leaveTypeId": unpaid, "startDate": day(7), "endDate": day(7) } }),
            "requestLeave",
        )
        .await;
    assert_eq!(own["status"], "PENDING_HR");
    assert_eq!(own["manager"], Value::Null);
    let own_id = own["id"].as_str().unwrap().to_owned();
    let done = world
        .ok(&hr, APPROVE, json!({ "id": own_id }), "approveLeave")
        .await;
    assert_eq!(done["status"], "APPROVED");

    // Every step went through the outbox.
    assert_eq!(
        world.events_of(&week_id).await,
        [
            "leave.requested",
            "leave.manager_approved",
            "leave.approved",
            "leave.cancelled"
        ]
    );
    assert_eq!(
        world.events_of(&morning_id).await,
        ["leave.requested", "leave.rejected"]
    );
    assert_eq!(
        world.events_of(&sick_id).await,
        ["leave.requested", "leave.approved"]
    );
    assert_eq!(
        world.events_of(&own_id).await,
        ["leave.requested", "leave.approved"]
    );
}

#[tokio::test]
async fn concurrent_requests_for_the_same_days_admit_one() {
    let world = World::start(Backends::Real).await;
    let employee = world.hire("C-1", Some("usr_c"), None, "2024-01-08").await;
    let annual = world
        .leave_type(json!({ "code": "ANNUAL", "name": "Annual leave" }))
        .await;
    world.adjust(&employee, &annual, 10.0).await;
    let token = world.token("usr_c", EMPLOYEE);
    let monday = future_monday();
    let attempts = (0..5).map(|i| {
        let (world, token) = (&world, &token);
        // Overlapping spans, each within the balance alone.
        let input = json!({ "i": {
            "leaveTypeId": annual,
            "startDate": date(monday + Days::new(i % 2)),
            "endDate": date(monday + Days::new(2 + i % 2)),
        } });
        async move { world.call(token, REQUEST, input).await }
    });
    let bodies = futures::future::join_all(attempts).await;
    let accepted = bodies.iter().filter(|b| b["errors"].is_null()).count();
    let overlaps = bodies
        .iter()
        .filter(|b| rule(b) == "CONFLICT/LEAVE_OVERLAP")
        .count();
    assert_eq!((accepted, overlaps), (1, 4), "{bodies:?}");
    assert_eq!(world.balance(&token, "ANNUAL").await, (10.0, 3.0, 7.0));
}

#[tokio::test]
async fn the_approval_event_reaches_kafka() {
    let brokers = require_env("KAFKA_BROKERS");
    let world = World::start(Backends::Real).await;
    let employee = world.hire("K-1", Some("usr_k"), None, "2024-01-08").await;
    let annual = world
        .leave_type(json!({ "code": "ANNUAL", "name": "Annual leave" }))
        .await;
    world.adjust(&employee, &annual, 3.0).await;
    let token = world.token("usr_k", EMPLOYEE);
    let monday = future_monday();
    let request = world
        .ok(&token, REQUEST, json!({ "i": { "leaveTypeId": annual, "startDate": date(monday), "endDate": date(monday + Days::new(1)) } }), "requestLeave")
        .await;
    let id = request["id"].as_str().unwrap().to_owned();
    world
        .ok(&world.hr(), APPROVE, json!({ "id": id }), "approveLeave")
        .await;

    let bus = KafkaBus::new(KafkaConfig::new(brokers)).unwrap();
    let group = format!("test-{}", uuid::Uuid::new_v4());
    let mut stream = bus
        .subscribe(&["erp.employee.events"], &group)
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(event) = stream.next().await {
            if event.aggregate_id == id && event.event_type == "leave.approved" {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("leave.approved on erp.employee.events within 90 s");
    assert_eq!(event.tenant_id, world.tenant);
    assert_eq!(event.actor.as_deref(), Some("usr_hr"));
    assert_eq!(event.payload["employee_id"], employee.as_str());
    assert_eq!(event.payload["leave_type_id"], annual.as_str());
    assert_eq!(event.payload["days"], 2.0);
    assert_eq!(event.payload["status"], "approved");
    assert_eq!(event.payload["start_date"], date(monday));
}

#[tokio::test]
async fn leave_works_on_the_embedded_sqlite_mode() {
    let world = World::start(Backends::Embedded).await;
    let hr = world.hr();
    let employee = world.hire("S-1", Some("usr_s"), None, "2024-01-08").await;
    let annual = world
        .leave_type(json!({ "code": "ANNUAL", "name": "Annual leave" }))
        .await;
    let policy = world
        .policy(
            json!({ "name": "Yearly", "accrualFrequency": "YEARLY", "lines": [
            { "leaveTypeId": annual, "daysPerPeriod": 20, "carryForwardMaxDays": 5 }
        ] }),
        )
        .await;
    world.assign(&employee, &policy, None).await;
    let run = world
        .ok(
            &hr,
            "mutation { runLeaveAccrual(period: \"2025\") { entriesCreated daysPosted } }",
            json!({}),
            "runLeaveAccrual",
        )
        .await;
    assert_eq!(run, json!({ "entriesCreated": 1, "daysPosted": 20.0 }));
    let closed = world
        .ok(
            &hr,
            "mutation { closeLeaveYear(year: 2025) { daysCarriedForward daysLapsed } }",
            json!({}),
            "closeLeaveYear",
        )
        .await;
    assert_eq!(
        closed,
        json!({ "daysCarriedForward": 5.0, "daysLapsed": 15.0 })
    );
    let token = world.token("usr_s", EMPLOYEE);
    assert_eq!(world.balance(&token, "ANNUAL").await, (5.0, 0.0, 5.0));
    let monday = future_monday();
    let request = world
        .ok(&token, REQUEST, json!({ "i": { "leaveTypeId": annual, "startDate": date(monday), "endDate": date(monday + Days::new(6)) } }), "requestLeave")
        .await;
    assert_eq!(request["status"], "PENDING_HR");
    assert_eq!(request["days"], 5.0);
    let id = request["id"].as_str().unwrap().to_owned();
    let body = world
        .call(&token, REQUEST, json!({ "i": { "leaveTypeId": annual, "startDate": date(monday + Days::new(2)), "endDate": date(monday + Days::new(2)) } }))
        .await;
    assert_eq!(rule(&body), "CONFLICT/LEAVE_OVERLAP");
    world
        .ok(&hr, APPROVE, json!({ "id": id }), "approveLeave")
        .await;
    assert_eq!(world.balance(&token, "ANNUAL").await, (0.0, 0.0, 0.0));
    world
        .ok(&token, CANCEL, json!({ "id": id }), "cancelLeave")
        .await;
    assert_eq!(world.balance(&token, "ANNUAL").await, (5.0, 0.0, 5.0));
    assert_eq!(
        world.events_of(&id).await,
        ["leave.requested", "leave.approved", "leave.cancelled"]
    );
}
