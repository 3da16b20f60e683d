//! Live attendance boards over WebSocket (graphql-transport-ws) on the employee subgraph: the
//! token comes in `connection_init`, a check-in on one replica reaches a subscriber on another
//! (Redis pub/sub), the scope is enforced from its one declaration, and an expired token stops
//! the stream.

use std::sync::Arc;
use std::time::Duration;

use erp_kit::cache::{RedisCache, SharedCache};
use erp_kit::events::{KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use erp_tests::{require_env, Backends, EmployeeApp, TestIssuer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &EmployeeApp, token: &str) -> (Socket, Value) {
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
    let first = next_json(&mut socket).await;
    (socket, first)
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "pong" {
                    continue;
                }
                return value;
            }
            Message::Close(frame) => {
                return json!({ "closed": frame.map(|f| u16::from(f.code)) });
            }
            _ => continue,
        }
    }
}

async fn subscribe(socket: &mut Socket, query: &str) {
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string(),
        ))
        .await
        .unwrap();
}

/// A second replica of the same subgraph: same database, its own Redis connections.
async fn replica(of: &EmployeeApp) -> EmployeeApp {
    let config = of.runtime.config.clone();
    let db = erp_kit::db::connect(&config.database_url).await.unwrap();
    let cache: SharedCache = Arc::new(
        RedisCache::connect(&require_env("REDIS_URL"))
            .await
            .unwrap(),
    );
    let bus: SharedBus =
        Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap());
    EmployeeApp::spawn(Runtime::with_backends(config, db, cache, bus)).await
}

async fn hire_linked(app: &EmployeeApp, hr: &str, user: &str) {
    let (_, body) = app
        .graphql(
            Some(hr),
            "mutation($u: ID!, $n: String!, $e: String!) { hireEmployee(input: { employeeNumber: $n, displayName: \"Live\", workEmail: $e, hiredOn: \"2026-01-05\", userId: $u }) { id } }",
            json!({ "u": user, "n": format!("N-{user}"), "e": format!("{user}@co.example") }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

const BOARD: &str = "subscription { attendanceBoard { employeeId kind } }";
const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];

#[tokio::test]
async fn a_check_in_on_one_replica_reaches_a_board_on_another() {
    let issuer = TestIssuer::start().await;
    let a = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let b = replica(&a).await;
    let hr = issuer.token("tnt_live", "usr_hr", HR);
    hire_linked(&a, &hr, "usr_w").await;

    let manager = issuer.token("tnt_live", "usr_m", &["attendance:read"]);
    let (mut socket, ack) = connect(&b, &manager).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, BOARD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let worker = issuer.token("tnt_live", "usr_w", &["attendance:checkin"]);
    let (_, body) = a
        .graphql(
            Some(&worker),
            "mutation { checkIn(input: { punchKey: \"k1\", source: WEB }) { id } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "1");
    assert_eq!(message["payload"]["data"]["attendanceBoard"]["kind"], "in");

    // Another tenant's board stays silent.
    let (mut other, _) = connect(
        &b,
        &issuer.token("tnt_other", "usr_x", &["attendance:read"]),
    )
    .await;
    subscribe(&mut other, BOARD).await;
    let (_, _) = a
        .graphql(
            Some(&worker),
            "mutation { checkOut(input: { punchKey: \"k2\", source: WEB }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        next_json(&mut socket).await["payload"]["data"]["attendanceBoard"]["kind"],
        "out"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(700), other.next())
            .await
            .is_err(),
        "nothing for another tenant"
    );
}

#[tokio::test]
async fn the_scope_is_enforced_and_bad_tokens_are_refused() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;

    let (mut socket, ack) =
        connect(&app, &issuer.token("tnt_live", "usr_e", &["employee:read"])).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, BOARD).await;
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], Value::Null);
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    assert_eq!(
        message["payload"]["errors"][0]["path"],
        json!(["attendanceBoard"])
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");

    let (_, refused) = connect(&app, "not-a-token").await;
    assert!(
        refused["closed"].is_number() || refused["type"] == "connection_error",
        "{refused}"
    );
    assert_ne!(refused["type"], "connection_ack");
}

#[tokio::test]
async fn an_expired_token_stops_the_stream() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_exp", "usr_hr", HR);
    hire_linked(&app, &hr, "usr_w").await;
    let mut claims = issuer.claims("tnt_exp", "usr_m", &["attendance:read"]);
    claims.exp = chrono::Utc::now().timestamp() + 2;
    let short = issuer.key.sign(&claims).unwrap();
    let (mut socket, ack) = connect(&app, &short).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, BOARD).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let worker = issuer.token("tnt_exp", "usr_w", &["attendance:checkin"]);
    app.graphql(
        Some(&worker),
        "mutation { checkIn(input: { punchKey: \"e1\", source: WEB }) { id } }",
        json!({}),
    )
    .await;
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");
}
