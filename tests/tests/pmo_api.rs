//! The PMO subgraph through its real HTTP surface, on Redis and Kafka, each test once on real
//! MongoDB (SecantusDB) and once on the embedded journal-backed store.
//! Every test asserts exact data, status codes and `extensions.code` (plus `extensions.reason`
//! for the domain rules).

use erp_tests::pmo::{PmoApp, Store};
use erp_tests::{error_codes, TestIssuer};
use serde_json::{json, Value};

const MANAGER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];
const READER: &[&str] = &["project:read"];

fn tenant() -> String {
    format!("tnt_{}", uuid::Uuid::new_v4().simple())
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or("")
}

async fn ok(app: &PmoApp, token: &str, query: &str, variables: Value) -> Value {
    let (status, body) = app.graphql(token, query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

/// A project with a board: Todo (no limit), Doing (WIP 1), Done. Returns (project, board, columns).
async fn project_with_board(app: &PmoApp, token: &str) -> (String, String, Vec<String>) {
    let data = ok(
        app,
        token,
        r#"mutation { createProject(input: { name: " Website ", client: "Acme", budget: "12500.5", currency: "eur", billable: true }) { id name client billable budget { amount currency } members { userId role } } }"#,
        json!({}),
    )
    .await;
    let project = &data["createProject"];
    let project_id = project["id"].as_str().unwrap().to_owned();
    assert_eq!(
        *project,
        json!({
            "id": project_id,
            "name": "Website",
            "client": "Acme",
            "billable": true,
            "budget": { "amount": "12500.50", "currency": "EUR" },
            "members": [{ "userId": "usr_pm", "role": "OWNER" }]
        })
    );
    let data = ok(
        app,
        token,
        r#"mutation($p: ID!) { createBoard(projectId: $p, name: "Sprint board", columns: [
            { name: "Todo", status: TODO },
            { name: "Doing", status: IN_PROGRESS, wipLimit: 1 },
            { name: "Done", status: DONE }
        ]) { id name columns { id name status wipLimit } } }"#,
        json!({ "p": project_id }),
    )
    .await;
    let board = &data["createBoard"];
    let columns: Vec<String> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        board["columns"],
        json!([
            { "id": columns[0], "name": "Todo", "status": "TODO", "wipLimit": null },
            { "id": columns[1], "name": "Doing", "status": "IN_PROGRESS", "wipLimit": 1 },
            { "id": columns[2], "name": "Done", "status": "DONE", "wipLimit": null },
        ])
    );
    (
        project_id,
        board["id"].as_str().unwrap().to_owned(),
        columns,
    )
}

const CREATE_TASK: &str = r#"mutation($input: CreateTaskInput!) { createTask(input: $input) { id title status columnId labels estimateMinutes assignees { id } blockedBy { id } } }"#;

async fn task(app: &PmoApp, token: &str, input: Value) -> String {
    let data = ok(app, token, CREATE_TASK, json!({ "input": input })).await;
    data["createTask"]["id"].as_str().unwrap().to_owned()
}

const MOVE: &str = r#"mutation($t: ID!, $b: ID!, $c: ID!) { moveTask(taskId: $t, boardId: $b, columnId: $c) { id status columnId } }"#;

async fn wip_limit_is_enforced_on_moves_and_filters_find_tasks(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let (project, board, columns) = project_with_board(&app, &pm).await;

    let data = ok(
        &app,
        &pm,
        CREATE_TASK,
        json!({ "input": { "projectId": project, "boardId": board, "columnId": columns[0],
            "title": "Landing page", "labels": ["UX", "ux", "web"], "estimateMinutes": 90,
            "assigneeIds": ["emp_1"] } }),
    )
    .await;
    let first = data["createTask"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createTask"],
        json!({ "id": first, "title": "Landing page", "status": "TODO", "columnId": columns[0],
            "labels": ["ux", "web"], "estimateMinutes": 90, "assignees": [{ "id": "emp_1" }], "blockedBy": [] })
    );
    let second = task(
        &app,
        &pm,
        json!({ "projectId": project, "title": "Pricing page", "labels": ["web"], "assigneeIds": ["emp_2"] }),
    )
    .await;

    let data = ok(
        &app,
        &pm,
        MOVE,
        json!({ "t": first, "b": board, "c": columns[1] }),
    )
    .await;
    assert_eq!(
        data["moveTask"],
        json!({ "id": first, "status": "IN_PROGRESS", "columnId": columns[1] })
    );

    // Doing holds its limit of 1: the second task is refused, and stays where it was.
    let (status, body) = app
        .graphql(
            &pm,
            MOVE,
            json!({ "t": second, "b": board, "c": columns[1] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "WIP_LIMIT_EXCEEDED");
    assert_eq!(
        body["errors"][0]["message"],
        "the column `Doing` already holds its WIP limit of 1 task(s)"
    );
    assert_eq!(body["data"]["moveTask"], Value::Null);
    let data = ok(
        &app,
        &pm,
        "query($id: ID!) { task(id: $id) { status columnId } }",
        json!({ "id": second }),
    )
    .await;
    assert_eq!(data["task"], json!({ "status": "TODO", "columnId": null }));

    // Creating a task straight into the full column is refused the same way.
    let (_, body) = app
        .graphql(
            &pm,
            CREATE_TASK,
            json!({ "input": { "projectId": project, "boardId": board, "columnId": columns[1], "title": "Third" } }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "WIP_LIMIT_EXCEEDED");

    // Once the first is done, the second fits.
    ok(
        &app,
        &pm,
        MOVE,
        json!({ "t": first, "b": board, "c": columns[2] }),
    )
    .await;
    ok(
        &app,
        &pm,
        MOVE,
        json!({ "t": second, "b": board, "c": columns[1] }),
    )
    .await;

    // Filters: label, assignee, status; Relay pagination.
    let list = r#"query($f: TaskFilterInput, $after: String) { tasks(filter: $f, first: 1, after: $after) { edges { node { title } } pageInfo { hasNextPage endCursor } } }"#;
    let data = ok(
        &app,
        &pm,
        list,
        json!({ "f": { "projectId": project, "label": "WEB" } }),
    )
    .await;
    assert_eq!(
        data["tasks"]["edges"],
        json!([{ "node": { "title": "Landing page" } }])
    );
    assert_eq!(data["tasks"]["pageInfo"]["hasNextPage"], true);
    let cursor = data["tasks"]["pageInfo"]["endCursor"].clone();
    let data = ok(
        &app,
        &pm,
        list,
        json!({ "f": { "projectId": project, "label": "web" }, "after": cursor }),
    )
    .await;
    assert_eq!(
        data["tasks"]["edges"],
        json!([{ "node": { "title": "Pricing page" } }])
    );
    assert_eq!(data["tasks"]["pageInfo"]["hasNextPage"], false);
    let data = ok(
        &app,
        &pm,
        list,
        json!({ "f": { "projectId": project, "assigneeId": "emp_2" } }),
    )
    .await;
    assert_eq!(
        data["tasks"]["edges"],
        json!([{ "node": { "title": "Pricing page" } }])
    );
    let data = ok(
        &app,
        &pm,
        list,
        json!({ "f": { "projectId": project, "status": "DONE" } }),
    )
    .await;
    assert_eq!(
        data["tasks"]["edges"],
        json!([{ "node": { "title": "Landing page" } }])
    );

    // Bad inputs.
    let (_, body) = app
        .graphql(
            &pm,
            r#"mutation($p: ID!) { createBoard(projectId: $p, name: "B", columns: [{ name: "X", status: TODO, wipLimit: 0 }]) { id } }"#,
            json!({ "p": project }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "columns.wipLimit");
    let (_, body) = app
        .graphql(
            &pm,
            MOVE,
            json!({ "t": second, "b": board, "c": "no-such-column" }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "columnId");
}

async fn dependency_cycles_are_refused(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let (project, _, _) = project_with_board(&app, &pm).await;
    let a = task(&app, &pm, json!({ "projectId": project, "title": "A" })).await;
    let b = task(&app, &pm, json!({ "projectId": project, "title": "B" })).await;
    let c = task(&app, &pm, json!({ "projectId": project, "title": "C" })).await;
    let depend = r#"mutation($t: ID!, $b: ID!) { addTaskDependency(taskId: $t, blockedById: $b) { title blockedBy { title } } }"#;

    let data = ok(&app, &pm, depend, json!({ "t": a, "b": b })).await;
    assert_eq!(
        data["addTaskDependency"],
        json!({ "title": "A", "blockedBy": [{ "title": "B" }] })
    );
    ok(&app, &pm, depend, json!({ "t": b, "b": c })).await;

    // C blocked by A would close A -> B -> C -> A.
    let (status, body) = app.graphql(&pm, depend, json!({ "t": c, "b": a })).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(reason(&body), "DEPENDENCY_CYCLE");
    assert_eq!(body["errors"][0]["extensions"]["field"], "blockedById");
    let (_, body) = app.graphql(&pm, depend, json!({ "t": a, "b": a })).await;
    assert_eq!(reason(&body), "DEPENDENCY_CYCLE");

    // Nothing was written by the refused edge.
    let data = ok(
        &app,
        &pm,
        "query($id: ID!) { task(id: $id) { blockedBy { id } } }",
        json!({ "id": c }),
    )
    .await;
    assert_eq!(data["task"]["blockedBy"], json!([]));
}

async fn tenants_and_project_roles_are_isolated(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let (t1, t2) = (tenant(), tenant());
    let pm = issuer.token(&t1, "usr_pm", MANAGER);
    let (project, board, columns) = project_with_board(&app, &pm).await;
    let a = task(&app, &pm, json!({ "projectId": project, "title": "A" })).await;

    // Another tenant's manager: the task does not exist for them.
    let other = issuer.token(&t2, "usr_pm", MANAGER);
    let (status, body) = app
        .graphql(&other, MOVE, json!({ "t": a, "b": board, "c": columns[1] }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
    let (_, body) = app
        .graphql(
            &other,
            "query($id: ID!) { task(id: $id) { id } project(id: $id) { id } }",
            json!({ "id": a }),
        )
        .await;
    assert_eq!(body["data"], json!({ "task": null, "project": null }));

    // Same tenant, not a member of the project: FORBIDDEN; a reader cannot write at all and
    // does not see the budget.
    let stranger = issuer.token(&t1, "usr_x", MANAGER);
    let (_, body) = app
        .graphql(
            &stranger,
            MOVE,
            json!({ "t": a, "b": board, "c": columns[1] }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let reader = issuer.token(&t1, "usr_r", READER);
    let (_, body) = app
        .graphql(
            &reader,
            MOVE,
            json!({ "t": a, "b": board, "c": columns[1] }),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        vec!["UNAUTHORIZED_FIELD_OR_TYPE"],
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["moveTask"]));
    // Issue 16 (item 11) changed this contract: a reader who is not a member reads nothing of
    // the project (FORBIDDEN); as a VIEWER member they read it, without the budget.
    let read_project = "query($id: ID!) { project(id: $id) { name budget { amount } } }";
    let (_, body) = app
        .graphql(&reader, read_project, json!({ "id": project }))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(body["data"]["project"], Value::Null, "{body}");
    ok(
        &app,
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_r", role: VIEWER) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let (_, body) = app
        .graphql(&reader, read_project, json!({ "id": project }))
        .await;
    assert_eq!(
        body["data"]["project"],
        json!({ "name": "Website", "budget": null })
    );
    assert_eq!(error_codes(&body), vec!["UNAUTHORIZED_FIELD_OR_TYPE"]);
    assert_eq!(body["errors"][0]["path"], json!(["project", "budget"]));

    // A contributor added by the owner may move tasks.
    ok(
        &app,
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_x", employeeId: "emp_x", role: CONTRIBUTOR) { members { userId role employee { id } } } }"#,
        json!({ "p": project }),
    )
    .await;
    ok(
        &app,
        &stranger,
        MOVE,
        json!({ "t": a, "b": board, "c": columns[1] }),
    )
    .await;
}

const START: &str = r#"mutation($t: ID!) { startTimer(taskId: $t) { id userId state startedAt elapsedSeconds task { title } } }"#;
const MY_TIMER: &str = "{ myTimer { id state startedAt task { title } } }";

async fn timers_one_per_person_own_only_and_stop_into_entries(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let (project, _, _) = project_with_board(&app, &pm).await;
    let a = task(&app, &pm, json!({ "projectId": project, "title": "A" })).await;
    let b = task(&app, &pm, json!({ "projectId": project, "title": "B" })).await;

    let before = chrono::Utc::now();
    let data = ok(&app, &pm, START, json!({ "t": a })).await;
    let timer = &data["startTimer"];
    assert_eq!(timer["userId"], "usr_pm");
    assert_eq!(timer["state"], "RUNNING");
    assert_eq!(timer["elapsedSeconds"], 0);
    assert_eq!(timer["task"], json!({ "title": "A" }));
    let started: chrono::DateTime<chrono::Utc> =
        timer["startedAt"].as_str().unwrap().parse().unwrap();
    assert!(started >= before - chrono::Duration::seconds(1) && started <= chrono::Utc::now());

    // A second timer for the same person: CONFLICT.
    let (status, body) = app.graphql(&pm, START, json!({ "t": b })).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "TIMER_ALREADY_RUNNING");

    // Someone else's timer cannot be stopped.
    let colleague = issuer.token(&t, "usr_dev", MANAGER);
    let (_, body) = app
        .graphql(
            &colleague,
            r#"mutation { stopTimer(userId: "usr_pm") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "you can only stop your own timer"
    );
    let (_, body) = app
        .graphql(&colleague, "mutation { stopTimer { id } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");

    // Pause / resume, with their state rules.
    let data = ok(&app, &pm, "mutation { pauseTimer { state } }", json!({})).await;
    assert_eq!(data["pauseTimer"]["state"], "PAUSED");
    let (_, body) = app
        .graphql(&pm, "mutation { pauseTimer { state } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"]);
    assert_eq!(reason(&body), "TIMER_STATE");
    let data = ok(&app, &pm, "mutation { resumeTimer { state } }", json!({})).await;
    assert_eq!(data["resumeTimer"]["state"], "RUNNING");

    let data = ok(
        &app,
        &pm,
        "mutation { stopTimer { id userId billable durationSeconds startedAt task { title } } }",
        json!({}),
    )
    .await;
    let entry = &data["stopTimer"];
    assert_eq!(entry["id"], timer["id"]);
    assert_eq!(entry["userId"], "usr_pm");
    assert_eq!(entry["billable"], true);
    assert_eq!(entry["startedAt"], timer["startedAt"]);
    assert_eq!(entry["task"], json!({ "title": "A" }));
    assert!(entry["durationSeconds"].as_i64().unwrap() < 60);
    let data = ok(&app, &pm, MY_TIMER, json!({})).await;
    assert_eq!(data["myTimer"], Value::Null);

    let data = ok(
        &app,
        &pm,
        "{ timeEntries { edges { node { id task { title } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data["timeEntries"]["edges"],
        json!([{ "node": { "id": timer["id"], "task": { "title": "A" } } }])
    );
    let (_, body) = app
        .graphql(
            &colleague,
            r#"{ timeEntries(filter: { userId: "usr_pm" }) { edges { node { id } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");

    // Free again: a new timer starts.
    ok(&app, &pm, START, json!({ "t": b })).await;
}

async fn a_running_timer_survives_a_restart_of_the_service(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let (project, _, _) = project_with_board(&app, &pm).await;
    let a = task(&app, &pm, json!({ "projectId": project, "title": "A" })).await;
    let data = ok(&app, &pm, START, json!({ "t": a })).await;
    let timer = data["startTimer"].clone();

    let old_addr = app.addr;
    let app = app.respawn(&issuer).await;
    assert_ne!(app.addr, old_addr);
    let data = ok(&app, &pm, MY_TIMER, json!({})).await;
    assert_eq!(
        data["myTimer"],
        json!({ "id": timer["id"], "state": "RUNNING", "startedAt": timer["startedAt"], "task": { "title": "A" } })
    );
    let (_, body) = app.graphql(&pm, START, json!({ "t": a })).await;
    assert_eq!(reason(&body), "TIMER_ALREADY_RUNNING");
    let data = ok(&app, &pm, "mutation { stopTimer { id } }", json!({})).await;
    assert_eq!(data["stopTimer"]["id"], timer["id"]);

    // The relay of the new process publishes every recorded event (project, board-less tasks,
    // timer started and stopped) to Kafka and marks them published.
    let drained = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let pending = app.pmo.store.pending_events(100).await.ok()?;
        pending.is_empty().then_some(())
    })
    .await;
    assert!(drained.is_some(), "the pmo_outbox was not drained");
}

/// Issue 16, item 11: reads follow project membership like writes. A user of the same tenant
/// who is not a member of the project reads none of its data through any path: the root
/// fields (`project`, `projects`, `task`, `tasks` with and without `projectId`, `sprint`,
/// `board`), an entity reference (`_entities`, as the router resolves one), the live board;
/// once a member (any role) they read it all.
async fn a_non_member_reads_nothing_of_a_project(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let (project, board, _) = project_with_board(&app, &pm).await;
    let a = task(
        &app,
        &pm,
        json!({ "projectId": project, "title": "Secret plan" }),
    )
    .await;
    let data = ok(
        &app,
        &pm,
        r#"mutation($i: CreateSprintInput!) { createSprint(input: $i) { id } }"#,
        json!({ "i": { "projectId": project, "name": "S1" } }),
    )
    .await;
    let sprint = data["createSprint"]["id"].as_str().unwrap().to_owned();
    // The outsider owns a project of their own: their lists are not empty by accident.
    let outsider = issuer.token(&t, "usr_out", MANAGER);
    let data = ok(
        &app,
        &outsider,
        r#"mutation { createProject(input: { name: "Mine", billable: false }) { id } }"#,
        json!({}),
    )
    .await;
    let own = data["createProject"]["id"].as_str().unwrap().to_owned();
    let own_task = task(
        &app,
        &outsider,
        json!({ "projectId": own, "title": "Mine too" }),
    )
    .await;

    let ids = json!({ "p": project, "t": a, "s": sprint, "b": board });
    for (field, query) in [
        ("project", "query($p: ID!) { project(id: $p) { id name } }"),
        ("task", "query($t: ID!) { task(id: $t) { id title } }"),
        ("sprint", "query($s: ID!) { sprint(id: $s) { id name } }"),
        ("board", "query($b: ID!) { board(id: $b) { id name } }"),
        (
            "tasks",
            "query($p: ID!) { tasks(filter: { projectId: $p }) { nodes { id } } }",
        ),
    ] {
        let (status, body) = app.graphql(&outsider, query, ids.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{field}: {body}");
        assert_eq!(body["data"][field], Value::Null, "{field}: {body}");
    }
    // Entity references, as the router resolves them for another subgraph.
    let (_, body) = app
        .graphql(
            &outsider,
            r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Project { id name } ... on Task { id title } } }"#,
            json!({ "r": [{ "__typename": "Project", "id": project }, { "__typename": "Task", "id": a }] }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(body["data"]["_entities"], Value::Null, "{body}");
    // Lists across projects show the outsider's own project only.
    let data = ok(
        &app,
        &outsider,
        "{ projects(first: 100) { nodes { id } } tasks(first: 100) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(data["projects"]["nodes"], json!([{ "id": own }]));
    assert_eq!(data["tasks"]["nodes"], json!([{ "id": own_task }]));

    // A member (a VIEWER) reads it all, the same queries.
    ok(
        &app,
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_out", role: VIEWER) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let data = ok(
        &app,
        &outsider,
        "query($p: ID!, $t: ID!, $s: ID!, $b: ID!) { project(id: $p) { name } task(id: $t) { title } sprint(id: $s) { name } board(id: $b) { name } tasks(filter: { projectId: $p }) { nodes { id } } }",
        ids,
    )
    .await;
    assert_eq!(
        data,
        json!({ "project": { "name": "Website" }, "task": { "title": "Secret plan" },
                "sprint": { "name": "S1" }, "board": { "name": "Sprint board" },
                "tasks": { "nodes": [{ "id": a }] } })
    );
    let data = ok(
        &app,
        &outsider,
        r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Project { name } ... on Task { title } } }"#,
        json!({ "r": [{ "__typename": "Project", "id": project }, { "__typename": "Task", "id": a }] }),
    )
    .await;
    assert_eq!(
        data["_entities"],
        json!([{ "name": "Website" }, { "title": "Secret plan" }])
    );
    let data = ok(
        &app,
        &outsider,
        "{ projects(first: 100) { nodes { id } } }",
        json!({}),
    )
    .await;
    let mut seen: Vec<String> = data["projects"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut expected = vec![project.clone(), own.clone()];
    expected.sort();
    assert_eq!(seen, expected);
}

const CRM_CREATE_CLIENT: &str =
    "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }";
const CRM_CREATE_PIPELINE: &str =
    "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id } } }";
const CRM_CREATE_OPPORTUNITY: &str =
    "mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { id ownerId } }";
const CRM_WIN: &str = "mutation($i: WinOpportunityInput!) { winOpportunity(input: $i) { status } }";
const PROJECTS_OF_CLIENTS: &str = "{ projects(first: 10) { nodes { id name client clientId crmClient { id } billable budget { amount currency } members { userId role } } } }";

/// In the CRM: a client, a pipeline and an opportunity of the client, won. Answers (client id,
/// opportunity id).
async fn won_crm_opportunity(
    crm: &erp_tests::crm::CrmApp,
    token: &str,
    client: &str,
    deal: &str,
) -> (String, String) {
    let client = crm
        .ok(token, CRM_CREATE_CLIENT, json!({ "i": { "name": client } }))
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pipeline = crm
        .ok(
            token,
            CRM_CREATE_PIPELINE,
            json!({ "i": { "name": "Sales", "opportunityType": "new business",
                "stages": [{ "name": "Lead", "probability": 10 }, { "name": "Proposal", "probability": 60 }] } }),
        )
        .await;
    let pipeline = &pipeline["createPipeline"];
    let opportunity = crm
        .ok(
            token,
            CRM_CREATE_OPPORTUNITY,
            json!({ "i": { "pipelineId": pipeline["id"], "stageId": pipeline["stages"][1]["id"],
                "clientId": client, "name": deal, "amount": { "amount": "48000.00", "currency": "EUR" } } }),
        )
        .await["createOpportunity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let won = crm
        .ok(
            token,
            CRM_WIN,
            json!({ "i": { "opportunityId": opportunity } }),
        )
        .await;
    assert_eq!(won["winOpportunity"]["status"], "WON");
    (client, opportunity)
}

/// The CRM's `opportunity.won` envelopes, as its outbox holds them.
async fn crm_won_events(crm: &erp_tests::crm::CrmApp) -> Vec<erp_kit::events::EventEnvelope> {
    use sea_orm::ConnectionTrait;
    let db = &crm.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT envelope FROM crm_outbox WHERE event_type = 'opportunity.won' ORDER BY seq",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
    .collect()
}

/// The caller's projects, once there are `count` of them.
async fn projects_once(app: &PmoApp, token: &str, count: usize) -> Value {
    erp_tests::eventually(std::time::Duration::from_secs(30), || async {
        let data = ok(app, token, PROJECTS_OF_CLIENTS, json!({})).await;
        let nodes = data["projects"]["nodes"].clone();
        (nodes.as_array().map_or(0, Vec::len) == count).then_some(nodes)
    })
    .await
    .unwrap_or_else(|| panic!("{count} projects"))
}

/// Whether PMO's CRM consumer handled (or dead-lettered) the event.
async fn handled(app: &PmoApp, event_id: &str) -> bool {
    let group = app.consumers[0].group().to_owned();
    erp_tests::eventually(std::time::Duration::from_secs(30), || async {
        app.pmo
            .store
            .handled(&group, event_id)
            .await
            .unwrap()
            .then_some(())
    })
    .await
    .is_some()
}

/// The CRM's hand-off through Kafka: a won opportunity becomes ONE project named after it, for
/// its client, owned by the deal's owner, its budget the deal's amount; a redelivery (the
/// same event, or the same win under a new event id) changes nothing; an opportunity whose
/// name is no project name is dead-lettered and writes nothing. The CRM's new client links the project typed with its
/// name before (the migration of the free-text client), and `Client.projects` lists both.
async fn a_won_crm_opportunity_becomes_one_project_of_its_client(store: Store) {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let crm = erp_tests::crm::CrmApp::spawn(&issuer).await;
    let app = PmoApp::spawn_consuming(&issuer, store, &[&t]).await;
    let sales = issuer.token(&t, "usr_sales", erp_tests::crm::CRM_ADMIN);
    let pm = issuer.token(&t, "usr_sales", MANAGER);

    let typed = ok(
        &app,
        &pm,
        r#"mutation { createProject(input: { name: "Legacy site", client: "Globex", billable: false }) { id clientId crmClient { id } } }"#,
        json!({}),
    )
    .await;
    let legacy = typed["createProject"]["id"].as_str().unwrap().to_owned();
    assert_eq!(typed["createProject"]["clientId"], Value::Null);
    assert_eq!(typed["createProject"]["crmClient"], Value::Null);

    let (globex, deal) = won_crm_opportunity(&crm, &sales, "Globex", "Globex intranet").await;
    let expected = {
        let mut projects = vec![
            json!({ "id": legacy, "name": "Legacy site", "client": "Globex", "clientId": globex,
                    "crmClient": { "id": globex }, "billable": false, "budget": null,
                    "members": [{ "userId": "usr_sales", "role": "OWNER" }] }),
            json!({ "id": deal, "name": "Globex intranet", "client": "Globex", "clientId": globex,
                    "crmClient": { "id": globex }, "billable": true,
                    "budget": { "amount": "48000.00", "currency": "EUR" },
                    "members": [{ "userId": "usr_sales", "role": "OWNER" }] }),
        ];
        projects.sort_by_key(|p| p["id"].as_str().unwrap().to_owned());
        Value::Array(projects)
    };
    // The won deal's project first appears; the link of the typed one comes with the
    // client's event, which the CRM published before the win.
    let projects = erp_tests::eventually(std::time::Duration::from_secs(30), || async {
        let nodes = projects_once(&app, &pm, 2).await;
        (nodes == expected).then_some(nodes)
    })
    .await;
    assert_eq!(projects, Some(expected.clone()));

    // Redelivered as it was, and the same win under a new event id: still the one project.
    let events = crm_won_events(&crm).await;
    assert_eq!(events.len(), 1);
    let original = events[0].clone();
    let crm_topic = erp_kit::events::topic_for("crm");
    app.runtime
        .bus
        .publish(&crm_topic, &original)
        .await
        .unwrap();
    let again = erp_kit::events::EventEnvelope::new(
        &erp_kit::TenantId::from_claim(&t),
        "opportunity.won",
        &deal,
        original.payload.clone(),
    )
    .unwrap();
    app.runtime.bus.publish(&crm_topic, &again).await.unwrap();
    assert!(handled(&app, &again.id.to_string()).await);
    assert_eq!(projects_once(&app, &pm, 2).await, expected);

    // An opportunity whose name no project can have: dead-lettered, nothing written.
    let unnamed = erp_kit::db::new_id();
    let mut bad = original.payload.clone();
    bad["opportunity_id"] = json!(unnamed);
    bad["name"] = json!("x".repeat(201));
    let bad = erp_kit::events::EventEnvelope::new(
        &erp_kit::TenantId::from_claim(&t),
        "opportunity.won",
        &unnamed,
        bad,
    )
    .unwrap();
    app.runtime.bus.publish(&crm_topic, &bad).await.unwrap();
    assert!(handled(&app, &bad.id.to_string()).await);
    assert_eq!(projects_once(&app, &pm, 2).await, expected);

    // The client 360, as the router asks PMO for it: the client's projects of the caller.
    let data = ok(
        &app,
        &pm,
        r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Client { id projects(first: 10) { nodes { id name } } } } }"#,
        json!({ "r": [{ "__typename": "Client", "id": globex }] }),
    )
    .await;
    let mut nodes = vec![
        json!({ "id": legacy, "name": "Legacy site" }),
        json!({ "id": deal, "name": "Globex intranet" }),
    ];
    nodes.sort_by_key(|p| p["id"].as_str().unwrap().to_owned());
    assert_eq!(
        data["_entities"],
        json!([{ "id": globex, "projects": { "nodes": nodes } }])
    );
    // Someone else of the tenant is a member of neither: no projects of the client for them.
    let other = issuer.token(&t, "usr_other", READER);
    let data = ok(
        &app,
        &other,
        r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Client { projects(first: 10) { nodes { id } } } } }"#,
        json!({ "r": [{ "__typename": "Client", "id": globex }] }),
    )
    .await;
    assert_eq!(data["_entities"], json!([{ "projects": { "nodes": [] } }]));

    // A rename in the CRM reaches the projects' typed client (`client.updated`); a merge of
    // a duplicate client (`client.merged`) gives its projects to the survivor, named after it.
    crm.ok(
        &sales,
        "mutation($i: UpdateClientInput!) { updateClient(input: $i) { name } }",
        json!({ "i": { "clientId": globex, "name": "Globex Corporation" } }),
    )
    .await;
    let duplicate = crm
        .ok(
            &sales,
            CRM_CREATE_CLIENT,
            json!({ "i": { "name": "Globex Corp" } }),
        )
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = ok(
        &app,
        &pm,
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { id client clientId } }",
        json!({ "i": { "name": "Old contract", "clientId": duplicate, "billable": true } }),
    )
    .await;
    let contract = created["createProject"]["id"].as_str().unwrap().to_owned();
    let contract_client = created["createProject"]["client"].clone();
    let merge_id = crm
        .ok(
            &sales,
            "mutation($i: MergeInput!) { mergeClients(input: $i) { id } }",
            json!({ "i": { "sourceId": duplicate, "targetId": globex } }),
        )
        .await["mergeClients"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut expected: Vec<Value> = [&legacy, &deal, &contract]
        .into_iter()
        .map(|id| json!({ "id": id, "client": "Globex Corporation", "clientId": globex }))
        .collect();
    expected.sort_by_key(|p| p["id"].as_str().unwrap().to_owned());
    let expected = Value::Array(expected);
    let clients_of = || async {
        ok(
            &app,
            &pm,
            "{ projects(first: 10) { nodes { id client clientId } } }",
            json!({}),
        )
        .await["projects"]["nodes"]
            .clone()
    };
    let followed = erp_tests::eventually(std::time::Duration::from_secs(30), || async {
        (clients_of().await == expected).then_some(())
    })
    .await;
    assert!(followed.is_some(), "{}", clients_of().await);

    // The merge undone in the CRM (`client.merge_undone`): the project it moved is the
    // restored client's again, with the typed client it had; the survivor's own stay.
    crm.ok(
        &sales,
        "mutation($i: UndoMergeInput!) { undoMerge(input: $i) { undoneAt } }",
        json!({ "i": { "mergeId": merge_id } }),
    )
    .await;
    let mut expected: Vec<Value> = [&legacy, &deal]
        .into_iter()
        .map(|id| json!({ "id": id, "client": "Globex Corporation", "clientId": globex }))
        .chain([json!({ "id": contract, "client": contract_client, "clientId": duplicate })])
        .collect();
    expected.sort_by_key(|p| p["id"].as_str().unwrap().to_owned());
    let expected = Value::Array(expected);
    let followed = erp_tests::eventually(std::time::Duration::from_secs(30), || async {
        (clients_of().await == expected).then_some(())
    })
    .await;
    assert!(followed.is_some(), "{}", clients_of().await);
}

/// The hand-off in the one-process mode: the CRM and PMO on one in-process bus, PMO on its
/// embedded store; the won opportunity's project is there once.
#[tokio::test]
async fn a_won_opportunity_becomes_a_project_on_the_embedded_bus() {
    let issuer = TestIssuer::start().await;
    let t = tenant();
    let app = PmoApp::spawn_embedded_consuming(&issuer).await;
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Embedded).await;
    runtime.config.service = "crm".into();
    runtime.bus = app.runtime.bus.clone();
    let crm = erp_tests::crm::CrmApp::serve(runtime, erp_crm::CrmOptions { consumers: None }).await;
    let sales = issuer.token(&t, "usr_sales", erp_tests::crm::CRM_ADMIN);
    let pm = issuer.token(&t, "usr_sales", MANAGER);
    let (acme, deal) = won_crm_opportunity(&crm, &sales, "Acme", "Acme rollout").await;
    assert_eq!(
        projects_once(&app, &pm, 1).await,
        json!([{ "id": deal, "name": "Acme rollout", "client": "Acme", "clientId": acme,
                 "crmClient": { "id": acme }, "billable": true,
                 "budget": { "amount": "48000.00", "currency": "EUR" },
                 "members": [{ "userId": "usr_sales", "role": "OWNER" }] }])
    );
    // The same win again under a new event id: handled, and still the one project.
    let events = crm_won_events(&crm).await;
    assert_eq!(events.len(), 1);
    let again = erp_kit::events::EventEnvelope::new(
        &erp_kit::TenantId::from_claim(&t),
        "opportunity.won",
        &deal,
        events[0].payload.clone(),
    )
    .unwrap();
    app.runtime
        .bus
        .publish(&erp_kit::events::topic_for("crm"), &again)
        .await
        .unwrap();
    assert!(handled(&app, &again.id.to_string()).await);
    let projects = ok(
        &app,
        &pm,
        "{ projects(first: 10) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(projects["projects"]["nodes"], json!([{ "id": deal }]));
}

erp_tests::on_both_stores!(
    a_non_member_reads_nothing_of_a_project,
    wip_limit_is_enforced_on_moves_and_filters_find_tasks,
    dependency_cycles_are_refused,
    tenants_and_project_roles_are_isolated,
    timers_one_per_person_own_only_and_stop_into_entries,
    a_running_timer_survives_a_restart_of_the_service,
    a_won_crm_opportunity_becomes_one_project_of_its_client,
);
