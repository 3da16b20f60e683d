//! Attendance on real PostgreSQL and Redis: geofenced, idempotent check-in/out, the day view,
//! and the live-board message every replica's subscribers receive through Redis pub/sub.

use std::time::Duration;

use erp_employee::events::attendance_channel;
use erp_kit::TenantId;
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];
const CHECK_IN: &str =
    "mutation($i: PunchInput!) { checkIn(input: $i) { id kind source punchKey locationId } }";
const CHECK_OUT: &str = "mutation($i: PunchInput!) { checkOut(input: $i) { id kind } }";

#[tokio::test]
async fn geofenced_idempotent_check_in_and_out() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let (_, body) = app
        .graphql(
            Some(&hr),
            "mutation { hireEmployee(input: { employeeNumber: \"A-1\", displayName: \"Asha\", workEmail: \"asha@co.example\", hiredOn: \"2026-01-05\", userId: \"usr_asha\" }) { id } }",
            json!({}),
        )
        .await;
    let employee_id = body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            Some(&hr),
            "mutation { createLocation(input: { name: \"Bengaluru HQ\", latitude: 12.9716, longitude: 77.5946, radiusMeters: 200 }) { id name radiusMeters } }",
            json!({}),
        )
        .await;
    let office = body["data"]["createLocation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["data"]["createLocation"]["radiusMeters"], 200);

    // A live board listening through Redis, as another replica would.
    let mut board = app
        .runtime
        .cache
        .subscribe(&attendance_channel(&TenantId::from_claim("tnt_a")))
        .await
        .unwrap();

    let asha = issuer.token(
        "tnt_a",
        "usr_asha",
        &["employee:read", "attendance:checkin"],
    );
    let inside = json!({ "i": { "punchKey": "kiosk-7-0001", "source": "KIOSK", "latitude": 12.9720, "longitude": 77.5950, "locationId": office } });
    let (_, body) = app.graphql(Some(&asha), CHECK_IN, inside.clone()).await;
    assert!(body["errors"].is_null(), "{body}");
    let punch = body["data"]["checkIn"].clone();
    assert_eq!(punch["kind"], "IN");
    assert_eq!(punch["source"], "kiosk");
    assert_eq!(punch["locationId"], office.as_str());

    let live = tokio::time::timeout(Duration::from_secs(5), board.next())
        .await
        .unwrap()
        .unwrap();
    let live: serde_json::Value = serde_json::from_slice(&live).unwrap();
    assert_eq!(live["employee_id"], employee_id.as_str());
    assert_eq!(live["kind"], "in");

    // The kiosk resyncs the same punch: the same record, no duplicate, no second event.
    let (_, body) = app.graphql(Some(&asha), CHECK_IN, inside).await;
    assert_eq!(body["data"]["checkIn"]["id"], punch["id"]);
    // A second check-in is a conflict.
    let (_, body) = app
        .graphql(
            Some(&asha),
            CHECK_IN,
            json!({ "i": { "punchKey": "web-2", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "ALREADY_CHECKED_IN"
    );
    // Outside the geofence (1.1 km away): refused.
    let (_, body) = app
        .graphql(Some(&asha), CHECK_OUT, json!({ "i": { "punchKey": "m-3", "source": "MOBILE", "latitude": 12.9816, "longitude": 77.5946, "locationId": office } }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "OUTSIDE_GEOFENCE"
    );
    // Bad inputs.
    let (_, body) = app
        .graphql(Some(&asha), CHECK_OUT, json!({ "i": { "punchKey": "m-4", "source": "MOBILE", "latitude": 95.0, "longitude": 0.0 } }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "latitude");
    let (_, body) = app
        .graphql(
            Some(&asha),
            CHECK_OUT,
            json!({ "i": { "punchKey": "m-5", "source": "MOBILE", "locationId": office } }),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        ["BAD_USER_INPUT"],
        "a geofenced punch needs a position"
    );

    let (_, body) = app
        .graphql(
            Some(&asha),
            CHECK_OUT,
            json!({ "i": { "punchKey": "web-6", "source": "WEB" } }),
        )
        .await;
    assert_eq!(body["data"]["checkOut"]["kind"], "OUT", "{body}");
    let (_, body) = app
        .graphql(
            Some(&asha),
            CHECK_OUT,
            json!({ "i": { "punchKey": "web-7", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "not checked in");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "NOT_CHECKED_IN");

    let (_, body) = app
        .graphql(Some(&asha), "{ myAttendance { checkedIn workedMinutes firstIn lastOut punches { kind punchKey } } }", json!({}))
        .await;
    let day = &body["data"]["myAttendance"];
    assert_eq!(day["checkedIn"], false);
    assert_eq!(day["workedMinutes"], 0);
    assert_eq!(
        day["punches"],
        json!([{ "kind": "IN", "punchKey": "kiosk-7-0001" }, { "kind": "OUT", "punchKey": "web-6" }])
    );

    // One event per accepted punch, through the outbox.
    let db = &app.runtime.db;
    let events: Vec<String> = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_type FROM employee_outbox WHERE event_type LIKE 'attendance.%' ORDER BY seq",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "event_type").unwrap())
        .collect();
    assert_eq!(events, ["attendance.checked_in", "attendance.checked_out"]);

    // Without the scope, or without an employee record.
    let reader = issuer.token("tnt_a", "usr_asha", &["employee:read"]);
    let (_, body) = app
        .graphql(
            Some(&reader),
            CHECK_IN,
            json!({ "i": { "punchKey": "x", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    let stranger = issuer.token("tnt_a", "usr_nobody", &["attendance:checkin"]);
    let (_, body) = app
        .graphql(
            Some(&stranger),
            CHECK_IN,
            json!({ "i": { "punchKey": "y", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    // Another tenant's user with the same user id has no employee here.
    let other = issuer.token("tnt_b", "usr_asha", &["attendance:checkin"]);
    let (_, body) = app
        .graphql(
            Some(&other),
            CHECK_IN,
            json!({ "i": { "punchKey": "z", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}

/// A morning rush larger than the connection pool (20 on PostgreSQL): every check-in succeeds,
/// once. (A punch transaction that needed a second pooled connection deadlocked the pool here:
/// every connection held by a transaction waiting for another one.)
#[tokio::test]
async fn a_rush_of_check_ins_larger_than_the_pool_records_everyone_once() {
    const PEOPLE: usize = 60;
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let tenant = format!("tnt_rush_{}", uuid::Uuid::new_v4().simple());
    let hr = issuer.token(&tenant, "usr_hr", HR);
    let mut employees = Vec::new();
    for n in 0..PEOPLE {
        let (status, body) = app
            .graphql(
                Some(&hr),
                "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
                json!({ "i": { "employeeNumber": format!("R-{n}"), "displayName": format!("Rush {n}"),
                               "workEmail": format!("rush{n}@co.example"), "hiredOn": "2026-01-05",
                               "userId": format!("usr_rush_{n}") } }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        employees.push(
            body["data"]["hireEmployee"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let punches = futures::future::join_all((0..PEOPLE).map(|n| {
        let token = issuer.token(&tenant, &format!("usr_rush_{n}"), &["attendance:checkin"]);
        let app = &app;
        async move {
            app.graphql(
                Some(&token),
                CHECK_IN,
                json!({ "i": { "punchKey": format!("rush-{n}"), "source": "KIOSK" } }),
            )
            .await
        }
    }))
    .await;
    for (n, (status, body)) in punches.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(body["data"]["checkIn"]["kind"], "IN");
        assert_eq!(body["data"]["checkIn"]["punchKey"], format!("rush-{n}"));
    }
    let db = &app.runtime.db;
    let rows = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT employee_id FROM punches WHERE tenant_id = $1 ORDER BY employee_id",
            [tenant.clone().into()],
        ))
        .await
        .unwrap();
    let mut recorded: Vec<String> = rows
        .into_iter()
        .map(|r| r.try_get::<String>("", "employee_id").unwrap())
        .collect();
    employees.sort();
    recorded.sort();
    assert_eq!(recorded, employees, "one punch per person");
}

/// The import API a bulk load uses (the seed): a day of punch history is written once (a second
/// import of it writes nothing), with no outbox event, and counts in the day's attendance like
/// any punch; departments are found by name on the second import.
#[tokio::test]
async fn an_imported_history_is_written_once_and_publishes_nothing() {
    use erp_employee::app::import::{DepartmentImport, HistoricPunch};
    use erp_employee::domain::attendance::PunchKind;

    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let tenant = TenantId::from_claim("tnt_import");
    let hr = issuer.token("tnt_import", "usr_hr", HR);
    let asha = app
        .hire(
            &hr,
            json!({ "employeeNumber": "I-1", "displayName": "Asha", "workEmail": "asha@import.example", "hiredOn": "2025-01-06" }),
        )
        .await;

    let departments = [
        DepartmentImport {
            name: "Plant".into(),
            parent: None,
        },
        DepartmentImport {
            name: "Assembly".into(),
            parent: Some(0),
        },
    ];
    let first = app
        .employee
        .import_departments(&tenant, "usr_hr", &departments)
        .await
        .unwrap();
    assert_eq!(first.written, 2);
    let again = app
        .employee
        .import_departments(&tenant, "usr_hr", &departments)
        .await
        .unwrap();
    assert_eq!((again.ids.clone(), again.written), (first.ids.clone(), 0));
    let data = app
        .ok(
            &hr,
            "{ departments { edges { node { name parent { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["departments"]["edges"],
        json!([
            { "node": { "name": "Plant", "parent": null } },
            { "node": { "name": "Assembly", "parent": { "name": "Plant" } } },
        ])
    );

    let outbox = |app: &EmployeeApp| {
        let db = app.runtime.db.clone();
        async move {
            db.query_one(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM employee_outbox",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };
    let events_before = outbox(&app).await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let at = |hour: u32| {
        day.and_hms_opt(hour, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    let history = || {
        [(PunchKind::In, 9), (PunchKind::Out, 17)]
            .into_iter()
            .map(|(kind, hour)| HistoricPunch {
                id: uuid::Uuid::now_v7().to_string(),
                employee_id: asha.clone(),
                kind,
                at: at(hour),
                day,
                source: "import".into(),
                point: None,
                location_id: None,
                punch_key: format!("history-I-1-{day}-{}", kind.as_str()),
            })
            .collect::<Vec<_>>()
    };
    let written = app
        .employee
        .import_punches(&tenant, history())
        .await
        .unwrap();
    assert_eq!(written, 2);
    let written = app
        .employee
        .import_punches(&tenant, history())
        .await
        .unwrap();
    assert_eq!(written, 0, "the punch keys are stored: nothing twice");
    assert_eq!(
        outbox(&app).await,
        events_before,
        "history is not news: no event"
    );

    let data = app
        .ok(
            &hr,
            "query($id: ID!, $d: Date!) { employee(id: $id) { attendance(day: $d) { workedMinutes punches { kind punchKey source } } } }",
            json!({ "id": asha, "d": day }),
        )
        .await;
    assert_eq!(
        data["employee"]["attendance"],
        json!({
            "workedMinutes": 480,
            "punches": [
                { "kind": "IN", "punchKey": "history-I-1-2026-03-02-in", "source": "import" },
                { "kind": "OUT", "punchKey": "history-I-1-2026-03-02-out", "source": "import" },
            ]
        })
    );
}

/// Issue 16, item 11: a person assigned a work location cannot skip its geofence by leaving
/// `locationId` out: the punch is checked against the assigned location (refused without a
/// position, or outside it), and one inside it is recorded at that location. Assigning needs
/// `hr:admin`; clearing it frees the person's punches again.
#[tokio::test]
async fn a_punch_without_a_location_is_checked_against_the_assigned_geofence() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_fence", "usr_hr", HR);
    let (_, body) = app
        .graphql(
            Some(&hr),
            "mutation { hireEmployee(input: { employeeNumber: \"F-1\", displayName: \"Farah\", workEmail: \"farah@co.example\", hiredOn: \"2026-01-05\", userId: \"usr_farah\" }) { id } }",
            json!({}),
        )
        .await;
    let farah = body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            Some(&hr),
            "mutation { createLocation(input: { name: \"Site A\", latitude: 12.9716, longitude: 77.5946, radiusMeters: 200 }) { id } }",
            json!({}),
        )
        .await;
    let site = body["data"]["createLocation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assign = "mutation($e: ID!, $l: ID) { assignEmployeeLocation(input: { employeeId: $e, locationId: $l }) { id assignedLocationId } }";

    // Only HR assigns.
    let writer = issuer.token("tnt_fence", "usr_w", &["employee:read", "employee:write"]);
    let (_, body) = app
        .graphql(Some(&writer), assign, json!({ "e": farah, "l": site }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let (_, body) = app
        .graphql(Some(&hr), assign, json!({ "e": farah, "l": site }))
        .await;
    assert_eq!(
        body["data"]["assignEmployeeLocation"],
        json!({ "id": farah, "assignedLocationId": site }),
        "{body}"
    );

    let token = issuer.token(
        "tnt_fence",
        "usr_farah",
        &["employee:read", "attendance:checkin"],
    );
    // No location and no position: refused, nothing recorded.
    let (_, body) = app
        .graphql(
            Some(&token),
            CHECK_IN,
            json!({ "i": { "punchKey": "f-1", "source": "WEB" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "latitude");
    // No location, a position 1.1 km away: outside the assigned geofence.
    let (_, body) = app
        .graphql(Some(&token), CHECK_IN, json!({ "i": { "punchKey": "f-2", "source": "MOBILE", "latitude": 12.9816, "longitude": 77.5946 } }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "OUTSIDE_GEOFENCE"
    );
    let db = &app.runtime.db;
    let punches = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM punches WHERE employee_id = $1",
            [farah.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(punches, 0);
    // Inside it: recorded, at the assigned location.
    let (_, body) = app
        .graphql(Some(&token), CHECK_IN, json!({ "i": { "punchKey": "f-3", "source": "MOBILE", "latitude": 12.9720, "longitude": 77.5950 } }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["checkIn"]["locationId"], site.as_str());

    // Cleared: a punch without a location or position is accepted again.
    let (_, body) = app
        .graphql(Some(&hr), assign, json!({ "e": farah, "l": null }))
        .await;
    assert_eq!(
        body["data"]["assignEmployeeLocation"],
        json!({ "id": farah, "assignedLocationId": null })
    );
    let (_, body) = app
        .graphql(
            Some(&token),
            CHECK_OUT,
            json!({ "i": { "punchKey": "f-4", "source": "WEB" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["checkOut"]["kind"], "OUT");
}

const CLOSE_PERIODS: &str = "mutation($i: CloseAttendancePeriodsInput!) { closeAttendancePeriods(input: $i) { period closed { employeeId period workedMinutes overtimeMinutes closedBy } skipped { employeeId reason message } } }";

/// HR closes a month of attendance for a department, then for the whole company, in one go:
/// each employee employed in the month is closed (the minutes computed as a single close
/// computes them, one `attendance.period_closed` each through the outbox) or reported skipped
/// with why; a rerun closes nothing twice.
#[tokio::test]
async fn hr_closes_a_month_of_attendance_for_a_department_or_the_company_at_once() {
    use chrono::Datelike;
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let hr = issuer.token(
        &tenant,
        "usr_hr",
        &[
            "employee:read",
            "employee:write",
            "hr:admin",
            "attendance:read",
            "department:write",
        ],
    );
    // Last month: always over, always inside the 90 days a correction may reach back.
    let this_month = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let last_month = this_month.pred_opt().unwrap().with_day(1).unwrap();
    let period = last_month.format("%Y-%m").to_string();
    let hired_on = format!("{}-06-01", last_month.year() - 1);
    let ops = app.create_department(&hr, "Operations").await;
    let sales = app.create_department(&hr, "Sales").await;
    let hire = |number: &str, name: &str, user: &str, department: &str| {
        json!({"employeeNumber": number, "displayName": name, "workEmail": format!("{number}@co.example"),
            "userId": user, "hiredOn": hired_on, "departmentId": department})
    };
    let hana = app.hire(&hr, hire("H-1", "Hana", "usr_hr", &ops)).await;
    let asha = app.hire(&hr, hire("A-1", "Asha", "usr_asha", &ops)).await;
    let ben = app.hire(&hr, hire("B-1", "Ben", "usr_ben", &ops)).await;
    let cara = app.hire(&hr, hire("C-1", "Cara", "usr_cara", &sales)).await;
    // Joins after the month: not part of it.
    let late = {
        let mut input = hire("L-1", "Lee", "usr_lee", &ops);
        input["hiredOn"] = json!(this_month.to_string());
        app.hire(&hr, input).await
    };

    // Asha's corrected 10th: 08:00-19:00, 11 hours, 3 over the 8-hour day (no shift); Cara's
    // 11th: 09:00-17:30, 30 minutes over.
    for (user, day, from, to) in [
        ("usr_asha", 10, "08:00", "19:00"),
        ("usr_cara", 11, "09:00", "17:30"),
    ] {
        let token = issuer.token(&tenant, user, &["attendance:checkin", "attendance:read"]);
        let day = last_month.with_day(day).unwrap();
        let requested = app
            .ok(&token, "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id } }",
                json!({"i": {"day": day.to_string(), "kind": "MISSED_PUNCH", "reason": "badge reader down",
                    "checkIn": format!("{day}T{from}:00Z"), "checkOut": format!("{day}T{to}:00Z")}}))
            .await;
        app.ok(&hr, "mutation($i: DecideAttendanceCorrectionInput!) { decideAttendanceCorrection(input: $i) { status } }",
            json!({"i": {"correctionId": requested["requestAttendanceCorrection"]["id"], "decision": "APPROVE"}}))
            .await;
    }
    // Ben's month is closed alone first.
    app.ok(
        &hr,
        "mutation($i: CloseAttendancePeriodInput!) { closeAttendancePeriod(input: $i) { period } }",
        json!({"i": {"employeeId": ben, "period": period}}),
    )
    .await;

    let sorted = |mut rows: Vec<serde_json::Value>| {
        rows.sort_by(|a, b| a["employeeId"].as_str().cmp(&b["employeeId"].as_str()));
        serde_json::Value::Array(rows)
    };
    let closed_msg = format!("the attendance of {period} is closed");
    let own_msg = "nobody closes their own attendance period";

    // Operations: Asha closed; Ben closed already; Hana is the caller; Lee joined later.
    let data = app
        .ok(
            &hr,
            CLOSE_PERIODS,
            json!({"i": {"period": period, "departmentId": ops}}),
        )
        .await;
    assert_eq!(
        data["closeAttendancePeriods"],
        json!({"period": period,
        "closed": [{"employeeId": asha, "period": period, "workedMinutes": 660, "overtimeMinutes": 180, "closedBy": "usr_hr"}],
        "skipped": sorted(vec![
            json!({"employeeId": ben, "reason": "ATTENDANCE_PERIOD_CLOSED", "message": closed_msg}),
            json!({"employeeId": hana, "reason": "SELF_APPROVAL", "message": own_msg}),
        ])})
    );
    // Rerun: nothing closed twice.
    let data = app
        .ok(
            &hr,
            CLOSE_PERIODS,
            json!({"i": {"period": period, "departmentId": ops}}),
        )
        .await;
    assert_eq!(data["closeAttendancePeriods"]["closed"], json!([]));
    assert_eq!(
        data["closeAttendancePeriods"]["skipped"],
        sorted(vec![
            json!({"employeeId": asha, "reason": "ATTENDANCE_PERIOD_CLOSED", "message": closed_msg}),
            json!({"employeeId": ben, "reason": "ATTENDANCE_PERIOD_CLOSED", "message": closed_msg}),
            json!({"employeeId": hana, "reason": "SELF_APPROVAL", "message": own_msg}),
        ])
    );
    // The whole company: only Cara is still open.
    let data = app
        .ok(&hr, CLOSE_PERIODS, json!({"i": {"period": period}}))
        .await;
    assert_eq!(
        data["closeAttendancePeriods"]["closed"],
        json!([{"employeeId": cara, "period": period, "workedMinutes": 510, "overtimeMinutes": 30, "closedBy": "usr_hr"}])
    );
    assert_eq!(
        data["closeAttendancePeriods"]["skipped"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // This month is not over: everyone employed in it is reported, nothing is closed.
    let this_period = this_month.format("%Y-%m").to_string();
    let data = app
        .ok(
            &hr,
            CLOSE_PERIODS,
            json!({"i": {"period": this_period, "departmentId": ops}}),
        )
        .await;
    let not_over =
        format!("{this_period} is not over yet: its attendance is closed after its last day");
    assert_eq!(
        data["closeAttendancePeriods"],
        json!({"period": this_period, "closed": [],
            "skipped": sorted([&hana, &asha, &ben, &late].into_iter().map(|id|
                json!({"employeeId": id, "reason": "PERIOD_NOT_OVER", "message": not_over})).collect())})
    );

    // Bad input: a bad month, an unknown department, a caller without HR's scope.
    let (_, body) = app
        .graphql(
            Some(&hr),
            CLOSE_PERIODS,
            json!({"i": {"period": "2026-13"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let (_, body) = app
        .graphql(
            Some(&hr),
            CLOSE_PERIODS,
            json!({"i": {"period": period, "departmentId": "no-such-department"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "departmentId");
    let manager = issuer.token(&tenant, "usr_asha", &["attendance:read", "employee:read"]);
    let (_, body) = app
        .graphql(
            Some(&manager),
            CLOSE_PERIODS,
            json!({"i": {"period": period}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    // One event per closed employee-month, through the outbox: Ben's, Asha's, Cara's.
    let db = &app.runtime.db;
    let mut closed: Vec<(String, i64)> = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT envelope FROM employee_outbox WHERE tenant_id = $1 AND event_type = 'attendance.period_closed'",
            [tenant.clone().into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let envelope: serde_json::Value =
                serde_json::from_str(&r.try_get::<String>("", "envelope").unwrap()).unwrap();
            (
                envelope["payload"]["employee_id"].as_str().unwrap().to_owned(),
                envelope["payload"]["overtime_minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    closed.sort();
    let mut expected = vec![(asha, 180), (ben, 0), (cara, 30)];
    expected.sort();
    assert_eq!(closed, expected);
}

/// Concurrent punches are written together (group commit), each checked alone and answered
/// alone: good ones recorded once with one event each, while a second check-in, a punch
/// outside its geofence and a punch key reused by another person are refused with their own
/// error and write nothing; a kiosk repeating a punch gets the same punch every time.
async fn a_rush_with_bad_punches_records_the_good_ones_once(backends: Backends) {
    const PEOPLE: usize = 40;
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, backends).await).await;
    let tenant = format!("tnt_group_{}", uuid::Uuid::new_v4().simple());
    let hr = issuer.token(&tenant, "usr_hr", HR);
    let mut ids = Vec::new();
    for n in 0..PEOPLE {
        ids.push(
            app.hire(
                &hr,
                json!({ "employeeNumber": format!("G-{n}"), "displayName": format!("Group {n}"),
                        "workEmail": format!("group{n}@co.example"), "hiredOn": "2026-01-05",
                        "userId": format!("usr_g_{n}") }),
            )
            .await,
        );
    }
    // Person 0 works at a fenced office.
    let office = app
        .ok(
            &hr,
            "mutation { createLocation(input: { name: \"Office\", latitude: 12.9716, longitude: 77.5946, radiusMeters: 200 }) { id } }",
            json!({}),
        )
        .await["createLocation"]["id"]
        .clone();
    app.ok(
        &hr,
        "mutation($i: AssignEmployeeLocationInput!) { assignEmployeeLocation(input: $i) { id } }",
        json!({ "i": { "employeeId": ids[0], "locationId": office } }),
    )
    .await;

    // Person 1 and person 5 checked in before the rush.
    for n in [1, 5] {
        let token = issuer.token(&tenant, &format!("usr_g_{n}"), &["attendance:checkin"]);
        app.ok(
            &token,
            CHECK_IN,
            json!({ "i": { "punchKey": format!("pre-{n}"), "source": "WEB" } }),
        )
        .await;
    }
    // Everyone else checks in at once; beside them: person 0 from far away (outside the
    // fence), person 1 again, person 2 under person 5's key, person 4's kiosk sending its punch
    // three times.
    let rush: Vec<usize> = (0..PEOPLE).filter(|n| ![1, 5].contains(n)).collect();
    let mut sends: Vec<(usize, serde_json::Value)> = rush
        .iter()
        .map(|&n| {
            let mut input = json!({ "punchKey": format!("g-{n}"), "source": "KIOSK" });
            if n == 0 {
                input["latitude"] = json!(12.9720);
                input["longitude"] = json!(77.5950);
            }
            (n, input)
        })
        .collect();
    let bad = sends.len();
    sends.push((
        0,
        json!({ "punchKey": "g-far", "source": "KIOSK", "latitude": 13.5, "longitude": 77.5946 }),
    ));
    sends.push((1, json!({ "punchKey": "g-1", "source": "KIOSK" })));
    sends.push((2, json!({ "punchKey": "pre-5", "source": "KIOSK" })));
    sends.push((4, json!({ "punchKey": "g-4", "source": "KIOSK" })));
    sends.push((4, json!({ "punchKey": "g-4", "source": "KIOSK" })));
    let answers = futures::future::join_all(sends.iter().map(|(n, input)| {
        let token = issuer.token(&tenant, &format!("usr_g_{n}"), &["attendance:checkin"]);
        let app = &app;
        async move {
            app.graphql(Some(&token), CHECK_IN, json!({ "i": input }))
                .await
                .1
        }
    }))
    .await;

    let reason = |body: &serde_json::Value| {
        body["errors"][0]["extensions"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    // Every good check-in is recorded.
    for (i, &n) in rush.iter().enumerate() {
        assert!(answers[i]["errors"].is_null(), "person {n}: {}", answers[i]);
        assert_eq!(answers[i]["data"]["checkIn"]["punchKey"], format!("g-{n}"));
    }
    // Each bad one is refused with its own reason.
    assert_eq!(reason(&answers[bad]), "OUTSIDE_GEOFENCE");
    assert_eq!(reason(&answers[bad + 1]), "ALREADY_CHECKED_IN");
    assert_eq!(reason(&answers[bad + 2]), "PUNCH_KEY_REUSED");
    // Person 4's repeats: the same punch.
    let four = rush.iter().position(|&n| n == 4).unwrap();
    for repeat in &answers[bad + 3..] {
        assert!(repeat["errors"].is_null(), "{repeat}");
        assert_eq!(
            repeat["data"]["checkIn"]["id"],
            answers[four]["data"]["checkIn"]["id"]
        );
    }

    // One row and one event per recorded punch, nothing of the refused ones.
    let db = &app.runtime.db;
    let column = |sql: String| async move {
        db.query_all(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<String>("", "v").unwrap())
            .collect::<Vec<String>>()
    };
    let mut keys: Vec<String> = rush.iter().map(|n| format!("g-{n}")).collect();
    keys.extend(["pre-1".to_owned(), "pre-5".to_owned()]);
    keys.sort();
    let mut recorded = column(format!(
        "SELECT punch_key AS v FROM punches WHERE tenant_id = '{tenant}'"
    ))
    .await;
    recorded.sort();
    assert_eq!(recorded, keys);
    let mut events: Vec<String> = column(format!(
        "SELECT envelope AS v FROM employee_outbox WHERE tenant_id = '{tenant}' AND event_type = 'attendance.checked_in'"
    ))
    .await
    .iter()
    .map(|envelope| {
        let envelope: serde_json::Value = serde_json::from_str(envelope).unwrap();
        envelope["payload"]["employee_id"].as_str().unwrap().to_owned()
    })
    .collect();
    events.sort();
    let mut people = ids.clone();
    people.sort();
    assert_eq!(events, people, "one event per person's check-in");
}

#[tokio::test]
async fn a_rush_with_bad_punches_records_the_good_ones_once_on_postgres() {
    a_rush_with_bad_punches_records_the_good_ones_once(Backends::Real).await;
}

#[tokio::test]
async fn a_rush_with_bad_punches_records_the_good_ones_once_embedded() {
    a_rush_with_bad_punches_records_the_good_ones_once(Backends::Embedded).await;
}

/// One batch as the punch writer writes it (deterministic: the punches given together, in
/// order): a person's check-out after their check-in of the same batch is accepted, a resync
/// inside the batch returns the punch the batch wrote, and the refused ones (a key of another
/// person, a check-out while out, a user without an employee record) write nothing and do
/// not fail the others.
async fn one_batch_checks_each_punch_against_the_ones_before_it(backends: Backends) {
    use erp_employee::app::attendance::PunchRequest;
    use erp_employee::app::punch_queue::PendingPunch;
    use erp_employee::domain::attendance::PunchKind;
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, backends).await).await;
    let tenant = format!("tnt_batch_{}", uuid::Uuid::new_v4().simple());
    let hr = issuer.token(&tenant, "usr_hr", HR);
    for (n, user) in ["usr_ada", "usr_bo"].iter().enumerate() {
        app.hire(
            &hr,
            json!({ "employeeNumber": format!("B-{n}"), "displayName": user, "workEmail": format!("{user}@co.example"),
                    "hiredOn": "2026-01-05", "userId": user }),
        )
        .await;
    }
    let t = TenantId::from_claim(&tenant);
    let db = &app.runtime.db;
    let now = chrono::Utc::now();
    let mut punches = Vec::new();
    for (user, kind, key) in [
        ("usr_ada", PunchKind::In, "b-1"),
        ("usr_ada", PunchKind::Out, "b-2"),
        ("usr_ada", PunchKind::In, "b-1"),
        ("usr_bo", PunchKind::In, "b-2"),
        ("usr_bo", PunchKind::Out, "b-3"),
        ("usr_bo", PunchKind::In, "b-4"),
        ("usr_ada", PunchKind::Out, "b-5"),
        ("usr_nobody", PunchKind::In, "b-6"),
    ] {
        punches.push(PendingPunch {
            tenant: t.clone(),
            user_id: user.into(),
            at: now,
            request: PunchRequest {
                kind,
                punch_key: key.into(),
                source: "kiosk".into(),
                ip: None,
                point: None,
                location_id: None,
            },
        });
    }
    let outcomes = app.employee.write_punches_together(&punches).await;
    let summary: Vec<String> = outcomes
        .iter()
        .map(|outcome| match outcome {
            Ok(recorded) => format!(
                "{} {} new={} day={:?}",
                recorded.model.punch_key,
                recorded.model.kind,
                recorded.new,
                recorded
                    .day_punches
                    .iter()
                    .map(|p| p.punch_key.as_str())
                    .collect::<Vec<_>>()
            ),
            Err(err) => err.reason().map(|r| r.name()).unwrap_or("?").to_owned(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "b-1 in new=true day=[\"b-1\"]",
            "b-2 out new=true day=[\"b-1\", \"b-2\"]",
            "b-1 in new=false day=[]",
            "PUNCH_KEY_REUSED",
            "NOT_CHECKED_IN",
            "b-4 in new=true day=[\"b-4\"]",
            "NOT_CHECKED_IN",
            "NO_EMPLOYEE_RECORD",
        ]
    );
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT punch_key FROM punches WHERE tenant_id = '{tenant}' ORDER BY punch_key"
            ),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "punch_key").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(rows, ["b-1", "b-2", "b-4"]);
    let events = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT event_type FROM employee_outbox WHERE tenant_id = '{tenant}' AND event_type LIKE 'attendance.%' ORDER BY seq"),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "event_type").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(
        events,
        [
            "attendance.checked_in",
            "attendance.checked_out",
            "attendance.checked_in"
        ]
    );
}

#[tokio::test]
async fn one_batch_checks_each_punch_against_the_ones_before_it_on_postgres() {
    one_batch_checks_each_punch_against_the_ones_before_it(Backends::Real).await;
}

#[tokio::test]
async fn one_batch_checks_each_punch_against_the_ones_before_it_embedded() {
    one_batch_checks_each_punch_against_the_ones_before_it(Backends::Embedded).await;
}

/// The group commit's fall-back (issue 23): when the batch's shared write fails, each punch is
/// written again alone and each caller gets its own answer. One punch of the batch carries a
/// value PostgreSQL refuses to store (a NUL byte in the device's IP: text cannot hold it), so
/// the multi-row INSERT of the batch fails at write time; the other punches are then stored
/// once each with one event each, and the failing one gets the database's refusal, nothing of
/// it written. (PostgreSQL only: SQLite stores the NUL byte.)
#[tokio::test]
async fn a_batch_whose_write_fails_is_written_punch_by_punch_and_only_the_bad_one_fails() {
    use erp_employee::app::attendance::PunchRequest;
    use erp_employee::app::punch_queue::PendingPunch;
    use erp_employee::domain::attendance::PunchKind;
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let tenant = format!("tnt_fallback_{}", uuid::Uuid::new_v4().simple());
    let hr = issuer.token(&tenant, "usr_hr", HR);
    let users = ["usr_ana", "usr_ben", "usr_cy"];
    for (n, user) in users.iter().enumerate() {
        app.hire(
            &hr,
            json!({ "employeeNumber": format!("F-{n}"), "displayName": user, "workEmail": format!("{user}@co.example"),
                    "hiredOn": "2026-01-05", "userId": user }),
        )
        .await;
    }
    let t = TenantId::from_claim(&tenant);
    let now = chrono::Utc::now();
    let punches: Vec<PendingPunch> = users
        .iter()
        .map(|user| PendingPunch {
            tenant: t.clone(),
            user_id: (*user).into(),
            at: now,
            request: PunchRequest {
                kind: PunchKind::In,
                punch_key: format!("f-{user}"),
                source: "kiosk".into(),
                ip: Some(if *user == "usr_ben" {
                    "203.0.113.7\0".into()
                } else {
                    "203.0.113.7".into()
                }),
                point: None,
                location_id: None,
            },
        })
        .collect();
    let outcomes = app.employee.write_punches_together(&punches).await;
    assert_eq!(outcomes.len(), 3);
    for (outcome, user) in outcomes.iter().zip(users) {
        match (user, outcome) {
            ("usr_ben", Err(err)) => {
                assert_eq!(err.code(), erp_kit::ErrorCode::Internal, "{err:?}");
                assert!(format!("{err:?}").contains("0x00"), "{err:?}");
            }
            ("usr_ben", Ok(recorded)) => panic!("the bad punch was stored: {recorded:?}"),
            (_, Ok(recorded)) => {
                assert!(recorded.new);
                assert_eq!(recorded.model.punch_key, format!("f-{user}"));
            }
            (_, Err(err)) => panic!("{user}'s punch failed with the bad one: {err:?}"),
        }
    }
    let db = &app.runtime.db;
    let column = |sql: String| async move {
        db.query_all(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<String>("", "v").unwrap())
            .collect::<Vec<String>>()
    };
    assert_eq!(
        column(format!(
            "SELECT punch_key AS v FROM punches WHERE tenant_id = '{tenant}' ORDER BY punch_key"
        ))
        .await,
        ["f-usr_ana", "f-usr_cy"]
    );
    let events = column(format!(
        "SELECT envelope AS v FROM employee_outbox WHERE tenant_id = '{tenant}' AND event_type = 'attendance.checked_in' ORDER BY seq"
    ))
    .await;
    assert_eq!(events.len(), 2, "{events:?}");
    // Ben sends his punch again without the bad byte: recorded, the others untouched.
    let mut again = punches[1].clone();
    again.request.ip = Some("203.0.113.7".into());
    let retried = app.employee.write_punches_together(&[again]).await;
    assert!(matches!(&retried[0], Ok(r) if r.new), "{retried:?}");
    assert_eq!(
        column(format!(
            "SELECT punch_key AS v FROM punches WHERE tenant_id = '{tenant}' ORDER BY punch_key"
        ))
        .await,
        ["f-usr_ana", "f-usr_ben", "f-usr_cy"]
    );
}
