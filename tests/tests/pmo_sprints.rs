//! Sprints through the PMO subgraph's HTTP surface, on Redis and Kafka, each test once on real
//! MongoDB (SecantusDB) and once on the embedded journal-backed store: planning, one active sprint per project, close with carry-over, the sprint and backlog
//! filters, and every refusal with its exact `extensions.code` (and `reason`).

use erp_tests::pmo::{reason, tenant, PmoApp, Store};
use erp_tests::{error_codes, TestIssuer};
use serde_json::{json, Value};

const MANAGER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];

const CREATE: &str = r#"mutation($i: CreateSprintInput!) { createSprint(input: $i) { id name goal state startsOn endsOn } }"#;
const PLAN: &str =
    r#"mutation($t: ID!, $s: ID) { planTask(taskId: $t, sprintId: $s) { id sprint { id name } } }"#;
const START: &str = r#"mutation($s: ID!) { startSprint(sprintId: $s) { id state startedAt } }"#;
const CLOSE: &str = r#"mutation($s: ID!, $to: ID) { closeSprint(sprintId: $s, carryOverTo: $to) { state closedAt completedTasks { title } carriedOverTasks { title } carriedOverTo { name } } }"#;
const MOVE: &str = "mutation($t: ID!, $b: ID!, $c: ID!) { moveTask(taskId: $t, boardId: $b, columnId: $c) { id } }";

async fn sprint(app: &PmoApp, token: &str, project: &str, name: &str) -> String {
    let data = app
        .ok(
            token,
            CREATE,
            json!({ "i": { "projectId": project, "name": name } }),
        )
        .await;
    data["createSprint"]["id"].as_str().unwrap().to_owned()
}

fn titles(data: &Value, path: &str) -> Vec<String> {
    data[path]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_sprint_is_planned_started_and_closed_with_carry_over(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let project = app.project(&pm, "Sprinting", true).await;
    let (board, columns) = app.board(&pm, &project).await;

    let data = app
        .ok(
            &pm,
            CREATE,
            json!({ "i": { "projectId": project, "name": " Sprint 1 ", "goal": "Ship the API",
                "startsOn": "2026-01-05", "endsOn": "2026-01-16" } }),
        )
        .await;
    let s1 = data["createSprint"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createSprint"],
        json!({ "id": s1, "name": "Sprint 1", "goal": "Ship the API", "state": "PLANNED",
            "startsOn": "2026-01-05", "endsOn": "2026-01-16" })
    );
    let s2 = sprint(&app, &pm, &project, "Sprint 2").await;

    // Planning: two tasks join sprint 1 (one created straight into it), one stays in the backlog.
    let done = app
        .task(&pm, &project, "Done one", json!({ "sprintId": s1 }))
        .await;
    let open = app.task(&pm, &project, "Open one", json!({})).await;
    let backlog = app.task(&pm, &project, "Backlog one", json!({})).await;
    let data = app.ok(&pm, PLAN, json!({ "t": open, "s": s1 })).await;
    assert_eq!(
        data["planTask"],
        json!({ "id": open, "sprint": { "id": s1, "name": "Sprint 1" } })
    );
    // Planned in and out again, then back in.
    let data = app.ok(&pm, PLAN, json!({ "t": open, "s": null })).await;
    assert_eq!(data["planTask"]["sprint"], Value::Null);
    app.ok(&pm, PLAN, json!({ "t": open, "s": s1 })).await;

    // Filters: by sprint and the backlog, on the tenant list and under the sprint.
    let list = "query($f: TaskFilterInput) { tasks(filter: $f) { edges { node { title } } } }";
    let data = app.ok(&pm, list, json!({ "f": { "sprintId": s1 } })).await;
    assert_eq!(titles(&data, "tasks"), vec!["Done one", "Open one"]);
    let data = app
        .ok(
            &pm,
            list,
            json!({ "f": { "projectId": project, "backlog": true } }),
        )
        .await;
    assert_eq!(titles(&data, "tasks"), vec!["Backlog one"]);
    let data = app
        .ok(
            &pm,
            "query($s: ID!) { sprint(id: $s) { tasks(first: 10) { edges { node { title } } } } }",
            json!({ "s": s1 }),
        )
        .await;
    assert_eq!(
        data["sprint"]["tasks"]["edges"],
        json!([{ "node": { "title": "Done one" } }, { "node": { "title": "Open one" } }])
    );

    // Start: one active sprint per project.
    let data = app.ok(&pm, START, json!({ "s": s1 })).await;
    assert_eq!(data["startSprint"]["state"], "ACTIVE");
    assert!(data["startSprint"]["startedAt"].is_string());
    let (_, body) = app.graphql(&pm, START, json!({ "s": s2 })).await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "SPRINT_ALREADY_ACTIVE");
    let (_, body) = app.graphql(&pm, START, json!({ "s": s1 })).await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "SPRINT_STATE");
    assert_eq!(body["errors"][0]["message"], "the sprint is already active");

    // One task gets done; close carries the other over to sprint 2.
    app.ok(&pm, MOVE, json!({ "t": done, "b": board, "c": columns[2] }))
        .await;
    app.ok(&pm, MOVE, json!({ "t": open, "b": board, "c": columns[1] }))
        .await;
    let data = app.ok(&pm, CLOSE, json!({ "s": s1, "to": s2 })).await;
    let closed = &data["closeSprint"];
    assert_eq!(closed["state"], "CLOSED");
    assert!(closed["closedAt"].is_string());
    assert_eq!(closed["completedTasks"], json!([{ "title": "Done one" }]));
    assert_eq!(closed["carriedOverTasks"], json!([{ "title": "Open one" }]));
    assert_eq!(closed["carriedOverTo"], json!({ "name": "Sprint 2" }));
    let data = app
        .ok(
            &pm,
            "query($a: ID!, $b: ID!) { a: task(id: $a) { sprintId status } b: task(id: $b) { sprintId status } }",
            json!({ "a": done, "b": open }),
        )
        .await;
    assert_eq!(
        data,
        json!({ "a": { "sprintId": s1, "status": "DONE" }, "b": { "sprintId": s2, "status": "IN_PROGRESS" } })
    );

    // A closed sprint is history: nothing joins or leaves it, it neither closes nor restarts.
    let (_, body) = app
        .graphql(&pm, PLAN, json!({ "t": backlog, "s": s1 }))
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "SPRINT_STATE");
    let (_, body) = app.graphql(&pm, PLAN, json!({ "t": done, "s": s2 })).await;
    assert_eq!(reason(&body), "SPRINT_STATE", "{body}");
    let (_, body) = app
        .graphql(
            &pm,
            "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
            json!({ "i": { "projectId": project, "title": "Late", "sprintId": s1 } }),
        )
        .await;
    assert_eq!(reason(&body), "SPRINT_STATE", "{body}");
    let (_, body) = app.graphql(&pm, CLOSE, json!({ "s": s1 })).await;
    assert_eq!(reason(&body), "SPRINT_STATE", "{body}");
    let (_, body) = app.graphql(&pm, START, json!({ "s": s1 })).await;
    assert_eq!(reason(&body), "SPRINT_STATE", "{body}");

    // Sprint 2 runs now; closing it without a target sends the unfinished task to the backlog.
    app.ok(&pm, START, json!({ "s": s2 })).await;
    let data = app.ok(&pm, CLOSE, json!({ "s": s2 })).await;
    assert_eq!(
        data["closeSprint"]["carriedOverTasks"],
        json!([{ "title": "Open one" }])
    );
    assert_eq!(data["closeSprint"]["carriedOverTo"], Value::Null);
    let data = app
        .ok(
            &pm,
            list,
            json!({ "f": { "projectId": project, "backlog": true } }),
        )
        .await;
    assert_eq!(titles(&data, "tasks"), vec!["Open one", "Backlog one"]);

    // The project lists its sprints by state.
    let data = app
        .ok(
            &pm,
            "query($p: ID!) { project(id: $p) { sprints(state: CLOSED) { edges { node { name } } } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(
        data["project"]["sprints"]["edges"],
        json!([{ "node": { "name": "Sprint 1" } }, { "node": { "name": "Sprint 2" } }])
    );

    // The outbox relay publishes sprint.started / sprint.closed with the rest to Kafka.
    let drained = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let pending = app.pmo.store.pending_events(100).await.ok()?;
        pending.is_empty().then_some(())
    })
    .await;
    assert!(drained.is_some(), "the pmo_outbox was not drained");
}

async fn sprint_bad_inputs_roles_and_tenants(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let project = app.project(&pm, "Rules", false).await;
    let other_project = app.project(&pm, "Other", false).await;
    let s1 = sprint(&app, &pm, &project, "S1").await;
    let foreign = sprint(&app, &pm, &other_project, "Foreign").await;
    let task = app.task(&pm, &project, "T", json!({})).await;

    for (input, field) in [
        (
            json!({ "projectId": project, "name": "X", "startsOn": "2026-02-10", "endsOn": "2026-02-01" }),
            "endsOn",
        ),
        (
            json!({ "projectId": project, "name": "X", "startsOn": "2026-02-10" }),
            "endsOn",
        ),
        (json!({ "projectId": project, "name": "  " }), "name"),
    ] {
        let (_, body) = app.graphql(&pm, CREATE, json!({ "i": input })).await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }

    // A sprint of another project is not this task's.
    let (_, body) = app
        .graphql(&pm, PLAN, json!({ "t": task, "s": foreign }))
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "sprintId");
    // Only a planned sprint of the same project takes carried-over tasks.
    app.ok(&pm, START, json!({ "s": s1 })).await;
    for target in [&foreign, &s1] {
        let (_, body) = app
            .graphql(&pm, CLOSE, json!({ "s": s1, "to": target }))
            .await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "carryOverTo");
    }
    let s2 = sprint(&app, &pm, &project, "S2").await;
    let (_, body) = app.graphql(&pm, CLOSE, json!({ "s": s2 })).await;
    assert_eq!(reason(&body), "SPRINT_STATE", "{body}");
    let (_, body) = app
        .graphql(
            &pm,
            "{ tasks(filter: { sprintId: \"x\", backlog: true }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "backlog");

    // A contributor plans nothing; another tenant sees nothing.
    app.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_c", role: CONTRIBUTOR) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let contributor = issuer.token(&t, "usr_c", MANAGER);
    let (_, body) = app
        .graphql(&contributor, PLAN, json!({ "t": task, "s": s1 }))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let (_, body) = app.graphql(&contributor, CLOSE, json!({ "s": s1 })).await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let stranger = issuer.token(&tenant(), "usr_pm", MANAGER);
    let (_, body) = app.graphql(&stranger, CLOSE, json!({ "s": s1 })).await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
    let (_, body) = app
        .graphql(
            &stranger,
            "query($s: ID!) { sprint(id: $s) { id } }",
            json!({ "s": s1 }),
        )
        .await;
    assert_eq!(body["data"]["sprint"], Value::Null);
    let reader = issuer.token(&t, "usr_pm", &["project:read"]);
    let (_, body) = app.graphql(&reader, START, json!({ "s": s2 })).await;
    assert_eq!(
        error_codes(&body),
        vec!["UNAUTHORIZED_FIELD_OR_TYPE"],
        "{body}"
    );
}

erp_tests::on_both_stores!(
    a_sprint_is_planned_started_and_closed_with_carry_over,
    sprint_bad_inputs_roles_and_tenants,
);
