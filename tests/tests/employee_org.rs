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
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
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
