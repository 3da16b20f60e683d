//! The check-in hot path's SQL, statement by statement: one check-in through the subgraph's
//! HTTP surface on real PostgreSQL, counted with sea-orm's metric callback. Each statement is
//! a round trip the subgraph pays CPU for (encoding, decoding, waking), on the path the
//! check-in peak benchmark drives 1,000 times a second.

use erp_tests::{Backends, EmployeeApp, StatementLog, TestIssuer};
use serde_json::json;

const TENANT: &str = "tnt_checkin_sql";
const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
];

/// `SELECT ... FROM "shifts" WHERE ...` -> `SELECT shifts`: the verb and the first table.
fn shape(sql: &str) -> String {
    let verb = sql.split_whitespace().next().unwrap_or("").to_uppercase();
    let table = sql
        .split('"')
        .skip(1)
        .step_by(2)
        .find(|name| {
            let after = format!("FROM \"{name}\"");
            let into = format!("INTO \"{name}\"");
            let update = format!("UPDATE \"{name}\"");
            sql.contains(&after) || sql.contains(&into) || sql.contains(&update)
        })
        .unwrap_or("");
    format!("{verb} {table}").trim().to_owned()
}

#[tokio::test]
async fn a_check_in_runs_these_statements_and_no_more() {
    let issuer = TestIssuer::start().await;
    let statements = StatementLog::default();
    let runtime =
        erp_tests::runtime_with_db(&issuer, Backends::Real, |db| statements.record(db)).await;
    let app = EmployeeApp::spawn(runtime).await;
    let hr = issuer.token(TENANT, "usr_hr", HR);
    let floor = app.create_department(&hr, "Floor").await;
    // A shift starting at 06:00 UTC: its attendance day opens six hours earlier, at midnight
    // UTC, so a punch at any hour belongs to today (a 09:00 shift would file a punch before
    // 03:00 UTC under yesterday, whose shift the live status then reads once more).
    let shift = app
        .ok(
            &hr,
            "mutation { createShift(input: { name: \"Day\", startTime: \"06:00\", endTime: \"14:00\", graceMinutes: 10, workingDays: [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY], timeZone: \"UTC\" }) { id } }",
            json!({}),
        )
        .await["createShift"]["id"]
        .clone();
    app.ok(
        &hr,
        "mutation($s: ID!, $d: ID!) { assignShift(input: { shiftId: $s, departmentId: $d, effectiveFrom: \"2025-01-01\" }) { id } }",
        json!({ "s": shift, "d": floor }),
    )
    .await;
    app.hire(
        &hr,
        json!({
            "employeeNumber": "E-1", "displayName": "Asha", "workEmail": "asha@co.example",
            "hiredOn": "2025-01-06", "userId": "usr_asha", "departmentId": floor,
        }),
    )
    .await;
    let asha = issuer.token(TENANT, "usr_asha", &["attendance:checkin"]);
    // Let the relay publish what the setup wrote, so that its statements stay out of the count.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let mut costs = Vec::new();
    for (i, mutation) in ["checkIn", "checkOut", "checkIn"].iter().enumerate() {
        statements.take();
        let data = app
            .ok(
                &asha,
                &format!("mutation($k: String!) {{ {mutation}(input: {{ punchKey: $k, source: WEB }}) {{ kind }} }}"),
                json!({ "k": format!("punch-{i}") }),
            )
            .await;
        assert!(data[mutation]["kind"].is_string(), "{data}");
        // The relay's own reads and marks of the outbox run beside the request.
        let run: Vec<String> = statements
            .take()
            .into_iter()
            .map(|(sql, _)| shape(&sql))
            .filter(|shape| shape != "SELECT employee_outbox" && shape != "UPDATE employee_outbox")
            .collect();
        costs.push(run);
    }
    for run in &costs {
        eprintln!("{} statements: {run:?}", run.len());
    }
    let expected = [
        // The caller's employee record.
        "SELECT employees",
        // Their shift (assignments joined with the shifts), before the write transaction.
        "SELECT shift_assignments",
        // In the transaction: a resync's punch and the day's punches, in one read.
        "SELECT punches",
        "INSERT punches",
        "INSERT employee_outbox",
        // After commit, for the live board's status (the day's punches and shift are known).
        "SELECT leave_requests",
    ];
    for run in costs {
        assert_eq!(run, expected);
    }
}
