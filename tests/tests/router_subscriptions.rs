//! Subscriptions through the router: graphql-transport-ws over WSS (the token in the
//! `connection_init` payload) and SSE, passed through to the employee subgraph's live
//! attendance board over its WebSocket; the Origin check on the upgrade; hive-router's close
//! codes. The real router binary, TLS 1.3, real PostgreSQL/Redis/Kafka.

use std::time::Duration;

use erp_tests::router::{RouterOptions, RouterProcess, Transport, WsClient, WsEvent};
use erp_tests::{require_env, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

const BOARD: &str = "subscription Board { attendanceBoard { employeeId kind } }";
const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];
const ALLOWED_ORIGIN: &str = "https://app.erp.example";
const WAIT: Duration = Duration::from_secs(10);

struct Stand {
    issuer: TestIssuer,
    _app: EmployeeApp,
    router: RouterProcess,
    dir: std::path::PathBuf,
}

impl Drop for Stand {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn stand() -> Stand {
    require_env("REDIS_URL");
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let dir =
        std::env::temp_dir().join(format!("erp-router-subs-{}", uuid::Uuid::new_v4().simple()));
    let options = RouterOptions::new(&issuer, app.url("/graphql"))
        .transport(Transport::openssl_certificate(&dir))
        .env("ERP_CORS_ORIGINS", ALLOWED_ORIGIN);
    let router = RouterProcess::spawn(&options).await;
    Stand {
        issuer,
        _app: app,
        router,
        dir,
    }
}

impl Stand {
    /// Hires an employee linked to the user `user` (so that the user may check in).
    async fn hire_linked(&self, tenant: &str, user: &str) {
        let hr = self.issuer.token(tenant, "usr_hr", HR);
        let (status, body) = self
            .router
            .graphql(
                Some(&hr),
                "mutation($u: ID!, $n: String!, $e: String!) { hireEmployee(input: { employeeNumber: $n, displayName: \"Live\", workEmail: $e, hiredOn: \"2026-01-05\", userId: $u }) { id } }",
                json!({ "u": user, "n": format!("N-{user}"), "e": format!("{user}@co.example") }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }

    /// `user` checks in or out through the router.
    async fn punch(&self, tenant: &str, user: &str, mutation: &str, key: &str) {
        let worker = self.issuer.token(tenant, user, &["attendance:checkin"]);
        let (status, body) = self
            .router
            .graphql(
                Some(&worker),
                &format!("mutation {{ {mutation}(input: {{ punchKey: \"{key}\", source: WEB }}) {{ id }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }

    /// A WSS connection from the allowed origin, initialised with `token`; asserts the ack.
    async fn connect(&self, token: Option<&str>) -> WsClient {
        let mut socket = self.router.websocket(Some(ALLOWED_ORIGIN)).await.unwrap();
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        socket
            .send_json(json!({ "type": "connection_init", "payload": payload }))
            .await;
        assert_eq!(
            socket.next(WAIT).await,
            WsEvent::Message(json!({ "type": "connection_ack" }))
        );
        socket
    }
}

async fn subscribe(socket: &mut WsClient, id: &str, query: &str) {
    socket
        .send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
        .await;
}

fn message(event: WsEvent) -> Value {
    match event {
        WsEvent::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn a_board_over_wss_receives_check_ins_with_the_connection_init_token() {
    let stand = stand().await;
    stand.hire_linked("tnt_wss", "usr_w").await;
    let manager = stand.issuer.token("tnt_wss", "usr_m", &["attendance:read"]);
    let mut socket = stand.connect(Some(&manager)).await;
    subscribe(&mut socket, "1", BOARD).await;
    // Another tenant's manager on the same router sees nothing of tnt_wss.
    let other = stand
        .issuer
        .token("tnt_wss_other", "usr_o", &["attendance:read"]);
    let mut other_socket = stand.connect(Some(&other)).await;
    subscribe(&mut other_socket, "1", BOARD).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    stand.punch("tnt_wss", "usr_w", "checkIn", "k1").await;
    let event = message(socket.next(WAIT).await);
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "1");
    assert_eq!(event["payload"]["data"]["attendanceBoard"]["kind"], "in");
    stand.punch("tnt_wss", "usr_w", "checkOut", "k2").await;
    let event = message(socket.next(WAIT).await);
    assert_eq!(event["payload"]["data"]["attendanceBoard"]["kind"], "out");
    assert_eq!(
        other_socket.next(Duration::from_millis(700)).await,
        WsEvent::Timeout,
        "nothing for another tenant"
    );

    // A second `subscribe` with the id of the running one: 4409.
    subscribe(&mut socket, "1", BOARD).await;
    let (messages, close) = socket.until_closed(WAIT).await;
    assert!(messages.is_empty(), "{messages:?}");
    assert!(
        matches!(&close, WsEvent::Closed(4409, reason) if reason.contains("already exists")),
        "{close:?}"
    );
}

#[tokio::test]
async fn the_scope_is_enforced_at_the_router_and_an_expired_token_stops_the_stream() {
    let stand = stand().await;
    stand.hire_linked("tnt_exp", "usr_w").await;

    // Without attendance:read: the field is denied at the edge, the operation completes.
    let reader = stand.issuer.token("tnt_exp", "usr_r", &["employee:read"]);
    let mut socket = stand.connect(Some(&reader)).await;
    subscribe(&mut socket, "1", BOARD).await;
    let event = message(socket.next(WAIT).await);
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{event}"
    );
    assert_eq!(
        event["payload"]["errors"][0]["path"],
        json!(["attendanceBoard"])
    );
    assert_eq!(message(socket.next(WAIT).await)["type"], "complete");

    // A token that expires while subscribed: the subgraph re-authorises each event, so the
    // next event is an UNAUTHENTICATED error and the stream completes.
    let mut claims = stand
        .issuer
        .claims("tnt_exp", "usr_m", &["attendance:read"]);
    claims.exp = chrono::Utc::now().timestamp() + 3;
    let short = stand.issuer.key.sign(&claims).unwrap();
    let mut socket = stand.connect(Some(&short)).await;
    subscribe(&mut socket, "7", BOARD).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stand.punch("tnt_exp", "usr_w", "checkIn", "e1").await;
    let event = message(socket.next(WAIT).await);
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "7");
    assert_eq!(
        event["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{event}"
    );
    assert!(event["payload"]["data"]["attendanceBoard"].is_null());
    assert_eq!(message(socket.next(WAIT).await)["type"], "complete");
}

#[tokio::test]
async fn a_board_over_sse_receives_check_ins() {
    let stand = stand().await;
    stand.hire_linked("tnt_sse", "usr_w").await;
    let manager = stand.issuer.token("tnt_sse", "usr_m", &["attendance:read"]);
    let mut response = stand
        .router
        .http
        .post(stand.router.url("/graphql"))
        .bearer_auth(&manager)
        .header("accept", "text/event-stream")
        .json(&json!({ "query": BOARD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stand.punch("tnt_sse", "usr_w", "checkIn", "s1").await;

    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !received.contains("\n\n") || !received.contains("event: next") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("an SSE event in time")
            .unwrap()
            .expect("the stream is open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = received
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("{received}"));
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["data"]["attendanceBoard"]["kind"], "in", "{received}");
}

#[tokio::test]
async fn only_allowed_origins_may_open_a_websocket() {
    let stand = stand().await;
    let refused = stand
        .router
        .websocket(Some("https://evil.example"))
        .await
        .err()
        .expect("a foreign origin was upgraded");
    assert_eq!(refused.status, 403, "{refused:?}");
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN_ORIGIN");
    assert!(stand.router.websocket(Some("null")).await.is_err());
    // The allowed origin, and a client that is not a browser (no Origin), are upgraded.
    assert!(stand.router.websocket(Some(ALLOWED_ORIGIN)).await.is_ok());
    assert!(stand.router.websocket(None).await.is_ok());
}

#[tokio::test]
async fn protocol_violations_close_with_their_codes() {
    let stand = stand().await;
    let token = stand
        .issuer
        .token("tnt_codes", "usr_c", &["attendance:read"]);

    // No connection_init at all: 4408 after 3 s (edge-security.md; hive-router's own 10 s is
    // patched, router/vendor/hive-router/PATCHED.md): closed well before 10 s. Runs meanwhile.
    let mut silent = stand.router.websocket(Some(ALLOWED_ORIGIN)).await.unwrap();
    let timeout = tokio::spawn(async move { silent.until_closed(Duration::from_secs(8)).await });

    // subscribe before connection_init: 4401.
    let mut socket = stand.router.websocket(Some(ALLOWED_ORIGIN)).await.unwrap();
    subscribe(&mut socket, "1", BOARD).await;
    let (_, close) = socket.until_closed(WAIT).await;
    assert!(matches!(close, WsEvent::Closed(4401, _)), "{close:?}");

    // Not a graphql-transport-ws message: 4400.
    let mut socket = stand.connect(Some(&token)).await;
    socket.send_text("{ not json").await;
    let (_, close) = socket.until_closed(WAIT).await;
    assert!(matches!(close, WsEvent::Closed(4400, _)), "{close:?}");

    // A second connection_init: 4429.
    let mut socket = stand.connect(Some(&token)).await;
    socket
        .send_json(json!({ "type": "connection_init", "payload": {} }))
        .await;
    let (_, close) = socket.until_closed(WAIT).await;
    assert!(matches!(close, WsEvent::Closed(4429, _)), "{close:?}");

    // A token the router refuses in connection_init (signed by a key outside the JWKS): closed
    // with 4403 before any ack, the JWT error code as the reason (router/vendor/hive-router/
    // PATCHED.md); nothing is acknowledged, nothing reaches the subgraph.
    let foreign = erp_kit::auth::RsaSigningKey::generate("foreign").unwrap();
    let forged = foreign
        .sign(
            &stand
                .issuer
                .claims("tnt_codes", "usr_x", &["attendance:read"]),
        )
        .unwrap();
    let mut socket = stand.router.websocket(Some(ALLOWED_ORIGIN)).await.unwrap();
    socket
        .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {forged}") } }))
        .await;
    let (messages, close) = socket.until_closed(WAIT).await;
    assert!(messages.is_empty(), "{messages:?}");
    match &close {
        WsEvent::Closed(4403, reason) => assert!(!reason.is_empty(), "{close:?}"),
        other => panic!("expected 4403, got {other:?}"),
    }

    // An expired token of the right issuer: 4403 as well.
    let mut claims = stand
        .issuer
        .claims("tnt_codes", "usr_c", &["attendance:read"]);
    // (well past any clock-skew leeway)
    claims.exp = claims.iat - 600;
    claims.iat -= 1500;
    let expired = stand.issuer.key.sign(&claims).unwrap();
    let mut socket = stand.router.websocket(Some(ALLOWED_ORIGIN)).await.unwrap();
    socket
        .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {expired}") } }))
        .await;
    let (messages, close) = socket.until_closed(WAIT).await;
    assert!(messages.is_empty(), "{messages:?}");
    assert!(matches!(close, WsEvent::Closed(4403, _)), "{close:?}");

    // No token at all is acknowledged (anonymous); a subscription that needs a scope is then
    // refused per operation (filter mode), the socket stays open.
    let _anonymous = stand.connect(None).await;

    let (messages, close) = timeout.await.unwrap();
    assert!(messages.is_empty(), "{messages:?}");
    assert!(matches!(close, WsEvent::Closed(4408, _)), "{close:?}");
}
