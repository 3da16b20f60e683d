//! `attendanceToday` pages in the database: a board of 521 people (more than the 500 a
//! filtered page or the summary reads at a time) answers every Relay page, forward and
//! backward, with and without a status filter, in employee-id order, and an unfiltered page
//! computes the day of its own people only. On real PostgreSQL through the subgraph's HTTP
//! surface; statements counted with sea-orm's metric callback.

use std::collections::HashMap;

use erp_tests::{Backends, EmployeeApp, StatementLog, TestIssuer};
use serde_json::json;

const TENANT: &str = "tnt_board_pages";
const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
    "attendance:read",
];
/// A Monday long past: every status is final.
const DAY: &str = "2025-03-03";
const PEOPLE: usize = 520;

const PAGE: &str = r#"query($s: [AttendanceStatus!], $f: Int, $a: String, $l: Int, $b: String) {
  attendanceToday(day: "2025-03-03") {
    entries(status: $s, first: $f, after: $a, last: $l, before: $b) {
      edges { cursor node { status employee { id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"#;

/// Walks a board's pages, forward (`first`) or backward (`last`), and returns every
/// (employee id, status) in employee-id order.
async fn walk(
    app: &EmployeeApp,
    hr: &str,
    status: Option<&str>,
    size: i64,
    backward: bool,
) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut variables = json!({ "s": status.map(|s| vec![s]) });
        if backward {
            variables["l"] = json!(size);
            variables["b"] = json!(cursor);
        } else {
            variables["f"] = json!(size);
            variables["a"] = json!(cursor);
        }
        let data = app.ok(hr, PAGE, variables).await;
        let page = &data["attendanceToday"]["entries"];
        let mut rows: Vec<(String, String)> = page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["employee"]["id"].as_str().unwrap().to_owned(),
                    e["node"]["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(rows.len() as i64 <= size, "{page}");
        let info = &page["pageInfo"];
        let (more, earlier, next_cursor) = if backward {
            (
                info["hasPreviousPage"].as_bool().unwrap(),
                info["hasNextPage"].as_bool().unwrap(),
                info["startCursor"].as_str().map(str::to_owned),
            )
        } else {
            (
                info["hasNextPage"].as_bool().unwrap(),
                info["hasPreviousPage"].as_bool().unwrap(),
                info["endCursor"].as_str().map(str::to_owned),
            )
        };
        assert_eq!(earlier, pages > 0, "{page}");
        if more {
            assert_eq!(
                rows.len() as i64,
                size,
                "a page before the last is full: {page}"
            );
        }
        if backward {
            rows.extend(seen);
            seen = rows;
        } else {
            seen.extend(rows);
        }
        pages += 1;
        if !more {
            return seen;
        }
        cursor = next_cursor;
    }
}

#[tokio::test]
async fn the_board_pages_in_the_database_with_the_same_results() {
    let issuer = TestIssuer::start().await;
    let statements = StatementLog::default();
    let runtime =
        erp_tests::runtime_with_db(&issuer, Backends::Real, |db| statements.record(db)).await;
    let app = EmployeeApp::spawn(runtime).await;
    let hr = issuer.token(TENANT, "usr_hr", HR);

    let floor = app.create_department(&hr, "Floor").await;
    let shift = |name: &str, days: &[&str]| {
        json!({ "i": {
            "name": name, "startTime": "09:00", "endTime": "17:00", "graceMinutes": 10,
            "workingDays": days, "timeZone": "UTC",
        } })
    };
    const CREATE_SHIFT: &str = "mutation($i: CreateShiftInput!) { createShift(input: $i) { id } }";
    const ASSIGN: &str = "mutation($s: ID!, $e: ID, $d: ID) { assignShift(input: { shiftId: $s, employeeId: $e, departmentId: $d, effectiveFrom: \"2025-01-01\" }) { id } }";
    let weekdays = app
        .ok(
            &hr,
            CREATE_SHIFT,
            shift(
                "Weekdays",
                &["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            ),
        )
        .await["createShift"]["id"]
        .clone();
    let sundays = app
        .ok(&hr, CREATE_SHIFT, shift("Sundays", &["SUNDAY"]))
        .await["createShift"]["id"]
        .clone();
    app.ok(&hr, ASSIGN, json!({ "s": weekdays, "d": floor }))
        .await;

    // 520 people on the floor's weekday shift (absent that Monday: nobody punched), every 7th
    // on their own Sunday shift instead (a weekly off), and one without department or shift.
    let mut expected: HashMap<String, &str> = HashMap::new();
    for batch in (0..PEOPLE).collect::<Vec<_>>().chunks(8) {
        let hires = batch.iter().map(|i| {
            app.hire(
                &hr,
                json!({
                    "employeeNumber": format!("F-{i}"),
                    "displayName": format!("Person {i}"),
                    "workEmail": format!("person{i}@co.example"),
                    "hiredOn": "2025-01-06",
                    "departmentId": floor,
                }),
            )
        });
        for (i, id) in batch.iter().zip(futures::future::join_all(hires).await) {
            if i % 7 == 0 {
                app.ok(&hr, ASSIGN, json!({ "s": sundays, "e": &id })).await;
                expected.insert(id, "WEEKLY_OFF");
            } else {
                expected.insert(id, "ABSENT");
            }
        }
    }
    let loner = app
        .hire(
            &hr,
            json!({ "employeeNumber": "L-1", "displayName": "Loner", "workEmail": "loner@co.example", "hiredOn": "2025-01-06" }),
        )
        .await;
    expected.insert(loner, "UNSCHEDULED");
    let mut in_order: Vec<(String, String)> = expected
        .iter()
        .map(|(id, status)| (id.clone(), (*status).to_owned()))
        .collect();
    // Ids are the keyset: the board's order is the ids' order.
    in_order.sort();
    let only = |wanted: &str| -> Vec<(String, String)> {
        in_order
            .iter()
            .filter(|(_, s)| s == wanted)
            .cloned()
            .collect()
    };

    let data = app
        .ok(
            &hr,
            "{ attendanceToday(day: \"2025-03-03\") { day summary { total absent weeklyOff unscheduled present late checkedIn } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["attendanceToday"],
        json!({ "day": DAY, "summary": {
            "total": PEOPLE + 1, "absent": only("ABSENT").len(), "weeklyOff": only("WEEKLY_OFF").len(),
            "unscheduled": 1, "present": 0, "late": 0, "checkedIn": 0,
        } })
    );

    // Every page, both ways, with and without a filter, across the 500-people chunks.
    assert_eq!(walk(&app, &hr, None, 100, false).await, in_order);
    assert_eq!(walk(&app, &hr, None, 100, true).await, in_order);
    assert_eq!(
        walk(&app, &hr, Some("WEEKLY_OFF"), 10, false).await,
        only("WEEKLY_OFF")
    );
    assert_eq!(
        walk(&app, &hr, Some("WEEKLY_OFF"), 10, true).await,
        only("WEEKLY_OFF")
    );
    assert_eq!(
        walk(&app, &hr, Some("UNSCHEDULED"), 5, false).await,
        only("UNSCHEDULED")
    );
    assert!(walk(&app, &hr, Some("LATE"), 5, true).await.is_empty());

    // A page of 2 reads 3 people (the third says whether there is more) and computes their
    // days alone: no statement carries the board's 521 people.
    statements.take();
    let data = app.ok(&hr, PAGE, json!({ "f": 2 })).await;
    let page = &data["attendanceToday"]["entries"];
    assert_eq!(
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["employee"]["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        in_order[..2]
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let board_statements: Vec<(String, usize)> = statements
        .take()
        .into_iter()
        .filter(|(sql, _)| !sql.contains("employee_outbox"))
        .collect();
    assert!(
        board_statements.iter().all(|(_, values)| *values < 20),
        "{board_statements:#?}"
    );
    assert!(
        board_statements
            .iter()
            .any(|(sql, _)| sql.contains("FROM \"employees\"") && sql.contains("LIMIT")),
        "{board_statements:#?}"
    );
}
