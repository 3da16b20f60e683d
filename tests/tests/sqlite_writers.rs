//! The embedded mode's SQLite under concurrent writers, with the outbox relay marking events
//! published meanwhile: a company checking in at 9:00 while HR hires and approves leave (the
//! employee subgraph), and a team invited, logging in, refreshing and logging out at once while
//! the administrator creates roles (the identity subgraph). Every request succeeds; none fails
//! with "database is locked" (a read-then-write transaction that could not upgrade to a writer
//! once another connection had committed: `erp_kit::db::begin_write`).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use erp_kit::events::topic_for;
use erp_tests::identity::{IdentityApp, ADMIN_PASSWORD};
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use futures::future::join_all;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

/// The people checking in at once.
const PEOPLE: usize = 30;
/// People HR hires while the others check in.
const LATE_HIRES: usize = 10;

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
    "leave:approve",
];
const EMPLOYEE: &[&str] = &["employee:read", "attendance:checkin", "leave:apply"];

const HIRE: &str = "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id employeeNumber displayName status } }";
const CREATE_DEPARTMENT: &str =
    "mutation($i: CreateDepartmentInput!) { createDepartment(input: $i) { id name } }";
const CREATE_LEAVE_TYPE: &str =
    "mutation($i: CreateLeaveTypeInput!) { createLeaveType(input: $i) { id code } }";
const ADJUST: &str =
    "mutation($i: AdjustLeaveBalanceInput!) { adjustLeaveBalance(input: $i) { kind days reason } }";
const CHECK_IN: &str =
    "mutation($i: PunchInput!) { checkIn(input: $i) { id kind source punchKey } }";
const CHECK_OUT: &str =
    "mutation($i: PunchInput!) { checkOut(input: $i) { id kind source punchKey } }";
const REQUEST: &str = "mutation($i: RequestLeaveInput!) { requestLeave(input: $i) { id status days employee { id } } }";
const APPROVE: &str = "mutation($id: ID!) { approveLeave(id: $id) { id status } }";
const SET_COMPENSATION: &str = "mutation($id: ID!, $c: CompensationInput!) { setEmployeeCompensation(employeeId: $id, input: $c) { id } }";
const COMPENSATION: &str =
    "query($id: ID!) { employee(id: $id) { compensation { annualSalary currency bankAccount taxId } } }";
/// People whose pay HR records during the rush (the tenant's first: its data key is created).
const PAID: usize = 10;
const BALANCES: &str =
    "{ myLeaveBalances { leaveType { code } balanceDays pendingDays availableDays } }";

struct Company {
    app: EmployeeApp,
    issuer: TestIssuer,
    tenant: String,
}

impl Company {
    fn hr(&self) -> String {
        self.issuer.token(&self.tenant, "usr_hr", HR)
    }

    fn person(&self, i: usize) -> String {
        self.issuer.token(&self.tenant, &user(i), EMPLOYEE)
    }

    /// Runs an operation that must succeed (HTTP 200, no error) and returns `data.<field>`.
    async fn ok(&self, token: &str, query: &str, variables: Value, field: &str) -> Value {
        let (status, body) = self.app.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{field} failed: {body}");
        body["data"][field].clone()
    }

    async fn hire(&self, i: usize) -> Value {
        let input = json!({
            "employeeNumber": number(i),
            "displayName": format!("Person {i}"),
            "workEmail": format!("person{i}@company.example"),
            "hiredOn": "2025-01-06",
            "userId": user(i),
        });
        self.ok(&self.hr(), HIRE, json!({ "i": input }), "hireEmployee")
            .await
    }

    /// `(event_type, count)` of the tenant's outbox rows.
    async fn outbox_counts(&self) -> BTreeMap<String, i64> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT event_type, COUNT(*) AS n FROM employee_outbox WHERE tenant_id = ? GROUP BY event_type",
            [self.tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get::<String>("", "event_type").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect()
    }

    async fn outbox_event_ids(&self) -> HashSet<String> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT event_id FROM employee_outbox WHERE tenant_id = ?",
            [self.tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "event_id").unwrap())
        .collect()
    }
}

fn user(i: usize) -> String {
    format!("usr_{i:02}")
}

fn number(i: usize) -> String {
    format!("E-{i:02}")
}

/// A Monday at least two months ahead, so that the leave requested is in the future.
fn future_monday() -> NaiveDate {
    let mut day = Utc::now().date_naive() + Days::new(60);
    while day.weekday() != Weekday::Mon {
        day = day + Days::new(1);
    }
    day
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_company_checking_in_at_nine_while_hr_writes_all_succeed_on_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Embedded).await).await;
    let company = Company {
        app,
        issuer,
        tenant: format!("tnt_{}", uuid::Uuid::new_v4().simple()),
    };
    let mut published = company
        .app
        .runtime
        .bus
        .subscribe(&[&topic_for("employee")], "sqlite-writers-test")
        .await
        .unwrap();
    let hr = company.hr();

    // HR sets the company up: every hire, departments and the leave type at once.
    let hires = join_all((0..PEOPLE).map(|i| company.hire(i)));
    let departments = join_all(["Sales", "Support", "Finance", "Ops", "R&D"].map(|name| {
        company.ok(
            &hr,
            CREATE_DEPARTMENT,
            json!({ "i": { "name": name } }),
            "createDepartment",
        )
    }));
    let leave_type = company.ok(
        &hr,
        CREATE_LEAVE_TYPE,
        json!({ "i": { "code": "ANNUAL", "name": "Annual leave" } }),
        "createLeaveType",
    );
    let (hired, departments, leave_type) = tokio::join!(hires, departments, leave_type);
    let employee_ids: Vec<String> = hired
        .iter()
        .enumerate()
        .map(|(i, hire)| {
            assert_eq!(hire["employeeNumber"], number(i).as_str());
            assert_eq!(hire["displayName"], format!("Person {i}").as_str());
            assert_eq!(hire["status"], "ACTIVE");
            hire["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        employee_ids.iter().collect::<HashSet<_>>().len(),
        PEOPLE,
        "one employee per hire"
    );
    let mut names: Vec<&str> = departments
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Finance", "Ops", "R&D", "Sales", "Support"]);
    assert_eq!(leave_type["code"], "ANNUAL");
    let annual = leave_type["id"].as_str().unwrap().to_owned();

    // Everyone's opening balance, at once (each a read-then-write of the ledger).
    let adjusted = join_all(employee_ids.iter().map(|employee| {
        company.ok(
            &hr,
            ADJUST,
            json!({ "i": { "employeeId": employee, "leaveTypeId": annual, "days": 10.0, "reason": "opening balance" } }),
            "adjustLeaveBalance",
        )
    }))
    .await;
    for entry in adjusted {
        assert_eq!(
            entry,
            json!({ "kind": "ADJUSTMENT", "days": 10.0, "reason": "opening balance" })
        );
    }

    // 9:00: everyone checks in, and their kiosk resends the same punch at the same moment;
    // everyone asks for three days off; HR hires ten more people and records pay (the tenant's
    // first sealed values: its data key is created meanwhile).
    let monday = future_monday();
    let leave = json!({ "leaveTypeId": annual, "startDate": monday.to_string(), "endDate": (monday + Days::new(2)).to_string() });
    let tokens: Vec<String> = (0..PEOPLE).map(|i| company.person(i)).collect();
    let check_ins = join_all((0..PEOPLE).flat_map(|i| {
        let punch = json!({ "i": { "punchKey": format!("kiosk-{i:02}"), "source": "KIOSK" } });
        [
            company.ok(&tokens[i], CHECK_IN, punch.clone(), "checkIn"),
            company.ok(&tokens[i], CHECK_IN, punch, "checkIn"),
        ]
    }));
    let requests = join_all(
        (0..PEOPLE).map(|i| company.ok(&tokens[i], REQUEST, json!({ "i": leave }), "requestLeave")),
    );
    let late_hires = join_all((PEOPLE..PEOPLE + LATE_HIRES).map(|i| company.hire(i)));
    let pay = join_all(employee_ids[..PAID].iter().enumerate().map(|(i, id)| {
        company.ok(
            &hr,
            SET_COMPENSATION,
            json!({ "id": id, "c": { "annualSalary": format!("{}.00", 50_000 + i * 1_000), "currency": "EUR", "taxId": format!("abcde-{i:04}-f") } }),
            "setEmployeeCompensation",
        )
    }));
    let (check_ins, requests, late_hires, pay) = tokio::join!(check_ins, requests, late_hires, pay);
    for (paid, id) in pay.iter().zip(&employee_ids) {
        assert_eq!(paid, &json!({ "id": id }));
    }

    let mut check_in_ids = Vec::new();
    for (i, pair) in check_ins.chunks(2).enumerate() {
        assert_eq!(
            pair[0], pair[1],
            "the resent punch is the same record, not a second one"
        );
        assert_eq!(pair[0]["kind"], "IN");
        assert_eq!(pair[0]["source"], "kiosk");
        assert_eq!(pair[0]["punchKey"], format!("kiosk-{i:02}").as_str());
        check_in_ids.push(pair[0]["id"].as_str().unwrap().to_owned());
    }
    let mut request_ids = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request["status"], "PENDING_HR", "{request}");
        assert_eq!(request["days"], 3.0);
        assert_eq!(request["employee"]["id"], employee_ids[i].as_str());
        request_ids.push(request["id"].as_str().unwrap().to_owned());
    }
    for (k, hire) in late_hires.iter().enumerate() {
        assert_eq!(hire["employeeNumber"], number(PEOPLE + k).as_str());
        assert_eq!(hire["status"], "ACTIVE");
    }

    // HR approves every request while everyone checks out.
    let approvals = join_all(
        request_ids
            .iter()
            .map(|id| company.ok(&hr, APPROVE, json!({ "id": id }), "approveLeave")),
    );
    let check_outs = join_all((0..PEOPLE).map(|i| {
        company.ok(
            &tokens[i],
            CHECK_OUT,
            json!({ "i": { "punchKey": format!("web-{i:02}"), "source": "WEB" } }),
            "checkOut",
        )
    }));
    let (approvals, check_outs) = tokio::join!(approvals, check_outs);
    for (approval, id) in approvals.iter().zip(&request_ids) {
        assert_eq!(approval, &json!({ "id": id, "status": "APPROVED" }));
    }
    for (i, punch) in check_outs.iter().enumerate() {
        assert_eq!(punch["kind"], "OUT");
        assert_eq!(punch["source"], "web");
        assert_eq!(punch["punchKey"], format!("web-{i:02}").as_str());
    }

    // Each punch exactly once, for the right person.
    let db = &company.app.runtime.db;
    let punches: Vec<(String, String, String)> = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT employee_id, kind, punch_key FROM punches WHERE tenant_id = ? ORDER BY punch_key",
            [company.tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get("", "employee_id").unwrap(),
                r.try_get("", "kind").unwrap(),
                r.try_get("", "punch_key").unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, String)> = (0..PEOPLE)
        .flat_map(|i| {
            [
                (
                    employee_ids[i].clone(),
                    "in".into(),
                    format!("kiosk-{i:02}"),
                ),
                (employee_ids[i].clone(), "out".into(), format!("web-{i:02}")),
            ]
        })
        .collect();
    expected.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(punches, expected);

    // The pay recorded, sealed and opened again.
    for (i, id) in employee_ids[..PAID].iter().enumerate() {
        let employee = company
            .ok(&hr, COMPENSATION, json!({ "id": id }), "employee")
            .await;
        assert_eq!(
            employee,
            json!({ "compensation": { "annualSalary": format!("{}.00", 50_000 + i * 1_000), "currency": "EUR", "bankAccount": null, "taxId": format!("ABCDE{i:04}F") } })
        );
    }

    // Every balance moved exactly once: 10 days, 3 taken.
    let balances = join_all(
        tokens
            .iter()
            .map(|token| company.ok(token, BALANCES, json!({}), "myLeaveBalances")),
    )
    .await;
    for balance in balances {
        assert_eq!(
            balance,
            json!([{ "leaveType": { "code": "ANNUAL" }, "balanceDays": 7.0, "pendingDays": 0.0, "availableDays": 7.0 }])
        );
    }

    // One event per accepted write, in the same transactions as the writes...
    let counts = company.outbox_counts().await;
    assert_eq!(
        counts.get("employee.hired"),
        Some(&((PEOPLE + LATE_HIRES) as i64))
    );
    assert_eq!(counts.get("department.created"), Some(&5));
    assert_eq!(counts.get("attendance.checked_in"), Some(&(PEOPLE as i64)));
    assert_eq!(counts.get("attendance.checked_out"), Some(&(PEOPLE as i64)));
    assert_eq!(counts.get("leave.requested"), Some(&(PEOPLE as i64)));
    assert_eq!(counts.get("leave.approved"), Some(&(PEOPLE as i64)));
    assert_eq!(
        counts.get("employee.compensation_changed"),
        Some(&(PAID as i64))
    );

    // ...and the relay, a writer among the others, published every one of them.
    let mut unpublished = company.outbox_event_ids().await;
    while !unpublished.is_empty() {
        let event = tokio::time::timeout(Duration::from_secs(60), published.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the relay stopped with {} events unpublished",
                    unpublished.len()
                )
            })
            .expect("the bus stays open");
        unpublished.remove(&event.id.to_string());
    }
}

/// People invited to the identity service at once.
const STAFF: usize = 12;

const INVITE: &str = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id email status } } }";
const ACCEPT: &str =
    "mutation($t: String!, $p: String!) { acceptInvite(inviteToken: $t, password: $p) }";
const CREATE_ROLE: &str =
    "mutation($i: CreateRoleInput!) { createRole(input: $i) { id name permissions } }";
const REFRESH: &str =
    "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }";
const LOGOUT: &str = "mutation($r: String!) { logout(refreshToken: $r) }";

/// Runs an identity operation that must succeed and returns `data.<field>`.
async fn identity_ok(
    app: &IdentityApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
    field: &str,
) -> Value {
    let (status, body) = app.graphql(token, query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{field} failed: {body}");
    body["data"][field].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_team_invited_and_logging_in_at_once_all_succeed_on_sqlite() {
    let app = IdentityApp::spawn_on(Backends::Embedded, |_| {}).await;
    let (tenant, admin_email) = app.bootstrap().await;
    let (admin_tokens, _) = app.login_enrolling_totp(&admin_email, ADMIN_PASSWORD).await;
    let admin = admin_tokens["accessToken"].as_str().unwrap().to_owned();
    let roles = identity_ok(
        &app,
        Some(&admin),
        "{ roles(first: 10) { edges { node { id name } } } }",
        json!({}),
        "roles",
    )
    .await;
    let employee_role = roles["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"]["name"] == "Employee")
        .unwrap()["node"]["id"]
        .clone();

    // The administrator invites the whole team at once, creating roles meanwhile.
    let email = |i: usize| format!("staff{i:02}@acme.example");
    let invites = join_all((0..STAFF).map(|i| {
        identity_ok(
            &app,
            Some(&admin),
            INVITE,
            json!({ "i": { "email": email(i), "name": format!("Staff {i}"), "departments": [], "roleId": employee_role } }),
            "inviteUser",
        )
    }));
    let new_roles = join_all((0..4).map(|k| {
        identity_ok(
            &app,
            Some(&admin),
            CREATE_ROLE,
            json!({ "i": { "name": format!("Crew {k}"), "permissions": ["employee:read", "attendance:checkin"] } }),
            "createRole",
        )
    }));
    let (invites, new_roles) = tokio::join!(invites, new_roles);
    for (i, invite) in invites.iter().enumerate() {
        assert_eq!(invite["user"]["email"], email(i).as_str());
        assert_eq!(invite["user"]["status"], "INVITED", "{invite}");
    }
    for (k, role) in new_roles.iter().enumerate() {
        assert_eq!(role["name"], format!("Crew {k}").as_str());
        assert_eq!(
            role["permissions"],
            json!(["employee:read", "attendance:checkin"])
        );
    }

    // Everyone accepts, logs in enrolling TOTP, refreshes and logs out, all at once.
    let sessions = join_all(invites.iter().enumerate().map(|(i, invite)| {
        let app = &app;
        async move {
            let accepted = identity_ok(
                app,
                None,
                ACCEPT,
                json!({ "t": invite["inviteToken"], "p": "a long enough password" }),
                "acceptInvite",
            )
            .await;
            assert_eq!(accepted, true);
            let (tokens, _) = app
                .login_enrolling_totp(&email(i), "a long enough password")
                .await;
            let user_id = invite["user"]["id"].as_str().unwrap();
            let access = tokens["accessToken"].as_str().unwrap();
            assert_eq!(app.verify_sub(access).await, user_id);
            let refreshed = identity_ok(
                app,
                None,
                REFRESH,
                json!({ "r": tokens["refreshToken"] }),
                "refreshToken",
            )
            .await;
            let access = refreshed["accessToken"].as_str().unwrap();
            assert_eq!(app.verify_sub(access).await, user_id);
            let logged_out = identity_ok(
                app,
                None,
                LOGOUT,
                json!({ "r": refreshed["refreshToken"] }),
                "logout",
            )
            .await;
            assert_eq!(logged_out, true);
            // The session is gone: its refresh token is refused.
            let (_, body) = app
                .graphql(None, REFRESH, json!({ "r": refreshed["refreshToken"] }))
                .await;
            assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
        }
    }));
    sessions.await;

    // Every user active with a second factor, each write's event recorded once.
    let db = &app.runtime.db;
    let users: Vec<(String, String, bool)> = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT email, status, totp_secret IS NOT NULL AS enrolled FROM users WHERE tenant_id = ? ORDER BY email",
            [tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get("", "email").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "enrolled").unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, bool)> = (0..STAFF)
        .map(|i| (email(i), "active".to_owned(), true))
        .chain([(admin_email.clone(), "active".to_owned(), true)])
        .collect();
    expected.sort();
    assert_eq!(users, expected);
    let counts: BTreeMap<String, i64> = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT event_type, COUNT(*) AS n FROM identity_outbox WHERE tenant_id = ? GROUP BY event_type",
            [tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get::<String>("", "event_type").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect();
    let staff = STAFF as i64;
    assert_eq!(counts.get("user.invited"), Some(&staff));
    assert_eq!(counts.get("user.activated"), Some(&staff));
    assert_eq!(counts.get("role.created"), Some(&4));
    assert_eq!(counts.get("mfa.enrolled"), Some(&(staff + 1)));
    assert_eq!(counts.get("session.logged_out"), Some(&staff));
}
