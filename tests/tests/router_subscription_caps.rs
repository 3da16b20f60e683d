//! The per-user cap on live subscriptions, end to end: a manager's WebSocket through the real
//! router to the employee subgraph's live attendance board. hive-router 0.2.19 counts no
//! subscriptions per user, so the subgraph does (`erp_kit::live`): the subscription over the cap
//! gets `TOO_MANY_SUBSCRIPTIONS` and completes, the others keep receiving, completing one frees
//! its place, and another user is not affected. Its own test binary: the cap is per process.
//!
//! Needs the real services (`eval "$(deploy/local/services.sh start)"`).

use std::time::Duration;

use erp_tests::router::{RouterOptions, RouterProcess, WsClient, WsEvent};
use erp_tests::{eventually, require_env, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

const BOARD: &str = "subscription Board { attendanceBoard { employeeId kind } }";
const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];
const WAIT: Duration = Duration::from_secs(10);
const TENANT: &str = "tnt_caps";
const CAP: usize = 3;

async fn connect(router: &RouterProcess, token: &str) -> WsClient {
    let mut socket = router.websocket(None).await.unwrap();
    socket
        .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(
        socket.next(WAIT).await,
        WsEvent::Message(json!({ "type": "connection_ack" }))
    );
    socket
}

async fn subscribe(socket: &mut WsClient, id: &str) {
    socket
        .send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": BOARD } }))
        .await;
}

fn message(event: WsEvent) -> Value {
    match event {
        WsEvent::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Waits until the subgraph serves `n` subscriptions of `sub`.
async fn wait_open(sub: &str, n: usize) {
    let reached = eventually(WAIT, || {
        let open = erp_kit::live::open_subscriptions(TENANT, sub);
        async move { (open == n).then_some(()) }
    })
    .await;
    assert!(
        reached.is_some(),
        "{sub} holds {} subscriptions, expected {n}",
        erp_kit::live::open_subscriptions(TENANT, sub)
    );
}

#[tokio::test]
async fn a_user_over_the_cap_gets_too_many_subscriptions_and_the_rest_keep_flowing() {
    require_env("REDIS_URL");
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    // As ERP_MAX_SUBSCRIPTIONS_PER_USER=3 would (the runtime set the default).
    erp_kit::live::set_max_subscriptions_per_user(CAP);
    let router = RouterProcess::spawn(&RouterOptions::new(&issuer, app.url("/graphql"))).await;

    let hr = issuer.token(TENANT, "usr_hr", HR);
    let (status, body) = router
        .graphql(
            Some(&hr),
            "mutation { hireEmployee(input: { employeeNumber: \"C-1\", displayName: \"Live\", workEmail: \"w@co.example\", hiredOn: \"2026-01-05\", userId: \"usr_w\" }) { id } }",
            json!({}),
        )
        .await;
    assert!(status == 200 && body["errors"].is_null(), "{body}");
    let worker = issuer.token(TENANT, "usr_w", &["attendance:checkin"]);
    let punch = |mutation: &'static str, key: &'static str| {
        let router = &router;
        let worker = &worker;
        async move {
            let (status, body) = router
                .graphql(
                    Some(worker),
                    &format!("mutation {{ {mutation}(input: {{ punchKey: \"{key}\", source: WEB }}) {{ id }} }}"),
                    json!({}),
                )
                .await;
            assert!(status == 200 && body["errors"].is_null(), "{body}");
        }
    };

    let manager = issuer.token(TENANT, "usr_m", &["attendance:read", "hr:read"]);
    let mut socket = connect(&router, &manager).await;
    for id in ["1", "2", "3"] {
        subscribe(&mut socket, id).await;
    }
    wait_open("usr_m", CAP).await;

    // The fourth is refused by the subgraph, through the router, and completes.
    subscribe(&mut socket, "4").await;
    let refused = message(socket.next(WAIT).await);
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["id"], "4");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    assert_eq!(
        refused["payload"]["errors"][0]["message"],
        "at most 3 live subscriptions per user: end one before starting another"
    );
    assert_eq!(
        message(socket.next(WAIT).await),
        json!({ "id": "4", "type": "complete" })
    );
    wait_open("usr_m", CAP).await;

    // Another user is not affected by the manager's count.
    let other = issuer.token(TENANT, "usr_other", &["attendance:read", "hr:read"]);
    let mut other_socket = connect(&router, &other).await;
    subscribe(&mut other_socket, "1").await;
    wait_open("usr_other", 1).await;

    // The three running ones receive a check-in.
    punch("checkIn", "c1").await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..CAP {
        let event = message(socket.next(WAIT).await);
        assert_eq!(
            event["payload"]["data"]["attendanceBoard"]["kind"], "in",
            "{event}"
        );
        ids.push(event["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
    let event = message(other_socket.next(WAIT).await);
    assert_eq!(event["payload"]["data"]["attendanceBoard"]["kind"], "in");

    // Completing one frees its place: a new one is accepted and live.
    socket
        .send_json(json!({ "id": "1", "type": "complete" }))
        .await;
    wait_open("usr_m", CAP - 1).await;
    subscribe(&mut socket, "5").await;
    wait_open("usr_m", CAP).await;
    punch("checkOut", "c2").await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..CAP {
        let event = message(socket.next(WAIT).await);
        assert_eq!(
            event["payload"]["data"]["attendanceBoard"]["kind"], "out",
            "{event}"
        );
        ids.push(event["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["2", "3", "5"]);

    // Closing the connection releases every place.
    drop(socket);
    wait_open("usr_m", 0).await;
}
