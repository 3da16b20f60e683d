//! The embedded default (SQLite file, in-process bus and cache) runs the same code: a write, its
//! event on the in-process bus, tenant isolation.

use std::time::Duration;

use erp_kit::events::topic_for;
use erp_tests::{Backends, EmployeeApp, TestIssuer};
use futures::StreamExt;
use serde_json::json;

#[tokio::test]
async fn hires_on_sqlite_and_publishes_in_process() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Embedded).await).await;
    let mut events = app
        .runtime
        .bus
        .subscribe(&[&topic_for("employee")], "test")
        .await
        .unwrap();
    let hr = issuer.token("tnt_a", "usr_hr", &["employee:read", "employee:write"]);
    let (status, body) = app
        .graphql(
            Some(&hr),
            "mutation { hireEmployee(input: { employeeNumber: \"S-1\", displayName: \"Sam\", workEmail: \"sam@co.example\", hiredOn: \"2026-03-01\" }) { id displayName status } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["data"]["hireEmployee"]["displayName"], "Sam");
    assert_eq!(body["data"]["hireEmployee"]["status"], "ACTIVE");

    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the event arrives")
        .unwrap();
    assert_eq!(event.event_type, "employee.hired");
    assert_eq!(event.aggregate_id, id);

    let other = issuer.token("tnt_b", "usr_b", &["employee:read"]);
    let (_, body) = app
        .graphql(
            Some(&other),
            "query($id: ID!) { employee(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "employee": null } }));
}
