//! Shifts, the daily attendance computed from punches, corrections with approval, and the HR
//! board (query and live subscription), through the employee subgraph's HTTP and WebSocket
//! surface on real PostgreSQL and Redis.
//!
//! Days in the past are corrected into a known state (the only way to put punches at chosen
//! times), so every status asserted here is exact whatever the time the tests run.

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
    "attendance:read",
];
const WORKER: &[&str] = &["employee:read", "attendance:checkin"];
const MANAGER: &[&str] = &["employee:read", "attendance:checkin", "attendance:read"];

struct Org {
    app: EmployeeApp,
    issuer: TestIssuer,
    tenant: &'static str,
    hr: String,
}

impl Org {
    async fn new(tenant: &'static str) -> Self {
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
        let hr = issuer.token(tenant, "usr_hr", HR);
        Self {
            app,
            issuer,
            tenant,
            hr,
        }
    }

    fn token(&self, user: &str, scopes: &[&str]) -> String {
        self.issuer.token(self.tenant, user, scopes)
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.app.graphql(Some(token), query, variables).await.1
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    async fn department(&self, name: &str) -> String {
        let data = self
            .ok(
                &self.hr,
                "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
                json!({ "n": name }),
            )
            .await;
        data["createDepartment"]["id"].as_str().unwrap().to_owned()
    }

    async fn hire(
        &self,
        name: &str,
        user: &str,
        department: Option<&str>,
        manager: Option<&str>,
    ) -> String {
        let data = self
            .ok(
                &self.hr,
                "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
                json!({ "i": {
                    "employeeNumber": format!("E-{user}"),
                    "displayName": name,
                    "workEmail": format!("{user}@co.example"),
                    "hiredOn": "2025-01-06",
                    "userId": user,
                    "departmentId": department,
                    "managerId": manager,
                } }),
            )
            .await;
        data["hireEmployee"]["id"].as_str().unwrap().to_owned()
    }

    async fn shift(&self, input: Value) -> String {
        let data = self
            .ok(
                &self.hr,
                "mutation($i: CreateShiftInput!) { createShift(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        data["createShift"]["id"].as_str().unwrap().to_owned()
    }

    async fn assign(
        &self,
        shift: &str,
        employee: Option<&str>,
        department: Option<&str>,
        from: NaiveDate,
    ) {
        self.ok(
            &self.hr,
            "mutation($i: AssignShiftInput!) { assignShift(input: $i) { id } }",
            json!({ "i": { "shiftId": shift, "employeeId": employee, "departmentId": department, "effectiveFrom": from } }),
        )
        .await;
    }

    /// The outbox's events of the types matching `like`, in order, with their payloads.
    async fn events(&self, like: &str) -> Vec<(String, Value)> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT event_type, envelope FROM employee_outbox WHERE event_type LIKE $1 ORDER BY seq",
            [like.into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let envelope: Value =
                serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap();
            (
                row.try_get::<String>("", "event_type").unwrap(),
                envelope["payload"].clone(),
            )
        })
        .collect()
    }
}

const ALL_DAYS: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(n)).unwrap()
}

/// `day` at `hh:mm` in India (UTC+05:30, no daylight saving), as RFC 3339.
fn ist(day: NaiveDate, hour: u32, minute: u32) -> String {
    let india = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    india
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339()
}

fn utc(day: NaiveDate, hour: u32, minute: u32) -> String {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .to_rfc3339()
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

const CREATE_SHIFT: &str = "mutation($i: CreateShiftInput!) { createShift(input: $i) { id name startTime endTime crossesMidnight graceMinutes halfDayMinutes fullDayMinutes workingDays timeZone } }";
const REQUEST: &str = "mutation($i: RequestCorrectionInput!) { requestAttendanceCorrection(input: $i) { id day kind status checkIn checkOut reason } }";
const APPROVE: &str = "mutation($id: ID!, $note: String) { approveAttendanceCorrection(id: $id, note: $note) { id status decidedBy decisionNote } }";
const REJECT: &str = "mutation($id: ID!, $note: String) { rejectAttendanceCorrection(id: $id, note: $note) { id status decidedBy } }";
const MY_DAY: &str = "query($d: Date) { myAttendance(day: $d) { day status firstIn lastOut workedMinutes lateMinutes missingCheckOut checkedIn shiftStart shiftEnd shift { name } punches { kind source } } }";

fn general_shift() -> Value {
    json!({ "name": "General", "startTime": "09:00", "endTime": "18:00", "graceMinutes": 15, "workingDays": ALL_DAYS, "timeZone": "Asia/Kolkata" })
}

#[tokio::test]
async fn shifts_are_checked_and_assigned() {
    let org = Org::new("tnt_shift_rules").await;
    let ops = org.department("Operations").await;
    let ravi = org.hire("Ravi", "usr_ravi", Some(&ops), None).await;

    let data = org
        .ok(&org.hr, CREATE_SHIFT, json!({ "i": general_shift() }))
        .await;
    let general = &data["createShift"];
    assert_eq!(general["startTime"], "09:00");
    assert_eq!(general["endTime"], "18:00");
    assert_eq!(general["crossesMidnight"], false);
    assert_eq!(general["fullDayMinutes"], 540);
    assert_eq!(general["halfDayMinutes"], 270);
    assert_eq!(general["workingDays"], json!(ALL_DAYS));
    assert_eq!(general["timeZone"], "Asia/Kolkata");
    let general_id = general["id"].as_str().unwrap().to_owned();

    let night = org
        .ok(
            &org.hr,
            CREATE_SHIFT,
            json!({ "i": { "name": "Night", "startTime": "22:00", "endTime": "06:00", "graceMinutes": 10, "halfDayMinutes": 200, "fullDayMinutes": 420, "workingDays": ["MONDAY", "FRIDAY", "MONDAY"], "timeZone": "UTC" } }),
        )
        .await;
    assert_eq!(night["createShift"]["crossesMidnight"], true);
    assert_eq!(
        night["createShift"]["workingDays"],
        json!(["MONDAY", "FRIDAY"])
    );
    assert_eq!(night["createShift"]["fullDayMinutes"], 420);
    let night_id = night["createShift"]["id"].as_str().unwrap().to_owned();

    // Bad inputs, each naming its field.
    for (change, field) in [
        (json!({ "startTime": "9am" }), "startTime"),
        (json!({ "endTime": "24:00" }), "endTime"),
        (json!({ "endTime": "09:00" }), "endTime"),
        (json!({ "graceMinutes": 241 }), "graceMinutes"),
        (json!({ "graceMinutes": -1 }), "graceMinutes"),
        (json!({ "timeZone": "Mars/Olympus_Mons" }), "timeZone"),
        (json!({ "workingDays": [] }), "workingDays"),
        (json!({ "fullDayMinutes": 541 }), "fullDayMinutes"),
        (
            json!({ "fullDayMinutes": 480, "halfDayMinutes": 481 }),
            "halfDayMinutes",
        ),
        (json!({ "name": "  " }), "name"),
    ] {
        let mut input = general_shift();
        input["name"] = json!("Other");
        for (key, value) in change.as_object().unwrap() {
            input[key] = value.clone();
        }
        let body = org.gql(&org.hr, CREATE_SHIFT, json!({ "i": input })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{change}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{change}");
    }
    let body = org
        .gql(&org.hr, CREATE_SHIFT, json!({ "i": general_shift() }))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "the name is taken");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "ALREADY_EXISTS");
    let body = org
        .gql(
            &org.token("usr_ravi", MANAGER),
            CREATE_SHIFT,
            json!({ "i": general_shift() }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    let data = org
        .ok(
            &org.hr,
            "{ shifts(first: 10) { edges { node { name } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["shifts"]["edges"],
        json!([{ "node": { "name": "General" } }, { "node": { "name": "Night" } }])
    );

    // The department's default applies to Ravi until his own assignment starts.
    let month_ago = days_ago(30);
    org.assign(&general_id, None, Some(&ops), month_ago).await;
    let in_a_week = today().checked_add_days(Days::new(7)).unwrap();
    org.assign(&night_id, Some(&ravi), None, in_a_week).await;
    const SHIFT_OF: &str =
        "query($id: ID!, $d: Date) { employee(id: $id) { shift(day: $d) { name } } }";
    let data = org
        .ok(&org.hr, SHIFT_OF, json!({ "id": ravi, "d": today() }))
        .await;
    assert_eq!(data["employee"]["shift"]["name"], "General");
    let data = org
        .ok(&org.hr, SHIFT_OF, json!({ "id": ravi, "d": in_a_week }))
        .await;
    assert_eq!(data["employee"]["shift"]["name"], "Night");
    let data = org
        .ok(&org.hr, SHIFT_OF, json!({ "id": ravi, "d": days_ago(31) }))
        .await;
    assert_eq!(
        data["employee"]["shift"],
        Value::Null,
        "nothing applied yet"
    );

    const ASSIGN: &str = "mutation($i: AssignShiftInput!) { assignShift(input: $i) { id employeeId departmentId effectiveFrom shift { name } } }";
    let data = org
        .ok(
            &org.hr,
            ASSIGN,
            json!({ "i": { "shiftId": general_id, "employeeId": ravi, "effectiveFrom": today() } }),
        )
        .await;
    assert_eq!(data["assignShift"]["employeeId"], ravi.as_str());
    assert_eq!(data["assignShift"]["departmentId"], Value::Null);
    assert_eq!(data["assignShift"]["effectiveFrom"], today().to_string());
    assert_eq!(data["assignShift"]["shift"]["name"], "General");
    for (input, code, field) in [
        (
            json!({ "shiftId": general_id, "employeeId": ravi, "effectiveFrom": today() }),
            "CONFLICT",
            None,
        ),
        (
            json!({ "shiftId": general_id, "employeeId": ravi, "departmentId": ops, "effectiveFrom": today() }),
            "BAD_USER_INPUT",
            Some("employeeId"),
        ),
        (
            json!({ "shiftId": general_id, "effectiveFrom": today() }),
            "BAD_USER_INPUT",
            Some("employeeId"),
        ),
        (
            json!({ "shiftId": "nope", "employeeId": ravi, "effectiveFrom": today() }),
            "BAD_USER_INPUT",
            Some("shiftId"),
        ),
        (
            json!({ "shiftId": general_id, "employeeId": "nope", "effectiveFrom": today() }),
            "BAD_USER_INPUT",
            Some("employeeId"),
        ),
        (
            json!({ "shiftId": general_id, "departmentId": "nope", "effectiveFrom": today() }),
            "BAD_USER_INPUT",
            Some("departmentId"),
        ),
    ] {
        let body = org.gql(&org.hr, ASSIGN, json!({ "i": input })).await;
        assert_eq!(error_codes(&body), [code], "{input}: {body}");
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
        }
    }
    // Another tenant sees none of it.
    let other = org.issuer.token("tnt_shift_other", "usr_hr", HR);
    let data = org
        .ok(&other, "{ shifts { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(data["shifts"]["edges"], json!([]));

    let events: Vec<String> = org
        .events("shift.%")
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        events,
        [
            "shift.created",
            "shift.created",
            "shift.assigned",
            "shift.assigned",
            "shift.assigned"
        ]
    );
}

#[tokio::test]
async fn corrections_are_approved_by_a_manager_and_make_the_day() {
    let org = Org::new("tnt_corrections").await;
    let ops = org.department("Operations").await;
    let maya = org.hire("Maya", "usr_maya", Some(&ops), None).await;
    let ravi = org.hire("Ravi", "usr_ravi", Some(&ops), Some(&maya)).await;
    let _sam = org.hire("Sam", "usr_sam", None, None).await;
    let general = org.shift(general_shift()).await;
    org.assign(&general, None, Some(&ops), days_ago(60)).await;

    let ravi_token = org.token("usr_ravi", WORKER);
    let maya_token = org.token("usr_maya", MANAGER);
    let sam_token = org.token("usr_sam", MANAGER);
    let d1 = days_ago(3);

    // Nothing punched on a past working day: absent.
    let data = org.ok(&ravi_token, MY_DAY, json!({ "d": d1 })).await;
    let day = &data["myAttendance"];
    assert_eq!(day["status"], "ABSENT");
    assert_eq!(day["shift"]["name"], "General");
    assert_eq!(parse_time(&day["shiftStart"]).to_rfc3339(), ist(d1, 9, 0));
    assert_eq!(parse_time(&day["shiftEnd"]).to_rfc3339(), ist(d1, 18, 0));
    assert_eq!(day["punches"], json!([]));

    // A punch recorded at the wrong time (as a device with a bad clock would have sent it).
    let db = &org.app.runtime.db;
    let wrong_at = DateTime::parse_from_rfc3339(&ist(d1, 11, 0))
        .unwrap()
        .timestamp_millis();
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO punches (id, tenant_id, employee_id, kind, at, day, source, punch_key) VALUES ('p-wrong', $1, $2, 'in', $3, $4, 'kiosk', 'wrong-clock')",
        [org.tenant.into(), ravi.clone().into(), wrong_at.into(), d1.to_string().into()],
    ))
    .await
    .unwrap();
    let data = org.ok(&ravi_token, MY_DAY, json!({ "d": d1 })).await;
    assert_eq!(
        data["myAttendance"]["status"], "ABSENT",
        "a check-in without check-out, day over"
    );
    assert_eq!(data["myAttendance"]["missingCheckOut"], true);
    assert_eq!(data["myAttendance"]["lateMinutes"], 120);

    let request = |day: NaiveDate, check_in: String, check_out: String, reason: &str| json!({ "i": { "day": day, "kind": "WRONG_TIME", "checkIn": check_in, "checkOut": check_out, "reason": reason } });
    let data = org
        .ok(
            &ravi_token,
            REQUEST,
            request(
                d1,
                ist(d1, 9, 10),
                ist(d1, 18, 30),
                "the kiosk clock was two hours fast",
            ),
        )
        .await;
    let correction = data["requestAttendanceCorrection"].clone();
    assert_eq!(correction["status"], "PENDING");
    assert_eq!(correction["kind"], "WRONG_TIME");
    assert_eq!(correction["day"], d1.to_string());
    assert_eq!(
        parse_time(&correction["checkIn"]).to_rfc3339(),
        ist(d1, 9, 10)
    );
    let correction_id = correction["id"].as_str().unwrap().to_owned();

    // One pending request per day.
    let body = org
        .gql(
            &ravi_token,
            REQUEST,
            request(d1, ist(d1, 9, 0), ist(d1, 18, 0), "again, differently"),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "CORRECTION_PENDING"
    );

    // Bad requests.
    let d2 = days_ago(4);
    // Two days ahead of UTC's today: a future day in India too, whose today runs 5.5 hours ahead
    // (tomorrow in UTC is India's today from 18:30 UTC on).
    let tomorrow = today().checked_add_days(Days::new(2)).unwrap();
    for (input, field) in [
        (
            request(d2, ist(d2, 18, 0), ist(d2, 9, 0), "reversed times"),
            "checkOut",
        ),
        (
            request(d2, ist(d2, 9, 0), ist(d2, 9, 0), "zero length"),
            "checkOut",
        ),
        (
            request(d2, ist(d2, 2, 0), ist(d2, 9, 0), "before the day opens"),
            "checkIn",
        ),
        (
            request(
                d2,
                ist(d2, 9, 0),
                ist(d2.succ_opt().unwrap(), 4, 0),
                "after the day closes",
            ),
            "checkOut",
        ),
        (
            request(tomorrow, ist(d2, 9, 0), ist(d2, 18, 0), "future day"),
            "day",
        ),
        (
            request(
                days_ago(120),
                ist(days_ago(120), 9, 0),
                ist(days_ago(120), 18, 0),
                "too old",
            ),
            "day",
        ),
        (request(d2, ist(d2, 9, 0), ist(d2, 18, 0), "no"), "reason"),
    ] {
        let body = org.gql(&ravi_token, REQUEST, input.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    let body = org
        .gql(
            &org.token("usr_nobody", WORKER),
            REQUEST,
            request(d2, ist(d2, 9, 0), ist(d2, 18, 0), "not an employee"),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);

    // Nobody approves their own, strangers cannot, the manager can.
    let body = org
        .gql(
            &org.token("usr_ravi", MANAGER),
            APPROVE,
            json!({ "id": correction_id }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "SELF_APPROVAL");
    let body = org
        .gql(&sam_token, APPROVE, json!({ "id": correction_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "NOT_APPROVER");
    let body = org
        .gql(&ravi_token, APPROVE, json!({ "id": correction_id }))
        .await;
    assert_eq!(
        error_codes(&body),
        ["UNAUTHORIZED_FIELD_OR_TYPE"],
        "no approving scope"
    );
    let body = org
        .gql(&maya_token, APPROVE, json!({ "id": "no-such-correction" }))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    let body = org
        .gql(
            &maya_token,
            APPROVE,
            json!({ "id": correction_id, "note": "x" }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "note");

    const TO_DECIDE: &str = "{ attendanceCorrectionsToDecide { edges { node { id employee { displayName } status } } } }";
    let data = org.ok(&maya_token, TO_DECIDE, json!({})).await;
    assert_eq!(
        data["attendanceCorrectionsToDecide"]["edges"],
        json!([{ "node": { "id": correction_id, "employee": { "displayName": "Ravi" }, "status": "PENDING" } }])
    );
    let data = org.ok(&sam_token, TO_DECIDE, json!({})).await;
    assert_eq!(data["attendanceCorrectionsToDecide"]["edges"], json!([]));

    let data = org
        .ok(
            &maya_token,
            APPROVE,
            json!({ "id": correction_id, "note": "checked with the kiosk log" }),
        )
        .await;
    assert_eq!(
        data["approveAttendanceCorrection"],
        json!({ "id": correction_id, "status": "APPROVED", "decidedBy": "usr_maya", "decisionNote": "checked with the kiosk log" })
    );
    let body = org
        .gql(&maya_token, APPROVE, json!({ "id": correction_id }))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "ALREADY_DECIDED");
    let body = org
        .gql(&org.hr, REJECT, json!({ "id": correction_id }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["reason"], "ALREADY_DECIDED");

    // The day now: 09:10 is inside the 15-minute grace window, 9 h 20 worked.
    let data = org.ok(&ravi_token, MY_DAY, json!({ "d": d1 })).await;
    let day = &data["myAttendance"];
    assert_eq!(day["status"], "PRESENT", "{day}");
    assert_eq!(day["lateMinutes"], 0);
    assert_eq!(day["workedMinutes"], 560);
    assert_eq!(day["missingCheckOut"], false);
    assert_eq!(parse_time(&day["firstIn"]).to_rfc3339(), ist(d1, 9, 10));
    assert_eq!(parse_time(&day["lastOut"]).to_rfc3339(), ist(d1, 18, 30));
    assert_eq!(
        day["punches"],
        json!([{ "kind": "IN", "source": "correction" }, { "kind": "OUT", "source": "correction" }])
    );
    // The wrong punch is kept for the audit trail, marked with the correction that replaced it.
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT voided_by FROM punches WHERE id = 'p-wrong'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<Option<String>>("", "voided_by").unwrap(),
        Some(correction_id.clone())
    );

    // HR (no employee record of their own) decides too: a late day, and a rejected one.
    let d3 = days_ago(5);
    let late = org
        .ok(&ravi_token, REQUEST, json!({ "i": { "day": d3, "kind": "MISSED_PUNCH", "checkIn": ist(d3, 9, 16), "checkOut": ist(d3, 19, 0), "reason": "forgot to punch in and out" } }))
        .await;
    let late_id = late["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    org.ok(&org.hr, APPROVE, json!({ "id": late_id })).await;
    let data = org.ok(&maya_token, "query($id: ID!, $d: Date) { employee(id: $id) { attendance(day: $d) { status lateMinutes workedMinutes } } }", json!({ "id": ravi, "d": d3 })).await;
    assert_eq!(
        data["employee"]["attendance"],
        json!({ "status": "LATE", "lateMinutes": 16, "workedMinutes": 584 }),
        "a minute past the grace window"
    );
    let d4 = days_ago(6);
    let half = org
        .ok(
            &ravi_token,
            REQUEST,
            request(d4, ist(d4, 9, 0), ist(d4, 15, 0), "left early, doctor"),
        )
        .await;
    let half_id = half["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = org
        .ok(
            &org.hr,
            REJECT,
            json!({ "id": half_id, "note": "not documented" }),
        )
        .await;
    assert_eq!(data["rejectAttendanceCorrection"]["status"], "REJECTED");
    let data = org.ok(&ravi_token, MY_DAY, json!({ "d": d4 })).await;
    assert_eq!(
        data["myAttendance"]["status"], "ABSENT",
        "a rejected correction changes nothing"
    );
    let half = org
        .ok(
            &ravi_token,
            REQUEST,
            request(
                d4,
                ist(d4, 9, 0),
                ist(d4, 15, 0),
                "left early, doctor's note attached",
            ),
        )
        .await;
    let half_id = half["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    org.ok(&maya_token, APPROVE, json!({ "id": half_id })).await;
    let data = org.ok(&ravi_token, MY_DAY, json!({ "d": d4 })).await;
    assert_eq!(data["myAttendance"]["status"], "HALF_DAY");
    assert_eq!(data["myAttendance"]["workedMinutes"], 360);

    // The employee's own list, oldest first; strangers may not read it.
    const CORRECTIONS_OF: &str = "query($id: ID!) { employee(id: $id) { attendanceCorrections { edges { node { day status } } } } }";
    let data = org
        .ok(&ravi_token, CORRECTIONS_OF, json!({ "id": ravi }))
        .await;
    assert_eq!(
        data["employee"]["attendanceCorrections"]["edges"],
        json!([
            { "node": { "day": d1.to_string(), "status": "APPROVED" } },
            { "node": { "day": d3.to_string(), "status": "APPROVED" } },
            { "node": { "day": d4.to_string(), "status": "REJECTED" } },
            { "node": { "day": d4.to_string(), "status": "APPROVED" } },
        ])
    );
    let body = org
        .gql(&sam_token, CORRECTIONS_OF, json!({ "id": ravi }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);

    // Every step through the outbox, the approval with the day it corrected.
    let events = org.events("attendance.correct%").await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "attendance.correction_requested",
            "attendance.corrected",
            "attendance.correction_requested",
            "attendance.corrected",
            "attendance.correction_requested",
            "attendance.correction_rejected",
            "attendance.correction_requested",
            "attendance.corrected",
        ]
    );
    let corrected = &events[1].1;
    assert_eq!(corrected["correction_id"], correction_id.as_str());
    assert_eq!(corrected["employee_id"], ravi.as_str());
    assert_eq!(corrected["day"], d1.to_string());
    assert_eq!(corrected["voided_punches"], 1);
}

#[tokio::test]
async fn night_shifts_cross_midnight_and_weekly_offs() {
    let org = Org::new("tnt_night").await;
    let nina = org.hire("Nina", "usr_nina", None, None).await;
    let wes = org.hire("Wes", "usr_wes", None, None).await;
    let night = org
        .shift(json!({ "name": "Night", "startTime": "22:00", "endTime": "06:00", "graceMinutes": 10, "workingDays": ALL_DAYS, "timeZone": "UTC" }))
        .await;
    org.assign(&night, Some(&nina), None, days_ago(30)).await;
    let nina_token = org.token("usr_nina", WORKER);

    // 22:10 is exactly the end of the grace window: on time. 8 h 05 worked across midnight.
    let d1 = days_ago(3);
    let next = d1.succ_opt().unwrap();
    let data = org
        .ok(&nina_token, REQUEST, json!({ "i": { "day": d1, "kind": "MISSED_PUNCH", "checkIn": utc(d1, 22, 10), "checkOut": utc(next, 6, 15), "reason": "badge reader down" } }))
        .await;
    let id = data["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    org.ok(&org.hr, APPROVE, json!({ "id": id })).await;
    let data = org.ok(&nina_token, MY_DAY, json!({ "d": d1 })).await;
    let day = &data["myAttendance"];
    assert_eq!(day["status"], "PRESENT", "{day}");
    assert_eq!(day["lateMinutes"], 0);
    assert_eq!(day["workedMinutes"], 485);
    assert_eq!(parse_time(&day["shiftEnd"]).to_rfc3339(), utc(next, 6, 0));
    // The check-out after midnight belongs to the night it closes, not to the next day.
    let data = org.ok(&nina_token, MY_DAY, json!({ "d": next })).await;
    assert_eq!(data["myAttendance"]["punches"], json!([]));

    // One minute past the grace window: late by 11 minutes.
    let d2 = days_ago(5);
    let data = org
        .ok(&nina_token, REQUEST, json!({ "i": { "day": d2, "kind": "MISSED_PUNCH", "checkIn": utc(d2, 22, 11), "checkOut": utc(d2.succ_opt().unwrap(), 6, 30), "reason": "badge reader down" } }))
        .await;
    let id = data["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    org.ok(&org.hr, APPROVE, json!({ "id": id })).await;
    let data = org.ok(&nina_token, MY_DAY, json!({ "d": d2 })).await;
    assert_eq!(data["myAttendance"]["status"], "LATE");
    assert_eq!(data["myAttendance"]["lateMinutes"], 11);

    // A day outside the shift's working days is a weekly off.
    let off_day = days_ago(2);
    let working: Vec<&str> = ALL_DAYS
        .iter()
        .zip([
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ])
        .filter(|(_, weekday)| *weekday != off_day.weekday())
        .map(|(name, _)| *name)
        .collect();
    let six_days = org
        .shift(json!({ "name": "Six days", "startTime": "08:00", "endTime": "16:00", "graceMinutes": 0, "workingDays": working, "timeZone": "UTC" }))
        .await;
    org.assign(&six_days, Some(&wes), None, days_ago(30)).await;
    let data = org
        .ok(
            &org.token("usr_wes", WORKER),
            MY_DAY,
            json!({ "d": off_day }),
        )
        .await;
    assert_eq!(data["myAttendance"]["status"], "WEEKLY_OFF");
    let data = org
        .ok(
            &org.token("usr_wes", WORKER),
            MY_DAY,
            json!({ "d": days_ago(3) }),
        )
        .await;
    assert_eq!(data["myAttendance"]["status"], "ABSENT");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &EmployeeApp, token: &str) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }).to_string()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket, 10).await.unwrap()["type"],
        "connection_ack"
    );
    socket
}

/// The next protocol message, or None when none came within `seconds`.
async fn next_json(socket: &mut Socket, seconds: u64) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(seconds), socket.next())
            .await
            .ok()?
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ping" && value["type"] != "pong" {
                return Some(value);
            }
        }
    }
}

const STATUS_BOARD: &str = "subscription($d: ID) { attendanceStatusBoard(departmentId: $d) { employeeId displayName departmentId kind day status checkedIn lateMinutes } }";

#[tokio::test]
async fn the_hr_board_shows_who_is_in_late_and_absent() {
    let org = Org::new("tnt_board").await;
    let ops = org.department("Operations").await;
    let maya = org.hire("Maya", "usr_maya", Some(&ops), None).await;
    let ravi = org.hire("Ravi", "usr_ravi", Some(&ops), Some(&maya)).await;
    let sam = org.hire("Sam", "usr_sam", None, None).await;
    let general = org.shift(general_shift()).await;
    org.assign(&general, None, Some(&ops), days_ago(60)).await;
    let d1 = days_ago(3);
    let data = org
        .ok(&org.token("usr_ravi", WORKER), REQUEST, json!({ "i": { "day": d1, "kind": "MISSED_PUNCH", "checkIn": ist(d1, 9, 40), "checkOut": ist(d1, 19, 0), "reason": "phone was dead" } }))
        .await;
    let id = data["requestAttendanceCorrection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    org.ok(
        &org.token("usr_maya", MANAGER),
        APPROVE,
        json!({ "id": id }),
    )
    .await;

    const BOARD: &str = "query($dep: ID, $d: Date) { attendanceToday(departmentId: $dep, day: $d) { day summary { total checkedIn present late halfDay absent weeklyOff onLeave notStarted unscheduled } entries { edges { node { employee { displayName } status lateMinutes workedMinutes shift { name } } } } absent: entries(status: [ABSENT]) { edges { node { employee { displayName } } } } } }";
    let data = org.ok(&org.hr, BOARD, json!({ "d": d1 })).await;
    let board = &data["attendanceToday"];
    assert_eq!(board["day"], d1.to_string());
    assert_eq!(
        board["summary"],
        json!({ "total": 3, "checkedIn": 0, "present": 0, "late": 1, "halfDay": 0, "absent": 1, "weeklyOff": 0, "onLeave": 0, "notStarted": 0, "unscheduled": 1 })
    );
    assert_eq!(
        board["entries"]["edges"],
        json!([
            { "node": { "employee": { "displayName": "Maya" }, "status": "ABSENT", "lateMinutes": 0, "workedMinutes": 0, "shift": { "name": "General" } } },
            { "node": { "employee": { "displayName": "Ravi" }, "status": "LATE", "lateMinutes": 40, "workedMinutes": 560, "shift": { "name": "General" } } },
            { "node": { "employee": { "displayName": "Sam" }, "status": "UNSCHEDULED", "lateMinutes": 0, "workedMinutes": 0, "shift": null } },
        ])
    );
    assert_eq!(
        board["absent"]["edges"],
        json!([{ "node": { "employee": { "displayName": "Maya" } } }])
    );
    // Approved leave (made by the leave workflow; written directly here) shows on the board.
    let d2 = days_ago(4);
    let db = &org.app.runtime.db;
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO leave_requests (id, tenant_id, employee_id, leave_type_id, start_date, end_date, days, status, created_at, updated_at) VALUES ('lr-1', $1, $2, 'lt-1', $3, $4, 200, 'approved', 0, 0)",
        [
            org.tenant.into(),
            maya.clone().into(),
            d2.checked_sub_days(Days::new(1)).unwrap().into(),
            d2.into(),
        ],
    ))
    .await
    .unwrap();
    let data = org.ok(&org.hr, BOARD, json!({ "d": d2 })).await;
    assert_eq!(
        data["attendanceToday"]["summary"],
        json!({ "total": 3, "checkedIn": 0, "present": 0, "late": 0, "halfDay": 0, "absent": 1, "weeklyOff": 0, "onLeave": 1, "notStarted": 0, "unscheduled": 1 })
    );
    assert_eq!(
        data["attendanceToday"]["entries"]["edges"][0]["node"]["status"],
        "ON_LEAVE"
    );
    // One department.
    let data = org.ok(&org.hr, BOARD, json!({ "d": d1, "dep": ops })).await;
    assert_eq!(data["attendanceToday"]["summary"]["total"], 2);
    // A manager sees their reports only; someone without reports sees nobody.
    let data = org
        .ok(&org.token("usr_maya", MANAGER), BOARD, json!({ "d": d1 }))
        .await;
    assert_eq!(data["attendanceToday"]["summary"]["total"], 1);
    assert_eq!(
        data["attendanceToday"]["entries"]["edges"][0]["node"]["employee"]["displayName"],
        "Ravi"
    );
    let data = org
        .ok(&org.token("usr_sam", MANAGER), BOARD, json!({ "d": d1 }))
        .await;
    assert_eq!(data["attendanceToday"]["summary"]["total"], 0);
    // Without the scope, or without an employee record and HR scopes: refused.
    let body = org
        .gql(&org.token("usr_ravi", WORKER), BOARD, json!({ "d": d1 }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    let body = org
        .gql(
            &org.token("usr_ghost", &["attendance:read"]),
            BOARD,
            json!({ "d": d1 }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    // A read-only HR user sees everybody.
    let data = org
        .ok(
            &org.token(
                "usr_hr_reader",
                &["employee:read", "attendance:read", "hr:read"],
            ),
            BOARD,
            json!({ "d": d1 }),
        )
        .await;
    assert_eq!(data["attendanceToday"]["summary"]["total"], 3);
    // Pages of the board.
    let data = org
        .ok(&org.hr, "query($d: Date) { attendanceToday(day: $d) { entries(first: 2) { edges { node { employee { displayName } } } pageInfo { hasNextPage endCursor } } } }", json!({ "d": d1 }))
        .await;
    let page = &data["attendanceToday"]["entries"];
    assert_eq!(page["edges"].as_array().unwrap().len(), 2);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let data = org
        .ok(&org.hr, "query($d: Date, $a: String) { attendanceToday(day: $d) { entries(first: 2, after: $a) { edges { node { employee { displayName } } } pageInfo { hasNextPage } } } }", json!({ "d": d1, "a": page["pageInfo"]["endCursor"] }))
        .await;
    assert_eq!(
        data["attendanceToday"]["entries"],
        json!({ "edges": [{ "node": { "employee": { "displayName": "Sam" } } }], "pageInfo": { "hasNextPage": false } })
    );

    // HR's live board: a subscriber without HR scopes is refused.
    let mut refused = connect(&org.app, &org.token("usr_maya", MANAGER)).await;
    refused
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": STATUS_BOARD } })
                .to_string(),
        ))
        .await
        .unwrap();
    let message = next_json(&mut refused, 10).await.unwrap();
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{message}"
    );

    // HR subscribes; every punch brings the person's new status. The subscription is live
    // once a punch comes through: punch (in, then out, alternately) until one does.
    let mut socket = connect(&org.app, &org.hr).await;
    socket
        .send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": STATUS_BOARD, "variables": { "d": ops } } }).to_string()))
        .await
        .unwrap();
    let ravi_token = org.token("usr_ravi", WORKER);
    let sam_token = org.token("usr_sam", WORKER);
    let mut ravi_in = false;
    let mut received = None;
    for attempt in 0..20 {
        let mutation = if ravi_in { "checkOut" } else { "checkIn" };
        // Sam is in no department: his punches never reach a board filtered to Operations.
        org.ok(&sam_token, &format!("mutation($k: String!) {{ {mutation}(input: {{ punchKey: $k, source: WEB }}) {{ id }} }}"), json!({ "k": format!("sam-{attempt}") })).await;
        org.ok(&ravi_token, &format!("mutation($k: String!) {{ {mutation}(input: {{ punchKey: $k, source: MOBILE }}) {{ id }} }}"), json!({ "k": format!("ravi-{attempt}") })).await;
        ravi_in = !ravi_in;
        if let Some(message) = next_json(&mut socket, 2).await {
            received = Some(message);
            break;
        }
    }
    let message = received.expect("the live board received a punch");
    assert_eq!(message["type"], "next", "{message}");
    let update = &message["payload"]["data"]["attendanceStatusBoard"];
    assert_eq!(update["employeeId"], ravi.as_str(), "{update}");
    assert_eq!(update["displayName"], "Ravi");
    assert_eq!(update["departmentId"], ops.as_str());
    let kind = update["kind"].as_str().unwrap();
    assert!(kind == "in" || kind == "out", "{update}");
    assert_eq!(update["checkedIn"], kind == "in", "{update}");
    assert!(update["status"].is_string(), "{update}");
    assert_ne!(sam, ravi);

    // whoIsIn: Ravi once he is checked in, not Sam (checked in or not, he is elsewhere).
    if !ravi_in {
        org.ok(
            &ravi_token,
            "mutation { checkIn(input: { punchKey: \"ravi-final\", source: WEB }) { id } }",
            json!({}),
        )
        .await;
    }
    let data = org
        .ok(&org.hr, "query($dep: ID) { whoIsIn(departmentId: $dep) { edges { node { employee { displayName } checkedIn firstIn } } } }", json!({ "dep": ops }))
        .await;
    let edges = data["whoIsIn"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{data}");
    assert_eq!(edges[0]["node"]["employee"]["displayName"], "Ravi");
    assert_eq!(edges[0]["node"]["checkedIn"], true);
    // Today's board (each person's current attendance day) shows him in too.
    let data = org
        .ok(&org.hr, "query($dep: ID) { attendanceToday(departmentId: $dep) { summary { total checkedIn } } }", json!({ "dep": ops }))
        .await;
    assert_eq!(
        data["attendanceToday"]["summary"],
        json!({ "total": 2, "checkedIn": 1 })
    );
}
