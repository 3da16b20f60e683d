//! The one-process mode end to end: the real `erp-os` binary on embedded defaults in a
//! temporary state directory, on free loopback ports, plain HTTP. Everything goes through the
//! ROUTER as a client would: the demo administrator logs in (password, TOTP enrolment with a
//! code computed here), a federated query spans identity, employee and PMO, writes to every
//! subgraph (a department; a project, its board, a task and logged time) and a running timer
//! survive a restart that kills the process, the demo is not written twice, and the same demo seed gives the same
//! people in another state directory.
//!
//! The binary and the process: [`erp_tests::supergraph`].

use erp_tests::error_codes;
use erp_tests::supergraph::ErpOs;
use serde_json::{json, Value};

const ADMIN: &str = "admin@demo.example";

fn fresh_state_dir() -> std::path::PathBuf {
    erp_tests::supergraph::fresh_dir("erp-os-test")
}

/// Password step of the demo administrator; returns the MFA token and whether enrolment is
/// required.
async fn login(erp: &ErpOs) -> (String, bool) {
    let body = erp
        .edge
        .graphql(
            None,
            "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired } }",
            json!({ "input": { "email": ADMIN, "password": erp.demo_password } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    (
        body["data"]["login"]["mfaToken"]
            .as_str()
            .unwrap()
            .to_owned(),
        body["data"]["login"]["enrollmentRequired"]
            .as_bool()
            .unwrap(),
    )
}

const FEDERATED: &str = r#"
query Overview {
  me { name email role { name } }
  employees(first: 50) {
    edges { node { id employeeNumber displayName workEmail userId department { name } manager { employeeNumber } } }
  }
  projects(first: 50) {
    edges { node { name billable members { userId role employee { id employeeNumber displayName department { name } } } } }
  }
}"#;

/// What the PMO keeps of the project, board, task and time entry written before the restart.
const PMO_WRITTEN: &str = r#"
query Written($project: ID!, $task: ID!) {
  project(id: $project) {
    id name client billable budget { amount currency } createdAt
    members { userId role employee { employeeNumber } }
    boards { id name columns { id name status wipLimit } }
  }
  task(id: $task) {
    id title description status columnId estimateMinutes labels
    assignees { employeeNumber } project { id } board { id }
  }
  timeEntries(filter: { projectId: $project }, first: 10) {
    edges { node { id userId startedAt endedAt durationSeconds billable task { id } } }
  }
}"#;

/// The caller's running timer.
const MY_TIMER: &str = "{ myTimer { id userId state startedAt task { id } } }";

/// What must not change about a running timer across a restart (its elapsed time does).
fn timer_fields(body: &Value) -> Value {
    let timer = &body["data"]["myTimer"];
    assert!(timer.is_object(), "{body}");
    json!([
        timer["id"],
        timer["userId"],
        timer["state"],
        timer["startedAt"],
        timer["task"]
    ])
}

/// Writes a project with a board, a task in its "Doing" column and a time entry on the task,
/// through the router; returns the project's and the task's ids.
async fn write_pmo(erp: &ErpOs, token: &str, owner_employee_id: &Value) -> (String, String) {
    let data = |body: Value| {
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    };
    let project = data(
        erp.edge
            .graphql(
                Some(token),
                "mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }",
                json!({ "input": {
                    "name": "Office move",
                    "client": "Acme GmbH",
                    "budget": "12500.50",
                    "currency": "EUR",
                    "billable": true,
                    "ownerEmployeeId": owner_employee_id,
                } }),
            )
            .await,
    )["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let board = data(
        erp.edge
            .graphql(
                Some(token),
                "mutation($p: ID!, $columns: [ColumnInput!]!) { createBoard(projectId: $p, name: \"Move\", columns: $columns) { id columns { id name } } }",
                json!({ "p": project, "columns": [
                    { "name": "To do", "status": "TODO" },
                    { "name": "Doing", "status": "IN_PROGRESS", "wipLimit": 2 },
                    { "name": "Done", "status": "DONE" },
                ] }),
            )
            .await,
    )["createBoard"]
        .clone();
    let doing = board["columns"][1]["id"].clone();
    let task = data(
        erp.edge
            .graphql(
                Some(token),
                "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }",
                json!({ "input": {
                    "projectId": project,
                    "boardId": board["id"],
                    "columnId": doing,
                    "title": "Pack the servers",
                    "description": "Label every cable.\nThen the boxes.",
                    "assigneeIds": [owner_employee_id],
                    "estimateMinutes": 240,
                    "labels": ["logistics", "urgent"],
                } }),
            )
            .await,
    )["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = data(
        erp.edge
            .graphql(
                Some(token),
                "mutation($t: ID!) { startTimer(taskId: $t) { state } }",
                json!({ "t": task }),
            )
            .await,
    );
    assert_eq!(started["startTimer"]["state"], "RUNNING");
    let stopped = data(
        erp.edge
            .graphql(
                Some(token),
                "mutation { stopTimer { task { id } } }",
                json!({}),
            )
            .await,
    );
    assert_eq!(stopped["stopTimer"]["task"]["id"], task.as_str());
    (project, task)
}

fn edges(body: &Value, field: &str) -> Vec<Value> {
    body["data"][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// The people as a comparable list: number, name, email, department, manager's number.
fn people(employees: &[Value]) -> Vec<(String, String, String, String, String)> {
    let mut rows: Vec<_> = employees
        .iter()
        .map(|e| {
            (
                e["employeeNumber"].as_str().unwrap().to_owned(),
                e["displayName"].as_str().unwrap().to_owned(),
                e["workEmail"].as_str().unwrap().to_owned(),
                e["department"]["name"].as_str().unwrap_or("").to_owned(),
                e["manager"]["employeeNumber"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The demo's finance history as the administrator reads it through the router (issue 17):
/// its customer invoices' states and months, how many payments and expense claims, and whether
/// the books balance.
const FINANCE_HISTORY: &str = r#"{
  financeSettings { baseCurrency }
  invoices(kinds: [INVOICE], first: 100) { edges { node { status date reference } } }
  bills: invoices(kinds: [BILL], first: 100) { edges { node { status } } }
  payments(first: 100) { edges { node { id } } }
  expenseClaims(first: 100) { edges { node { state } } }
  trialBalance(to: "9999-12-31") { balanced totalDebit { amount } }
  receivablesReconciliation { balanced }
  payablesReconciliation { balanced }
}"#;

async fn finance_history(erp: &ErpOs, token: &str) -> Value {
    let body = erp
        .edge
        .graphql(Some(token), FINANCE_HISTORY, json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn one_process_serves_the_demo_through_the_router_and_keeps_data_across_restarts() {
    let state = fresh_state_dir();
    let erp = ErpOs::start(&state, 42).await;
    let demo: Value = serde_json::from_slice(&std::fs::read(state.join("demo.json")).unwrap())
        .expect("demo.json is written on first start");
    assert_eq!(demo["tenant"]["admin_email"], ADMIN);
    assert_eq!(demo["seed"], 42);

    // Login through the router: password, then TOTP enrolment with a code computed here (the
    // demo administrator has no second factor yet).
    let (token, _, recovery_codes) = erp
        .edge
        .login_enrolling_totp(ADMIN, &erp.demo_password)
        .await;
    assert_eq!(recovery_codes.len(), 10);

    // Without a token the data is refused.
    let anonymous = erp.edge.graphql(None, FEDERATED, json!({})).await;
    assert!(
        error_codes(&anonymous)
            .iter()
            .any(|c| c == "UNAUTHORIZED_FIELD_OR_TYPE"),
        "{anonymous}"
    );

    // One query, three subgraphs: identity (me), employee (employees, and the project members'
    // Employee entities), PMO (projects).
    let body = erp.edge.graphql(Some(&token), FEDERATED, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let me = &body["data"]["me"];
    assert_eq!(me["email"], ADMIN);
    assert_eq!(me["role"]["name"], "Admin");
    assert_eq!(me["name"], demo["tenant"]["admin_name"]);

    let employees = edges(&body, "employees");
    assert_eq!(employees.len(), 10, "tier S has 10 employees");
    let numbers: Vec<&str> = employees
        .iter()
        .map(|e| e["employeeNumber"].as_str().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=10).map(|n| format!("E{n:05}")).collect::<Vec<_>>()
    );
    let ceo = employees
        .iter()
        .find(|e| e["employeeNumber"] == "E00001")
        .unwrap();
    // The administrator is the company's first employee: same person in identity and HR.
    assert_eq!(ceo["displayName"], me["name"]);
    assert_eq!(ceo["workEmail"], ADMIN);
    assert_eq!(ceo["userId"], demo["tenant"]["admin_user_id"]);
    assert!(ceo["manager"].is_null());
    let mut departments: Vec<&str> = employees
        .iter()
        .map(|e| e["department"]["name"].as_str().unwrap())
        .collect();
    departments.sort();
    departments.dedup();
    assert_eq!(departments, ["Engineering", "People", "Sales"]);
    for employee in employees.iter().filter(|e| e["employeeNumber"] != "E00001") {
        let manager = employee["manager"]["employeeNumber"].as_str().unwrap();
        assert!(numbers.contains(&manager), "{employee}");
        assert!(
            employee["userId"].is_string(),
            "every demo employee has a user"
        );
    }

    let projects = edges(&body, "projects");
    assert!(!projects.is_empty(), "{body}");
    for project in &projects {
        let members = project["members"].as_array().unwrap();
        // Owned by the administrator, who created them.
        let owner = members.iter().find(|m| m["role"] == "OWNER").unwrap();
        assert_eq!(owner["userId"], demo["tenant"]["admin_user_id"]);
        assert_eq!(owner["employee"]["employeeNumber"], "E00001");
        assert_eq!(
            members.iter().filter(|m| m["role"] == "MANAGER").count(),
            1,
            "{project}"
        );
        // Each member's Employee comes from the employee subgraph, and matches the list.
        for member in members {
            let employee = &member["employee"];
            let listed = employees
                .iter()
                .find(|e| e["id"] == employee["id"])
                .unwrap_or_else(|| panic!("{member}"));
            assert_eq!(listed["displayName"], employee["displayName"]);
            assert_eq!(listed["department"], employee["department"]);
            assert_eq!(listed["userId"], member["userId"]);
        }
    }
    // The demo company has a quarter of finance history, written through finance's own use
    // cases: customer invoices over several months, most paid, supplier bills, payments and
    // expense claims; the ledger balances and each subledger equals its control account.
    let finance = finance_history(&erp, &token).await;
    assert_eq!(finance["financeSettings"]["baseCurrency"], "EUR");
    let invoices = edges(&json!({ "data": finance }), "invoices");
    assert!(invoices.len() >= 3, "{finance}");
    let mut months: Vec<&str> = invoices
        .iter()
        .map(|i| &i["date"].as_str().unwrap()[..7])
        .collect();
    months.sort();
    months.dedup();
    assert!(months.len() >= 2, "{finance}");
    assert!(invoices.iter().any(|i| i["status"] == "PAID"), "{finance}");
    assert!(invoices
        .iter()
        .all(|i| i["reference"].as_str().unwrap().starts_with("INV/")));
    for list in ["bills", "payments", "expenseClaims"] {
        assert!(
            !finance[list]["edges"].as_array().unwrap().is_empty(),
            "{list}: {finance}"
        );
    }
    assert_eq!(finance["trialBalance"]["balanced"], true, "{finance}");
    assert_ne!(finance["trialBalance"]["totalDebit"]["amount"], "0.00");
    assert_eq!(finance["receivablesReconciliation"]["balanced"], true);
    assert_eq!(finance["payablesReconciliation"]["balanced"], true);

    let project_names = {
        let mut names: Vec<String> = projects
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };

    // Operations: the demo's asset register, SOPs and helpdesk, written by the seed's own
    // operations part (the tier-S plan of this demo seed) through the operations use cases.
    let until: chrono::NaiveDate = demo["until"].as_str().unwrap().parse().unwrap();
    let plan =
        erp_seed::SeedPlan::new(erp_seed::Tier::S, 42, "Demo Company", "demo.example", until);
    demo_operations(&erp, &token, &plan, &employees).await;

    // HR data sealed in the employee store, read through the router by the administrator.
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "query($id: ID!) { employee(id: $id) { compensation { annualSalary currency } } }",
            json!({ "id": ceo["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["employee"]["compensation"],
        json!({ "annualSalary": "180000", "currency": "EUR" })
    );

    // The CRM in the same process (its SQLite file, the shared bus): the administrator's role
    // holds crm:admin; a client written through the router is listed back.
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id name status } } }",
            json!({ "i": { "name": "Initech", "taxId": "DE123456789" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["createClient"]["client"]["status"], "PROSPECT");
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "{ clients(first: 5) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["clients"]["nodes"],
        json!([{ "name": "Initech" }]),
        "{body}"
    );

    // Writes, then a restart on the same state directory (new ports). The process is killed:
    // what was acknowledged must be on disk.
    let (project_id, task_id) = write_pmo(&erp, &token, &ceo["id"]).await;
    let written = erp
        .edge
        .graphql(
            Some(&token),
            PMO_WRITTEN,
            json!({ "project": project_id, "task": task_id }),
        )
        .await;
    assert!(written["errors"].is_null(), "{written}");
    let project = &written["data"]["project"];
    assert_eq!(project["name"], "Office move");
    assert_eq!(project["client"], "Acme GmbH");
    assert_eq!(project["billable"], true);
    assert_eq!(
        project["budget"],
        json!({ "amount": "12500.50", "currency": "EUR" })
    );
    assert_eq!(
        project["members"],
        json!([{ "userId": demo["tenant"]["admin_user_id"], "role": "OWNER", "employee": { "employeeNumber": "E00001" } }])
    );
    let columns: Vec<(&str, &str, &Value)> = project["boards"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                &c["wipLimit"],
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("To do", "TODO", &Value::Null),
            ("Doing", "IN_PROGRESS", &json!(2)),
            ("Done", "DONE", &Value::Null)
        ]
    );
    let task = &written["data"]["task"];
    assert_eq!(task["title"], "Pack the servers");
    assert_eq!(task["description"], "Label every cable.\nThen the boxes.");
    assert_eq!(task["status"], "IN_PROGRESS");
    assert_eq!(task["columnId"], project["boards"][0]["columns"][1]["id"]);
    assert_eq!(task["estimateMinutes"], 240);
    assert_eq!(task["labels"], json!(["logistics", "urgent"]));
    assert_eq!(task["assignees"], json!([{ "employeeNumber": "E00001" }]));
    let entries = edges(&written, "timeEntries");
    assert_eq!(entries.len(), 1, "{written}");
    assert_eq!(entries[0]["userId"], demo["tenant"]["admin_user_id"]);
    assert_eq!(entries[0]["task"]["id"], task_id.as_str());
    assert_eq!(entries[0]["billable"], true);

    let body = erp
        .edge
        .graphql(
            Some(&token),
            "mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { name } }",
            json!({ "input": { "name": "Research" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    // A timer left running when the process dies keeps running (the cache's keys are kept in
    // the state directory, as Redis keeps them).
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "mutation($t: ID!) { startTimer(taskId: $t) { id state } }",
            json!({ "t": task_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["startTimer"]["state"], "RUNNING");
    let running = erp.edge.graphql(Some(&token), MY_TIMER, json!({})).await;
    assert!(running["errors"].is_null(), "{running}");
    assert_eq!(
        running["data"]["myTimer"]["id"],
        body["data"]["startTimer"]["id"]
    );
    erp.stop();

    let erp = ErpOs::start(&state, 42).await;
    let (mfa, enrollment_required) = login(&erp).await;
    assert!(!enrollment_required, "the TOTP enrolment was kept");
    let body = erp
        .edge
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": recovery_codes[0] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let token = body["data"]["verifyRecoveryCode"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = erp.edge.graphql(Some(&token), FEDERATED, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["me"]["email"], ADMIN);
    assert_eq!(people(&edges(&body, "employees")), people(&employees));
    // The finance history is the same (not written again).
    assert_eq!(finance_history(&erp, &token).await, finance);
    // The PMO store kept everything: the demo's projects once each (not written again) and the
    // new one, whose project, board, task and time entry read back exactly as before.
    let mut names: Vec<String> = edges(&body, "projects")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut expected = project_names.clone();
    expected.push("Office move".into());
    expected.sort();
    assert_eq!(names, expected);
    let after = erp
        .edge
        .graphql(
            Some(&token),
            PMO_WRITTEN,
            json!({ "project": project_id, "task": task_id }),
        )
        .await;
    assert_eq!(after, written);
    let still_running = erp.edge.graphql(Some(&token), MY_TIMER, json!({})).await;
    assert_eq!(
        timer_fields(&still_running),
        timer_fields(&running),
        "{still_running}"
    );
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "mutation { stopTimer { id task { id } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["stopTimer"]["id"],
        running["data"]["myTimer"]["id"]
    );
    let entries = erp
        .edge
        .graphql(
            Some(&token),
            PMO_WRITTEN,
            json!({ "project": project_id, "task": task_id }),
        )
        .await;
    assert_eq!(edges(&entries, "timeEntries").len(), 2, "{entries}");
    let body = erp.edge.graphql(Some(&token), MY_TIMER, json!({})).await;
    assert_eq!(body["data"]["myTimer"], Value::Null, "{body}");
    let body = erp
        .edge
        .graphql(
            Some(&token),
            "{ departments(first: 50) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    let mut departments: Vec<String> = edges(&body, "departments")
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    departments.sort();
    assert_eq!(departments, ["Engineering", "People", "Research", "Sales"]);
    erp.stop();

    // A state directory without the PMO's file (made by a version whose PMO store kept
    // nothing): the demo's projects are written once, with their members.
    std::fs::remove_file(state.join("pmo.journal")).unwrap();
    let erp = ErpOs::start(&state, 42).await;
    let (mfa, _) = login(&erp).await;
    let body = erp
        .edge
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": recovery_codes[1] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let token = body["data"]["verifyRecoveryCode"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = erp.edge.graphql(Some(&token), FEDERATED, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let rewritten = edges(&body, "projects");
    let mut names: Vec<String> = rewritten
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, project_names);
    for project in &rewritten {
        let members = project["members"].as_array().unwrap();
        let owner = members.iter().find(|m| m["role"] == "OWNER").unwrap();
        assert_eq!(owner["employee"]["employeeNumber"], "E00001");
    }
    erp.stop();

    // The same demo seed in another state directory: the same people.
    let other_state = fresh_state_dir();
    let other = ErpOs::start(&other_state, 42).await;
    let (other_token, _, _) = other
        .edge
        .login_enrolling_totp(ADMIN, &other.demo_password)
        .await;
    let body = other
        .edge
        .graphql(Some(&other_token), FEDERATED, json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(people(&edges(&body, "employees")), people(&employees));
    other.stop();

    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&other_state);
}

/// The demo tenant's operations data, through the router, against the seed plan: every
/// planned asset by tag (the laptops assigned to their people, the retired ones retired), the
/// SOPs (all published but the last), the IT support team with its round-robin queue of the
/// IT categories, an SLA policy per priority on the Berlin business calendar, and the tickets
/// by subject and status, the IT ones in the team's queue and assigned to its members, each
/// with the SLA targets of its priority.
async fn demo_operations(erp: &ErpOs, token: &str, plan: &erp_seed::SeedPlan, employees: &[Value]) {
    use erp_seed::ops::{PlannedAssetState, PlannedTicketStatus};
    let ops_plan = plan.ops();
    let totals = ops_plan.totals();
    let user_of_person = |person: usize| -> Value {
        let number = &plan.employees[person].number;
        employees
            .iter()
            .find(|e| e["employeeNumber"] == number.as_str())
            .map(|e| e["userId"].clone())
            .unwrap_or_else(|| panic!("no employee {number}"))
    };
    let body = erp
        .edge
        .graphql(
            Some(token),
            r#"query DemoOps {
  assets(first: 100) { nodes { tag status holder { type id } } }
  sops(first: 50) { nodes { title versions { number status } } }
  helpdeskTeams { id name members { userId } }
  helpdeskQueues { name teamId assignment conditions { categories } }
  low: slaPolicy(priority: LOW) { ...Policy }
  normal: slaPolicy(priority: NORMAL) { ...Policy }
  high: slaPolicy(priority: HIGH) { ...Policy }
  urgent: slaPolicy(priority: URGENT) { ...Policy }
  tickets(first: 100) { nodes { subject category status priority channel queueId teamId assigneeId
    sla { firstResponse { targetMinutes } update { targetMinutes } resolution { targetMinutes } } } }
}
fragment Policy on SlaPolicy { timeZone holidays weeklyHours { weekday start end }
  firstResponseMinutes updateMinutes resolutionMinutes }"#,
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let data = &body["data"];

    let mut assets: Vec<Value> = data["assets"]["nodes"].as_array().unwrap().clone();
    assets.sort_by_key(|a| a["tag"].as_str().unwrap().to_owned());
    let mut expected: Vec<Value> = (0..totals.assets)
        .map(|i| {
            let planned = ops_plan.asset(i);
            let (status, holder) = match planned.state {
                PlannedAssetState::CheckedOutTo(person) => (
                    "ASSIGNED",
                    json!({ "type": "PERSON", "id": user_of_person(person) }),
                ),
                PlannedAssetState::Retired => ("RETIRED", Value::Null),
                PlannedAssetState::InStock => ("IN_STOCK", Value::Null),
            };
            json!({ "tag": planned.tag, "status": status, "holder": holder })
        })
        .collect();
    expected.sort_by_key(|a| a["tag"].as_str().unwrap().to_owned());
    assert_eq!(assets, expected);
    assert!(totals.checked_out > 0 && totals.retired > 0, "{totals:?}");

    let mut sops: Vec<Value> = data["sops"]["nodes"].as_array().unwrap().clone();
    sops.sort_by_key(|s| s["title"].as_str().unwrap().to_owned());
    let mut expected: Vec<Value> = (0..totals.sops)
        .map(|i| {
            let planned = ops_plan.sop(i);
            let status = if planned.published {
                "PUBLISHED"
            } else {
                "DRAFT"
            };
            json!({ "title": planned.title, "versions": [{ "number": 1, "status": status }] })
        })
        .collect();
    expected.sort_by_key(|s| s["title"].as_str().unwrap().to_owned());
    assert_eq!(sops, expected);

    let helpdesk = ops_plan.helpdesk();
    let team = &data["helpdeskTeams"][0];
    assert_eq!(data["helpdeskTeams"].as_array().unwrap().len(), 1, "{data}");
    let members: Vec<Value> = helpdesk
        .members
        .iter()
        .map(|&person| json!({ "userId": user_of_person(person) }))
        .collect();
    assert_eq!(
        (&team["name"], &team["members"]),
        (&json!("IT Support"), &json!(members))
    );
    assert_eq!(
        data["helpdeskQueues"],
        json!([{ "name": "IT requests", "teamId": team["id"], "assignment": "ROUND_ROBIN",
            "conditions": { "categories": ["hardware", "network", "access"] } }])
    );
    let weekdays = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"];
    let week: Vec<Value> = weekdays
        .iter()
        .map(|day| json!({ "weekday": day, "start": "09:00", "end": "17:00" }))
        .collect();
    let names = ["LOW", "NORMAL", "HIGH", "URGENT"];
    for (field, sla) in ["low", "normal", "high", "urgent"]
        .iter()
        .zip(helpdesk.slas)
    {
        assert_eq!(
            data[*field],
            json!({ "timeZone": "Europe/Berlin", "weeklyHours": week,
                "holidays": helpdesk.holidays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "firstResponseMinutes": sla.first_response_minutes,
                "updateMinutes": sla.update_minutes, "resolutionMinutes": sla.resolution_minutes }),
            "{field}"
        );
    }

    let tickets = data["tickets"]["nodes"].as_array().unwrap();
    assert_eq!(tickets.len(), totals.tickets);
    let status_name = |status: PlannedTicketStatus| match status {
        PlannedTicketStatus::New => "NEW",
        PlannedTicketStatus::Open => "OPEN",
        PlannedTicketStatus::Pending => "PENDING",
        PlannedTicketStatus::Resolved => "RESOLVED",
        PlannedTicketStatus::Closed => "CLOSED",
    };
    let summary = |subject: &Value, status: &Value, priority: &Value| {
        format!("{subject} {status} {priority}")
    };
    let mut got: Vec<String> = Vec::new();
    let mut routed = 0;
    for ticket in tickets {
        got.push(summary(
            &ticket["subject"],
            &ticket["status"],
            &ticket["priority"],
        ));
        assert_eq!(ticket["channel"], "PORTAL");
        let category = ticket["category"].as_str().unwrap();
        if helpdesk.categories.contains(&category) {
            routed += 1;
            assert_eq!(ticket["teamId"], team["id"], "{ticket}");
            assert!(
                members.contains(&json!({ "userId": ticket["assigneeId"] })),
                "{ticket}"
            );
        } else {
            assert_eq!(
                (&ticket["queueId"], &ticket["teamId"], &ticket["assigneeId"]),
                (&Value::Null, &Value::Null, &Value::Null),
                "{ticket}"
            );
        }
        let priority = names.iter().position(|p| ticket["priority"] == *p).unwrap();
        let sla = helpdesk.slas[priority];
        assert_eq!(
            ticket["sla"],
            json!({ "firstResponse": { "targetMinutes": sla.first_response_minutes },
                "update": { "targetMinutes": sla.update_minutes },
                "resolution": { "targetMinutes": sla.resolution_minutes } }),
            "{ticket}"
        );
    }
    assert!(routed > 0 && routed < totals.tickets, "{routed} routed");
    let mut expected: Vec<String> = (0..totals.tickets)
        .map(|i| {
            let planned = ops_plan.ticket(i);
            summary(
                &json!(planned.subject),
                &json!(status_name(planned.status)),
                &json!(names[usize::from(planned.priority.min(3))]),
            )
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// The mode of every file directly in `dir` (by name).
#[cfg(unix)]
fn file_modes(dir: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut modes: Vec<(String, u32)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            (entry.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    modes.sort();
    modes
}

/// GETs the router's GraphQL URL as a browser does; true when GraphiQL (an HTML page) answers.
async fn serves_graphiql(http: &reqwest::Client, url: &str) -> bool {
    let response = http
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// Issue 16.10: the one-process mode's demo users share one password. It is generated per
/// state directory (no published password logs in), printed once, kept 0600 in a 0700 state
/// directory with every file 0600; while it works the router serves on loopback only, and
/// GraphiQL is served on loopback only.
#[cfg(unix)]
#[tokio::test]
async fn the_demo_password_is_generated_private_and_served_on_loopback_only() {
    use std::os::unix::fs::PermissionsExt;
    // TLS (the dev certificate), so that only the demo rule can refuse a public address.
    let public = [("HOST", "0.0.0.0"), ("ERP_ROUTER_PLAIN_HTTP", "false")];

    // A first start on a public address is refused before the demo is created.
    let state = fresh_state_dir();
    let output = ErpOs::refused(&state, &public).await;
    assert!(output.contains("not a loopback address"), "{output}");
    assert!(output.contains("--no-demo"), "{output}");
    assert!(!state.join("demo.json").exists());

    // On loopback: a generated password, shown by the first start only.
    let erp = ErpOs::start(&state, 42).await;
    let password = erp.demo_password.clone();
    assert_eq!(password.len(), 23, "{password}");
    assert!(erp.log_text().contains(&password), "printed at first start");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("keys")), 0o700);
    for dir in [state.clone(), state.join("keys")] {
        for (file, file_mode) in file_modes(&dir) {
            assert_eq!(file_mode, 0o600, "{}/{file}", dir.display());
        }
    }
    let names: Vec<String> = file_modes(&state).into_iter().map(|(f, _)| f).collect();
    for file in [
        "identity.db",
        "employee.db",
        "cache.db",
        "events.db",
        "pmo.journal",
        "ops.journal",
        "demo-password",
    ] {
        assert!(names.iter().any(|n| n == file), "{file} in {names:?}");
    }
    // The password published before this version does not log in; the generated one does.
    let login = |password: String| {
        let edge = erp.edge.clone();
        async move {
            edge.graphql(
                None,
                "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken } }",
                json!({ "input": { "email": ADMIN, "password": password } }),
            )
            .await
        }
    };
    let body = login("demo password 1234".into()).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let body = login(password.clone()).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(serves_graphiql(&erp.edge.http, &erp.edge.url).await);
    erp.stop();

    // A later start does not print it again, and still refuses a public address: the demo
    // users still log in with it.
    let erp = ErpOs::start(&state, 42).await;
    assert_eq!(erp.demo_password, password);
    assert!(!erp.log_text().contains(&password), "{}", erp.log_text());
    assert!(erp.log_text().contains("demo-password"));
    erp.stop();
    let output = ErpOs::refused(&state, &public).await;
    assert!(
        output.contains("still logs in with the demo password"),
        "{output}"
    );

    // Without the demo, a public address is served, GraphiQL is not.
    let bare = fresh_state_dir();
    std::fs::create_dir_all(&bare).unwrap();
    let port = erp_tests::router::free_port();
    let cert = bare.join("dev-cert.pem");
    let cert_env = cert.display().to_string();
    let mut env = public.to_vec();
    env.push(("ERP_NO_DEMO", "true"));
    env.push(("ERP_TLS_DEV_CERT_OUT", &cert_env));
    let mut process = erp_tests::supergraph::LoggedChild::spawn(
        "erp-os all --no-demo",
        erp_tests::supergraph::erp_os_all(&bare, port, 42, &env),
        std::env::temp_dir().join(format!("erp-os-no-demo-{port}.log")),
    );
    let probe = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    process
        .wait_until_ok(&probe, &format!("https://127.0.0.1:{port}/health"))
        .await;
    assert!(!bare.join("demo.json").exists());
    assert!(!bare.join("demo-password").exists());
    let url = format!("https://127.0.0.1:{port}/graphql");
    assert!(!serves_graphiql(&probe, &url).await);
    assert!(
        process.log_text().contains("GraphiQL:           off"),
        "{}",
        process.log_text()
    );
    process.stop();

    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&bare);
}

/// The one-process mode's router reaches the subgraphs over loopback; they believe its
/// client-address header there by default (issue 16.1): 100 failed logins from one client
/// block that client only, not every login of the process. The router trusts the test client
/// as its front proxy, so that `X-Forwarded-For` names the clients.
#[tokio::test]
async fn one_process_locks_out_the_client_that_failed_not_everyone() {
    let state = fresh_state_dir();
    let erp = ErpOs::start_with_env(
        &state,
        7,
        &[
            ("ERP_TRUSTED_PROXIES", "127.0.0.1/32"),
            // 100 logins from one address in a minute: above the public 30/min.
            ("ERP_RL_PUBLIC_LIMIT", "1000"),
        ],
    )
    .await;
    let login = |client: &'static str, email: String, password: String| {
        let edge = erp.edge.clone();
        async move {
            let response = edge
                .http
                .post(&edge.url)
                .header("x-forwarded-for", client)
                // A client's claim in the router's own header is never passed on.
                .header("x-erp-client-address", "198.51.100.2")
                .json(&json!({
                    "query": "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken } }",
                    "variables": { "input": { "email": email, "password": password } },
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    for n in 0..100 {
        let body = login(
            "203.0.113.9",
            format!("nobody{n}@demo.example"),
            "not the password".into(),
        )
        .await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{n}: {body}");
    }
    let body = login("203.0.113.9", ADMIN.into(), erp.demo_password.clone()).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    // Another client, and the one named in the forged header, log in.
    for client in ["198.51.100.1", "198.51.100.2"] {
        let body = login(client, ADMIN.into(), erp.demo_password.clone()).await;
        assert!(body["errors"].is_null(), "{client}: {body}");
        assert!(body["data"]["login"]["mfaToken"].is_string(), "{body}");
    }
    erp.stop();
    let _ = std::fs::remove_dir_all(&state);
}
