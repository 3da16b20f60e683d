//! Timesheets through the PMO subgraph's HTTP surface, on Redis and Kafka, each test once on real
//! MongoDB (SecantusDB) and once on the embedded journal-backed store: a person's ISO week from time entries (per day, per project, billable or not), audited
//! entry edits, submit (locks the week), reject / approve by someone else, and the
//! `timesheet.approved` event on the Kafka topic with the billable hours per project.

use std::time::Duration;

use erp_kit::events::{EventBus, EventEnvelope, KafkaBus, KafkaConfig};
use erp_tests::pmo::{reason, tenant, PmoApp, Store};
use erp_tests::{error_codes, require_env, TestIssuer};
use futures::StreamExt;
use serde_json::{json, Value};

const MEMBER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];
const WORKER: &[&str] = &["project:read", "task:start", "task:log"];

const EDIT: &str = "mutation($id: ID!, $i: EditTimeEntryInput!) { editTimeEntry(id: $id, input: $i) { id startedAt endedAt durationSeconds billable } }";
const WEEK: &str = "query($w: IsoWeek!, $u: ID) { timesheet(week: $w, userId: $u) { userId week state rejectionReason decidedBy billableHours nonBillableHours totalHours days { date billableHours nonBillableHours } projects { project { name } billableHours nonBillableHours billableSeconds } entries { id } } }";
const SUBMIT: &str = "mutation($w: String!) { submitTimesheet(week: $w) { state submittedAt } }";
const APPROVE: &str =
    "mutation($u: ID!, $w: String!) { approveTimesheet(userId: $u, week: $w) { state decidedBy } }";
const REJECT: &str = "mutation($u: ID!, $w: String!, $r: String!) { rejectTimesheet(userId: $u, week: $w, reason: $r) { state rejectionReason } }";

async fn set_times(app: &PmoApp, token: &str, id: &str, from: &str, to: &str) -> Value {
    app.ok(
        token,
        EDIT,
        json!({ "id": id, "i": { "startedAt": from, "endedAt": to } }),
    )
    .await["editTimeEntry"]
        .clone()
}

/// Reads the PMO topic from the beginning until the event of `kind` about `aggregate` arrives.
async fn await_event(aggregate: &str, kind: &str) -> EventEnvelope {
    let bus = KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap();
    let group = format!("test-{}", uuid::Uuid::new_v4());
    let mut stream = bus
        .subscribe(&[erp_pmo::events::topic().as_str()], &group)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(event) = stream.next().await {
            if event.aggregate_id == aggregate && event.event_type == kind {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} for {aggregate} within 90 s"))
}

async fn a_week_is_summed_submitted_rejected_and_approved(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let client = app.project(&pm, "Client work", true).await;
    let internal = app.project(&pm, "Internal", false).await;
    for project in [&client, &internal] {
        app.add_member(&pm, project, "usr_dev", "CONTRIBUTOR").await;
    }
    let billable_task = app.task(&pm, &client, "Billable", json!({})).await;
    let internal_task = app.task(&pm, &internal, "Internal", json!({})).await;
    let dev = issuer.token(&t, "usr_dev", WORKER);

    // Two entries, corrected into week 2026-W02: the edits are audited.
    let e1 = app.stopped_entry(&dev, &billable_task).await;
    let e2 = app.stopped_entry(&dev, &internal_task).await;
    let original = app
        .ok(
            &dev,
            "{ timeEntries { edges { node { id startedAt endedAt durationSeconds } } } }",
            json!({}),
        )
        .await["timeEntries"]["edges"][0]["node"]
        .clone();
    assert_eq!(original["id"], e1.as_str());
    let edited = set_times(
        &app,
        &dev,
        &e1,
        "2026-01-05T09:00:00Z",
        "2026-01-05T11:30:00Z",
    )
    .await;
    assert_eq!(
        edited,
        json!({ "id": e1, "startedAt": "2026-01-05T09:00:00.000Z", "endedAt": "2026-01-05T11:30:00.000Z",
            "durationSeconds": 9000, "billable": true })
    );
    set_times(
        &app,
        &dev,
        &e2,
        "2026-01-06T13:00:00Z",
        "2026-01-06T14:00:00Z",
    )
    .await;
    let data = app
        .ok(
            &dev,
            "{ timeEntries { edges { node { id edits { editedBy before { startedAt durationSeconds } after { startedAt endedAt durationSeconds billable } } } } } }",
            json!({}),
        )
        .await;
    let audit = &data["timeEntries"]["edges"][0]["node"]["edits"];
    assert_eq!(audit.as_array().unwrap().len(), 1, "{data}");
    assert_eq!(audit[0]["editedBy"], "usr_dev");
    assert_eq!(
        audit[0]["before"],
        json!({ "startedAt": original["startedAt"], "durationSeconds": original["durationSeconds"] })
    );
    assert_eq!(
        audit[0]["after"],
        json!({ "startedAt": "2026-01-05T09:00:00.000Z", "endedAt": "2026-01-05T11:30:00.000Z",
            "durationSeconds": 9000, "billable": true })
    );

    // The week: per day, per project, billable and not.
    let data = app.ok(&dev, WEEK, json!({ "w": "2026-W02" })).await;
    let sheet = &data["timesheet"];
    assert_eq!(sheet["state"], "DRAFT");
    assert_eq!(sheet["week"], "2026-W02");
    assert_eq!(
        (
            &sheet["billableHours"],
            &sheet["nonBillableHours"],
            &sheet["totalHours"]
        ),
        (&json!(2.5), &json!(1.0), &json!(3.5))
    );
    assert_eq!(
        sheet["days"][0],
        json!({ "date": "2026-01-05", "billableHours": 2.5, "nonBillableHours": 0.0 })
    );
    assert_eq!(
        sheet["days"][1],
        json!({ "date": "2026-01-06", "billableHours": 0.0, "nonBillableHours": 1.0 })
    );
    assert_eq!(
        sheet["days"][6],
        json!({ "date": "2026-01-11", "billableHours": 0.0, "nonBillableHours": 0.0 })
    );
    let mut projects = sheet["projects"].as_array().unwrap().clone();
    projects.sort_by_key(|p| p["project"]["name"].as_str().unwrap().to_owned());
    assert_eq!(
        projects,
        vec![
            json!({ "project": { "name": "Client work" }, "billableHours": 2.5, "nonBillableHours": 0.0, "billableSeconds": 9000 }),
            json!({ "project": { "name": "Internal" }, "billableHours": 0.0, "nonBillableHours": 1.0, "billableSeconds": 0 }),
        ]
    );
    assert_eq!(sheet["entries"], json!([{ "id": e1 }, { "id": e2 }]));

    // Submit: the week is locked, for its own entries and for entries moving into it.
    let data = app.ok(&dev, SUBMIT, json!({ "w": "2026-W02" })).await;
    assert_eq!(data["submitTimesheet"]["state"], "SUBMITTED");
    let (_, body) = app.graphql(&dev, SUBMIT, json!({ "w": "2026-W02" })).await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "TIMESHEET_STATE");
    let locked = json!({ "id": e1, "i": { "startedAt": "2026-01-05T08:00:00Z", "endedAt": "2026-01-05T11:30:00Z" } });
    let (_, body) = app.graphql(&dev, EDIT, locked.clone()).await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "TIMESHEET_LOCKED");
    let e3 = app.stopped_entry(&dev, &billable_task).await;
    let (_, body) = app
        .graphql(
            &dev,
            EDIT,
            json!({ "id": e3, "i": { "startedAt": "2026-01-07T08:00:00Z", "endedAt": "2026-01-07T09:00:00Z" } }),
        )
        .await;
    assert_eq!(reason(&body), "TIMESHEET_LOCKED", "{body}");

    // Deciders: never the owner; a manager of only some of the week's projects cannot; a
    // worker without the scopes cannot even ask.
    let (_, body) = app
        .graphql(
            &issuer.token(&t, "usr_dev", &["timesheet:approve", "task:log"]),
            APPROVE,
            json!({ "u": "usr_dev", "w": "2026-W02" }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(reason(&body), "SELF_APPROVAL");
    let partial = issuer.token(&t, "usr_half", MEMBER);
    app.ok(
        &pm,
        r#"mutation($p: ID!) { setProjectMember(projectId: $p, userId: "usr_half", role: MANAGER) { id } }"#,
        json!({ "p": client }),
    )
    .await;
    let (_, body) = app
        .graphql(
            &partial,
            APPROVE,
            json!({ "u": "usr_dev", "w": "2026-W02" }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let (_, body) = app
        .graphql(
            &issuer.token(&t, "usr_other", WORKER),
            APPROVE,
            json!({ "u": "usr_dev", "w": "2026-W02" }),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        vec!["UNAUTHORIZED_FIELD_OR_TYPE"],
        "{body}"
    );
    // ... nor see someone else's week.
    let (_, body) = app
        .graphql(
            &issuer.token(&t, "usr_other", WORKER),
            WEEK,
            json!({ "w": "2026-W02", "u": "usr_dev" }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");

    // The manager of both projects rejects with a reason: the week opens again.
    let (_, body) = app
        .graphql(
            &pm,
            REJECT,
            json!({ "u": "usr_dev", "w": "2026-W02", "r": " " }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    let data = app
        .ok(
            &pm,
            REJECT,
            json!({ "u": "usr_dev", "w": "2026-W02", "r": "Tuesday is missing a task" }),
        )
        .await;
    assert_eq!(
        data["rejectTimesheet"],
        json!({ "state": "REJECTED", "rejectionReason": "Tuesday is missing a task" })
    );
    let (_, body) = app
        .graphql(&pm, APPROVE, json!({ "u": "usr_dev", "w": "2026-W02" }))
        .await;
    assert_eq!(reason(&body), "TIMESHEET_STATE", "{body}");
    app.ok(&dev, EDIT, locked).await;
    app.ok(&dev, SUBMIT, json!({ "w": "2026-W02" })).await;

    // A `timesheet:approve` holder (no project role) approves it; finance gets the event.
    let approver = issuer.token(&t, "usr_fin", &["timesheet:approve"]);
    let data = app
        .ok(
            &approver,
            APPROVE,
            json!({ "u": "usr_dev", "w": "2026-W02" }),
        )
        .await;
    assert_eq!(
        data["approveTimesheet"],
        json!({ "state": "APPROVED", "decidedBy": "usr_fin" })
    );
    let data = app
        .ok(
            &approver,
            "query($w: IsoWeek!, $u: ID) { timesheet(week: $w, userId: $u) { state billableHours } }",
            json!({ "w": "2026-W02", "u": "usr_dev" }),
        )
        .await;
    assert_eq!(data["timesheet"]["state"], "APPROVED");
    assert_eq!(data["timesheet"]["billableHours"], 3.5);
    let (_, body) = app.graphql(&dev, SUBMIT, json!({ "w": "2026-W02" })).await;
    assert_eq!(reason(&body), "TIMESHEET_STATE", "{body}");
    let data = app
        .ok(
            &approver,
            "{ timesheets(filter: { state: APPROVED }) { edges { node { userId week } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["timesheets"]["edges"],
        json!([{ "node": { "userId": "usr_dev", "week": "2026-W02" } }])
    );

    let event = await_event(&format!("{t}:usr_dev:2026-W02"), "timesheet.approved").await;
    assert_eq!(event.tenant_id, t);
    assert_eq!(event.actor.as_deref(), Some("usr_fin"));
    assert_eq!(event.payload["week"], "2026-W02");
    assert_eq!(event.payload["decided_by"], "usr_fin");
    let mut hours = event.payload["projects"].as_array().unwrap().clone();
    hours.sort_by_key(|p| p["billable_seconds"].as_i64().unwrap());
    assert_eq!(
        hours,
        vec![
            json!({ "project_id": internal, "billable_hours": 0.0, "non_billable_hours": 1.0,
                "billable_seconds": 0, "non_billable_seconds": 3600 }),
            json!({ "project_id": client, "billable_hours": 3.5, "non_billable_hours": 0.0,
                "billable_seconds": 12600, "non_billable_seconds": 0 }),
        ]
    );
}

async fn entry_edits_and_weeks_refuse_bad_input(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = PmoApp::spawn_with(&issuer, store).await;
    let t = tenant();
    let pm = issuer.token(&t, "usr_pm", MEMBER);
    let internal = app.project(&pm, "Internal", false).await;
    let task = app.task(&pm, &internal, "T", json!({})).await;
    let e1 = app.stopped_entry(&pm, &task).await;

    for (input, field) in [
        (
            json!({ "startedAt": "2026-01-05T10:00:00Z", "endedAt": "2026-01-05T09:00:00Z" }),
            "endedAt",
        ),
        (
            json!({ "startedAt": "2026-01-05T10:00:00Z", "endedAt": "2026-01-06T10:00:01Z" }),
            "endedAt",
        ),
        (
            json!({ "startedAt": "2026-01-05T10:00:00Z", "endedAt": "2099-01-05T09:00:00Z" }),
            "endedAt",
        ),
        (
            json!({ "startedAt": "2026-01-05T09:00:00Z", "endedAt": "2026-01-05T10:00:00Z", "billable": true }),
            "billable",
        ),
    ] {
        let (_, body) = app
            .graphql(&pm, EDIT, json!({ "id": e1, "i": input }))
            .await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    // Nothing was written by the refused edits.
    let data = app
        .ok(
            &pm,
            "{ timeEntries { edges { node { edits { editedAt } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["timeEntries"]["edges"],
        json!([{ "node": { "edits": [] } }])
    );

    // Someone else's entry, another tenant's entry.
    let (_, body) = app
        .graphql(
            &issuer.token(&t, "usr_x", WORKER),
            EDIT,
            json!({ "id": e1, "i": { "startedAt": "2026-01-05T09:00:00Z", "endedAt": "2026-01-05T10:00:00Z" } }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    let (_, body) = app
        .graphql(
            &issuer.token(&tenant(), "usr_pm", WORKER),
            EDIT,
            json!({ "id": e1, "i": { "startedAt": "2026-01-05T09:00:00Z", "endedAt": "2026-01-05T10:00:00Z" } }),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");

    // Weeks: malformed, and an empty one cannot be submitted.
    for week in ["2026-W54", "2026-02", "next week"] {
        let (_, body) = app.graphql(&pm, WEEK, json!({ "w": week })).await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "week");
    }
    let (_, body) = app.graphql(&pm, SUBMIT, json!({ "w": "2025-W10" })).await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(&body), "TIMESHEET_STATE");
    assert_eq!(
        body["errors"][0]["message"],
        "the week has no time to submit"
    );
    // Only a submitted week is decided; listing others' needs the scope.
    let (_, body) = app
        .graphql(
            &issuer.token(&t, "usr_fin", &["timesheet:approve"]),
            APPROVE,
            json!({ "u": "usr_pm", "w": "2025-W10" }),
        )
        .await;
    assert_eq!(reason(&body), "TIMESHEET_STATE", "{body}");
    let (_, body) = app
        .graphql(
            &pm,
            "{ timesheets(filter: { state: SUBMITTED }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
}

erp_tests::on_both_stores!(
    a_week_is_summed_submitted_rejected_and_approved,
    entry_edits_and_weeks_refuse_bad_input,
);
