//! The org chart (direct reports, chain of command, `orgChart`), manager changes that would
//! close a loop (MANAGER_CYCLE), and the row-level rules (`viewerCan`, who sees whose
//! attendance), through the employee subgraph's HTTP surface on real PostgreSQL.

use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const TENANT: &str = "tnt_org";
const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];
const READER: &[&str] = &["employee:read", "attendance:checkin"];

struct Org {
    app: EmployeeApp,
    issuer: TestIssuer,
    hr: String,
}

impl Org {
    async fn new() -> Self {
        Self::on(Backends::Real).await
    }

    async fn on(backends: Backends) -> Self {
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, backends).await).await;
        let hr = issuer.token(TENANT, "usr_hr", HR);
        Self { app, issuer, hr }
    }

    fn token(&self, user: &str, scopes: &[&str]) -> String {
        self.issuer.token(TENANT, user, scopes)
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.app.graphql(Some(token), query, variables).await.1
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    async fn hire(&self, name: &str, manager: Option<&str>) -> String {
        let user = format!("usr_{}", name.to_lowercase());
        let data = self
            .ok(
                &self.hr,
                "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
                json!({ "i": {
                    "employeeNumber": format!("E-{name}"),
                    "displayName": name,
                    "workEmail": format!("{}@co.example", name.to_lowercase()),
                    "hiredOn": "2025-01-06",
                    "userId": user,
                    "managerId": manager,
                } }),
            )
            .await;
        data["hireEmployee"]["id"].as_str().unwrap().to_owned()
    }

    async fn manager_of(&self, id: &str) -> Value {
        let data = self
            .ok(
                &self.hr,
                "query($id: ID!) { employee(id: $id) { manager { displayName } } }",
                json!({ "id": id }),
            )
            .await;
        data["employee"]["manager"]["displayName"].clone()
    }

    async fn event_count(&self, event_type: &str) -> i64 {
        let db = &self.app.runtime.db;
        db.query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM employee_outbox WHERE event_type = $1",
            [event_type.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["displayName"].as_str().unwrap().to_owned())
        .collect()
}

const SET_MANAGER: &str = "mutation($e: ID!, $m: ID) { setEmployeeManager(employeeId: $e, managerId: $m) { id manager { displayName } } }";

#[tokio::test]
async fn org_chart_chain_of_command_and_cycles() {
    let org = Org::new().await;
    let ceo = org.hire("Ceo", None).await;
    let cto = org.hire("Cto", Some(&ceo)).await;
    let lead = org.hire("Lead", Some(&cto)).await;
    let dev1 = org.hire("Dev1", Some(&lead)).await;
    let dev2 = org.hire("Dev2", Some(&lead)).await;
    let intern = org.hire("Intern", Some(&dev1)).await;
    let reader = org.token("usr_dev2", READER);

    // Direct reports as a connection.
    const REPORTS: &str = "query($id: ID!, $a: String) { employee(id: $id) { directReports(first: 1, after: $a) { edges { node { displayName } } pageInfo { hasNextPage endCursor } } } }";
    let data = org.ok(&reader, REPORTS, json!({ "id": lead })).await;
    let page = &data["employee"]["directReports"];
    assert_eq!(
        page["edges"],
        json!([{ "node": { "displayName": "Dev1" } }])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let data = org
        .ok(
            &reader,
            REPORTS,
            json!({ "id": lead, "a": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        data["employee"]["directReports"]["edges"],
        json!([{ "node": { "displayName": "Dev2" } }])
    );
    assert_eq!(
        data["employee"]["directReports"]["pageInfo"]["hasNextPage"],
        false
    );

    // Chain of command, nearest first, to the top.
    const CHAIN: &str = "query($id: ID!) { employee(id: $id) { chainOfCommand { displayName } } }";
    let data = org.ok(&reader, CHAIN, json!({ "id": intern })).await;
    assert_eq!(
        names(&data["employee"]["chainOfCommand"]),
        ["Dev1", "Lead", "Cto", "Ceo"]
    );
    let data = org.ok(&reader, CHAIN, json!({ "id": ceo })).await;
    assert_eq!(data["employee"]["chainOfCommand"], json!([]));

    // The org chart, two levels under the CEO; counts below the cut still show.
    const CHART: &str = "query($id: ID!, $d: Int) { orgChart(rootId: $id, depth: $d) { employee { displayName } directReportCount reports { employee { displayName } directReportCount reports { employee { displayName } directReportCount reports { employee { displayName } } } } } }";
    let data = org.ok(&reader, CHART, json!({ "id": ceo, "d": 2 })).await;
    assert_eq!(
        data["orgChart"],
        json!({
            "employee": { "displayName": "Ceo" },
            "directReportCount": 1,
            "reports": [{
                "employee": { "displayName": "Cto" },
                "directReportCount": 1,
                "reports": [{
                    "employee": { "displayName": "Lead" },
                    "directReportCount": 2,
                    "reports": []
                }]
            }]
        })
    );
    let data = org.ok(&reader, CHART, json!({ "id": lead, "d": 3 })).await;
    let lead_chart = &data["orgChart"];
    assert_eq!(lead_chart["directReportCount"], 2);
    assert_eq!(
        lead_chart["reports"][0]["reports"],
        json!([{ "employee": { "displayName": "Intern" }, "directReportCount": 0, "reports": [] }])
    );
    for depth in [0, 11] {
        let body = org
            .gql(&reader, CHART, json!({ "id": ceo, "d": depth }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], "depth");
    }
    let data = org.ok(&reader, CHART, json!({ "id": "nobody" })).await;
    assert_eq!(data["orgChart"], Value::Null);
    let other_tenant = org.issuer.token("tnt_org_other", "usr_x", READER);
    let data = org.ok(&other_tenant, CHART, json!({ "id": ceo })).await;
    assert_eq!(
        data["orgChart"],
        Value::Null,
        "another tenant's org is invisible"
    );
    let body = org
        .gql(
            &org.token("usr_x", &["attendance:checkin"]),
            CHART,
            json!({ "id": ceo }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    // A manager who reports (indirectly) to the employee closes a loop: refused, nothing
    // written, no event.
    let before = org.event_count("employee.manager_changed").await;
    for (employee, manager) in [(&cto, &intern), (&lead, &lead), (&ceo, &dev2)] {
        let body = org
            .gql(&org.hr, SET_MANAGER, json!({ "e": employee, "m": manager }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "MANAGER_CYCLE");
        assert_eq!(body["errors"][0]["extensions"]["field"], "managerId");
    }
    assert_eq!(org.manager_of(&cto).await, "Ceo");
    assert_eq!(org.manager_of(&ceo).await, Value::Null);
    assert_eq!(org.event_count("employee.manager_changed").await, before);
    // Other bad inputs.
    let body = org
        .gql(&org.hr, SET_MANAGER, json!({ "e": dev2, "m": "nobody" }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "managerId");
    let body = org
        .gql(&org.hr, SET_MANAGER, json!({ "e": "nobody", "m": ceo }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "employeeId");
    let body = org
        .gql(&reader, SET_MANAGER, json!({ "e": dev2, "m": ceo }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    // A move that closes no loop: Dev2 now reports to the CTO, then to nobody.
    let data = org
        .ok(&org.hr, SET_MANAGER, json!({ "e": dev2, "m": cto }))
        .await;
    assert_eq!(data["setEmployeeManager"]["manager"]["displayName"], "Cto");
    let data = org.ok(&reader, CHAIN, json!({ "id": dev2 })).await;
    assert_eq!(names(&data["employee"]["chainOfCommand"]), ["Cto", "Ceo"]);
    let data = org
        .ok(&org.hr, SET_MANAGER, json!({ "e": dev2, "m": null }))
        .await;
    assert_eq!(data["setEmployeeManager"]["manager"], Value::Null);
    assert_eq!(
        org.event_count("employee.manager_changed").await,
        before + 2
    );
    // Moving a whole branch up is fine: the Lead reports to the CEO.
    org.ok(&org.hr, SET_MANAGER, json!({ "e": lead, "m": ceo }))
        .await;
    let data = org.ok(&reader, CHAIN, json!({ "id": intern })).await;
    assert_eq!(
        names(&data["employee"]["chainOfCommand"]),
        ["Dev1", "Lead", "Ceo"]
    );

    // A loop that got into the data some other way does not hang the walks.
    let db = &org.app.runtime.db;
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE employees SET manager_id = $1 WHERE id = $2",
        [intern.clone().into(), ceo.clone().into()],
    ))
    .await
    .unwrap();
    let data = org.ok(&reader, CHAIN, json!({ "id": intern })).await;
    assert_eq!(
        names(&data["employee"]["chainOfCommand"]),
        ["Dev1", "Lead", "Ceo"]
    );
    let data = org.ok(&reader, CHART, json!({ "id": ceo, "d": 10 })).await;
    assert_eq!(data["orgChart"]["employee"]["displayName"], "Ceo");
    let chart = data["orgChart"].to_string();
    assert_eq!(
        chart.matches("\"Ceo\"").count(),
        1,
        "each person once: {chart}"
    );
}

const VIEWER_CAN: &str = "query($id: ID!) { employee(id: $id) { viewerCan { viewFullRecord viewAttendance editProfile setManager approveAttendanceCorrection requestAttendanceCorrection viewCompensation } } }";

#[tokio::test]
async fn row_level_rules_and_viewer_can() {
    let org = Org::new().await;
    let boss = org.hire("Boss", None).await;
    let lead = org.hire("Lead", Some(&boss)).await;
    let dev = org.hire("Dev", Some(&lead)).await;
    let peer = org.hire("Peer", None).await;

    let can = |value: &Value| value["employee"]["viewerCan"].clone();
    // Oneself.
    let dev_token = org.token("usr_dev", READER);
    let data = org.ok(&dev_token, VIEWER_CAN, json!({ "id": dev })).await;
    assert_eq!(
        can(&data),
        json!({ "viewFullRecord": true, "viewAttendance": true, "editProfile": true, "setManager": false, "approveAttendanceCorrection": false, "requestAttendanceCorrection": true, "viewCompensation": false })
    );
    // A manager two levels up (transitive).
    let boss_token = org.token("usr_boss", READER);
    let data = org.ok(&boss_token, VIEWER_CAN, json!({ "id": dev })).await;
    assert_eq!(
        can(&data),
        json!({ "viewFullRecord": true, "viewAttendance": true, "editProfile": false, "setManager": false, "approveAttendanceCorrection": true, "requestAttendanceCorrection": false, "viewCompensation": false })
    );
    // A report does not see their manager's record.
    let data = org.ok(&dev_token, VIEWER_CAN, json!({ "id": boss })).await;
    assert_eq!(can(&data)["viewFullRecord"], false);
    // A peer: the directory only.
    let peer_token = org.token("usr_peer", READER);
    let data = org.ok(&peer_token, VIEWER_CAN, json!({ "id": dev })).await;
    assert_eq!(
        can(&data),
        json!({ "viewFullRecord": false, "viewAttendance": false, "editProfile": false, "setManager": false, "approveAttendanceCorrection": false, "requestAttendanceCorrection": false, "viewCompensation": false })
    );
    // HR, who is nobody's manager.
    let data = org.ok(&org.hr, VIEWER_CAN, json!({ "id": dev })).await;
    assert_eq!(
        can(&data),
        json!({ "viewFullRecord": true, "viewAttendance": true, "editProfile": true, "setManager": true, "approveAttendanceCorrection": true, "requestAttendanceCorrection": false, "viewCompensation": true })
    );
    // Read-only HR.
    let data = org
        .ok(
            &org.token("usr_auditor", &["employee:read", "hr:read"]),
            VIEWER_CAN,
            json!({ "id": dev }),
        )
        .await;
    assert_eq!(can(&data)["viewAttendance"], true);
    assert_eq!(can(&data)["approveAttendanceCorrection"], false);
    assert_eq!(can(&data)["viewCompensation"], false);

    // The rules hold where the data is: attendance is the employee's, their managers' and HR's.
    const ATTENDANCE: &str = "query($id: ID!) { employee(id: $id) { displayName attendance { status punches { kind } } } }";
    for token in [
        &dev_token,
        &boss_token,
        &org.token("usr_lead", READER),
        &org.hr,
    ] {
        let data = org.ok(token, ATTENDANCE, json!({ "id": dev })).await;
        assert_eq!(data["employee"]["attendance"]["punches"], json!([]));
        assert_eq!(data["employee"]["attendance"]["status"], "UNSCHEDULED");
    }
    let body = org.gql(&peer_token, ATTENDANCE, json!({ "id": dev })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(
        body["data"]["employee"]["displayName"], "Dev",
        "the directory stays readable"
    );
    assert_eq!(body["data"]["employee"]["attendance"], Value::Null);
    assert_eq!(body["errors"][0]["path"], json!(["employee", "attendance"]));
    let body = org.gql(&dev_token, ATTENDANCE, json!({ "id": lead })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "not upwards");

    // A list of many employees with their permissions: loaded in batches, each row its own answer.
    let data = org
        .ok(&boss_token, "{ employees(first: 10) { edges { node { displayName viewerCan { viewAttendance approveAttendanceCorrection } } } } }", json!({}))
        .await;
    let rows: Vec<(String, bool, bool)> = data["employees"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["displayName"].as_str().unwrap().to_owned(),
                node["viewerCan"]["viewAttendance"].as_bool().unwrap(),
                node["viewerCan"]["approveAttendanceCorrection"]
                    .as_bool()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Boss".to_owned(), true, false),
            ("Lead".to_owned(), true, true),
            ("Dev".to_owned(), true, true),
            ("Peer".to_owned(), false, false),
        ]
    );
    assert_ne!(peer, boss);
}

/// Issue 16, item 11: `employee:write` alone names nobody's manager (a manager sees their
/// reports' records and attendance, so that is HR's decision, `hr:admin`), on every path that
/// sets one; and one user is linked to one employee record.
#[tokio::test]
async fn employee_write_alone_makes_nobody_a_manager_and_a_user_has_one_record() {
    let org = Org::new().await;
    let boss = org.hire("Boss", None).await;
    let worker = org.hire("Worker", None).await;
    let writer = org.token("usr_writer", &["employee:read", "employee:write"]);

    for mutation in [
        "mutation($e: ID!, $m: ID) { changeEmployeeManager(input: { employeeId: $e, managerId: $m }) { id } }",
        "mutation($e: ID!, $m: ID) { setEmployeeManager(employeeId: $e, managerId: $m) { id } }",
    ] {
        let body = org
            .gql(&writer, mutation, json!({ "e": worker, "m": boss }))
            .await;
        // Declared on the field (`@requiresScopes(scopes: [["hr:admin"]])`).
        assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    }
    assert_eq!(org.manager_of(&worker).await, Value::Null);

    // Hiring under a manager needs hr:admin too; without a manager employee:write hires.
    let hire = "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id manager { id } } }";
    let input = |n: &str, manager: Option<&str>| {
        json!({ "i": { "employeeNumber": format!("E-{n}"), "displayName": n,
                        "workEmail": format!("{n}@co.example"), "hiredOn": "2025-01-06",
                        "managerId": manager } })
    };
    let body = org.gql(&writer, hire, input("under", Some(&boss))).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert!(body["data"]["hireEmployee"].is_null(), "{body}");
    let data = org.ok(&writer, hire, input("alone", None)).await;
    assert_eq!(data["hireEmployee"]["manager"], Value::Null);
    let data = org.ok(&org.hr, hire, input("placed", Some(&boss))).await;
    assert_eq!(data["hireEmployee"]["manager"]["id"], boss.as_str());

    // viewerCan says the same.
    let can = org
        .ok(
            &writer,
            "query($id: ID!) { employee(id: $id) { viewerCan { editProfile setManager } } }",
            json!({ "id": worker }),
        )
        .await;
    assert_eq!(
        can["employee"]["viewerCan"],
        json!({ "editProfile": true, "setManager": false })
    );

    // A second record for a user already linked (usr_worker) is refused, with nothing written.
    let second = json!({ "i": { "employeeNumber": "E-Worker-2", "displayName": "Worker Again",
                                "workEmail": "worker2@co.example", "hiredOn": "2025-02-03",
                                "userId": "usr_worker" } });
    let body = org.gql(&org.hr, hire, second).await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "USER_ALREADY_LINKED",
        "{body}"
    );
    assert_eq!(org.event_count("employee.hired").await, 4);
    let db = &org.app.runtime.db;
    let linked = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM employees WHERE user_id = $1",
            ["usr_worker".into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(linked, 1);
}

const RECORD_EXIT: &str = "mutation($i: RecordEmployeeExitInput!) { recordEmployeeExit(input: $i) { id status lastWorkingDay exit { lastWorkingDay reason notes status recordedBy effectiveAt } } }";
const CANCEL_EXIT: &str = "mutation($e: ID!) { cancelEmployeeExit(input: { employeeId: $e }) { id status lastWorkingDay exit { status } } }";
const CHECK_IN: &str =
    "mutation($k: String!) { checkIn(input: { punchKey: $k, source: WEB }) { id kind } }";

/// The `extensions.code` and `reason` of a refused request (exactly one error).
fn refusal(body: &Value) -> (String, String) {
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    let extensions = &body["errors"][0]["extensions"];
    (
        extensions["code"].as_str().unwrap_or("").to_owned(),
        extensions["reason"].as_str().unwrap_or("").to_owned(),
    )
}

impl Org {
    /// The payloads of the outbox's events of `event_type` for `employee`, oldest first.
    async fn exit_events(&self, event_type: &str, employee: &str) -> Vec<Value> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT envelope FROM employee_outbox WHERE event_type = $1 ORDER BY seq",
            [event_type.into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let envelope: String = row.try_get("", "envelope").unwrap();
            serde_json::from_str::<erp_kit::events::EventEnvelope>(&envelope).unwrap()
        })
        .filter(|event| event.aggregate_id == employee)
        .map(|event| event.payload)
        .collect()
    }
}

/// Exits (the departure wizard): an exit whose last working day is past takes effect at once
/// (status TERMINATED, `employee.left` in the outbox with the last day and reason, never the
/// notes) and the leaver cannot check in any more; a future one is scheduled (the employee
/// still works and checks in), cancelled before it takes effect, and once recorded again takes
/// effect on its day through the scheduler's pass, exactly once. The bad inputs are refused
/// with their codes and reasons, nothing written. On PostgreSQL and embedded (SQLite).
async fn exits_scenario(backends: Backends) {
    let org = Org::on(backends).await;
    let today = chrono::Utc::now().date_naive();
    let day = |offset: i64| (today + chrono::Duration::days(offset)).to_string();
    let boss = org.hire("Boss", None).await;
    let ana = org.hire("Ana", Some(&boss)).await;
    let ben = org.hire("Ben", Some(&boss)).await;
    let exit = |employee: &str, last_day: String, reason: &str, notes: Option<&str>| json!({ "i": { "employeeId": employee, "lastWorkingDay": last_day, "reason": reason, "notes": notes } });

    // Bad inputs: nothing recorded.
    for (variables, expected) in [
        (
            exit(&ana, "2025-01-05".into(), "RESIGNATION", None),
            ("BAD_USER_INPUT", "EXIT_BEFORE_HIRE"),
        ),
        (
            exit(&ana, day(400), "RESIGNATION", None),
            ("BAD_USER_INPUT", "EXIT_TOO_FAR_AHEAD"),
        ),
        (
            exit(&ana, day(-3), "OTHER", Some("   ")),
            ("BAD_USER_INPUT", ""),
        ),
        (
            exit("no-such-employee", day(-3), "RESIGNATION", None),
            ("BAD_USER_INPUT", ""),
        ),
    ] {
        let body = org.gql(&org.hr, RECORD_EXIT, variables).await;
        let (code, reason) = refusal(&body);
        assert_eq!((code.as_str(), reason.as_str()), expected, "{body}");
    }
    let body = org
        .gql(&org.hr, RECORD_EXIT, exit(&ana, day(-3), "OTHER", None))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "notes", "{body}");
    // HR only: employee:write is not enough.
    let writer = org.token("usr_writer", &["employee:read", "employee:write"]);
    let body = org
        .gql(
            &writer,
            RECORD_EXIT,
            exit(&ana, day(-3), "RESIGNATION", None),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(org.event_count("employee.left").await, 0);

    // Ana checks in on a normal day, then leaves with a last working day three days ago: in
    // effect at once.
    let ana_token = org.token("usr_ana", READER);
    org.ok(&ana_token, CHECK_IN, json!({ "k": "ana-1" })).await;
    let data = org
        .ok(
            &org.hr,
            RECORD_EXIT,
            exit(&ana, day(-3), "RESIGNATION", Some("Moving abroad")),
        )
        .await;
    assert_eq!(
        data["recordEmployeeExit"],
        json!({
            "id": ana, "status": "TERMINATED", "lastWorkingDay": day(-3),
            "exit": {
                "lastWorkingDay": day(-3), "reason": "RESIGNATION", "notes": "Moving abroad",
                "status": "EFFECTIVE", "recordedBy": "usr_hr",
                "effectiveAt": data["recordEmployeeExit"]["exit"]["effectiveAt"],
            }
        })
    );
    assert!(data["recordEmployeeExit"]["exit"]["effectiveAt"].is_string());
    let left = org.exit_events("employee.left", &ana).await;
    assert_eq!(
        left,
        [json!({
            "employee_id": ana, "employee_number": "E-Ana", "display_name": "Ana",
            "user_id": "usr_ana", "manager_id": boss, "department_id": null,
            "hired_on": "2025-01-06", "last_working_day": day(-3), "reason": "resignation",
        })],
        "the event carries no notes"
    );
    // The leaver can no longer check in (nor out): the employment ended.
    for mutation in [
        CHECK_IN,
        "mutation($k: String!) { checkOut(input: { punchKey: $k, source: WEB }) { id } }",
    ] {
        let body = org.gql(&ana_token, mutation, json!({ "k": "ana-2" })).await;
        assert_eq!(
            refusal(&body),
            ("FORBIDDEN".into(), "FORMER_EMPLOYEE".into()),
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["message"],
            format!("the employment ended: the last working day was {}", day(-3))
        );
    }
    // No double exit, and an exit in effect is not cancelled.
    let body = org
        .gql(&org.hr, RECORD_EXIT, exit(&ana, day(-1), "DISMISSAL", None))
        .await;
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "EXIT_ALREADY_RECORDED".into())
    );
    let body = org.gql(&org.hr, CANCEL_EXIT, json!({ "e": ana })).await;
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "EXIT_ALREADY_EFFECTIVE".into())
    );
    assert_eq!(org.event_count("employee.left").await, 1);

    // Who sees the exit: the manager sees it without HR's notes; a colleague sees only the
    // last working day.
    const READ_EXIT: &str =
        "query($id: ID!) { employee(id: $id) { lastWorkingDay exit { reason notes } } }";
    let body = org
        .gql(
            &org.token("usr_boss", READER),
            READ_EXIT,
            json!({ "id": ana }),
        )
        .await;
    assert_eq!(
        body["data"]["employee"],
        json!({ "lastWorkingDay": day(-3), "exit": { "reason": "RESIGNATION", "notes": null } })
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    assert_eq!(
        body["errors"][0]["path"],
        json!(["employee", "exit", "notes"])
    );
    let body = org
        .gql(
            &org.token("usr_ben", READER),
            READ_EXIT,
            json!({ "id": ana }),
        )
        .await;
    assert_eq!(
        body["data"]["employee"],
        json!({ "lastWorkingDay": day(-3), "exit": null })
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    // Ben's exit ten days ahead is scheduled: still active, still checking in.
    let data = org
        .ok(
            &org.hr,
            RECORD_EXIT,
            exit(&ben, day(10), "END_OF_CONTRACT", None),
        )
        .await;
    assert_eq!(data["recordEmployeeExit"]["status"], "ACTIVE");
    assert_eq!(data["recordEmployeeExit"]["exit"]["status"], "SCHEDULED");
    assert_eq!(
        data["recordEmployeeExit"]["exit"]["effectiveAt"],
        Value::Null
    );
    assert_eq!(
        org.exit_events("employee.exit_scheduled", &ben).await.len(),
        1
    );
    assert!(org.exit_events("employee.left", &ben).await.is_empty());
    let ben_token = org.token("usr_ben", READER);
    org.ok(&ben_token, CHECK_IN, json!({ "k": "ben-1" })).await;
    // Changing the date means cancelling first.
    let body = org
        .gql(
            &org.hr,
            RECORD_EXIT,
            exit(&ben, day(20), "END_OF_CONTRACT", None),
        )
        .await;
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "EXIT_ALREADY_RECORDED".into())
    );
    let data = org.ok(&org.hr, CANCEL_EXIT, json!({ "e": ben })).await;
    assert_eq!(
        data["cancelEmployeeExit"],
        json!({ "id": ben, "status": "ACTIVE", "lastWorkingDay": null, "exit": null })
    );
    assert_eq!(
        org.exit_events("employee.exit_cancelled", &ben).await[0]["last_working_day"],
        day(10)
    );
    let body = org.gql(&org.hr, CANCEL_EXIT, json!({ "e": ben })).await;
    assert_eq!(
        refusal(&body),
        ("CONFLICT".into(), "NO_EXIT_SCHEDULED".into())
    );

    // Recorded again for the 15th day ahead: nothing is due before that day; on the day the
    // scheduler's pass puts it into effect, once.
    org.ok(
        &org.hr,
        RECORD_EXIT,
        exit(&ben, day(15), "REDUNDANCY", None),
    )
    .await;
    let employee = &org.app.employee;
    let on = |offset: i64| today + chrono::Duration::days(offset);
    assert_eq!(employee.apply_due_exits(on(14)).await.unwrap(), 0);
    assert_eq!(employee.apply_due_exits(on(15)).await.unwrap(), 1);
    assert_eq!(employee.apply_due_exits(on(16)).await.unwrap(), 0);
    let data = org
        .ok(
            &org.hr,
            "query($id: ID!) { employee(id: $id) { status exit { status reason lastWorkingDay } } }",
            json!({ "id": ben }),
        )
        .await;
    assert_eq!(
        data["employee"],
        json!({ "status": "TERMINATED", "exit": { "status": "EFFECTIVE", "reason": "REDUNDANCY", "lastWorkingDay": day(15) } })
    );
    let left = org.exit_events("employee.left", &ben).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["reason"], "redundancy");
    assert_eq!(left[0]["last_working_day"], day(15));
    // The leavers are listed as TERMINATED.
    let data = org
        .ok(
            &org.hr,
            "{ employees(first: 10, filter: { status: TERMINATED }) { nodes { displayName } } }",
            json!({}),
        )
        .await;
    assert_eq!(names(&data["employees"]["nodes"]), ["Ana", "Ben"]);
}

#[tokio::test]
async fn exits_take_effect_at_once_or_on_their_day_and_end_check_ins() {
    exits_scenario(Backends::Real).await;
}

#[tokio::test]
async fn exits_in_the_embedded_mode() {
    exits_scenario(Backends::Embedded).await;
}
