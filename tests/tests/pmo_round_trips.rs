//! What the PMO subgraph asks of MongoDB (the real MongoDB-protocol server), counted command by
//! command: lists resolve their relations in a number of queries that does not grow with the
//! list (DataLoaders and batched store calls, no N+1), a timer start or stop is two round
//! trips, and the outbox relay marks a batch of events published with one write.

use std::sync::Arc;
use std::time::Duration;

use erp_kit::events::{EventEnvelope, KafkaBus, KafkaConfig, RelayConfig};
use erp_kit::TenantId;
use erp_pmo::domain::timesheet::IsoWeek;
use erp_pmo::events::Wake;
use erp_pmo::store::mongo::MongoStore;
use erp_pmo::store::{PmoStore, SharedStore, TimerStarts};
use erp_tests::pmo::{fresh_mongo_url, CommandLog, PmoApp};
use erp_tests::{require_env, TestIssuer};
use serde_json::{json, Value};

const MEMBER: &[&str] = &[
    "project:read",
    "project:write",
    "task:start",
    "task:log",
    "timesheet:approve",
];

const PROJECTS: &str =
    "{ projects(first: 100) { edges { node { id boards { id name project { id } } } } } }";
const ENTRIES: &str =
    "{ timeEntries(first: 100) { edges { node { id edits { editedBy } task { title } } } } }";
const NESTED: &str = "{ projects(first: 100) { edges { node { id tasks(first: 10) { edges { node { id subtasks { edges { node { id } } } comments { edges { node { body } } } } } } sprints { edges { node { name tasks { edges { node { id } } } } } } } } } }";
const TIMESHEETS: &str = "{ timesheets(first: 100) { edges { node { week totalHours entries { id edits { editedBy } } projects { project { name } } } } } }";

/// A project with two boards, a sprint, a task in the sprint with a subtask and a comment, and
/// an entry on the task corrected into week 10 + `n` of 2025.
async fn project_with_time(app: &PmoApp, token: &str, n: usize) {
    let project = app.project(token, &format!("Project {n}"), true).await;
    app.board(token, &project).await;
    app.board(token, &project).await;
    let sprint = app
        .ok(
            token,
            "mutation($p: ID!) { createSprint(input: { projectId: $p, name: \"Sprint\" }) { id } }",
            json!({ "p": project }),
        )
        .await["createSprint"]["id"]
        .clone();
    let task = app
        .task(
            token,
            &project,
            &format!("Task {n}"),
            json!({ "sprintId": sprint }),
        )
        .await;
    app.task(token, &project, "Subtask", json!({ "parentId": task }))
        .await;
    app.ok(
        token,
        "mutation($t: ID!) { addComment(taskId: $t, body: \"Looks good\") { id } }",
        json!({ "t": task }),
    )
    .await;
    let entry = app.stopped_entry(token, &task).await;
    let monday = chrono::NaiveDate::from_isoywd_opt(2025, 10 + n as u32, chrono::Weekday::Mon)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    app.ok(
        token,
        "mutation($id: ID!, $i: EditTimeEntryInput!) { editTimeEntry(id: $id, input: $i) { id } }",
        json!({ "id": entry, "i": { "startedAt": monday, "endedAt": monday + chrono::Duration::hours(2) } }),
    )
    .await;
}

/// Runs `query` and returns its data and the commands it sent, sorted.
async fn measured(
    app: &PmoApp,
    log: &CommandLog,
    token: &str,
    query: &str,
) -> (Value, Vec<String>) {
    log.take();
    let data = app.ok(token, query, json!({})).await;
    let mut commands = log.take();
    commands.sort();
    (data, commands)
}

fn count(commands: &[String], command: &str) -> usize {
    commands.iter().filter(|c| *c == command).count()
}

#[tokio::test]
async fn lists_resolve_their_relations_in_a_constant_number_of_queries() {
    let issuer = TestIssuer::start().await;
    let (app, log) = PmoApp::spawn_observed(&issuer).await;
    let t = erp_tests::pmo::tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);

    for n in 0..2 {
        project_with_time(&app, &pm, n).await;
    }
    let (data, small_projects) = measured(&app, &log, &pm, PROJECTS).await;
    assert_eq!(data["projects"]["edges"].as_array().unwrap().len(), 2);
    let (data, small_entries) = measured(&app, &log, &pm, ENTRIES).await;
    assert_eq!(data["timeEntries"]["edges"].as_array().unwrap().len(), 2);
    let (_, small_nested) = measured(&app, &log, &pm, NESTED).await;
    let (data, small_sheets) = measured(&app, &log, &pm, TIMESHEETS).await;
    // The two corrected weeks and the current one the entries left.
    assert_eq!(data["timesheets"]["edges"].as_array().unwrap().len(), 3);

    for n in 2..6 {
        project_with_time(&app, &pm, n).await;
    }
    let (data, projects) = measured(&app, &log, &pm, PROJECTS).await;
    let edges = data["projects"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    for edge in edges {
        let boards = edge["node"]["boards"].as_array().unwrap();
        assert_eq!(boards.len(), 2, "{edge}");
        assert!(boards
            .iter()
            .all(|b| b["project"]["id"] == edge["node"]["id"]));
    }
    let (data, entries) = measured(&app, &log, &pm, ENTRIES).await;
    let edges = data["timeEntries"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    assert!(edges.iter().all(|e| {
        e["node"]["edits"] == json!([{ "editedBy": "usr_pm" }])
            && e["node"]["task"]["title"].is_string()
    }));
    let (data, nested) = measured(&app, &log, &pm, NESTED).await;
    let edges = data["projects"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    for edge in edges {
        let project = &edge["node"];
        let tasks = project["tasks"]["edges"].as_array().unwrap();
        // The task and its subtask, each listing the subtasks and comments it has.
        assert_eq!(tasks.len(), 2, "{project}");
        assert_eq!(
            tasks[0]["node"]["subtasks"]["edges"],
            json!([{ "node": { "id": tasks[1]["node"]["id"] } }])
        );
        assert_eq!(
            tasks[0]["node"]["comments"]["edges"],
            json!([{ "node": { "body": "Looks good" } }])
        );
        assert_eq!(tasks[1]["node"]["subtasks"]["edges"], json!([]));
        assert_eq!(
            project["sprints"]["edges"],
            json!([{ "node": { "name": "Sprint", "tasks": { "edges": [{ "node": { "id": tasks[0]["node"]["id"] } }] } } }])
        );
    }
    let (data, sheets) = measured(&app, &log, &pm, TIMESHEETS).await;
    let edges = data["timesheets"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 7);
    let with_time = edges
        .iter()
        .filter(|e| e["node"]["totalHours"] == json!(2.0))
        .count();
    assert_eq!(with_time, 6, "{data}");

    // Three times the rows, the same queries: one per list and one per relation.
    assert_eq!(projects, small_projects);
    assert_eq!(entries, small_entries);
    assert_eq!(sheets, small_sheets);
    assert_eq!(
        projects,
        vec!["find pmo_boards", "find pmo_projects", "find pmo_projects"],
        "the list, its boards, and the boards' project"
    );
    assert_eq!(
        count(&entries, "find pmo_time_entry_edits"),
        1,
        "{entries:?}"
    );
    assert_eq!(count(&entries, "find pmo_tasks"), 1, "{entries:?}");
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(count(&sheets, "find pmo_time_entries"), 1, "{sheets:?}");
    assert_eq!(count(&sheets, "find pmo_time_entry_edits"), 1, "{sheets:?}");
    assert_eq!(count(&sheets, "find pmo_projects"), 1, "{sheets:?}");
    assert_eq!(sheets.len(), 4, "{sheets:?}");
    // The nested connections: the projects, one query for their task pages, one for their
    // sprint pages, then one each for the tasks' subtasks, their comments and the sprints'
    // tasks (the last two task batches may coalesce, as they resolve at about the same time).
    for commands in [&small_nested, &nested] {
        assert_eq!(count(commands, "find pmo_projects"), 1, "{commands:?}");
        assert_eq!(count(commands, "aggregate pmo_sprints"), 1, "{commands:?}");
        assert_eq!(count(commands, "aggregate pmo_comments"), 1, "{commands:?}");
        let task_pages = count(commands, "aggregate pmo_tasks");
        assert!((2..=3).contains(&task_pages), "{commands:?}");
        assert_eq!(commands.len(), 3 + task_pages, "{commands:?}");
    }
}

#[tokio::test]
async fn a_timer_start_and_stop_are_two_round_trips_each() {
    let issuer = TestIssuer::start().await;
    let (app, log) = PmoApp::spawn_observed(&issuer).await;
    let t = erp_tests::pmo::tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let project = app.project(&pm, "Client work", true).await;
    let task = app.task(&pm, &project, "Build", json!({})).await;

    for _ in 0..2 {
        log.take();
        app.ok(
            &pm,
            "mutation($t: ID!) { startTimer(taskId: $t) { id state startedAt } }",
            json!({ "t": task }),
        )
        .await;
        // The task with its project (membership, billable), then the week's touch and the
        // event in one command.
        assert_eq!(log.take(), vec!["aggregate pmo_tasks", "bulkWrite"]);
        app.ok(
            &pm,
            "mutation { stopTimer { id durationSeconds } }",
            json!({}),
        )
        .await;
        // The entry, the week's touch and the event in one command of one transaction.
        assert_eq!(log.take(), vec!["bulkWrite", "commitTransaction"]);
    }
}

#[tokio::test]
async fn the_relay_marks_a_batch_published_with_one_write() {
    const EVENTS: usize = 6;
    let url = fresh_mongo_url();
    let writer = MongoStore::connect(&url).await.unwrap();
    writer.prepare().await.unwrap();
    let tenant = TenantId::from_claim(&erp_tests::pmo::tenant());
    let week = IsoWeek::of_time(chrono::Utc::now());
    for n in 0..EVENTS {
        let event = EventEnvelope::new(
            &tenant,
            "timer.started",
            format!("tmr_{n}"),
            json!({ "n": n }),
        )
        .unwrap();
        writer
            .timers()
            .record_timer_start(&tenant, &format!("usr_{n}"), week, &event)
            .await
            .unwrap();
    }
    assert_eq!(writer.pending_events(100).await.unwrap().len(), EVENTS);

    let log = CommandLog::default();
    let store: SharedStore = Arc::new(
        MongoStore::connect_observed(&url, Some(log.observer()))
            .await
            .unwrap(),
    );
    let bus = Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap());
    let relay = erp_pmo::events::relay(store, bus, RelayConfig::default(), Wake::default()).spawn();
    let drained = erp_tests::eventually(Duration::from_secs(30), || async {
        writer
            .pending_events(100)
            .await
            .ok()
            .filter(|pending| pending.is_empty())
    })
    .await;
    assert!(drained.is_some(), "the relay did not publish the events");
    relay.shutdown().await;

    let commands = log.take_all();
    // The lease taken once (a failed renewal of no lease, then its insert), a read of the
    // pending events per pass, and one write marking all six published.
    assert_eq!(count(&commands, "update pmo_outbox"), 1, "{commands:?}");
    assert!(count(&commands, "find pmo_outbox") >= 1, "{commands:?}");
    let lease = count(&commands, "update pmo_leases") + count(&commands, "insert pmo_leases");
    assert!(lease <= 2, "{commands:?}");
}
