//! PMO live subscriptions over the subgraph's WebSocket endpoint (graphql-transport-ws, token in
//! `connection_init`), on Redis and Kafka, each test once on real MongoDB (SecantusDB) and once on
//! the embedded journal-backed store: a person's timer and a
//! project board, across two replicas sharing Redis, re-authorised before every event.
//!
//! No test waits for time to pass: every subscription announces itself with a first event
//! (`SNAPSHOT`, `SUBSCRIBED`) sent after it is subscribed to Redis, and "nothing else arrived"
//! is checked through ordering (an unrelated change published before a related one).

use erp_tests::pmo::{tenant, ws_connect, ws_next, ws_subscribe, PmoApp, Socket, Store};
use erp_tests::{error_codes, TestIssuer};
use serde_json::{json, Value};

const MEMBER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];

const MY_TIMER: &str =
    "subscription { myTimer { kind timerId state startedAt elapsedSeconds at task { title } } }";
const BOARD: &str = "subscription($p: ID!) { projectBoard(projectId: $p) { kind projectId taskId boardId columnId userId task { title status } } }";

/// The next `next` payload of operation `id` that is not a tick (ticks are checked on the way:
/// running, same timer, elapsed never going back).
async fn next_change(socket: &mut Socket, id: &str, last_elapsed: &mut i64) -> Value {
    loop {
        let message = ws_next(socket).await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id);
        let event = message["payload"]["data"]["myTimer"].clone();
        if event.is_null() {
            return message["payload"].clone();
        }
        let elapsed = event["elapsedSeconds"].as_i64().unwrap();
        assert!(elapsed >= *last_elapsed, "elapsed went back: {event}");
        *last_elapsed = elapsed;
        if event["kind"] != "TICK" {
            return event;
        }
        assert_eq!(event["state"], "RUNNING", "{event}");
    }
}

async fn board_event(socket: &mut Socket) -> Value {
    let message = ws_next(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"].clone()
}

async fn a_timer_started_through_one_replica_reaches_a_subscriber_on_another(store: Store) {
    let issuer = TestIssuer::start().await;
    let a = PmoApp::spawn_with(&issuer, store).await;
    let b = a.replica(&issuer).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let project = a.project(&pm, "Live", true).await;
    let task = a.task(&pm, &project, "Wire the API", json!({})).await;
    let dev = issuer.token(&t, "usr_dev", MEMBER);
    a.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_dev", role: CONTRIBUTOR) { id } }"#,
        json!({ "p": project }),
    )
    .await;

    let (mut socket, ack) = ws_connect(&b, &pm).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws_subscribe(&mut socket, "t", MY_TIMER, json!({})).await;
    let mut elapsed = 0;
    let snapshot = next_change(&mut socket, "t", &mut elapsed).await;
    assert_eq!(
        snapshot,
        json!({ "kind": "SNAPSHOT", "timerId": null, "state": null, "startedAt": null,
            "elapsedSeconds": 0, "at": snapshot["at"], "task": null })
    );

    // A colleague's timer goes to the colleague's channel only: the first change this
    // subscriber sees is its own start, published after the colleague's.
    a.ok(
        &dev,
        "mutation($t: ID!) { startTimer(taskId: $t) { id } }",
        json!({ "t": task }),
    )
    .await;
    let started = a
        .ok(
            &pm,
            "mutation($t: ID!) { startTimer(taskId: $t) { id startedAt } }",
            json!({ "t": task }),
        )
        .await["startTimer"]
        .clone();
    let event = next_change(&mut socket, "t", &mut elapsed).await;
    assert_eq!(
        event,
        json!({ "kind": "STARTED", "timerId": started["id"], "state": "RUNNING",
            "startedAt": started["startedAt"], "elapsedSeconds": 0, "at": started["startedAt"],
            "task": { "title": "Wire the API" } })
    );

    // Ticks come while it runs (checked inside next_change); pause, resume and stop follow.
    let tick = ws_next(&mut socket).await;
    assert_eq!(tick["payload"]["data"]["myTimer"]["kind"], "TICK", "{tick}");
    assert_eq!(tick["payload"]["data"]["myTimer"]["timerId"], started["id"]);
    a.ok(&pm, "mutation { pauseTimer { state } }", json!({}))
        .await;
    let event = next_change(&mut socket, "t", &mut elapsed).await;
    assert_eq!(
        (&event["kind"], &event["state"]),
        (&json!("PAUSED"), &json!("PAUSED"))
    );
    a.ok(&pm, "mutation { resumeTimer { state } }", json!({}))
        .await;
    let event = next_change(&mut socket, "t", &mut elapsed).await;
    assert_eq!(
        (&event["kind"], &event["state"]),
        (&json!("RESUMED"), &json!("RUNNING"))
    );
    let entry = a
        .ok(
            &pm,
            "mutation { stopTimer { id durationSeconds } }",
            json!({}),
        )
        .await["stopTimer"]
        .clone();
    let event = next_change(&mut socket, "t", &mut elapsed).await;
    assert_eq!(event["kind"], "STOPPED", "{event}");
    assert_eq!(event["timerId"], entry["id"]);
    assert_eq!(event["state"], Value::Null);
    // The elapsed time the server computed for the stop is the time entry's duration.
    assert_eq!(event["elapsedSeconds"], entry["durationSeconds"]);

    // A new subscriber on the other replica starts from the state in Redis.
    let (mut second, _) = ws_connect(&a, &dev).await;
    ws_subscribe(&mut second, "d", MY_TIMER, json!({})).await;
    let message = ws_next(&mut second).await;
    let snapshot = &message["payload"]["data"]["myTimer"];
    assert_eq!(snapshot["kind"], "SNAPSHOT", "{message}");
    assert_eq!(snapshot["state"], "RUNNING");
    assert_eq!(snapshot["task"], json!({ "title": "Wire the API" }));
}

async fn the_project_board_sees_tasks_created_and_moved_and_timers_on_its_tasks(store: Store) {
    let issuer = TestIssuer::start().await;
    let a = PmoApp::spawn_with(&issuer, store).await;
    let b = a.replica(&issuer).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let project = a.project(&pm, "Board", false).await;
    let other_project = a.project(&pm, "Elsewhere", false).await;
    let (board, columns) = a.board(&pm, &project).await;

    let (mut socket, _) = ws_connect(&b, &pm).await;
    ws_subscribe(&mut socket, "b", BOARD, json!({ "p": project })).await;
    assert_eq!(
        board_event(&mut socket).await,
        json!({ "data": { "projectBoard": { "kind": "SUBSCRIBED", "projectId": project,
            "taskId": null, "boardId": null, "columnId": null, "userId": null, "task": null } } })
    );

    // A task of another project is not this board's business: the first event is ours.
    a.task(&pm, &other_project, "Not here", json!({})).await;
    let task = a
        .task(
            &pm,
            &project,
            "Card",
            json!({ "boardId": board, "columnId": columns[0] }),
        )
        .await;
    assert_eq!(
        board_event(&mut socket).await,
        json!({ "data": { "projectBoard": { "kind": "TASK_CREATED", "projectId": project,
            "taskId": task, "boardId": board, "columnId": columns[0], "userId": "usr_pm",
            "task": { "title": "Card", "status": "TODO" } } } })
    );

    a.ok(
        &pm,
        "mutation($t: ID!, $b: ID!, $c: ID!) { moveTask(taskId: $t, boardId: $b, columnId: $c) { id } }",
        json!({ "t": task, "b": board, "c": columns[1] }),
    )
    .await;
    assert_eq!(
        board_event(&mut socket).await,
        json!({ "data": { "projectBoard": { "kind": "TASK_MOVED", "projectId": project,
            "taskId": task, "boardId": board, "columnId": columns[1], "userId": "usr_pm",
            "task": { "title": "Card", "status": "IN_PROGRESS" } } } })
    );

    // Timers on its tasks: started and stopped (pause and resume stay the person's business).
    a.ok(
        &pm,
        "mutation($t: ID!) { startTimer(taskId: $t) { id } }",
        json!({ "t": task }),
    )
    .await;
    let event = board_event(&mut socket).await;
    assert_eq!(event["data"]["projectBoard"]["kind"], "TIMER_STARTED");
    assert_eq!(event["data"]["projectBoard"]["taskId"], task.as_str());
    assert_eq!(event["data"]["projectBoard"]["userId"], "usr_pm");
    a.ok(&pm, "mutation { pauseTimer { state } }", json!({}))
        .await;
    a.ok(&pm, "mutation { stopTimer { id } }", json!({})).await;
    let event = board_event(&mut socket).await;
    assert_eq!(event["data"]["projectBoard"]["kind"], "TIMER_STOPPED");
    assert_eq!(event["data"]["projectBoard"]["taskId"], task.as_str());
}

async fn scopes_membership_and_tenants_are_enforced_per_subscription_and_per_event(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let project = app.project(&pm, "Guarded", false).await;

    // Without the declared scope: refused from the one @requiresScopes declaration.
    for (token, query, field) in [
        (
            issuer.token(&t, "usr_pm", &["project:read"]),
            MY_TIMER,
            "myTimer",
        ),
        (
            issuer.token(&t, "usr_pm", &["task:start"]),
            BOARD,
            "projectBoard",
        ),
    ] {
        let (mut socket, ack) = ws_connect(&app, &token).await;
        assert_eq!(ack["type"], "connection_ack");
        ws_subscribe(&mut socket, "1", query, json!({ "p": project })).await;
        let message = ws_next(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["payload"]["data"], Value::Null);
        assert_eq!(
            error_codes(&message["payload"]),
            vec!["UNAUTHORIZED_FIELD_OR_TYPE"]
        );
        assert_eq!(message["payload"]["errors"][0]["path"], json!([field]));
        assert_eq!(ws_next(&mut socket).await["type"], "complete");
    }

    // Same tenant, not a member: FORBIDDEN. Another tenant: the project does not exist.
    for (token, code) in [
        (issuer.token(&t, "usr_x", MEMBER), "FORBIDDEN"),
        (issuer.token(&tenant(), "usr_pm", MEMBER), "NOT_FOUND"),
    ] {
        let (mut socket, _) = ws_connect(&app, &token).await;
        ws_subscribe(&mut socket, "1", BOARD, json!({ "p": project })).await;
        let message = ws_next(&mut socket).await;
        assert_eq!(error_codes(&message["payload"]), vec![code], "{message}");
        assert_eq!(ws_next(&mut socket).await["type"], "complete");
    }

    // A member removed while subscribed is refused at the next event, and the stream ends.
    app.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_v", role: VIEWER) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let viewer = issuer.token(&t, "usr_v", &["project:read"]);
    let (mut socket, _) = ws_connect(&app, &viewer).await;
    ws_subscribe(&mut socket, "1", BOARD, json!({ "p": project })).await;
    assert_eq!(
        board_event(&mut socket).await["data"]["projectBoard"]["kind"],
        "SUBSCRIBED"
    );
    app.task(&pm, &project, "Seen", json!({})).await;
    assert_eq!(
        board_event(&mut socket).await["data"]["projectBoard"]["kind"],
        "TASK_CREATED"
    );
    let data = app
        .ok(
            &pm,
            r#"mutation($p: ID!) { removeProjectMember(projectId: $p, userId: "usr_v") { members { userId } } }"#,
            json!({ "p": project }),
        )
        .await;
    assert_eq!(
        data["removeProjectMember"]["members"],
        json!([{ "userId": "usr_pm" }])
    );
    app.task(&pm, &project, "Not seen", json!({})).await;
    let message = ws_next(&mut socket).await;
    assert_eq!(
        error_codes(&message["payload"]),
        vec!["FORBIDDEN"],
        "{message}"
    );
    assert_eq!(
        message["payload"]["errors"][0]["message"],
        "you are not a member of this project"
    );
    assert_eq!(ws_next(&mut socket).await["type"], "complete");

    // Member management rules.
    let (_, body) = app
        .graphql(
            &pm,
            r#"mutation($p: ID!) { removeProjectMember(projectId: $p, userId: "usr_pm") { id } }"#,
            json!({ "p": project }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    let (_, body) = app
        .graphql(
            &pm,
            r#"mutation($p: ID!) { removeProjectMember(projectId: $p, userId: "usr_nobody") { id } }"#,
            json!({ "p": project }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "userId");
}

async fn an_expired_token_ends_the_timer_stream(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let project = app.project(&pm, "Expiry", false).await;
    let task = app.task(&pm, &project, "Long one", json!({})).await;
    app.ok(
        &pm,
        "mutation($t: ID!) { startTimer(taskId: $t) { id } }",
        json!({ "t": task }),
    )
    .await;

    let mut claims = issuer.claims(&t, "usr_pm", MEMBER);
    claims.exp = chrono::Utc::now().timestamp() + 2;
    let short = issuer.key.sign(&claims).unwrap();
    let (mut socket, ack) = ws_connect(&app, &short).await;
    assert_eq!(ack["type"], "connection_ack");
    ws_subscribe(&mut socket, "1", MY_TIMER, json!({})).await;

    // Snapshot and ticks while the token is valid, then UNAUTHENTICATED and the end.
    let mut kinds = Vec::new();
    let refusal = loop {
        let message = ws_next(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["myTimer"];
        if event.is_null() {
            break message["payload"].clone();
        }
        kinds.push(event["kind"].as_str().unwrap().to_owned());
        assert!(kinds.len() < 200, "the stream did not end");
    };
    assert_eq!(kinds[0], "SNAPSHOT");
    assert!(kinds[1..].iter().all(|k| k == "TICK"), "{kinds:?}");
    assert_eq!(error_codes(&refusal), vec!["UNAUTHENTICATED"], "{refusal}");
    assert_eq!(ws_next(&mut socket).await["type"], "complete");
}

erp_tests::on_both_stores!(
    a_timer_started_through_one_replica_reaches_a_subscriber_on_another,
    the_project_board_sees_tasks_created_and_moved_and_timers_on_its_tasks,
    scopes_membership_and_tenants_are_enforced_per_subscription_and_per_event,
    an_expired_token_ends_the_timer_stream,
);
