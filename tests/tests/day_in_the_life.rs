//! A day in the life of a company, through the ROUTER as a client would, twice: on the
//! one-process embedded mode (`erp-os all`: SQLite, in-memory PMO store, in-process bus and
//! cache, plain HTTP) and on the real services (`erp-os identity|employee|pmo` processes on
//! PostgreSQL, Redis, Kafka and MongoDB behind the `erp-router` process, TLS and WSS). The
//! same scenario runs on both (see [`erp_tests::supergraph`] for the two stands):
//!
//! 1. the administrator (the seeded company's first employee) logs in with TOTP enrolment,
//!    invites a manager, an employee and an HR officer (each accepts, enrols TOTP and logs
//!    in), hires them into a new department (the employee reporting to the manager), sets the
//!    employee's salary, opens a project with a task for the employee and a leave type with an
//!    opening balance; each person reaches their employee record from `me` (federation);
//! 2. the manager watches the department's attendance board and the project's board over
//!    WebSockets; the employee checks in, starts and stops a timer on the task: the manager's
//!    subscriptions see the check-in, the start and the stop, with the employee's ids;
//! 3. the employee applies for two days of leave; the manager approves (first step), HR
//!    approves (final step), each with `decideLeaveRequest`; the balance moves from pending to
//!    used;
//! 4. HR reads the salary; the employee's own token (and the manager's) cannot;
//! 5. (embedded mode) the employee's tracked time is billed: the administrator sets finance up
//!    and a billing rate for the project, the employee submits the week's timesheet, the
//!    manager approves it in PMO, and finance's consumer turns the approved hours into a line
//!    of the project's draft invoice; the invoice is posted and paid, `Project.invoices`
//!    reaches it across subgraphs, and the trial balance and the receivables stay balanced.
//!    On the real services the finance consumers' groups are the deployment's (shared by every
//!    process on the test broker), so this chapter runs on the embedded mode only;
//! 6. operations: an Operations officer (the role identity seeds) watches the helpdesk queue
//!    live over the router; the employee raises a ticket, the officer sees it and answers, then
//!    registers a laptop and checks it out to the employee, who accepts it;
//! 7. sales: the administrator sets a pipeline up; a sales rep qualifies a lead and converts it
//!    into a client, a contact and an opportunity; the board counts the amount.
//! 8. (embedded mode, after chapter 5 set finance up) payroll: HR records the manager's and the
//!    employee's bank accounts (their pay reaches finance sealed, by event), the administrator
//!    configures a salary structure and runs December's payroll (calculate, approve, post); each
//!    reads their own payslip and nobody else's, the employee cannot read the run, and the
//!    ledger stays balanced.

use std::time::Duration;

use chrono::{Datelike, Duration as Days, Utc};
use erp_tests::error_codes;
use erp_tests::router::{WsClient, WsEvent};
use erp_tests::supergraph::{fresh_dir, Edge, ErpOs, ServicesStack};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "day in the life admin 1234";
const USER_PASSWORD: &str = "a long enough password";
/// How long a subscriber waits for an event (not a timing assertion: a debug build on a busy
/// 2-core machine).
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_day_in_the_life_on_the_embedded_mode() {
    let state = fresh_dir("erp-os-day");
    let erp = ErpOs::start(&state, 7).await;
    day_in_the_life(&erp.edge, "admin@demo.example", &erp.demo_password, true).await;
    erp.stop();
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test]
async fn a_day_in_the_life_on_the_real_services() {
    let stack = ServicesStack::start(7, ADMIN_PASSWORD).await;
    assert!(stack.tenant_id.starts_with("tnt_"), "{}", stack.tenant_id);
    day_in_the_life(&stack.edge, &stack.admin_email, ADMIN_PASSWORD, false).await;
}

/// `data.<field>.id` of a successful operation.
async fn id_of(edge: &Edge, token: &str, query: &str, variables: Value, field: &str) -> String {
    let data = edge.ok(token, query, variables).await;
    data[field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{field}: {data}"))
        .to_owned()
}

/// A person the administrator invites: their user, login and employee record.
struct Person {
    email: String,
    user_id: String,
    token: String,
}

async fn invite(edge: &Edge, admin: &str, roles: &Value, role: &str, name: &str) -> Person {
    let role_id = roles["roles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"]["name"] == role)
        .unwrap_or_else(|| panic!("no role {role}: {roles}"))["node"]["id"]
        .clone();
    let email = format!(
        "{}.{}@day.example",
        name.to_lowercase().replace(' ', "."),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let data = edge
        .ok(
            admin,
            "mutation Invite($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id email status role { name } } } }",
            json!({ "i": { "email": email, "name": name, "departments": [], "roleId": role_id } }),
        )
        .await;
    let user = &data["inviteUser"]["user"];
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["role"]["name"], role);
    let body = edge
        .graphql(
            None,
            "mutation Accept($i: AcceptInvitationInput!) { acceptInvitation(input: $i) }",
            json!({ "i": { "inviteToken": data["inviteUser"]["inviteToken"], "password": USER_PASSWORD } }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "acceptInvitation": true } }));
    let (token, _, recovery) = edge.login_enrolling_totp(&email, USER_PASSWORD).await;
    assert_eq!(recovery.len(), 10);
    let me = edge
        .ok(
            &token,
            "{ me { id email status createdAt role { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["email"], email.as_str());
    assert_eq!(me["me"]["status"], "ACTIVE");
    assert!(
        me["me"]["createdAt"]
            .as_str()
            .is_some_and(|at| at.len() == 24 && at.ends_with('Z')),
        "{me}"
    );
    assert_eq!(me["me"]["role"]["name"], role);
    assert_eq!(me["me"]["id"], user["id"]);
    Person {
        email,
        user_id: user["id"].as_str().unwrap().to_owned(),
        token,
    }
}

const HIRE: &str = "mutation Hire($i: HireEmployeeInput!) { hireEmployee(input: $i) { id userId manager { id } department { id } } }";

async fn hire(
    edge: &Edge,
    admin: &str,
    person: &Person,
    number: &str,
    department: &str,
    manager: Option<&str>,
) -> String {
    let data = edge
        .ok(
            admin,
            HIRE,
            json!({ "i": {
                "employeeNumber": number,
                "displayName": number,
                "workEmail": person.email,
                "userId": person.user_id,
                "departmentId": department,
                "managerId": manager,
                "hiredOn": "2026-01-05",
            } }),
        )
        .await;
    let hired = &data["hireEmployee"];
    assert_eq!(hired["userId"], person.user_id.as_str());
    assert_eq!(hired["department"]["id"], department);
    assert_eq!(hired["manager"]["id"].as_str(), manager);
    hired["id"].as_str().unwrap().to_owned()
}

/// Subscribes `query` as `id` on a fresh connection of `token`.
async fn subscribe(edge: &Edge, token: &str, id: &str, query: &str, variables: Value) -> WsClient {
    let mut socket = edge.websocket(token).await;
    socket
        .send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
        .await;
    socket
}

/// The next `next` payload's `data.<field>` on `socket` (pings answered by the client).
async fn next_event(socket: &mut WsClient, id: &str, field: &str) -> Value {
    match socket.next(WAIT).await {
        WsEvent::Message(message) => {
            assert_eq!(message["type"], "next", "{message}");
            assert_eq!(message["id"], id, "{message}");
            assert!(message["payload"]["errors"].is_null(), "{message}");
            message["payload"]["data"][field].clone()
        }
        other => panic!("{field}: expected an event, got {other:?}"),
    }
}

/// Monday of next week (or the week after when that is tomorrow): a leave in the future.
fn next_monday() -> chrono::NaiveDate {
    let today = Utc::now().date_naive();
    let ahead = 7 - i64::from(today.weekday().num_days_from_monday());
    today + Days::days(if ahead < 2 { ahead + 7 } else { ahead })
}

const BALANCES: &str =
    "{ myLeaveBalances { leaveType { code } balanceDays pendingDays availableDays } }";

async fn balance(edge: &Edge, token: &str, code: &str) -> Value {
    let data = edge.ok(token, BALANCES, json!({})).await;
    data["myLeaveBalances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["leaveType"]["code"] == code)
        .unwrap_or_else(|| panic!("no {code} balance: {data}"))
        .clone()
}

async fn day_in_the_life(edge: &Edge, admin_email: &str, admin_password: &str, bill_time: bool) {
    // 1. The administrator sets the day up.
    let (admin, _, _) = edge.login_enrolling_totp(admin_email, admin_password).await;
    let roles = edge
        .ok(
            &admin,
            "{ roles(first: 20) { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    let manager = invite(edge, &admin, &roles, "Manager", "Maya Manager").await;
    let worker = invite(edge, &admin, &roles, "Employee", "Eli Employee").await;
    let hr = invite(edge, &admin, &roles, "HR", "Hana Hr").await;

    let department = id_of(
        edge,
        &admin,
        "mutation Dept($i: CreateDepartmentInput!) { createDepartment(input: $i) { id } }",
        json!({ "i": { "name": "Day Team" } }),
        "createDepartment",
    )
    .await;
    let manager_employee = hire(edge, &admin, &manager, "DAY-1", &department, None).await;
    let worker_employee = hire(
        edge,
        &admin,
        &worker,
        "DAY-2",
        &department,
        Some(&manager_employee),
    )
    .await;
    hire(edge, &admin, &hr, "DAY-3", &department, None).await;
    // `me` is identity's; its `employee` is the employee subgraph's, joined by the router.
    let me = edge
        .ok(
            &worker.token,
            "{ me { id employee { id displayName manager { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"],
        json!({ "id": worker.user_id, "employee": { "id": worker_employee, "displayName": "DAY-2",
                                                     "manager": { "id": manager_employee } } })
    );
    let data = edge
        .ok(
            &admin,
            "mutation Pay($i: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $i) { id } }",
            json!({ "i": { "employeeId": worker_employee, "salary": { "amount": "64000", "currency": "EUR" } } }),
        )
        .await;
    assert_eq!(
        data["updateEmployeeCompensation"]["id"],
        worker_employee.as_str()
    );

    let project = id_of(
        edge,
        &admin,
        "mutation Project($i: CreateProjectInput!) { createProject(input: $i) { id } }",
        json!({ "i": { "name": "Day project", "billable": true } }),
        "createProject",
    )
    .await;
    let data = edge
        .ok(
            &admin,
            r#"mutation Board($p: ID!) { createProjectBoard(input: { projectId: $p, name: "Board", columns: [
                { name: "Todo", status: TODO }, { name: "Doing", status: IN_PROGRESS, wipLimit: 5 },
                { name: "Done", status: DONE }] }) { id columns { id } } }"#,
            json!({ "p": project }),
        )
        .await;
    let board = data["createProjectBoard"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let todo = data["createProjectBoard"]["columns"][0]["id"].clone();
    for (person, employee, role) in [
        (&manager, &manager_employee, "MANAGER"),
        (&worker, &worker_employee, "CONTRIBUTOR"),
    ] {
        edge.ok(
            &admin,
            "mutation Member($i: SetProjectMembershipInput!) { setProjectMembership(input: $i) { id } }",
            json!({ "i": { "projectId": project, "userId": person.user_id, "employeeId": employee, "role": role } }),
        )
        .await;
    }
    let data = edge
        .ok(
            &manager.token,
            "mutation Task($i: CreateTaskInput!) { createTask(input: $i) { id assignees { id displayName } } }",
            json!({ "i": { "projectId": project, "boardId": board, "columnId": todo,
                           "title": "Write the day-in-the-life test", "assigneeIds": [worker_employee] } }),
        )
        .await;
    let task = data["createTask"]["id"].as_str().unwrap().to_owned();
    // The assignee is an Employee entity resolved by the employee subgraph.
    assert_eq!(
        data["createTask"]["assignees"],
        json!([{ "id": worker_employee, "displayName": "DAY-2" }])
    );

    let leave_type = id_of(
        edge,
        &admin,
        "mutation Type($i: CreateLeaveTypeInput!) { createLeaveType(input: $i) { id } }",
        json!({ "i": { "code": "DAYVAC", "name": "Day vacation" } }),
        "createLeaveType",
    )
    .await;
    edge.ok(
        &admin,
        "mutation Adjust($i: AdjustLeaveBalanceInput!) { adjustLeaveBalance(input: $i) { days } }",
        json!({ "i": { "employeeId": worker_employee, "leaveTypeId": leave_type, "days": 10.0, "reason": "opening balance" } }),
    )
    .await;

    // 2. The manager watches; the employee checks in and tracks time.
    let mut attendance = subscribe(
        edge,
        &manager.token,
        "attendance",
        "subscription Attendance($d: ID!) { attendanceBoard(departmentId: $d) { punchId employeeId departmentId punchKind occurredAt } }",
        json!({ "d": department }),
    )
    .await;
    let mut project_board = subscribe(
        edge,
        &manager.token,
        "board",
        "subscription ProjectBoard($p: ID!) { projectBoard(projectId: $p) { kind projectId taskId userId } }",
        json!({ "p": project }),
    )
    .await;
    assert_eq!(
        next_event(&mut project_board, "board", "projectBoard").await,
        json!({ "kind": "SUBSCRIBED", "projectId": project, "taskId": null, "userId": null })
    );
    // The attendance board has no first event: a probe check-in by the manager proves it is
    // live before the employee's punch is expected (the subscription may still be starting).
    edge.ok(
        &manager.token,
        "mutation In($k: String!) { checkIn(input: { punchKey: $k, source: WEB }) { id } }",
        json!({ "k": uuid::Uuid::new_v4().to_string() }),
    )
    .await;
    let mut probe_seen = false;
    for _ in 0..20 {
        let event = next_event(&mut attendance, "attendance", "attendanceBoard").await;
        if event["employeeId"] == manager_employee.as_str() {
            probe_seen = true;
            break;
        }
    }
    assert!(probe_seen, "the manager's own check-in reached the board");

    let key = uuid::Uuid::new_v4().to_string();
    let data = edge
        .ok(
            &worker.token,
            "mutation In($k: String!) { checkIn(input: { punchKey: $k, source: MOBILE }) { id kind punchKey at } }",
            json!({ "k": key }),
        )
        .await;
    let punch = data["checkIn"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["checkIn"]["punchKey"], key.as_str());
    assert_eq!(data["checkIn"]["kind"], "IN");
    // One serialisation of an instant: the subscription and the query write it as the
    // mutation did (RFC 3339, UTC, milliseconds, `Z`).
    let punched_at = data["checkIn"]["at"].clone();
    assert!(
        punched_at
            .as_str()
            .is_some_and(|at| at.len() == 24 && at.ends_with('Z')),
        "{punched_at}"
    );
    assert_eq!(
        next_event(&mut attendance, "attendance", "attendanceBoard").await,
        json!({ "punchId": punch, "employeeId": worker_employee, "departmentId": department,
                "punchKind": "IN", "occurredAt": punched_at })
    );
    let data = edge
        .ok(
            &worker.token,
            "{ myAttendance { firstIn punches { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["myAttendance"]["firstIn"], punched_at);
    assert_eq!(data["myAttendance"]["punches"], json!([{ "id": punch }]));

    let data = edge
        .ok(
            &worker.token,
            "mutation Start($t: ID!) { startTaskTimer(input: { taskId: $t }) { id userId state task { id } user { id email } } }",
            json!({ "t": task }),
        )
        .await;
    assert_eq!(data["startTaskTimer"]["userId"], worker.user_id.as_str());
    assert_eq!(data["startTaskTimer"]["state"], "RUNNING");
    assert_eq!(data["startTaskTimer"]["task"]["id"], task.as_str());
    // The timer's user is identity's, joined by the router.
    assert_eq!(
        data["startTaskTimer"]["user"],
        json!({ "id": worker.user_id, "email": worker.email })
    );
    assert_eq!(
        next_event(&mut project_board, "board", "projectBoard").await,
        json!({ "kind": "TIMER_STARTED", "projectId": project, "taskId": task, "userId": worker.user_id })
    );
    let data = edge
        .ok(
            &worker.token,
            "mutation Stop { stopTimer { id userId durationSeconds billable task { id } } }",
            json!({}),
        )
        .await;
    let entry = &data["stopTimer"];
    let time_entry = entry["id"].as_str().unwrap().to_owned();
    assert_eq!(entry["userId"], worker.user_id.as_str());
    assert_eq!(entry["task"]["id"], task.as_str());
    assert_eq!(entry["billable"], true);
    assert!(entry["durationSeconds"].as_i64().unwrap() >= 0, "{entry}");
    assert_eq!(
        next_event(&mut project_board, "board", "projectBoard").await,
        json!({ "kind": "TIMER_STOPPED", "projectId": project, "taskId": task, "userId": worker.user_id })
    );

    // 3. Leave: the employee applies, the manager approves, then HR.
    let start = next_monday();
    let end = start + Days::days(1);
    let data = edge
        .ok(
            &worker.token,
            "mutation Apply($i: RequestLeaveInput!) { requestLeave(input: $i) { id status days manager { id } } }",
            json!({ "i": { "leaveTypeId": leave_type, "startDate": start.to_string(),
                           "endDate": end.to_string(), "reason": "family visit" } }),
        )
        .await;
    let request = data["requestLeave"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["requestLeave"],
        json!({ "id": request, "status": "PENDING_MANAGER", "days": 2.0,
                "manager": { "id": manager_employee } })
    );
    let pending = balance(edge, &worker.token, "DAYVAC").await;
    assert_eq!(
        (&pending["balanceDays"], &pending["pendingDays"]),
        (&json!(10.0), &json!(2.0))
    );
    // HR cannot skip the manager's step.
    const DECIDE: &str =
        "mutation Decide($i: DecideLeaveRequestInput!) { decideLeaveRequest(input: $i) { status } }";
    let body = edge
        .graphql(
            Some(&hr.token),
            DECIDE,
            json!({ "i": { "requestId": request, "decision": "APPROVE" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "NOT_APPROVER",
        "{body}"
    );
    // The subgraph's words reach the client (the router does not mask our subgraphs).
    assert_eq!(
        body["errors"][0]["message"],
        "you are not the approver of this request's current step"
    );
    let data = edge
        .ok(
            &manager.token,
            DECIDE,
            json!({ "i": { "requestId": request, "decision": "APPROVE", "comment": "enjoy" } }),
        )
        .await;
    assert_eq!(data["decideLeaveRequest"]["status"], "PENDING_HR");
    let data = edge
        .ok(
            &hr.token,
            DECIDE,
            json!({ "i": { "requestId": request, "decision": "APPROVE" } }),
        )
        .await;
    assert_eq!(data["decideLeaveRequest"]["status"], "APPROVED");
    let used = balance(edge, &worker.token, "DAYVAC").await;
    assert_eq!(
        (&used["balanceDays"], &used["pendingDays"]),
        (&json!(8.0), &json!(0.0))
    );

    // 4. The salary: HR reads it; the employee's own token and the manager's cannot.
    const SALARY: &str =
        "query Salary($id: ID!) { employee(id: $id) { displayName compensation { salary { amount currency } } } }";
    let data = edge
        .ok(&hr.token, SALARY, json!({ "id": worker_employee }))
        .await;
    assert_eq!(
        data["employee"],
        json!({ "displayName": "DAY-2", "compensation": { "salary": { "amount": "64000.00", "currency": "EUR" } } })
    );
    for token in [&worker.token, &manager.token] {
        let body = edge
            .graphql(Some(token), SALARY, json!({ "id": worker_employee }))
            .await;
        assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
        assert_eq!(
            body["data"]["employee"],
            json!({ "displayName": "DAY-2", "compensation": null })
        );
    }

    // The day ends: the employee checks out.
    let data = edge
        .ok(
            &worker.token,
            "mutation Out($k: String!) { checkOut(input: { punchKey: $k, source: MOBILE }) { id kind at } }",
            json!({ "k": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    let out = data["checkOut"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["checkOut"]["kind"], "OUT");
    assert_eq!(
        next_event(&mut attendance, "attendance", "attendanceBoard").await,
        json!({ "punchId": out, "employeeId": worker_employee, "departmentId": department,
                "punchKind": "OUT", "occurredAt": data["checkOut"]["at"] })
    );
    if bill_time {
        bill_the_time(edge, &admin, &manager, &worker, &project, &time_entry).await;
        run_the_payroll(
            edge,
            &admin,
            &hr,
            [(&manager, &manager_employee), (&worker, &worker_employee)],
        )
        .await;
    }
    operations(edge, &admin, &roles, &worker).await;
    sales(edge, &admin, &roles).await;
}

/// Chapter 6: operations. An Operations officer (the role identity seeds) watches the
/// helpdesk queue live; the employee's laptop breaks, the ticket reaches the queue and the
/// officer answers; a laptop is registered and checked out to the employee, who accepts it.
async fn operations(edge: &Edge, admin: &str, roles: &Value, worker: &Person) {
    let officer = invite(edge, admin, roles, "Operations", "Oona Ops").await;
    let mut queue = subscribe(
        edge,
        &officer.token,
        "q",
        "subscription Queue { ticketQueue(priorities: [HIGH]) { change ticketId status actorId ticket { subject } } }",
        json!({}),
    )
    .await;
    // The subscription is set up asynchronously through the router: raise the ticket again
    // (each one real) until the queue sees one.
    let raise = "mutation Raise($i: CreateTicketInput!) { createTicket(input: $i) { id status } }";
    let mut seen = None;
    for attempt in 0..20 {
        let subject = format!("Laptop does not boot ({attempt})");
        let ticket = id_of(
            edge,
            &worker.token,
            raise,
            json!({ "i": { "subject": subject, "description": "Black screen", "priority": "HIGH", "channel": "PORTAL" } }),
            "createTicket",
        )
        .await;
        if let WsEvent::Message(message) = queue.next(Duration::from_secs(2)).await {
            seen = Some((ticket, message));
            break;
        }
    }
    let (_, message) = seen.expect("the officer's queue sees the ticket");
    let event = message["payload"]["data"]["ticketQueue"].clone();
    assert_eq!(
        (&event["change"], &event["status"], &event["actorId"]),
        (&json!("CREATED"), &json!("NEW"), &json!(worker.user_id)),
        "{message}"
    );
    let ticket = event["ticketId"].as_str().unwrap().to_owned();
    // Later probes may still be on their way: the officer answers the first one seen.
    let data = edge
        .ok(
            &officer.token,
            "mutation Reply($i: ReplyToTicketInput!) { replyToTicket(input: $i) { ticket { id status } } }",
            json!({ "i": { "ticketId": ticket, "body": "A replacement is on its way." } }),
        )
        .await;
    assert_eq!(
        data["replyToTicket"]["ticket"],
        json!({ "id": ticket, "status": "OPEN" })
    );
    loop {
        let event = next_event(&mut queue, "q", "ticketQueue").await;
        if event["change"] == "REPLIED" {
            assert_eq!(
                (&event["ticketId"], &event["status"], &event["actorId"]),
                (&json!(ticket), &json!("OPEN"), &json!(officer.user_id))
            );
            break;
        }
        assert_eq!(event["change"], "CREATED", "{event}");
    }

    // The replacement laptop: registered, checked out to the employee, accepted by them.
    let tag = format!("LT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let laptop = id_of(
        edge,
        &officer.token,
        "mutation Register($i: RegisterAssetInput!) { registerAsset(input: $i) { id } }",
        json!({ "i": { "tag": tag, "name": "Replacement laptop", "cost": { "amount": "1450", "currency": "EUR" },
            "inUseDate": Utc::now().date_naive().to_string() } }),
        "registerAsset",
    )
    .await;
    let data = edge
        .ok(
            &officer.token,
            "mutation Out($i: CheckOutAssetsInput!) { checkOutAssets(input: $i) { assets { id status holder { type id } } } }",
            json!({ "i": { "assetIds": [laptop], "holder": { "type": "PERSON", "id": worker.user_id } } }),
        )
        .await;
    assert_eq!(
        data["checkOutAssets"]["assets"],
        json!([{ "id": laptop, "status": "ASSIGNED", "holder": { "type": "PERSON", "id": worker.user_id } }])
    );
    // The employee's token may not check assets out; it accepts the one it holds.
    let body = edge
        .graphql(
            Some(&worker.token),
            "mutation In($i: AssetIdsInput!) { checkInAssets(input: $i) { assets { id } } }",
            json!({ "i": { "assetIds": [laptop] } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let data = edge
        .ok(
            &worker.token,
            "mutation Accept($i: AssetIdInput!) { acceptAsset(input: $i) { id acceptedAt } }",
            json!({ "i": { "assetId": laptop } }),
        )
        .await;
    assert_eq!(data["acceptAsset"]["id"], laptop.as_str());
    assert!(data["acceptAsset"]["acceptedAt"].is_string(), "{data}");
}

/// Chapter 7: sales. The administrator sets a pipeline up; a sales rep (the Sales role)
/// qualifies a lead and converts it into a client, a contact and an opportunity in one step,
/// and the board counts the opportunity's amount.
async fn sales(edge: &Edge, admin: &str, roles: &Value) {
    let rep = invite(edge, admin, roles, "Sales", "Sam Sales").await;
    let data = edge
        .ok(
            admin,
            "mutation Pipeline($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id name } } }",
            json!({ "i": { "name": "Day sales", "opportunityType": "new business",
                "stages": [{ "name": "Lead", "probability": 10 }, { "name": "Won soon", "probability": 70 }] } }),
        )
        .await;
    let pipeline = data["createPipeline"]["id"].as_str().unwrap().to_owned();
    let data = edge
        .ok(
            &rep.token,
            "mutation Lead($i: CreateLeadInput!) { createLead(input: $i) { lead { id status ownerId } } }",
            json!({ "i": { "personName": "Ana Gomez", "email": format!("ana.{}@initech.example", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                "companyName": "Initech", "source": "REFERRAL", "ownerId": rep.user_id } }),
        )
        .await;
    let lead = data["createLead"]["lead"].clone();
    assert_eq!(
        (&lead["status"], &lead["ownerId"]),
        (&json!("NEW"), &json!(rep.user_id))
    );
    for to in ["CONTACTED", "QUALIFIED"] {
        let data = edge
            .ok(
                &rep.token,
                "mutation Move($i: ChangeLeadStatusInput!) { changeLeadStatus(input: $i) { status } }",
                json!({ "i": { "leadId": lead["id"], "status": to } }),
            )
            .await;
        assert_eq!(data["changeLeadStatus"]["status"], to);
    }
    let data = edge
        .ok(
            &rep.token,
            "mutation Convert($i: ConvertLeadInput!) { convertLead(input: $i) { lead { status } client { name kind } contact { name } opportunity { amount { amount currency } stage { name } } } }",
            json!({ "i": { "leadId": lead["id"], "pipelineId": pipeline,
                "amount": { "amount": "12000", "currency": "EUR" }, "expectedClose": "2027-03-31" } }),
        )
        .await;
    assert_eq!(
        data["convertLead"],
        json!({ "lead": { "status": "CONVERTED" }, "client": { "name": "Initech", "kind": "COMPANY" },
                "contact": { "name": "Ana Gomez" },
                "opportunity": { "amount": { "amount": "12000.00", "currency": "EUR" }, "stage": { "name": "Lead" } } })
    );
    let data = edge
        .ok(
            &rep.token,
            "query Board($p: ID!) { pipelineBoard(pipelineId: $p) { openCount totals { amount currency } } }",
            json!({ "p": pipeline }),
        )
        .await;
    assert_eq!(
        data["pipelineBoard"],
        json!({ "openCount": 1, "totals": [{ "amount": "12000.00", "currency": "EUR" }] })
    );
}

/// Chapter 5: the approved time becomes an invoice line, invoiced and paid.
async fn bill_the_time(
    edge: &Edge,
    admin: &str,
    manager: &Person,
    worker: &Person,
    project: &str,
    time_entry: &str,
) {
    let year = Utc::now().year();
    // The demo tenant's finance has its history (set up in EUR, a quarter of invoices,
    // payments, bills and expense claims, issue 17): what this chapter adds is measured from
    // what it found. A tenant without finance sets it up first.
    let settings = edge
        .ok(admin, "{ financeSettings { baseCurrency } }", json!({}))
        .await;
    if settings["financeSettings"].is_null() {
        edge.ok(
            admin,
            "mutation($i: SetUpFinanceInput!) { setUpFinance(input: $i) { settings { baseCurrency } } }",
            json!({ "i": { "baseCurrency": "EUR", "taxRounding": "GLOBAL", "fiscalYear": {
                "name": year.to_string(), "startsOn": format!("{year}-01-01"), "endsOn": format!("{year}-12-31") } } }),
        )
        .await;
    } else {
        assert_eq!(settings["financeSettings"]["baseCurrency"], "EUR");
    }
    let books = "query($to: Date!) { trialBalance(to: $to) { balanced totalDebit { amount } } receivablesReconciliation { balanced controlBalance { amount } } }";
    let before = edge
        .ok(admin, books, json!({ "to": format!("{year}-12-31") }))
        .await;
    let customer = edge
        .ok(
            admin,
            "mutation($i: CreatePartnerInput!) { createPartner(input: $i) { partner { id } } }",
            json!({ "i": { "kind": "CUSTOMER", "name": "Day Client" } }),
        )
        .await["createPartner"]["partner"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    edge.ok(
        admin,
        "mutation($i: SetProjectBillingRateInput!) { setProjectBillingRate(input: $i) { billingRate { hourlyRate { amount } } } }",
        json!({ "i": { "projectId": project, "customerId": customer, "currency": "EUR", "hourlyRate": "100.00" } }),
    )
    .await;
    // The employee's tracked time, corrected to two hours, submitted; the manager approves.
    let ended = Utc::now() - Days::minutes(1);
    let started = ended - Days::hours(2);
    edge.ok(
        &worker.token,
        "mutation($i: UpdateTimeEntryInput!) { updateTimeEntry(input: $i) { durationSeconds } }",
        json!({ "i": { "timeEntryId": time_entry, "startedAt": started.to_rfc3339(), "endedAt": ended.to_rfc3339() } }),
    )
    .await;
    let week = started.format("%G-W%V").to_string();
    edge.ok(
        &worker.token,
        "mutation($i: SubmitTimesheetWeekInput!) { submitTimesheetWeek(input: $i) { state } }",
        json!({ "i": { "week": week } }),
    )
    .await;
    let data = edge
        .ok(
            &manager.token,
            "mutation($i: DecideTimesheetInput!) { decideTimesheet(input: $i) { id state } }",
            json!({ "i": { "userId": worker.user_id, "week": week, "decision": "APPROVE" } }),
        )
        .await;
    assert_eq!(data["decideTimesheet"]["state"], "APPROVED");
    let timesheet = data["decideTimesheet"]["id"].as_str().unwrap().to_owned();

    // Finance's consumer bills the approved hours on the project's draft invoice.
    let mut invoice = Value::Null;
    for _ in 0..(WAIT.as_secs() * 5) {
        let data = edge
            .ok(
                admin,
                "query($p: ID!) { invoices(projectId: $p, first: 5) { edges { node { id status total { amount } lines { quantity unitPrice { amount } subtotal { amount } timeEntryId } } } } }",
                json!({ "p": project }),
            )
            .await;
        invoice = data["invoices"]["edges"][0]["node"].clone();
        if !invoice.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        invoice["status"], "DRAFT",
        "the approved time was not billed: {invoice}"
    );
    assert_eq!(
        invoice["lines"],
        json!([{ "quantity": "2", "unitPrice": { "amount": "100.00" }, "subtotal": { "amount": "200.00" },
                 "timeEntryId": format!("timesheet:{timesheet}:{project}") }])
    );
    let id = invoice["id"].as_str().unwrap().to_owned();
    let data = edge
        .ok(
            admin,
            "mutation($i: PostInvoiceInput!) { postInvoice(input: $i) { invoice { status reference total { amount } } } }",
            json!({ "i": { "idempotencyKey": "day-invoice", "invoiceId": id } }),
        )
        .await;
    assert_eq!(data["postInvoice"]["invoice"]["status"], "POSTED");
    // Numbered in this year's invoice series (after the demo's history, if it has one).
    let reference = data["postInvoice"]["invoice"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reference.starts_with("INV/") && reference.contains(&year.to_string()),
        "{reference}"
    );
    edge.ok(
        admin,
        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { payment { allocated { amount } } } }",
        json!({ "i": { "idempotencyKey": "day-payment", "direction": "INBOUND", "partnerId": customer,
            "date": Utc::now().date_naive().to_string(), "currency": "EUR", "amount": "200.00",
            "allocations": [{ "invoiceId": id, "amount": "200.00" }] } }),
    )
    .await;
    // Across subgraphs through the router: PMO's project, finance's invoices of it.
    let data = edge
        .ok(
            admin,
            "query($p: ID!) { project(id: $p) { name invoices { status outstanding { amount } } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(
        data["project"],
        json!({ "name": "Day project", "invoices": [{ "status": "PAID", "outstanding": { "amount": "0.00" } }] })
    );
    // The invoice (200.00) and its payment (200.00) moved the books by 400.00 of debits; the
    // receivables are back where they were, the ledger balanced before and after.
    let after = edge
        .ok(admin, books, json!({ "to": format!("{year}-12-31") }))
        .await;
    for data in [&before, &after] {
        assert_eq!(data["trialBalance"]["balanced"], true, "{data}");
        assert_eq!(
            data["receivablesReconciliation"]["balanced"], true,
            "{data}"
        );
    }
    assert_eq!(
        cents(&after["trialBalance"]["totalDebit"]["amount"])
            - cents(&before["trialBalance"]["totalDebit"]["amount"]),
        40_000
    );
    assert_eq!(
        after["receivablesReconciliation"]["controlBalance"],
        before["receivablesReconciliation"]["controlBalance"]
    );
}

/// A positive decimal amount of two places ("627547.65") in cents.
fn cents(amount: &Value) -> i64 {
    let (units, fraction) = amount.as_str().unwrap().split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
}

/// Chapter 8: payroll for the manager and the employee (see the module comment). BASIC is the
/// monthly salary (`base` is the annual salary / 12: 64,000.00 -> 5,333.33; 72,000.00 ->
/// 6,000.00), PENSION 12 % of BASIC (639.9996 -> 640.00; 720.00); December of this year, in
/// which both are employed the whole month in any year (hired 2026-01-05: a run of the month
/// someone joins is prorated by calendar days; finance set up for this year), so the amounts
/// do not depend on the date the test runs.
async fn run_the_payroll(edge: &Edge, admin: &str, hr: &Person, people: [(&Person, &String); 2]) {
    let year = Utc::now().year();
    // The books as the run finds them (the demo's finance history, chapter 5's invoice).
    let total_debit =
        "query($to: Date!) { trialBalance(to: $to) { balanced totalDebit { amount } } }";
    let before = edge
        .ok(admin, total_debit, json!({ "to": format!("{year}-12-31") }))
        .await;
    for ((_, employee), (salary, bank, tax_id)) in people.iter().zip([
        ("72000", "FR1420041010050500013M02606", "TAX-DAY-1"),
        ("64000", "DE89 3704 0044 0532 0130 00", "TAX-DAY-2"),
    ]) {
        edge.ok(
            &hr.token,
            "mutation Pay($i: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $i) { id } }",
            json!({ "i": { "employeeId": employee, "salary": { "amount": salary, "currency": "EUR" },
                           "bankAccount": bank, "taxId": tax_id } }),
        )
        .await;
    }
    for (code, name, kind) in [
        ("6100", "Salaries", "EXPENSE"),
        ("2400", "Pension payable", "LIABILITY"),
    ] {
        edge.ok(
            admin,
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { account { id } } }",
            json!({ "i": { "code": code, "name": name, "kind": kind } }),
        )
        .await;
    }
    let accounts = edge
        .ok(
            admin,
            "{ accounts(first: 100) { edges { node { id code } } } }",
            json!({}),
        )
        .await;
    let account = |code: &str| {
        accounts["accounts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|edge| edge["node"]["code"] == code)
            .unwrap_or_else(|| panic!("no account {code}: {accounts}"))["node"]["id"]
            .clone()
    };
    const COMPONENT: &str = "mutation($i: CreateSalaryComponentInput!) { createSalaryComponent(input: $i) { component { id } } }";
    let data = edge
        .ok(
            admin,
            COMPONENT,
            json!({ "i": { "code": "BASIC", "name": "Basic", "kind": "EARNING", "rule": "FORMULA",
                           "formula": "base", "accountId": account("6100") } }),
        )
        .await;
    let basic = data["createSalaryComponent"]["component"]["id"].clone();
    let data = edge
        .ok(
            admin,
            COMPONENT,
            json!({ "i": { "code": "PENSION", "name": "Pension", "kind": "DEDUCTION", "rule": "PERCENT",
                           "percent": "12", "percentOf": "BASIC", "accountId": account("2400") } }),
        )
        .await;
    let pension = data["createSalaryComponent"]["component"]["id"].clone();
    let data = edge
        .ok(
            admin,
            "mutation($i: CreateSalaryStructureInput!) { createSalaryStructure(input: $i) { structure { id } } }",
            json!({ "i": { "code": "DAY", "name": "Day structure", "componentIds": [basic, pension] } }),
        )
        .await;
    let structure = data["createSalaryStructure"]["structure"]["id"].clone();
    for (_, employee) in &people {
        edge.ok(
            admin,
            "mutation($i: AssignSalaryStructureInput!) { assignSalaryStructure(input: $i) { assignment { employeeId } } }",
            json!({ "i": { "employeeId": employee, "structureId": structure, "effectiveFrom": format!("{year}-01-01") } }),
        )
        .await;
    }
    let data = edge
        .ok(
            admin,
            "mutation($i: CreatePayrollRunInput!) { createPayrollRun(input: $i) { run { id state } } }",
            json!({ "i": { "period": format!("{year}-12") } }),
        )
        .await;
    let run = data["createPayrollRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(data["createPayrollRun"]["run"]["state"], "DRAFT");

    // Finance learns the pay from the employee subgraph's events: calculate again until both
    // slips are there (a calculated run may be recalculated; the same inputs give the same
    // slips).
    let ours: Vec<&str> = people.iter().map(|(_, id)| id.as_str()).collect();
    let mut slips = Value::Null;
    for _ in 0..(WAIT.as_secs() * 2) {
        edge.ok(
            admin,
            "mutation($i: PayrollRunInput!) { calculatePayrollRun(input: $i) { run { state } } }",
            json!({ "i": { "runId": run } }),
        )
        .await;
        let data = edge
            .ok(
                admin,
                "query($id: ID!) { payrollRun(id: $id) { payslips { employeeId gross { amount } deductions { amount } net { amount } } } }",
                json!({ "id": run }),
            )
            .await;
        let mut ours_only: Vec<Value> = data["payrollRun"]["payslips"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|slip| ours.contains(&slip["employeeId"].as_str().unwrap_or_default()))
            .cloned()
            .collect();
        if ours_only.len() == 2 {
            ours_only.sort_by_key(|slip| slip["employeeId"] != ours[0]);
            slips = Value::Array(ours_only);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        slips,
        json!([
            { "employeeId": ours[0], "gross": { "amount": "6000.00" }, "deductions": { "amount": "720.00" }, "net": { "amount": "5280.00" } },
            { "employeeId": ours[1], "gross": { "amount": "5333.33" }, "deductions": { "amount": "640.00" }, "net": { "amount": "4693.33" } },
        ]),
        "finance never calculated both slips"
    );
    let data = edge
        .ok(
            admin,
            "mutation($i: PayrollRunInput!) { approvePayrollRun(input: $i) { run { state } } }",
            json!({ "i": { "runId": run } }),
        )
        .await;
    assert_eq!(data["approvePayrollRun"]["run"]["state"], "APPROVED");
    let data = edge
        .ok(
            admin,
            "mutation($i: PayrollRunStepInput!) { postPayrollRun(input: $i) { run { state } } }",
            json!({ "i": { "idempotencyKey": "day-payroll", "runId": run } }),
        )
        .await;
    assert_eq!(data["postPayrollRun"]["run"]["state"], "POSTED");

    // Each reads their own slip, and only theirs.
    for ((person, employee), net) in people.iter().zip(["5280.00", "4693.33"]) {
        let data = edge
            .ok(
                &person.token,
                "{ myPayslips { employeeId period state net { amount currency } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            data["myPayslips"],
            json!([{ "employeeId": employee, "period": format!("{year}-12"), "state": "SUBMITTED",
                     "net": { "amount": net, "currency": "EUR" } }])
        );
    }
    // The run (with a colleague's slip) is payroll's: the employee's token is refused.
    let (worker, _) = people[1];
    let body = edge
        .graphql(
            Some(&worker.token),
            "query($id: ID!) { payrollRun(id: $id) { payslips { employeeId net { amount } } } }",
            json!({ "id": run }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(body["data"]["payrollRun"], Value::Null, "{body}");

    // The run's one summarised entry keeps the ledger balanced and adds 11,333.33 of
    // salaries to the debits it found.
    let after = edge
        .ok(admin, total_debit, json!({ "to": format!("{year}-12-31") }))
        .await;
    for data in [&before, &after] {
        assert_eq!(data["trialBalance"]["balanced"], true, "{data}");
    }
    assert_eq!(
        cents(&after["trialBalance"]["totalDebit"]["amount"])
            - cents(&before["trialBalance"]["totalDebit"]["amount"]),
        1_133_333,
        "{before} {after}"
    );
}
