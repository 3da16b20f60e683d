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

/// An employee number (1 to 32 letters, digits, `-`, `_`) derived from a user id.
fn employee_number(user: &str) -> String {
    let tail: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("N-{}", &tail[tail.len().saturating_sub(24)..])
}

async fn hire_linked(app: &EmployeeApp, hr: &str, user: &str) {
    let (_, body) = app
        .graphql(
            Some(hr),
            "mutation($u: ID!, $n: String!, $e: String!) { hireEmployee(input: { employeeNumber: $n, displayName: \"Live\", workEmail: $e, hiredOn: \"2026-01-05\", userId: $u }) { id } }",
            json!({ "u": user, "n": employee_number(user), "e": format!("{user}@co.example") }),
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

    // HR's view (the whole tenant): a manager sees only their reports (below).
    let manager = issuer.token("tnt_live", "usr_m", &["attendance:read", "hr:read"]);
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
        &issuer.token("tnt_other", "usr_x", &["attendance:read", "hr:read"]),
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
    let mut claims = issuer.claims("tnt_exp", "usr_m", &["attendance:read", "hr:read"]);
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

/// The identity service deactivates a user: their access token, still unexpired, is refused by
/// the employee subgraph at once and their open board subscription ends at the next event
/// (revocation through the shared Redis, see erp_kit::auth::revocation).
#[tokio::test]
async fn a_deactivated_users_token_is_refused_and_their_subscription_ends() {
    use erp_tests::identity::{IdentityApp, ADMIN_PASSWORD};

    let identity = IdentityApp::spawn(|_| {}).await;
    let (tenant, admin_email) = identity.bootstrap().await;
    let (admin_tokens, _) = identity
        .login_enrolling_totp(&admin_email, ADMIN_PASSWORD)
        .await;
    let admin = admin_tokens["accessToken"].as_str().unwrap().to_owned();
    let admin_id = identity.verify_sub(&admin).await;

    // The employee subgraph trusts the identity service's keys.
    let issuer = TestIssuer::start().await;
    let mut config = erp_tests::config(&issuer, erp_tests::fresh_postgres().await);
    config.auth.jwks_url = identity.url("/.well-known/jwks.json");
    config.auth.issuer = identity.issuer.clone();
    let db = erp_kit::db::connect(&config.database_url).await.unwrap();
    let cache: SharedCache = Arc::new(
        RedisCache::connect(&require_env("REDIS_URL"))
            .await
            .unwrap(),
    );
    let bus: SharedBus =
        Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap());
    let app = EmployeeApp::spawn(Runtime::with_backends(config, db, cache, bus)).await;
    hire_linked(&app, &admin, &admin_id).await;

    // An HR user (attendance:read) with a live board.
    let hr_email = format!("hr-{}@acme.example", uuid::Uuid::new_v4().simple());
    let hr_id = identity.invite_and_accept(&admin, &hr_email, "HR").await;
    let (hr_tokens, _) = identity
        .login_enrolling_totp(&hr_email, "a long enough password")
        .await;
    let hr = hr_tokens["accessToken"].as_str().unwrap().to_owned();
    let (status, body) = app
        .graphql(
            Some(&hr),
            "{ departments(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "data": { "departments": { "nodes": [] } } }));
    let (mut socket, ack) = connect(&app, &hr).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, BOARD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (_, body) = identity
        .graphql(
            Some(&admin),
            "mutation($u: ID!) { deactivateUser(userId: $u) { status } }",
            json!({ "u": hr_id }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "deactivateUser": { "status": "DEACTIVATED" } } })
    );

    // The same unexpired token: refused by the employee subgraph and by the identity service.
    let (status, body) = app
        .graphql(
            Some(&hr),
            "{ departments(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(erp_tests::error_codes(&body), ["UNAUTHENTICATED"]);
    let (status, body) = identity
        .graphql(Some(&hr), "{ me { id } }", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(erp_tests::error_codes(&body), ["UNAUTHENTICATED"]);
    let userinfo = identity
        .http
        .get(identity.url("/userinfo"))
        .bearer_auth(&hr)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status().as_u16(), 401);

    // The open subscription ends at the next event; the admin's own token still works.
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation { checkIn(input: { punchKey: \"rv1\", source: WEB }) { id } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );
    assert_eq!(
        message["payload"]["errors"][0]["message"],
        "the token has been revoked: sign in again"
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");
    // A new connection with the revoked token is refused at connection_init.
    let (_, refused) = connect(&app, &hr).await;
    assert_ne!(refused["type"], "connection_ack", "{refused}");
    let _ = tenant;
}

/// Hires `user` (linked) under `manager`; returns the employee id.
async fn hire_under(app: &EmployeeApp, hr: &str, user: &str, manager: Option<&str>) -> String {
    let (_, body) = app
        .graphql(
            Some(hr),
            "mutation($u: ID!, $n: String!, $e: String!, $m: ID) { hireEmployee(input: { employeeNumber: $n, displayName: $u, workEmail: $e, hiredOn: \"2026-01-05\", userId: $u, managerId: $m }) { id } }",
            json!({ "u": user, "n": employee_number(user), "e": format!("{user}@co.example"), "m": manager }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn punch(app: &EmployeeApp, token: &str, mutation: &str) {
    let (_, body) = app
        .graphql(
            Some(token),
            &format!("mutation($k: String!) {{ {mutation}(input: {{ punchKey: $k, source: WEB }}) {{ id }} }}"),
            json!({ "k": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

/// The next board event's `(employeeId, kind)`.
async fn next_punch(socket: &mut Socket) -> (String, String) {
    let message = next_json(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["attendanceBoard"];
    (
        event["employeeId"].as_str().unwrap_or_default().to_owned(),
        event["kind"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn who_is_in(app: &EmployeeApp, token: &str) -> Vec<String> {
    let (_, body) = app
        .graphql(
            Some(token),
            "{ whoIsIn(first: 100) { nodes { employee { id } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let mut ids: Vec<String> = body["data"]["whoIsIn"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["employee"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Issue 16, item 7: a manager's live board carries their reports' punches only (the row
/// rules of `whoIsIn`), besides their own, and follows the reporting line as HR changes it; a
/// viewer with neither an HR scope nor an employee record is refused as `whoIsIn` refuses them.
#[tokio::test]
async fn a_managers_board_shows_what_who_is_in_shows_and_follows_the_org() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let tenant = "tnt_rows";
    let hr = issuer.token(tenant, "usr_hr", HR);
    let boss = hire_under(&app, &hr, "usr_boss", None).await;
    let lead = hire_under(&app, &hr, "usr_lead", Some(&boss)).await;
    let dev = hire_under(&app, &hr, "usr_dev", Some(&lead)).await;
    let outsider = hire_under(&app, &hr, "usr_out", None).await;
    let token = |user: &str| {
        issuer.token(
            tenant,
            user,
            &["attendance:read", "attendance:checkin", "employee:read"],
        )
    };
    let boss_token = token("usr_boss");

    let (mut socket, ack) = connect(&app, &boss_token).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, BOARD).await;
    // The viewer's own punch proves the stream is live.
    tokio::time::sleep(Duration::from_millis(300)).await;
    punch(&app, &boss_token, "checkIn").await;
    assert_eq!(next_punch(&mut socket).await, (boss.clone(), "in".into()));

    // The outsider's punch comes first and never arrives; the reports' do, in order.
    punch(&app, &token("usr_out"), "checkIn").await;
    punch(&app, &token("usr_lead"), "checkIn").await;
    punch(&app, &token("usr_dev"), "checkIn").await;
    let mut streamed = vec![next_punch(&mut socket).await, next_punch(&mut socket).await];
    assert_eq!(
        streamed,
        [
            (lead.clone(), "in".to_owned()),
            (dev.clone(), "in".to_owned())
        ]
    );
    // The stream's people are exactly whoIsIn's for the same viewer.
    let mut from_stream: Vec<String> = streamed.drain(..).map(|(id, _)| id).collect();
    from_stream.sort();
    assert_eq!(who_is_in(&app, &boss_token).await, from_stream);
    // HR sees everybody on both.
    let mut everyone = vec![boss.clone(), lead.clone(), dev.clone(), outsider.clone()];
    everyone.sort();
    let hr_viewer = issuer.token(
        tenant,
        "usr_hr",
        &["attendance:read", "hr:read", "employee:read"],
    );
    assert_eq!(who_is_in(&app, &hr_viewer).await, everyone);

    // HR moves the outsider under the boss and the lead (with the dev) away: the open stream
    // follows at once.
    let change = "mutation($e: ID!, $m: ID) { changeEmployeeManager(input: { employeeId: $e, managerId: $m }) { id } }";
    for (employee, manager) in [(&outsider, Some(&boss)), (&lead, None)] {
        let (_, body) = app
            .graphql(Some(&hr), change, json!({ "e": employee, "m": manager }))
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    punch(&app, &token("usr_lead"), "checkOut").await;
    punch(&app, &token("usr_dev"), "checkOut").await;
    punch(&app, &token("usr_out"), "checkOut").await;
    assert_eq!(
        next_punch(&mut socket).await,
        (outsider.clone(), "out".into())
    );
    punch(&app, &token("usr_out"), "checkIn").await;
    assert_eq!(
        next_punch(&mut socket).await,
        (outsider.clone(), "in".into())
    );
    assert_eq!(who_is_in(&app, &boss_token).await, vec![outsider]);

    // Neither an HR scope nor an employee record: refused, as whoIsIn refuses.
    let stranger = issuer.token(tenant, "usr_nobody", &["attendance:read"]);
    let (_, body) = app
        .graphql(
            Some(&stranger),
            "{ whoIsIn { nodes { employee { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "NO_EMPLOYEE_RECORD",
        "{body}"
    );
    let (mut socket, _) = connect(&app, &stranger).await;
    subscribe(&mut socket, BOARD).await;
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["reason"], "NO_EMPLOYEE_RECORD",
        "{message}"
    );
}
