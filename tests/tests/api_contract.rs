//! The data contract a client builds on, subgraph by subgraph, through the real HTTP and
//! WebSocket surface on the real services: one `DateTime` serialisation (RFC 3339, UTC,
//! milliseconds, `Z`) in queries, mutations and subscriptions alike; calendar days as `Date`;
//! closed sets as enums; money as `Money`; foreign keys with their objects beside them; every
//! mutation on one `input:` argument (the older forms deprecated but working); a malformed
//! scalar value refused as BAD_USER_INPUT naming its field.

use std::time::Duration;

use chrono::{Datelike, Duration as Days, Utc};
use erp_identity::domain::totp::code_at;
use erp_tests::identity::{now_secs, IdentityApp, ADMIN_PASSWORD};
use erp_tests::pmo::{PmoApp, Store};
use erp_tests::router::{open_websocket, WsClient, WsEvent};
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

/// How long a subscriber waits for an event (not a timing assertion: a debug build on a busy
/// machine).
const WAIT: Duration = Duration::from_secs(30);

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "hr:admin",
    "hr:read",
    "attendance:read",
    "leave:approve",
    "okr:read",
    "okr:write",
];
const WORKER: &[&str] = &[
    "employee:read",
    "attendance:checkin",
    "leave:apply",
    "okr:read",
    "okr:write",
];

/// An instant as the API writes every one: `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn assert_instant(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z') && &text[19..20] == ".", "{text}");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_millis()
}

/// The one error's code and `extensions.field`.
fn bad_field(body: &Value) -> (Vec<String>, Value) {
    (
        error_codes(body),
        body["errors"][0]["extensions"]["field"].clone(),
    )
}

async fn hire(app: &EmployeeApp, hr: &str, number: &str, user: &str) -> String {
    app.hire(
        hr,
        json!({ "employeeNumber": number, "displayName": number, "workEmail": format!("{user}@co.example"),
                "hiredOn": "2026-01-05", "dateOfBirth": "1990-02-03", "userId": user }),
    )
    .await
}

/// A graphql-transport-ws connection to the subgraph, initialised with `token`.
async fn websocket(app: &EmployeeApp, token: &str) -> WsClient {
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let mut socket = open_websocket(&http, &app.url("/graphql/ws"), None)
        .await
        .unwrap_or_else(|refused| panic!("WebSocket refused: {refused:?}"));
    socket
        .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(
        socket.next(WAIT).await,
        WsEvent::Message(json!({ "type": "connection_ack" }))
    );
    socket
}

/// Reads events until one of subscription `id` concerns `employee_id`; returns its data.
async fn event_of(
    socket: &mut WsClient,
    pending: &mut Vec<Value>,
    id: &str,
    field: &str,
    employee_id: &str,
) -> Value {
    loop {
        if let Some(at) = pending
            .iter()
            .position(|m| m["id"] == id && m["payload"]["data"][field]["employeeId"] == employee_id)
        {
            let message = pending.remove(at);
            assert!(message["payload"]["errors"].is_null(), "{message}");
            return message["payload"]["data"][field].clone();
        }
        match socket.next(WAIT).await {
            WsEvent::Message(message) => {
                assert_eq!(message["type"], "next", "{message}");
                pending.push(message);
            }
            other => panic!("{id}: expected an event, got {other:?}"),
        }
    }
}

const CHECK_IN: &str = "mutation($i: PunchInput!) { checkIn(input: $i) { id kind origin source at locationId location { name radiusMeters } } }";
const BOARD: &str = "subscription { attendanceBoard { punchId employeeId punchKind kind occurredAt at employee { displayName } } }";
const STATUS_BOARD: &str = "subscription { attendanceStatusBoard { employeeId change kind occurredAt at day status checkedIn employee { displayName } } }";

#[tokio::test]
async fn employee_instants_days_enums_and_references() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_contract", "usr_hr", HR);
    let asha = hire(&app, &hr, "C-1", "usr_asha").await;
    let probe = hire(&app, &hr, "C-2", "usr_probe").await;
    let asha_token = issuer.token("tnt_contract", "usr_asha", WORKER);
    let probe_token = issuer.token("tnt_contract", "usr_probe", WORKER);

    // Days and instants of the record; the user reference and, by federation, back.
    let data = app
        .ok(
            &hr,
            "query($id: ID!) { employee(id: $id) { hiredOn dateOfBirth createdAt userId user { id employee { id } } } }",
            json!({ "id": asha }),
        )
        .await;
    let record = &data["employee"];
    assert_eq!(record["hiredOn"], "2026-01-05");
    assert_eq!(record["dateOfBirth"], "1990-02-03");
    assert_instant(&record["createdAt"]);
    assert_eq!(
        record["user"],
        json!({ "id": "usr_asha", "employee": { "id": asha } })
    );
    // What the router asks when a client reads `me { employee }`: the User entity.
    let data = app
        .ok(
            &hr,
            r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id employee { displayName } } } }"#,
            json!({ "r": [{ "__typename": "User", "id": "usr_asha" }, { "__typename": "User", "id": "usr_nobody" }] }),
        )
        .await;
    assert_eq!(
        data["_entities"],
        json!([{ "id": "usr_asha", "employee": { "displayName": "C-1" } }, { "id": "usr_nobody", "employee": null }])
    );

    // A shift's times of day and time zone; its assignment's day and employee.
    let data = app
        .ok(
            &hr,
            "mutation { createShift(input: { name: \"Day\", startTime: \"09:00\", endTime: \"18:00\", graceMinutes: 10, workingDays: [MONDAY, FRIDAY], timeZone: \"Asia/Kolkata\" }) { id startTime endTime timeZone } }",
            json!({}),
        )
        .await;
    let shift = &data["createShift"];
    assert_eq!(
        (&shift["startTime"], &shift["endTime"], &shift["timeZone"]),
        (&json!("09:00"), &json!("18:00"), &json!("Asia/Kolkata"))
    );
    let data = app
        .ok(
            &hr,
            "mutation($s: ID!, $e: ID!) { assignShift(input: { shiftId: $s, employeeId: $e, effectiveFrom: \"2026-01-05\" }) { effectiveFrom employeeId employee { displayName } department { id } } }",
            json!({ "s": shift["id"], "e": probe }),
        )
        .await;
    assert_eq!(
        data["assignShift"],
        json!({ "effectiveFrom": "2026-01-05", "employeeId": probe, "employee": { "displayName": "C-2" }, "department": null })
    );

    // Malformed values are refused before any resolver runs, as BAD_USER_INPUT naming the field.
    for (query, variables, field) in [
        ("{ myAttendance(day: \"2026-1-5\") { day } }", json!({}), "day"),
        (
            "query($d: Date) { myAttendance(day: $d) { day } }",
            json!({ "d": "05/01/2026" }),
            "day",
        ),
        (
            CHECK_IN,
            json!({ "i": { "punchKey": "k-bad", "source": "FAX" } }),
            "source",
        ),
        (
            "mutation { createShift(input: { name: \"Mars\", startTime: \"9am\", endTime: \"18:00\", graceMinutes: 10, workingDays: [MONDAY], timeZone: \"UTC\" }) { id } }",
            json!({}),
            "startTime",
        ),
        (
            "mutation { createShift(input: { name: \"Mars\", startTime: \"09:00\", endTime: \"18:00\", graceMinutes: 10, workingDays: [MONDAY], timeZone: \"Mars/Olympus_Mons\" }) { id } }",
            json!({}),
            "timeZone",
        ),
    ] {
        let token = if field == "startTime" || field == "timeZone" {
            &hr
        } else {
            &asha_token
        };
        let (_, body) = app.graphql(Some(token), query, variables).await;
        assert_eq!(
            bad_field(&body),
            (vec!["BAD_USER_INPUT".to_owned()], json!(field)),
            "{query}: {body}"
        );
    }

    // The live boards, proven live by a probe punch before Asha's.
    let mut socket = websocket(&app, &hr).await;
    for (id, query) in [("board", BOARD), ("status", STATUS_BOARD)] {
        socket
            .send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }
    let mut pending = Vec::new();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.ok(
        &probe_token,
        CHECK_IN,
        json!({ "i": { "punchKey": "probe-1", "source": "WEB" } }),
    )
    .await;
    event_of(
        &mut socket,
        &mut pending,
        "board",
        "attendanceBoard",
        &probe,
    )
    .await;
    event_of(
        &mut socket,
        &mut pending,
        "status",
        "attendanceStatusBoard",
        &probe,
    )
    .await;

    let office = app
        .ok(
            &hr,
            "mutation { createLocation(input: { name: \"HQ\", latitude: 12.9716, longitude: 77.5946, radiusMeters: 200 }) { id } }",
            json!({}),
        )
        .await["createLocation"]["id"]
        .clone();
    let data = app
        .ok(
            &asha_token,
            CHECK_IN,
            json!({ "i": { "punchKey": "kiosk-1", "source": "KIOSK", "latitude": 12.9717, "longitude": 77.5947, "locationId": office } }),
        )
        .await;
    let punch = &data["checkIn"];
    assert_eq!(
        (&punch["kind"], &punch["origin"], &punch["source"]),
        (&json!("IN"), &json!("KIOSK"), &json!("kiosk"))
    );
    assert_eq!(punch["locationId"], office);
    assert_eq!(
        punch["location"],
        json!({ "name": "HQ", "radiusMeters": 200 })
    );
    let punched_at = assert_instant(&punch["at"]);

    // The subscription writes the instant exactly as the mutation did.
    let event = event_of(&mut socket, &mut pending, "board", "attendanceBoard", &asha).await;
    assert_eq!(
        event,
        json!({ "punchId": punch["id"], "employeeId": asha, "punchKind": "IN", "kind": "in",
                "occurredAt": punch["at"], "at": punched_at, "employee": { "displayName": "C-1" } })
    );
    let update = event_of(
        &mut socket,
        &mut pending,
        "status",
        "attendanceStatusBoard",
        &asha,
    )
    .await;
    let today = Utc::now().date_naive();
    assert_eq!(
        update,
        json!({ "employeeId": asha, "change": "IN", "kind": "in", "occurredAt": punch["at"],
                "at": punched_at, "day": today.to_string(), "status": update["status"], "checkedIn": true,
                "employee": { "displayName": "C-1" } })
    );
    let data = app
        .ok(
            &asha_token,
            "{ myAttendance { day status firstIn punches { at kind origin } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["myAttendance"],
        json!({ "day": today.to_string(), "status": update["status"], "firstIn": punch["at"],
                "punches": [{ "at": punch["at"], "kind": "IN", "origin": "KIOSK" }] })
    );

    // A correction: times given with an offset come back in UTC; one mutation decides.
    let yesterday = today - Days::days(1);
    let data = app
        .ok(
            &asha_token,
            "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id day checkIn checkOut requestedAt } }",
            json!({ "i": { "day": yesterday.to_string(), "kind": "MISSED_PUNCH", "reason": "forgot my badge",
                           "checkIn": format!("{yesterday}T10:00:00+05:30"), "checkOut": format!("{yesterday}T17:00:00.5Z") } }),
        )
        .await;
    let correction = &data["requestAttendanceCorrection"];
    assert_eq!(correction["day"], yesterday.to_string());
    assert_eq!(correction["checkIn"], format!("{yesterday}T04:30:00.000Z"));
    assert_eq!(correction["checkOut"], format!("{yesterday}T17:00:00.500Z"));
    assert_instant(&correction["requestedAt"]);
    let data = app
        .ok(
            &hr,
            "mutation($i: DecideAttendanceCorrectionInput!) { decideAttendanceCorrection(input: $i) { status decidedBy decider { id } decidedAt decisionNote } }",
            json!({ "i": { "correctionId": correction["id"], "decision": "APPROVE", "note": "fine by me" } }),
        )
        .await;
    let decided = &data["decideAttendanceCorrection"];
    assert_eq!(
        (
            &decided["status"],
            &decided["decidedBy"],
            &decided["decider"]
        ),
        (
            &json!("APPROVED"),
            &json!("usr_hr"),
            &json!({ "id": "usr_hr" })
        )
    );
    assert_eq!(decided["decisionNote"], "fine by me");
    assert_instant(&decided["decidedAt"]);
    let update = event_of(
        &mut socket,
        &mut pending,
        "status",
        "attendanceStatusBoard",
        &asha,
    )
    .await;
    assert_eq!(
        (&update["change"], &update["kind"], &update["day"]),
        (
            &json!("CORRECTION"),
            &json!("correction"),
            &json!(yesterday.to_string())
        )
    );
}

#[tokio::test]
async fn employee_mutations_take_one_input() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_inputs", "usr_hr", HR);
    let eli = hire(&app, &hr, "I-1", "usr_eli").await;
    let maya = hire(&app, &hr, "I-2", "usr_maya").await;
    let eli_token = issuer.token("tnt_inputs", "usr_eli", WORKER);

    // Money: an amount of a currency, at most its decimals; the deprecated fields agree.
    const PAY: &str = "mutation($i: UpdateEmployeeCompensationInput!) { updateEmployeeCompensation(input: $i) { compensation { salary { amount currency } annualSalary currency } } }";
    let data = app
        .ok(
            &hr,
            PAY,
            json!({ "i": { "employeeId": eli, "salary": { "amount": "85000.5", "currency": "EUR" } } }),
        )
        .await;
    assert_eq!(
        data["updateEmployeeCompensation"]["compensation"],
        json!({ "salary": { "amount": "85000.50", "currency": "EUR" }, "annualSalary": "85000.50", "currency": "EUR" })
    );
    for (salary, field) in [
        (json!({ "amount": "1.5", "currency": "JPY" }), "amount"),
        (json!({ "amount": "-10", "currency": "EUR" }), "amount"),
        (json!({ "amount": "1e5", "currency": "EUR" }), "amount"),
        (json!({ "amount": "100", "currency": "XYZ" }), "currency"),
    ] {
        let (_, body) = app
            .graphql(
                Some(&hr),
                PAY,
                json!({ "i": { "employeeId": eli, "salary": salary } }),
            )
            .await;
        assert_eq!(
            bad_field(&body),
            (vec!["BAD_USER_INPUT".to_owned()], json!(field)),
            "{salary}: {body}"
        );
    }

    // Leave: a weekend as days of the week; every decision through one input.
    let leave_type = app
        .ok(
            &hr,
            "mutation { createLeaveType(input: { code: \"VAC\", name: \"Vacation\" }) { id } }",
            json!({}),
        )
        .await["createLeaveType"]["id"]
        .clone();
    let data = app
        .ok(
            &hr,
            "mutation($t: ID!) { createLeavePolicy(input: { name: \"Gulf\", accrualFrequency: MONTHLY, weekend: [SATURDAY, FRIDAY], lines: [{ leaveTypeId: $t, daysPerPeriod: 1.5 }] }) { id weekend weekendDays lines { leaveType { id } } } }",
            json!({ "t": leave_type }),
        )
        .await;
    let policy = &data["createLeavePolicy"];
    assert_eq!(policy["weekend"], json!(["FRIDAY", "SATURDAY"]));
    assert_eq!(policy["weekendDays"], json!([5, 6]));
    assert_eq!(
        policy["lines"],
        json!([{ "leaveType": { "id": leave_type } }])
    );
    let data = app
        .ok(
            &hr,
            "mutation($e: ID!, $p: ID!) { assignLeavePolicy(input: { employeeId: $e, policyId: $p }) { policy { id } holidayLocation { id } } }",
            json!({ "e": eli, "p": policy["id"] }),
        )
        .await;
    assert_eq!(
        data["assignLeavePolicy"],
        json!({ "policy": { "id": policy["id"] }, "holidayLocation": null })
    );
    app.ok(
        &hr,
        "mutation($e: ID!, $t: ID!) { adjustLeaveBalance(input: { employeeId: $e, leaveTypeId: $t, days: 10, reason: \"opening\" }) { id } }",
        json!({ "e": eli, "t": leave_type }),
    )
    .await;
    let data = app
        .ok(
            &eli_token,
            "{ leaveLedger { nodes { kind effectiveOn createdAt createdBy creator { id } employee { id } leaveType { code } } } }",
            json!({}),
        )
        .await;
    let entry = &data["leaveLedger"]["nodes"][0];
    assert_eq!(
        (
            &entry["kind"],
            &entry["creator"],
            &entry["employee"],
            &entry["leaveType"]
        ),
        (
            &json!("ADJUSTMENT"),
            &json!({ "id": "usr_hr" }),
            &json!({ "id": eli }),
            &json!({ "code": "VAC" })
        )
    );
    assert_eq!(entry["effectiveOn"], Utc::now().date_naive().to_string());
    assert_instant(&entry["createdAt"]);

    let monday = {
        let today = Utc::now().date_naive();
        today + Days::days(14 - i64::from(today.weekday().num_days_from_monday()))
    };
    let request = |offset: i64| {
        let day = (monday + Days::days(offset)).to_string();
        json!({ "i": { "leaveTypeId": leave_type, "startDate": day, "endDate": day } })
    };
    const REQUEST: &str =
        "mutation($i: RequestLeaveInput!) { requestLeave(input: $i) { id status startDate endDate createdAt } }";
    const DECIDE: &str = "mutation($i: DecideLeaveRequestInput!) { decideLeaveRequest(input: $i) { status decisionComment decidedAt } }";
    let first = app.ok(&eli_token, REQUEST, request(0)).await["requestLeave"].clone();
    assert_eq!(first["status"], "PENDING_HR", "no manager: HR decides");
    assert_eq!(first["startDate"], monday.to_string());
    assert_instant(&first["createdAt"]);
    let (_, body) = app
        .graphql(
            Some(&hr),
            DECIDE,
            json!({ "i": { "requestId": first["id"], "decision": "REJECT" } }),
        )
        .await;
    assert_eq!(
        bad_field(&body),
        (vec!["BAD_USER_INPUT".to_owned()], json!("comment")),
        "a rejection says why: {body}"
    );
    let data = app
        .ok(
            &hr,
            DECIDE,
            json!({ "i": { "requestId": first["id"], "decision": "REJECT", "comment": "team offsite" } }),
        )
        .await;
    assert_eq!(data["decideLeaveRequest"]["status"], "REJECTED");
    assert_eq!(
        data["decideLeaveRequest"]["decisionComment"],
        "team offsite"
    );
    assert_instant(&data["decideLeaveRequest"]["decidedAt"]);
    let second = app.ok(&eli_token, REQUEST, request(1)).await["requestLeave"].clone();
    let data = app
        .ok(
            &hr,
            DECIDE,
            json!({ "i": { "requestId": second["id"], "decision": "APPROVE" } }),
        )
        .await;
    assert_eq!(data["decideLeaveRequest"]["status"], "APPROVED");
    let data = app
        .ok(
            &eli_token,
            "mutation($i: CancelLeaveRequestInput!) { cancelLeaveRequest(input: $i) { status cancelledAt } }",
            json!({ "i": { "requestId": second["id"] } }),
        )
        .await;
    assert_eq!(data["cancelLeaveRequest"]["status"], "CANCELLED");
    assert_instant(&data["cancelLeaveRequest"]["cancelledAt"]);

    let month = Utc::now().format("%Y-%m").to_string();
    let data = app
        .ok(
            &hr,
            "mutation($p: String!) { postLeaveAccrual(input: { period: $p }) { period entriesCreated } }",
            json!({ "p": month }),
        )
        .await;
    assert_eq!(
        data["postLeaveAccrual"],
        json!({ "period": month, "entriesCreated": 1 })
    );
    let last_year = Utc::now().year() - 1;
    let data = app
        .ok(
            &hr,
            "mutation($y: Int!) { closeLeaveYearBalances(input: { year: $y }) { year balancesClosed } }",
            json!({ "y": last_year }),
        )
        .await;
    assert_eq!(
        data["closeLeaveYearBalances"],
        json!({ "year": last_year, "balancesClosed": 0 })
    );

    // The reporting line and OKRs.
    let data = app
        .ok(
            &hr,
            "mutation($i: ChangeEmployeeManagerInput!) { changeEmployeeManager(input: $i) { manager { id } } }",
            json!({ "i": { "employeeId": eli, "managerId": maya } }),
        )
        .await;
    assert_eq!(
        data["changeEmployeeManager"]["manager"],
        json!({ "id": maya })
    );
    let today = Utc::now().date_naive();
    const OBJECTIVE: &str = "mutation($i: CreateObjectiveInput!) { createObjective(input: $i) { id periodStart periodEnd } }";
    let period = |title: &str| json!({ "i": { "title": title, "periodStart": today.to_string(), "periodEnd": (today + Days::days(90)).to_string() } });
    let mut grow = period("Grow");
    grow["i"]["ownerId"] = json!(maya);
    let parent = app.ok(&hr, OBJECTIVE, grow).await["createObjective"].clone();
    let objective = app.ok(&eli_token, OBJECTIVE, period("Ship")).await["createObjective"].clone();
    assert_eq!(objective["periodStart"], today.to_string());
    let data = app
        .ok(
            &eli_token,
            "mutation($i: ChangeObjectiveAlignmentInput!) { changeObjectiveAlignment(input: $i) { parent { id } } }",
            json!({ "i": { "objectiveId": objective["id"], "parentId": parent["id"] } }),
        )
        .await;
    assert_eq!(
        data["changeObjectiveAlignment"]["parent"],
        json!({ "id": parent["id"] })
    );
    let result = app
        .ok(
            &eli_token,
            "mutation($i: CreateKeyResultInput!) { createKeyResult(input: $i) { id currentValue } }",
            json!({ "i": { "objectiveId": objective["id"], "title": "Releases", "startValue": 0, "targetValue": 10 } }),
        )
        .await["createKeyResult"]
        .clone();
    assert_eq!(result["currentValue"], 0.0);
    let data = app
        .ok(
            &eli_token,
            "mutation($i: RecordKeyResultCheckInInput!) { recordKeyResultCheckIn(input: $i) { keyResult { id currentValue progress } checkIn { value note at author authorUser { id } } } }",
            json!({ "i": { "keyResultId": result["id"], "value": 4, "note": "four out" } }),
        )
        .await;
    let payload = &data["recordKeyResultCheckIn"];
    assert_eq!(
        payload["keyResult"],
        json!({ "id": result["id"], "currentValue": 4.0, "progress": 0.4 })
    );
    assert_eq!(
        (
            &payload["checkIn"]["value"],
            &payload["checkIn"]["note"],
            &payload["checkIn"]["author"],
            &payload["checkIn"]["authorUser"]
        ),
        (
            &json!(4.0),
            &json!("four out"),
            &json!("usr_eli"),
            &json!({ "id": "usr_eli" })
        )
    );
    assert_instant(&payload["checkIn"]["at"]);
}

#[tokio::test]
async fn identity_logins_and_accounts_take_one_input() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, admin_email) = app.bootstrap().await;
    const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { mfaToken enrollmentRequired mfaMethods methods } }";
    let login =
        |password: &'static str| json!({ "i": { "email": admin_email, "password": password } });
    let (_, body) = app.graphql(None, LOGIN, login(ADMIN_PASSWORD)).await;
    let challenge = body["data"]["login"].clone();
    assert_eq!(
        (
            &challenge["enrollmentRequired"],
            &challenge["mfaMethods"],
            &challenge["methods"]
        ),
        (&json!(true), &json!([]), &json!([])),
        "{body}"
    );
    // Enrolment and login, each step on one input (the shared helper takes this path too).
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: MfaTokenInput!) { startTotpEnrollment(input: $i) { secret } }",
            json!({ "i": { "mfaToken": challenge["mfaToken"] } }),
        )
        .await;
    let secret = body["data"]["startTotpEnrollment"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let code = code_at(&secret, now_secs()).unwrap();
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: MfaCodeInput!) { completeTotpEnrollment(input: $i) { accessToken refreshToken recoveryCodes } }",
            json!({ "i": { "mfaToken": challenge["mfaToken"], "code": code } }),
        )
        .await;
    let enrolled = body["data"]["completeTotpEnrollment"].clone();
    let admin = enrolled["accessToken"].as_str().unwrap().to_owned();
    let recovery = enrolled["recoveryCodes"][0].clone();

    let (_, body) = app.graphql(None, LOGIN, login(ADMIN_PASSWORD)).await;
    let challenge = body["data"]["login"].clone();
    assert_eq!(
        (
            &challenge["enrollmentRequired"],
            &challenge["mfaMethods"],
            &challenge["methods"]
        ),
        (
            &json!(false),
            &json!(["TOTP", "RECOVERY_CODE"]),
            &json!(["totp", "recovery_code"])
        ),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: MfaCodeInput!) { completeTotpLogin(input: $i) { accessToken } }",
            json!({ "i": { "mfaToken": challenge["mfaToken"], "code": "000000" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: MfaCodeInput!) { completeRecoveryCodeLogin(input: $i) { refreshToken } }",
            json!({ "i": { "mfaToken": challenge["mfaToken"], "code": recovery } }),
        )
        .await;
    let refresh = body["data"]["completeRecoveryCodeLogin"]["refreshToken"].clone();
    assert!(refresh.is_string(), "{body}");

    // Sessions.
    const REFRESH: &str = "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { refreshToken expiresIn } }";
    let (_, body) = app
        .graphql(None, REFRESH, json!({ "i": { "refreshToken": refresh } }))
        .await;
    let renewed = body["data"]["refreshSession"]["refreshToken"].clone();
    assert!(renewed.is_string() && renewed != refresh, "{body}");
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: EndSessionInput!) { endSession(input: $i) }",
            json!({ "i": { "refreshToken": renewed } }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "endSession": true } }));
    let (_, body) = app
        .graphql(None, REFRESH, json!({ "i": { "refreshToken": renewed } }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");

    // Accounts: status as an enum, instants in the one format, one input per mutation.
    let roles = app
        .graphql(
            Some(&admin),
            "{ roles(first: 10) { nodes { id name } } }",
            json!({}),
        )
        .await
        .1["data"]["roles"]["nodes"]
        .clone();
    let role = |name: &str| {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let email = format!("contract-{}@acme.example", uuid::Uuid::new_v4().simple());
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id status createdAt } } }",
            json!({ "i": { "email": email, "name": "Cleo", "roleId": role("Employee") } }),
        )
        .await;
    let invited = body["data"]["inviteUser"].clone();
    assert_eq!(invited["user"]["status"], "INVITED", "{body}");
    assert_instant(&invited["user"]["createdAt"]);
    let user = invited["user"]["id"].clone();
    let (_, body) = app
        .graphql(
            None,
            "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) }",
            json!({ "i": { "inviteToken": invited["inviteToken"], "password": "a long enough password" } }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "acceptInvitation": true } }));
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($i: ChangeUserRoleInput!) { changeUserRole(input: $i) { status role { name } } }",
            json!({ "i": { "userId": user, "roleId": role("Manager") } }),
        )
        .await;
    assert_eq!(
        body["data"]["changeUserRole"],
        json!({ "status": "ACTIVE", "role": { "name": "Manager" } }),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($i: DeactivateUserAccountInput!) { deactivateUserAccount(input: $i) { status } }",
            json!({ "i": { "userId": user } }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "deactivateUserAccount": { "status": "DEACTIVATED" } } })
    );
    let (_, body) = app
        .graphql(Some(&admin), "{ me { status createdAt } }", json!({}))
        .await;
    assert_eq!(body["data"]["me"]["status"], "ACTIVE", "{body}");
    assert_instant(&body["data"]["me"]["createdAt"]);
}

const PROJECT_LEAD: &[&str] = &["project:read", "project:write", "task:start", "task:log"];
const APPROVER: &[&str] = &["project:read", "timesheet:approve"];

async fn pmo_projects_tasks_and_weeks_take_one_input(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = erp_tests::pmo::tenant();
    let lead = issuer.token(&t, "usr_lead", PROJECT_LEAD);
    let approver = issuer.token(&t, "usr_approver", APPROVER);

    // Budgets are Money: integer minor units, the currency's decimals.
    const CREATE: &str =
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { id budget { amount currency } createdAt } }";
    let data = app
        .ok(
            &lead,
            CREATE,
            json!({ "i": { "name": "Yen", "billable": true, "totalBudget": { "amount": "12500", "currency": "JPY" } } }),
        )
        .await;
    assert_eq!(
        data["createProject"]["budget"],
        json!({ "amount": "12500", "currency": "JPY" })
    );
    assert_instant(&data["createProject"]["createdAt"]);
    let data = app
        .ok(
            &lead,
            CREATE,
            json!({ "i": { "name": "Euro", "billable": true, "totalBudget": { "amount": "12500.5", "currency": "EUR" } } }),
        )
        .await;
    let project = data["createProject"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createProject"]["budget"],
        json!({ "amount": "12500.50", "currency": "EUR" })
    );
    for (input, field) in [
        (
            json!({ "name": "Both", "billable": true, "totalBudget": { "amount": "1", "currency": "EUR" }, "budget": "1", "currency": "EUR" }),
            "totalBudget",
        ),
        (
            json!({ "name": "Fils", "billable": true, "totalBudget": { "amount": "1.255", "currency": "KWD" } }),
            "totalBudget",
        ),
        (
            json!({ "name": "Cents", "billable": true, "totalBudget": { "amount": "1.5", "currency": "JPY" } }),
            "amount",
        ),
    ] {
        let (_, body) = app.graphql(&lead, CREATE, json!({ "i": input })).await;
        assert_eq!(
            bad_field(&body),
            (vec!["BAD_USER_INPUT".to_owned()], json!(field)),
            "{input}: {body}"
        );
    }

    // Members, boards, tasks and their column, custom fields, comments: one input each.
    let data = app
        .ok(
            &lead,
            "mutation($p: ID!) { setProjectMembership(input: { projectId: $p, userId: \"usr_dev\", role: CONTRIBUTOR }) { members { userId user { id } role } } }",
            json!({ "p": project }),
        )
        .await;
    assert!(
        data["setProjectMembership"]["members"]
            .as_array()
            .unwrap()
            .contains(
                &json!({ "userId": "usr_dev", "user": { "id": "usr_dev" }, "role": "CONTRIBUTOR" })
            ),
        "{data}"
    );
    let (board, columns) = app.board(&lead, &project).await;
    let task = app.task(&lead, &project, "Write it", json!({})).await;
    let blocker = app.task(&lead, &project, "Plan it", json!({})).await;
    let data = app
        .ok(
            &lead,
            "mutation($i: MoveTaskToColumnInput!) { moveTaskToColumn(input: $i) { status columnId column { id name status } } }",
            json!({ "i": { "taskId": task, "boardId": board, "columnId": columns[1] } }),
        )
        .await;
    assert_eq!(
        data["moveTaskToColumn"],
        json!({ "status": "IN_PROGRESS", "columnId": columns[1], "column": { "id": columns[1], "name": "Doing", "status": "IN_PROGRESS" } })
    );
    let data = app
        .ok(
            &lead,
            "mutation($i: CreateTaskDependencyInput!) { createTaskDependency(input: $i) { blockedBy { id } } }",
            json!({ "i": { "taskId": task, "blockedById": blocker } }),
        )
        .await;
    assert_eq!(
        data["createTaskDependency"]["blockedBy"],
        json!([{ "id": blocker }])
    );
    let data = app
        .ok(
            &lead,
            "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { customField { id name kind options } project { customFields { name } } } }",
            json!({ "i": { "projectId": project, "name": "Due", "kind": "DATE" } }),
        )
        .await;
    let payload = &data["createCustomField"];
    assert_eq!(
        (
            &payload["customField"]["name"],
            &payload["customField"]["kind"],
            &payload["project"]["customFields"]
        ),
        (&json!("Due"), &json!("DATE"), &json!([{ "name": "Due" }]))
    );
    let data = app
        .ok(
            &lead,
            "mutation($i: SetTaskCustomFieldValueInput!) { setTaskCustomFieldValue(input: $i) { customFields { field { name } value } } }",
            json!({ "i": { "taskId": task, "fieldId": payload["customField"]["id"], "value": "2026-02-01" } }),
        )
        .await;
    assert_eq!(
        data["setTaskCustomFieldValue"]["customFields"],
        json!([{ "field": { "name": "Due" }, "value": "2026-02-01" }])
    );
    let comment = app
        .ok(
            &lead,
            "mutation($i: CreateCommentInput!) { createComment(input: $i) { id authorId author { id } createdAt editedAt } }",
            json!({ "i": { "taskId": task, "body": "first" } }),
        )
        .await["createComment"]
        .clone();
    assert_eq!(comment["author"], json!({ "id": "usr_lead" }));
    assert_instant(&comment["createdAt"]);
    assert_eq!(comment["editedAt"], Value::Null);
    let data = app
        .ok(
            &lead,
            "mutation($i: UpdateCommentInput!) { updateComment(input: $i) { body editedAt } }",
            json!({ "i": { "commentId": comment["id"], "body": "second" } }),
        )
        .await;
    assert_eq!(data["updateComment"]["body"], "second");
    assert_instant(&data["updateComment"]["editedAt"]);

    // Sprints: days as Date, instants as DateTime.
    let today = Utc::now().date_naive();
    let sprint = app
        .ok(
            &lead,
            "mutation($i: CreateSprintInput!) { createSprint(input: $i) { id startsOn endsOn } }",
            json!({ "i": { "projectId": project, "name": "S1", "startsOn": today.to_string(), "endsOn": (today + Days::days(13)).to_string() } }),
        )
        .await["createSprint"]
        .clone();
    assert_eq!(sprint["startsOn"], today.to_string());
    let data = app
        .ok(
            &lead,
            "mutation($i: MoveTaskToSprintInput!) { moveTaskToSprint(input: $i) { sprint { id } } }",
            json!({ "i": { "taskId": blocker, "sprintId": sprint["id"] } }),
        )
        .await;
    assert_eq!(data["moveTaskToSprint"]["sprint"]["id"], sprint["id"]);
    let data = app
        .ok(
            &lead,
            "mutation($i: ActivateSprintInput!) { activateSprint(input: $i) { state startedAt } }",
            json!({ "i": { "sprintId": sprint["id"] } }),
        )
        .await;
    assert_eq!(data["activateSprint"]["state"], "ACTIVE");
    assert_instant(&data["activateSprint"]["startedAt"]);
    let data = app
        .ok(
            &lead,
            "mutation($i: CompleteSprintInput!) { completeSprint(input: $i) { state closedAt carriedOverTasks { id } } }",
            json!({ "i": { "sprintId": sprint["id"] } }),
        )
        .await;
    assert_eq!(data["completeSprint"]["state"], "CLOSED");
    assert_eq!(
        data["completeSprint"]["carriedOverTasks"],
        json!([{ "id": blocker }])
    );
    assert_instant(&data["completeSprint"]["closedAt"]);

    // Timers and time entries: the user beside the id; times given with an offset.
    let data = app
        .ok(
            &lead,
            "mutation($i: StartTaskTimerInput!) { startTaskTimer(input: $i) { userId user { id } state startedAt } }",
            json!({ "i": { "taskId": task } }),
        )
        .await;
    assert_eq!(data["startTaskTimer"]["user"], json!({ "id": "usr_lead" }));
    assert_instant(&data["startTaskTimer"]["startedAt"]);
    let entry = app
        .ok(
            &lead,
            "mutation { stopTimer { id user { id } startedAt endedAt } }",
            json!({}),
        )
        .await["stopTimer"]
        .clone();
    assert_eq!(entry["user"], json!({ "id": "usr_lead" }));
    assert_instant(&entry["endedAt"]);
    let data = app
        .ok(
            &lead,
            "mutation($i: UpdateTimeEntryInput!) { updateTimeEntry(input: $i) { startedAt endedAt durationSeconds edits { editedBy editor { id } editedAt } } }",
            json!({ "i": { "timeEntryId": entry["id"], "startedAt": "2026-01-05T14:30:00+05:30", "endedAt": "2026-01-05T10:00:00Z" } }),
        )
        .await;
    let edited = &data["updateTimeEntry"];
    assert_eq!(
        (
            &edited["startedAt"],
            &edited["endedAt"],
            &edited["durationSeconds"]
        ),
        (
            &json!("2026-01-05T09:00:00.000Z"),
            &json!("2026-01-05T10:00:00.000Z"),
            &json!(3600)
        )
    );
    assert_eq!(edited["edits"][0]["editor"], json!({ "id": "usr_lead" }));
    assert_instant(&edited["edits"][0]["editedAt"]);

    // The week: an IsoWeek; submitted, then decided through one input.
    const WEEK: &str = "query($w: IsoWeek!, $u: ID) { timesheet(week: $w, userId: $u) { week state user { id } days { date } } }";
    let data = app.ok(&lead, WEEK, json!({ "w": "2026-W02" })).await;
    let sheet = &data["timesheet"];
    assert_eq!(
        (&sheet["week"], &sheet["state"], &sheet["user"]),
        (
            &json!("2026-W02"),
            &json!("DRAFT"),
            &json!({ "id": "usr_lead" })
        )
    );
    assert_eq!(sheet["days"][0], json!({ "date": "2026-01-05" }));
    let (_, body) = app.graphql(&lead, WEEK, json!({ "w": "2026-W2" })).await;
    assert_eq!(
        bad_field(&body),
        (vec!["BAD_USER_INPUT".to_owned()], json!("week")),
        "{body}"
    );
    let data = app
        .ok(
            &lead,
            "mutation($i: SubmitTimesheetWeekInput!) { submitTimesheetWeek(input: $i) { state week submittedAt } }",
            json!({ "i": { "week": "2026-W02" } }),
        )
        .await;
    assert_eq!(data["submitTimesheetWeek"]["state"], "SUBMITTED");
    assert_instant(&data["submitTimesheetWeek"]["submittedAt"]);
    const DECIDE: &str = "mutation($i: DecideTimesheetInput!) { decideTimesheet(input: $i) { state rejectionReason decidedBy decider { id } decidedAt } }";
    let (_, body) = app
        .graphql(
            &approver,
            DECIDE,
            json!({ "i": { "userId": "usr_lead", "week": "2026-W02", "decision": "REJECT" } }),
        )
        .await;
    assert_eq!(
        bad_field(&body),
        (vec!["BAD_USER_INPUT".to_owned()], json!("reason")),
        "a rejection says why: {body}"
    );
    let data = app
        .ok(
            &approver,
            DECIDE,
            json!({ "i": { "userId": "usr_lead", "week": "2026-W02", "decision": "REJECT", "reason": "Wrong day" } }),
        )
        .await;
    let decided = &data["decideTimesheet"];
    assert_eq!(
        (
            &decided["state"],
            &decided["rejectionReason"],
            &decided["decider"]
        ),
        (
            &json!("REJECTED"),
            &json!("Wrong day"),
            &json!({ "id": "usr_approver" })
        )
    );
    assert_instant(&decided["decidedAt"]);
    app.ok(
        &lead,
        "mutation($i: SubmitTimesheetWeekInput!) { submitTimesheetWeek(input: $i) { state } }",
        json!({ "i": { "week": "2026-W02" } }),
    )
    .await;
    let data = app
        .ok(
            &approver,
            DECIDE,
            json!({ "i": { "userId": "usr_lead", "week": "2026-W02", "decision": "APPROVE" } }),
        )
        .await;
    assert_eq!(data["decideTimesheet"]["state"], "APPROVED");
}

erp_tests::on_both_stores!(pmo_projects_tasks_and_weeks_take_one_input);
