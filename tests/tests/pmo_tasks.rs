//! Subtasks, comments and custom fields through the PMO subgraph's HTTP surface, on Redis and
//! Kafka, each test once on real MongoDB (SecantusDB) and once on the embedded journal-backed
//! store, with exact data and `extensions.code` (and `reason`).

use erp_tests::pmo::{reason, tenant, PmoApp, Store};
use erp_tests::{error_codes, TestIssuer};
use serde_json::{json, Value};

const MANAGER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];
const MOVE: &str = "mutation($t: ID!, $b: ID!, $c: ID!) { moveTask(taskId: $t, boardId: $b, columnId: $c) { id status } }";

async fn a_parent_is_done_only_after_its_subtasks(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let project = app.project(&pm, "Parents", false).await;
    let other = app.project(&pm, "Other", false).await;
    let (board, columns) = app.board(&pm, &project).await;
    let parent = app
        .task(
            &pm,
            &project,
            "Parent",
            json!({ "boardId": board, "columnId": columns[0] }),
        )
        .await;
    let first = app
        .task(
            &pm,
            &project,
            "Sub 1",
            json!({ "parentId": parent, "boardId": board, "columnId": columns[0] }),
        )
        .await;
    let second = app
        .task(&pm, &project, "Sub 2", json!({ "parentId": parent }))
        .await;

    let data = app
        .ok(
            &pm,
            "query($id: ID!) { task(id: $id) { subtasks { edges { node { title parent { title } } } } } }",
            json!({ "id": parent }),
        )
        .await;
    assert_eq!(
        data["task"]["subtasks"]["edges"],
        json!([{ "node": { "title": "Sub 1", "parent": { "title": "Parent" } } },
               { "node": { "title": "Sub 2", "parent": { "title": "Parent" } } }])
    );
    let data = app
        .ok(
            &pm,
            "query($f: TaskFilterInput) { tasks(filter: $f) { edges { node { id } } } }",
            json!({ "f": { "parentId": parent } }),
        )
        .await;
    assert_eq!(
        data["tasks"]["edges"],
        json!([{ "node": { "id": first } }, { "node": { "id": second } }])
    );

    // Two subtasks open: the parent cannot be done, and stays where it was.
    let (_, body) = app
        .graphql(
            &pm,
            MOVE,
            json!({ "t": parent, "b": board, "c": columns[2] }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "OPEN_SUBTASKS");
    assert_eq!(
        body["errors"][0]["message"],
        "2 subtask(s) are not done yet: finish them before the parent"
    );
    app.ok(
        &pm,
        MOVE,
        json!({ "t": first, "b": board, "c": columns[2] }),
    )
    .await;
    let (_, body) = app
        .graphql(
            &pm,
            MOVE,
            json!({ "t": parent, "b": board, "c": columns[2] }),
        )
        .await;
    assert_eq!(reason(&body), "OPEN_SUBTASKS", "{body}");
    app.ok(
        &pm,
        MOVE,
        json!({ "t": second, "b": board, "c": columns[2] }),
    )
    .await;
    let data = app
        .ok(
            &pm,
            MOVE,
            json!({ "t": parent, "b": board, "c": columns[2] }),
        )
        .await;
    assert_eq!(data["moveTask"]["status"], "DONE");

    // One level only, same project only.
    let create = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }";
    for (input, message) in [
        (
            json!({ "projectId": project, "title": "Deep", "parentId": first }),
            "a subtask cannot have subtasks: pick its parent instead",
        ),
        (
            json!({ "projectId": other, "title": "Far", "parentId": parent }),
            "no such task in the same project",
        ),
    ] {
        let (_, body) = app.graphql(&pm, create, json!({ "i": input })).await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "parentId");
        assert_eq!(body["errors"][0]["message"], message);
    }
}

async fn comments_are_edited_by_their_author_only(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let project = app.project(&pm, "Talk", false).await;
    let task = app.task(&pm, &project, "Discuss", json!({})).await;
    app.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_v", role: VIEWER) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let viewer = issuer.token(&t, "usr_v", &["project:read"]);
    let add = "mutation($t: ID!, $b: String!) { addComment(taskId: $t, body: $b) { id authorId body editedAt task { title } } }";
    let edit = "mutation($c: ID!, $b: String!) { editComment(commentId: $c, body: $b) { id body editedAt } }";

    let data = app
        .ok(
            &pm,
            add,
            json!({ "t": task, "b": "  First!\nSecond line " }),
        )
        .await;
    let first = data["addComment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["addComment"],
        json!({ "id": first, "authorId": "usr_pm", "body": "First!\nSecond line",
            "editedAt": null, "task": { "title": "Discuss" } })
    );
    // A viewer of the project may comment too.
    let data = app
        .ok(&viewer, add, json!({ "t": task, "b": "Seen" }))
        .await;
    let second = data["addComment"]["id"].as_str().unwrap().to_owned();

    let data = app
        .ok(&pm, edit, json!({ "c": first, "b": "First (edited)" }))
        .await;
    assert_eq!(data["editComment"]["body"], "First (edited)");
    assert!(data["editComment"]["editedAt"].is_string());
    let (_, body) = app
        .graphql(&viewer, edit, json!({ "c": first, "b": "Hijack" }))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "only the author can edit a comment"
    );

    // Relay connection, oldest first.
    let list = "query($t: ID!, $after: String) { task(id: $t) { comments(first: 1, after: $after) { edges { node { body authorId } } pageInfo { hasNextPage endCursor } } } }";
    let data = app.ok(&pm, list, json!({ "t": task })).await;
    let page = &data["task"]["comments"];
    assert_eq!(
        page["edges"],
        json!([{ "node": { "body": "First (edited)", "authorId": "usr_pm" } }])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let data = app
        .ok(
            &pm,
            list,
            json!({ "t": task, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        data["task"]["comments"]["edges"],
        json!([{ "node": { "body": "Seen", "authorId": "usr_v" } }])
    );

    // Bad inputs, strangers and other tenants.
    for bad in ["   ", &"x".repeat(10_001)] {
        let (_, body) = app.graphql(&pm, add, json!({ "t": task, "b": bad })).await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "body");
    }
    let stranger = issuer.token(&t, "usr_x", MANAGER);
    let (_, body) = app
        .graphql(&stranger, add, json!({ "t": task, "b": "Hi" }))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let elsewhere = issuer.token(&tenant(), "usr_v", MANAGER);
    let (_, body) = app
        .graphql(&elsewhere, edit, json!({ "c": second, "b": "Hi" }))
        .await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
}

async fn custom_field_values_are_checked_against_their_definition(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MANAGER);
    let project = app.project(&pm, "Fields", false).await;
    let task = app.task(&pm, &project, "Typed", json!({})).await;
    let define = "mutation($p: ID!, $i: CustomFieldInput!) { defineCustomField(projectId: $p, input: $i) { customFields { id name kind options } } }";

    let mut ids = Vec::new();
    for input in [
        json!({ "name": "Priority", "kind": "SELECT", "options": ["Low", "High"] }),
        json!({ "name": "Points", "kind": "NUMBER" }),
        json!({ "name": "Due", "kind": "DATE" }),
        json!({ "name": "Note", "kind": "TEXT" }),
    ] {
        let data = app
            .ok(&pm, define, json!({ "p": project, "i": input }))
            .await;
        let fields = data["defineCustomField"]["customFields"]
            .as_array()
            .unwrap();
        ids.push(fields.last().unwrap()["id"].as_str().unwrap().to_owned());
    }
    let data = app
        .ok(
            &pm,
            "query($p: ID!) { project(id: $p) { customFields { name kind options } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(
        data["project"]["customFields"],
        json!([
            { "name": "Priority", "kind": "SELECT", "options": ["Low", "High"] },
            { "name": "Points", "kind": "NUMBER", "options": [] },
            { "name": "Due", "kind": "DATE", "options": [] },
            { "name": "Note", "kind": "TEXT", "options": [] },
        ])
    );

    let set = "mutation($t: ID!, $f: ID!, $v: String) { setTaskCustomField(taskId: $t, fieldId: $f, value: $v) { customFields { field { name } value } } }";
    for (field, value) in [
        (&ids[0], "high"),
        (&ids[1], "12.50"),
        (&ids[2], "2026-03-01"),
        (&ids[3], " Remember "),
    ] {
        app.ok(&pm, set, json!({ "t": task, "f": field, "v": value }))
            .await;
    }
    let data = app
        .ok(&pm, set, json!({ "t": task, "f": ids[1], "v": "13" }))
        .await;
    assert_eq!(
        data["setTaskCustomField"]["customFields"],
        json!([
            { "field": { "name": "Priority" }, "value": "High" },
            { "field": { "name": "Points" }, "value": "13" },
            { "field": { "name": "Due" }, "value": "2026-03-01" },
            { "field": { "name": "Note" }, "value": "Remember" },
        ])
    );
    let data = app
        .ok(&pm, set, json!({ "t": task, "f": ids[3], "v": null }))
        .await;
    assert_eq!(
        data["setTaskCustomField"]["customFields"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Values that do not fit their type.
    for (field, value, message) in [
        (&ids[0], "Medium", "`Priority` takes one of: Low, High"),
        (
            &ids[1],
            "twelve",
            "`Points` takes a decimal number such as 12.5, not `twelve`",
        ),
        (
            &ids[2],
            "2026-02-30",
            "`Due` takes a date as YYYY-MM-DD, not `2026-02-30`",
        ),
    ] {
        let (_, body) = app
            .graphql(&pm, set, json!({ "t": task, "f": field, "v": value }))
            .await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "value");
        assert_eq!(body["errors"][0]["message"], message);
    }
    let (_, body) = app
        .graphql(&pm, set, json!({ "t": task, "f": "nope", "v": "x" }))
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "fieldId");

    // Definitions: names unique whatever the case, options only (and always) for SELECT.
    let (_, body) = app
        .graphql(
            &pm,
            define,
            json!({ "p": project, "i": { "name": "priority", "kind": "TEXT" } }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    for input in [
        json!({ "name": "S", "kind": "SELECT" }),
        json!({ "name": "T", "kind": "TEXT", "options": ["a"] }),
        json!({ "name": "S", "kind": "SELECT", "options": ["a", "A"] }),
    ] {
        let (_, body) = app
            .graphql(&pm, define, json!({ "p": project, "i": input }))
            .await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "options");
    }
    // Roles: a contributor sets values but defines no fields; a viewer sets nothing.
    app.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_c", role: CONTRIBUTOR) { id } }"#,
        json!({ "p": project }),
    )
    .await;
    let contributor = issuer.token(&t, "usr_c", MANAGER);
    app.ok(
        &contributor,
        set,
        json!({ "t": task, "f": ids[0], "v": "Low" }),
    )
    .await;
    let (_, body) = app
        .graphql(
            &contributor,
            define,
            json!({ "p": project, "i": { "name": "Mine", "kind": "TEXT" } }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let (_, body) = app
        .graphql(
            &issuer.token(&tenant(), "usr_pm", MANAGER),
            set,
            json!({ "t": task, "f": ids[0], "v": "Low" }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
    assert_eq!(body["data"]["setTaskCustomField"], Value::Null);
}

erp_tests::on_both_stores!(
    a_parent_is_done_only_after_its_subtasks,
    comments_are_edited_by_their_author_only,
    custom_field_values_are_checked_against_their_definition,
);
