//! Timers against submitted and approved weeks (the rules of `erp_pmo::domain::timer`),
//! through the PMO subgraph's HTTP surface, on the real services (MongoDB stand-in, Redis,
//! Kafka) and on the embedded defaults (journal-backed store, in-process cache and bus): no
//! time is added to a locked week, a running timer keeps its week open, a timer's time belongs
//! to the week it started in, and nobody is left with time they cannot record.

use std::time::Duration;

use chrono::{DateTime, Utc};
use erp_kit::TenantId;
use erp_pmo::domain::timer::Timer;
use erp_pmo::domain::timesheet::IsoWeek;
use erp_pmo::store::TimesheetDoc;
use erp_tests::pmo::{reason, tenant, PmoApp};
use erp_tests::{error_codes, TestIssuer};
use serde_json::{json, Value};

const OWNER: &[&str] = &["project:read", "project:write", "task:start", "task:log"];
const WORKER: &[&str] = &["project:read", "task:start", "task:log"];
const APPROVER: &[&str] = &["timesheet:approve"];

const START: &str = "mutation($t: ID!) { startTimer(taskId: $t) { id state startedAt } }";
const STOP: &str = "mutation { stopTimer { id startedAt durationSeconds } }";
const MY_TIMER: &str = "{ myTimer { id state startedAt } }";
const WEEK: &str =
    "query($w: IsoWeek!, $u: ID) { timesheet(week: $w, userId: $u) { state entries { id } } }";
const SUBMIT: &str = "mutation($w: String!) { submitTimesheet(week: $w) { state } }";
const APPROVE: &str =
    "mutation($u: ID!, $w: String!) { approveTimesheet(userId: $u, week: $w) { state } }";
const REJECT: &str = "mutation($u: ID!, $w: String!) { rejectTimesheet(userId: $u, week: $w, reason: \"Reopened\") { state } }";
const EDIT: &str =
    "mutation($id: ID!, $i: EditTimeEntryInput!) { editTimeEntry(id: $id, input: $i) { id } }";

/// Runs a scenario on the real services and on the embedded defaults.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn on_the_services() {
                let issuer = TestIssuer::start().await;
                super::$scenario(&PmoApp::spawn(&issuer).await, &issuer).await;
            }

            #[tokio::test]
            async fn embedded() {
                let issuer = TestIssuer::start().await;
                super::$scenario(&PmoApp::spawn_embedded(&issuer).await, &issuer).await;
            }
        }
    };
}

/// A tenant with a billable project owned by `usr_pm`, a task in it, and `usr_dev` working on it.
struct Team {
    tenant: String,
    project: String,
    task: String,
    dev: String,
    approver: String,
}

async fn team(app: &PmoApp, issuer: &TestIssuer) -> Team {
    let tenant = tenant();
    let pm = issuer.token(&tenant, "usr_pm", OWNER);
    let project = app.project(&pm, "Client work", true).await;
    app.add_member(&pm, &project, "usr_dev", "CONTRIBUTOR")
        .await;
    let task = app.task(&pm, &project, "Build", json!({})).await;
    Team {
        dev: issuer.token(&tenant, "usr_dev", WORKER),
        approver: issuer.token(&tenant, "usr_fin", APPROVER),
        tenant,
        project,
        task,
    }
}

fn this_week() -> IsoWeek {
    IsoWeek::of_time(Utc::now())
}

fn monday_of(week: IsoWeek) -> DateTime<Utc> {
    week.monday().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// An instant as the API writes it: to the millisecond.
fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

/// A stopped timer of at least one second this week; returns the entry's id.
async fn tracked(app: &PmoApp, token: &str, task: &str) -> String {
    app.ok(token, START, json!({ "t": task })).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let data = app.ok(token, STOP, json!({})).await;
    assert!(data["stopTimer"]["durationSeconds"].as_i64().unwrap() >= 1);
    data["stopTimer"]["id"].as_str().unwrap().to_owned()
}

/// The week's state and its entries' ids, as its owner sees it.
async fn week_of(app: &PmoApp, token: &str, week: IsoWeek) -> (String, Vec<String>) {
    let data = app.ok(token, WEEK, json!({ "w": week.to_string() })).await;
    let sheet = &data["timesheet"];
    let entries = sheet["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    (sheet["state"].as_str().unwrap().to_owned(), entries)
}

/// The stored revision of a person's week (None: untouched), to see that a refusal wrote
/// nothing.
async fn stored_rev(app: &PmoApp, tenant: &str, user: &str, week: IsoWeek) -> Option<i64> {
    let tenant = TenantId::from_claim(tenant);
    let key = TimesheetDoc::key(&tenant, user, week);
    app.pmo
        .store
        .timesheets_by_ids(&tenant, &[key])
        .await
        .unwrap()
        .pop()
        .map(|t| t.rev)
}

fn timer_running(week: IsoWeek) -> String {
    format!(
        "a timer started in {week} is still running: it has to be stopped before the week is \
         submitted or approved"
    )
}

fn week_submitted(week: IsoWeek) -> String {
    format!(
        "the timesheet of {week} is submitted: no time can be added to it unless it is rejected"
    )
}

fn week_approved(week: IsoWeek) -> String {
    format!("the timesheet of {week} is approved: no time can be added to it")
}

/// A refusal with the kit code CONFLICT, the rule's reason and its message.
fn assert_refused(body: &Value, expected_reason: &str, message: &str) {
    assert_eq!(error_codes(body), vec!["CONFLICT"], "{body}");
    assert_eq!(reason(body), expected_reason, "{body}");
    assert_eq!(body["errors"][0]["message"], message, "{body}");
}

/// A timer as a version without these rules left it in the cache, started at `at`.
async fn timer_left_by_an_older_version(app: &PmoApp, team: &Team, at: DateTime<Utc>) -> Timer {
    let timer = Timer::start(&team.tenant, "usr_dev", &team.task, &team.project, true, at);
    let tenant = TenantId::from_claim(&team.tenant);
    assert!(app.pmo.timers.create(&tenant, &timer).await.unwrap());
    timer
}

on_both_backends!(a_running_timer_keeps_its_week_open_and_a_locked_week_takes_no_timer);

async fn a_running_timer_keeps_its_week_open_and_a_locked_week_takes_no_timer(
    app: &PmoApp,
    issuer: &TestIssuer,
) {
    let team = team(app, issuer).await;
    let week = this_week();
    let w = json!({ "w": week.to_string() });
    let first = tracked(app, &team.dev, &team.task).await;

    // A running (or paused) timer of the week holds it open: stop it first.
    let timer = app.ok(&team.dev, START, json!({ "t": team.task })).await["startTimer"].clone();
    let running = timer_running(week);
    let (_, body) = app.graphql(&team.dev, SUBMIT, w.clone()).await;
    assert_refused(&body, "TIMER_RUNNING", &running);
    app.ok(&team.dev, "mutation { pauseTimer { id } }", json!({}))
        .await;
    let (_, body) = app.graphql(&team.dev, SUBMIT, w.clone()).await;
    assert_refused(&body, "TIMER_RUNNING", &running);
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("DRAFT".to_owned(), vec![first.clone()])
    );
    let stopped = app.ok(&team.dev, STOP, json!({})).await["stopTimer"].clone();
    assert_eq!(stopped["id"], timer["id"]);
    let second = stopped["id"].as_str().unwrap().to_owned();
    app.ok(&team.dev, SUBMIT, w.clone()).await;
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("SUBMITTED".to_owned(), vec![first.clone(), second.clone()])
    );

    // A submitted week takes no new timer, and the refusal writes nothing.
    let rev = stored_rev(app, &team.tenant, "usr_dev", week).await;
    let (_, body) = app
        .graphql(&team.dev, START, json!({ "t": team.task }))
        .await;
    assert_refused(&body, "TIMESHEET_LOCKED", &week_submitted(week));
    assert_eq!(
        app.ok(&team.dev, MY_TIMER, json!({})).await["myTimer"],
        Value::Null
    );
    assert_eq!(stored_rev(app, &team.tenant, "usr_dev", week).await, rev);
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("SUBMITTED".to_owned(), vec![first.clone(), second.clone()])
    );

    // Rejected, it is open again; approved, it is locked for good.
    let who = json!({ "u": "usr_dev", "w": week.to_string() });
    app.ok(&team.approver, REJECT, who.clone()).await;
    let third = tracked(app, &team.dev, &team.task).await;
    app.ok(&team.dev, SUBMIT, w.clone()).await;
    let data = app.ok(&team.approver, APPROVE, who.clone()).await;
    assert_eq!(data["approveTimesheet"]["state"], "APPROVED");
    let (_, body) = app
        .graphql(&team.dev, START, json!({ "t": team.task }))
        .await;
    assert_refused(&body, "TIMESHEET_LOCKED", &week_approved(week));
    assert_eq!(
        app.ok(&team.dev, MY_TIMER, json!({})).await["myTimer"],
        Value::Null
    );
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("APPROVED".to_owned(), vec![first, second, third])
    );
}

on_both_backends!(a_timer_started_last_week_is_last_weeks_time);

async fn a_timer_started_last_week_is_last_weeks_time(app: &PmoApp, issuer: &TestIssuer) {
    let team = team(app, issuer).await;
    let week = this_week();
    let monday = monday_of(week);
    let last_week = IsoWeek::of_time(monday - chrono::Duration::days(1));
    // Time last week (an entry corrected into Thursday) and this week.
    let thursday = tracked(app, &team.dev, &team.task).await;
    let from = monday - chrono::Duration::days(4) + chrono::Duration::hours(9);
    app.ok(
        &team.dev,
        EDIT,
        json!({ "id": thursday, "i": { "startedAt": from, "endedAt": from + chrono::Duration::hours(1) } }),
    )
    .await;
    let today = tracked(app, &team.dev, &team.task).await;
    // A timer running since last Friday 16:00.
    let friday = monday - chrono::Duration::days(3) + chrono::Duration::hours(16);
    let timer = timer_left_by_an_older_version(app, &team, friday).await;

    // It holds last week open, not this one.
    let (_, body) = app
        .graphql(&team.dev, SUBMIT, json!({ "w": last_week.to_string() }))
        .await;
    assert_refused(&body, "TIMER_RUNNING", &timer_running(last_week));
    app.ok(&team.dev, SUBMIT, json!({ "w": week.to_string() }))
        .await;

    // Stopped this week (which is submitted), it lands on Friday, in last week.
    let stopped = app.ok(&team.dev, STOP, json!({})).await["stopTimer"].clone();
    assert_eq!(stopped["id"], timer.id.as_str());
    assert_eq!(time(&stopped["startedAt"]), friday);
    let counted = stopped["durationSeconds"].as_i64().unwrap();
    assert!(counted >= (monday - friday).num_seconds(), "{stopped}");
    assert_eq!(
        week_of(app, &team.dev, last_week).await,
        ("DRAFT".to_owned(), vec![thursday, timer.id.clone()])
    );
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("SUBMITTED".to_owned(), vec![today])
    );
    app.ok(&team.dev, SUBMIT, json!({ "w": last_week.to_string() }))
        .await;
}

on_both_backends!(a_timer_meeting_a_locked_week_keeps_its_time_until_the_week_reopens);

async fn a_timer_meeting_a_locked_week_keeps_its_time_until_the_week_reopens(
    app: &PmoApp,
    issuer: &TestIssuer,
) {
    let team = team(app, issuer).await;
    let week = this_week();
    let first = tracked(app, &team.dev, &team.task).await;
    app.ok(&team.dev, SUBMIT, json!({ "w": week.to_string() }))
        .await;
    // Only a version without these rules could start a timer in the submitted week.
    let timer = timer_left_by_an_older_version(app, &team, Utc::now()).await;
    let rev = stored_rev(app, &team.tenant, "usr_dev", week).await;

    // The stop is refused and the timer kept as it was: nothing is lost, nothing written.
    let (_, body) = app.graphql(&team.dev, STOP, json!({})).await;
    assert_refused(&body, "TIMESHEET_LOCKED", &week_submitted(week));
    let kept = app.ok(&team.dev, MY_TIMER, json!({})).await["myTimer"].clone();
    assert_eq!(kept["id"], timer.id.as_str());
    assert_eq!(kept["state"], "RUNNING");
    assert_eq!(time(&kept["startedAt"]), to_millis(timer.started_at));
    assert_eq!(stored_rev(app, &team.tenant, "usr_dev", week).await, rev);
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("SUBMITTED".to_owned(), vec![first.clone()])
    );

    // The week cannot be approved with the timer's time outside it; rejected, the stop goes
    // through and the resubmitted week holds the time.
    let who = json!({ "u": "usr_dev", "w": week.to_string() });
    let (_, body) = app.graphql(&team.approver, APPROVE, who.clone()).await;
    assert_refused(&body, "TIMER_RUNNING", &timer_running(week));
    app.ok(&team.approver, REJECT, who.clone()).await;
    let stopped = app.ok(&team.dev, STOP, json!({})).await["stopTimer"].clone();
    assert_eq!(stopped["id"], timer.id.as_str());
    app.ok(&team.dev, SUBMIT, json!({ "w": week.to_string() }))
        .await;
    app.ok(&team.approver, APPROVE, who).await;
    assert_eq!(
        week_of(app, &team.dev, week).await,
        ("APPROVED".to_owned(), vec![first, timer.id])
    );
}

on_both_backends!(a_start_racing_a_submission_never_leaves_a_timer_in_a_locked_week);

async fn a_start_racing_a_submission_never_leaves_a_timer_in_a_locked_week(
    app: &PmoApp,
    issuer: &TestIssuer,
) {
    const PEOPLE: usize = 8;
    let team = team(app, issuer).await;
    let week = this_week();
    let pm = issuer.token(&team.tenant, "usr_pm", OWNER);
    let mut people = Vec::new();
    for n in 0..PEOPLE {
        let user = format!("usr_r{n}");
        app.add_member(&pm, &team.project, &user, "CONTRIBUTOR")
            .await;
        people.push((user.clone(), issuer.token(&team.tenant, &user, WORKER)));
    }
    futures::future::join_all(
        people
            .iter()
            .map(|(_, token)| tracked(app, token, &team.task)),
    )
    .await;

    let w = json!({ "w": week.to_string() });
    let t = json!({ "t": team.task });
    let races = people.iter().map(|(_, token)| async {
        let (start, submit) = tokio::join!(
            app.graphql(token, START, t.clone()),
            app.graphql(token, SUBMIT, w.clone())
        );
        (start.1, submit.1)
    });
    for ((user, token), (start, submit)) in
        people.iter().zip(futures::future::join_all(races).await)
    {
        let started = start["errors"].is_null();
        let submitted = submit["errors"].is_null();
        assert!(!(started && submitted), "{user}: {start} {submit}");
        let (state, entries) = week_of(app, token, week).await;
        if started {
            // The submission lost: it saw the timer, or collided with its start.
            assert!(
                ["TIMER_RUNNING", ""].contains(&reason(&submit)),
                "{user}: {submit}"
            );
            assert_eq!(state, "DRAFT", "{user}");
            let stopped = app.ok(token, STOP, json!({})).await;
            assert_eq!(
                stopped["stopTimer"]["id"],
                start["data"]["startTimer"]["id"]
            );
        } else {
            assert_eq!(reason(&start), "TIMESHEET_LOCKED", "{user}: {start}");
            assert_eq!(state, "SUBMITTED", "{user}");
            assert_eq!(entries.len(), 1, "{user}");
            assert_eq!(
                app.ok(token, MY_TIMER, json!({})).await["myTimer"],
                Value::Null
            );
        }
    }
}
