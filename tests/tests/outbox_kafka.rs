//! The transactional outbox against the real Kafka protocol broker (tansu): a write's event
//! reaches its topic, and with the broker stopped the write still succeeds and its event is
//! delivered once the broker is back.

use std::time::Duration;

use erp_kit::events::{EventBus, EventEnvelope, KafkaBus, KafkaConfig};
use erp_tests::broker::Broker;
use erp_tests::{eventually, require_env, Backends, EmployeeApp, TestIssuer};
use futures::StreamExt;
use serde_json::json;

const HR: &[&str] = &["employee:read", "employee:write"];
const TOPIC: &str = "erp.employee.events";

async fn hire(app: &EmployeeApp, token: &str, number: &str) -> String {
    let (status, body) = app
        .graphql(
            Some(token),
            "mutation($input: HireEmployeeInput!) { hireEmployee(input: $input) { id } }",
            json!({ "input": {
                "employeeNumber": number,
                "displayName": format!("Person {number}"),
                "workEmail": format!("{number}@company.com"),
                "hiredOn": "2026-02-02"
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Reads the topic from the beginning (a fresh consumer group) until an event about `aggregate`
/// arrives.
async fn await_event(brokers: &str, aggregate: &str) -> EventEnvelope {
    let bus = KafkaBus::new(KafkaConfig::new(brokers)).unwrap();
    let group = format!("test-{}", uuid::Uuid::new_v4());
    let mut stream = bus.subscribe(&[TOPIC], &group).await.unwrap();
    tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(event) = stream.next().await {
            if event.aggregate_id == aggregate {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("no event for {aggregate} on {TOPIC} within 90 s"))
}

#[tokio::test]
async fn a_write_and_its_event_arrive_on_the_kafka_topic() {
    let brokers = require_env("KAFKA_BROKERS");
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let token = issuer.token("tnt_kafka", "usr_hr", HR);
    let id = hire(&app, &token, "K-1").await;

    let event = await_event(&brokers, &id).await;
    assert_eq!(event.event_type, "employee.hired");
    assert_eq!(event.tenant_id, "tnt_kafka");
    assert_eq!(event.schema_version, 1);
    assert_eq!(event.actor.as_deref(), Some("usr_hr"));
    assert_eq!(event.payload["employee_number"], "K-1");
    assert_eq!(event.payload["work_email"], "k-1@company.com");
    let outbox = app.employee.outbox().clone();
    let db = app.runtime.db.clone();
    let drained = eventually(Duration::from_secs(10), || {
        let (outbox, db) = (outbox.clone(), db.clone());
        async move { (outbox.pending_count(&db).await.unwrap() == 0).then_some(()) }
    })
    .await;
    assert!(drained.is_some(), "the outbox row is marked published");
}

#[tokio::test]
async fn with_the_broker_down_the_write_succeeds_and_its_event_follows_when_it_is_back() {
    let port = erp_tests::router::free_port();
    let dir = std::env::temp_dir().join(format!("erp-tansu-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let brokers = format!("127.0.0.1:{port}");
    let mut broker = Broker::start(port, dir);

    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(
        erp_tests::runtime(&issuer, Backends::RealWithKafka(brokers.clone())).await,
    )
    .await;
    let token = issuer.token("tnt_outage", "usr_hr", HR);
    let before = hire(&app, &token, "O-1").await;
    await_event(&brokers, &before).await;
    eprintln!("event before the outage delivered");

    broker.stop();
    let during = hire(&app, &token, "O-2").await;
    let outbox = app.employee.outbox().clone();
    let db = app.runtime.db.clone();
    // The write is committed and its event waits in the outbox, failing to publish meanwhile.
    let (_, body) = app
        .graphql(
            Some(&token),
            "query($id: ID!) { employee(id: $id) { employeeNumber } }",
            json!({ "id": during }),
        )
        .await;
    assert_eq!(body["data"]["employee"]["employeeNumber"], "O-2");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(outbox.pending_count(&db).await.unwrap(), 1);

    eprintln!("write during the outage accepted, event pending");
    broker.restart();
    let delivered = await_event(&brokers, &during).await;
    assert_eq!(delivered.event_type, "employee.hired");
    assert_eq!(delivered.payload["employee_number"], "O-2");
    let drained = eventually(Duration::from_secs(30), || {
        let (outbox, db) = (outbox.clone(), db.clone());
        async move { (outbox.pending_count(&db).await.unwrap() == 0).then_some(()) }
    })
    .await;
    assert!(
        drained.is_some(),
        "the outbox drains once the broker is back"
    );
}
