//! OKRs through the employee subgraph's HTTP surface on real PostgreSQL: objectives, key
//! results, check-ins with their statuses, alignment without loops, who may change what, and
//! the outbox events.

use chrono::{Days, Utc};
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const TENANT: &str = "tnt_okr";
const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "hr:admin",
    "okr:read",
    "okr:write",
];
const MEMBER: &[&str] = &["employee:read", "okr:read", "okr:write"];

struct Org {
    app: EmployeeApp,
    issuer: TestIssuer,
    hr: String,
}

impl Org {
    async fn new() -> Self {
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
        let hr = issuer.token(TENANT, "usr_hr", HR);
        Self { app, issuer, hr }
    }

    fn token(&self, user: &str) -> String {
        self.issuer.token(TENANT, user, MEMBER)
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.app.graphql(Some(token), query, variables).await.1
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    async fn hire(&self, name: &str, manager: Option<&str>) -> String {
        let data = self
            .ok(
                &self.hr,
                "mutation($i: HireEmployeeInput!) { hireEmployee(input: $i) { id } }",
                json!({ "i": {
                    "employeeNumber": format!("E-{name}"),
                    "displayName": name,
                    "workEmail": format!("{}@co.example", name.to_lowercase()),
                    "hiredOn": "2025-01-06",
                    "userId": format!("usr_{}", name.to_lowercase()),
                    "managerId": manager,
                } }),
            )
            .await;
        data["hireEmployee"]["id"].as_str().unwrap().to_owned()
    }

    async fn event_types(&self) -> Vec<String> {
        let db = &self.app.runtime.db;
        db.query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_type FROM employee_outbox WHERE event_type LIKE 'okr.%' ORDER BY seq",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "event_type").unwrap())
        .collect()
    }
}

const CREATE: &str = "mutation($i: CreateObjectiveInput!) { createObjective(input: $i) { id title periodStart periodEnd owner { displayName } parent { title } progress status keyResults { id } } }";
const ADD_KR: &str = "mutation($o: ID!, $i: AddKeyResultInput!) { addKeyResult(objectiveId: $o, input: $i) { id title startValue targetValue currentValue unit progress status } }";
const CHECK_IN: &str = "mutation($k: ID!, $i: CheckInKeyResultInput!) { checkInKeyResult(keyResultId: $k, input: $i) { currentValue progress status } }";
const ALIGN: &str =
    "mutation($o: ID!, $p: ID) { alignObjective(objectiveId: $o, parentId: $p) { id parent { title } } }";

fn reason(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["reason"]
}

fn field(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["field"]
}

#[tokio::test]
async fn objectives_key_results_check_ins_and_alignment() {
    let org = Org::new().await;
    let boss = org.hire("Boss", None).await;
    let ana = org.hire("Ana", Some(&boss)).await;
    let _peer = org.hire("Peer", None).await;
    let (boss_token, ana_token, peer_token) = (
        org.token("usr_boss"),
        org.token("usr_ana"),
        org.token("usr_peer"),
    );
    let today = Utc::now().date_naive();
    // 20 days, 11 of them elapsed today: 55 % of the time.
    let start = today.checked_sub_days(Days::new(10)).unwrap();
    let end = today.checked_add_days(Days::new(9)).unwrap();

    let data = org
        .ok(&boss_token, CREATE, json!({ "i": { "title": "Grow the business", "periodStart": start, "periodEnd": end } }))
        .await;
    let grow = data["createObjective"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createObjective"]["owner"]["displayName"], "Boss");
    let data = org
        .ok(&ana_token, CREATE, json!({ "i": { "title": "  Win new customers ", "periodStart": start, "periodEnd": end, "parentId": grow } }))
        .await;
    let objective = &data["createObjective"];
    assert_eq!(
        objective,
        &json!({
            "id": objective["id"], "title": "Win new customers", "periodStart": start.to_string(),
            "periodEnd": end.to_string(), "owner": { "displayName": "Ana" },
            "parent": { "title": "Grow the business" }, "progress": 0.0, "status": null, "keyResults": []
        })
    );
    let win = objective["id"].as_str().unwrap().to_owned();

    // Bad objectives.
    for (input, code, expected_field, expected_reason) in [
        (
            json!({ "title": " ", "periodStart": start, "periodEnd": end }),
            "BAD_USER_INPUT",
            Some("title"),
            None,
        ),
        (
            json!({ "title": "x", "periodStart": end, "periodEnd": start }),
            "BAD_USER_INPUT",
            Some("periodEnd"),
            None,
        ),
        (
            json!({ "title": "x", "periodStart": "2026-01-01", "periodEnd": "2027-01-02" }),
            "BAD_USER_INPUT",
            Some("periodEnd"),
            None,
        ),
        (
            json!({ "title": "x", "periodStart": start, "periodEnd": end, "parentId": "nope" }),
            "BAD_USER_INPUT",
            Some("parentId"),
            None,
        ),
        (
            json!({ "title": "x", "periodStart": start, "periodEnd": end, "ownerId": boss }),
            "FORBIDDEN",
            None,
            Some("NOT_OWNER"),
        ),
        (
            json!({ "title": "x", "periodStart": start, "periodEnd": end, "ownerId": "nope" }),
            "BAD_USER_INPUT",
            Some("ownerId"),
            None,
        ),
    ] {
        let body = org.gql(&ana_token, CREATE, json!({ "i": input })).await;
        assert_eq!(error_codes(&body), [code], "{input}: {body}");
        if let Some(expected) = expected_field {
            assert_eq!(field(&body), expected, "{input}");
        }
        if let Some(expected) = expected_reason {
            assert_eq!(reason(&body), expected, "{input}");
        }
    }
    let body = org
        .gql(
            &org.hr,
            CREATE,
            json!({ "i": { "title": "x", "periodStart": start, "periodEnd": end } }),
        )
        .await;
    assert_eq!(
        field(&body),
        "ownerId",
        "HR has no record of their own: name the owner"
    );
    let body = org
        .gql(
            &org.issuer
                .token(TENANT, "usr_ana", &["employee:read", "okr:read"]),
            CREATE,
            json!({ "i": { "title": "x", "periodStart": start, "periodEnd": end } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    // A manager sets one for their report; HR for anyone.
    let data = org
        .ok(&boss_token, CREATE, json!({ "i": { "title": "Learn Rust", "periodStart": start, "periodEnd": end, "ownerId": ana } }))
        .await;
    assert_eq!(data["createObjective"]["owner"]["displayName"], "Ana");
    let learn = data["createObjective"]["id"].as_str().unwrap().to_owned();

    // Key results: up (customers) and down (incidents).
    let data = org
        .ok(&ana_token, ADD_KR, json!({ "o": win, "i": { "title": "New customers", "startValue": 0, "targetValue": 100, "unit": "customers" } }))
        .await;
    assert_eq!(
        data["addKeyResult"],
        json!({ "id": data["addKeyResult"]["id"], "title": "New customers", "startValue": 0.0, "targetValue": 100.0, "currentValue": 0.0, "unit": "customers", "progress": 0.0, "status": null })
    );
    let customers = data["addKeyResult"]["id"].as_str().unwrap().to_owned();
    let data = org
        .ok(&boss_token, ADD_KR, json!({ "o": win, "i": { "title": "Open incidents", "startValue": 10, "targetValue": 2 } }))
        .await;
    let incidents = data["addKeyResult"]["id"].as_str().unwrap().to_owned();
    for (input, expected) in [
        (
            json!({ "title": "x", "startValue": 5, "targetValue": 5 }),
            "targetValue",
        ),
        (
            json!({ "title": "", "startValue": 0, "targetValue": 5 }),
            "title",
        ),
        (
            json!({ "title": "x", "startValue": 0, "targetValue": 5, "unit": "u".repeat(21) }),
            "unit",
        ),
    ] {
        let body = org
            .gql(&ana_token, ADD_KR, json!({ "o": win, "i": input }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(field(&body), expected);
    }
    let kr = json!({ "title": "x", "startValue": 0, "targetValue": 1 });
    let body = org
        .gql(&peer_token, ADD_KR, json!({ "o": win, "i": kr }))
        .await;
    assert_eq!(reason(&body), "NOT_OWNER");
    let body = org
        .gql(&ana_token, ADD_KR, json!({ "o": "nope", "i": kr }))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    // At most 10 per objective.
    for n in 0..10 {
        org.ok(&ana_token, ADD_KR, json!({ "o": learn, "i": { "title": format!("Chapter {n}"), "startValue": 0, "targetValue": 1 } }))
            .await;
    }
    let body = org
        .gql(&ana_token, ADD_KR, json!({ "o": learn, "i": kr }))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(reason(&body), "KEY_RESULT_LIMIT");

    // Check-ins: 50 of 100 with 55 % of the time gone is on track (suggested); 35 is behind;
    // the incidents are reported at risk.
    let data = org
        .ok(
            &ana_token,
            CHECK_IN,
            json!({ "k": customers, "i": { "value": 50 } }),
        )
        .await;
    assert_eq!(
        data["checkInKeyResult"],
        json!({ "currentValue": 50.0, "progress": 0.5, "status": "ON_TRACK" })
    );
    let data = org
        .ok(
            &ana_token,
            CHECK_IN,
            json!({ "k": customers, "i": { "value": 35, "note": "two deals slipped" } }),
        )
        .await;
    assert_eq!(data["checkInKeyResult"]["status"], "BEHIND");
    let data = org
        .ok(
            &boss_token,
            CHECK_IN,
            json!({ "k": incidents, "i": { "value": 8, "status": "AT_RISK" } }),
        )
        .await;
    assert_eq!(
        data["checkInKeyResult"],
        json!({ "currentValue": 8.0, "progress": 0.25, "status": "AT_RISK" })
    );
    let body = org
        .gql(
            &peer_token,
            CHECK_IN,
            json!({ "k": customers, "i": { "value": 99 } }),
        )
        .await;
    assert_eq!(reason(&body), "NOT_OWNER");
    let body = org
        .gql(
            &ana_token,
            CHECK_IN,
            json!({ "k": "nope", "i": { "value": 1 } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    let body = org
        .gql(
            &ana_token,
            CHECK_IN,
            json!({ "k": customers, "i": { "value": 1, "note": "n".repeat(2001) } }),
        )
        .await;
    assert_eq!(field(&body), "note");

    const READ: &str = "query($id: ID!) { objective(id: $id) { title progress status owner { displayName } keyResults { title currentValue status checkIns { edges { node { value status note author } } } } } }";
    let data = org.ok(&peer_token, READ, json!({ "id": win })).await;
    assert_eq!(
        data["objective"],
        json!({
            "title": "Win new customers",
            // (0.35 + 0.25) / 2
            "progress": 0.3,
            "status": "AT_RISK",
            "owner": { "displayName": "Ana" },
            "keyResults": [
                { "title": "New customers", "currentValue": 35.0, "status": "BEHIND", "checkIns": { "edges": [
                    { "node": { "value": 50.0, "status": "ON_TRACK", "note": null, "author": "usr_ana" } },
                    { "node": { "value": 35.0, "status": "BEHIND", "note": "two deals slipped", "author": "usr_ana" } }
                ] } },
                { "title": "Open incidents", "currentValue": 8.0, "status": "AT_RISK", "checkIns": { "edges": [
                    { "node": { "value": 8.0, "status": "AT_RISK", "note": null, "author": "usr_boss" } }
                ] } }
            ]
        })
    );

    // Alignment: the company objective cannot sit under one aligned under it.
    let data = org
        .ok(
            &peer_token,
            "query($p: ID!) { objectives(filter: { parentId: $p }) { edges { node { title } } } }",
            json!({ "p": grow }),
        )
        .await;
    assert_eq!(
        data["objectives"]["edges"],
        json!([{ "node": { "title": "Win new customers" } }])
    );
    let body = org
        .gql(&boss_token, ALIGN, json!({ "o": grow, "p": win }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(reason(&body), "OBJECTIVE_CYCLE");
    assert_eq!(field(&body), "parentId");
    let body = org
        .gql(&ana_token, ALIGN, json!({ "o": win, "p": win }))
        .await;
    assert_eq!(reason(&body), "OBJECTIVE_CYCLE");
    let body = org
        .gql(&peer_token, ALIGN, json!({ "o": win, "p": null }))
        .await;
    assert_eq!(reason(&body), "NOT_OWNER");
    let body = org
        .gql(&ana_token, ALIGN, json!({ "o": win, "p": "nope" }))
        .await;
    assert_eq!(field(&body), "parentId");
    let data = org
        .ok(&ana_token, ALIGN, json!({ "o": learn, "p": win }))
        .await;
    assert_eq!(
        data["alignObjective"]["parent"]["title"],
        "Win new customers"
    );
    let data = org
        .ok(&ana_token, ALIGN, json!({ "o": win, "p": null }))
        .await;
    assert_eq!(data["alignObjective"]["parent"], Value::Null);
    let data = org
        .ok(&peer_token, "query($o: ID!) { objectives(filter: { ownerId: $o }) { edges { node { title parent { title } } } } }", json!({ "o": ana }))
        .await;
    assert_eq!(
        data["objectives"]["edges"],
        json!([
            { "node": { "title": "Win new customers", "parent": null } },
            { "node": { "title": "Learn Rust", "parent": { "title": "Win new customers" } } }
        ])
    );

    // Another tenant sees nothing; without okr:read nothing either.
    let other = org.issuer.token("tnt_okr_other", "usr_x", MEMBER);
    let data = org.ok(&other, READ, json!({ "id": win })).await;
    assert_eq!(data["objective"], Value::Null);
    let body = org
        .gql(
            &org.issuer.token(TENANT, "usr_x", &["employee:read"]),
            READ,
            json!({ "id": win }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    let mut expected = vec!["okr.objective_created"; 3];
    expected.extend(["okr.key_result_added"; 12]);
    expected.extend(["okr.checked_in"; 3]);
    expected.extend(["okr.objective_aligned"; 2]);
    assert_eq!(org.event_types().await, expected);
}
