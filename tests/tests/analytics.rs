//! The analytics subgraph end to end, on the real ClickHouse (CLICKHOUSE_URL, a fresh database
//! per test), Kafka (tansu) and Redis, through its HTTP and WebSocket surface:
//! - ingestion: events on a topic become facts; a duplicate, a replay of the whole topic (twice)
//!   and an out-of-order older version change nothing; malformed events are dead-lettered and
//!   the consumer carries on;
//! - the metrics layer: exact values per metric, the tenant filter, field scopes and small-group
//!   suppression, bad input refused with its code and reason;
//! - a live tile updated by a time entry made in the PMO subgraph in the same test;
//! - a streamed CSV export with its exact row count, and its one-time link.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use erp_kit::crypto::{seal_in_transit, LocalKek};
use erp_kit::events::{EventBus, EventEnvelope, KafkaBus, KafkaConfig};
use erp_kit::TenantId;
use erp_tests::analytics::AnalyticsApp;
use erp_tests::pmo::{tenant, ws_next, ws_subscribe, PmoApp};
use erp_tests::{require_env, TestIssuer};
use serde_json::{json, Value};

const METRIC: &str = "query($i: MetricInput!) { metric(input: $i) { metric unit dimensions rows { dimensions value suppressed } } }";
const HR: &[&str] = &["analytics:read", "hr:admin", "finance:read"];
const ANALYST: &[&str] = &["analytics:read"];
/// 21 working days in November 2026, 8 h each.
const NOVEMBER_SECONDS: i64 = 21 * 8 * 3600;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
}

fn event(tenant: &str, event_type: &str, occurred: DateTime<Utc>, payload: Value) -> EventEnvelope {
    let mut envelope =
        EventEnvelope::new(&TenantId::from_claim(tenant), event_type, "agg", payload).unwrap();
    envelope.occurred_at = occurred;
    envelope
}

/// A month of a small company's events: six people logging time on project A (odd ones
/// billable), two on project B, their hiring, leave (one approval cancelled, the cancellation
/// arriving before the approval), two sprints, invoices, a payslip's cost (sealed under `kek`)
/// and check-ins.
async fn november(tenant: &str, kek: &LocalKek) -> Vec<EventEnvelope> {
    // Payroll's employer cost, sealed in transit for analytics as finance seals it.
    let payroll_sealed = seal_in_transit(
        kek,
        &format!("payroll.cost_posted|{tenant}|run1|1|posted"),
        &json!({ "slips": [{ "payslip_id": "ps1", "employee_id": "e1", "employer_cost": 300000 }] })
            .to_string(),
    )
    .await
    .unwrap();
    let mut events = Vec::new();
    for i in 1..=8u32 {
        let project = if i <= 6 { "pA" } else { "pB" };
        let hours = if i <= 6 { i64::from(i) } else { 2 };
        events.push(event(
            tenant,
            "timer.stopped",
            at(1 + i, 18, 0),
            json!({ "timer_id": format!("tm{i}"), "time_entry_id": format!("te{i}"),
                    "user_id": format!("u{i}"), "task_id": "k1", "project_id": project,
                    "started_at": at(1 + i, 9, 0), "ended_at": at(1 + i, 9 + hours as u32, 0),
                    "duration_seconds": hours * 3600, "billable": i <= 6 && i % 2 == 1 }),
        ));
    }
    for i in 1..=6u32 {
        events.push(event(
            tenant,
            "employee.hired",
            at(1, 8, i),
            json!({ "employee_id": format!("e{i}"), "employee_number": format!("E{i}"),
                    "display_name": format!("Person {i}"), "work_email": format!("p{i}@x.test"),
                    "department_id": if i <= 3 { "d1" } else { "d2" }, "manager_id": null,
                    "hired_on": "2026-01-05", "user_id": format!("u{i}") }),
        ));
    }
    let leave = |id: &str, employee: &str, days: f64| {
        json!({ "request_id": id, "employee_id": employee, "leave_type_id": "lt",
                "start_date": "2026-11-16", "end_date": "2026-11-17", "start_half": null,
                "end_half": null, "days": days, "status": "approved", "comment": null })
    };
    // The cancellation (newer) is published before the approval it cancels (older).
    events.push(event(
        tenant,
        "leave.cancelled",
        at(12, 10, 0),
        leave("r1", "e1", 2.0),
    ));
    events.push(event(
        tenant,
        "leave.approved",
        at(10, 10, 0),
        leave("r1", "e1", 2.0),
    ));
    events.push(event(
        tenant,
        "leave.approved",
        at(10, 11, 0),
        leave("r2", "e2", 2.0),
    ));
    events.push(event(
        tenant,
        "sprint.closed",
        at(13, 17, 0),
        json!({ "sprint_id": "s1", "project_id": "pA", "completed_task_ids": ["k1", "k2", "k3"],
                "carried_over_task_ids": ["k4"], "carried_over_to": "s2" }),
    ));
    events.push(event(
        tenant,
        "sprint.closed",
        at(27, 17, 0),
        json!({ "sprint_id": "s2", "project_id": "pA", "completed_task_ids": ["k4"],
                "carried_over_task_ids": [], "carried_over_to": null }),
    ));
    events.push(event(
        tenant,
        "invoice.posted",
        at(20, 12, 0),
        json!({ "invoice_id": "inv1", "reference": "INV-1", "customer_id": "c1",
                "date": "2026-11-20", "due_date": "2026-12-20", "currency": "EUR",
                "total": 150000, "project_id": "pA", "entry_id": "je1" }),
    ));
    events.push(event(
        tenant,
        "invoice.posted",
        at(21, 12, 0),
        json!({ "invoice_id": "inv2", "reference": "INV-2", "customer_id": "c2",
                "date": "2026-11-21", "due_date": "2026-12-21", "currency": "USD",
                "total": 5000, "project_id": "pB", "entry_id": "je2" }),
    ));
    events.push(event(
        tenant,
        "payroll.cost_posted",
        at(30, 18, 0),
        json!({ "run_id": "run1", "period": "2026-11", "period_end": "2026-11-30",
                "run_type": "regular", "currency": "EUR", "part": 1, "parts": 1,
                "slip_count": 1, "reversal": false, "sealed_for_analytics": payroll_sealed }),
    ));
    for (punch, day, hour, minute) in [("pu1", 2, 8, 55), ("pu2", 3, 9, 30)] {
        events.push(event(
            tenant,
            "attendance.checked_in",
            at(day, hour, minute),
            json!({ "punch_id": punch, "employee_id": "e1", "department_id": "d1",
                    "at": at(day, hour, minute).timestamp_millis(), "source": "web",
                    "location_id": null }),
        ));
    }
    events
}

async fn publish_raw(topic: &str, payload: &[u8]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", require_env("KAFKA_BROKERS"))
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<str, [u8]>::to(topic)
                .key("raw")
                .payload(payload),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

/// Publishes `events` (and, in `with_bad`, a malformed event and a message that is not an
/// event); returns how many messages went out.
async fn publish_all(bus: &KafkaBus, topic: &str, events: &[EventEnvelope], with_bad: bool) -> u64 {
    let mut sent = 0;
    for event in events {
        bus.publish(topic, event).await.unwrap();
        sent += 1;
    }
    if with_bad {
        let tenant = events[0].tenant_id.clone();
        let malformed = event(
            &tenant,
            "timer.stopped",
            at(5, 9, 0),
            json!({ "time_entry_id": "bad", "user_id": "u1", "duration_seconds": "an hour" }),
        );
        bus.publish(topic, &malformed).await.unwrap();
        publish_raw(topic, b"not an event envelope").await;
        sent += 2;
    }
    sent
}

/// Waits until the app's consumer has received `messages`, then stores its facts; returns its
/// counts.
async fn ingest(app: &mut AnalyticsApp, messages: u64) -> erp_kit::events::ConsumerStats {
    let consumed = erp_tests::eventually(Duration::from_secs(90), || {
        let stats = app.consumer_stats();
        async move { (stats.consumed >= messages).then_some(stats) }
    })
    .await;
    assert!(
        consumed.is_some(),
        "{messages} messages consumed within 90 s: {:?}",
        app.consumer_stats()
    );
    let stats = app.consumer_stats();
    app.drain().await;
    stats
}

fn input(metric: &str, group_by: &[&str]) -> Value {
    json!({ "i": { "metric": metric, "groupBy": group_by, "from": "2026-11-01", "to": "2026-11-30" } })
}

/// Every metric the fixture exercises, as the HR/finance viewer sees it.
async fn snapshot(app: &AnalyticsApp, hr: &str) -> Vec<Value> {
    let mut results = Vec::new();
    for (metric, group_by) in [
        ("hours_logged", vec!["person"]),
        ("hours_logged", vec!["project"]),
        ("billable_hours", vec!["person"]),
        ("capacity", vec!["person"]),
        ("utilization", vec!["person"]),
        ("utilization", vec!["department"]),
        ("utilization", vec![]),
        ("task_throughput", vec!["project"]),
        ("sprint_velocity", vec!["project"]),
        ("invoiced_revenue", vec!["project"]),
        ("labour_cost", vec!["person"]),
        ("punctuality", vec!["person"]),
        ("labour_cost", vec!["month"]),
        ("hours_logged", vec!["person", "week", "billable"]),
        ("task_throughput", vec!["week"]),
        ("invoiced_revenue", vec!["client", "month"]),
        ("capacity", vec!["department"]),
    ] {
        let data = app.ok(hr, METRIC, input(metric, &group_by)).await;
        results.push(data["metric"].clone());
    }
    results
}

fn rows(result: &Value) -> Vec<(Vec<String>, Option<String>)> {
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect(),
                row["value"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn row(dimensions: &[&str], value: Option<i64>) -> (Vec<String>, Option<String>) {
    (
        dimensions.iter().map(|d| (*d).to_owned()).collect(),
        value.map(|v| v.to_string()),
    )
}

#[tokio::test]
async fn events_become_exact_metrics_and_replays_duplicates_and_late_versions_change_nothing() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let hr = issuer.token(&t, "usr_hr", HR);
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let kek = LocalKek::load_or_create(&erp_tests::analytics::kek_file(&issuer)).unwrap();
    let events = november(&t, &kek).await;
    // The first time entry twice (an at-least-once redelivery).
    let mut sent = publish_all(&bus, &topic, &events, true).await;
    bus.publish(&topic, &events[0]).await.unwrap();
    sent += 1;
    // Another tenant's facts on the same topic never show.
    let other = november(&tenant(), &kek).await;
    sent += publish_all(&bus, &topic, &other[..3], false).await;

    let mut first = AnalyticsApp::spawn(&issuer, Some(vec![topic.clone()])).await;
    let stats = ingest(&mut first, sent).await;
    let results = snapshot(&first, &hr).await;

    // Exact values.
    assert_eq!(
        rows(&results[0]),
        (1..=8)
            .map(|i| {
                let hours = if i <= 6 { i } else { 2 };
                row(&[&format!("u{i}")], Some(hours * 3600))
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(results[0]["unit"], "SECONDS");
    // Project B's two people: suppressed (fewer than 5), project A's six: shown.
    assert_eq!(
        rows(&results[1]),
        vec![row(&["pA"], Some(21 * 3600)), row(&["pB"], None)]
    );
    assert_eq!(
        rows(&results[2])[..6],
        [
            row(&["u1"], Some(3600)),
            row(&["u2"], Some(0)),
            row(&["u3"], Some(3 * 3600)),
            row(&["u4"], Some(0)),
            row(&["u5"], Some(5 * 3600)),
            row(&["u6"], Some(0)),
        ]
    );
    // Capacity: 21 working days less approved leave; e1's cancelled leave (its cancellation
    // arrived first, the older approval after it) counts nothing, e2's two days count.
    let capacity: Vec<_> = (1..=6)
        .map(|i| {
            let leave = if i == 2 { 2 * 8 * 3600 } else { 0 };
            row(&[&format!("u{i}")], Some(NOVEMBER_SECONDS - leave))
        })
        .collect();
    assert_eq!(rows(&results[3]), capacity);
    assert_eq!(
        rows(&results[4]),
        vec![
            row(&["u1"], Some(3600 * 10_000 / NOVEMBER_SECONDS)),
            row(&["u2"], Some(0)),
            row(&["u3"], Some(3 * 3600 * 10_000 / NOVEMBER_SECONDS)),
            row(&["u4"], Some(0)),
            row(&["u5"], Some(5 * 3600 * 10_000 / NOVEMBER_SECONDS)),
            row(&["u6"], Some(0)),
        ]
    );
    assert_eq!(results[4]["unit"], "BASIS_POINTS");
    // Departments of three: suppressed; the whole company (six): shown.
    assert_eq!(
        rows(&results[5]),
        vec![row(&["d1"], None), row(&["d2"], None)]
    );
    let company_capacity = 6 * NOVEMBER_SECONDS - 2 * 8 * 3600;
    assert_eq!(
        rows(&results[6]),
        vec![row(&[], Some(9 * 3600 * 10_000 / company_capacity))]
    );
    assert_eq!(rows(&results[7]), vec![row(&["pA"], Some(4))]);
    assert_eq!(rows(&results[8]), vec![row(&["pA"], Some(200))]);
    assert_eq!(
        rows(&results[9]),
        vec![
            row(&["pA", "EUR"], Some(150_000)),
            row(&["pB", "USD"], Some(5_000))
        ]
    );
    assert_eq!(results[9]["dimensions"], json!(["project", "currency"]));
    // Payroll cost per person (HR and finance), but a month of one person's cost is that
    // person's pay: suppressed like any group under five.
    assert_eq!(rows(&results[10]), vec![row(&["e1", "EUR"], Some(300_000))]);
    assert_eq!(rows(&results[11]), vec![row(&["e1"], Some(5_000))]);
    assert_eq!(rows(&results[12]), vec![row(&["2026-11", "EUR"], None)]);
    assert_eq!(
        rows(&results[13])[..2],
        [
            row(&["u1", "2026-W45", "true"], Some(3600)),
            row(&["u2", "2026-W45", "false"], Some(7200)),
        ]
    );
    assert_eq!(
        rows(&results[14]),
        vec![row(&["2026-W46"], Some(3)), row(&["2026-W48"], Some(1))]
    );

    // The malformed event and the non-event were dead-lettered; the rest was handled.
    assert_eq!(stats.dead_lettered, 2, "{stats:?}");
    let store = erp_tests::analytics::clickhouse_store(&first.database);
    assert_eq!(store.dead_letter_count(&first.group).await.unwrap(), 2);

    // Replay: the whole topic published again, then read from the start by a new group into
    // the same store (it sees every message twice): identical results.
    sent += publish_all(&bus, &topic, &events, true).await;
    let mut replay =
        AnalyticsApp::spawn_on(&issuer, &first.database, Some(vec![topic.clone()])).await;
    ingest(&mut replay, sent).await;
    assert_eq!(snapshot(&replay, &hr).await, results);
    // And once more by a third group: still identical.
    let mut again =
        AnalyticsApp::spawn_on(&issuer, &first.database, Some(vec![topic.clone()])).await;
    ingest(&mut again, sent).await;
    assert_eq!(snapshot(&again, &hr).await, results);

    // Parity: the embedded engine of `erp-os all` (DataFusion, deduping on read) reads the same
    // topic (every message twice) and answers every metric identically, to the minor unit.
    let mut embedded = AnalyticsApp::spawn_embedded(&issuer, Some(vec![topic])).await;
    ingest(&mut embedded, sent).await;
    assert_eq!(snapshot(&embedded, &hr).await, results);
}

#[tokio::test]
async fn scopes_and_bad_requests_are_refused_with_their_reasons() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let app = AnalyticsApp::spawn(
        &issuer,
        Some(vec![format!(
            "erp.analyticstest{}.events",
            uuid::Uuid::new_v4().simple()
        )]),
    )
    .await;
    let analyst = issuer.token(&t, "usr_an", ANALYST);
    let manager = issuer.token(&t, "usr_mgr", &["analytics:read", "analytics:people"]);
    let outsider = issuer.token(&t, "usr_out", &["project:read"]);
    let refused = |body: &Value| {
        (
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            body["errors"][0]["extensions"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let cases: Vec<(&str, Value, (&str, &str))> = vec![
        (
            &analyst,
            input("happiness", &[]),
            ("BAD_USER_INPUT", "UNKNOWN_METRIC"),
        ),
        (
            &analyst,
            input("hours_logged", &["mood"]),
            ("BAD_USER_INPUT", "UNKNOWN_DIMENSION"),
        ),
        (
            &analyst,
            input("task_throughput", &["person"]),
            ("BAD_USER_INPUT", "UNKNOWN_DIMENSION"),
        ),
        (
            &analyst,
            input("hours_logged", &["person"]),
            ("FORBIDDEN", "PERSON_LEVEL_FORBIDDEN"),
        ),
        (
            &manager,
            input("labour_cost", &["month"]),
            ("FORBIDDEN", "COST_FORBIDDEN"),
        ),
        (
            &analyst,
            json!({ "i": { "metric": "punctuality", "groupBy": ["week"],
                           "filters": [{ "dimension": "person", "values": ["e1"] }],
                           "from": "2026-11-01", "to": "2026-11-30" } }),
            ("FORBIDDEN", "FORBIDDEN_FILTER"),
        ),
        (
            &analyst,
            json!({ "i": { "metric": "task_throughput", "from": "2026-11-30", "to": "2026-11-01" } }),
            ("BAD_USER_INPUT", "INVALID_RANGE"),
        ),
        (
            &analyst,
            json!({ "i": { "metric": "task_throughput", "from": "2010-01-01", "to": "2010-01-31" } }),
            ("BAD_USER_INPUT", "BEYOND_RETENTION"),
        ),
        (
            &analyst,
            json!({ "i": { "metric": "task_throughput", "from": "2026-11-01", "to": "2026-11-30",
                           "filters": [{ "dimension": "project", "values": ["p' OR 1=1 --"] }] } }),
            ("BAD_USER_INPUT", "INVALID_QUERY"),
        ),
    ];
    for (token, variables, (code, reason)) in cases {
        let (status, body) = app.graphql(token, METRIC, variables.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], Value::Null, "{variables}: {body}");
        assert_eq!(
            refused(&body),
            (code.to_owned(), reason.to_owned()),
            "{variables}: {body}"
        );
    }
    // Without analytics:read the field is closed.
    let (_, body) = app
        .graphql(&outsider, METRIC, input("task_throughput", &[]))
        .await;
    assert_eq!(refused(&body).0, "UNAUTHORIZED_FIELD_OR_TYPE", "{body}");
    // A manager reads person-level figures; an empty tenant has no rows.
    let data = app
        .ok(&manager, METRIC, input("hours_logged", &["person"]))
        .await;
    assert_eq!(data["metric"]["rows"], json!([]));
    // The catalogue lists every metric with its privacy class.
    let data = app
        .ok(
            &analyst,
            "{ metricCatalogue { name unit peopleAnalytics cost } }",
            json!({}),
        )
        .await;
    let catalogue = data["metricCatalogue"].as_array().unwrap();
    assert_eq!(catalogue.len(), 14);
    assert_eq!(
        catalogue[8],
        json!({ "name": "labour_cost", "unit": "MINOR_UNITS", "peopleAnalytics": true, "cost": true })
    );
    assert_eq!(
        catalogue[12],
        json!({ "name": "profitability", "unit": "MINOR_UNITS", "peopleAnalytics": true, "cost": true })
    );
    // Work in progress is revenue at the bill rate, nobody's pay.
    assert_eq!(
        catalogue[13],
        json!({ "name": "work_in_progress", "unit": "MINOR_UNITS", "peopleAnalytics": false, "cost": false })
    );
}

#[tokio::test]
async fn an_export_streams_exactly_its_row_count_once() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let mut events = Vec::new();
    for i in 0..250u32 {
        events.push(event(
            &t,
            "timer.stopped",
            at(1 + i % 28, 18, 0),
            json!({ "timer_id": format!("tm{i}"), "time_entry_id": format!("te{i:04}"),
                    "user_id": format!("u{}", i % 7), "task_id": "k", "project_id": "pA",
                    "started_at": at(1 + i % 28, 9, 0), "ended_at": at(1 + i % 28, 10, 0),
                    "duration_seconds": 3600 + i64::from(i), "billable": true }),
        ));
    }
    let sent = publish_all(&bus, &topic, &events, false).await;
    let mut app = AnalyticsApp::spawn(&issuer, Some(vec![topic])).await;
    ingest(&mut app, sent).await;

    const EXPORT: &str = "query($i: AnalyticsExportInput!) { analyticsExport(input: $i) { path rowCount asOf expiresAt } }";
    let range = json!({ "i": { "from": "2026-11-01", "to": "2026-11-30" } });
    // Time entries are per person: the export scope alone is not enough.
    let exporter = issuer.token(&t, "usr_x", &["analytics:read", "analytics:export"]);
    let (_, body) = app.graphql(&exporter, EXPORT, range.clone()).await;
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "PERSON_LEVEL_FORBIDDEN",
        "{body}"
    );
    let hr = issuer.token(&t, "usr_hr", &["analytics:export", "hr:read"]);
    let data = app.ok(&hr, EXPORT, range).await;
    let export = &data["analyticsExport"];
    assert_eq!(export["rowCount"], "250");
    let path = export["path"].as_str().unwrap();
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-row-count"], "250");
    assert_eq!(
        response.headers()["x-as-of"].to_str().unwrap(),
        export["asOf"].as_str().unwrap()
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 251, "a header and 250 rows");
    assert_eq!(
        lines[0],
        "\"time_entry_id\",\"person\",\"project\",\"day\",\"week\",\"seconds\",\"billable\""
    );
    assert_eq!(
        lines[1],
        "\"te0000\",\"u0\",\"pA\",\"2026-11-01\",\"2026-W44\",3600,1"
    );
    // The link works once.
    let again = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(again.status(), 404);
    let error: Value = again.json().await.unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(error["errors"][0]["extensions"]["reason"], "EXPORT_EXPIRED");
}

#[tokio::test]
async fn a_time_entry_made_in_pmo_updates_a_live_tile() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let pmo = PmoApp::spawn(&issuer).await;
    let member = issuer.token(
        &t,
        "usr_dev",
        &["project:read", "project:write", "task:start", "task:log"],
    );
    let project = pmo.project(&member, "Tiles", true).await;
    let task = pmo.task(&member, &project, "Work", json!({})).await;
    // Every domain's topics, as in production (a new group reads them from the start).
    let app = AnalyticsApp::spawn(&issuer, None).await;
    let manager = issuer.token(&t, "usr_mgr", &["analytics:read", "analytics:people"]);

    let (mut socket, ack) = erp_tests::analytics::ws_connect(&app, &manager).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let today = Utc::now().date_naive().to_string();
    ws_subscribe(
        &mut socket,
        "tile",
        "subscription($i: MetricInput!) { metric(input: $i) { metric rows { dimensions value } } }",
        json!({ "i": { "metric": "hours_logged", "groupBy": ["person"],
                       "filters": [{ "dimension": "project", "values": [project] }],
                       "from": today, "to": today } }),
    )
    .await;
    let first = ws_next(&mut socket).await;
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["payload"]["data"]["metric"]["rows"], json!([]));

    pmo.ok(
        &member,
        "mutation($t: ID!) { startTaskTimer(input: { taskId: $t }) { id } }",
        json!({ "t": task }),
    )
    .await;
    let data = pmo
        .ok(
            &member,
            "mutation { stopTimer { id durationSeconds } }",
            json!({}),
        )
        .await;
    let seconds = data["stopTimer"]["durationSeconds"].as_i64().unwrap();
    // The tile moves once the PMO outbox, Kafka, the consumer and the writer have passed it
    // on (the consumer may first be catching up on the topic's history).
    let update = tokio::time::timeout(
        Duration::from_secs(120),
        erp_tests::analytics::ws_next_within(&mut socket, Duration::from_secs(120)),
    )
    .await
    .expect("the tile moves within 120 s");
    assert_eq!(update["type"], "next", "unexpected message {update}");
    assert_eq!(
        update["payload"]["data"]["metric"],
        json!({ "metric": "hours_logged",
                "rows": [{ "dimensions": ["usr_dev"], "value": seconds.to_string() }] })
    );
}

/// Runs `sql` on the test ClickHouse server.
async fn clickhouse(sql: &str) {
    let response = reqwest::Client::new()
        .post(require_env("CLICKHOUSE_URL"))
        .body(sql.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{sql}: {status} {}",
        response.text().await.unwrap()
    );
}

/// `u<i>` logged `hours` on project A on 2 November + i.
fn time_entry(tenant: &str, i: u32, hours: u32) -> EventEnvelope {
    event(
        tenant,
        "timer.stopped",
        at(2 + i, 18, 0),
        json!({ "timer_id": format!("tm{i}"), "time_entry_id": format!("te{i}"),
                "user_id": format!("u{i}"), "task_id": "k1", "project_id": "pA",
                "started_at": at(2 + i, 9, 0), "ended_at": at(2 + i, 9 + hours, 0),
                "duration_seconds": hours * 3600, "billable": true }),
    )
}

/// Waits until hours logged per person are `expected` (user, hours); fails with what shows.
async fn await_hours(app: &AnalyticsApp, token: &str, expected: &[(&str, i64)]) {
    let expected: Vec<_> = expected
        .iter()
        .map(|(user, hours)| row(&[user], Some(hours * 3600)))
        .collect();
    let query = || async {
        let data = app
            .ok(token, METRIC, input("hours_logged", &["person"]))
            .await;
        rows(&data["metric"])
    };
    let seen = erp_tests::eventually(Duration::from_secs(60), || async {
        (query().await == expected).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "hours {:?}, not {expected:?}",
        query().await
    );
}

/// Waits until the app's consumer received `messages` and was then refused a position commit
/// (its facts not stored) more than `refusals` times.
async fn await_positions_held(app: &AnalyticsApp, messages: u64, refusals: u64) {
    let held = erp_tests::eventually(Duration::from_secs(60), || async {
        (app.consumer_stats().consumed >= messages && app.failed_flushes() > refusals).then_some(())
    })
    .await;
    assert!(
        held.is_some(),
        "the consumer of {messages} messages never held its positions: {:?}, {} failed flushes, {} failed inserts",
        app.consumer_stats(),
        app.failed_flushes(),
        app.failed_inserts()
    );
}

/// Tenant isolation in ClickHouse itself: tenant queries run as a user whose row policy keeps
/// only the rows of the tenant named by the query's setting, so a query through the app's
/// tenant client that forgets the tenant filter still sees one tenant's facts. (On a server
/// of the test's own: the shared clickhouse-local keeps users only from its `users.xml`.)
#[tokio::test]
async fn a_row_policy_keeps_a_tenant_query_without_its_filter_to_the_tenants_facts() {
    let issuer = TestIssuer::start().await;
    let server = erp_tests::analytics::IsolatedClickHouse::start().await;
    let (a, b) = (tenant(), tenant());
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let mut events: Vec<EventEnvelope> = (0..3).map(|i| time_entry(&a, i, 2)).collect();
    events.extend((0..2).map(|i| time_entry(&b, i, 5)));
    let sent = publish_all(&bus, &topic, &events, false).await;
    let store = std::sync::Arc::new(server.store());
    let mut app = AnalyticsApp::spawn_with(
        &issuer,
        store.clone(),
        &server.database,
        Some(vec![topic]),
        erp_tests::analytics::shared_kafka(),
        erp_tests::analytics::kek_file(&issuer),
    )
    .await;
    ingest(&mut app, sent).await;

    // Deliberately unfiltered: every tenant's facts, as SQL goes.
    const ALL_TENANTS: &str = "SELECT DISTINCT tenant_id FROM facts FINAL ORDER BY tenant_id";
    const ALL_FACTS: &str = "SELECT toUInt64(count()) FROM facts FINAL";
    for (tenant, count) in [(&a, 3u64), (&b, 2)] {
        let client = store.tenant_client(tenant);
        assert_eq!(
            client
                .query(ALL_TENANTS)
                .fetch_all::<String>()
                .await
                .unwrap(),
            vec![tenant.clone()]
        );
        assert_eq!(
            client.query(ALL_FACTS).fetch_one::<u64>().await.unwrap(),
            count
        );
    }
    // A tenant that has no facts sees none.
    assert_eq!(
        store
            .tenant_client("nobody")
            .query(ALL_FACTS)
            .fetch_one::<u64>()
            .await
            .unwrap(),
        0
    );
    // The server really holds both tenants' facts (the ingesting user is not restricted).
    let every = reqwest::Client::new()
        .post(&server.url)
        .query(&[("database", server.database.as_str())])
        .body(ALL_FACTS)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(every.trim(), "5");
    // Metrics run through the tenant user and still give each tenant its own hours.
    await_hours(
        &app,
        &issuer.token(&a, "usr_hr", HR),
        &[("u0", 2), ("u1", 2), ("u2", 2)],
    )
    .await;
    await_hours(
        &app,
        &issuer.token(&b, "usr_hr", HR),
        &[("u0", 5), ("u1", 5)],
    )
    .await;
}

#[tokio::test]
async fn a_failed_fact_insert_is_retried_and_a_crash_before_it_is_stored_loses_nothing() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let hr = issuer.token(&t, "usr_hr", HR);
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let database = erp_tests::analytics::fresh_clickhouse_database();
    let group = format!("erp.analytics.test-{}", uuid::Uuid::new_v4().simple());
    let spawn = || {
        AnalyticsApp::spawn_in_group(
            &issuer,
            erp_tests::analytics::clickhouse_store(&database),
            &database,
            Some(vec![topic.clone()]),
            erp_tests::analytics::shared_kafka(),
            erp_tests::analytics::kek_file(&issuer),
            group.clone(),
        )
    };
    let mut app = spawn().await;
    let away = format!("RENAME TABLE {database}.facts TO {database}.facts_away");
    let back = format!("RENAME TABLE {database}.facts_away TO {database}.facts");

    // The facts table is gone: the batch's insert fails (the consumer, about to commit its
    // positions, keeps them), and is tried again until the table is back.
    clickhouse(&away).await;
    for (i, hours) in [(1, 1), (2, 2)] {
        bus.publish(&topic, &time_entry(&t, i, hours))
            .await
            .unwrap();
    }
    await_positions_held(&app, 2, 0).await;
    assert!(app.failed_inserts() >= 1);
    clickhouse(&back).await;
    await_hours(&app, &hr, &[("u1", 1), ("u2", 2)]).await;

    // Gone again: two more events are handled, their facts wait in the writer, the consumer
    // keeps their positions, and the service crashes before they are stored.
    let refusals = app.failed_flushes();
    clickhouse(&away).await;
    for (i, hours) in [(3, 3), (4, 4)] {
        bus.publish(&topic, &time_entry(&t, i, hours))
            .await
            .unwrap();
    }
    await_positions_held(&app, 4, refusals).await;
    app.kill().await;
    clickhouse(&back).await;
    let stored = app
        .ok(&hr, METRIC, input("hours_logged", &["person"]))
        .await;
    assert_eq!(
        rows(&stored["metric"]),
        vec![row(&["u1"], Some(3600)), row(&["u2"], Some(2 * 3600))],
        "the crash lost the facts in hand"
    );

    // Their events were never acknowledged: the group's next consumer gets them again.
    let again = spawn().await;
    await_hours(&again, &hr, &[("u1", 1), ("u2", 2), ("u3", 3), ("u4", 4)]).await;
    assert_eq!(again.failed_inserts(), 0);
}

/// A month of a consultancy's events for profitability: three projects (pA and pC for client
/// cA, pB for cB), six people linked to logins logging time on them, a seventh without a
/// login, their November payroll cost (sealed under `kek`), and invoices: pA's in EUR (posted
/// twice: a redelivery), pB's in USD with its EUR base total, one without a project for client
/// cD, and an October one outside the range.
async fn consultancy(tenant: &str, kek: &LocalKek) -> Vec<EventEnvelope> {
    let mut events = Vec::new();
    for (project, client) in [("pA", "cA"), ("pB", "cB"), ("pC", "cA")] {
        events.push(event(
            tenant,
            "project.created",
            at(1, 7, 0),
            json!({ "project_id": project, "name": project, "client": null,
                    "client_id": client, "billable": true }),
        ));
    }
    for i in 1..=7u32 {
        events.push(event(
            tenant,
            "employee.hired",
            at(1, 8, i),
            json!({ "employee_id": format!("e{i}"), "employee_number": format!("E{i}"),
                    "display_name": format!("Person {i}"), "work_email": format!("p{i}@x.test"),
                    "department_id": "d1", "manager_id": null, "hired_on": "2026-01-05",
                    "user_id": if i <= 6 { Value::from(format!("u{i}")) } else { Value::Null } }),
        ));
    }
    let mut entry =
        |id: String, user: String, project: &str, started: DateTime<Utc>, hours: i64| {
            events.push(event(
                tenant,
                "timer.stopped",
                started + chrono::Duration::hours(hours),
                json!({ "timer_id": id, "time_entry_id": id, "user_id": user, "task_id": "k1",
                    "project_id": project, "started_at": started,
                    "ended_at": started + chrono::Duration::hours(hours),
                    "duration_seconds": hours * 3600, "billable": true }),
            ));
        };
    // u_i: i hours on pA; u1..u5 one hour on pB; u6 three hours on pC.
    for i in 1..=6u32 {
        entry(
            format!("ta{i}"),
            format!("u{i}"),
            "pA",
            at(2 + i, 9, 0),
            i64::from(i),
        );
        if i <= 5 {
            entry(format!("tb{i}"), format!("u{i}"), "pB", at(10 + i, 9, 0), 1);
        }
    }
    entry("tc6".into(), "u6".into(), "pC", at(20, 9, 0), 3);
    // October hours: another month, never weigh November's cost.
    entry(
        "toct".into(),
        "u1".into(),
        "pB",
        Utc.with_ymd_and_hms(2026, 10, 20, 9, 0, 0).unwrap(),
        8,
    );
    // Employer costs: e_i 100,000 + i (odd units, so shares have remainders); e7 50,000.
    let slips: Vec<Value> = (1..=7i64)
        .map(|i| {
            json!({ "payslip_id": format!("ps{i}"), "employee_id": format!("e{i}"),
                    "employer_cost": if i <= 6 { 100_000 + i } else { 50_000 } })
        })
        .collect();
    let sealed = seal_in_transit(
        kek,
        &format!("payroll.cost_posted|{tenant}|run-nov|1|posted"),
        &json!({ "slips": slips }).to_string(),
    )
    .await
    .unwrap();
    events.push(event(
        tenant,
        "payroll.cost_posted",
        at(30, 18, 0),
        json!({ "run_id": "run-nov", "period": "2026-11", "period_end": "2026-11-30",
                "run_type": "regular", "currency": "EUR", "part": 1, "parts": 1,
                "slip_count": 7, "reversal": false, "sealed_for_analytics": sealed }),
    ));
    let invoice = |id: &str,
                   date: &str,
                   currency: &str,
                   total: i64,
                   project: Option<&str>,
                   client: Option<&str>,
                   base: i64| {
        json!({ "invoice_id": id, "reference": id, "customer_id": format!("cust-{id}"),
                "date": date, "due_date": date, "currency": currency, "total": total,
                "project_id": project, "entry_id": "je", "client_id": client,
                "base_currency": "EUR", "base_total": base })
    };
    let pa = invoice(
        "inv1",
        "2026-11-25",
        "EUR",
        900_000,
        Some("pA"),
        Some("cA"),
        900_000,
    );
    events.push(event(tenant, "invoice.posted", at(25, 12, 0), pa.clone()));
    events.push(event(tenant, "invoice.posted", at(25, 12, 0), pa));
    events.push(event(
        tenant,
        "invoice.posted",
        at(26, 12, 0),
        invoice(
            "inv2",
            "2026-11-26",
            "USD",
            200_000,
            Some("pB"),
            None,
            185_185,
        ),
    ));
    events.push(event(
        tenant,
        "invoice.posted",
        at(27, 12, 0),
        invoice(
            "inv3",
            "2026-11-27",
            "EUR",
            10_000,
            None,
            Some("cD"),
            10_000,
        ),
    ));
    // A vendor bill on pB (USD, its EUR base total counts): pB's direct cost.
    events.push(event(
        tenant,
        "bill.posted",
        at(15, 12, 0),
        json!({ "bill_id": "bill1", "reference": "BILL-1", "vendor_id": "v1",
                "date": "2026-11-15", "currency": "USD", "total": 13_333, "project_id": "pB",
                "entry_id": "je", "base_currency": "EUR", "base_total": PB_BILL }),
    ));
    events.push(event(
        tenant,
        "invoice.posted",
        Utc.with_ymd_and_hms(2026, 10, 30, 12, 0, 0).unwrap(),
        invoice(
            "inv0",
            "2026-10-30",
            "EUR",
            77_777,
            Some("pA"),
            Some("cA"),
            77_777,
        ),
    ));
    events
}

/// The EUR base total of the vendor bill on pB in [`consultancy`].
const PB_BILL: i64 = 12_345;

/// Profitability as the finance viewer asks it.
async fn profitability(app: &AnalyticsApp, token: &str) -> Vec<Value> {
    let mut results = Vec::new();
    for (group_by, filters) in [
        (vec!["project"], json!([])),
        (vec!["client"], json!([])),
        (vec!["client", "month"], json!([])),
        (
            vec!["month"],
            json!([{ "dimension": "project", "values": ["pB"] }]),
        ),
        (
            vec!["project"],
            json!([{ "dimension": "client", "values": ["cA", "cD"] }]),
        ),
    ] {
        let variables = json!({ "i": { "metric": "profitability", "groupBy": group_by,
            "filters": filters, "from": "2026-11-01", "to": "2026-11-30" } });
        results.push(app.ok(token, METRIC, variables).await["metric"].clone());
    }
    let revenue = app
        .ok(token, METRIC, input("invoiced_revenue", &["project"]))
        .await;
    results.push(revenue["metric"].clone());
    results
}

#[tokio::test]
async fn profitability_allocates_payroll_cost_by_hours_exactly_and_both_engines_agree() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let finance = issuer.token(&t, "usr_fin", &["analytics:read", "finance:read"]);
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let kek = LocalKek::load_or_create(&erp_tests::analytics::kek_file(&issuer)).unwrap();
    let events = consultancy(&t, &kek).await;
    let sent = publish_all(&bus, &topic, &events, false).await;

    let mut clickhouse = AnalyticsApp::spawn(&issuer, Some(vec![topic.clone()])).await;
    let stats = ingest(&mut clickhouse, sent).await;
    assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    let results = profitability(&clickhouse, &finance).await;

    // Each person's November cost split over their November hours, largest remainder:
    //   e1 100,001 over pA 1 h : pB 1 h -> 50,001 : 50,000 (a tie: the smaller project id)
    //   e2 100,002 over 2 : 1 -> 66,668 : 33,334
    //   e3 100,003 over 3 : 1 -> 75,002 : 25,001
    //   e4 100,004 over 4 : 1 -> 80,003 : 20,001
    //   e5 100,005 over 5 : 1 -> 83,338 : 16,667 (equal remainders: pA)
    //   e6 100,006 over pA 6 h : pC 3 h -> 66,671 : 33,335
    //   e7 50,000, no login: unallocated (project "")
    let pa_cost = 50_001 + 66_668 + 75_002 + 80_003 + 83_338 + 66_671;
    let pb_cost = 50_000 + 33_334 + 25_001 + 20_001 + 16_667;
    let pc_cost = 33_335;
    assert_eq!(
        pa_cost + pb_cost + pc_cost + 50_000,
        6 * 100_000 + 21 + 50_000
    );
    // Revenue in EUR base amounts: pA 900,000 (once, though delivered twice), pB's USD invoice
    // at its base 185,185, cD's 10,000 without a project; October's invoice is out of range.
    // pB's vendor bill (its EUR base) is pB's cost too.
    // The unallocated cost (one person's pay) and pC (one person's) are withheld.
    assert_eq!(
        rows(&results[0]),
        vec![
            row(&["", "EUR"], None),
            row(&["pA", "EUR"], Some(900_000 - pa_cost)),
            row(&["pB", "EUR"], Some(185_185 - pb_cost - PB_BILL)),
            row(&["pC", "EUR"], None),
        ]
    );
    assert_eq!(results[0]["unit"], "MINOR_UNITS");
    assert_eq!(results[0]["dimensions"], json!(["project", "currency"]));
    // Per client: cA is pA and pC (six people's pay), cB is pB, cD revenue only (no pay in it).
    assert_eq!(
        rows(&results[1]),
        vec![
            row(&["", "EUR"], None),
            row(&["cA", "EUR"], Some(900_000 - pa_cost - pc_cost)),
            row(&["cB", "EUR"], Some(185_185 - pb_cost - PB_BILL)),
            row(&["cD", "EUR"], Some(10_000)),
        ]
    );
    assert_eq!(
        rows(&results[2]),
        vec![
            row(&["", "2026-11", "EUR"], None),
            row(&["cA", "2026-11", "EUR"], Some(900_000 - pa_cost - pc_cost)),
            row(&["cB", "2026-11", "EUR"], Some(185_185 - pb_cost - PB_BILL)),
            row(&["cD", "2026-11", "EUR"], Some(10_000)),
        ]
    );
    assert_eq!(
        rows(&results[3]),
        vec![row(&["2026-11", "EUR"], Some(185_185 - pb_cost - PB_BILL))]
    );
    assert_eq!(
        rows(&results[4]),
        vec![
            row(&["", "EUR"], Some(10_000)),
            row(&["pA", "EUR"], Some(900_000 - pa_cost)),
            row(&["pC", "EUR"], None),
        ]
    );
    // Invoiced revenue stays in each invoice's own currency.
    assert_eq!(
        rows(&results[5]),
        vec![
            row(&["", "EUR"], Some(10_000)),
            row(&["pA", "EUR"], Some(900_000)),
            row(&["pB", "USD"], Some(200_000)),
        ]
    );

    // Who may see it: payroll-derived cost, finance and HR only; no person dimension.
    let analyst = issuer.token(&t, "usr_analyst", ANALYST);
    let (_, refused) = clickhouse
        .graphql(&analyst, METRIC, input("profitability", &["project"]))
        .await;
    assert_eq!(
        (
            refused["errors"][0]["extensions"]["code"].as_str(),
            refused["errors"][0]["extensions"]["reason"].as_str()
        ),
        (Some("FORBIDDEN"), Some("COST_FORBIDDEN")),
        "{refused}"
    );
    let hr = issuer.token(&t, "usr_hr", HR);
    let (_, refused) = clickhouse
        .graphql(&hr, METRIC, input("profitability", &["person"]))
        .await;
    assert_eq!(
        (
            refused["errors"][0]["extensions"]["code"].as_str(),
            refused["errors"][0]["extensions"]["reason"].as_str()
        ),
        (Some("BAD_USER_INPUT"), Some("UNKNOWN_DIMENSION")),
        "{refused}"
    );

    // Freshness: the newest fact per source domain (its event's time in its domain).
    let newest = freshness(&clickhouse, &finance).await;
    let expected = vec![
        ("employee".to_owned(), Some(at(1, 8, 7))),
        ("pmo".to_owned(), Some(at(20, 12, 0))),
        ("finance".to_owned(), Some(at(30, 18, 0))),
        ("crm".to_owned(), None),
        ("ops".to_owned(), None),
        ("marketing".to_owned(), None),
    ];
    assert_eq!(newest, expected);

    // Parity: the embedded engine reads the same topic and answers identically.
    let mut embedded = AnalyticsApp::spawn_embedded(&issuer, Some(vec![topic])).await;
    ingest(&mut embedded, sent).await;
    assert_eq!(profitability(&embedded, &finance).await, results);
    assert_eq!(freshness(&embedded, &finance).await, expected);
}

fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(|text| {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    })
}

/// `analyticsFreshness` as (source, newest occurred); checks each source's age and ingestion
/// against the answer's own `asOf`.
async fn freshness(app: &AnalyticsApp, token: &str) -> Vec<(String, Option<DateTime<Utc>>)> {
    let data = app
        .ok(
            token,
            "{ analyticsFreshness { asOf sources { source newestOccurredAt newestIngestedAt ageSeconds } } }",
            json!({}),
        )
        .await;
    let as_of = instant(&data["analyticsFreshness"]["asOf"]).unwrap();
    let mut found = Vec::new();
    for source in data["analyticsFreshness"]["sources"].as_array().unwrap() {
        let occurred = instant(&source["newestOccurredAt"]);
        let ingested = instant(&source["newestIngestedAt"]);
        match occurred {
            Some(occurred) => {
                let ingested = ingested.expect("a source with facts has an ingestion time");
                assert!(ingested <= as_of, "{source}");
                assert_eq!(
                    source["ageSeconds"].as_str().map(str::to_owned),
                    Some((as_of - occurred).num_seconds().to_string()),
                    "{source}"
                );
            }
            None => assert_eq!((&ingested, &source["ageSeconds"]), (&None, &Value::Null)),
        }
        found.push((source["source"].as_str().unwrap().to_owned(), occurred));
    }
    found
}

const RECONCILIATION: &str = "query($from: Date!, $to: Date!) { analyticsReconciliation(from: $from, to: $to) { asOf days { source day status controlCount controlAmount currency factCount factAmount } } }";
const REPLAY: &str = "mutation($i: ReplayAnalyticsEventsInput!) { replayAnalyticsEvents(input: $i) { id sources reason state } }";
const REPLAY_STATE: &str =
    "query($id: ID!) { analyticsReplay(id: $id) { id sources reason state consumed handled finishedAt } }";

/// A tenant's books in finance: set up in EUR for 2026, with one customer.
struct Books {
    token: String,
    customer: String,
    vendor: String,
}

impl Books {
    async fn open(finance: &erp_tests::finance::FinanceApp, issuer: &TestIssuer, t: &str) -> Self {
        let token = issuer.token(t, "usr_books", erp_tests::finance::FINANCE_ADMIN);
        finance
            .ok(
                &token,
                "mutation($input: SetUpFinanceInput!) { setUpFinance(input: $input) { settings { salesJournal { id } } } }",
                json!({ "input": { "baseCurrency": "EUR", "taxRounding": "PER_LINE", "fiscalYear": {
                    "name": "2026", "startsOn": "2026-01-01", "endsOn": "2026-12-31" } } }),
            )
            .await;
        let partner = |kind: &'static str, name: &'static str| {
            let token = token.clone();
            async move {
                finance
                    .ok(
                        &token,
                        "mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id } } }",
                        json!({ "input": { "kind": kind, "name": name } }),
                    )
                    .await["createPartner"]["partner"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let customer = partner("CUSTOMER", "Acme Ltd").await;
        let vendor = partner("VENDOR", "Subcontractor Ltd").await;
        Self {
            token,
            customer,
            vendor,
        }
    }

    /// Drafts and posts a one-line untaxed vendor bill of `amount` on `project`.
    async fn post_bill(
        &self,
        finance: &erp_tests::finance::FinanceApp,
        date: &str,
        amount: &str,
        project: &str,
    ) {
        let draft = finance
            .ok(
                &self.token,
                "mutation($input: CreateInvoiceInput!) { createBill(input: $input) { invoice { id } } }",
                json!({ "input": { "partnerId": self.vendor, "date": date, "currency": "EUR",
                    "projectId": project,
                    "lines": [{ "description": "Subcontracting", "quantity": "1", "unitPrice": amount }] } }),
            )
            .await;
        let id = draft["createBill"]["invoice"]["id"].as_str().unwrap();
        finance
            .ok(
                &self.token,
                "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { status } } }",
                json!({ "input": { "idempotencyKey": format!("post-{id}"), "invoiceId": id } }),
            )
            .await;
    }

    /// Drafts and posts a one-line untaxed invoice of `amount` dated `date`.
    async fn post(&self, finance: &erp_tests::finance::FinanceApp, date: &str, amount: &str) {
        let draft = finance
            .ok(
                &self.token,
                "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) { invoice { id } } }",
                json!({ "input": { "partnerId": self.customer, "date": date, "currency": "EUR",
                    "lines": [{ "description": "Consulting", "quantity": "1", "unitPrice": amount }] } }),
            )
            .await;
        let id = draft["createInvoice"]["invoice"]["id"].as_str().unwrap();
        finance
            .ok(
                &self.token,
                "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { status } } }",
                json!({ "input": { "idempotencyKey": format!("post-{id}"), "invoiceId": id } }),
            )
            .await;
    }

    /// Three invoices: two dated 20 November 2026 (1,000.00 and 250.50 EUR), one dated the
    /// 21st (99.99 EUR).
    async fn november_invoices(&self, finance: &erp_tests::finance::FinanceApp) {
        self.post(finance, "2026-11-20", "1000.00").await;
        self.post(finance, "2026-11-20", "250.50").await;
        self.post(finance, "2026-11-21", "99.99").await;
    }
}

/// What [`Books::november_invoices`] reconcile to: both days matched.
fn november_reconciled() -> Value {
    let day = |day: &str, count: &str, amount: &str| {
        json!({ "source": "invoices", "day": day, "status": "MATCHED", "controlCount": count,
                "controlAmount": amount, "currency": "EUR", "factCount": count,
                "factAmount": amount })
    };
    json!([
        day("2026-11-20", "2", "125050"),
        day("2026-11-21", "1", "9999")
    ])
}

/// The reconciliation of November 2026 as `token` reads it (its `days`).
async fn reconciliation(app: &AnalyticsApp, token: &str) -> Value {
    app.ok(
        token,
        RECONCILIATION,
        json!({ "from": "2026-11-01", "to": "2026-11-30" }),
    )
    .await["analyticsReconciliation"]["days"]
        .clone()
}

/// Waits until the reconciliation of November 2026 is `expected`; fails with what shows.
async fn await_reconciliation(app: &AnalyticsApp, token: &str, expected: &Value) {
    let seen = erp_tests::eventually(Duration::from_secs(120), || async {
        (&reconciliation(app, token).await == expected).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "reconciliation {}, not {expected}",
        reconciliation(app, token).await
    );
}

/// Starts a replay of `sources` as `admin` and waits until it is done; returns its last state.
async fn replay(app: &AnalyticsApp, admin: &str, sources: Value) -> Value {
    let started = app
        .ok(admin, REPLAY, json!({ "i": { "sources": sources } }))
        .await["replayAnalyticsEvents"]
        .clone();
    assert_eq!(started["reason"], "REQUESTED", "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let done = erp_tests::eventually(Duration::from_secs(120), || async {
        let run = app.ok(admin, REPLAY_STATE, json!({ "id": id })).await["analyticsReplay"].clone();
        (run["state"] == "DONE").then_some(run)
    })
    .await;
    done.expect("the replay catches up with the log within 120 s")
}

#[tokio::test]
async fn finance_control_totals_reconcile_with_the_facts_and_a_drift_is_replayed_away() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    // Finance on PostgreSQL publishing to Kafka's `erp.finance.events`; analytics on ClickHouse
    // reading that topic as a new group (it may first read the topic's history), serving this
    // test's tenant only (the metrics below are its alone).
    let finance = erp_tests::finance::FinanceApp::spawn(&issuer).await;
    let books = Books::open(&finance, &issuer, &t).await;
    books.november_invoices(&finance).await;
    let app =
        AnalyticsApp::spawn_for_tenant(&issuer, vec![erp_kit::events::topic_for("finance")], &t)
            .await;
    let reader = issuer.token(&t, "usr_fin", &["analytics:read", "finance:read"]);
    await_reconciliation(&app, &reader, &november_reconciled()).await;
    assert_eq!(
        app.metric_value("erp_analytics_reconciliation_drift", "source=\"invoices\"")
            .await,
        0
    );

    // A loss: the 20th's invoice facts vanish from the store. The job finds the day drifting
    // (twice in a row: not in flight), replays finance's topic for this tenant, and the day
    // matches again, its invoices counted once.
    clickhouse(&format!(
        "ALTER TABLE {}.facts DELETE WHERE tenant_id = '{t}' AND kind = 'invoice_base' \
         AND day = '2026-11-20' SETTINGS mutations_sync = 2",
        app.database
    ))
    .await;
    let replayed = erp_tests::eventually(Duration::from_secs(120), || async {
        (app.metric_value("erp_analytics_replays_total", "reason=\"drift\"")
            .await
            == 1)
            .then_some(())
    })
    .await;
    assert!(replayed.is_some(), "{}", app.metrics().await);
    assert!(
        app.metric_value(
            "erp_analytics_reconciliation_checks_total",
            "outcome=\"drift\",source=\"invoices\""
        )
        .await
            >= 2,
        "{}",
        app.metrics().await
    );
    await_reconciliation(&app, &reader, &november_reconciled()).await;
    let mended = erp_tests::eventually(Duration::from_secs(30), || async {
        (app.metric_value("erp_analytics_reconciliation_drift", "source=\"invoices\"")
            .await
            == 0)
            .then_some(())
    })
    .await;
    assert!(mended.is_some(), "{}", app.metrics().await);

    // Replays are for administrators, of known sources.
    let (_, refused) = app
        .graphql(&reader, REPLAY, json!({ "i": { "sources": ["finance"] } }))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{refused}"
    );
    let admin = issuer.token(&t, "usr_admin", &["analytics:read", "analytics:admin"]);
    let (_, refused) = app
        .graphql(&admin, REPLAY, json!({ "i": { "sources": ["payroll"] } }))
        .await;
    assert_eq!(
        (
            refused["errors"][0]["extensions"]["code"].as_str(),
            refused["errors"][0]["extensions"]["reason"].as_str()
        ),
        (Some("BAD_USER_INPUT"), Some("UNKNOWN_SOURCE")),
        "{refused}"
    );
    // A requested replay of everything already stored changes nothing: this tenant's six
    // finance events (three invoices, three control totals) are handled again, the rest of
    // the topic (other tenants', other types) ignored.
    let run = replay(&app, &admin, json!(["finance"])).await;
    assert_eq!(
        (&run["sources"], &run["reason"], &run["handled"]),
        (&json!(["finance"]), &json!("REQUESTED"), &json!("6")),
        "{run}"
    );
    assert_eq!(reconciliation(&app, &reader).await, november_reconciled());
    assert_eq!(
        app.metric_value("erp_analytics_replays_total", "reason=\"requested\"")
            .await,
        1
    );
    // Another tenant's administrator does not see it.
    let stranger = issuer.token(
        &tenant(),
        "usr_admin",
        &["analytics:read", "analytics:admin"],
    );
    let other = app
        .ok(&stranger, REPLAY_STATE, json!({ "id": run["id"] }))
        .await;
    assert_eq!(other["analyticsReplay"], Value::Null);
}

#[tokio::test]
async fn embedded_facts_lost_with_their_store_are_rebuilt_by_a_replay_of_the_retained_log() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    // The one-process shape: finance on SQLite and the in-process bus (its log retained),
    // analytics on DataFusion reading that bus.
    let finance = erp_tests::finance::FinanceApp::spawn_embedded(&issuer).await;
    let bus = finance.runtime.bus.clone();
    let books = Books::open(&finance, &issuer, &t).await;
    books.november_invoices(&finance).await;
    books
        .post_bill(&finance, "2026-11-25", "400.00", "prj-subcontracted")
        .await;
    let topics = Some(vec![erp_kit::events::topic_for("finance")]);
    let mut first = AnalyticsApp::spawn_with(
        &issuer,
        erp_analytics::embedded_store(None).unwrap(),
        "",
        topics.clone(),
        bus.clone(),
        erp_tests::analytics::kek_file(&issuer),
    )
    .await;
    let reader = issuer.token(&t, "usr_fin", &["analytics:read"]);
    await_reconciliation(&first, &reader, &november_reconciled()).await;
    first.drain().await;

    // The store is lost; the group's positions are not: a new service of the group starts
    // where the last one committed, with no facts.
    let app = AnalyticsApp::spawn_in_group(
        &issuer,
        erp_analytics::embedded_store(None).unwrap(),
        "",
        topics,
        bus,
        erp_tests::analytics::kek_file(&issuer),
        first.group.clone(),
    )
    .await;
    assert_eq!(reconciliation(&app, &reader).await, json!([]));
    let admin = issuer.token(&t, "usr_admin", &["analytics:read", "analytics:admin"]);
    // Three invoices, their three control totals and the bill.
    let run = replay(&app, &admin, json!([])).await;
    assert_eq!(
        (&run["sources"], &run["handled"]),
        (
            &json!(["employee", "pmo", "finance", "crm", "ops", "marketing"]),
            &json!("7")
        ),
        "{run}"
    );
    assert_eq!(reconciliation(&app, &reader).await, november_reconciled());
    // Replayed twice: the same facts.
    replay(&app, &admin, json!(["finance"])).await;
    assert_eq!(reconciliation(&app, &reader).await, november_reconciled());
    // Profitability from finance's events: the invoices (no project) as revenue, the vendor
    // bill as its project's direct cost (no one's pay: shown).
    let controller = issuer.token(&t, "usr_ctl", &["analytics:read", "finance:read"]);
    let result = app
        .ok(
            &controller,
            METRIC,
            json!({ "i": { "metric": "profitability", "groupBy": ["project"],
                           "from": "2026-11-01", "to": "2026-11-30" } }),
        )
        .await;
    assert_eq!(
        rows(&result["metric"]),
        vec![
            row(&["", "EUR"], Some(125_050 + 9_999)),
            row(&["prj-subcontracted", "EUR"], Some(-40_000)),
        ]
    );
}

/// `metric` for `variables` as `token` reads it, once its rows are `expected`; fails with what
/// shows.
async fn await_rows(
    app: &AnalyticsApp,
    token: &str,
    variables: Value,
    expected: Vec<(Vec<String>, Option<String>)>,
) {
    let read = || async { rows(&app.ok(token, METRIC, variables.clone()).await["metric"]) };
    let seen = erp_tests::eventually(Duration::from_secs(60), || async {
        (read().await == expected).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "{variables}: {:?}, not {expected:?}",
        read().await
    );
}

fn metric_input(metric: &str, group_by: &[&str], from: &str, to: &str) -> Value {
    json!({ "i": { "metric": metric, "groupBy": group_by, "from": from, "to": to } })
}

/// PMO's `timesheet.approved` of `timesheet` (`user`, `week`): `seconds` billable on `project`.
fn approved_timesheet(
    tenant: &str,
    timesheet: &str,
    week: &str,
    project: &str,
    seconds: i64,
) -> EventEnvelope {
    EventEnvelope::new(
        &TenantId::from_claim(tenant),
        "timesheet.approved",
        timesheet,
        json!({ "timesheet_id": timesheet, "user_id": "u-dev", "week": week,
                "decided_by": "u-lead", "rejection_reason": null, "time_entry_ids": ["te-1"],
                "projects": [{ "project_id": project, "billable_hours": seconds as f64 / 3600.0,
                               "non_billable_hours": 0.0, "billable_seconds": seconds,
                               "non_billable_seconds": 0 }] }),
    )
    .unwrap()
}

/// The draft invoices of `project` in finance, once there are `count`: (id, status, subtotal
/// of each line).
async fn project_invoices(
    finance: &erp_tests::finance::FinanceApp,
    token: &str,
    project: &str,
    count: usize,
) -> Vec<(String, String, Vec<String>)> {
    let query = format!(
        "{{ invoices(projectId: \"{project}\", first: 10) {{ edges {{ node {{ id status lines {{ subtotal {{ amount }} }} }} }} }} }}"
    );
    let read = || async {
        finance.ok(token, &query, json!({})).await["invoices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                (
                    node["id"].as_str().unwrap().to_owned(),
                    node["status"].as_str().unwrap().to_owned(),
                    node["lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|line| line["subtotal"]["amount"].as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect::<Vec<_>>()
    };
    let found = erp_tests::eventually(Duration::from_secs(30), || async {
        let invoices = read().await;
        (invoices.len() == count).then_some(invoices)
    })
    .await;
    found.unwrap_or_else(|| panic!("{count} invoices of {project}"))
}

/// Analytics on ClickHouse (a fresh database) and on DataFusion, both reading the events of
/// `domains` on `bus` (an embedded finance's in-process bus): the two engines the end-to-end
/// tests compare.
async fn on_both_engines(
    issuer: &TestIssuer,
    bus: &erp_kit::events::SharedBus,
    domains: &[&str],
) -> (AnalyticsApp, AnalyticsApp) {
    let topics = Some(
        domains
            .iter()
            .map(|domain| erp_kit::events::topic_for(domain))
            .collect::<Vec<_>>(),
    );
    let database = erp_tests::analytics::fresh_clickhouse_database();
    let clickhouse = AnalyticsApp::spawn_with(
        issuer,
        erp_tests::analytics::clickhouse_store(&database),
        &database,
        topics.clone(),
        bus.clone(),
        erp_tests::analytics::kek_file(issuer),
    )
    .await;
    let embedded = AnalyticsApp::spawn_with(
        issuer,
        erp_analytics::embedded_store(None).unwrap(),
        "",
        topics,
        bus.clone(),
        erp_tests::analytics::kek_file(issuer),
    )
    .await;
    (clickhouse, embedded)
}

/// Work in progress end to end: PMO's approved timesheets reach finance (the embedded bus),
/// whose billing consumer puts them on the project's draft invoice at the bill rate and
/// publishes `timesheet.billed`; analytics on ClickHouse and on DataFusion, both reading that
/// bus, value them exactly as invoiced until the invoice is posted, and profitability counts
/// them as the project's revenue until then.
#[tokio::test]
async fn approved_time_is_work_in_progress_at_the_bill_rate_until_invoiced_on_both_engines() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let finance = erp_tests::finance::FinanceApp::spawn_embedded(&issuer).await;
    let bus = finance.runtime.bus.clone();
    let books = Books::open(&finance, &issuer, &t).await;
    let (clickhouse, embedded) = on_both_engines(&issuer, &bus, &["pmo", "finance"]).await;

    // prj-w is client cW's, rated 123.45 EUR an hour; prj-x has no rate (never billed).
    let pmo = erp_kit::events::topic_for("pmo");
    bus.publish(
        &pmo,
        &event(
            &t,
            "project.created",
            at(1, 7, 0),
            json!({ "project_id": "prj-w",
            "name": "W", "client": null, "client_id": "cW", "billable": true }),
        ),
    )
    .await
    .unwrap();
    finance
        .ok(
            &books.token,
            "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { customerId } } }",
            json!({ "input": { "projectId": "prj-w", "customerId": books.customer,
                               "currency": "EUR", "hourlyRate": "123.45" } }),
        )
        .await;
    // Week 10 of 2026 (ends Sunday 8 March): 2 h 45 min on prj-w -> 2.75 h x 123.45 = 339.4875,
    // invoiced as 339.49; an hour on prj-x.
    bus.publish(
        &pmo,
        &approved_timesheet(&t, "ts-1", "2026-W10", "prj-w", 9_900),
    )
    .await
    .unwrap();
    bus.publish(
        &pmo,
        &approved_timesheet(&t, "ts-x", "2026-W10", "prj-x", 3_600),
    )
    .await
    .unwrap();
    let drafts = project_invoices(&finance, &books.token, "prj-w", 1).await;
    assert_eq!(drafts[0].1, "DRAFT");
    assert_eq!(drafts[0].2, vec!["339.49".to_owned()]);
    let march_wip = 33_949;

    // Before the invoice is posted: work in progress in March.
    let finance_viewer = issuer.token(&t, "usr_fin", &["analytics:read", "finance:read"]);
    for app in [&clickhouse, &embedded] {
        await_rows(
            app,
            &finance_viewer,
            metric_input(
                "work_in_progress",
                &["project", "client", "month"],
                "2026-03-01",
                "2026-03-31",
            ),
            vec![row(&["prj-w", "cW", "2026-03", "EUR"], Some(march_wip))],
        )
        .await;
    }

    // The draft is invoiced on 20 March; week 14 (ends Sunday 5 April) is approved after:
    // 3 h 20 min, invoiced as 3.333 h x 123.45 = 411.45885 -> 411.46 on a new draft.
    let draft = drafts[0].0.clone();
    finance
        .ok(
            &books.token,
            "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id } } }",
            json!({ "input": { "invoiceId": draft, "date": "2026-03-20", "dueDate": "2026-04-19" } }),
        )
        .await;
    finance
        .ok(
            &books.token,
            "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { status } } }",
            json!({ "input": { "idempotencyKey": format!("post-{draft}"), "invoiceId": draft } }),
        )
        .await;
    bus.publish(
        &pmo,
        &approved_timesheet(&t, "ts-2", "2026-W14", "prj-w", 12_000),
    )
    .await
    .unwrap();
    let invoices = project_invoices(&finance, &books.token, "prj-w", 2).await;
    let lines: Vec<&Vec<String>> = invoices.iter().map(|(_, _, lines)| lines).collect();
    assert!(lines.contains(&&vec!["411.46".to_owned()]), "{invoices:?}");
    let april_wip = 41_146;

    for app in [&clickhouse, &embedded] {
        // Over March and April: March's hours were invoiced on the 20th (no longer in
        // progress), April's are.
        await_rows(
            app,
            &finance_viewer,
            metric_input(
                "work_in_progress",
                &["project", "month"],
                "2026-03-01",
                "2026-04-30",
            ),
            vec![row(&["prj-w", "2026-04", "EUR"], Some(april_wip))],
        )
        .await;
        // As of 15 March the invoice was not posted yet: March's hours are still in progress.
        await_rows(
            app,
            &finance_viewer,
            metric_input("work_in_progress", &["month"], "2026-03-01", "2026-03-15"),
            vec![row(&["2026-03", "EUR"], Some(march_wip))],
        )
        .await;
        // Profitability: March's revenue is the invoice, April's the work in progress (no
        // cost: revenue only, shown); as of 15 March, the work in progress.
        await_rows(
            app,
            &finance_viewer,
            metric_input(
                "profitability",
                &["project", "month"],
                "2026-03-01",
                "2026-04-30",
            ),
            vec![
                row(&["prj-w", "2026-03", "EUR"], Some(march_wip)),
                row(&["prj-w", "2026-04", "EUR"], Some(april_wip)),
            ],
        )
        .await;
        await_rows(
            app,
            &finance_viewer,
            metric_input("profitability", &["client"], "2026-03-01", "2026-03-15"),
            vec![row(&["cW", "EUR"], Some(march_wip))],
        )
        .await;
    }
    // Work in progress is revenue, not pay: the analyst reads it (but not profitability).
    let analyst = issuer.token(&t, "usr_analyst", ANALYST);
    let both = metric_input("work_in_progress", &["client"], "2026-03-01", "2026-04-30");
    assert_eq!(
        rows(&clickhouse.ok(&analyst, METRIC, both.clone()).await["metric"]),
        vec![row(&["cW", "EUR"], Some(april_wip))]
    );
    assert_eq!(
        clickhouse.ok(&analyst, METRIC, both.clone()).await,
        embedded.ok(&analyst, METRIC, both).await
    );

    // April's draft is deleted on 10 April before it was posted (finance's
    // `invoice.draft_deleted`): its billed time is on no invoice any more, so from that day it
    // is no longer work in progress, nor revenue in profitability; before that day it was.
    let april_draft = invoices
        .iter()
        .find(|(_, _, lines)| lines == &vec!["411.46".to_owned()])
        .map(|(id, _, _)| id.clone())
        .unwrap();
    bus.publish(
        &erp_kit::events::topic_for("finance"),
        &event(
            &t,
            "invoice.draft_deleted",
            Utc.with_ymd_and_hms(2026, 4, 10, 12, 0, 0).unwrap(),
            json!({ "invoice_id": april_draft, "project_id": "prj-w",
                    "line_keys": ["timesheet:ts-2:prj-w"] }),
        ),
    )
    .await
    .unwrap();
    for app in [&clickhouse, &embedded] {
        await_rows(
            app,
            &finance_viewer,
            metric_input("work_in_progress", &["project"], "2026-03-01", "2026-04-30"),
            vec![],
        )
        .await;
        await_rows(
            app,
            &finance_viewer,
            metric_input("work_in_progress", &["month"], "2026-04-01", "2026-04-09"),
            vec![row(&["2026-04", "EUR"], Some(april_wip))],
        )
        .await;
        await_rows(
            app,
            &finance_viewer,
            metric_input(
                "profitability",
                &["project", "month"],
                "2026-03-01",
                "2026-04-30",
            ),
            vec![row(&["prj-w", "2026-03", "EUR"], Some(march_wip))],
        )
        .await;
    }
}

/// The real deletion end to end (finance's outbox relay publishes on the in-process bus that
/// analytics on ClickHouse and on DataFusion both read): PMO's approved time that finance's
/// consumer billed on a draft is work in progress until `deleteDraftInvoice` deletes the
/// draft; from that day (today) it is not, before it still was, on both engines.
#[tokio::test]
async fn a_draft_deleted_through_finance_releases_its_work_in_progress_on_both_engines() {
    use chrono::Datelike;

    let issuer = TestIssuer::start().await;
    let t = tenant();
    let finance = erp_tests::finance::FinanceApp::spawn_embedded(&issuer).await;
    let bus = finance.runtime.bus.clone();
    let books = Books::open(&finance, &issuer, &t).await;
    let (clickhouse, embedded) = on_both_engines(&issuer, &bus, &["pmo", "finance"]).await;
    finance
        .ok(
            &books.token,
            "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { customerId } } }",
            json!({ "input": { "projectId": "prj-d", "customerId": books.customer,
                               "currency": "EUR", "hourlyRate": "100.00" } }),
        )
        .await;
    // The week of two weeks ago (it ended before yesterday): 2 h at 100.00 = 200.00.
    let today = Utc::now().date_naive();
    let worked = today - chrono::Duration::days(14);
    let week = format!(
        "{}-W{:02}",
        worked.iso_week().year(),
        worked.iso_week().week()
    );
    bus.publish(
        &erp_kit::events::topic_for("pmo"),
        &approved_timesheet(&t, "ts-d", &week, "prj-d", 7_200),
    )
    .await
    .unwrap();
    let drafts = project_invoices(&finance, &books.token, "prj-d", 1).await;
    assert_eq!(drafts[0].2, vec!["200.00".to_owned()]);
    let from = worked.with_day(1).unwrap().to_string();
    let viewer = issuer.token(&t, "usr_fin", &["analytics:read", "finance:read"]);
    let wip = |to: chrono::NaiveDate| {
        metric_input("work_in_progress", &["project"], &from, &to.to_string())
    };
    let in_progress = vec![row(&["prj-d", "EUR"], Some(20_000))];
    for app in [&clickhouse, &embedded] {
        await_rows(app, &viewer, wip(today), in_progress.clone()).await;
    }

    let deleted = finance
        .ok(
            &books.token,
            "mutation($input: DeleteDraftInvoiceInput!) { deleteDraftInvoice(input: $input) { deletedId releasedTimeEntryIds } }",
            json!({ "input": { "invoiceId": drafts[0].0 } }),
        )
        .await;
    assert_eq!(
        deleted["deleteDraftInvoice"]["releasedTimeEntryIds"],
        json!(["timesheet:ts-d:prj-d"])
    );
    for app in [&clickhouse, &embedded] {
        await_rows(app, &viewer, wip(today), vec![]).await;
        await_rows(
            app,
            &viewer,
            wip(today - chrono::Duration::days(1)),
            in_progress.clone(),
        )
        .await;
    }
}

/// Expense claims end to end: finance (the embedded bus) approves claims imported with their
/// days, one on a project, one without, one a month later; `expense.approved` carries the
/// project, the posting day and the base total, and analytics on ClickHouse and on DataFusion
/// counts each as its project's direct cost (or unallocated) beside a vendor bill.
#[tokio::test]
async fn approved_expense_claims_are_their_projects_direct_cost_on_both_engines() {
    use erp_finance::app::expenses::{ClaimLineRequest, ClaimRequest};
    use erp_finance::app::import::{ClaimImport, ClaimStep, ImportedPerson};
    use erp_finance::app::Actor;

    let issuer = TestIssuer::start().await;
    let t = tenant();
    let finance = erp_tests::finance::FinanceApp::spawn_embedded(&issuer).await;
    let bus = finance.runtime.bus.clone();
    let books = Books::open(&finance, &issuer, &t).await;
    let (clickhouse, embedded) = on_both_engines(&issuer, &bus, &["finance"]).await;

    let expense_account = finance
        .ok(
            &books.token,
            "query { accounts(first: 100, kind: EXPENSE) { edges { node { id } } } }",
            json!({}),
        )
        .await["accounts"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let category = finance
        .ok(
            &books.token,
            "mutation($input: CreateExpenseCategoryInput!) { createExpenseCategory(input: $input) { category { id } } }",
            json!({ "input": { "code": "TRAVEL", "name": "Travel", "accountId": expense_account,
                               "receiptRequired": false } }),
        )
        .await["createExpenseCategory"]["category"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_id = TenantId::from_claim(&t);
    finance
        .finance
        .import_directory(
            &tenant_id,
            &[
                ImportedPerson {
                    employee_id: "e-boss".into(),
                    user_id: Some("usr_boss".into()),
                    manager_employee_id: None,
                    display_name: "Boss".into(),
                },
                ImportedPerson {
                    employee_id: "e-claimant".into(),
                    user_id: Some("usr_claimant".into()),
                    manager_employee_id: Some("e-boss".into()),
                    display_name: "Claimant".into(),
                },
            ],
        )
        .await
        .unwrap();
    let actor = |user: &str| Actor {
        tenant: tenant_id.clone(),
        user_id: user.into(),
        finance_admin: false,
    };
    let claim =
        |key: &'static str, amount: &'static str, project: Option<&str>, approved_on: &str| {
            let claim = ClaimImport {
                claim: ClaimRequest {
                    title: format!("Claim {key}"),
                    currency: "EUR".into(),
                    lines: vec![ClaimLineRequest {
                        category_id: category.clone(),
                        spent_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
                        description: "Train".into(),
                        amount: amount.into(),
                        receipt_ref: None,
                    }],
                    project_id: project.map(str::to_owned),
                },
                approval: Some(ClaimStep {
                    actor: actor("usr_boss"),
                    on: chrono::NaiveDate::parse_from_str(approved_on, "%Y-%m-%d").unwrap(),
                }),
                payment: None,
            };
            let finance = &finance.finance;
            let claimant = actor("usr_claimant");
            async move {
                finance
                    .import_expense_claim(&claimant, key, claim)
                    .await
                    .unwrap();
            }
        };
    claim("exp-1", "123.45", Some("prj-e"), "2026-11-12").await;
    claim("exp-2", "10.01", None, "2026-11-13").await;
    claim("exp-3", "77.00", Some("prj-e"), "2026-12-01").await;
    books
        .post_bill(&finance, "2026-11-25", "400.00", "prj-e")
        .await;

    let controller = issuer.token(&t, "usr_ctl", &["analytics:read", "finance:read"]);
    for app in [&clickhouse, &embedded] {
        // November: prj-e's claim and bill; the claim without a project unallocated.
        await_rows(
            app,
            &controller,
            metric_input("profitability", &["project"], "2026-11-01", "2026-11-30"),
            vec![
                row(&["", "EUR"], Some(-1_001)),
                row(&["prj-e", "EUR"], Some(-12_345 - 40_000)),
            ],
        )
        .await;
        // By the month each was posted in.
        await_rows(
            app,
            &controller,
            json!({ "i": { "metric": "profitability", "groupBy": ["month"],
                           "filters": [{ "dimension": "project", "values": ["prj-e"] }],
                           "from": "2026-11-01", "to": "2026-12-31" } }),
            vec![
                row(&["2026-11", "EUR"], Some(-52_345)),
                row(&["2026-12", "EUR"], Some(-7_700)),
            ],
        )
        .await;
    }
}

/// Events at the edges of days, weeks, months and fiscal years: time entries by one login
/// (started at the given UTC instant, `seconds` long), a check-in and two invoices (dated).
fn calendar_events(tenant: &str) -> Vec<EventEnvelope> {
    let utc = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    };
    let mut events = Vec::new();
    for (id, started, seconds) in [
        // Berlin in winter (+01:00): 23:30 on 28 March, the same day.
        ("te-e", "2026-03-28T22:30:00Z", 900),
        // Summer time began at 01:00 UTC on 29 March (+02:00): 00:30 on 30 March.
        ("te-d", "2026-03-29T22:30:00Z", 600),
        // 23:30 on 31 March in Berlin: still March.
        ("te-b", "2026-03-31T21:30:00Z", 7_200),
        // 00:30 on 1 April in Berlin: April, and the fiscal year starting in April.
        ("te-a", "2026-03-31T22:30:00Z", 3_600),
        // Sunday 3 January 2027, 23:30 UTC: Monday 4 January (ISO week 2027-W01) in Berlin,
        // still 2026-W53 in UTC.
        ("te-c", "2027-01-03T23:30:00Z", 1_800),
    ] {
        let started = utc(started);
        let ended = started + chrono::Duration::seconds(seconds);
        events.push(event(
            tenant,
            "timer.stopped",
            ended,
            json!({ "timer_id": id, "time_entry_id": id, "user_id": "u1", "task_id": "k1",
                    "project_id": "p1", "started_at": started, "ended_at": ended,
                    "duration_seconds": seconds, "billable": true }),
        ));
    }
    // 07:20 UTC is 09:20 in Berlin (summer): punctual by 09:15 in UTC, late in Berlin.
    let check_in = utc("2026-06-15T07:20:00Z");
    events.push(event(
        tenant,
        "attendance.checked_in",
        check_in,
        json!({ "punch_id": "pu1", "employee_id": "e1", "department_id": "d1",
                "at": check_in.timestamp_millis(), "source": "web", "location_id": null }),
    ));
    // Invoices are dated: their day is the tenant's, whatever the time zone.
    for (id, date, total) in [
        ("inv-m", "2026-03-31", 50_000),
        ("inv-a", "2026-04-01", 20_000),
    ] {
        events.push(event(
            tenant,
            "invoice.posted",
            utc(&format!("{date}T23:00:00Z")),
            json!({ "invoice_id": id, "reference": id, "customer_id": "cust", "date": date,
                    "due_date": date, "currency": "EUR", "total": total, "project_id": "p1",
                    "entry_id": "je", "client_id": "c1", "base_currency": "EUR",
                    "base_total": total }),
        ));
    }
    events
}

const CALENDAR: &str = "{ analyticsCalendar { timeZone fiscalYearStartMonth } }";

/// The time-entry export of `from`..`to` as `token` downloads it: its CSV lines, checked
/// against the row count the export promised.
async fn export_csv(app: &AnalyticsApp, token: &str, from: &str, to: &str) -> Vec<String> {
    const EXPORT: &str =
        "query($i: AnalyticsExportInput!) { analyticsExport(input: $i) { path rowCount } }";
    let data = app
        .ok(token, EXPORT, json!({ "i": { "from": from, "to": to } }))
        .await;
    let path = data["analyticsExport"]["path"].as_str().unwrap();
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let promised = data["analyticsExport"]["rowCount"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["x-row-count"], promised.as_str());
    let lines: Vec<String> = response
        .text()
        .await
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines.len(),
        promised.parse::<usize>().unwrap() + 1,
        "a header and every row"
    );
    lines
}
const SET_CALENDAR: &str = "mutation($i: SetAnalyticsCalendarInput!) { setAnalyticsCalendar(input: $i) { timeZone fiscalYearStartMonth } }";

/// The reports of [`calendar_events`] as `token` reads them.
async fn calendar_reports(
    app: &AnalyticsApp,
    token: &str,
) -> Vec<Vec<(Vec<String>, Option<String>)>> {
    let mut results = Vec::new();
    for (metric, group_by, from, to) in [
        (
            "hours_logged",
            vec!["person", "day"],
            "2026-03-28",
            "2026-04-01",
        ),
        (
            "hours_logged",
            vec!["person", "month"],
            "2026-03-01",
            "2026-04-30",
        ),
        (
            "hours_logged",
            vec!["person", "fiscal_year"],
            "2026-03-01",
            "2026-04-30",
        ),
        (
            "hours_logged",
            vec!["person", "week"],
            "2027-01-03",
            "2027-01-04",
        ),
        ("punctuality", vec!["person"], "2026-06-15", "2026-06-15"),
        (
            "invoiced_revenue",
            vec!["fiscal_year"],
            "2026-03-01",
            "2026-04-30",
        ),
        (
            "profitability",
            vec!["fiscal_year"],
            "2026-03-01",
            "2026-04-30",
        ),
    ] {
        let data = app
            .ok(token, METRIC, metric_input(metric, &group_by, from, to))
            .await;
        results.push(rows(&data["metric"]));
    }
    results
}

/// The tenant's calendar (an administrator's setting) moves instants onto its local days,
/// ISO weeks, months and fiscal years, identically on ClickHouse and DataFusion; dated facts
/// keep their day. The same facts, read before and after the setting, give both answers.
#[tokio::test]
async fn reports_count_days_in_the_tenants_time_zone_and_fiscal_year_on_both_engines() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let sent = publish_all(&bus, &topic, &calendar_events(&t), false).await;
    let mut clickhouse = AnalyticsApp::spawn(&issuer, Some(vec![topic.clone()])).await;
    let mut embedded = AnalyticsApp::spawn_embedded(&issuer, Some(vec![topic])).await;
    ingest(&mut clickhouse, sent).await;
    ingest(&mut embedded, sent).await;
    let hr = issuer.token(&t, "usr_hr", HR);
    let admin = issuer.token(&t, "usr_admin", &["analytics:read", "analytics:admin"]);
    let r = |dimensions: &[&str], value: i64| row(dimensions, Some(value));

    // UTC and calendar years until an administrator sets the calendar.
    let utc = vec![
        vec![
            r(&["u1", "2026-03-28"], 900),
            r(&["u1", "2026-03-29"], 600),
            r(&["u1", "2026-03-31"], 10_800),
        ],
        vec![r(&["u1", "2026-03"], 12_300)],
        vec![r(&["u1", "FY2026"], 12_300)],
        vec![r(&["u1", "2026-W53"], 1_800)],
        vec![r(&["e1"], 10_000)],
        vec![r(&["FY2026", "EUR"], 70_000)],
        vec![r(&["FY2026", "EUR"], 70_000)],
    ];
    for app in [&clickhouse, &embedded] {
        assert_eq!(
            app.ok(&hr, CALENDAR, json!({})).await["analyticsCalendar"],
            json!({ "timeZone": "UTC", "fiscalYearStartMonth": 1 })
        );
        assert_eq!(calendar_reports(app, &hr).await, utc);
    }
    // The export, on UTC days: te-e (28 March) is before the range.
    let exporter = issuer.token(&t, "usr_hr", &["analytics:export", "hr:read"]);
    assert_eq!(
        export_csv(&clickhouse, &exporter, "2026-03-29", "2027-01-04").await,
        vec![
            "\"time_entry_id\",\"person\",\"project\",\"day\",\"week\",\"seconds\",\"billable\"",
            "\"te-d\",\"u1\",\"p1\",\"2026-03-29\",\"2026-W13\",600,1",
            "\"te-a\",\"u1\",\"p1\",\"2026-03-31\",\"2026-W14\",3600,1",
            "\"te-b\",\"u1\",\"p1\",\"2026-03-31\",\"2026-W14\",7200,1",
            "\"te-c\",\"u1\",\"p1\",\"2027-01-03\",\"2026-W53\",1800,1",
        ]
    );

    // Berlin, fiscal years from April.
    let berlin = vec![
        vec![
            r(&["u1", "2026-03-28"], 900),
            r(&["u1", "2026-03-30"], 600),
            r(&["u1", "2026-03-31"], 7_200),
            r(&["u1", "2026-04-01"], 3_600),
        ],
        vec![r(&["u1", "2026-03"], 8_700), r(&["u1", "2026-04"], 3_600)],
        vec![
            r(&["u1", "FY2025-26"], 8_700),
            r(&["u1", "FY2026-27"], 3_600),
        ],
        vec![r(&["u1", "2027-W01"], 1_800)],
        vec![r(&["e1"], 0)],
        vec![
            r(&["FY2025-26", "EUR"], 50_000),
            r(&["FY2026-27", "EUR"], 20_000),
        ],
        vec![
            r(&["FY2025-26", "EUR"], 50_000),
            r(&["FY2026-27", "EUR"], 20_000),
        ],
    ];
    for app in [&clickhouse, &embedded] {
        let set = app
            .ok(
                &admin,
                SET_CALENDAR,
                json!({ "i": { "timeZone": "Europe/Berlin", "fiscalYearStartMonth": 4 } }),
            )
            .await;
        assert_eq!(
            set["setAnalyticsCalendar"],
            json!({ "timeZone": "Europe/Berlin", "fiscalYearStartMonth": 4 })
        );
        assert_eq!(calendar_reports(app, &hr).await, berlin);
    }

    // The time-entry export counts days in the tenant's time zone too, computed from each
    // entry's start at query time (the entries were stored while the tenant was on UTC).
    let exporter = issuer.token(&t, "usr_hr", &["analytics:export", "hr:read"]);
    assert_eq!(
        export_csv(&clickhouse, &exporter, "2026-03-29", "2027-01-04").await,
        vec![
            "\"time_entry_id\",\"person\",\"project\",\"day\",\"week\",\"seconds\",\"billable\"",
            "\"te-d\",\"u1\",\"p1\",\"2026-03-30\",\"2026-W14\",600,1",
            "\"te-b\",\"u1\",\"p1\",\"2026-03-31\",\"2026-W14\",7200,1",
            "\"te-a\",\"u1\",\"p1\",\"2026-04-01\",\"2026-W14\",3600,1",
            "\"te-c\",\"u1\",\"p1\",\"2027-01-04\",\"2027-W01\",1800,1",
        ]
    );

    // Only administrators set it, to a month of the year and a zone of the database.
    let (_, refused) = clickhouse
        .graphql(
            &hr,
            SET_CALENDAR,
            json!({ "i": { "timeZone": "UTC", "fiscalYearStartMonth": 1 } }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{refused}"
    );
    let (_, refused) = embedded
        .graphql(
            &admin,
            SET_CALENDAR,
            json!({ "i": { "timeZone": "UTC", "fiscalYearStartMonth": 13 } }),
        )
        .await;
    assert_eq!(
        (
            refused["errors"][0]["extensions"]["code"].as_str(),
            refused["errors"][0]["extensions"]["reason"].as_str()
        ),
        (Some("BAD_USER_INPUT"), Some("INVALID_CALENDAR")),
        "{refused}"
    );
    let (_, refused) = clickhouse
        .graphql(
            &admin,
            SET_CALENDAR,
            json!({ "i": { "timeZone": "Mars/Olympus_Mons", "fiscalYearStartMonth": 4 } }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    // Nothing refused changed the setting; another tenant's stays UTC.
    assert_eq!(
        clickhouse.ok(&hr, CALENDAR, json!({})).await["analyticsCalendar"],
        json!({ "timeZone": "Europe/Berlin", "fiscalYearStartMonth": 4 })
    );
    let stranger = issuer.token(&tenant(), "usr_hr", HR);
    assert_eq!(
        clickhouse.ok(&stranger, CALENDAR, json!({})).await["analyticsCalendar"],
        json!({ "timeZone": "UTC", "fiscalYearStartMonth": 1 })
    );
}

const METRIC_EXPORT: &str =
    "query($i: MetricInput!) { metricExport(input: $i) { path rowCount asOf expiresAt } }";

/// A metric's rows as [`rows`] gives them: dimensions and value (None: suppressed).
type Rows = Vec<(Vec<String>, Option<String>)>;

/// A Parquet export read back: its rows as [`rows`] gives them, and its key-value metadata.
fn parquet_rows(file: &std::path::Path) -> (Rows, Vec<(String, String)>) {
    use arrow_array::{Array, BooleanArray, Int64Array, StringArray};
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap();
    let metadata = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .filter(|kv| kv.key.starts_with("erp."))
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let mut found = Vec::new();
    for batch in reader.build().unwrap() {
        let batch = batch.unwrap();
        let dimensions = batch.num_columns() - 2;
        for index in 0..batch.num_rows() {
            let texts = (0..dimensions)
                .map(|c| {
                    let column = batch
                        .column(c)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap();
                    column.value(index).to_owned()
                })
                .collect();
            let values = batch
                .column(dimensions)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let suppressed = batch
                .column(dimensions + 1)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap();
            let value = (!values.is_null(index)).then(|| values.value(index).to_string());
            assert_eq!(suppressed.value(index), value.is_none());
            found.push((texts, value));
        }
    }
    (found, metadata)
}

/// A metric's table as a Parquet file, on both engines: authorised like the table (and by the
/// export scope), its rows read back from the file exactly as `metric` answers them (suppressed
/// groups null), the row count in a header and the file's metadata, the link once.
#[tokio::test]
async fn a_metric_exports_as_a_parquet_file_read_back_exactly_on_both_engines() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let kek = LocalKek::load_or_create(&erp_tests::analytics::kek_file(&issuer)).unwrap();
    let sent = publish_all(&bus, &topic, &november(&t, &kek).await, false).await;
    let mut clickhouse = AnalyticsApp::spawn(&issuer, Some(vec![topic.clone()])).await;
    let mut embedded = AnalyticsApp::spawn_embedded(&issuer, Some(vec![topic])).await;
    ingest(&mut clickhouse, sent).await;
    ingest(&mut embedded, sent).await;
    let reader = issuer.token(&t, "usr_x", &["analytics:read", "analytics:export"]);
    let dir = std::env::temp_dir().join(format!("erp-parquet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut files = Vec::new();
    for (engine, app) in [("clickhouse", &clickhouse), ("embedded", &embedded)] {
        for (metric, group_by, unit) in [
            // Project B's group is two people: withheld (null), as in the table.
            ("hours_logged", vec!["project"], "SECONDS"),
            ("invoiced_revenue", vec!["client", "month"], "MINOR_UNITS"),
        ] {
            let variables = input(metric, &group_by);
            let table = rows(&app.ok(&reader, METRIC, variables.clone()).await["metric"]);
            let export = app.ok(&reader, METRIC_EXPORT, variables).await["metricExport"].clone();
            assert_eq!(export["rowCount"], table.len().to_string(), "{export}");
            let path = export["path"].as_str().unwrap();
            let response = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(
                response.headers()["content-type"],
                "application/vnd.apache.parquet"
            );
            assert_eq!(
                response.headers()["x-row-count"].to_str().unwrap(),
                table.len().to_string()
            );
            let as_of = response.headers()["x-as-of"].to_str().unwrap().to_owned();
            assert_eq!(as_of, export["asOf"].as_str().unwrap());
            let file = dir.join(format!("{engine}-{metric}.parquet"));
            std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
            let (found, metadata) = parquet_rows(&file);
            assert_eq!(found, table, "{engine} {metric}");
            assert_eq!(
                metadata,
                vec![
                    ("erp.metric".to_owned(), metric.to_owned()),
                    ("erp.unit".to_owned(), unit.to_owned()),
                    ("erp.row_count".to_owned(), table.len().to_string()),
                    ("erp.as_of".to_owned(), as_of),
                ]
            );
            files.push(found);
            // The link works once.
            let again = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(again.status(), 404);
            let error: Value = again.json().await.unwrap();
            assert_eq!(error["errors"][0]["extensions"]["reason"], "EXPORT_EXPIRED");
        }
    }
    assert_eq!(files[0], files[2], "both engines export the same hours");
    assert_eq!(files[1], files[3], "both engines export the same revenue");
    assert!(
        files[0].iter().any(|(_, value)| value.is_none()),
        "{:?}",
        files[0]
    );

    // Authorised like the report: the export scope, then the metric's own field scopes.
    let refusal = |body: &Value| {
        (
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned),
            body["errors"][0]["extensions"]["reason"]
                .as_str()
                .map(str::to_owned),
        )
    };
    let analyst = issuer.token(&t, "usr_analyst", ANALYST);
    let (_, body) = clickhouse
        .graphql(&analyst, METRIC_EXPORT, input("hours_logged", &["project"]))
        .await;
    assert_eq!(
        refusal(&body).0.as_deref(),
        Some("UNAUTHORIZED_FIELD_OR_TYPE"),
        "{body}"
    );
    for (metric, group_by, expected) in [
        (
            "labour_cost",
            vec!["month"],
            ("FORBIDDEN", "COST_FORBIDDEN"),
        ),
        (
            "hours_logged",
            vec!["person"],
            ("FORBIDDEN", "PERSON_LEVEL_FORBIDDEN"),
        ),
        ("happiness", vec![], ("BAD_USER_INPUT", "UNKNOWN_METRIC")),
    ] {
        let (_, body) = embedded
            .graphql(&reader, METRIC_EXPORT, input(metric, &group_by))
            .await;
        assert_eq!(
            refusal(&body),
            (Some(expected.0.to_owned()), Some(expected.1.to_owned())),
            "{body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A random mix of one tenant's time entries (restated, some twice; some delivered again;
/// older versions arriving after newer ones, as the shuffle puts them), employees, projects,
/// payroll costs, invoices, billed time and deleted drafts, over October to December 2026,
/// started at any minute of the day so that other time zones move them across days and
/// months. Another tenant's entries reuse the same ids. Seeded: `seed` reproduces it.
async fn random_mix(tenant: &str, other: &str, kek: &LocalKek, seed: u64) -> Vec<EventEnvelope> {
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(seed);
    let utc = |y: i32, m: u32, d: u32, h: u32, min: u32| {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    };
    let mut events = Vec::new();
    for (project, client) in [("pA", "cA"), ("pB", "cB"), ("pC", "cA")] {
        events.push(event(
            tenant,
            "project.created",
            utc(2026, 9, 1, 7, 0),
            json!({ "project_id": project, "name": project, "client": null,
                    "client_id": client, "billable": true }),
        ));
    }
    for i in 1..=8u32 {
        events.push(event(
            tenant,
            "employee.hired",
            utc(2026, 9, 1, 8, i),
            json!({ "employee_id": format!("e{i}"), "employee_number": format!("E{i}"),
                    "display_name": format!("Person {i}"), "work_email": format!("p{i}@x.test"),
                    "department_id": if i <= 5 { "d1" } else { "d2" }, "manager_id": null,
                    "hired_on": "2026-01-05", "user_id": format!("u{i}") }),
        ));
    }
    for (run, period, end) in [
        ("run-oct", "2026-10", "2026-10-31"),
        ("run-nov", "2026-11", "2026-11-30"),
    ] {
        let slips: Vec<Value> = (1..=8i64)
            .map(|i| {
                json!({ "payslip_id": format!("{run}-{i}"), "employee_id": format!("e{i}"),
                        "employer_cost": 90_000 + i * 1_001 })
            })
            .collect();
        let sealed = seal_in_transit(
            kek,
            &format!("payroll.cost_posted|{tenant}|{run}|1|posted"),
            &json!({ "slips": slips }).to_string(),
        )
        .await
        .unwrap();
        events.push(event(
            tenant,
            "payroll.cost_posted",
            utc(2026, 12, 1, 18, 0),
            json!({ "run_id": run, "period": period, "period_end": end,
                    "run_type": "regular", "currency": "EUR", "part": 1, "parts": 1,
                    "slip_count": 8, "reversal": false, "sealed_for_analytics": sealed }),
        ));
    }
    // Invoices (two of them posting billed drafts), billed time on drafts, a deleted draft.
    for (id, date, project, total) in [
        ("inv1", "2026-10-20", "pA", 400_000),
        ("inv2", "2026-11-18", "pB", 250_000),
        ("dr3", "2026-11-25", "pA", 120_000),
        ("inv4", "2026-12-02", "pC", 90_000),
    ] {
        events.push(event(
            tenant,
            "invoice.posted",
            utc(2026, 12, 3, 12, 0),
            json!({ "invoice_id": id, "reference": id, "customer_id": "cust", "date": date,
                    "due_date": date, "currency": "EUR", "total": total, "project_id": project,
                    "entry_id": "je", "client_id": null, "base_currency": "EUR",
                    "base_total": total }),
        ));
    }
    for (line, draft, project, week, amount) in [
        ("l1", "dr1", "pA", "2026-W43", 30_000),
        ("l2", "dr2", "pB", "2026-W45", 45_000),
        ("l3", "dr3", "pA", "2026-W46", 60_000),
        ("l4", "dr1", "pC", "2026-W47", 15_000),
    ] {
        events.push(event(
            tenant,
            "timesheet.billed",
            utc(2026, 11, 28, 10, 0),
            json!({ "project_id": project, "user_id": "u1", "week": week, "invoice_id": draft,
                    "line_key": line, "billable_seconds": amount / 10, "currency": "EUR",
                    "amount": amount }),
        ));
    }
    events.push(event(
        tenant,
        "invoice.draft_deleted",
        utc(2026, 11, 20, 16, 0),
        json!({ "invoice_id": "dr2" }),
    ));
    let projects = ["pA", "pB", "pC"];
    let entry = |rng: &mut StdRng, tenant: &str, id: &str, occurred_after: DateTime<Utc>| {
        let day = rng.random_range(0..94i64);
        let started = utc(2026, 9, 29, 0, 0)
            + chrono::Duration::days(day)
            + chrono::Duration::minutes(rng.random_range(0..1440));
        let seconds: i64 = rng.random_range(0..4 * 3600);
        let occurred = started.max(occurred_after) + chrono::Duration::seconds(seconds + 60);
        event(
            tenant,
            "timer.stopped",
            occurred,
            json!({ "timer_id": id, "time_entry_id": id,
                    "user_id": format!("u{}", rng.random_range(1..=9)), "task_id": "k1",
                    "project_id": projects[rng.random_range(0..3)], "started_at": started,
                    "ended_at": started + chrono::Duration::seconds(seconds),
                    "duration_seconds": seconds, "billable": rng.random_bool(0.6) }),
        )
    };
    let mut entries = Vec::new();
    for i in 0..160u32 {
        let id = format!("te{i}");
        let first = entry(&mut rng, tenant, &id, utc(2026, 9, 1, 0, 0));
        let mut versions = vec![first];
        // Restated (a later version: another day, person, project, length or flag), some
        // twice.
        for _ in 0..rng.random_range(0..3) {
            if rng.random_bool(0.5) {
                let after = versions.last().unwrap().occurred_at;
                versions.push(entry(&mut rng, tenant, &id, after));
            }
        }
        // Delivered again.
        let again: Vec<EventEnvelope> = versions
            .iter()
            .filter(|_| rng.random_bool(0.3))
            .cloned()
            .collect();
        entries.extend(versions);
        entries.extend(again);
    }
    for i in 0..10u32 {
        entries.push(entry(
            &mut rng,
            other,
            &format!("te{i}"),
            utc(2026, 9, 1, 0, 0),
        ));
    }
    entries.shuffle(&mut rng);
    events.extend(entries);
    events
}

/// The reports the oracle compares: every one that reads time entries, grouped every way,
/// over whole months (the month rollup) and over ranges that are not (the day rollup).
async fn time_reports(app: &AnalyticsApp, token: &str) -> Vec<Value> {
    let mut results = Vec::new();
    let quarter = ("2026-10-01", "2026-12-31");
    let november = ("2026-11-01", "2026-11-30");
    let partial = ("2026-10-15", "2026-11-20");
    let some = json!([{ "dimension": "person", "values": ["u1", "u2", "u9"] }]);
    let pa = json!([{ "dimension": "project", "values": ["pA"] }]);
    let days = json!([{ "dimension": "day", "values": ["2026-10-31", "2026-11-01"] }]);
    for (metric, group_by, (from, to), filters) in [
        ("hours_logged", vec!["month"], quarter, json!([])),
        ("hours_logged", vec!["person", "month"], quarter, json!([])),
        (
            "hours_logged",
            vec!["project", "billable"],
            quarter,
            json!([]),
        ),
        ("hours_logged", vec!["fiscal_year"], quarter, json!([])),
        ("hours_logged", vec![], quarter, json!([])),
        ("hours_logged", vec!["person", "day"], partial, json!([])),
        ("hours_logged", vec!["week"], partial, json!([])),
        ("hours_logged", vec!["project"], november, some.clone()),
        ("hours_logged", vec!["person"], quarter, days),
        ("billable_hours", vec!["person"], november, json!([])),
        ("billable_hours", vec!["month"], quarter, pa.clone()),
        ("utilization", vec!["department"], november, json!([])),
        ("utilization", vec!["person"], partial, json!([])),
        ("utilization", vec![], quarter, json!([])),
        ("capacity", vec!["department"], november, json!([])),
        ("profitability", vec!["project"], november, json!([])),
        (
            "profitability",
            vec!["client", "month"],
            ("2026-10-01", "2026-11-30"),
            json!([]),
        ),
        ("profitability", vec!["month"], partial, pa),
        ("work_in_progress", vec!["project"], november, json!([])),
    ] {
        let variables = json!({ "i": { "metric": metric, "groupBy": group_by,
            "filters": filters, "from": from, "to": to } });
        results.push(app.ok(token, METRIC, variables).await["metric"].clone());
    }
    results
}

/// Every report of [`time_reports`] on `rolled` equals the oracle's (`raw`, the embedded
/// store deduplicating on read) and ClickHouse's; returns them.
async fn same_reports(
    rolled: &AnalyticsApp,
    raw: &AnalyticsApp,
    clickhouse: &AnalyticsApp,
    token: &str,
    what: &str,
    seed: u64,
) -> Vec<Value> {
    let oracle = time_reports(raw, token).await;
    for (engine, app) in [("rollups", rolled), ("ClickHouse", clickhouse)] {
        let got = time_reports(app, token).await;
        assert_eq!(got.len(), oracle.len());
        for (index, (expected, got)) in oracle.iter().zip(&got).enumerate() {
            assert_eq!(
                got, expected,
                "{what}, {engine}: report {index}, seed {seed}"
            );
        }
    }
    eprintln!("oracle: {what}: {} reports alike", oracle.len());
    oracle
}

/// Sets the tenant's calendar on each of `apps`.
async fn set_calendar(apps: &[&AnalyticsApp], admin: &str, zone: &str, month: i32) {
    for app in apps {
        let set = app
            .ok(
                admin,
                SET_CALENDAR,
                json!({ "i": { "timeZone": zone, "fiscalYearStartMonth": month } }),
            )
            .await;
        assert_eq!(set["setAnalyticsCalendar"]["timeZone"], zone);
    }
}

/// The oracle: a random mix of time entries, restatements, replays, late older versions and
/// deleted drafts, read through the time-entry rollups of the embedded store (kept in a
/// directory, and reopened) and of ClickHouse (its `time_by_day`, fed "minus old, plus new"
/// rows by the writer; emptied and rebuilt at open once) and through the dedupe-on-read of
/// the facts (the embedded store without rollups): every report is the same, to the unit, on
/// UTC and after the tenant moves to other time zones and fiscal years (the rollups regroup),
/// and entries arriving after a change are counted on the new zone.
#[tokio::test]
async fn time_entry_rollups_answer_exactly_what_deduplicating_every_fact_answers() {
    use erp_analytics::store::embedded::EmbeddedStore;
    use erp_analytics::store::SharedFacts;
    use erp_tests::analytics::{clickhouse_store, kek_file, shared_kafka};
    use std::sync::Arc;
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let seed = std::env::var("ANALYTICS_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_millis() as u64);
    eprintln!("oracle seed {seed} (ANALYTICS_ORACLE_SEED reproduces it)");
    let topic = format!("erp.analyticstest{}.events", uuid::Uuid::new_v4().simple());
    let topics = Some(vec![topic.clone()]);
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let kek = LocalKek::load_or_create(&kek_file(&issuer)).unwrap();
    let events = random_mix(&t, &tenant(), &kek, seed).await;
    let sent = publish_all(&bus, &topic, &events, false).await;

    let dir = std::env::temp_dir().join(format!("erp-analytics-oracle-{}", uuid::Uuid::new_v4()));
    let rolled_store = || -> SharedFacts { Arc::new(EmbeddedStore::open(Some(&dir)).unwrap()) };
    let raw_store: SharedFacts = Arc::new(EmbeddedStore::open_raw(None).unwrap());
    assert!(rolled_store().time_rollups() && !raw_store.time_rollups());
    let spawn = |store: SharedFacts, database: String, group: Option<String>| {
        let (issuer, topics) = (&issuer, topics.clone());
        async move {
            let group = group
                .unwrap_or_else(|| format!("erp.analytics.test-{}", uuid::Uuid::new_v4().simple()));
            let (kek_file, bus) = (kek_file(issuer), shared_kafka());
            AnalyticsApp::spawn_in_group(issuer, store, &database, topics, bus, kek_file, group)
                .await
        }
    };
    let mut rolled = spawn(rolled_store(), String::new(), None).await;
    let mut raw = spawn(raw_store.clone(), String::new(), None).await;
    let mut clickhouse = AnalyticsApp::spawn(&issuer, topics.clone()).await;
    for app in [&mut rolled, &mut raw, &mut clickhouse] {
        let stats = ingest(app, sent).await;
        assert_eq!(stats.dead_lettered, 0, "{stats:?}");
    }
    let hr = issuer.token(&t, "usr_hr", HR);
    let admin = issuer.token(&t, "usr_admin", &["analytics:read", "analytics:admin"]);

    let on_utc = same_reports(&rolled, &raw, &clickhouse, &hr, "UTC", seed).await;
    // Not empty: the mix has hours in every month of the quarter.
    assert_eq!(rows(&on_utc[0]).len(), 3, "{}", on_utc[0]);

    set_calendar(&[&rolled, &raw, &clickhouse], &admin, "Asia/Kolkata", 4).await;
    let on_kolkata = same_reports(&rolled, &raw, &clickhouse, &hr, "Kolkata", seed).await;
    assert_ne!(
        on_kolkata, on_utc,
        "the time zone moved entries across days"
    );

    // Reopened from its directory: the rollups are rebuilt from the segments on the tenant's
    // zone. Its group resumes where it committed: nothing is consumed again.
    let group = rolled.group.clone();
    drop(rolled);
    let mut rolled = spawn(rolled_store(), String::new(), Some(group)).await;
    same_reports(&rolled, &raw, &clickhouse, &hr, "reopened on Kolkata", seed).await;
    assert_eq!(
        rolled.consumer_stats().consumed,
        0,
        "the reopened store is fed nothing"
    );

    set_calendar(
        &[&rolled, &raw, &clickhouse],
        &admin,
        "America/Los_Angeles",
        1,
    )
    .await;
    same_reports(&rolled, &raw, &clickhouse, &hr, "Los Angeles", seed).await;

    // More entries (restating some, in both tenants) after the change: counted on its zone.
    let late: Vec<EventEnvelope> = random_mix(&t, &tenant(), &kek, seed.wrapping_add(1))
        .await
        .into_iter()
        .filter(|e| e.event_type == "timer.stopped")
        .take(60)
        .collect();
    let more = publish_all(&bus, &topic, &late, false).await;
    let database = clickhouse.database.clone();
    let mut raw = spawn(raw_store.clone(), String::new(), Some(raw.group.clone())).await;
    // ClickHouse's rollup emptied (as a rollup table new on existing facts is): the store
    // opening on it builds every tenant's groups from the facts, on the tenant's zone now.
    let emptied = reqwest::Client::new()
        .post(require_env("CLICKHOUSE_URL"))
        .query(&[("database", database.as_str())])
        .body("TRUNCATE TABLE time_by_day")
        .send()
        .await
        .unwrap();
    assert!(emptied.status().is_success(), "{:?}", emptied.text().await);
    // And its month rollup drifted (a group's seconds lost, as a crash between the two inserts
    // could): repaired at open too.
    let drifted = reqwest::Client::new()
        .post(require_env("CLICKHOUSE_URL"))
        .query(&[("database", database.as_str())])
        .body(
            "INSERT INTO time_by_month SELECT tenant_id, day, week, month, person_id, user_id, \
             project_id, billable, -1, 0 FROM time_by_month LIMIT 1",
        )
        .send()
        .await
        .unwrap();
    assert!(drifted.status().is_success(), "{:?}", drifted.text().await);
    // Its reports read the rollup (what the oracle checks it by).
    assert!(clickhouse_store(&database).time_rollups());
    let mut clickhouse = spawn(
        clickhouse_store(&database),
        database.clone(),
        Some(clickhouse.group.clone()),
    )
    .await;
    for app in [&mut rolled, &mut raw, &mut clickhouse] {
        ingest(app, more).await;
    }
    let after = same_reports(&rolled, &raw, &clickhouse, &hr, "LA, more", seed).await;
    assert_ne!(after, on_utc);

    set_calendar(&[&rolled, &raw, &clickhouse], &admin, "UTC", 1).await;
    same_reports(&rolled, &raw, &clickhouse, &hr, "UTC again", seed).await;
    let _ = std::fs::remove_dir_all(&dir);
}
